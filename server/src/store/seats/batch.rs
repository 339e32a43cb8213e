//! Group commit of seat changes: the checks of one organization that must take or release
//! seats queue here, and whoever gets the organization's turn commits every change queued
//! by then in one transaction (see [`Store::write_seat_changes`]). On the first morning of a
//! school, fifty checks waiting for the turn become one transaction instead of fifty: one
//! lock of the organization, one write of the license row, one commit.
//!
//! Each check still gets its own answer. A batch the database refuses is undone and its
//! checks are committed one by one, so a failure fails only the checks it concerns. The
//! batch runs in a task of its own: a client that hangs up cannot cancel the changes of the
//! others queued with it.

use super::changes::{SeatJob, SeatOutcome};
use crate::store::{Result, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most checks one transaction commits: it stays short, and those behind it form the next.
const MOST_PER_BATCH: usize = 256;

/// Per organization, the seat changes waiting, and the turn to commit them.
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
    job: SeatJob,
    answer: oneshot::Sender<Result<SeatOutcome>>,
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
    /// Queues `job`'s seat changes in its organization and answers what came of them, once
    /// the batch they joined is committed.
    pub(super) async fn change_seats(&self, job: SeatJob) -> Result<SeatOutcome> {
        let org = job.ctx.org.clone();
        let queue = self.seat_changes.queue(&org);
        let (answer, answered) = oneshot::channel();
        queue
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Waiting { job, answer });
        // Every queued job brings one turn; a turn that finds the queue empty (an earlier
        // one took this job along) ends at once.
        let store = self.clone();
        tokio::spawn(async move {
            let _turn = queue.turn.lock().await;
            let batch = queue.next_batch();
            if !batch.is_empty() {
                store.commit_batch(&org, batch).await;
            }
        });
        answered.await.map_err(|_| {
            StoreError::Corrupt("the batch of seat changes this check joined was lost".into())
        })?
    }

    async fn commit_batch(&self, org: &str, batch: Vec<Waiting>) {
        let (jobs, answers): (Vec<SeatJob>, Vec<_>) =
            batch.into_iter().map(|w| (w.job, w.answer)).unzip();
        tracing::debug!(org, checks = jobs.len(), "committing seat changes");
        match self.write_seat_changes(org, &jobs).await {
            Ok(outcomes) => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = answer.send(Ok(outcome));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(org, checks = jobs.len(), error = %e,
                    "a batch of seat changes failed: committing its checks one by one");
                for (job, answer) in jobs.iter().zip(answers) {
                    let alone = self
                        .write_seat_changes(org, std::slice::from_ref(job))
                        .await;
                    let _ = answer.send(alone.map(|mut outcomes| outcomes.remove(0)));
                }
            }
        }
    }
}
