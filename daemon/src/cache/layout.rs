//! How the cache lies on disk: its sled keys (the inventory is the journal's), its schema
//! version, and the owner-only folder.

use super::{CacheError, Result};
use chrono::Utc;
use std::path::{Path, PathBuf};

/// Bumped whenever the stored layout changes; an older cache is rebuilt.
pub(super) const SCHEMA_VERSION: &[u8] = b"4";

/// sled's own page cache.
pub(super) const SLED_CACHE_BYTES: u64 = 2 << 20;

pub(super) const SCHEMA_KEY: &[u8] = b"meta/schema";
pub(super) const SYNCED_AT_KEY: &[u8] = b"meta/synced_at";
/// `alert/<license id>/<expiry date>/<threshold days>`: an expiry alert already given (kept
/// in the journal's `Alerted` entries).
pub(super) const ALERT_PREFIX: &str = "alert/";

pub(super) fn encode(record: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("a cache record always serializes")
}

/// Whether opening failed because another handle holds sled's lock on the directory.
pub(super) fn is_locked(e: &CacheError) -> bool {
    matches!(e, CacheError::Sled(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock"))
}

/// Makes the cache folder 0700 and everything in it owner-only: it holds product keys. A
/// new folder is created so; one an older lmd (or a loose umask) left open is closed up.
pub(super) fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if crate::private_dir::is_shared(&std::fs::metadata(dir)?) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "it is a shared folder (like /tmp); give lmd a folder of its own, e.g. /tmp/lm-cache",
        ));
    }
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                let mode = entry.metadata()?.permissions().mode();
                if mode & 0o077 != 0 {
                    let private = std::fs::Permissions::from_mode(mode & 0o700);
                    std::fs::set_permissions(entry.path(), private)?;
                }
            }
        }
    }
    Ok(())
}

pub(super) fn read_i64(db: &sled::Db, key: &[u8]) -> Result<Option<i64>> {
    Ok(db.get(key)?.and_then(|v| {
        let bytes: [u8; 8] = v.as_ref().try_into().ok()?;
        Some(i64::from_be_bytes(bytes))
    }))
}

pub(super) fn set_aside_path(dir: &Path) -> PathBuf {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S");
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".broken-{stamp}"));
    dir.with_file_name(name)
}
