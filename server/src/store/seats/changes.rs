//! Taking and releasing seats: the only writes of a permission check, a batch of checks at
//! a time (the batches form in `batch`).

use super::batch::{Done, Queued};
use super::plan::{Candidate, Evaluation, HeldSeat, Holding, all_taken, member_set, plan};
use super::reads::{UserSeats, held_seats_of};
use crate::db::args;
use crate::store::assignments::{
    HolderChange, NewHolder, delete_assignment, insert_taken_seats, new_assignment, record_holders,
};
use crate::store::audit::{self, Audited};
use crate::store::hierarchy::Member;
use crate::store::licenses::load_live;
use crate::store::{ChangeContext, Result, Store, StoreError, bump_revision};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::hierarchy::EntityRef;
use lm_protocol::{Assignee, Assignment, AuditAction, EmployeeId, License};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A check's seat changes, queued for its organization's next batch.
pub(super) struct SeatJob {
    pub ctx: ChangeContext,
    pub user: EmployeeId,
    pub memberships: Vec<Member>,
    /// Redeemed seats to give back.
    pub release: Vec<HeldSeat>,
    /// Products to take a seat for, with the licenses to try, best first.
    pub take: BTreeMap<String, Vec<Candidate>>,
}

/// What came of a check's seat changes.
#[derive(Debug, Default)]
pub(super) struct SeatOutcome {
    /// Per product to take: the seat taken, or the one a concurrent check of the same user
    /// took first.
    pub held: Vec<SeatHeld>,
    /// Products whose licenses had no free seat left, and why.
    pub refused: Vec<(String, String)>,
}

#[derive(Debug)]
pub(super) struct SeatHeld {
    pub product: String,
    pub license: String,
    pub owner: Option<EntityRef>,
    pub valid_to: Option<NaiveDate>,
    pub since: DateTime<Utc>,
}

impl Store {
    /// Evaluates `user`'s permissions: plans from a read, then, only when seats change, takes
    /// and releases them in the organization's next batch (see `batch`). `ctx.actor` is who
    /// asked (the user, or a manager for them).
    pub async fn evaluate_seats(
        &self,
        ctx: &ChangeContext,
        user: &str,
        memberships: &[Member],
        seats: UserSeats,
        today: NaiveDate,
        takes_seats: bool,
    ) -> Result<Evaluation> {
        let org = ctx.org.as_str();
        let (candidates, mut products) = self.candidates(org, memberships).await?;
        products.extend(seats.products);
        let plan = plan(memberships, &candidates, &seats.held, today, takes_seats);
        let mut evaluation = Evaluation {
            held: Vec::new(),
            refused: plan.refused,
        };
        let holding = |product: &str, license: &str, owner, valid_to, since| {
            products.get(product).map(|p| Holding {
                product: p.clone(),
                license: license.to_owned(),
                owner,
                valid_to,
                seat_since: since,
            })
        };
        for (seat, owner) in &plan.keep {
            evaluation.held.extend(holding(
                &seat.product,
                &seat.license,
                owner.clone(),
                seat.valid_to,
                Some(seat.since),
            ));
        }
        for c in &plan.use_without_seat {
            evaluation.held.extend(holding(
                &c.product,
                &c.license,
                Some(c.owner.clone()),
                c.valid_to,
                None,
            ));
        }
        self.touch_last_seen(org, user, &plan.keep).await?;
        if plan.release.is_empty() && plan.take.is_empty() {
            return Ok(evaluation);
        }
        let job = SeatJob {
            ctx: ctx.clone(),
            // Parsed here, so that a bad name fails this check and not its batch.
            user: user.parse().map_err(StoreError::Invalid)?,
            memberships: memberships.to_vec(),
            release: plan.release,
            take: plan.take,
        };
        let Done::Seats(outcome) = self.queue_change(org, Queued::Seats(job)).await? else {
            return Err(StoreError::Corrupt(
                "a seat change was answered as another change".into(),
            ));
        };
        for seat in outcome.held {
            evaluation.held.extend(holding(
                &seat.product,
                &seat.license,
                seat.owner,
                seat.valid_to,
                Some(seat.since),
            ));
        }
        evaluation.refused.extend(outcome.refused);
        Ok(evaluation)
    }
}

