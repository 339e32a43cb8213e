//! Seat licenses of organisational units: purchases, and the permission check that takes,
//! keeps and releases seats implicitly.
//!
//! A seat is an assignment of the license to the user, marked `redeemed`; so the inventory,
//! the change feed and the audit log show seats like any assignment. The check is planned
//! from a read ([`plan`], pure), and only when a seat must be taken or released does it write
//! — in one transaction that first takes the organization's write lock (the revision bump),
//! so concurrent checks, on any number of replicas, never hand out more seats than exist.
//!
//! The rule, for each product the user's units have licenses for:
//! 1. a seat the user holds on a license that is valid today, owned by a unit the user still
//!    belongs to, is kept;
//! 2. a redeemed seat on a license that ended (or not valid yet), or whose owner the user
//!    left, is released; seats a manager assigned are kept and count while the license is
//!    valid;
//! 3. without a seat, the user takes one on the best license with a free seat: owned by the
//!    unit at the lowest level (the class before the school), then the one valid longest;
//! 4. members of types that take no seat (`serve --seat-free-type teacher`) use the best
//!    valid license without occupying a seat;
//! 5. otherwise the product is refused, with the reason.
//!
//! One seat per product; the permissions of all held products are merged.

use super::hierarchy::{Member, ProductRow, membership_on};
use super::licenses::{insert_license, load_live, new_assignment, touch, write_audit};
use super::quiet_reads::QuietReads;
use super::{ChangeContext, Result, Store, StoreError, bump_revision};
use crate::db::{Tx, args};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::hierarchy::{EntityRef, NewPurchase, Product};
use lm_protocol::license::{LicenseFields, Notes};
use lm_protocol::{Assignee, AuditAction, License, Money, Owner};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Keeps `license_owners` in step with a license's owner.
pub(super) async fn index_owners(
    tx: &mut Tx,
    org: &str,
    id: &str,
    owner: Option<&Owner>,
) -> Result<()> {
    tx.exec()
        .execute(
            "DELETE FROM license_owners WHERE license_id = $1",
            args![id],
        )
        .await?;
    index_new_owners(tx, org, id, owner).await
}

/// Indexes the owner of a license just created (none indexed yet: nothing to delete, one
/// statement fewer per license of an import).
pub(super) async fn index_new_owners(
    tx: &mut Tx,
    org: &str,
    id: &str,
    owner: Option<&Owner>,
) -> Result<()> {
    if let Some(owner) = owner {
        for eid in &owner.eids {
            tx.exec()
                .execute(
                    "INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid) VALUES ($1, $2, $3, $4)",
                    args![id, org, owner.level.as_str(), eid.as_str()],
                )
                .await?;
        }
    }
    Ok(())
}

/// A license a user's unit owns, as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub license: String,
    pub product: String,
    /// The Hierarchy Provider the owner lives in (`None`: the built-in one).
    pub provider: Option<String>,
    pub owner: EntityRef,
    pub owner_level: u32,
    pub seats: Option<u32>,
    pub used: u32,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl Candidate {
    fn valid_on(&self, today: NaiveDate) -> bool {
        valid_on(self.valid_from, self.valid_to, today)
    }

    fn is_full(&self) -> bool {
        self.seats.is_some_and(|seats| self.used >= seats)
    }
}

/// Why a product is refused when every seat of its licenses is taken.
fn all_taken(offers: &[&Candidate]) -> String {
    let total: u32 = offers.iter().filter_map(|c| c.seats).sum();
    let owners: Vec<String> = offers.iter().map(|o| o.owner.to_string()).collect();
    format!(
        "all {total} seats of the licenses of {} are taken",
        owners.join(", ")
    )
}

fn valid_on(from: NaiveDate, to: Option<NaiveDate>, today: NaiveDate) -> bool {
    from <= today && to.is_none_or(|to| today <= to)
}

