//! Every holder of one license, in the order they were assigned (assignment ids are UUIDv7).
//!
//! Most licenses have a handful of holders and a school's seat license has thousands, so
//! the two are kept differently: a few in a vector of exactly their size, sorted by id (an
//! ordered map's smallest node alone takes over a kilobyte — most of the daemon's memory
//! when every license had one); many in an ordered map, where a vector's insert or removal
//! in the middle would move thousands of them.

use lm_protocol::{Assignment, AssignmentId};
use std::collections::BTreeMap;

/// Up to this many holders live in a vector; one more moves them to a map.
const FEW: usize = 32;

#[derive(Debug)]
pub(super) enum Holders {
    Few(Vec<Assignment>),
    Many(BTreeMap<AssignmentId, Assignment>),
}

impl Default for Holders {
    fn default() -> Holders {
        Holders::Few(Vec::new())
    }
}

impl Holders {
    pub(super) fn len(&self) -> usize {
        match self {
            Holders::Few(few) => few.len(),
            Holders::Many(many) => many.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn contains(&self, id: &AssignmentId) -> bool {
        match self {
            Holders::Few(few) => few.binary_search_by(|a| a.id.cmp(id)).is_ok(),
            Holders::Many(many) => many.contains_key(id),
        }
    }

    pub(super) fn get(&self, id: &AssignmentId) -> Option<&Assignment> {
        match self {
            Holders::Few(few) => few
                .binary_search_by(|a| a.id.cmp(id))
                .ok()
                .map(|at| &few[at]),
            Holders::Many(many) => many.get(id),
        }
    }

    /// Keeps `assignment`, in place of one with its id (whose text it shares then); whether
    /// its id is new.
    pub(super) fn insert(&mut self, mut assignment: Assignment) -> bool {
        match self {
            Holders::Few(few) => match few.binary_search_by(|a| a.id.cmp(&assignment.id)) {
                Ok(at) => {
                    assignment.id = few[at].id.clone();
                    few[at] = assignment;
                    false
                }
                Err(at) if few.len() < FEW => {
                    few.reserve_exact(1);
                    few.insert(at, assignment);
                    true
                }
                Err(_) => {
                    let mut many: BTreeMap<_, _> =
                        few.drain(..).map(|a| (a.id.clone(), a)).collect();
                    many.insert(assignment.id.clone(), assignment);
                    *self = Holders::Many(many);
                    true
                }
            },
            Holders::Many(many) => match many.entry(assignment.id.clone()) {
                std::collections::btree_map::Entry::Occupied(mut kept) => {
                    assignment.id = kept.key().clone();
                    kept.insert(assignment);
                    false
                }
                std::collections::btree_map::Entry::Vacant(new) => {
                    new.insert(assignment);
                    true
                }
            },
        }
    }

    /// Takes out the assignment `id`, if it is here.
    pub(super) fn remove(&mut self, id: &AssignmentId) -> Option<Assignment> {
        match self {
            Holders::Few(few) => {
                let at = few.binary_search_by(|a| a.id.cmp(id)).ok()?;
                let gone = few.remove(at);
                few.shrink_to_fit();
                Some(gone)
            }
            Holders::Many(many) => many.remove(id),
        }
    }

    /// In the order they were assigned.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Assignment> {
        let (few, many) = match self {
            Holders::Few(few) => (Some(few.iter()), None),
            Holders::Many(many) => (None, Some(many.values())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    pub(super) fn into_values(self) -> Vec<Assignment> {
        match self {
            Holders::Few(few) => few,
            Holders::Many(many) => many.into_values().collect(),
        }
    }

    /// The heap bytes these holders take (the vector or the map's entries, and each id;
    /// whom they assign the license to is shared), an estimate for the memory breakdown.
    pub(super) fn heap_bytes(&self) -> usize {
        let texts: usize = self.iter().map(|a| a.id.as_str().len() + 16).sum();
        let entries = match self {
            Holders::Few(few) => few.capacity() * size_of::<Assignment>(),
            // A B-tree node holds up to 11 entries; assume them two-thirds full.
            Holders::Many(many) => {
                many.len() * (size_of::<Assignment>() + size_of::<AssignmentId>()) * 3 / 2
            }
        };
        entries + texts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lm_protocol::Assignee;

    fn assignment(n: usize) -> Assignment {
        serde_json::from_value(serde_json::json!({
            "id": format!("0190d5a0-0000-7000-8000-{n:012}"),
            "employee": format!("user{n}"),
            "since": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn names(holders: &Holders) -> Vec<String> {
        holders
            .iter()
            .map(|a| match &a.assignee {
                Assignee::Employee(e) => e.to_string(),
                Assignee::Device(d) => d.to_string(),
            })
            .collect()
    }

    #[test]
    fn holders_stay_in_assignment_order_as_few_and_as_many() {
        let mut holders = Holders::default();
        // Arriving out of order, past the vector's limit and back below it.
        for n in (0..FEW + 8).rev() {
            assert!(holders.insert(assignment(n)));
        }
        assert!(matches!(holders, Holders::Many(_)));
        assert!(
            !holders.insert(assignment(3)),
            "the same id again is no new holder"
        );
        assert_eq!(holders.len(), FEW + 8);
        let expected: Vec<String> = (0..FEW + 8).map(|n| format!("user{n}")).collect();
        assert_eq!(names(&holders), expected);
        assert!(holders.contains(&assignment(5).id));
        assert_eq!(
            holders.remove(&assignment(5).id).map(|a| a.id),
            Some(assignment(5).id)
        );
        assert!(!holders.contains(&assignment(5).id));
        assert_eq!(holders.remove(&assignment(5).id), None);

        let mut few = Holders::default();
        for n in [4, 1, 3] {
            few.insert(assignment(n));
        }
        assert!(matches!(few, Holders::Few(_)));
        assert_eq!(names(&few), ["user1", "user3", "user4"]);
        few.remove(&assignment(3).id);
        assert_eq!(names(&few), ["user1", "user4"]);
        assert_eq!(few.into_values().len(), 2);
    }
}
