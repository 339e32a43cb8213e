//! The server's own files hold its private signing keys, password hashes, TOTP secrets and
//! product keys: only the user who runs it may read them, whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `lm-server ARGS` with the data directory under `home`, under the usual umask 022.
fn lm_server(home: &Path, args: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; exec \"$0\" {args}"))
        .arg(lm_tests::binary("lm-server"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("LM_DATABASE_URL")
        .env("LM_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_embedded_database_is_created_owner_only_and_refused_once_others_can_read_it() {
    let home = tempfile::tempdir().unwrap();
    let made = lm_server(home.path(), "user add admin --role manager");
    assert!(made.status.success(), "{made:?}");
    let dir = home.path().join("data/lm");
    assert_eq!(mode(&dir), 0o700, "the data directory");
    let database = dir.join("lm-server.db");
    assert_eq!(mode(&database), 0o600, "the database");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }

    // Someone loosened it: the server says so, with the command that fixes it, and stops.
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = lm_server(home.path(), "user list");
    assert!(
        !refused.status.success(),
        "started over a readable database"
    );
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains(&database.display().to_string()), "{why}");
    assert!(why.contains("chmod 600"), "{why}");

    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o600)).unwrap();
    let listed = lm_server(home.path(), "user list");
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("admin"));
}
