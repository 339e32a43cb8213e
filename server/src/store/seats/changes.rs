//! Taking and releasing seats: the only writes of a permission check.

use super::plan::{Candidate, Evaluation, HeldSeat, Holding, all_taken, member_set, plan};
use super::reads::{UserSeats, held_seats};
use crate::db::args;
use crate::store::assignments::{HolderChange, delete_assignment, new_assignment, record_holders};
use crate::store::hierarchy::Member;
use crate::store::licenses::load_live;
use crate::store::{ChangeContext, Result, Store, StoreError, bump_revision};
use chrono::{NaiveDate, Utc};
use lm_protocol::hierarchy::EntityRef;
use lm_protocol::{Assignee, AuditAction, License};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Per organization, the turn to change seats: see [`Store::evaluate_seats`].
#[derive(Clone, Default)]
pub(in crate::store) struct SeatChanges(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl SeatChanges {
    async fn turn(&self, org: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.0.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(org.to_owned()).or_default().clone()
        };
        gate.lock_owned().await
    }
}

impl Store {
    /// Evaluates `user`'s permissions: plans from a read, then, only when seats change, takes
    /// and releases them in one transaction under the organization's write lock. `ctx.actor`
    /// is who asked (the user, or a manager for them).
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
            refused: plan.refused.clone(),
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

