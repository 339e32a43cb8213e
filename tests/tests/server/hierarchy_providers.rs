//! Remote Hierarchy Providers: seat licenses owned by units that another service knows.
//! lm-server calls only the providers it is configured with, escapes the EIDs it sends,
//! authenticates, keeps connections alive, and turns a provider's failure into a 502 problem.

use lm_tests::hierarchy_provider::Behaviour;
use lm_tests::{Backend, Client, HierarchyProvider, Server};
use serde_json::{Value, json};
use std::time::Duration;

/// A district's provider: school 999 with class 344 (ada, bob) — in the object form for
/// ada and the string form for bob.
async fn district() -> HierarchyProvider {
    let hp = HierarchyProvider::start().await;
    hp.set_levels(json!({"student": 0, "class": 1, "school": 2}));
    hp.set_membership(
        "ada",
        json!([
            {"type": "school", "eid": "999", "level": 2},
            {"type": "class", "eid": "344", "level": 1},
            {"type": "student", "eid": "ada", "level": 0},
        ]),
    );
    hp.set_membership(
        "bob",
        json!(["(school)(999)", "(class)(344)", "(student)(bob)"]),
    );
    hp
}

async fn with_product(manager: &Client) {
    manager
        .post(
            "/v1/products",
            &json!({"eid": "fractions", "name": "Fractions", "permissions": ["book:fractions:read"]}),
        )
        .await
        .expect(201);
}

fn purchase_from(url: &str, owner_eids: &[&str], seats: u32) -> Value {
    json!({
        "product_eid": "fractions", "owner_hierarchy_level": "class", "owner_eids": owner_eids,
        "seats": seats, "valid_from": "2026-01-01", "valid_to": "2099-12-31",
        "hierarchy_provider_url": url,
    })
}

/// `eid` as one escaped path segment of lm-server's own routes.
fn segment(eid: &str) -> String {
    eid.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn only_configured_providers_are_ever_called(backend: Backend) {
    let hp = district().await;
    let elsewhere = district().await;
    let server = Server::start_with(
        backend,
        &["--hierarchy-provider", &format!("district={}", hp.url)],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    for url in [
        elsewhere.url.clone(),
        format!("{}/../other", hp.url),
        format!("{}/x", hp.url),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let reply = manager
            .post("/v1/users/ada/purchases", &purchase_from(&url, &["344"], 1))
            .await
            .expect_problem(422, "is not a Hierarchy Provider this server may call");
        assert_eq!(reply.body["field"], "hierarchy_provider_url", "{url}");
    }
    assert!(
        hp.requests().is_empty() && elsewhere.requests().is_empty(),
        "refused before any request"
    );
    // The configured one, with or without a trailing slash.
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&format!("{}/", hp.url), &["344"], 1),
        )
        .await
        .expect(201);
    assert_eq!(hp.requests().len(), 1);
    // Owners are checked against the provider's answer, and the user must be known to it.
    let reply = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["345"], 1),
        )
        .await
        .expect(422);
    assert_eq!(reply.body["field"], "owner_eids[0]");
    let reply = manager
        .post(
            "/v1/users/nobody/purchases",
            &purchase_from(&hp.url, &["344"], 1),
        )
        .await
        .expect(422);
    assert_eq!(reply.body["field"], "eid");
    // A server without providers refuses every URL.
    let plain = Server::start(backend).await;
    let manager = plain.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], 1),
        )
        .await
        .expect_problem(422, "none is configured");
}

