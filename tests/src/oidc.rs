//! A third-party OpenID Provider on 127.0.0.1: panva's `oidc-provider` from npm, configured by
//! `tests/peers/oidc-provider/provider.mjs` (read it for its clients, accounts and claims).
//! Its packages are installed with `npm ci` on first use, under a lock shared by every test
//! process.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running provider; stopped when dropped.
pub struct OpenIdProvider {
    /// Its issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub issuer: String,
    child: Child,
}

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/oidc-provider")
}

/// Installs the provider's packages once (`npm ci` from the committed lock file).
fn install() {
    let dir = peer_dir();
    let lock = File::create(crate::target_dir().join("oidc-provider.lock")).expect("lock file");
    lock.lock().expect("lock");
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run npm ({e}); install Node.js: apt-get install -y nodejs npm")
        });
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl OpenIdProvider {
    pub fn start() -> OpenIdProvider {
        install();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .current_dir(peer_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run node ({e}); install Node.js: apt-get install -y nodejs npm")
            });
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = ready_tx.send(issuer.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let issuer = loop {
            if let Ok(issuer) = ready_rx.recv_timeout(Duration::from_millis(100)) {
                break issuer;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the OpenID provider exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the OpenID provider did not start"
            );
        };
        OpenIdProvider { issuer, child }
    }

    /// An access token of a service account (`client_credentials`), for `resource` (`urn:lm`
    /// gives a JWT, `urn:lm:opaque` an opaque token).
    pub async fn service_token(&self, client_id: &str, secret: &str, resource: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "licenses"),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("token response");
        assert!(status.is_success(), "token request refused: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Revokes a token at the provider (RFC 7009).
    pub async fn revoke(&self, client_id: &str, secret: &str, token: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revocation request");
        assert!(response.status().is_success(), "revocation refused");
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