        // One seat change of an organization at a time from this process: the others wait
        // here, without a connection, instead of queueing on the organization's row in
        // PostgreSQL, where every commit would wake them all to race for it again.
        let _turn = self.seat_changes.turn(org).await;
        let mut tx = self.db.begin().await?;
        let changes = (plan.release.len() + plan.take.len()) as i64;
        let first = bump_revision(&mut tx, org, changes).await?;
        let mut revisions = first..first + changes;
        let mut changed = 0;
        for seat in &plan.release {
            let Ok(before) = load_live(&mut tx, org, &seat.license).await else {
                continue;
            };
            if !delete_assignment(&mut tx, &seat.license, &seat.assignment).await? {
                continue;
            }
            let revision = revisions.next().unwrap_or(first);
            let removed = HolderChange::Removed(&seat.assignment);
            let after = record_holders(&mut tx, org, &before, revision, removed).await?;
            let seat_entry = serde_json::json!({"id": seat.assignment.as_str(), "employee": user});
            write_seat_audit(
                &mut tx,
                ctx,
                AuditAction::Unassign,
                &before,
                &after,
                seat_entry,
            )
            .await?;
            changed += 1;
        }
        // The seats as they are now, inside the lock: a concurrent check of the same user
        // may have taken one already.
        let (now_held, _) = held_seats(&mut tx, org, user).await?;
        for (product, offers) in &plan.take {
            if let Some(seat) = now_held.iter().find(|s| &s.product == product) {
                let owner = seat.owner_among(&member_set(memberships));
                evaluation.held.extend(holding(
                    product,
                    &seat.license,
                    owner,
                    seat.valid_to,
                    Some(seat.since),
                ));
                continue;
            }
            let mut taken = false;
            let mut as_found = Vec::new();
            for offer in offers {
                let Ok(before) = load_live(&mut tx, org, &offer.license).await else {
                    continue;
                };
                as_found.push(Candidate {
                    seats: before.seats,
                    used: before.seats_used,
                    ..offer.clone()
                });
                if before.seats.is_some_and(|s| before.seats_used >= s) {
                    continue;
                }
                let assignee = Assignee::Employee(user.parse().map_err(StoreError::Invalid)?);
                let assignment = new_assignment(assignee)?;
                // A seat taken by a check: redeemed, and seen now.
                tx.exec()
                    .execute(
                        "INSERT INTO assignments (id, org_id, license_id, employee, since, redeemed, last_seen) \
                         VALUES ($1, $2, $3, $4, $5, $6, $5)",
                        args![
                            assignment.id.as_str(),
                            org,
                            offer.license.as_str(),
                            user,
                            assignment.since,
                            true
                        ],
                    )
                    .await?;
                let since = assignment.since;
                let revision = revisions.next().unwrap_or(first);
                let added = HolderChange::Added(&assignment);
                let after = record_holders(&mut tx, org, &before, revision, added).await?;
                let seat_entry = serde_json::json!({
                    "id": assignment.id.as_str(),
                    "employee": user,
                    "unit": offer.owner.to_string(),
                });
                write_seat_audit(
                    &mut tx,
                    ctx,
                    AuditAction::Assign,
                    &before,
                    &after,
                    seat_entry,
                )
                .await?;
                evaluation.held.extend(holding(
                    product,
                    &offer.license,
                    Some(offer.owner.clone()),
                    offer.valid_to,
                    Some(since),
                ));
                changed += 1;
                taken = true;
                break;
            }
            if !taken {
                let found: Vec<&Candidate> = as_found.iter().collect();
                evaluation
                    .refused
                    .push((product.clone(), all_taken(&found)));
            }
        }
        if changed == 0 {
            // Nothing was written but the revision bump: dropping the transaction undoes it.
            drop(tx);
        } else {
            // Unused revisions (a seat gone meanwhile) stay gaps; the feed tolerates gaps.
            self.commit_change(tx, org, first + changes - 1).await?;
        }
        Ok(evaluation)
    }

    /// Records that the holders of `kept` seats checked now, at most once an hour per seat:
    /// a repeated check writes nothing.
    async fn touch_last_seen(
        &self,
        org: &str,
        user: &str,
        kept: &[(HeldSeat, Option<EntityRef>)],
    ) -> Result<()> {
        let now = Utc::now();
        let stale = now - chrono::Duration::hours(1);
        let redeemed: Vec<&str> = kept
            .iter()
            .filter(|(s, _)| s.redeemed && s.last_seen.is_none_or(|seen| seen < stale))
            .map(|(s, _)| s.assignment.as_str())
            .collect();
        if redeemed.is_empty() {
            return Ok(());
        }
        let mut values = args![now, stale];
        let mut placeholders = Vec::new();
        for id in redeemed {
            values.push(id.into());
            placeholders.push(format!("${}", values.len()));
        }
        let mut tx = self.db.begin().await?;
        tx.exec()
            .execute(
                format!(
                    "UPDATE assignments SET last_seen = $1 WHERE (last_seen IS NULL OR last_seen < $2) AND id IN ({})",
                    placeholders.join(", ")
                ),
                values,
            )
            .await?;
        tx.commit().await?;
        // Not a change anyone else caches: only this user's read goes stale.
        self.seat_reads.forget_user(org, user);
        Ok(())
    }
}

/// The audit entry of a seat taken or released by a permission check: the license (by id and
/// name), its seat count before and after, and the seat — who holds it, through which unit —
/// rather than two copies of a license whose assignments grow with every seat (1.47 MB an
/// entry at 7,108 seats).
async fn write_seat_audit(
    tx: &mut crate::db::Tx,
    ctx: &ChangeContext,
    action: AuditAction,
    before: &License,
    after: &License,
    seat: serde_json::Value,
) -> Result<()> {
    let state = |l: &License, seat: Option<&serde_json::Value>| {
        let mut state = serde_json::json!({"name": l.name.as_str(), "seats": l.seats, "seats_used": l.seats_used});
        if let Some(seat) = seat {
            state["seat"] = seat.clone();
        }
        state.to_string()
    };
    let (was, is) = match action {
        AuditAction::Unassign => (state(before, Some(&seat)), state(after, None)),
        _ => (state(before, None), state(after, Some(&seat))),
    };
    crate::store::audit::record(
        tx,
        &ctx.org,
        ctx,
        crate::store::audit::Audited {
            action,
            record_type: "license",
            record_id: after.id.as_str(),
            before: Some(was),
            after: Some(is),
        },
    )
    .await
}