async fn units_of_a_remote_provider_share_their_seats(backend: Backend) {
    let hp = district().await;
    hp.require_token("district-secret");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("district.token");
    std::fs::write(&token_file, "district-secret\n").unwrap();
    let server = Server::start_with(
        backend,
        &[
            "--hierarchy-provider",
            &format!("district={}", hp.url),
            "--hierarchy-provider-token",
            &format!("district={}", token_file.display()),
        ],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    let license = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], 1),
        )
        .await
        .expect(201)
        .body;
    let check = async |user: &str| {
        manager
            .get(&format!("/v1/users/{user}/permissions"))
            .await
            .expect(200)
            .body
    };
    let ada = check("ada").await;
    assert_eq!(ada["permissions"], json!(["book:fractions:read"]));
    assert_eq!(ada["products"][0]["license"], license["id"]);
    assert_eq!(ada["products"][0]["owner"], "(class)(344)");
    let bob = check("bob").await;
    assert_eq!(bob["permissions"], json!([]));
    assert!(
        bob["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("seats of the licenses of (class)(344) are taken"),
        "{bob}"
    );
    // The same class in the built-in hierarchy is another class: it owns nothing here.
    manager
        .put(
            "/v1/hierarchy/levels",
            &json!({"student": 0, "class": 1, "school": 2}),
        )
        .await
        .expect(200);
    manager
        .put("/v1/hierarchy/entities/class/344", &json!({}))
        .await
        .expect(201);
    manager
        .put("/v1/hierarchy/entities/student/cy", &json!({}))
        .await
        .expect(201);
    manager
        .put(
            "/v1/hierarchy/entities/student/cy/parents/class/344",
            &json!({}),
        )
        .await
        .expect(201);
    assert_eq!(check("cy").await["permissions"], json!([]));
    // Ada leaves class 344 at the district: her seat goes back, and bob takes it.
    hp.set_membership("ada", json!(["(school)(999)", "(student)(ada)"]));
    assert_eq!(check("ada").await["permissions"], json!([]));
    assert_eq!(
        check("bob").await["permissions"],
        json!(["book:fractions:read"])
    );
    // Every call carried the token, and they shared one kept-alive connection.
    for _ in 0..20 {
        check("bob").await;
    }
    let seen = hp.requests();
    assert!(seen.len() >= 25, "{}", seen.len());
    assert!(
        seen.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer district-secret"))
    );
    assert!(
        hp.connections() <= 2,
        "{} connections for {} requests",
        hp.connections(),
        seen.len()
    );
}

async fn eids_cannot_change_the_providers_path(backend: Backend) {
    let hp = district().await;
    let server = Server::start_with(
        backend,
        &["--hierarchy-provider", &format!("district={}", hp.url)],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], 10),
        )
        .await
        .expect(201);
    let odd = [
        "a/b",
        "../levels",
        "x?y#z",
        "%2e%2e",
        "..%2F..%2Flevels",
        "é ü",
    ];
    for eid in odd {
        hp.set_membership(eid, json!(["(class)(344)", format!("(student)({eid})")]));
    }
    hp.forget_requests();
    for eid in odd {
        let answer = manager
            .get(&format!("/v1/users/{}/permissions", segment(eid)))
            .await
            .expect(200)
            .body;
        assert_eq!(answer["user"], eid);
        assert_eq!(
            answer["permissions"],
            json!(["book:fractions:read"]),
            "{eid}"
        );
    }
    let seen = hp.requests();
    let users: Vec<&str> = seen.iter().filter_map(|r| r.user.as_deref()).collect();
    assert_eq!(users, odd, "each EID arrived whole as the user segment");
    for r in &seen {
        assert!(
            r.raw_path == "/hp/hierarchy/levels"
                || (r.raw_path.starts_with("/hp/hierarchy/users/")
                    && r.raw_path.ends_with("/membership")
                    && r.raw_path.split('/').count() == 6),
            "{}",
            r.raw_path
        );
    }
    // `.` and `..` cannot be one segment whatever the escaping, so they are no EIDs at all.
    let reply = manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &[".."], 5),
        )
        .await
        .expect(422);
    assert_eq!(reply.body["field"], "owner_eids[0]");
}

