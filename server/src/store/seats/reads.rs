//! What a permission check reads, and what is kept of it per process while nothing is
//! written.
//!
//! A check reads the organization's products, the providers its licenses' owners use, the
//! user's built-in memberships and held seats, and the candidate licenses each unit owns.
//! What rarely changes is kept per process ([`SeatReads`], each a
//! [`QuietReads`]) until the process hears of any write — its own commits, every replica's
//! `NOTIFY`; hierarchy and product edits, which no revision counts, notify through
//! `Store::commit_unversioned` — and 60 s at most. So a repeated check of a quiet organization
//! asks only the remote provider. Taking a seat always reads again under the organization's
//! write lock, so a read kept a moment too long never oversells. Candidates look their
//! purchase up by subquery: a check reads the same few rows however many licenses the
//! organization has.

use super::plan::{Candidate, HeldSeat, Products};
use crate::db::{SqlBuf, args};
use crate::store::hierarchy::{Member, ProductRow, membership_on};
use crate::store::quiet_reads::QuietReads;
use crate::store::{Result, Store};
use chrono::{DateTime, NaiveDate, Utc};
use lm_protocol::Page;
use lm_protocol::hierarchy::{EntityRef, Product, Seat};
use lm_protocol::seat_query::{SeatCursor, SeatQuery};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

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
    pub(super) products: Products,
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
    employee: String,
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
pub(super) async fn held_seats(
    e: &mut impl crate::db::Executes,
    org: &str,
    user: &str,
) -> Result<(Vec<HeldSeat>, Products)> {
    let (mut seats, products) = held_seats_of(e, org, &[user]).await?;
    Ok((seats.remove(user).unwrap_or_default(), products))
}

/// The seats each of `users` holds on live licenses of products that exist (oldest first),
/// and those products: one query for a batch of checks.
pub(super) async fn held_seats_of(
    e: &mut impl crate::db::Executes,
    org: &str,
    users: &[&str],
) -> Result<(HashMap<String, Vec<HeldSeat>>, Products)> {
    if users.is_empty() {
        // `IN ()` is no SQL to PostgreSQL.
        return Ok((HashMap::new(), Products::new()));
    }
    let mut q = SqlBuf::new(&format!(
        "SELECT a.employee, a.id AS assignment, l.id AS license, a.redeemed, a.since, a.last_seen, \
         l.owner_level, l.owner_eids, {LICENSE_COLUMNS} \
         FROM assignments a JOIN licenses l ON l.id = a.license_id AND l.deleted_at IS NULL \
         {LICENSE_JOINS} WHERE a.org_id = "
    ));
    q.arg(org).push(" AND a.employee IN (");
    for (i, user) in users.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.arg(*user);
    }
    q.push(") ORDER BY a.since");
    let rows: Vec<HeldRow> = e.exec().fetch_all(q.sql, q.args).await?;
    let mut products = Products::new();
    let mut seats: HashMap<String, Vec<HeldSeat>> = HashMap::new();
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
        seats.entry(row.employee).or_default().push(HeldSeat {
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

/// What permission checks read that changes only with a write: kept per process while no
/// write is heard of (see [`QuietReads`]). A repeated check of a quiet organization then
/// reads nothing from the database.
#[derive(Default)]
pub(in crate::store) struct SeatReads {
    /// Per organization, the remote providers its live licenses are owned through: the
    /// ones to ask for memberships.
    providers: QuietReads<String, Arc<[String]>>,
    /// Per organization and user, what [`Store::user_seats`] read.
    users: QuietReads<(String, String), Arc<UserRead>>,
    /// Per organization and unit, the live licenses the unit owns, with their products.
    owned: QuietReads<(String, EntityRef), OwnedLicenses>,
    /// Per organization, the member types its managers made seat-free.
    seat_free: QuietReads<String, Arc<[String]>>,
}

impl SeatReads {
    /// Forgets what was read for one user: a write only they see (their `last_seen`).
    pub(super) fn forget_user(&self, org: &str, user: &str) {
        self.users.forget(&(org.to_owned(), user.to_owned()));
    }
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
    /// The member types (level 0) whose members take no seat in `org`, as its managers set
    /// them (`PATCH /v1/org`).
    pub async fn seat_free_types(&self, org: &str) -> Result<Arc<[String]>> {
        let writes_heard = self.events.writes_heard();
        if let Some(types) = self.seat_reads.seat_free.get(org, writes_heard) {
            return Ok(types);
        }
        let mut conn = self.db.read().await?;
        let row: Option<(Option<String>,)> = conn
            .exec()
            .fetch_optional("SELECT seat_free_types FROM orgs WHERE id = $1", args![org])
            .await?;
        let types: Vec<String> = match row.and_then(|(json,)| json) {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                crate::store::StoreError::Corrupt(format!(
                    "organization {org}: seat-free types: {e}"
                ))
            })?,
            None => Vec::new(),
        };
        let types: Arc<[String]> = types.into();
        self.seat_reads
            .seat_free
            .put(org.to_owned(), writes_heard, types.clone());
        Ok(types)
    }

    /// The licenses owned by any of `memberships`, of products that exist, and those products.
    pub(super) async fn candidates(
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

    /// A page of the seats of a license that people hold (device assignments are not seats
    /// of a person), oldest first; `None` when no live license has that id.
    pub async fn license_seats(
        &self,
        org: &str,
        license: &str,
        query: &SeatQuery,
    ) -> Result<Option<Page<Seat>>> {
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
        // A range of `assignments_by_license` (license_id, since), however many seats.
        let mut values = args![org, license];
        let mut after = String::new();
        if let Some(cursor) = &query.after {
            values.extend(args![cursor.since, cursor.id.as_str()]);
            after = " AND (since > $3 OR (since = $3 AND id > $4))".into();
        }
        let limit = query.limit as usize;
        let rows: Vec<SeatRow> = conn
            .exec()
            .fetch_all(
                format!(
                    "SELECT id, employee, since, last_seen, redeemed FROM assignments \
                     WHERE org_id = $1 AND license_id = $2 AND employee IS NOT NULL{after} \
                     ORDER BY since, id LIMIT {}",
                    limit + 1
                ),
                values,
            )
            .await?;
        let next = (rows.len() > limit)
            .then(|| SeatCursor::new(rows[limit - 1].since, &rows[limit - 1].id).to_string());
        let items = rows
            .into_iter()
            .take(limit)
            .filter_map(|row| {
                Some(Seat {
                    id: lm_protocol::license::AssignmentId::new(&row.id).ok()?,
                    user: row.employee?,
                    since: row.since,
                    last_seen: row.last_seen,
                    redeemed: row.redeemed,
                })
            })
            .collect();
        Ok(Some(Page { items, next }))
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
}
