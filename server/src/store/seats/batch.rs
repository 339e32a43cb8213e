//! Group commit of an organization's seat changes and purchases: the permission checks that
//! must take or release seats, and the purchases, queue here per organization, and whoever
//! gets the organization's turn commits every change queued by then in one transaction. On a
//! school's first morning fifty checks waiting for the turn become one transaction instead
//! of fifty: one lock of the organization, one write of each license, one commit.
//!
//! Each request still gets its own answer. A purchase bought already is refused alone (the
//! insert skips it); a batch the database refuses otherwise is undone and its changes are
//! committed one by one, so a failure fails only the requests it concerns. The batch runs in
//! a task of its own: a client that hangs up cannot cancel the changes of the others queued
//! with it.

use super::changes::{SeatJob, SeatOutcome, licenses_touched, write_seat_changes};
use super::purchases::{PurchaseJob, write_purchases};
use crate::store::{Result, Store, StoreError, bump_revision};
use lm_protocol::License;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most changes one transaction commits: it stays short, and those behind it form the next.
const MOST_PER_BATCH: usize = 256;

/// A change waiting for its organization's next batch.
pub(super) enum Queued {
    Seats(SeatJob),
    Purchase(Box<PurchaseJob>),
}

/// What came of a queued change.
#[derive(Debug)]
pub(super) enum Done {
    Seats(SeatOutcome),
    Purchase(Box<License>),
}

/// Per organization, the changes waiting, and the turn to commit them.
#[derive(Clone, Default)]
pub(in crate::store) struct SeatChanges(Arc<Mutex<HashMap<String, Arc<Queue>>>>);

#[derive(Default)]
struct Queue {
    /// Held while a batch is written: one at a time per organization from this process
    /// (replicas serialize on the organization's row).
    turn: tokio::sync::Mutex<()>,
    waiting: Mutex<Vec<Waiting>>,
}

struct Waiting {
    change: Queued,
    answer: oneshot::Sender<Result<Done>>,
}

impl SeatChanges {
    fn queue(&self, org: &str) -> Arc<Queue> {
        let mut queues = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(org.to_owned()).or_default().clone()
    }
}

impl Queue {
    /// The oldest waiting changes, up to a batch.
    fn next_batch(&self) -> Vec<Waiting> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let n = waiting.len().min(MOST_PER_BATCH);
        waiting.drain(..n).collect()
    }
}

impl Store {
    /// Queues `change` in organization `org` and answers what came of it, once the batch it
    /// joined is committed.
    pub(super) async fn queue_change(&self, org: &str, change: Queued) -> Result<Done> {
        let queue = self.seat_changes.queue(org);
        let (answer, answered) = oneshot::channel();
        queue
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Waiting { change, answer });
        // Every queued change brings one turn; a turn that finds the queue empty (an earlier
        // one took this change along) ends at once.
        let store = self.clone();
        let org = org.to_owned();
        tokio::spawn(async move {
            let _turn = queue.turn.lock().await;
            let batch = queue.next_batch();
            if !batch.is_empty() {
                store.commit_batch(&org, batch).await;
            }
        });
        answered.await.map_err(|_| {
            StoreError::Corrupt("the batch of changes this request joined was lost".into())
        })?
    }

    async fn commit_batch(&self, org: &str, batch: Vec<Waiting>) {
        let (changes, answers): (Vec<Queued>, Vec<_>) =
            batch.into_iter().map(|w| (w.change, w.answer)).unzip();
        tracing::debug!(org, changes = changes.len(), "committing a batch");
        match self.write_batch(org, &changes).await {
            Ok(done) => {
                for (answer, done) in answers.into_iter().zip(done) {
                    let _ = answer.send(done);
                }
            }
            Err(e) if changes.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(org, changes = changes.len(), error = %e,
                    "a batch failed: committing its changes one by one");
                for (change, answer) in changes.iter().zip(answers) {
                    let alone = self.write_batch(org, std::slice::from_ref(change)).await;
                    let _ = answer.send(alone.and_then(|mut done| done.remove(0)));
                }
            }
        }
    }

    /// Writes `changes` in one transaction that first takes the organization's write lock
    /// (the revision bump): seat changes, then purchases. Answers each change's outcome, in
    /// order; an error answered for the whole batch undid all of it.
    async fn write_batch(&self, org: &str, changes: &[Queued]) -> Result<Vec<Result<Done>>> {
        let seat_jobs: Vec<&SeatJob> = changes
            .iter()
            .filter_map(|c| match c {
                Queued::Seats(job) => Some(job),
                Queued::Purchase(_) => None,
            })
            .collect();
        let purchases: Vec<&PurchaseJob> = changes
            .iter()
            .filter_map(|c| match c {
                Queued::Purchase(job) => Some(&**job),
                Queued::Seats(_) => None,
            })
            .collect();
        let reserved = (licenses_touched(&seat_jobs) + purchases.len()) as i64;
        let mut tx = self.db.begin().await?;
        let first = bump_revision(&mut tx, org, reserved).await?;
        let mut revisions = first..first + reserved;
        let (seat_outcomes, seats_written) =
            write_seat_changes(&mut tx, org, &seat_jobs, &mut revisions).await?;
        let (bought, purchases_written) =
            write_purchases(&mut tx, org, &purchases, &mut revisions).await?;
        if seats_written || purchases_written {
            // Unused revisions (a seat gone meanwhile, a purchase made already) stay gaps;
            // the feed tolerates gaps.
            self.commit_change(tx, org, first + reserved - 1).await?;
        }
        // Otherwise nothing was written but the revision bump: dropping `tx` undoes it.
        let mut seat_outcomes = seat_outcomes.into_iter();
        let mut bought = bought.into_iter();
        Ok(changes
            .iter()
            .map(|change| match change {
                Queued::Seats(_) => seat_outcomes
                    .next()
                    .map(Done::Seats)
                    .ok_or_else(|| StoreError::Corrupt("a seat change went unanswered".into())),
                Queued::Purchase(_) => bought
                    .next()
                    .unwrap_or_else(|| {
                        Err(StoreError::Corrupt("a purchase went unanswered".into()))
                    })
                    .map(|license| Done::Purchase(Box::new(license))),
            })
            .collect())
    }
}