/// How many licenses the seat changes of `jobs` may change: the revisions to reserve.
pub(super) fn licenses_touched(jobs: &[&SeatJob]) -> usize {
    let may_change: BTreeSet<&str> = jobs
        .iter()
        .flat_map(|job| {
            let released = job.release.iter().map(|s| s.license.as_str());
            let offered = job.take.values().flatten().map(|c| c.license.as_str());
            released.chain(offered)
        })
        .collect();
    may_change.len()
}

/// Writes the seat changes of `jobs` (checks of one organization) in `tx`, which holds the
/// organization's write lock already (see `batch`), so concurrent batches, on any number of
/// replicas, never hand out more seats than exist. Each license changed is written once,
/// with the next of `revisions`; each seat is its own row and audit entry. Answers each
/// job's outcome, in order, and whether anything was written.
pub(super) async fn write_seat_changes(
    tx: &mut crate::db::Tx,
    org: &str,
    jobs: &[&SeatJob],
    revisions: &mut std::ops::Range<i64>,
) -> Result<(Vec<SeatOutcome>, bool)> {
    if jobs.is_empty() {
        return Ok((Vec::new(), false));
    }
    // The seats as they are now, inside the lock: a check of the same user elsewhere may
    // have taken one already. Kept up to date below as the batch takes and releases.
    let mut users: Vec<&str> = jobs.iter().map(|j| j.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let (mut held, _) = held_seats_of(tx, org, &users).await?;
    let mut licenses = Licenses::default();
    let mut audited: Vec<(usize, AuditAction, String, serde_json::Value)> = Vec::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        let mut outcome = SeatOutcome::default();
        for seat in &job.release {
            let Some(license) = licenses.live(tx, org, &seat.license, revisions).await? else {
                continue;
            };
            let revision = license.revision;
            if !delete_assignment(tx, org, &seat.license, &seat.assignment, revision).await? {
                continue;
            }
            license.released.push(seat.assignment.clone());
            let entry = json!({"id": seat.assignment.as_str(), "employee": job.user.as_str()});
            audited.push((j, AuditAction::Unassign, seat.license.clone(), entry));
            if let Some(seats) = held.get_mut(job.user.as_str()) {
                seats.retain(|s| s.assignment != seat.assignment);
            }
        }
        let member_of = member_set(&job.memberships);
        for (product, offers) in &job.take {
            let mine = held
                .get(job.user.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            if let Some(seat) = mine.iter().find(|s| &s.product == product) {
                outcome.held.push(SeatHeld {
                    product: product.clone(),
                    license: seat.license.clone(),
                    owner: seat.owner_among(&member_of),
                    valid_to: seat.valid_to,
                    since: seat.since,
                });
                continue;
            }
            let mut as_found = Vec::new();
            let mut took = None;
            for offer in offers {
                let Some(license) = licenses.live(tx, org, &offer.license, revisions).await? else {
                    continue;
                };
                let used = license.used();
                as_found.push(Candidate {
                    seats: license.before.seats,
                    used,
                    ..offer.clone()
                });
                if license.before.seats.is_some_and(|s| used >= s) {
                    continue;
                }
                let assignee = Assignee::Employee(job.user.clone());
                let assignment = new_assignment(assignee)?;
                license.added.push(assignment.clone());
                let entry = json!({
                    "id": assignment.id.as_str(),
                    "employee": job.user.as_str(),
                    "unit": offer.owner.to_string(),
                });
                audited.push((j, AuditAction::Assign, offer.license.clone(), entry));
                took = Some((offer, assignment));
                break;
            }
            let Some((offer, assignment)) = took else {
                let found: Vec<&Candidate> = as_found.iter().collect();
                outcome.refused.push((product.clone(), all_taken(&found)));
                continue;
            };
            held.entry(job.user.to_string())
                .or_default()
                .push(HeldSeat {
                    assignment: assignment.id.to_string(),
                    license: offer.license.clone(),
                    product: product.clone(),
                    redeemed: true,
                    since: assignment.since,
                    last_seen: Some(assignment.since),
                    valid_from: offer.valid_from,
                    valid_to: offer.valid_to,
                    provider: offer.provider.clone(),
                    owners: vec![offer.owner.clone()],
                });
            outcome.held.push(SeatHeld {
                product: product.clone(),
                license: offer.license.clone(),
                owner: Some(offer.owner.clone()),
                valid_to: offer.valid_to,
                since: assignment.since,
            });
        }
        outcomes.push(outcome);
    }
    if audited.is_empty() {
        return Ok((outcomes, false));
    }
    let rows: Vec<NewHolder> = licenses
        .changed()
        .flat_map(|(license_id, license)| {
            license.added.iter().map(move |assignment| NewHolder {
                license_id,
                assignment,
                revision: license.revision,
            })
        })
        .collect();
    insert_taken_seats(tx, org, &rows).await?;
    // Each license changed once, with its own revision of those reserved (the ones of
    // licenses read but not changed stay gaps; the feed tolerates gaps).
    for (_, license) in licenses.changed() {
        let revision = license.revision;
        let removed = license.released.iter().map(|a| HolderChange::Removed(a));
        let added = license.added.iter().map(HolderChange::Added);
        let changes: Vec<HolderChange> = removed.chain(added).collect();
        record_holders(tx, org, &license.before, revision, &changes).await?;
    }
    let entries = seat_audit(jobs, &licenses, &audited);
    audit::record_all(tx, org, &entries).await?;
    Ok((outcomes, true))
}

impl Store {
    /// Makes the seats `user` holds look unused for `days` days (sample data: the demo's
    /// seats to reclaim).
    pub(crate) async fn backdate_seats(&self, org: &str, user: &str, days: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                "UPDATE assignments SET last_seen = $3 WHERE org_id = $1 AND employee = $2 AND redeemed",
                args![org, user, Utc::now() - chrono::Duration::days(days)],
            )
            .await?;
        tx.commit().await?;
        self.seat_reads.forget_user(org, user);
        Ok(())
    }

    /// Records that the holders of `kept` seats checked now, at most once an hour per seat:
    /// a repeated check writes nothing. The first check of a day also brings the seat into
    /// the change feed again, so that daemons know, to the day, which seats go unused.
    async fn touch_last_seen(
        &self,
        org: &str,
        user: &str,
        kept: &[(HeldSeat, Option<EntityRef>)],
    ) -> Result<()> {
        let now = Utc::now();
        let stale = now - chrono::Duration::hours(1);
        let seats = || kept.iter().map(|(s, _)| s).filter(|s| s.redeemed);
        let redeemed: Vec<&str> = seats()
            .filter(|s| s.last_seen.is_none_or(|seen| seen < stale))
            .map(|s| s.assignment.as_str())
            .collect();
        if redeemed.is_empty() {
            return Ok(());
        }
        let new_day: Vec<&str> = seats()
            .filter(|s| {
                s.last_seen
                    .is_none_or(|seen| seen.date_naive() < now.date_naive())
            })
            .map(|s| s.assignment.as_str())
            .collect();
        let in_list = |ids: &[&str], values: &mut Vec<crate::db::Value>| {
            let mut placeholders = Vec::new();
            for id in ids {
                values.push((*id).into());
                placeholders.push(format!("${}", values.len()));
            }
            placeholders.join(", ")
        };
        let mut tx = self.db.begin().await?;
        let restamped = if new_day.is_empty() {
            None
        } else {
            // The organization's write lock first, as every revision is taken.
            let revision = bump_revision(&mut tx, org, 1).await?;
            let mut values = args![revision];
            let ids = in_list(&new_day, &mut values);
            tx.exec()
                .execute(
                    format!("UPDATE assignments SET revision = $1 WHERE id IN ({ids})"),
                    values,
                )
                .await?;
            Some(revision)
        };
        let mut values = args![now, stale];
        let ids = in_list(&redeemed, &mut values);
        tx.exec()
            .execute(
                format!(
                    "UPDATE assignments SET last_seen = $1 WHERE (last_seen IS NULL OR last_seen < $2) AND id IN ({ids})"
                ),
                values,
            )
            .await?;
        match restamped {
            Some(revision) => self.commit_change(tx, org, revision).await?,
            None => tx.commit().await?,
        }
        // Not a change anyone else caches: only this user's read goes stale.
        self.seat_reads.forget_user(org, user);
        Ok(())
    }
}

