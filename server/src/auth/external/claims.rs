//! A provider's claims as a principal: organization, role and subject by configured rules.

use crate::auth::AuthError;
use lm_protocol::{Principal, Role};
use serde_json::Value;

/// Where a principal's organization comes from.
#[derive(Debug, Clone)]
pub enum OrgRule {
    /// A claim, by dotted path (`org`, `tenant.id`).
    Claim(String),
    /// One organization for every token of the provider.
    Fixed(String),
}

/// How a provider's claims map to an lm principal.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Dotted path of the claim that carries roles (`realm_access.roles`, `groups`, `role`).
    pub role_claim: Option<String>,
    /// The value of the role claim (or one of its values, when it is a list) that makes a manager.
    pub manager_value: Option<String>,
    /// When set, only tokens whose role claim has this value (or the manager value) are let in
    /// as employees; everyone else is refused. When unset, everyone else is an employee.
    pub employee_value: Option<String>,
    pub org: OrgRule,
}

/// The value at a dotted path of a JSON object.
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(claims, |value, key| value.as_object()?.get(key))
}

/// Whether a claim is `wanted`, or is a list holding it, or a space-separated string holding it
/// (as `scope` is).
pub(super) fn claim_has(claim: Option<&Value>, wanted: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == wanted || s.split(' ').any(|part| part == wanted),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

impl ClaimRules {
    /// The principal of a verified set of claims. The subject is `sub`, or for tokens of
    /// service accounts that carry none, `client_id`.
    pub fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = ["sub", "client_id"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::Claims)?;
        let org = match &self.org {
            OrgRule::Fixed(org) => org.clone(),
            OrgRule::Claim(path) => claim_at(claims, path)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(AuthError::Claims)?
                .to_owned(),
        };
        let roles = self.role_claim.as_deref().and_then(|p| claim_at(claims, p));
        let role = if self
            .manager_value
            .as_deref()
            .is_some_and(|v| claim_has(roles, v))
        {
            Role::Manager
        } else {
            match &self.employee_value {
                Some(v) if !claim_has(roles, v) => return Err(AuthError::NoRole),
                _ => Role::Employee,
            }
        };
        Ok(Principal {
            subject: subject.to_owned(),
            org,
            role,
        })
    }
}
