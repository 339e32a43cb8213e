//! The audit log: who did what to which record, when, and what it looked like before and after.

use crate::problem::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A change that writes an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
    Restore,
    Assign,
    Unassign,
    /// A CSV import, audited as one batch.
    Import,
}

impl AuditAction {
    pub const ALL: [AuditAction; 7] = [
        AuditAction::Create,
        AuditAction::Update,
        AuditAction::Delete,
        AuditAction::Restore,
        AuditAction::Assign,
        AuditAction::Unassign,
        AuditAction::Import,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Restore => "restore",
            AuditAction::Assign => "assign",
            AuditAction::Unassign => "unassign",
            AuditAction::Import => "import",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "`{s}` is not an audited action; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One entry of the audit log. `before` and `after` are the record's JSON (product keys
/// replaced by a fingerprint), absent where the record did not exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub record_type: String,
    pub record_id: String,
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    #[serde(default)]
    pub after: Option<serde_json::Value>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub client_addr: Option<String>,
}

/// Filters of `GET /v1/audit`: newest first, paged by entry id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub record: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries older than this id (the `next` cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            actor: None,
            action: None,
            record: None,
            from: None,
            to: None,
            before_id: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl AuditQuery {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1_000;

    /// The query as `GET /v1/audit` parameters, the inverse of [`AuditQuery::from_query`].
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        [
            ("actor", self.actor.clone()),
            ("action", self.action.map(|a| a.to_string())),
            ("record", self.record.clone()),
            ("from", self.from.as_ref().map(time)),
            ("to", self.to.as_ref().map(time)),
            ("cursor", self.before_id.map(|id| id.to_string())),
            ("limit", Some(self.limit.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<AuditQuery, FieldError> {
        let mut q = AuditQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(FieldError::new(key, "is given more than once"));
            }
            seen.push(key);
            let time = |v: &str| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        format!("`{v}` is not an RFC 3339 time such as 2026-11-22T10:00:00Z")
                    })
            };
            let result: Result<(), String> = match key {
                "actor" => {
                    q.actor = Some(value.to_owned());
                    Ok(())
                }
                "action" => value.parse().map(|a| q.action = Some(a)),
                "record" => {
                    q.record = Some(value.to_owned());
                    Ok(())
                }
                "from" => time(value).map(|t| q.from = Some(t)),
                "to" => time(value).map(|t| q.to = Some(t)),
                "cursor" => value
                    .parse::<i64>()
                    .map(|id| q.before_id = Some(id))
                    .map_err(|_| "is not a cursor this server issued".to_owned()),
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => {
                        q.limit = n;
                        Ok(())
                    }
                    _ => Err(format!(
                        "must be a whole number from 1 to {}",
                        Self::MAX_LIMIT
                    )),
                },
                other => Err(format!(
                    "`{other}` is not a parameter of the audit log; use actor, action, record, from, to, limit, cursor"
                )),
            };
            result.map_err(|m| FieldError::new(key, m))?;
        }
        if let (Some(from), Some(to)) = (q.from, q.to)
            && from > to
        {
            return Err(FieldError::new("from", "is after `to`: the range is empty"));
        }
        Ok(q)
    }
}
