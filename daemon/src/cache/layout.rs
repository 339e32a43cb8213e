//! How the cache lies on disk: the sled keys and their records, its schema version, and
//! the owner-only folder.

use super::{CacheError, Result};
use chrono::Utc;
use lm_protocol::LicenseId;
use std::path::{Path, PathBuf};

/// Bumped whenever the stored layout changes; an older cache is rebuilt.
pub(super) const SCHEMA_VERSION: &[u8] = b"3";

/// sled's own page cache.
pub(super) const SLED_CACHE_BYTES: u64 = 2 << 20;

pub(super) const SCHEMA_KEY: &[u8] = b"meta/schema";
pub(super) const CURSOR_KEY: &[u8] = b"meta/cursor";
pub(super) const SYNCED_AT_KEY: &[u8] = b"meta/synced_at";
pub(super) const LICENSE_PREFIX: &[u8] = b"lic/";
/// `hold/<license id>/<assignment id>`: a holder of a license.
pub(super) const HOLDER_PREFIX: &str = "hold/";
/// `member/<name>`: a member of the organization (or someone invited).
pub(super) const MEMBER_PREFIX: &str = "member/";
/// `alert/<license id>/<expiry date>/<threshold days>`: an expiry alert already given.
pub(super) const ALERT_PREFIX: &str = "alert/";

pub(super) fn license_key(id: &LicenseId) -> Vec<u8> {
    let mut key = LICENSE_PREFIX.to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// `hold/<license>/<assignment>`; with an empty assignment, the prefix of a license's holders.
pub(super) fn holder_key(license: &LicenseId, assignment: &str) -> String {
    format!("{HOLDER_PREFIX}{license}/{assignment}")
}

pub(super) fn member_key(name: &str) -> String {
    format!("{MEMBER_PREFIX}{name}")
}

pub(super) fn encode(record: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("a license or assignment always serializes")
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    serde_json::from_slice(value).map_err(|source| CacheError::Record {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
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
