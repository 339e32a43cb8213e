//! What several handlers share about their input and output: a query string as pairs, and a
//! license as the caller's role may see it.

use lm_protocol::{License, Role};

/// The query string's `name=value` pairs, decoded, in order (repeated names kept).
pub(super) fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Employees never see product keys.
pub(super) fn visible(mut license: License, role: Role) -> License {
    if !role.is_manager() {
        license.key = None;
    }
    license
}