/// A seat a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    pub assignment: String,
    pub license: String,
    pub product: String,
    pub redeemed: bool,
    pub since: DateTime<Utc>,
    /// The holder's latest permission check, as recorded (at most hourly).
    pub last_seen: Option<DateTime<Utc>>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    /// The Hierarchy Provider the owners live in (`None`: the built-in one).
    pub provider: Option<String>,
    /// The license's owners.
    pub owners: Vec<EntityRef>,
}

impl HeldSeat {
    /// The license's owner among `member_of`, if the holder still belongs to one.
    fn owner_among(&self, member_of: &HashSet<(Option<&str>, &EntityRef)>) -> Option<EntityRef> {
        let provider = self.provider.as_deref();
        self.owners
            .iter()
            .find(|o| member_of.contains(&(provider, *o)))
            .cloned()
    }
}

fn member_set(memberships: &[Member]) -> HashSet<(Option<&str>, &EntityRef)> {
    memberships
        .iter()
        .map(|m| (m.provider(), &m.entity))
        .collect()
}

/// What the check does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Seats kept, with the user's unit that owns the license (none for a manager's seat).
    pub keep: Vec<(HeldSeat, Option<EntityRef>)>,
    /// Redeemed seats to give back.
    pub release: Vec<HeldSeat>,
    /// Products to take a seat for, with the licenses to try, best first.
    pub take: BTreeMap<String, Vec<Candidate>>,
    /// Products used without a seat (seat-free member types), on this license.
    pub use_without_seat: Vec<Candidate>,
    /// Products refused, and why.
    pub refused: Vec<(String, String)>,
}

/// Decides, from what was read, which seats to keep, release and take. `takes_seats` is
/// false for members of seat-free types.
pub fn plan(
    memberships: &[Member],
    candidates: &[Candidate],
    held: &[HeldSeat],
    today: NaiveDate,
    takes_seats: bool,
) -> Plan {
    let member_of = member_set(memberships);
    let mut plan = Plan::default();
    let mut covered: HashSet<String> = HashSet::new();
    for seat in held {
        let owner = seat.owner_among(&member_of);
        let valid = valid_on(seat.valid_from, seat.valid_to, today);
        let keep = if seat.redeemed {
            valid && owner.is_some()
        } else {
            valid
        };
        if keep && !covered.contains(&seat.product) {
            covered.insert(seat.product.clone());
            plan.keep.push((seat.clone(), owner));
        } else if seat.redeemed && !keep {
            plan.release.push(seat.clone());
        } else if keep {
            // A second valid seat of a product held already (a manager's assignment next to
            // a redeemed seat): both stay; a check never takes one, and never frees a
            // seat that is still good.
            plan.keep.push((seat.clone(), owner));
        }
    }
    let mut by_product: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        by_product.entry(c.product.as_str()).or_default().push(c);
    }
    for (product, mut offers) in by_product {
        if covered.contains(product) {
            continue;
        }
        offers.sort_by(|a, b| {
            a.owner_level
                .cmp(&b.owner_level)
                .then_with(|| match (a.valid_to, b.valid_to) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => y.cmp(&x),
                })
                .then_with(|| a.license.cmp(&b.license))
        });
        let valid: Vec<&Candidate> = offers
            .iter()
            .copied()
            .filter(|c| c.valid_on(today))
            .collect();
        if valid.is_empty() {
            let reason = if offers.iter().any(|c| c.valid_from > today) {
                "the licenses of your units are not valid yet"
            } else {
                "the licenses of your units have ended"
            };
            plan.refused.push((product.to_owned(), reason.to_owned()));
        } else if !takes_seats {
            plan.use_without_seat.push(valid[0].clone());
        } else if valid.iter().all(|c| c.is_full()) {
            // Full as read: refused without a transaction. A seat freed meanwhile is found
            // by the next check; taking the lock for every refusal would serialize them all.
            plan.refused.push((product.to_owned(), all_taken(&valid)));
        } else {
            // Those without a free seat now stay in the list: the transaction re-reads them.
            plan.take
                .insert(product.to_owned(), valid.into_iter().cloned().collect());
        }
    }
    plan
}

