//! The private signing keys sealed at rest with `--key-secret-file`: a copy of the database
//! without the secret holds no key that signs.

use lm_tests::{Backend, Server};
use std::os::unix::fs::PermissionsExt;

const PRIVATE_KEYS: &str = "SELECT private_pkcs8 FROM signing_keys";

fn secret_file(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

async fn private_keys_are_sealed_with_the_secret_and_useless_without_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(
        dir.path(),
        "secret",
        "p0dC3kQm1xk2bS1yqf2bYl7n3Vw0d1x9Zk8aQ2l4Hk0=",
    );
    let wrong = secret_file(
        dir.path(),
        "wrong",
        "another secret that is long enough to use!",
    );

    // A server that ran without a secret stored its key plain.
    let mut server = Server::start(backend).await;
    server.stop();
    let plain = server.column(PRIVATE_KEYS).await;
    assert!(plain.iter().all(|k| !k.starts_with("enc:")), "{plain:?}");

    // With the secret, the key is sealed at the next start, and tokens still work.
    server
        .admin(&["user", "add", "alice", "--role", "manager", "--org", "acme"])
        .unwrap();
    server.launch(&["--key-secret-file", &secret]).await;
    let token = server
        .admin(&[
            "--key-secret-file",
            &secret,
            "token",
            "issue",
            "--user",
            "alice",
        ])
        .unwrap();
    server
        .client(Some(token))
        .get("/v1/licenses")
        .await
        .expect(200);
    let sealed = server.column(PRIVATE_KEYS).await;
    assert!(
        sealed.iter().all(|k| k.starts_with("enc:v1:")),
        "{sealed:?}"
    );
    assert!(sealed.iter().all(|k| !plain.contains(k)));
    let rotated = server.admin(&["--key-secret-file", &secret, "keys", "rotate"]);
    assert!(rotated.is_ok(), "{rotated:?}");
    assert!(
        server
            .column(PRIVATE_KEYS)
            .await
            .iter()
            .all(|k| k.starts_with("enc:v1:")),
        "a rotated key is sealed too"
    );

    // Without the secret, or with another one, nothing can sign.
    let without = server
        .admin(&["token", "issue", "--user", "alice"])
        .unwrap_err();
    assert!(without.contains("--key-secret-file"), "{without}");
    let other = server
        .admin(&[
            "--key-secret-file",
            &wrong,
            "token",
            "issue",
            "--user",
            "alice",
        ])
        .unwrap_err();
    assert!(other.contains("another key secret"), "{other}");
}

crate::on_both_databases!(private_keys_are_sealed_with_the_secret_and_useless_without_it);
