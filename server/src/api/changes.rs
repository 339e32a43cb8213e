//! `/v1/changes`: the ordered change feed daemons sync from.

use super::AppState;
use super::context::Caller;
use super::error::ApiError;
use super::params::query_pairs;
use crate::store::HoldersOf;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use lm_protocol::{Change, ChangePage};

const DEFAULT_LIMIT: u32 = 500;
const MAX_LIMIT: u32 = 1_000;

fn parse(pairs: &[(String, String)]) -> Result<(i64, u32), ApiError> {
    let (mut after, mut limit) = (0, DEFAULT_LIMIT);
    for (key, value) in pairs {
        match key.as_str() {
            "after" => {
                after = value
                    .parse::<i64>()
                    .ok()
                    .filter(|a| *a >= 0)
                    .ok_or_else(|| {
                        ApiError::field(
                            "after",
                            "must be a revision (a whole number, 0 for everything)",
                        )
                    })?
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ApiError::field(
                            "limit",
                            format!("must be a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?
            }
            other => {
                return Err(ApiError::field(
                    other,
                    "is not a parameter of the change feed; use after and limit",
                ));
            }
        }
    }
    Ok((after, limit))
}

/// The organization's changes after a revision, in revision order: licenses (an upsert or a
/// removal each) and their holders (`assign`, `unassign`) — every holder for a manager, an
/// employee's own for an employee. A page never ends inside a revision, so it may hold more
/// than `limit` changes. While more follow, the `Link` header (RFC 8288, `rel="next"`)
/// names the next page: a follower may ask for it while this one's body is still on its
/// way.
#[utoipa::path(get, path = "/v1/changes", tag = "sync",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "the `next` of the previous page; 0 for a full snapshot; not beyond the head"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "at most this many changes (1 to 1000, default 500)"),
    ),
    responses(
        (status = 200, body = ChangePage, headers(("Link" = String, description = "`</v1/changes?after=…&limit=…>; rel=\"next\"` while more follow"))),
        (status = 422, body = lm_protocol::Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<ChangePage>), ApiError> {
    let (after, limit) = parse(&query_pairs(&raw))?;
    let manager = caller.principal.role.is_manager();
    // An employee follows the licenses and their own holders; a manager, everyone's.
    let of = if manager {
        HoldersOf::Everyone
    } else {
        HoldersOf::Employee(&caller.principal.subject)
    };
    let mut page = state
        .store
        .changes(&caller.principal.org, of, after, limit)
        .await?;
    if !manager {
        for change in &mut page.changes {
            if let Change::Upsert { license, .. } = change {
                license.key = None;
            }
        }
    }
    let mut headers = HeaderMap::new();
    if page.more {
        let next = format!(
            "</v1/changes?after={}&limit={limit}>; rel=\"next\"",
            page.next
        );
        headers.insert(
            header::LINK,
            HeaderValue::from_str(&next).expect("a link of ASCII digits"),
        );
    }
    Ok((headers, Json(page)))
}