/// What the check found and did, to answer with.
#[derive(Debug)]
pub struct Evaluation {
    pub held: Vec<Holding>,
    pub refused: Vec<(String, String)>,
}

/// A product held, on which license.
#[derive(Debug, Clone)]
pub struct Holding {
    pub product: Product,
    pub license: String,
    pub owner: Option<EntityRef>,
    pub valid_to: Option<NaiveDate>,
    pub seat_since: Option<DateTime<Utc>>,
}

/// The products of the licenses read, by eid.
type Products = BTreeMap<String, Product>;

/// What a permission check reads before any remote Hierarchy Provider is asked: read on one
/// connection, which is given back before the providers are called.
#[derive(Debug, Default)]
pub struct UserSeats {
    /// The user's units by the built-in provider (`None`: no member there).
    pub memberships: Option<Vec<Member>>,
    /// The remote providers whose units own live licenses of the organization: the ones to ask.
    pub providers_in_use: Arc<[String]>,
    /// The seats the user holds.
    pub held: Vec<HeldSeat>,
    products: Products,
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    provider: Option<String>,
    owner_type: String,
    owner_eid: String,
    license: String,
    seats: Option<i64>,
    seats_used: i64,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    #[sqlx(flatten)]
    product: ProductRow,
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    assignment: String,
    license: String,
    redeemed: bool,
    since: DateTime<Utc>,
    last_seen: Option<DateTime<Utc>>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    owner_level: Option<String>,
    owner_eids: Option<String>,
    provider: Option<String>,
    #[sqlx(flatten)]
    product: ProductRow,
}

/// The columns every seat query reads: the license's start (a purchase's, else when it was
/// added) and its product, which must exist. The purchase is read by subqueries, each a
/// primary key lookup, rather than joined: a join lets the planner hash every purchase of
/// the organization for the one or two licenses a check reads.
const LICENSE_COLUMNS: &str = "COALESCE((SELECT p.valid_from FROM purchases p WHERE p.license_id = l.id), l.added) AS valid_from, \
     l.expires AS valid_to, \
     (SELECT p.hierarchy_provider FROM purchases p WHERE p.license_id = l.id) AS provider, \
     pr.eid, pr.name, pr.description, pr.permissions";
const LICENSE_JOINS: &str = "JOIN products pr ON pr.org_id = l.org_id AND pr.eid = l.product";

fn entity(kind: &str, eid: &str) -> Option<EntityRef> {
    Some(EntityRef {
        kind: kind.parse().ok()?,
        eid: eid.parse().ok()?,
    })
}

/// The seats `user` holds on live licenses of products that exist, and those products.
async fn held_seats(
    e: &mut impl crate::db::Executes,
    org: &str,
    user: &str,
) -> Result<(Vec<HeldSeat>, Products)> {
    let rows: Vec<HeldRow> = e
        .exec()
        .fetch_all(
            format!(
                "SELECT a.id AS assignment, l.id AS license, a.redeemed, a.since, a.last_seen, \
                 l.owner_level, l.owner_eids, {LICENSE_COLUMNS} \
                 FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
                 {LICENSE_JOINS} WHERE a.org_id = $1 AND a.employee = $2 ORDER BY a.since"
            ),
            args![org, user],
        )
        .await?;
    let mut products = Products::new();
    let mut seats = Vec::with_capacity(rows.len());
    for row in rows {
        let eids: Vec<String> = row
            .owner_eids
            .and_then(|e| serde_json::from_str(&e).ok())
            .unwrap_or_default();
        let owners = row
            .owner_level
            .map(|level| eids.iter().filter_map(|eid| entity(&level, eid)).collect())
            .unwrap_or_default();
        let product = row.product.eid.clone();
        if !products.contains_key(&product) {
            products.insert(product.clone(), row.product.into_product()?);
        }
        seats.push(HeldSeat {
            assignment: row.assignment,
            license: row.license,
            product,
            redeemed: row.redeemed,
            since: row.since,
            last_seen: row.last_seen,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            provider: row.provider,
            owners,
        });
    }
    Ok((seats, products))
}