/// The licenses a batch reads, each once, and what it changes of them.
#[derive(Default)]
struct Licenses(BTreeMap<String, Option<LicenseChange>>);

struct LicenseChange {
    before: License,
    /// The revision the batch writes the license's changes at, reserved when first read.
    revision: i64,
    /// Seats released (their assignment ids) and taken.
    released: Vec<String>,
    added: Vec<Assignment>,
}

impl LicenseChange {
    fn used(&self) -> u32 {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (self.before.seats_used + count(self.added.len()))
            .saturating_sub(count(self.released.len()))
    }
}

impl Licenses {
    /// License `id` as the batch has changed it so far; `None` when it is not live.
    async fn live(
        &mut self,
        tx: &mut crate::db::Tx,
        org: &str,
        id: &str,
        revisions: &mut std::ops::Range<i64>,
    ) -> Result<Option<&mut LicenseChange>> {
        if !self.0.contains_key(id) {
            let read = match load_live(tx, org, id).await {
                Ok(before) => Some(LicenseChange {
                    before,
                    revision: revisions.next().ok_or_else(|| {
                        StoreError::Corrupt("fewer revisions reserved than licenses read".into())
                    })?,
                    released: Vec::new(),
                    added: Vec::new(),
                }),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            };
            self.0.insert(id.to_owned(), read);
        }
        Ok(self.0.get_mut(id).and_then(Option::as_mut))
    }

