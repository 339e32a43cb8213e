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

/// The `[dependencies]` table of a crate's manifest, as text.
fn dependencies(manifest: &str) -> String {
    let text = std::fs::read_to_string(workspace().join(manifest)).expect("a manifest");
    let start = text.find("[dependencies]").expect("a [dependencies] table");
    let table = &text[start + "[dependencies]".len()..];
    table[..table.find("\n[").unwrap_or(table.len())].to_owned()
}

/// I14: "`lm-tui` has no HTTP client and no database; `lm-protocol` has no async runtime,
/// HTTP client or database".
#[test]
fn the_tui_has_no_http_client_and_the_protocol_no_io() {
    let named = |deps: &str, crates: &[&str]| -> Vec<String> {
        deps.lines()
            .filter_map(|line| line.split(['=', '.', ' ']).next())
            .filter(|name| crates.contains(name))
            .map(str::to_owned)
            .collect()
    };
    let tui = dependencies("tui/Cargo.toml");
    assert_eq!(
        named(&tui, &["reqwest", "hyper", "sqlx", "sled", "ureq"]),
        Vec::<String>::new(),
        "lm-tui speaks to lmd only"
    );
    let protocol = dependencies("protocol/Cargo.toml");
    assert_eq!(
        named(
            &protocol,
            &["tokio", "reqwest", "hyper", "sqlx", "sled", "async-std"]
        ),
        Vec::<String>::new(),
        "lm-protocol does no I/O"
    );
}

/// The map's labelled invariants each name checks (`path::test`) that exist, and the labels
/// run I1, I2, … without a gap or a repeat.
#[test]
fn every_labelled_invariant_names_checks_that_exist() {
    let map = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("the map");
    let section = map
        .split("\n## Invariants")
        .nth(1)
        .expect("an Invariants section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let invariants: Vec<&str> = section.split("\n- **I").skip(1).collect();
    assert!(invariants.len() >= 10, "{} invariants", invariants.len());
    for (at, invariant) in invariants.iter().enumerate() {
        let label: String = invariant.chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(
            label,
            (at + 1).to_string(),
            "labels run I1, I2, …: {invariant}"
        );
        let checks = invariant
            .split("Check:")
            .nth(1)
            .unwrap_or_else(|| panic!("I{label} names no check"));
        let named: Vec<&str> = checks
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.contains(".rs::"))
            .collect();
        assert!(!named.is_empty(), "I{label} names no `path::test`");
        for check in named {
            let (path, test) = check.split_once("::").expect("path::test");
            let text = std::fs::read_to_string(workspace().join(path))
                .unwrap_or_else(|e| panic!("I{label}: {path}: {e}"));
            assert!(
                text.contains(&format!("fn {test}(")),
                "I{label}: {path} has no test `{test}`"
            );
        }
    }
}

/// Every file or folder the map names in backticks (`store/seats/`, `cache/mod.rs`) exists,
/// below the workspace or one of the crates' source folders: a split or a rename that left
/// the map behind fails here.
#[test]
fn every_path_the_map_names_exists() {
    let map = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("the map");
    let roots = [
        "",
        "server/",
        "server/src/",
        "server/src/api/",
        "server/src/api/oauth/",
        "server/src/cli/",
        "server/src/store/",
        "server/src/store/seats/",
        "server/src/auth/",
        "server/src/backup/",
        "daemon/src/",
        "daemon/src/socket/",
        "daemon/src/inventory/",
        "daemon/src/cache/",
        "tui/src/",
        "tui/src/app/",
        "tui/src/view/",
        "tui/src/cli/",
        "protocol/src/",
        "protocol/src/socket/",
        "protocol/src/filter/",
        "tests/",
        "tests/src/",
        "tests/tests/server/",
    ];
    let named: Vec<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|quoted| quoted.split("::").next().unwrap_or_default())
        .filter(|path| {
            !path.contains([' ', '{', '<'])
                && (path.ends_with(".rs") || (path.ends_with('/') && path.len() > 1))
        })
        .collect();
    assert!(named.len() > 50, "{} paths named", named.len());
    let missing: Vec<&str> = named
        .into_iter()
        .filter(|path| {
            !roots
                .iter()
                .any(|root| workspace().join(root).join(path).exists())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the map names what is not there: {missing:?}"
    );
}
