//! `lm-protocol` owns every shape that crosses a process boundary in lm: the license
//! inventory's domain types, the filter and sort of list views and the query language people
//! type for them, audit entries and
//! RFC 9457 problem bodies.
//!
//! Values are validated where they are constructed ("parse, don't validate"): a
//! [`Currency`] is always an ISO 4217 code, a [`Kind`] is always a lowercase token, and
//! deserializing a create body fails with an error that names the offending field.
//! This crate performs no I/O.

pub mod account;
pub mod api_key;
pub mod audit;
pub mod changes;
pub mod csv;
pub mod filter;
pub mod hierarchy;
pub mod hierarchy_csv;
pub mod insights;
pub mod invitation;
pub mod license;
pub mod member;
pub mod money;
pub mod org;
pub mod page;
pub mod principal;
pub mod problem;
pub mod query;
pub mod sample;
pub mod seat_query;
pub mod service_account;
pub mod socket;
pub mod strict_json;
pub mod text;

pub use account::{
    Login, PasswordChange, SecondFactorChange, SecondFactorRemoval, SecondFactorSetup,
};
pub use api_key::{ApiKeyInfo, CreatedApiKey, KeyLabel, NewApiKey};
pub use audit::{AuditAction, AuditEntry, AuditQuery};
pub use changes::{Change, ChangePage};
pub use filter::{Assigned, Cursor, CursorValue, LicenseFilter, ListParams, Sort, SortField};
pub use invitation::{Invitation, InvitationKind, IssuedInvitation, NewInvitation};
pub use license::{
    Assignee, Assignment, AssignmentId, DeviceId, EmployeeId, HierarchyName, Kind, License,
    LicenseId, LicenseKey, LicensePatch, NewLicense, Owner, ProductEid,
};
pub use member::{
    Member, MemberFilter, MemberPatch, MemberQuery, MemberStatus, Offboarding, Released,
};
pub use money::{Currency, Money};
pub use org::{AlertDays, Org, OrgName, OrgPatch};
pub use page::Page;
pub use principal::{Principal, Role};
pub use problem::{FieldError, Problem};
pub use query::{Query, QueryError};
pub use service_account::{
    IssuedSecret, NewServiceAccount, SecretRotation, ServiceAccount, ServiceAccountPatch,
};
