//! The daemon's copy of the inventory: durable on disk, served from memory.
//!
//! The inventory — licenses, holders, members, the alerts given and the feed cursor — is a
//! snapshot and a journal of the pages applied since ([`journal`]). Every change-feed page
//! is one checksummed frame holding the page *and* the cursor, so after a crash at any
//! moment the cache equals what a follower at that cursor holds, and syncing resumes from
//! there. sled keeps the small records read by key: the schema version, the permission
//! grant, the organization's settings, when the cache last matched the server, the daily
//! totals. Reads never touch the disk: the licenses live in memory, loaded once at start,
//! with the secondary indexes of [`crate::inventory`] that lists are served from.
//!
//! The cache is disposable. When its schema version differs from this build's, or sled or
//! the snapshot reports damage, the directory is moved aside (`<dir>.broken-<time>`) and a fresh cache
//! is synced from the server; a cache locked by another handle is waited for, then refused,
//! never moved aside. It is owner-only: folder 0700, files 0600, a looser one closed up at
//! open.
//!
//! One job per file: here the cache and what it answers; `memory` what it holds in memory
//! and how the journal's entries become it; `journal` the snapshot and the journal;
//! `layout` the other keys on disk and the folder they live in; `members` the members;
//! `insights` the reports.

mod insights;
mod journal;
mod layout;
mod members;
mod memory;

use crate::inventory::Inventory;
use chrono::{DateTime, NaiveDate, Utc};
use journal::{Journal, Kind, feed_record, records};
use layout::{
    ALERT_PREFIX, SCHEMA_KEY, SCHEMA_VERSION, SLED_CACHE_BYTES, SYNCED_AT_KEY, is_locked,
    make_private, read_i64, set_aside_path,
};
use lm_protocol::{Assignee, Assignment, Change, License, LicenseFilter, LicenseId, Member, Sort};
use memory::{Memory, snapshot_records};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("cache record {key}: {source}")]
    Record {
        key: String,
        source: serde_json::Error,
    },
    #[error("cache file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache file {path} is damaged at byte {at}: {what}")]
    Corrupt {
        path: PathBuf,
        at: u64,
        what: String,
    },
    #[error("cannot make the cache at {path} private to its owner: {source}")]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set the cache aside at {path}: {source}")]
    SetAside {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = CacheError> = std::result::Result<T, E>;

/// The cached inventory of one user.
#[derive(Clone)]
pub struct Cache {
    db: sled::Db,
    /// Held by every write of the inventory, from the journal to memory: a snapshot is
    /// taken between two pages, never across one.
    journal: Arc<Mutex<Journal>>,
    memory: Arc<RwLock<Memory>>,
}

/// A whole inventory, read from the feed from its start: what a resync replaces the cache
/// with.
#[derive(Debug, Default)]
pub struct Snapshot {
    licenses: HashMap<LicenseId, License>,
    holders: HashMap<LicenseId, Vec<Assignment>>,
    members: BTreeMap<String, Member>,
}

impl Snapshot {
    /// Takes in a page of the feed read from 0.
    pub fn gather(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Upsert { license, .. } => {
                    self.licenses.insert(license.id.clone(), *license);
                }
                Change::Delete { id, .. } => {
                    self.licenses.remove(&id);
                    self.holders.remove(&id);
                }
                Change::Assign {
                    license,
                    assignment,
                    ..
                } => self.holders.entry(license).or_default().push(assignment),
                Change::Unassign { license, id, .. } => {
                    if let Some(holders) = self.holders.get_mut(&license) {
                        holders.retain(|a| a.id != id);
                    }
                }
                Change::Member { member, .. } => {
                    self.members.insert(member.name.clone(), *member);
                }
                Change::Uninvite { name, .. } => {
                    self.members.remove(&name);
                }
            }
        }
    }
}

/// The outcome of applying a batch of changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub ids: Vec<LicenseId>,
    /// The members changed, by name.
    pub members: Vec<String>,
    pub cursor: i64,
}

impl Cache {
    /// Opens the cache in `dir`, rebuilding it when it is from another schema or unreadable.
    pub fn open(dir: &Path) -> Result<Cache> {
        match Self::open_when_unlocked(dir) {
            Ok(cache) => Ok(cache),
            // Held by another process: not a broken cache, and not ours to move aside.
            Err(e) if is_locked(&e) => Err(e),
            // A folder lmd may not change is not a broken cache either.
            Err(e @ CacheError::Private { .. }) => Err(e),
            Err(reason) => {
                let aside = set_aside_path(dir);
                tracing::warn!(
                    cache = %dir.display(),
                    moved_to = %aside.display(),
                    %reason,
                    "cache unusable; moved aside, rebuilding from the server"
                );
                std::fs::rename(dir, &aside).map_err(|source| CacheError::SetAside {
                    path: aside,
                    source,
                })?;
                Self::open_as_is(dir)
            }
        }
    }

