//! With an external identity provider there is no invitation step: an organization's members
//! are the people seen in valid tokens, recorded on their first request and again when the
//! provider's claims give them another role. Their roles are the provider's, so lm shows them
//! read-only; offboarding still releases what they hold.
//!
//! Each subject is written once per role: a map of what was recorded keeps the other requests
//! from the database.

use crate::store::Store;
use lm_protocol::invitation::check_member_name;
use lm_protocol::{Principal, Role};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many subjects the map remembers before it starts over (each costs one write then).
const REMEMBERED: usize = 100_000;

/// The members already recorded, with the organization and role recorded.
#[derive(Clone, Default)]
pub struct SeenMembers(Arc<Mutex<HashMap<String, (String, Role)>>>);

impl SeenMembers {
    /// Records `principal` as a member unless it was, as it is now. A subject that cannot be
    /// a member's name (a service account's `client:…`) is not one.
    pub async fn note(&self, store: &Store, principal: &Principal) {
        if check_member_name(&principal.subject).is_err() {
            return;
        }
        let now = (principal.org.clone(), principal.role);
        if self.lock().get(&principal.subject) == Some(&now) {
            return;
        }
        match store
            .record_member_seen(&principal.subject, &principal.org, principal.role)
            .await
        {
            Ok(()) => {
                let mut seen = self.lock();
                if seen.len() >= REMEMBERED {
                    seen.clear();
                }
                seen.insert(principal.subject.clone(), now);
            }
            Err(e) => {
                tracing::warn!(subject = %principal.subject, error = %e, "cannot record a member")
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Role)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
