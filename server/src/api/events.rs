//! `/v1/events`: Server-Sent Events announcing each new revision of the caller's organization.

use super::AppState;
use super::context::Caller;
use super::error::ApiError;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, future, stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;

/// How often an idle stream carries a heartbeat comment.
const HEARTBEAT: Duration = Duration::from_secs(15);

fn revision_event(revision: i64) -> Event {
    Event::default()
        .event("revision")
        .id(revision.to_string())
        .data(format!("{{\"revision\":{revision}}}"))
}

#[utoipa::path(get, path = "/v1/events", tag = "sync",
    responses((status = 200, description = "text/event-stream of `revision` events: `{\"revision\": N}`; \
        the first carries the current revision, heartbeats every 15 s")),
    security(("bearer" = [])))]
pub async fn stream(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let org: Arc<str> = caller.principal.org.as_str().into();
    // Subscribe before reading the head, so no revision falls between the two.
    let updates = BroadcastStream::new(state.store.events().subscribe());
    let head = state.store.head(&org).await?;
    // Revisions only move forward on a stream: on PostgreSQL a NOTIFY of a write that
    // committed before `head` was read can still arrive after it, and is dropped here.
    let mut sent = head;
    let updates = updates.filter_map(move |item| {
        future::ready(match item {
            Ok(r) if r.org == org && r.revision > sent => {
                sent = r.revision;
                Some(Ok(revision_event(r.revision)))
            }
            // A lagging subscriber skipped some; the next event carries a newer revision.
            _ => None,
        })
    });
    let mut shutdown = state.shutdown.clone();
    let events = stream::once(future::ready(Ok(revision_event(head))))
        .chain(updates)
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