    /// Opens the cache, waiting up to 2 s for a lock that a closing handle (sled releases its
    /// lock from a background thread after the last handle drops) still holds.
    fn open_when_unlocked(dir: &Path) -> Result<Cache> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match Self::open_as_is(dir) {
                Err(e) if is_locked(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    fn open_as_is(dir: &Path) -> Result<Cache> {
        make_private(dir).map_err(|source| CacheError::Private {
            path: dir.to_owned(),
            source,
        })?;
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(200))
            // Reads are served from memory, not from sled: its page cache only speeds up
            // writes, and at its default (1 GiB) it held most of the records a second time.
            .cache_capacity(SLED_CACHE_BYTES)
            .open()?;
        match db.get(SCHEMA_KEY)? {
            Some(v) if v.as_ref() == SCHEMA_VERSION => {}
            None if db.is_empty() => {
                db.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            }
            other => {
                let found = other.map_or("none".to_owned(), |v| {
                    String::from_utf8_lossy(&v).into_owned()
                });
                return Err(CacheError::Record {
                    key: "meta/schema".into(),
                    source: serde::de::Error::custom(format!(
                        "schema {found}, this lmd uses {}",
                        String::from_utf8_lossy(SCHEMA_VERSION)
                    )),
                });
            }
        }
        let mut memory = Memory {
            synced_at: read_i64(&db, SYNCED_AT_KEY)?.and_then(DateTime::from_timestamp_millis),
            ..Memory::default()
        };
        let journal = Journal::open(dir, |entry| memory.take(entry))?;
        memory.licenses.order_first_screen();
        tracing::info!(
            licenses = memory.licenses.len(),
            cursor = memory.cursor,
            "cache opened"
        );
        let cache = Cache {
            db,
            journal: Arc::new(Mutex::new(journal)),
            memory: Arc::new(RwLock::new(memory)),
        };
        cache.prepare_orders();
        Ok(cache)
    }

    /// The feed revision the cache holds.
    pub fn cursor(&self) -> i64 {
        self.read().cursor
    }

    pub fn synced_at(&self) -> Option<DateTime<Utc>> {
        self.read().synced_at
    }

    pub fn len(&self) -> usize {
        self.read().licenses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: &LicenseId) -> Option<License> {
        self.read().licenses.get(id).cloned()
    }

    /// Every holder of license `id`, in the order they were assigned: `offset..offset +
    /// limit` of them, and how many there are.
    pub fn holders(&self, id: &LicenseId, offset: usize, limit: usize) -> (usize, Vec<Assignment>) {
        let memory = self.read();
        let total = memory.licenses.holder_count(id);
        let window = memory
            .licenses
            .holders(id)
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        (total, window)
    }

    /// The assignment of license `id` to `who`, if there is one (listed or not).
    pub fn holder(&self, id: &LicenseId, who: &Assignee) -> Option<Assignment> {
        let memory = self.read();
        if !memory.licenses.holds(id, who) {
            return None;
        }
        memory
            .licenses
            .holders(id)
            .find(|a| a.assignee == *who)
            .cloned()
    }

    /// Whether license `id` has the assignment `assignment`.
    pub fn has_assignment(&self, id: &LicenseId, assignment: &lm_protocol::AssignmentId) -> bool {
        self.read().licenses.has_assignment(id, assignment)
    }

    /// Whether license `id` is assigned to `who` (listed or not).
    pub fn holds(&self, id: &LicenseId, who: &Assignee) -> bool {
        self.read().licenses.holds(id, who)
    }

    /// Applies one feed page and moves the cursor to `next`, atomically.
    pub fn apply(&self, changes: &[Change], next: i64) -> Result<Applied> {
        self.apply_kept_as(changes.to_vec(), next, records(Kind::Page, changes))
    }

    /// Applies the `changes` of a feed page read from `raw`, the bytes the server sent,
    /// which the journal keeps as they are; the changes move into the inventory.
    pub fn apply_feed(&self, changes: Vec<Change>, next: i64, raw: &[u8]) -> Result<Applied> {
        self.apply_kept_as(changes, next, std::iter::once(feed_record(raw)))
    }

    /// Applies `changes` and moves the cursor to `next`, atomically, written to the journal
    /// as `kept`.
    fn apply_kept_as(
        &self,
        changes: Vec<Change>,
        next: i64,
        kept: impl Iterator<Item = Vec<u8>>,
    ) -> Result<Applied> {
        let mut journal = self.journal();
        journal.append(kept, Some(next))?;

        let mut ids: Vec<LicenseId> = changes
            .iter()
            .filter_map(Change::license)
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        let mut members: Vec<String> = changes
            .iter()
            .filter_map(Change::member)
            .map(str::to_owned)
            .collect();
        members.sort();
        members.dedup();
        let mut memory = self.write();
        memory.apply(changes);
        memory.cursor = next;
        Ok(Applied {
            ids,
            members,
            cursor: next,
        })
    }

    /// Replaces the whole cache with a resync's `snapshot` at `cursor`: the end of a resync
    /// after the server's history no longer reached our cursor. It is written as the next
    /// snapshot generation first; until then the old content stays visible, and stays what a
    /// restart finds.
    pub fn replace(&self, snapshot: Snapshot, cursor: i64) -> Result<Applied> {
        let Snapshot {
            licenses: fresh,
            mut holders,
            members,
        } = snapshot;
        // The holders of licenses the snapshot has; the others went with their license.
        holders.retain(|license, _| fresh.contains_key(license));
        let holders = holders
            .into_iter()
            .flat_map(|(license, all)| all.into_iter().map(move |a| (license.clone(), a)));
        let mut journal = self.journal();
        let licenses = Inventory::build(fresh.into_values(), holders);
        // On disk first: until the new generation is current, the old cache is the one a
        // restart finds.
        {
            let memory = self.read();
            journal.compact(
                snapshot_records(&licenses, &members, &memory.alerted),
                cursor,
            )?;
        }
        let mut memory = self.write();
        let mut ids: Vec<LicenseId> = memory.licenses.ids().cloned().collect();
        ids.extend(licenses.ids().cloned());
        ids.sort();
        ids.dedup();
        memory.licenses = licenses;
        let mut changed: Vec<String> = memory.members.keys().cloned().collect();
        changed.extend(members.keys().cloned());
        changed.sort();
        changed.dedup();
        memory.members = members;
        memory.cursor = cursor;
        Ok(Applied {
            ids,
            members: changed,
            cursor,
        })
    }

    /// Folds the journal into a new snapshot when it has outgrown the last one (after a
    /// first sync, or many pages of live changes): what a restart reads stays about the size
    /// of the cache. Writes wait meanwhile; lists do not.
    pub fn compact_if_due(&self) -> Result<bool> {
        let journal = self.journal();
        if !journal.compaction_due() {
            return Ok(false);
        }
        self.compact(journal)?;
        Ok(true)
    }

    /// Writes the cache as a new snapshot, in place of the last one and the journal.
    fn compact(&self, mut journal: std::sync::MutexGuard<'_, Journal>) -> Result<()> {
        let started = std::time::Instant::now();
        {
            let memory = self.read();
            journal.compact(
                snapshot_records(&memory.licenses, &memory.members, &memory.alerted),
                memory.cursor,
            )?;
        }
        tracing::info!(elapsed = ?started.elapsed(), "cache compacted");
        Ok(())
    }

    /// Runs `f` over the cached licenses that expire within `dates` (and, given `who`, that
    /// `who` holds), with whether an alert (see [`Cache::alert_key`]) was given before: the
    /// expiry alerts' candidates, read in place rather than copied out, under one read of
    /// the cache (a second, nested, would wait behind a sync's write for ever).
    pub fn with_expiring<R>(
        &self,
        dates: std::ops::RangeInclusive<NaiveDate>,
        who: Option<&Assignee>,
        f: impl FnOnce(&mut dyn Iterator<Item = &License>, &dyn Fn(&str) -> bool) -> R,
    ) -> R {
        let memory = self.read();
        let licenses = &memory.licenses;
        let mut expiring = licenses.values().filter(|l| {
            l.expires.is_some_and(|e| dates.contains(&e))
                && who.is_none_or(|who| licenses.holds(&l.id, who))
        });
        f(&mut expiring, &|key| memory.alerted.contains(key))
    }

    /// Whether the alert `key` (see [`Cache::alert_key`]) was given before.
    #[cfg(test)]
    pub fn alerted(&self, key: &str) -> bool {
        self.read().alerted.contains(key)
    }

    /// Remembers alerts as given, across restarts: one journal entry for them all.
    pub fn mark_alerted<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let keys: Vec<&str> = keys.into_iter().collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut journal = self.journal();
        journal.append(records(Kind::Alerted, &keys), None)?;
        self.write().alerted.extend(keys.into_iter().map(Box::from));
        Ok(())
    }

