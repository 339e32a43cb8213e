//! The `lmd` command line refusing bad setups before it touches anything. (Its presence also
//! makes cargo build the `lmd` binary that the black-box tests in `tests/` start.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `lmd` with `args` in a scratch home, and returns (exited successfully, all output).
fn lmd(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lmd"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("LM_SERVER")
        .env_remove("LM_SOCKET")
        .env_remove("LMD_CONFIG")
        .output()
        .expect("run lmd");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn help_names_every_setting() {
    let home = tempfile::tempdir().unwrap();
    let (ok, text) = lmd(home.path(), &["--help"]);
    assert!(ok, "{text}");
    for flag in [
        "--config",
        "--server",
        "--token-file",
        "--socket",
        "--cache-dir",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}:\n{text}");
    }
}

#[test]
fn a_misspelt_config_key_is_named_and_nothing_starts() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("lmd.toml");
    std::fs::write(&config, "sevrer = \"http://127.0.0.1:7878\"\n").unwrap();
    let (ok, text) = lmd(home.path(), &["--config", config.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains("sevrer"), "the error names the key:\n{text}");
    assert!(
        !home.path().join("run/lm/lmd.sock").exists(),
        "no socket is left behind"
    );
}

#[test]
fn a_server_that_is_not_a_url_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let (ok, text) = lmd(home.path(), &["--server", "lm.example.org"]);
    assert!(!ok, "{text}");
    assert!(text.contains("--server"), "{text}");
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let token = home.path().join("token");
    std::fs::write(&token, "not-really-a-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, text) = lmd(home.path(), &["--token-file", token.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("chmod 600"),
        "the error says the fix:\n{text}"
    );
}
