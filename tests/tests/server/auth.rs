//! Item 6: no token, a bad token of any kind → 401; an employee attempting a manager action → 403.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lm_tests::{Backend, Server};
use serde_json::{Value, json};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Claims the server would accept, for user `alice` of `acme`, adjusted by `changes`.
fn claims(changes: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "iss": "http://lm.test", "sub": "alice", "aud": "lm", "exp": now + 600, "nbf": now - 5,
        "iat": now - 5, "jti": "t1", "org": "acme", "role": "manager"
    });
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn sign(kid: &str, pkcs8: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(pkcs8)).unwrap()
}

/// An Ed25519 key the server has never seen, as PKCS#8.
fn foreign_key() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[7u8; 32]);
    der
}

async fn bad_tokens_are_rejected_with_401(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let (kid, pkcs8, public_x) = server.signing_key().await;
    // The forging works: a well-formed token signed with the server's key is accepted.
    alice
        .with_token(&sign(&kid, &pkcs8, &claims(json!({}))))
        .get("/v1/licenses")
        .await
        .expect(200);

    let valid = sign(&kid, &pkcs8, &claims(json!({})));
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(json!({"role": "manager", "org": "globex"}))),
        parts[2]
    );
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims(json!({})),
            &EncodingKey::from_secret(public_x.as_bytes()),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-token".into()),
        ("empty", "".into()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
                b64(&claims(json!({})))
            ),
        ),
        ("HS256 with a public value as secret", hs256_with_public_key),
        (
            "expired",
            sign(&kid, &pkcs8, &claims(json!({"exp": now - 120}))),
        ),
        (
            "not yet valid",
            sign(&kid, &pkcs8, &claims(json!({"nbf": now + 600}))),
        ),
        (
            "wrong audience",
            sign(&kid, &pkcs8, &claims(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong issuer",
            sign(
                &kid,
                &pkcs8,
                &claims(json!({"iss": "https://evil.example"})),
            ),
        ),
        (
            "unknown kid",
            sign("no-such-kid", &pkcs8, &claims(json!({}))),
        ),
        (
            "wrongly signed",
            sign(&kid, &foreign_key(), &claims(json!({}))),
        ),
        ("tampered payload", tampered_payload),
        (
            "missing exp",
            sign(&kid, &pkcs8, &{
                let mut c = claims(json!({}));
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
        ),
        (
            "unknown role",
            sign(&kid, &pkcs8, &claims(json!({"role": "root"}))),
        ),
        (
            "a subject who is no user",
            sign(&kid, &pkcs8, &claims(json!({"sub": "mallory"}))),
        ),
        (
            "a user of another organization",
            sign(&kid, &pkcs8, &claims(json!({"org": "globex"}))),
        ),
        (
            "a client that was never registered",
            sign(&kid, &pkcs8, &claims(json!({"sub": "client:ghost"}))),
        ),
    ];
    for (what, token) in cases {
        let reply = alice.with_token(&token).get("/v1/licenses").await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        assert_eq!(
            reply.body["type"], "urn:lm:problem:unauthenticated",
            "{what}"
        );
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{what}"
        );
    }

    let anonymous = server.client(None);
    anonymous
        .get("/v1/licenses")
        .await
        .expect_problem(401, "no bearer token");
    anonymous
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(401);
    anonymous.get("/v1/audit").await.expect(401);
    anonymous
        .send(
            reqwest::Method::GET,
            "/v1/licenses",
            None,
            &[("authorization", "Basic YWxpY2U6cHc=")],
        )
        .await
        .expect(401);
}

async fn employees_cannot_change_anything(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let eve = server.employee("eve");
    let license = super::create(&alice, super::creative_cloud()).await;
    let id = license["id"].as_str().unwrap();
    let path = format!("/v1/licenses/{id}");
    let attempts = vec![
        eve.post("/v1/licenses", &super::creative_cloud()).await,
        eve.post("/v1/licenses", &json!({})).await,
        eve.patch(&path, 1, &json!({"seats": 1})).await,
        eve.delete(&path).await,
        eve.post(&format!("{path}/restore"), &json!({})).await,
        eve.post(&format!("{path}/assignments"), &json!({"employee": "eve"}))
            .await,
        eve.delete(&format!("{path}/assignments/whatever")).await,
        eve.get("/v1/audit").await,
    ];
    for reply in attempts {
        let reply = reply.expect_problem(403, "only managers");
        assert_eq!(reply.body["type"], "urn:lm:problem:forbidden");
    }
    let unchanged = alice.get(&path).await.expect(200).body;
    assert_eq!(unchanged["version"], 1);
    eve.get(&path).await.expect(200);
}

/// A token carries its holder's role as it is now, not as it was when the token was issued:
/// a manager demoted to employee loses manager powers within seconds, on a token that claims
/// `manager` until it expires (and on a forged one that claims it).
async fn a_demoted_manager_loses_manager_powers_before_the_token_expires(backend: Backend) {
    let server = Server::start(backend).await;
    let alice = server.manager("alice");
    let (kid, pkcs8, _) = server.signing_key().await;
    let claiming_manager = alice.with_token(&sign(&kid, &pkcs8, &claims(json!({}))));
    alice
        .post("/v1/licenses", &super::creative_cloud())
        .await
        .expect(201);
    server
        .admin(&["user", "set-role", "alice", "--role", "employee"])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alice.get("/v1/me").await.expect(200).body["role"] != "employee" {
        assert!(std::time::Instant::now() < deadline, "still a manager");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for holder in [&alice, &claiming_manager] {
        holder
            .post("/v1/licenses", &super::creative_cloud())
            .await
            .expect_problem(403, "only managers");
        let listed = holder.get("/v1/licenses").await.expect(200);
        assert!(listed.body["items"][0].get("key").is_none(), "keys hidden");
    }
}

/// `token issue` gives tokens of a bounded lifetime; longer automation takes an API key.
async fn issued_tokens_live_thirty_days_at_most(backend: Backend) {
    let server = Server::start(backend).await;
    server
        .admin(&["user", "add", "alice", "--role", "manager"])
        .unwrap();
    let refused = server
        .admin(&["token", "issue", "--user", "alice", "--ttl", "3650days"])
        .unwrap_err();
    assert!(refused.contains("--ttl"), "{refused}");
    assert!(refused.contains("API key"), "{refused}");
    server
        .admin(&["token", "issue", "--user", "alice", "--ttl", "30days"])
        .unwrap();
}

crate::on_both_databases!(
    a_demoted_manager_loses_manager_powers_before_the_token_expires,
    issued_tokens_live_thirty_days_at_most,
    bad_tokens_are_rejected_with_401,
    employees_cannot_change_anything
);
