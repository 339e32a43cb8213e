//! The local socket: who may connect, one daemon per socket, bad input, edits passed through.

use crate::{new_license, server_with};
use lm_protocol::socket::{
    AssignRequest, CreateRequest, DaemonFrame, Reply, Request, UpdateRequest,
};
use lm_protocol::{Assignee, LicenseFilter, LicensePatch};
use lm_tests::{Daemon, SocketClient};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn only_its_owner_can_reach_the_socket() {
    let (server, token) = server_with(0).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(daemon.socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&daemon.socket), 0o600);

    // Another user on the machine (possible when the tests run as root) cannot connect.
    if rustix_uid() == 0 {
        let tries = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "python3",
                "-c",
            ])
            .arg("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])")
            .arg(&daemon.socket)
            .output()
            .expect("run setpriv");
        assert!(!tries.status.success(), "another user connected");
        let why = String::from_utf8_lossy(&tries.stderr);
        assert!(why.contains("Permission denied"), "{why}");
    }
}

fn rustix_uid() -> u32 {
    // The tests crate has no libc binding; the owner of a fresh file is our uid.
    use std::os::unix::fs::MetadataExt;
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file().metadata().unwrap().uid()
}

#[tokio::test]
async fn a_second_daemon_refuses_and_a_stale_socket_is_replaced() {
    let (server, token) = server_with(0).await;
    let mut daemon = Daemon::start(&server.url, &token).await;
    let second = daemon.command().output().expect("run a second lmd");
    assert!(!second.status.success(), "a second daemon must not start");
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("already serving"), "{why}");
    daemon.connect().await.status().await;

    // A crash leaves the socket file behind; the next start replaces it.
    daemon.kill();
    assert!(daemon.socket.exists(), "kill -9 leaves the socket file");
    daemon.launch().await;
    daemon.connect().await.wait_live().await;
}