async fn a_failing_provider_is_a_bad_gateway(backend: Backend) {
    let hp = district().await;
    let server = Server::start_with(
        backend,
        &[
            "--hierarchy-provider",
            &format!("district={}", hp.url),
            "--hierarchy-provider",
            "gone=http://127.0.0.1:9/hp",
            "--hierarchy-provider-timeout",
            "500ms",
        ],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], 5),
        )
        .await
        .expect(201);
    let check = async || manager.get("/v1/users/ada/permissions").await;
    for (behaviour, says) in [
        (
            Behaviour::Slow(Duration::from_secs(3)),
            "did not answer within 500 ms",
        ),
        (Behaviour::Fail(500), "answered 500 Internal Server Error"),
        (Behaviour::Fail(401), "answered 401 Unauthorized"),
        (Behaviour::Garbage, "cannot be read"),
    ] {
        hp.behave(behaviour.clone());
        let reply = check().await.expect_problem(502, says);
        assert_eq!(
            reply.body["type"], "urn:lm:problem:hierarchy-provider",
            "{behaviour:?}"
        );
        assert!(reply.body["detail"].as_str().unwrap().contains("district"));
        assert!(!reply.text.contains("panicked") && !reply.text.contains("backtrace"));
    }
    hp.behave(Behaviour::Answer);
    assert_eq!(
        check().await.expect(200).body["permissions"],
        json!(["book:fractions:read"])
    );
    // A provider nobody listens for.
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from("http://127.0.0.1:9/hp", &["344"], 5),
        )
        .await
        .expect_problem(502, "`gone` cannot be reached");
}

async fn no_database_connection_waits_for_a_provider(backend: Backend) {
    let hp = district().await;
    let server = Server::start_with(
        backend,
        &[
            "--hierarchy-provider",
            &format!("district={}", hp.url),
            // PostgreSQL's LISTEN keeps one; one is left for requests.
            "--db-connections",
            "2",
            "--rate-limit",
            "0",
        ],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], 5),
        )
        .await
        .expect(201);
    hp.behave(Behaviour::Slow(Duration::from_millis(1500)));
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.get("/v1/users/ada/permissions").await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Eight checks wait for the provider; the one connection for requests is free meanwhile.
    manager.get("/v1/licenses").await.expect(200);
    assert!(
        checks.iter().all(|c| !c.is_finished()),
        "the checks were still waiting for the provider"
    );
    for c in checks {
        assert_eq!(c.await.unwrap(), 200);
    }
}

/// A server that calls `hp` (with `extra` flags), its manager alice, and `seats` seats of
/// fractions bought for class 344 of the district.
async fn selling_to_class_344(
    backend: Backend,
    hp: &HierarchyProvider,
    extra: &[&str],
    seats: u32,
) -> (Server, Client) {
    let provider = format!("district={}", hp.url);
    let mut args = vec!["--hierarchy-provider", provider.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start_with(backend, &args).await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&hp.url, &["344"], seats),
        )
        .await
        .expect(201);
    (server, manager)
}

/// Checks of one user that arrive together — an application opening on a student's every
/// device at the bell — share one call to the provider instead of one each.
async fn concurrent_checks_of_one_user_share_one_provider_call(backend: Backend) {
    let hp = district().await;
    let (_server, manager) = selling_to_class_344(backend, &hp, &[], 5).await;
    hp.behave(Behaviour::Slow(Duration::from_millis(400)));
    hp.forget_requests();
    let checks = (0..20).map(|_| manager.get("/v1/users/ada/permissions"));
    for reply in futures_util::future::join_all(checks).await {
        assert_eq!(
            reply.expect(200).body["permissions"],
            json!(["book:fractions:read"])
        );
    }
    let asked = hp
        .requests()
        .iter()
        .filter(|r| r.user.as_deref() == Some("ada"))
        .count();
    assert!(asked <= 2, "{asked} membership calls for 20 checks at once");
}

/// A provider that says how long its answers keep (`Cache-Control: max-age`) is asked again
/// only after that (up to `--hierarchy-provider-max-age`); one that does not say is asked on
/// every check.
async fn a_providers_max_age_is_honoured_up_to_the_ceiling(backend: Backend) {
    let hp = district().await;
    let (_server, manager) =
        selling_to_class_344(backend, &hp, &["--hierarchy-provider-max-age", "1s"], 5).await;
    let asked = |hp: &HierarchyProvider| {
        hp.requests()
            .iter()
            .filter(|r| r.user.as_deref() == Some("ada"))
            .count()
    };
    let check = async || {
        manager.get("/v1/users/ada/permissions").await.expect(200);
    };
    check().await;
    hp.forget_requests();
    for _ in 0..3 {
        check().await;
    }
    assert_eq!(asked(&hp), 3, "no max-age: asked every time");

    hp.set_max_age(Some(3600));
    check().await;
    hp.forget_requests();
    for _ in 0..3 {
        check().await;
    }
    assert_eq!(asked(&hp), 0, "kept while fresh");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    check().await;
    assert_eq!(
        asked(&hp),
        1,
        "an hour's max-age is kept one second, the ceiling"
    );
}

