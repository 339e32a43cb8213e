//! A third-party fuzzer (Schemathesis) against the real server, as a manager and as an
//! employee: every request it makes from `/openapi.json` — valid, invalid, at the edges —
//! gets no 5xx, an answer whose status, media type, headers and body the contract
//! documents, and a refusal of whatever the contract says is invalid.

use lm_tests::{Backend, Server};

/// Examples per operation and phase: enough to find a gap, few enough for CI (~40 s a run).
const EXAMPLES: u32 = 15;

async fn the_contract_holds_under_a_third_party_fuzzer(backend: Backend) {
    let server = Server::start_with(backend, &["--rate-limit", "0"]).await;
    server
        .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
        .expect("user add");
    server
        .admin(&["seed", "--org", "acme", "--licenses", "30", "--school"])
        .expect("seed");
    for (user, role, seed) in [("alice", "manager", 1), ("eve", "employee", 2)] {
        if role == "employee" {
            server
                .admin(&["user", "add", user, "--role", role, "--org", "acme"])
                .expect("user add");
        }
        let token = server
            .admin(&["token", "issue", "--user", user])
            .expect("token issue");
        let url = server.url.clone();
        let out = tokio::task::spawn_blocking(move || {
            lm_tests::schemathesis::run(&url, &token, EXAMPLES, seed)
        })
        .await
        .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "as {role}:\n{report}\n{}\n--- server log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }
}

crate::on_both_databases!(the_contract_holds_under_a_third_party_fuzzer);