    /// The key that remembers the alert for `license` at `threshold` days before `expires`: a
    /// renewal (a new expiry date) alerts again.
    pub fn alert_key(license: &LicenseId, expires: chrono::NaiveDate, threshold: u32) -> String {
        format!("{ALERT_PREFIX}{license}/{expires}/{threshold}")
    }

    /// A small record kept beside the inventory under `meta/<name>` (e.g. the permission
    /// grant), durable across restarts.
    pub fn meta(&self, name: &str) -> Option<Vec<u8>> {
        let value = self.db.get(format!("meta/{name}")).ok()??;
        Some(value.to_vec())
    }

    /// Keeps (or with `None`, forgets) the record `meta/<name>`, flushed before it returns.
    pub fn set_meta(&self, name: &str, value: Option<&[u8]>) -> Result<()> {
        let key = format!("meta/{name}");
        match value {
            Some(value) => self.db.insert(key, value)?,
            None => self.db.remove(key)?,
        };
        self.db.flush()?;
        Ok(())
    }

    /// Records that the cache matched the server at `at`.
    pub fn mark_synced(&self, at: DateTime<Utc>) -> Result<()> {
        self.journal().sync()?;
        self.db
            .insert(SYNCED_AT_KEY, &at.timestamp_millis().to_be_bytes())?;
        self.write().synced_at = Some(at);
        Ok(())
    }

