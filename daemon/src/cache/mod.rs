//! The daemon's copy of the inventory: durable in sled, served from memory.
//!
//! sled holds one record per license (`lic/<id>` → JSON), one per holder of a license
//! (`hold/<license id>/<assignment id>` → JSON) and the feed cursor (`meta/cursor`).
//! Every change-feed page is applied as one atomic sled batch that writes the records *and*
//! the cursor, so after a crash at any moment the cache equals what a follower at that cursor
//! holds, and syncing resumes from there. Reads never touch sled: the licenses live in
//! memory, loaded once at start, with the secondary indexes of [`crate::inventory`] that lists
//! are served from.
//!
//! The cache is disposable. When its schema version differs from this build's, or sled
//! reports corruption, the directory is moved aside (`<dir>.broken-<time>`) and a fresh cache
//! is synced from the server; a cache locked by another handle is waited for, then refused,
//! never moved aside. It is owner-only: folder 0700, files 0600, a looser one closed up at
//! open.
//!
//! One job per file: here the cache and what it answers; `layout` the keys and records on
//! disk and the folder they live in; `members` the members; `insights` the reports.

mod insights;
mod layout;
mod members;

use crate::inventory::Inventory;
use chrono::{DateTime, NaiveDate, Utc};
use layout::{
    ALERT_PREFIX, CURSOR_KEY, HOLDER_PREFIX, LICENSE_PREFIX, MEMBER_PREFIX, SCHEMA_KEY,
    SCHEMA_VERSION, SLED_CACHE_BYTES, SYNCED_AT_KEY, decode, encode, holder_key, is_locked,
    license_key, make_private, member_key, read_i64, set_aside_path,
};
use lm_protocol::{Assignee, Assignment, Change, License, LicenseFilter, LicenseId, Member, Sort};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("cache record {key}: {source}")]
    Record {
        key: String,
        source: serde_json::Error,
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
    memory: Arc<RwLock<Memory>>,
}

#[derive(Default)]
struct Memory {
    licenses: Inventory,
    /// The organization's members by name (for an employee: themselves).
    members: BTreeMap<String, Member>,
    cursor: i64,
    synced_at: Option<DateTime<Utc>>,
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
        let licenses = db
            .scan_prefix(LICENSE_PREFIX)
            .map(|entry| {
                let (key, value) = entry?;
                decode(&key, &value)
            })
            .collect::<Result<Vec<License>>>()?;
        let holders = db
            .scan_prefix(HOLDER_PREFIX)
            .map(|entry| {
                let (key, value) = entry?;
                let license = std::str::from_utf8(&key[HOLDER_PREFIX.len()..])
                    .ok()
                    .and_then(|rest| rest.split_once('/'))
                    .and_then(|(license, _)| license.parse().ok())
                    .ok_or_else(|| CacheError::Record {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        source: serde::de::Error::custom("not hold/<license>/<assignment>"),
                    })?;
                Ok((license, decode(&key, &value)?))
            })
            .collect::<Result<Vec<(LicenseId, Assignment)>>>()?;
        let members = db
            .scan_prefix(MEMBER_PREFIX)
            .map(|entry| {
                let (key, value) = entry?;
                let member: Member = decode(&key, &value)?;
                Ok((member.name.clone(), member))
            })
            .collect::<Result<BTreeMap<String, Member>>>()?;
        let memory = Memory {
            members,
            cursor: read_i64(&db, CURSOR_KEY)?.unwrap_or(0),
            synced_at: read_i64(&db, SYNCED_AT_KEY)?.and_then(DateTime::from_timestamp_millis),
            licenses: Inventory::build(licenses, holders),
        };
        tracing::info!(
            licenses = memory.licenses.len(),
            cursor = memory.cursor,
            "cache opened"
        );
        let cache = Cache {
            db,
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
        let mut batch = sled::Batch::default();
        // Holders written by this page, by license: a removal later in the page takes them too.
        let mut written: HashMap<&LicenseId, Vec<String>> = HashMap::new();
        for change in changes {
            match change {
                Change::Upsert { license, .. } => {
                    batch.insert(license_key(&license.id), encode(license));
                }
                Change::Delete { id, .. } => {
                    batch.remove(license_key(id));
                    let prefix = holder_key(id, "");
                    for key in self.db.scan_prefix(&prefix).keys() {
                        batch.remove(key?);
                    }
                    for key in written.remove(id).unwrap_or_default() {
                        batch.remove(key.as_bytes());
                    }
                }
                Change::Assign {
                    license,
                    assignment,
                    ..
                } => {
                    let key = holder_key(license, assignment.id.as_str());
                    batch.insert(key.as_bytes(), encode(assignment));
                    written.entry(license).or_default().push(key);
                }
                Change::Unassign { license, id, .. } => {
                    batch.remove(holder_key(license, id.as_str()).as_bytes());
                }
                Change::Member { member, .. } => {
                    batch.insert(member_key(&member.name).as_bytes(), encode(member));
                }
                Change::Uninvite { name, .. } => {
                    batch.remove(member_key(name).as_bytes());
                }
            }
        }
        batch.insert(CURSOR_KEY, &next.to_be_bytes());
        self.db.apply_batch(batch)?;

        let mut memory = self.write();
        memory.licenses.apply(changes);
        for change in changes {
            match change {
                Change::Member { member, .. } => {
                    memory
                        .members
                        .insert(member.name.clone(), (**member).clone());
                }
                Change::Uninvite { name, .. } => {
                    memory.members.remove(name);
                }
                _ => {}
            }
        }
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
        memory.cursor = next;
        Ok(Applied {
            ids,
            members,
            cursor: next,
        })
    }

