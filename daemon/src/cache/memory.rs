//! What the cache holds in memory — the inventory, the members, the alerts given, the
//! cursor — and how it is read from the journal's entries and written as a snapshot.

use super::journal::{Entry, Kind, records};
use super::layout::ALERT_PREFIX;
use crate::inventory::Inventory;
use chrono::{DateTime, Utc};
use lm_protocol::{Change, LicenseId, Member};
use std::collections::{BTreeMap, HashSet};

#[derive(Default)]
pub(super) struct Memory {
    pub(super) licenses: Inventory,
    /// The organization's members by name (for an employee: themselves).
    pub(super) members: BTreeMap<String, Member>,
    /// The expiry alerts given (see [`Cache::alert_key`]).
    pub(super) alerted: HashSet<Box<str>>,
    pub(super) cursor: i64,
    pub(super) synced_at: Option<DateTime<Utc>>,
}

impl Memory {
    /// Takes in one entry of the cache on disk, as it is opened.
    pub(super) fn take(&mut self, entry: Entry) {
        match entry {
            Entry::Cursor(cursor) => self.cursor = cursor,
            Entry::Page(changes) | Entry::Feed(lm_protocol::ChangePage { changes, .. }) => {
                self.apply(changes);
            }
            Entry::Alerted(keys) => self
                .alerted
                .extend(keys.into_iter().map(String::into_boxed_str)),
            Entry::Licenses(licenses) => licenses
                .into_iter()
                .for_each(|license| drop(self.licenses.upsert(license))),
            Entry::Holders(holders) => holders
                .into_iter()
                .for_each(|(license, assignment)| self.licenses.hold(license, assignment)),
            Entry::Members(members) => self.members.extend(
                members
                    .into_iter()
                    .map(|member| (member.name.clone(), member)),
            ),
        }
    }
}

impl Memory {
    /// Applies a page of the feed: its members here, the rest to the inventory.
    pub(super) fn apply(&mut self, changes: Vec<Change>) {
        for change in &changes {
            match change {
                Change::Member { member, .. } => {
                    self.members.insert(member.name.clone(), (**member).clone());
                }
                Change::Uninvite { name, .. } => {
                    self.members.remove(name);
                }
                _ => {}
            }
        }
        self.licenses.apply(changes);
    }
}

/// The whole cache as snapshot records: holders before licenses, so that a license read
/// back shares the text of the holders it lists; the alerts given only while their license
/// still expires on that date (a renewal alerts again anyway).
pub(super) fn snapshot_records<'a>(
    licenses: &'a Inventory,
    members: &'a BTreeMap<String, Member>,
    alerted: &'a HashSet<Box<str>>,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let current = alerted
        .iter()
        .map(|key| &**key)
        .filter(|key| alert_still_current(key, licenses));
    records(Kind::Holders, licenses.every_holder())
        .chain(records(Kind::Licenses, licenses.values()))
        .chain(records(Kind::Members, members.values()))
        .chain(records(Kind::Alerted, current))
}

/// Whether the alert `key` speaks of a cached license's current expiry date.
fn alert_still_current(key: &str, licenses: &Inventory) -> bool {
    let Some((license, expires)) = key
        .strip_prefix(ALERT_PREFIX)
        .and_then(|rest| rest.rsplit_once('/'))
        .and_then(|(rest, _threshold)| rest.rsplit_once('/'))
    else {
        return false;
    };
    let Ok(license) = license.parse::<LicenseId>() else {
        return false;
    };
    licenses
        .get(&license)
        .and_then(|l| l.expires)
        .is_some_and(|e| e.to_string() == expires)
}
