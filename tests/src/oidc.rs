//! OpenID Connect peers on 127.0.0.1, from npm: a third-party OpenID Provider (panva's
//! `oidc-provider`, configured by `tests/peers/oidc/provider.mjs` — read it for its clients,
//! accounts and claims) and a standard relying party (panva's `openid-client`, driven by
//! `tests/peers/oidc/relying_party.mjs`). Their packages are installed with `npm ci` on first
//! use, under a lock shared by every test process.

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
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/oidc")
}

/// Installs the peers' packages once (`npm ci` from the committed lock file).
fn install() {
    let dir = peer_dir();
    let lock = File::create(crate::target_dir().join("oidc-provider.lock")).expect("lock file");
    lock.lock().expect("lock");
    let installed = ["oidc-provider", "openid-client"].iter().all(|p| {
        dir.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
    if installed {
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

/// A standard relying party (openid-client) signing a person in to an issuer, as a desktop
/// application would; killed when dropped.
pub struct RelyingParty {
    /// Where the person's browser goes: the authorization URL, or the device flow's
    /// `verification_uri_complete`.
    pub open: String,
    lines: std::sync::mpsc::Receiver<String>,
    child: Child,
}

/// How the relying party signs in.
#[derive(Debug, Clone, Copy)]
pub enum Flow {
    /// Authorization code with PKCE and a loopback redirect.
    Code,
    /// The device authorization grant.
    Device,
}

impl RelyingParty {
    pub fn start(flow: Flow, issuer: &str, client_id: &str) -> RelyingParty {
        install();
        let mode = match flow {
            Flow::Code => "code",
            Flow::Device => "device",
        };
        let mut child = Command::new("node")
            .args(["relying_party.mjs", mode, issuer, client_id])
            .current_dir(peer_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the relying party starts");
        let open = first
            .strip_prefix("open ")
            .unwrap_or_else(|| panic!("the relying party failed: {first}"))
            .to_owned();
        RelyingParty { open, lines, child }
    }

    /// What it got once the person signed in: the ID token's claims, userinfo, and an access
    /// token from refreshing.
    pub fn result(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the relying party finishes");
        let json = line
            .strip_prefix("result ")
            .unwrap_or_else(|| panic!("the relying party failed: {line}"));
        serde_json::from_str(json).expect("result JSON")
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