/// A rush of checks of different users reaches the provider at most
/// `--hierarchy-provider-concurrency` calls at a time; the rest wait their turn and are
/// answered.
async fn a_rush_of_checks_calls_the_provider_a_few_at_a_time(backend: Backend) {
    let hp = district().await;
    let (_server, manager) =
        selling_to_class_344(backend, &hp, &["--hierarchy-provider-concurrency", "2"], 20).await;
    let students: Vec<String> = (0..10).map(|i| format!("pupil{i}")).collect();
    for student in &students {
        hp.set_membership(
            student,
            json!([
                "(school)(999)",
                "(class)(344)",
                format!("(student)({student})")
            ]),
        );
    }
    hp.behave(Behaviour::Slow(Duration::from_millis(100)));
    hp.forget_requests();
    let paths: Vec<String> = students
        .iter()
        .map(|s| format!("/v1/users/{s}/permissions"))
        .collect();
    let checks = paths.iter().map(|path| manager.get(path));
    for reply in futures_util::future::join_all(checks).await {
        reply.expect(200);
    }
    assert!(
        hp.most_at_once() <= 2,
        "{} calls at once",
        hp.most_at_once()
    );
    assert!(hp.most_at_once() >= 1);
}

/// A provider that closes every connection (HTTP/1.0) and has a listen backlog of 5 — one
/// Python thread — under 50 clients checking 50 students again and again: every check is
/// answered, none with a 502, because lm-server calls it a few at a time and shares the call
/// of checks of one student.
async fn a_small_http_1_0_provider_is_never_overrun(backend: Backend) {
    use std::io::BufRead;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/peers/hierarchy_provider_http10/provider.py"
    );
    let mut peer = std::process::Command::new("python3")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the HTTP/1.0 provider");
    let mut port = String::new();
    std::io::BufReader::new(peer.stdout.take().expect("stdout"))
        .read_line(&mut port)
        .expect("the provider's port");
    let url = format!("http://127.0.0.1:{}/hp", port.trim());
    let provider = format!("district={url}");
    // One address sends all 200 checks: no per-address rate limit for this test. What is
    // checked is that the provider is never overrun, not how fast one Python thread answers
    // while the whole suite shares two cores: waiting one's turn may take longer than the
    // default 2 s (a full run once saw one of 200 checks time out so).
    let server = Server::start_with(
        backend,
        &[
            "--hierarchy-provider",
            &provider,
            "--rate-limit",
            "0",
            "--hierarchy-provider-timeout",
            "10s",
        ],
    )
    .await;
    let manager = server.manager("alice");
    with_product(&manager).await;
    manager
        .post(
            "/v1/users/ada/purchases",
            &purchase_from(&url, &["344"], 60),
        )
        .await
        .expect(201);
    let clients = (0..50).map(|c| {
        let manager = manager.clone();
        async move {
            let mut statuses = Vec::new();
            for _ in 0..4 {
                let reply = manager
                    .get(&format!("/v1/users/pupil{c}/permissions"))
                    .await;
                statuses.push((reply.status, reply.text));
            }
            statuses
        }
    });
    let answers: Vec<(u16, String)> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    peer.kill().ok();
    peer.wait().ok();
    let failed: Vec<&(u16, String)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 200 failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
}

crate::on_both_databases!(
    a_small_http_1_0_provider_is_never_overrun,
    a_rush_of_checks_calls_the_provider_a_few_at_a_time,
    a_providers_max_age_is_honoured_up_to_the_ceiling,
    concurrent_checks_of_one_user_share_one_provider_call,
    only_configured_providers_are_ever_called,
    units_of_a_remote_provider_share_their_seats,
    eids_cannot_change_the_providers_path,
    a_failing_provider_is_a_bad_gateway,
    no_database_connection_waits_for_a_provider,
);