/// Per organization, the turn to change seats: see [`Store::evaluate_seats`].
#[derive(Clone, Default)]
pub(super) struct SeatChanges(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl SeatChanges {
    async fn turn(&self, org: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.0.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(org.to_owned()).or_default().clone()
        };
        gate.lock_owned().await
    }
}

/// What permission checks read that changes only with a write: kept per process while no
/// write is heard of (see [`QuietReads`]). A repeated check of a quiet organization then
/// reads nothing from the database.
#[derive(Default)]
pub(super) struct SeatReads {
    /// Per organization, the remote providers its live licenses are owned through: the
    /// ones to ask for memberships.
    providers: QuietReads<String, Arc<[String]>>,
    /// Per organization and user, what [`Store::user_seats`] read.
    users: QuietReads<(String, String), Arc<UserRead>>,
    /// Per organization and unit, the live licenses the unit owns, with their products.
    owned: QuietReads<(String, EntityRef), OwnedLicenses>,
}

/// The live licenses a unit owns, with their products (`owner_level` left 0).
type OwnedLicenses = Arc<[(Candidate, Product)]>;

/// A user's built-in memberships and held seats, as read.
#[derive(Debug)]
struct UserRead {
    memberships: Option<Vec<Member>>,
    held: Vec<HeldSeat>,
    products: Products,
}

/// The remote providers `org`'s live licenses are owned through, read on a connection the
/// caller holds.
async fn providers_in_use_on(e: &mut impl crate::db::Executes, org: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = e
        .exec()
        .fetch_all(
            // A subquery per purchase rather than a join: each is a primary key lookup,
            // where a join would scan every license, removed and rewritten ones included.
            "SELECT DISTINCT p.hierarchy_provider FROM purchases p \
             WHERE p.org_id = $1 AND p.hierarchy_provider IS NOT NULL \
             AND (SELECT l.deleted_at IS NULL FROM licenses l WHERE l.id = p.license_id)",
            args![org],
        )
        .await?;
    Ok(rows.into_iter().map(|(name,)| name).collect())
}

impl Store {
    /// The licenses owned by any of `memberships`, of products that exist, and those products.
    async fn candidates(
        &self,
        org: &str,
        memberships: &[Member],
    ) -> Result<(Vec<Candidate>, Products)> {
        let mut products = Products::new();
        if memberships.is_empty() {
            return Ok((Vec::new(), products));
        }
        let levels: BTreeMap<(Option<&str>, &EntityRef), u32> = memberships
            .iter()
            .map(|m| ((m.provider(), &m.entity), m.level))
            .collect();
        let writes_heard = self.events.writes_heard();
        let entities: BTreeSet<&EntityRef> = memberships.iter().map(|m| &m.entity).collect();
        let mut owned = Vec::with_capacity(entities.len());
        let mut unread = Vec::new();
        for entity in entities {
            let key = (org.to_owned(), entity.clone());
            match self.seat_reads.owned.get(&key, writes_heard) {
                Some(licenses) => owned.push(licenses),
                None => unread.push(key.1),
            }
        }
        if !unread.is_empty() {
            let mut read = self.owned_licenses(org, &unread).await?;
            for entity in unread {
                let licenses: OwnedLicenses = read.remove(&entity).unwrap_or_default().into();
                self.seat_reads
                    .owned
                    .put((org.to_owned(), entity), writes_heard, licenses.clone());
                owned.push(licenses);
            }
        }
        let mut candidates = Vec::new();
        for (candidate, product) in owned.iter().flat_map(|licenses| licenses.iter()) {
            let Some(&owner_level) = levels.get(&(candidate.provider.as_deref(), &candidate.owner))
            else {
                continue;
            };
            if !products.contains_key(&candidate.product) {
                products.insert(candidate.product.clone(), product.clone());
            }
            candidates.push(Candidate {
                owner_level,
                ..candidate.clone()
            });
        }
        Ok((candidates, products))
    }