    fn changed(&self) -> impl Iterator<Item = (&str, &LicenseChange)> {
        self.0.iter().filter_map(|(id, change)| {
            change
                .as_ref()
                .filter(|c| !c.added.is_empty() || !c.released.is_empty())
                .map(|c| (id.as_str(), c))
        })
    }
}

/// The audit entries of a batch's seats, in the order taken and released: each names the
/// license (by id and name), its seat count before and after, and the seat — who holds it,
/// through which unit — rather than two copies of a license whose assignments grow with
/// every seat (1.47 MB an entry at 7,108 seats).
fn seat_audit<'a>(
    jobs: &'a [&'a SeatJob],
    licenses: &'a Licenses,
    audited: &'a [(usize, AuditAction, String, serde_json::Value)],
) -> Vec<(&'a ChangeContext, Audited<'a>)> {
    // Per license, its seats used as the entries go.
    let mut counts: HashMap<&str, u32> = licenses
        .changed()
        .map(|(id, license)| (id, license.before.seats_used))
        .collect();
    let mut entries = Vec::with_capacity(audited.len());
    for (job, action, license_id, seat) in audited {
        let Some(Some(license)) = licenses.0.get(license_id) else {
            continue;
        };
        let Some(used) = counts.get_mut(license_id.as_str()) else {
            continue;
        };
        let was = *used;
        *used = match action {
            AuditAction::Unassign => was.saturating_sub(1),
            _ => was.saturating_add(1),
        };
        let state = |used: u32, seat: Option<&serde_json::Value>| {
            let mut state = json!({
                "name": license.before.name.as_str(),
                "seats": license.before.seats,
                "seats_used": used,
            });
            if let Some(seat) = seat {
                state["seat"] = seat.clone();
            }
            state.to_string()
        };
        let (before, after) = match action {
            AuditAction::Unassign => (state(was, Some(seat)), state(*used, None)),
            _ => (state(was, None), state(*used, Some(seat))),
        };
        entries.push((
            &jobs[*job].ctx,
            Audited {
                action: *action,
                record_type: "license",
                record_id: license_id,
                before: Some(before),
                after: Some(after),
            },
        ));
    }
    entries
}
