//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): the optional second
//! factor of the sign-in pages. Six digits, 30-second steps, HMAC-SHA-1 — what every
//! authenticator app speaks. The secret travels once, in an `otpauth://` URI (the de facto
//! Key URI format), and is kept in the database.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per time step (RFC 6238 §4.1, X = 30).
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
const DIGITS: u32 = 6;
/// Steps either side of now that still count, for clock drift (RFC 6238 §5.2).
const DRIFT_STEPS: i64 = 1;

/// A user's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    /// A new random secret of 160 bits, the length RFC 4226 §4 recommends.
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; 20];
        getrandom::fill(&mut bytes).expect("the OS random generator works");
        TotpSecret(bytes)
    }

    /// Reads a stored (base32) secret.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        base32_decode(text)
            .filter(|b| !b.is_empty())
            .map(TotpSecret)
    }

    /// The secret in base32 without padding, as stored and as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The `otpauth://totp/…` URI an authenticator app scans or imports.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            percent(&label),
            self.to_base32(),
            percent(issuer)
        )
    }

    /// The URI as a QR code, an SVG to put inline in a page (no XML declaration).
    pub fn qr_svg(&self, issuer: &str, account: &str) -> String {
        let uri = self.uri(issuer, account);
        match qrcode::QrCode::new(uri.as_bytes()) {
            Ok(code) => {
                let svg = code
                    .render::<qrcode::render::svg::Color>()
                    .min_dimensions(200, 200)
                    .build();
                match svg.find("<svg") {
                    Some(start) => svg[start..].to_owned(),
                    None => svg,
                }
            }
            // A URI of this length always fits a QR code; say so rather than fail a page.
            Err(e) => format!("<p class=\"error\">no QR code: {e}</p>"),
        }
    }

    /// The code of time step `step` (RFC 4226 §5.3, dynamic truncation).
    pub fn code_at(&self, step: i64) -> u32 {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        binary % 10u32.pow(DIGITS)
    }

    /// The time step of a code typed at `unix_secs` that matches, within the drift allowed;
    /// the caller refuses a step already used. Spaces in the typed code do not matter.
    pub fn matching_step(&self, typed: &str, unix_secs: i64) -> Option<i64> {
        let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let typed: u32 = digits.parse().ok()?;
        let now = unix_secs.div_euclid(STEP_SECS);
        (now - DRIFT_STEPS..=now + DRIFT_STEPS).find(|step| self.code_at(*step) == typed)
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 §6 base32, without padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 in any case, ignoring padding and spaces; `None` on other characters.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let value = BASE32
            .iter()
            .position(|b| *b as char == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

fn percent(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (the 8-digit values; ours are their last 6 digits).
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(
                secret.code_at(time / STEP_SECS),
                code % 1_000_000,
                "at {time}"
            );
        }
    }

    #[test]
    fn a_code_counts_one_step_either_side_only() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_000;
        let step = now / STEP_SECS;
        let code = |s: i64| format!("{:06}", secret.code_at(s));
        assert_eq!(secret.matching_step(&code(step), now), Some(step));
        assert_eq!(secret.matching_step(&code(step - 1), now), Some(step - 1));
        assert_eq!(secret.matching_step(&code(step + 1), now), Some(step + 1));
        assert_eq!(secret.matching_step(&code(step - 3), now), None);
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn secrets_survive_base32() {
        let secret = TotpSecret::generate();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        assert_eq!(TotpSecret::from_base32(&text.to_lowercase()), Some(secret));
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert!(TotpSecret::from_base32("not base32!").is_none());
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = TotpSecret::generate().qr_svg("lm", "ada");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = TotpSecret(b"12345678901234567890".to_vec()).uri("lm", "ada lovelace");
        assert_eq!(
            uri,
            "otpauth://totp/lm%3Aada%20lovelace?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=lm&algorithm=SHA1&digits=6&period=30"
        );
    }
}
