//! `lm` as a script sees it without a daemon: help, usage errors and the "lmd is not
//! running" exit code. (Its presence also makes cargo build the `lm` binary that the
//! black-box tests in `tests/` drive.)

use std::process::Command;

fn lm(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lm"))
        .args(args)
        .env("LM_SOCKET", dir.path().join("absent.sock"))
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .expect("run lm");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_starts_with_the_demo_and_lists_the_commands() {
    let (code, text) = lm(&["--help"]);
    assert_eq!(code, 0, "{text}");
    for word in [
        "demo",
        "ls",
        "show",
        "add",
        "edit",
        "rm",
        "restore",
        "assign",
        "audit",
        "export",
        "completions",
        "Exit codes",
    ] {
        assert!(text.contains(word), "--help mentions {word}:\n{text}");
    }
}

#[test]
fn exit_codes_tell_usage_errors_from_a_missing_daemon() {
    let (code, text) = lm(&["frobnicate"]);
    assert_eq!(code, 2, "{text}");
    let (code, text) = lm(&["status"]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("lmd is not running"), "{text}");
    assert!(
        text.contains("absent.sock"),
        "the error names the socket:\n{text}"
    );
}

#[test]
fn a_bad_query_points_at_the_token_before_anything_is_sent() {
    let (code, text) = lm(&["ls", "vendor:adobe", "cost>ten"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("`ten` is not an amount"), "{text}");
    assert!(text.contains("^^^"), "a caret marks the token:\n{text}");
}

#[test]
fn add_names_the_missing_or_bad_flag() {
    let (code, text) = lm(&[
        "add",
        "--product",
        "adobe-cc",
        "--name",
        "CC",
        "--kind",
        "subscription",
        "--vendor",
        "Adobe",
        "--cost",
        "12.345",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("--cost"), "{text}");
    let (_, text) = lm(&["add", "--product", "adobe-cc"]);
    assert!(text.contains("--name is required"), "{text}");
}

#[test]
fn completions_are_generated() {
    let (code, text) = lm(&["completions", "bash"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("_lm"), "{text}");
}
