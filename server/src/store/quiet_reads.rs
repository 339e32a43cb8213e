//! Reads of data that is read on every permission check but rarely written, kept while the
//! process hears of no write.
//!
//! An entry is stamped with [`Events::writes_heard`](crate::events::Events::writes_heard) as
//! counted *before* the read: once the count moves on (a commit of this process, a
//! notification from another replica, a gap in the notifications), every entry is dropped,
//! so a write made before or during a read is never hidden for longer than its notification
//! takes. However quiet the database, an entry is used for [`QuietReads::AT_MOST`] only: the
//! safety net for a write the count cannot hear of (another process on the same SQLite
//! file, such as an administrative command).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) struct QuietReads<K, V> {
    inner: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    /// The count every entry was read at.
    writes_heard: u64,
    map: HashMap<K, (Instant, V)>,
}

impl<K, V> Default for QuietReads<K, V> {
    fn default() -> Self {
        QuietReads {
            inner: Mutex::new(Entries {
                writes_heard: 0,
                map: HashMap::new(),
            }),
        }
    }
}

impl<K: Hash + Eq, V: Clone> QuietReads<K, V> {
    /// How long an entry is used however quiet the database: long enough that a user who
    /// checks every few seconds is read about once a minute, short enough that a restore
    /// into a running server's SQLite file is seen soon.
    pub const AT_MOST: Duration = Duration::from_secs(60);
    /// Entries kept at most; past it the reads start over (a bound on memory, which a
    /// permission check per user of a large organization would otherwise grow without).
    pub const CAPACITY: usize = 200_000;

    /// The value read for `key`, if nothing has been written since: `writes_heard` is the
    /// count now.
    pub fn get<Q>(&self, key: &Q, writes_heard: u64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.catch_up(writes_heard);
        if entries.writes_heard != writes_heard {
            return None;
        }
        entries
            .map
            .get(key)
            .filter(|(at, _)| at.elapsed() < Self::AT_MOST)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value`, read after the count was `writes_heard`; kept only if no write has
    /// been heard since.
    pub fn put(&self, key: K, writes_heard: u64, value: V) {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.catch_up(writes_heard);
        if entries.writes_heard != writes_heard {
            return;
        }
        if entries.map.len() >= Self::CAPACITY {
            entries.map.clear();
        }
        entries.map.insert(key, (Instant::now(), value));
    }

    /// Forgets `key`: this process changed what it read without a write others must hear of.
    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.map.remove(key);
    }
}

impl<K, V> Entries<K, V> {
    /// Drops every entry once a newer count is seen. An older count (a caller that read it
    /// before someone else saw the newer one) changes nothing.
    fn catch_up(&mut self, writes_heard: u64) {
        if writes_heard > self.writes_heard {
            self.writes_heard = writes_heard;
            self.map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_kept_until_a_write_is_heard() {
        let reads: QuietReads<String, u32> = QuietReads::default();
        reads.put("ada".into(), 3, 1);
        assert_eq!(reads.get("ada", 3), Some(1));
        assert_eq!(reads.get("ada", 4), None);
        assert_eq!(reads.get("ada", 3), None, "the entry went with the write");
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let reads: QuietReads<String, u32> = QuietReads::default();
        // Someone already saw write 5; a read that began at 4 may predate it.
        assert_eq!(reads.get("bob", 5), None);
        reads.put("ada".into(), 4, 1);
        assert_eq!(reads.get("ada", 5), None);
        assert_eq!(reads.get("ada", 4), None);
    }

    #[test]
    fn forgetting_drops_one_entry() {
        let reads: QuietReads<String, u32> = QuietReads::default();
        reads.put("ada".into(), 1, 1);
        reads.put("bob".into(), 1, 2);
        reads.forget("ada");
        assert_eq!(reads.get("ada", 1), None);
        assert_eq!(reads.get("bob", 1), Some(2));
    }
}
