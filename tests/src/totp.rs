//! An authenticator app, for tests: reads an `otpauth://totp/…` URI and tells the code of now
//! (RFC 6238 with HMAC-SHA-1, six digits, 30-second steps), written from the RFCs apart from
//! the server's own implementation.

use hmac::{Hmac, Mac};

/// The secret of an `otpauth://` URI.
fn secret_of(uri: &str) -> Vec<u8> {
    let query = uri.split_once('?').expect("a query").1;
    let encoded = query
        .split('&')
        .find_map(|p| p.strip_prefix("secret="))
        .expect("a secret parameter");
    let mut bits = String::new();
    for c in encoded.chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .find(c.to_ascii_uppercase())
            .expect("base32");
        bits.push_str(&format!("{value:05b}"));
    }
    bits.as_bytes()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
        .collect()
}

/// The six-digit code of `uri` for the time step `offset` steps from now.
pub fn code(uri: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let counter = now / 30 + offset;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&secret_of(uri)).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let at = (hash[hash.len() - 1] & 0xf) as usize;
    let number = u32::from_be_bytes([hash[at] & 0x7f, hash[at + 1], hash[at + 2], hash[at + 3]]);
    format!("{:06}", number % 1_000_000)
}

/// Seconds until the current time step ends.
pub fn seconds_left_in_step() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    30 - now % 30
}
