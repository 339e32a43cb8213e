//! `/v1/licenses/export.csv` and `/v1/licenses/import`: the inventory as CSV, for
//! spreadsheets and for moving in from another tool. The format is `lm_protocol::csv`'s.

use super::AppState;
use super::context::{Caller, Manager};
use super::error::ApiError;
use super::params::{query_pairs, visible};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lm_protocol::csv::ImportReport;
use lm_protocol::{ListParams, Principal};

pub use lm_protocol::csv::MAX_IMPORT_BYTES;

#[utoipa::path(get, path = "/v1/licenses/export.csv", tag = "licenses",
    params(("sort" = Option<String>, Query, description = "and every filter of GET /v1/licenses; no limit or cursor")),
    responses((status = 200, description = "text/csv with the columns of lm_protocol::csv::COLUMNS; \
        cost_amount in major units, lists `;`-separated, product keys for managers only"),
        (status = 422, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn export(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(&raw);
    if let Some((name, _)) = pairs.iter().find(|(k, _)| k == "limit" || k == "cursor") {
        return Err(ApiError::field(
            name,
            "an export holds every matching license; leave out limit and cursor",
        ));
    }
    let mut params = ListParams::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if params.deleted {
        caller.require_manager("export removed licenses")?;
    }
    params.limit = ListParams::MAX_LIMIT;
    let today = Utc::now().date_naive();
    // The first page is read before answering, so that a failure is a proper problem.
    let first = state
        .store
        .list_licenses(&caller.principal.org, &params, today)
        .await?;
    let principal = caller.principal.clone();
    let mut header = csv::Writer::from_writer(Vec::new());
    lm_protocol::csv::write_header(&mut header).map_err(|_| ApiError::Internal)?;
    let header = header.into_inner().map_err(|_| ApiError::Internal)?;
    let pages = futures_util::stream::unfold(
        (Some(first), params, state, principal),
        move |(page, mut params, state, principal)| async move {
            let page = page?;
            let chunk = render(page.items, &principal);
            let next = match page.next.map(|c| lm_protocol::Cursor::decode(&c)) {
                Some(Ok(cursor)) => {
                    params.cursor = Some(cursor);
                    match state
                        .store
                        .list_licenses(&principal.org, &params, today)
                        .await
                    {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::error!(error = %e, "export cut short");
                            return Some((
                                Err(std::io::Error::other(e)),
                                (None, params, state, principal),
                            ));
                        }
                    }
                }
                _ => None,
            };
            Some((Ok(chunk), (next, params, state, principal)))
        },
    );
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header)) }),
        pages,
    );
    let filename = format!("attachment; filename=\"licenses-{today}.csv\"");
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

fn render(licenses: Vec<lm_protocol::License>, principal: &Principal) -> Bytes {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(licenses.len() * 256));
    for l in licenses {
        if let Err(e) = lm_protocol::csv::write_license(&mut out, &visible(l, principal.role)) {
            tracing::error!(error = %e, "cannot write a CSV row");
        }
    }
    Bytes::from(out.into_inner().unwrap_or_default())
}

#[utoipa::path(post, path = "/v1/licenses/import", tag = "licenses",
    params(("dry_run" = Option<bool>, Query, description = "check and report, write nothing")),
    request_body(content = String, content_type = "text/csv",
        description = "columns of lm_protocol::csv::COLUMNS in any order; rows match by id, else product + key, else product + name"),
    responses((status = 200, body = ImportReport, description = "imported (or, with dry_run, what would be)"),
        (status = 422, body = ImportReport, description = "problems by row and field; nothing was written"),
        (status = 403, body = lm_protocol::Problem), (status = 415, body = lm_protocol::Problem)),
    security(("bearer" = [])))]
pub async fn import(
    Manager(caller): Manager,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _turn = super::import_turns::take(&caller.principal.org)?;
    let dry_run = csv_upload(&raw, &headers)?;
    let (rows, unreadable) = read_csv(body, |file| lm_protocol::csv::parse_import(file)).await?;
    let today = Utc::now().date_naive();
    let context = caller.change_context();
    // With rows that did not parse, the rest is still checked (as a dry run) so that one
    // report names every problem of the file.
    let plan_only = dry_run || !unreadable.is_empty();
    let mut report = state.store.import(&context, rows, today, plan_only).await?;
    if !unreadable.is_empty() {
        let unreadable_rows: std::collections::BTreeSet<usize> = unreadable
            .iter()
            .map(|p| p.row)
            .filter(|row| *row > 1)
            .collect();
        report = ImportReport {
            dry_run,
            rows: report.rows + unreadable_rows.len(),
            problems: report.problems.into_iter().chain(unreadable).collect(),
            ..ImportReport::default()
        };
        lm_protocol::csv::cap_problems(&mut report.problems);
    }
    let status = if report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)).into_response())
}

/// What `parse` makes of an import's CSV file, read as it arrives, off the runtime's threads:
/// each row is checked as it is read, the file is never held whole, and parsing a large one
/// holds up no other request. More than [`MAX_IMPORT_BYTES`] is a 413.
pub(super) async fn read_csv<Parsed: Send + 'static>(
    body: Body,
    parse: impl FnOnce(&mut dyn std::io::Read) -> Parsed + Send + 'static,
) -> Result<Parsed, ApiError> {
    use tokio_stream::StreamExt;
    let chunks = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let file = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(chunks));
    let (parsed, too_large) = tokio::task::spawn_blocking(move || {
        let mut bounded = Bounded {
            inner: file,
            left: MAX_IMPORT_BYTES,
            exceeded: false,
        };
        let parsed = parse(&mut bounded);
        (parsed, bounded.exceeded)
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    if too_large {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(parsed)
}

/// A reader that fails once more than `left` bytes have come.
struct Bounded<R> {
    inner: R,
    left: usize,
    exceeded: bool,
}

impl<R: std::io::Read> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > self.left {
            self.exceeded = true;
            return Err(std::io::Error::other("the file is over the import limit"));
        }
        self.left -= n;
        Ok(n)
    }
}

/// An import's request: whether it is a dry run (the file is read by [`read_csv`]).
pub(super) fn csv_upload(raw: &Option<String>, headers: &HeaderMap) -> Result<bool, ApiError> {
    let dry_run = dry_run_param(raw)?;
    require_csv(headers)?;
    Ok(dry_run)
}

/// `?dry_run=true|false` (the only parameter of an import).
fn dry_run_param(raw: &Option<String>) -> Result<bool, ApiError> {
    let mut dry_run = false;
    for (name, value) in query_pairs(raw) {
        match (name.as_str(), value.as_str()) {
            ("dry_run", "true" | "1" | "") => dry_run = true,
            ("dry_run", "false" | "0") => dry_run = false,
            ("dry_run", other) => {
                return Err(ApiError::field(
                    "dry_run",
                    format!("`{other}` is not true or false"),
                ));
            }
            (other, _) => {
                return Err(ApiError::field(
                    other,
                    "unknown parameter; the only one is dry_run",
                ));
            }
        }
    }
    Ok(dry_run)
}

/// Refuses a body that is not CSV.
fn require_csv(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_csv = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            ["text/csv", "application/csv", "text/plain"]
                .iter()
                .any(|t| m.eq_ignore_ascii_case(t))
        });
    if is_csv {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType("text/csv"))
    }
}