    /// The licenses matching `filter` in `sort` order: how many there are, and the window
    /// `offset..offset + limit`.
    pub fn list(
        &self,
        filter: &LicenseFilter,
        sort: Sort,
        offset: usize,
        limit: usize,
        today: NaiveDate,
    ) -> (usize, Vec<License>) {
        let memory = self.read();
        memory
            .licenses
            .list(filter, sort, offset..offset.saturating_add(limit), today)
    }

    /// Builds, on a thread of its own, every sort order not built yet — after the first
    /// sync or a very large page of changes dropped them — so that the first list sorted or
    /// ranged by a column does not wait for a sort of the whole inventory. Each order is
    /// built under the read lock alone: changes wait for one order at most.
    pub fn prepare_orders(&self) {
        if self.read().licenses.unprepared().is_empty() {
            return;
        }
        let cache = self.clone();
        let spawned = std::thread::Builder::new()
            .name("lmd-orders".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let unprepared = cache.read().licenses.unprepared();
                for field in unprepared {
                    cache.read().licenses.prepare(field);
                }
                tracing::debug!(elapsed = ?started.elapsed(), "sort orders prepared");
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot prepare the sort orders ahead");
        }
    }

    /// Where the memory goes: the inventory's parts and the members by estimate, the
    /// allocator's figures and the resident memory by reading.
    pub fn footprint(&self) -> lm_protocol::socket::Footprint {
        let mut parts = {
            let memory = self.read();
            let mut parts = memory.licenses.footprint();
            let members = memory
                .members
                .values()
                .map(|m| size_of::<(String, Member)>() * 2 + m.name.len() * 2 + 64)
                .sum();
            parts.push(("members", members, memory.members.len()));
            parts
        };
        parts.sort_by_key(|&(_, bytes, _)| std::cmp::Reverse(bytes));
        let heap = crate::allocator::heap_figures();
        lm_protocol::socket::Footprint {
            resident: crate::allocator::resident_bytes(),
            heap_in_use: heap.map(|(in_use, _)| in_use),
            heap_retained: heap.map(|(_, retained)| retained),
            parts: parts
                .into_iter()
                .map(|(name, bytes, items)| lm_protocol::socket::FootprintPart {
                    name: name.to_owned(),
                    bytes: bytes as u64,
                    items: items as u64,
                })
                .collect(),
            storage_cache_limit: SLED_CACHE_BYTES,
            on_disk: self.db.size_on_disk().unwrap_or(0) + self.journal().bytes_on_disk(),
        }
    }

    /// Writes everything to disk; called on shutdown.
    pub async fn flush(&self) -> Result<()> {
        self.journal().sync()?;
        self.db.flush_async().await?;
        Ok(())
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Memory> {
        self.memory.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Memory> {
        self.memory.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
