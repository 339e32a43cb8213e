//! Files only the server's own user may read.
//!
//! The embedded database holds the private signing keys, password hashes, TOTP secrets and
//! product keys, and a backup holds the same: whoever reads either can forge a manager's token.
//! So the folders lm-server makes are 0700 and its files 0600 whatever the umask (SQLite gives
//! its `-wal` and `-shm` files the mode of the database file), and a database file that
//! others can read is refused with the `chmod` that fixes it rather than served.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What SQLite keeps beside a database file while it is open.
const SQLITE_COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// A file of the server's that other users can read or write.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} can be read by other users (mode {mode:o}) and holds signing keys, password hashes and \
     product keys; make it private with `chmod 600 {}` and start again",
    path.display(), fix.join(" ")
)]
pub struct ExposedFile {
    pub path: PathBuf,
    pub mode: u32,
    /// Every file of the database to pass to `chmod`, quoted where needed.
    fix: Vec<String>,
}

/// Creates `dir` and any missing parents as 0700 (an existing folder keeps its mode).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Opens `path` for writing, truncated, as 0600 — also when it existed with another mode.
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Makes ready the SQLite database at `path` before SQLite opens it: a new one is created
/// empty as 0600 (SQLite then gives its companions the same mode); an existing one, or a
/// companion of it, that others may read or write is refused.
pub fn prepare_sqlite(path: &Path) -> Result<(), ExposedFile> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        // SQLite will report a missing folder or a read-only place in its own words.
        Err(_) => return Ok(()),
    }
    let files = std::iter::once(path.to_owned()).chain(SQLITE_COMPANIONS.iter().map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }));
    let existing: Vec<(PathBuf, u32)> = files
        .filter_map(|file| {
            let mode = std::fs::metadata(&file).ok()?.permissions().mode() & 0o777;
            Some((file, mode))
        })
        .collect();
    if let Some((path, mode)) = existing.iter().find(|(_, mode)| mode & 0o077 != 0) {
        return Err(ExposedFile {
            path: path.clone(),
            mode: *mode,
            fix: existing.iter().map(|(p, _)| shell_word(p)).collect(),
        });
    }
    Ok(())
}

fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@%:,".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_database_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("lm.db");
        prepare_sqlite(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        prepare_sqlite(&db).unwrap();
    }

    #[test]
    fn a_readable_companion_is_refused_with_every_file_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("my lm.db");
        prepare_sqlite(&db).unwrap();
        let wal = dir.path().join("my lm.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o640)).unwrap();
        let why = prepare_sqlite(&db).unwrap_err().to_string();
        assert!(why.contains("mode 640"), "{why}");
        assert!(why.contains("my lm.db-wal"), "{why}");
        assert!(
            why.contains(&format!(
                "chmod 600 '{0}/my lm.db' '{0}/my lm.db-wal'",
                dir.path().display()
            )),
            "{why}"
        );
    }

    #[test]
    fn a_rewritten_file_loses_a_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_file(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn created_folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
    }
}
