//! Schemathesis, a third-party fuzzer of OpenAPI contracts (from PyPI), as a peer: installed
//! once into a virtual environment under `target/` at the version `tests/peers/schemathesis/
//! requirements.txt` pins, and run against a real lm-server with the checks and settings of
//! `tests/peers/schemathesis/schemathesis.toml`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output};

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/schemathesis")
}

/// The `schemathesis` of the test environment, installed on first use.
fn installed() -> PathBuf {
    let venv = crate::target_dir().join("lm-schemathesis");
    let lock = File::create(crate::target_dir().join("lm-schemathesis.lock")).expect("lock file");
    lock.lock().expect("lock");
    let program = venv.join("bin/schemathesis");
    let requirements = peer_dir().join("requirements.txt");
    let stamp = venv.join("installed-requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    if program.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return program;
    }
    let run = |command: &mut Command, what: &str| {
        let out = command.output().unwrap_or_else(|e| {
            panic!(
                "cannot {what} ({e}); install Python 3 with venv: apt-get install -y python3-venv"
            )
        });
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "make a Python virtual environment",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "install schemathesis",
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    program
}

/// Runs Schemathesis over the contract the server at `url` serves, as the holder of `token`,
/// with at most `examples` cases per operation and a fixed `seed`. Every check is on but
/// `positive_data_acceptance` (see the peer's schemathesis.toml for why).
pub fn run(url: &str, token: &str, examples: u32, seed: u64) -> Output {
    // Schemathesis keeps a cache of what it found in its working folder: keep it in target/.
    let work = crate::target_dir().join("lm-schemathesis-work");
    std::fs::create_dir_all(&work).expect("schemathesis work folder");
    Command::new(installed())
        .current_dir(&work)
        .arg("--no-color")
        .arg("--config-file")
        .arg(peer_dir().join("schemathesis.toml"))
        .args(["run", &format!("{url}/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("run schemathesis")
}