    /// Replaces the whole cache with `licenses` at `cursor` in one batch: the end of a resync
    /// after the server's history no longer reached our cursor. Until this call the old
    /// content stays visible.
    pub fn replace(&self, snapshot: Snapshot, cursor: i64) -> Result<Applied> {
        let Snapshot {
            licenses: fresh,
            mut holders,
            members,
        } = snapshot;
        // The holders of licenses the snapshot has; the others went with their license.
        holders.retain(|license, _| fresh.contains_key(license));
        let mut batch = sled::Batch::default();
        let mut ids = Vec::new();
        for entry in self.db.scan_prefix(LICENSE_PREFIX).keys() {
            let key = entry?;
            let id = &key[LICENSE_PREFIX.len()..];
            if !fresh.contains_key(std::str::from_utf8(id).unwrap_or_default()) {
                batch.remove(key.clone());
            }
        }
        for key in self.db.scan_prefix(HOLDER_PREFIX).keys() {
            batch.remove(key?);
        }
        for key in self.db.scan_prefix(MEMBER_PREFIX).keys() {
            batch.remove(key?);
        }
        for member in members.values() {
            batch.insert(member_key(&member.name).as_bytes(), encode(member));
        }
        for license in fresh.values() {
            batch.insert(license_key(&license.id), encode(license));
        }
        for (license, assignments) in &holders {
            for assignment in assignments {
                batch.insert(
                    holder_key(license, assignment.id.as_str()).as_bytes(),
                    encode(assignment),
                );
            }
        }
        batch.insert(CURSOR_KEY, &cursor.to_be_bytes());
        self.db.apply_batch(batch)?;

        let mut memory = self.write();
        ids.extend(memory.licenses.ids().cloned());
        ids.extend(fresh.keys().cloned());
        ids.sort();
        ids.dedup();
        let holders = holders
            .into_iter()
            .flat_map(|(license, all)| all.into_iter().map(move |a| (license.clone(), a)));
        memory.licenses = Inventory::build(fresh.into_values(), holders);
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

    /// Runs `f` over the cached licenses that expire within `dates` (and, given `who`, that
    /// `who` holds): the expiry alerts' candidates, read in place rather than copied out.
    pub fn with_expiring<R>(
        &self,
        dates: std::ops::RangeInclusive<NaiveDate>,
        who: Option<&Assignee>,
        f: impl FnOnce(&mut dyn Iterator<Item = &License>) -> R,
    ) -> R {
        let memory = self.read();
        let licenses = &memory.licenses;
        let mut expiring = licenses.values().filter(|l| {
            l.expires.is_some_and(|e| dates.contains(&e))
                && who.is_none_or(|who| licenses.holds(&l.id, who))
        });
        f(&mut expiring)
    }

    /// Whether the alert `key` (see [`Cache::alert_key`]) was given before.
    pub fn alerted(&self, key: &str) -> bool {
        self.db.contains_key(key).unwrap_or(false)
    }

    /// Remembers alerts as given, across restarts.
    pub fn mark_alerted<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.insert(key, &[]);
        }
        self.db.apply_batch(batch)?;
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
            on_disk: self.db.size_on_disk().unwrap_or(0),
        }
    }

    /// Writes everything to disk; called on shutdown.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
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
