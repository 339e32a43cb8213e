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
//!
//! One job per file: [`plan`] decides (pure), `reads` reads what a check needs (and keeps it
//! while nothing is written), `changes` takes and releases seats, `batch` commits the
//! changes of checks that queue together in one transaction, `purchases` buys them,
//! `owners` keeps the index of who owns which license.

mod batch;
mod changes;
mod owners;
mod plan;
mod purchases;
mod reads;

pub(in crate::store) use batch::SeatChanges;
pub(in crate::store) use owners::{index_owners, index_owners_of_new};
pub use plan::{Candidate, Evaluation, HeldSeat, Holding, Plan, plan};
pub use purchases::complete_purchase_identities_in;
pub(in crate::store) use purchases::follow_removal;
pub(in crate::store) use reads::SeatReads;
pub use reads::UserSeats;
