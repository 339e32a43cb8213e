//! The `lm-server` command line as a newcomer meets it. (Its presence also makes cargo build
//! the `lm-server` binary that the black-box tests in `tests/` start.)

use std::process::Command;

fn lm_server(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lm-server"))
        .args(args)
        .output()
        .expect("run lm-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn help_lists_every_command_and_a_quick_start() {
    let (ok, help) = lm_server(&["--help"]);
    assert!(ok, "{help}");
    for command in ["serve", "user", "token", "seed"] {
        assert!(
            help.contains(command),
            "--help does not mention {command}:\n{help}"
        );
    }
    assert!(
        help.contains("lm-server token issue --user admin"),
        "{help}"
    );
}

#[test]
fn serve_help_names_its_environment_variables() {
    let (ok, help) = lm_server(&["serve", "--help"]);
    assert!(ok, "{help}");
    for var in ["LM_LISTEN", "LM_DATABASE_URL", "LM_RATE_LIMIT"] {
        assert!(
            help.contains(var),
            "serve --help does not mention {var}:\n{help}"
        );
    }
}

#[test]
fn a_bad_database_url_is_explained() {
    let (ok, text) = lm_server(&["--database", "mysql://x", "user", "list"]);
    assert!(!ok);
    assert!(text.contains("sqlite://PATH or postgres://"), "{text}");
}