#[tokio::test]
async fn bad_messages_get_errors_and_harm_no_one() {
    let (server, token) = server_with(5).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut bystander = daemon.connect().await;
    bystander.wait_live().await;

    let mut client = SocketClient::connect(&daemon.socket).await.unwrap();
    let expect_error = |frame: DaemonFrame| match frame {
        DaemonFrame::Error { id, problem } => (id, problem),
        other => panic!("expected an error, got {other:?}"),
    };
    let (_, before_hello) = expect_error(client.send_line(r#"{"id":1,"op":"status"}"#).await);
    assert!(
        before_hello.detail.contains("hello"),
        "{}",
        before_hello.detail
    );
    let (_, old) = expect_error(
        client
            .send_line(r#"{"id":2,"op":"hello","version":99}"#)
            .await,
    );
    assert!(old.detail.contains("protocol 1"), "{}", old.detail);
    assert!(matches!(
        client
            .send_line(r#"{"id":3,"op":"hello","version":1}"#)
            .await,
        DaemonFrame::Reply { id: 3, .. }
    ));

    let (id, junk) = expect_error(client.send_line("this is not json").await);
    assert_eq!((id, junk.status), (None, 400));
    let (id, unknown) = expect_error(client.send_line(r#"{"id":4,"op":"dance"}"#).await);
    assert_eq!(id, Some(4));
    assert!(unknown.detail.starts_with("op:"), "{}", unknown.detail);
    let (_, field) = expect_error(
        client
            .send_line(r#"{"id":5,"op":"list","filter":{"cost_min":"ten"}}"#)
            .await,
    );
    assert!(
        field.detail.starts_with("filter.cost_min:"),
        "{}",
        field.detail
    );
    let (_, limit) = expect_error(client.send_line(r#"{"id":6,"op":"list","limit":0}"#).await);
    assert_eq!(limit.field.as_deref(), Some("limit"));
    let huge = format!(r#"{{"id":7,"op":"list","pad":"{}"}}"#, "x".repeat(2 << 20));
    let (_, too_big) = expect_error(client.send_line(&huge).await);
    assert_eq!(too_big.status, 413);

    // A key given twice is not read one way or the other (the last `op` would log out).
    let (_, twice) = expect_error(
        client
            .send_line(r#"{"id":8,"op":"status","op":"logout"}"#)
            .await,
    );
    assert!(twice.detail.contains("appears twice"), "{}", twice.detail);

    // The same connection, and everyone else's, still work.
    assert_eq!(client.status().await.licenses, 5);
    assert!(client.status().await.user.is_some(), "still logged in");
    assert_eq!(bystander.status().await.licenses, 5);
}

#[tokio::test]
async fn edits_go_to_the_server_and_are_in_the_cache_when_the_reply_comes() {
    let (server, token) = server_with(0).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;

    let Ok(Reply::License { license }) = client
        .request(Request::Create(CreateRequest {
            license: serde_json::from_value(new_license("Rider, tooling team")).unwrap(),
        }))
        .await
    else {
        panic!("create")
    };
    let listed = client.list(LicenseFilter::default(), 10).await;
    assert_eq!(listed.items, vec![(*license).clone()], "visible at once");

    let patch: LicensePatch =
        serde_json::from_value(serde_json::json!({"notes": "renew in March"})).unwrap();
    let update = |version| {
        Request::Update(UpdateRequest {
            license: license.id.clone(),
            version,
            patch: patch.clone(),
        })
    };
    let Ok(Reply::License { license: updated }) = client.request(update(license.version)).await
    else {
        panic!("update")
    };
    assert_eq!(updated.notes.as_str(), "renew in March");

    // The version this client saw is stale now: the server's 412 comes back intact.
    let stale = client.request(update(license.version)).await.unwrap_err();
    assert_eq!(stale.status, 412);
    assert_eq!(stale.kind, "urn:lm:problem:stale-version");
    assert!(
        stale.request_id.is_some(),
        "the server's problem, not a rewrite"
    );

    let Ok(Reply::License { license: assigned }) = client
        .request(Request::Assign(AssignRequest {
            license: license.id.clone(),
            to: Assignee::Employee("erin".parse().unwrap()),
        }))
        .await
    else {
        panic!("assign")
    };
    assert_eq!(assigned.seats_used, 1);
    let erin = client
        .list(
            LicenseFilter {
                employee: Some("erin".parse().unwrap()),
                ..LicenseFilter::default()
            },
            10,
        )
        .await;
    assert_eq!(erin.total, 1);

    // An employee's daemon may read but not edit.
    let employee = server.token("eve", "employee", "acme");
    let eves = Daemon::start(&server.url, &employee).await;
    let mut eve = eves.connect().await;
    eve.wait_live().await;
    let seen = eve.list(LicenseFilter::default(), 10).await;
    assert_eq!(seen.total, 1);
    assert!(
        seen.items[0].key.is_none(),
        "employees never see product keys"
    );
    let forbidden = eve
        .request(Request::Create(CreateRequest {
            license: serde_json::from_value(new_license("not allowed")).unwrap(),
        }))
        .await
        .unwrap_err();
    assert_eq!(forbidden.status, 403);
}

/// `lm import` sends a file through lmd: a dry run changes nothing, a file with a problem
/// is refused whole with the row and column named, a good one reaches the cache.
#[tokio::test]
async fn lm_import_goes_through_the_daemon_all_or_nothing() {
    let (server, token) = crate::server_with(0).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let dir = tempfile::tempdir().unwrap();
    let lm = |args: &[&str]| {
        let out = daemon.lm(args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "product,name,kind,vendor,cost_amount,cost_currency,added,expires\n\
         figma,Figma Pro,subscription,Figma,144,EUR,2026-01-01,2027-01-01\n\
         zoom,Zoom Rooms,subscription,Zoom,499,EUR,2026-02-01,\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "product,name,kind,vendor,cost_amount,cost_currency\n\
         figma,Figma Pro,subscription,Figma,-1,EUR\n",
    )
    .unwrap();

    let (code, out, _) = lm(&["import", "--dry-run", good.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("2 rows: 2 would be created"), "{out}");
    let (code, out, err) = lm(&["import", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("row 2, cost_amount"), "{out}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(client.status().await.licenses, 0);

    // A relative path is resolved by lm, not by the daemon's working directory.
    let (code, out, err) = std::process::Command::new(lm_tests::binary("lm"))
        .current_dir(dir.path())
        .arg("--socket")
        .arg(&daemon.socket)
        .args(["import", "good.csv"])
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 rows: 2 were created"), "{out}");
    client
        .wait_for(Duration::from_secs(2), |s| s.licenses == 2)
        .await;
}

/// An import names a file that lmd reads on the client's behalf. Only a regular file within
/// the server's import limit is read: a device, a FIFO nobody writes to, a folder, a link to
/// any of them or an oversized file gets a problem naming the path at once, and lmd carries on.
#[tokio::test]
async fn an_import_reads_only_regular_files_within_the_limit() {
    let (server, token) = crate::server_with(0).await;
    let daemon = Daemon::start(&server.url, &token).await;
    let mut client = daemon.connect().await;
    client.wait_live().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("nobody-writes.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let link = dir.path().join("zeros.csv");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let huge = dir.path().join("huge.csv");
    let sparse = std::fs::File::create(&huge).unwrap();
    sparse
        .set_len(lm_protocol::csv::MAX_IMPORT_BYTES as u64 + 1)
        .unwrap();

    for path in [
        fifo.as_path(),
        std::path::Path::new("/dev/zero"),
        link.as_path(),
        dir.path(),
        huge.as_path(),
    ] {
        let request = Request::Import(lm_protocol::socket::ImportRequest {
            path: path.to_owned(),
            dry_run: true,
        });
        let Ok(answer) =
            tokio::time::timeout(Duration::from_secs(10), client.request(request)).await
        else {
            panic!("no answer within 10 s for {}", path.display())
        };
        let problem = answer.expect_err("refused");
        assert_eq!(problem.field.as_deref(), Some("path"), "{problem:?}");
        assert!(
            problem.detail.contains(&path.display().to_string()),
            "names the path: {}",
            problem.detail
        );
    }
    assert_eq!(client.status().await.licenses, 0, "lmd still answers");
}

/// Answers longer than one socket message (1 MiB) come in windows: `lm ls`, `lm export` and
/// `lm audit` list everything, in every format, instead of losing the connection.
#[tokio::test]
async fn lists_and_the_audit_log_longer_than_a_message_come_whole() {
    let (server, token) = crate::server_with(3_000).await;
    let manager = server.login("alice");
    // 130 audit entries of ~9 kB each: more than a message holds.
    for i in 0..130 {
        let mut body = crate::new_license(&format!("Audited {i}"));
        body["notes"] = "n".repeat(9_000).into();
        manager.post("/v1/licenses", &body).await.expect(201);
    }
    let daemon = Daemon::start(&server.url, &token).await;
    daemon
        .connect()
        .await
        .wait_for(Duration::from_secs(30), |s| s.licenses == 3_130)
        .await;
    let lm = |args: &[&str]| {
        let out = daemon.lm(args);
        assert!(
            out.status.success(),
            "lm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let over_a_message = |bytes: Vec<u8>| {
        assert!(
            bytes.len() > lm_protocol::socket::MAX_FRAME,
            "{} bytes",
            bytes.len()
        );
        bytes
    };
    let csv_records = |bytes: Vec<u8>| csv::Reader::from_reader(bytes.as_slice()).records().count();

    let listed: Vec<lm_protocol::License> =
        serde_json::from_slice(&over_a_message(lm(&["ls", "--json"]))).unwrap();
    assert_eq!(listed.len(), 3_130);
    assert_eq!(csv_records(over_a_message(lm(&["ls", "--csv"]))), 3_130);
    assert_eq!(
        String::from_utf8(lm(&["ls"])).unwrap().lines().count(),
        3_131
    );
    assert_eq!(csv_records(over_a_message(lm(&["export"]))), 3_130);
    let exported: Vec<lm_protocol::License> =
        serde_json::from_slice(&lm(&["export", "--json"])).unwrap();
    assert_eq!(exported.len(), 3_130);

    let audit: Vec<lm_protocol::AuditEntry> =
        serde_json::from_slice(&over_a_message(lm(&["audit", "--limit", "130", "--json"])))
            .unwrap();
    assert_eq!(audit.len(), 130);
    let ids: std::collections::BTreeSet<i64> = audit.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 130, "each entry once");
}