    /// The live licenses of products that exist which each of `owners` owns (of `org`), by
    /// owner; `owner_level` is left 0 for the caller to fill in.
    async fn owned_licenses(
        &self,
        org: &str,
        owners: &[EntityRef],
    ) -> Result<HashMap<EntityRef, Vec<(Candidate, Product)>>> {
        // Owners by type and eid, each an index lookup: whatever plan the database caches
        // for the statement then starts from the few owner rows, never from a scan of the
        // licenses (which seat changes keep rewriting).
        let mut values = args![org];
        let mut matches = Vec::with_capacity(owners.len());
        for e in owners {
            values.push(e.kind.as_str().into());
            values.push(e.eid.as_str().into());
            matches.push(format!(
                "(lo.owner_type = ${} AND lo.owner_eid = ${})",
                values.len() - 1,
                values.len()
            ));
        }
        let sql = format!(
            "SELECT lo.owner_type, lo.owner_eid, l.id AS license, l.seats, l.seats_used, {LICENSE_COLUMNS} \
             FROM license_owners lo JOIN licenses l ON l.id = lo.license_id AND l.deleted_at IS NULL \
             {LICENSE_JOINS} WHERE lo.org_id = $1 AND ({})",
            matches.join(" OR ")
        );
        let mut conn = self.db.read().await?;
        let rows: Vec<CandidateRow> = conn.exec().fetch_all(sql, values).await?;
        drop(conn);
        let mut owned: HashMap<EntityRef, Vec<(Candidate, Product)>> = HashMap::new();
        for row in rows {
            let Some(owner) = entity(&row.owner_type, &row.owner_eid) else {
                continue;
            };
            let candidate = Candidate {
                license: row.license,
                product: row.product.eid.clone(),
                provider: row.provider,
                owner: owner.clone(),
                owner_level: 0,
                seats: row.seats.and_then(|s| u32::try_from(s).ok()),
                used: u32::try_from(row.seats_used).unwrap_or(u32::MAX),
                valid_from: row.valid_from,
                valid_to: row.valid_to,
            };
            let product = row.product.into_product()?;
            owned.entry(owner).or_default().push((candidate, product));
        }
        Ok(owned)
    }

    /// The seats of a license that people hold (device assignments are not seats of a
    /// person), oldest first; `None` when no live license has that id.
    pub async fn license_seats(
        &self,
        org: &str,
        license: &str,
    ) -> Result<Option<Vec<lm_protocol::hierarchy::Seat>>> {
        #[derive(sqlx::FromRow)]
        struct SeatRow {
            id: String,
            employee: Option<String>,
            since: DateTime<Utc>,
            last_seen: Option<DateTime<Utc>>,
            redeemed: bool,
        }
        let mut conn = self.db.read().await?;
        let live: Option<(String,)> = conn
            .exec()
            .fetch_optional(
                "SELECT id FROM licenses WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                args![org, license],
            )
            .await?;
        if live.is_none() {
            return Ok(None);
        }
        let rows: Vec<SeatRow> = conn
            .exec()
            .fetch_all(
                "SELECT id, employee, since, last_seen, redeemed FROM assignments \
                 WHERE org_id = $1 AND license_id = $2 AND employee IS NOT NULL ORDER BY since, id",
                args![org, license],
            )
            .await?;
        let seats = rows
            .into_iter()
            .filter_map(|row| {
                Some(lm_protocol::hierarchy::Seat {
                    id: lm_protocol::license::AssignmentId::new(&row.id).ok()?,
                    user: row.employee?,
                    since: row.since,
                    last_seen: row.last_seen,
                    redeemed: row.redeemed,
                })
            })
            .collect();
        Ok(Some(seats))
    }

