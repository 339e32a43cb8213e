use super::*;
use crate::auth::AuthError;
use base64::Engine;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use lm_protocol::{Principal, Role};
use serde_json::Value;
use serde_json::json;
use std::time::Duration;

/// Port 9 (discard) refuses connections: a refetch fails fast and never leaves the machine.
const ISSUER: &str = "http://127.0.0.1:9/realms/school";

/// A provider with one Ed25519 key, and a way to sign tokens with it.
struct Provider {
    verifier: ExternalIssuer,
    kid: String,
    signing: EncodingKey,
    public_x: String,
}

impl Provider {
    fn new() -> Provider {
        let key = crate::auth::keys::generate(None).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&key.private_pkcs8)
            .unwrap();
        let verifier = ExternalIssuer::new(
            ISSUER,
            Some("lm".into()),
            rules(None),
            Duration::from_secs(30),
        );
        let set: JwkSet = serde_json::from_value(json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": key.kid, "x": key.public_key}
        ]}))
        .unwrap();
        assert_eq!(verifier.use_keys(&set), 1);
        Provider {
            verifier,
            kid: key.kid,
            signing: EncodingKey::from_ed_der(&der),
            public_x: key.public_key,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
    }

    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verifier.verify(token).await
    }
}

fn claims(changes: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": ["lm", "account"], "sub": "ann", "exp": now + 300, "nbf": now - 5,
        "org": "acme", "realm_access": {"roles": ["lm-manager"]}
    });
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn a_token_of_the_provider_is_accepted_and_mapped() {
    let provider = Provider::new();
    let principal = provider.verify(&provider.sign(&claims(json!({})))).await;
    assert_eq!(
        principal,
        Ok(Principal {
            subject: "ann".into(),
            org: "acme".into(),
            role: Role::Manager
        })
    );
}

#[tokio::test]
async fn tokens_that_break_a_rule_are_refused_for_that_rule() {
    let provider = Provider::new();
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (json!({"exp": now - 120}), AuthError::Expired),
        (json!({"nbf": now + 120}), AuthError::NotYetValid),
        (
            json!({"iss": "https://evil.example.org"}),
            AuthError::WrongIssuerOrAudience,
        ),
        (
            json!({"aud": "another-app"}),
            AuthError::WrongIssuerOrAudience,
        ),
    ];
    for (change, expected) in cases {
        let token = provider.sign(&claims(change.clone()));
        assert_eq!(provider.verify(&token).await, Err(expected), "{change}");
    }
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let provider = Provider::new();
    let genuine = provider.sign(&claims(json!({"realm_access": {"roles": ["staff"]}})));
    let parts: Vec<&str> = genuine.split('.').collect();

    // The payload promoted to manager, the signature kept.
    let promoted = b64(claims(json!({})).to_string().as_bytes());
    let tampered = format!("{}.{promoted}.{}", parts[0], parts[2]);
    assert_eq!(provider.verify(&tampered).await, Err(AuthError::Signature));

    // alg none, without a signature.
    let none = b64(json!({"alg": "none", "kid": provider.kid})
        .to_string()
        .as_bytes());
    for signature in ["", "c2ln"] {
        assert_eq!(
            provider
                .verify(&format!("{none}.{promoted}.{signature}"))
                .await,
            Err(AuthError::Algorithm)
        );
    }

    // HS256 "signed" with the provider's public key as the HMAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(provider.kid.clone());
    for secret in [
        provider.public_x.as_bytes().to_vec(),
        b64(provider.public_x.as_bytes()).into_bytes(),
    ] {
        let confused = jsonwebtoken::encode(
            &header,
            &claims(json!({})),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(provider.verify(&confused).await, Err(AuthError::Algorithm));
    }

    // A key the provider never published (its JWK Set cannot be fetched here: the refetch
    // fails and is remembered, the token is refused).
    let stranger = Provider::new();
    assert_eq!(
        provider
            .verify(&stranger.sign(&claims(json!({}))))
            .await
            .map_err(|e| e.reason()),
        Err("unknown_kid")
    );
}

fn rules(employee_value: Option<&str>) -> ClaimRules {
    ClaimRules {
        role_claim: Some("realm_access.roles".into()),
        manager_value: Some("lm-manager".into()),
        employee_value: employee_value.map(str::to_owned),
        org: OrgRule::Claim("org".into()),
    }
}

#[test]
fn claims_map_to_a_principal_by_path() {
    let boss =
        json!({"sub": "ann", "org": "acme", "realm_access": {"roles": ["staff", "lm-manager"]}});
    let staff = json!({"sub": "bob", "org": "acme", "realm_access": {"roles": ["staff"]}});
    let outsider = json!({"sub": "eve", "org": "acme", "realm_access": {"roles": ["guest"]}});
    let robot = json!({"client_id": "ci", "org": "acme", "realm_access": {"roles": "lm-manager"}});
    assert_eq!(rules(None).principal(&boss).unwrap().role, Role::Manager);
    assert_eq!(rules(None).principal(&staff).unwrap().role, Role::Employee);
    assert_eq!(
        rules(Some("staff")).principal(&outsider),
        Err(AuthError::NoRole)
    );
    assert_eq!(rules(None).principal(&robot).unwrap().subject, "ci");
    assert_eq!(
        rules(None).principal(&json!({"sub": "x"})),
        Err(AuthError::Claims),
        "no org claim"
    );
    let fixed = ClaimRules {
        org: OrgRule::Fixed("school".into()),
        ..rules(None)
    };
    assert_eq!(fixed.principal(&json!({"sub": "x"})).unwrap().org, "school");
}
