//! The scriptable commands of `lm`. Each speaks to lmd over its socket, prints for people by
//! default and `--json` (the `lm-protocol` shapes, stable) or `--csv` for scripts.
//!
//! One job per file: `args` parses flags, `requests` asks lmd, `print` shows the answers,
//! `audit` is `lm audit`'s flags and log, `people` is `lm people` and `lm org`, `report` is `lm report`.

mod args;
mod audit;
mod people;
mod print;
mod report;
mod requests;

pub use args::{LicenseArgs, assignee_arg, parse_query};
pub use audit::{AuditArgs, print_audit, print_audit_header};
pub use people::{OrgCmd, PeopleCmd, run_org, run_people};
pub use print::{
    print_alerts, print_footprint, print_holders, print_import, print_license, print_permissions,
    print_status, print_table,
};
pub use report::{ReportArgs, amounts, run_report};
pub use requests::{
    alerts, assign, create, holders, import, list_all, login, permissions, remove, resolve,
    restore, status, unassign, update,
};
