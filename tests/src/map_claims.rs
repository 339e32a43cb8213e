//! ARCHITECTURE.md's claims that a file can be checked against: each "only" here is read
//! from the sources, so the map cannot drift from the code unnoticed.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir` (relative to the workspace), with its text.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![workspace().join(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                let name = path
                    .strip_prefix(workspace())
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                found.push((name, text));
            }
        }
    }
    found.sort();
    found
}

/// The files among `dirs` whose text contains `needle`, except `allowed` (prefixes).
fn offenders(dirs: &[&str], needle: &str, allowed: &[&str]) -> Vec<String> {
    dirs.iter()
        .flat_map(|d| sources(d))
        .filter(|(name, text)| {
            text.contains(needle) && !allowed.iter().any(|a| name.starts_with(a))
        })
        .map(|(name, _)| name)
        .collect()
}

/// "`thiserror` in libraries, `anyhow` at the binaries' edge".
#[test]
fn anyhow_stays_at_the_binaries_edge() {
    let found = offenders(
        &["server/src", "daemon/src", "tui/src", "protocol/src"],
        "anyhow",
        &[
            "server/src/main.rs",
            "server/src/serve.rs",
            "server/src/cli/",
            "daemon/src/main.rs",
            "tui/src/main.rs",
            "tui/src/cli/",
            "tui/src/runtime.rs",
            "tui/src/demo.rs",
        ],
    );
    assert!(
        found.is_empty(),
        "anyhow outside the binaries' edge: {found:?}"
    );
}

/// "`record` — `record_all` for a batch's many —, the one writer of new entries".
#[test]
fn audit_entries_are_written_in_one_place() {
    let found = offenders(
        &["server/src"],
        "INSERT INTO audit",
        &["server/src/store/audit.rs"],
    );
    assert!(
        found.is_empty(),
        "audit entries written outside store/audit.rs: {found:?}"
    );
}

/// "`db.rs` — the only code that names the drivers".
#[test]
fn only_db_rs_names_the_database_drivers() {
    for driver in [
        "SqliteConnection",
        "PgConnection",
        "SqlitePool",
        "PgPool",
        "PgRow",
        "SqliteRow",
    ] {
        let found = offenders(&["server/src"], driver, &["server/src/db.rs"]);
        assert!(found.is_empty(), "{driver} named outside db.rs: {found:?}");
    }
}