    /// What a permission check of `user` reads before it asks any remote provider.
    pub async fn user_seats(&self, org: &str, user: &str) -> Result<UserSeats> {
        // The count before the read: a write after it makes the next check read again.
        let writes_heard = self.events.writes_heard();
        let reads = &self.seat_reads;
        let key = (org.to_owned(), user.to_owned());
        let cached = (
            reads.providers.get(org, writes_heard),
            reads.users.get(&key, writes_heard),
        );
        let (providers_in_use, read) = match cached {
            (Some(providers), Some(read)) => (providers, read),
            (providers, read) => {
                let mut conn = self.db.read().await?;
                let providers = match providers {
                    Some(names) => names,
                    None => {
                        let names: Arc<[String]> =
                            providers_in_use_on(&mut conn, org).await?.into();
                        reads
                            .providers
                            .put(org.to_owned(), writes_heard, names.clone());
                        names
                    }
                };
                let read = match read {
                    Some(read) => read,
                    None => {
                        let memberships = membership_on(&mut conn, org, user).await?;
                        let (held, products) = held_seats(&mut conn, org, user).await?;
                        let read = Arc::new(UserRead {
                            memberships,
                            held,
                            products,
                        });
                        reads.users.put(key, writes_heard, read.clone());
                        read
                    }
                };
                (providers, read)
            }
        };
        Ok(UserSeats {
            memberships: read.memberships.clone(),
            providers_in_use,
            held: read.held.clone(),
            products: read.products.clone(),
        })
    }

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
            let remaining: Vec<_> = before
                .assignments
                .iter()
                .filter(|a| a.id.as_str() != seat.assignment)
                .cloned()
                .collect();
            if remaining.len() == before.assignments.len() {
                continue;
            }
            tx.exec()
                .execute(
                    "DELETE FROM assignments WHERE id = $1",
                    args![seat.assignment.as_str()],
                )
                .await?;
            let revision = revisions.next().unwrap_or(first);
            let after = touch(&mut tx, org, &before, revision, &remaining).await?;
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
                let mut assignments = before.assignments.clone();
                let since = assignment.since;
                assignments.push(assignment);
                let revision = revisions.next().unwrap_or(first);
                let after = touch(&mut tx, org, &before, revision, &assignments).await?;
                let seat_entry = serde_json::json!({
                    "id": assignments.last().map(|a| a.id.to_string()),
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
        self.seat_reads
            .users
            .forget(&(org.to_owned(), user.to_owned()));
        Ok(())
    }

    /// Buys seats of a product for units: one license whose seats all the owners share.
    pub async fn purchase(
        &self,
        ctx: &ChangeContext,
        purchaser: &str,
        purchase: &NewPurchase,
        product: &Product,
        hierarchy_provider: Option<&str>,
    ) -> Result<License> {
        let org = ctx.org.as_str();
        let mut tx = self.db.begin().await?;
        let revision = bump_revision(&mut tx, org, 1).await?;
        let same: Vec<(Option<String>,)> = tx
            .exec()
            .fetch_all(
                "SELECT l.owner_eids FROM purchases p JOIN licenses l ON l.id = p.license_id AND l.deleted_at IS NULL \
                 WHERE p.org_id = $1 AND l.org_id = $1 AND l.product = $2 AND l.owner_level = $3 AND p.valid_from = $4 \
                 AND l.expires = $5 AND COALESCE(p.hierarchy_provider, '') = $6",
                args![
                    org,
                    purchase.product_eid.as_str(),
                    purchase.owner_hierarchy_level.as_str(),
                    purchase.valid_from,
                    purchase.valid_to,
                    hierarchy_provider.unwrap_or_default()
                ],
            )
            .await?;
        let wanted: HashSet<&str> = purchase.owner_eids.iter().map(|e| e.as_str()).collect();
        let duplicate = same.iter().any(|(eids,)| {
            let eids: Vec<String> = eids
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or_default();
            eids.iter().map(String::as_str).collect::<HashSet<_>>() == wanted
        });
        if duplicate {
            return Err(StoreError::Conflict(format!(
                "these owners bought {} for {} to {} already",
                purchase.product_eid, purchase.valid_from, purchase.valid_to
            )));
        }
        let owners: Vec<String> = purchase
            .owner_eids
            .iter()
            .map(|e| format!("{} {e}", purchase.owner_hierarchy_level))
            .collect();
        let bad = |e: lm_protocol::FieldError| StoreError::Invalid(e);
        let fields = LicenseFields {
            product: purchase.product_eid.clone(),
            name: format!("{}, {}", product.name, owners.join(", "))
                .chars()
                .take(200)
                .collect::<String>()
                .parse()
                .map_err(bad)?,
            kind: "seat".parse().map_err(bad)?,
            vendor: "purchase".parse().map_err(bad)?,
            cost: Money::new(0, "EUR".parse().map_err(bad)?).map_err(bad)?,
            seats: Some(purchase.seats),
            added: purchase.valid_from,
            expires: Some(purchase.valid_to),
            owner: Some(Owner {
                level: purchase.owner_hierarchy_level.clone(),
                eids: purchase.owner_eids.clone(),
            }),
            key: None,
            notes: Notes::new(&format!("Bought by {purchaser}.")).map_err(bad)?,
        };
        fields.validate(0)?;
        let id = uuid::Uuid::now_v7().to_string();
        insert_license(&mut tx, org, &id, &fields, &[], revision).await?;
        tx.exec()
            .execute(
                "INSERT INTO purchases (license_id, org_id, purchaser, hierarchy_provider, valid_from, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    id.as_str(),
                    org,
                    purchaser,
                    hierarchy_provider.map(str::to_owned),
                    purchase.valid_from,
                    Utc::now()
                ],
            )
            .await?;
        let created = load_live(&mut tx, org, &id).await?;
        write_audit(&mut tx, ctx, AuditAction::Create, &id, None, Some(&created)).await?;
        self.commit_change(tx, org, revision).await?;
        Ok(created)
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
    super::audit::record(
        tx,
        &ctx.org,
        ctx,
        super::audit::Audited {
            action,
            record_type: "license",
            record_id: after.id.as_str(),
            before: Some(was),
            after: Some(is),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> EntityRef {
        s.parse().unwrap()
    }
    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn member(s: &str, level: u32) -> Member {
        Member {
            entity: e(s),
            level,
            provider: None,
        }
    }
    fn offer(license: &str, owner: &str, level: u32, used: u32, to: &str) -> Candidate {
        Candidate {
            license: license.into(),
            product: "fractions".into(),
            provider: None,
            owner: e(owner),
            owner_level: level,
            seats: Some(2),
            used,
            valid_from: day("2026-01-01"),
            valid_to: Some(day(to)),
        }
    }
    fn seat(license: &str, owner: &str, to: &str, redeemed: bool) -> HeldSeat {
        HeldSeat {
            assignment: format!("a-{license}"),
            license: license.into(),
            product: "fractions".into(),
            redeemed,
            since: Utc::now(),
            last_seen: None,
            valid_from: day("2026-01-01"),
            valid_to: Some(day(to)),
            provider: None,
            owners: vec![e(owner)],
        }
    }

    const TODAY: &str = "2026-11-23";

    fn ada() -> Vec<Member> {
        vec![
            member("(student)(ada)", 0),
            member("(class)(4b)", 1),
            member("(school)(north)", 2),
        ]
    }

    #[test]
    fn the_class_license_comes_before_the_school_one_then_the_longest() {
        let offers = [
            offer("school", "(school)(north)", 2, 0, "2028-01-01"),
            offer("class-short", "(class)(4b)", 1, 0, "2027-01-01"),
            offer("class-long", "(class)(4b)", 1, 0, "2027-06-01"),
        ];
        let p = plan(&ada(), &offers, &[], day(TODAY), true);
        let order: Vec<&str> = p.take["fractions"]
            .iter()
            .map(|c| c.license.as_str())
            .collect();
        assert_eq!(order, ["class-long", "class-short", "school"]);
    }

    #[test]
    fn a_valid_seat_is_kept_and_no_second_is_taken() {
        let held = [seat("class", "(class)(4b)", "2027-01-01", true)];
        let offers = [offer("class", "(class)(4b)", 1, 1, "2027-01-01")];
        let p = plan(&ada(), &offers, &held, day(TODAY), true);
        assert_eq!(p.keep.len(), 1);
        assert!(p.take.is_empty() && p.release.is_empty());
    }

    #[test]
    fn an_ended_seat_is_released_and_another_license_tried() {
        let held = [seat("old", "(class)(4b)", "2026-07-31", true)];
        let offers = [
            offer("old", "(class)(4b)", 1, 1, "2026-07-31"),
            offer("new", "(school)(north)", 2, 0, "2027-07-31"),
        ];
        let p = plan(&ada(), &offers, &held, day(TODAY), true);
        assert_eq!(p.release.len(), 1);
        assert_eq!(p.take["fractions"][0].license, "new");
    }

    #[test]
    fn a_seat_of_a_unit_the_user_left_is_released() {
        let held = [seat("other", "(class)(3a)", "2027-01-01", true)];
        let p = plan(&ada(), &[], &held, day(TODAY), true);
        assert_eq!(p.release.len(), 1);
        assert!(p.keep.is_empty());
    }

    #[test]
    fn units_of_two_providers_are_different_units() {
        // Ada is in the built-in (class)(4b); the district's (class)(4b) is another class.
        let mut theirs = seat("district", "(class)(4b)", "2027-01-01", true);
        theirs.provider = Some("district".into());
        let p = plan(&ada(), &[], &[theirs.clone()], day(TODAY), true);
        assert_eq!(p.release.len(), 1, "not a member of the district's 4b");
        let mut in_district = ada();
        in_district.push(Member {
            entity: e("(class)(4b)"),
            level: 1,
            provider: Some("district".into()),
        });
        let p = plan(&in_district, &[], &[theirs], day(TODAY), true);
        assert!(p.release.is_empty());
        assert_eq!(p.keep.len(), 1);
    }

    #[test]
    fn a_managers_seat_is_never_released_by_a_check() {
        let held = [seat("other", "(class)(3a)", "2026-01-02", false)];
        let p = plan(&ada(), &[], &held, day(TODAY), true);
        assert!(p.release.is_empty() && p.keep.is_empty());
    }

    #[test]
    fn ended_or_future_licenses_are_refused_with_a_reason() {
        let ended = [offer("old", "(class)(4b)", 1, 0, "2026-07-31")];
        let p = plan(&ada(), &ended, &[], day(TODAY), true);
        assert_eq!(p.refused[0].1, "the licenses of your units have ended");
        let mut future = offer("next", "(class)(4b)", 1, 0, "2027-07-31");
        future.valid_from = day("2027-01-01");
        let p = plan(&ada(), &[future], &[], day(TODAY), true);
        assert_eq!(
            p.refused[0].1,
            "the licenses of your units are not valid yet"
        );
    }

    #[test]
    fn full_licenses_are_refused_without_trying_to_take_a_seat() {
        let offers = [
            offer("class", "(class)(4b)", 1, 2, "2027-01-01"),
            offer("school", "(school)(north)", 2, 2, "2027-01-01"),
        ];
        let p = plan(&ada(), &offers, &[], day(TODAY), true);
        assert!(p.take.is_empty(), "no transaction for a refusal");
        assert_eq!(
            p.refused,
            [(
                "fractions".to_owned(),
                "all 4 seats of the licenses of (class)(4b), (school)(north) are taken".to_owned()
            )]
        );
        let one_free = [
            offers[0].clone(),
            offer("school", "(school)(north)", 2, 1, "2027-01-01"),
        ];
        let p = plan(&ada(), &one_free, &[], day(TODAY), true);
        assert_eq!(
            p.take["fractions"].len(),
            2,
            "the full one stays: the lock re-reads it"
        );
    }

    #[test]
    fn seat_free_members_use_a_license_without_a_seat() {
        let offers = [offer("full", "(class)(4b)", 1, 2, "2027-01-01")];
        let p = plan(&ada(), &offers, &[], day(TODAY), false);
        assert_eq!(p.use_without_seat.len(), 1);
        assert!(p.take.is_empty());
        assert_eq!(
            p.use_without_seat[0].used, 2,
            "even when every seat is taken"
        );
    }
}
