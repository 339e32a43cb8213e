//! A set of slots, one bit each: what indexes answer, intersected.

use super::Slot;

/// A set of slots, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSet {
    bits: Vec<u64>,
    count: usize,
}

impl SlotSet {
    pub fn none(slots: usize) -> SlotSet {
        SlotSet {
            bits: vec![0; slots.div_ceil(64)],
            count: 0,
        }
    }

    pub fn add(&mut self, slot: Slot) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if let Some(word) = self.bits.get_mut(word)
            && *word & bit == 0
        {
            *word |= bit;
            self.count += 1;
        }
    }

    pub fn contains(&self, slot: Slot) -> bool {
        self.bits
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keeps only the slots `other` has too.
    pub fn keep_common(&mut self, other: &SlotSet) {
        let mut theirs = other.bits.iter();
        for word in &mut self.bits {
            *word &= theirs.next().copied().unwrap_or(0);
        }
        self.count = self.bits.iter().map(|w| w.count_ones() as usize).sum();
    }

    /// The slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    (i * 64) as Slot + bit
                })
            })
        })
    }
}

/// Slots in ascending order, each once: the licenses that have one exact value. Four bytes
/// a slot (a hash set took about nine); a change is a binary search and a move.
#[derive(Debug, Default, Clone)]
pub struct SortedSlots(Vec<Slot>);

impl SortedSlots {
    pub fn insert(&mut self, slot: Slot) {
        if let Err(at) = self.0.binary_search(&slot) {
            self.0.insert(at, slot);
        }
    }

    pub fn remove(&mut self, slot: Slot) {
        if let Ok(at) = self.0.binary_search(&slot) {
            self.0.remove(at);
        }
    }

    pub fn contains(&self, slot: Slot) -> bool {
        self.0.binary_search(&slot).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Slot> {
        self.0.iter()
    }

    /// The bytes it holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * size_of::<Slot>()
    }
}

impl<'a> IntoIterator for &'a SortedSlots {
    type Item = &'a Slot;
    type IntoIter = std::slice::Iter<'a, Slot>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
