//! Whose turn it is to import: one CSV import per organization at a time, and a few at once
//! in the whole process. An import holds its whole file, its rows and the licenses they may
//! match in memory while it plans; without turns, four concurrent imports made `/health`
//! take seconds. A second import of the same organization is a 409 (it would queue behind the
//! first on the organization's write lock anyway); one beyond the process's share is a 429
//! with `Retry-After`.

use super::error::ApiError;
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

/// Imports that may plan at once in one process.
const AT_ONCE: usize = 2;

static RUNNING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// The turn of one organization's import; the next may start once it is dropped.
pub struct ImportTurn {
    org: String,
}

/// Takes `org`'s turn to import, or says why not now.
pub fn take(org: &str) -> Result<ImportTurn, ApiError> {
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    if running.contains(org) {
        return Err(ApiError::Conflict(
            "an import for your organization is running; try again when it has ended".into(),
        ));
    }
    if running.len() >= AT_ONCE {
        return Err(ApiError::RateLimited {
            retry_after_secs: 5,
        });
    }
    running.insert(org.to_owned());
    Ok(ImportTurn {
        org: org.to_owned(),
    })
}

impl Drop for ImportTurn {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.org);
        // The file, its rows and the licenses it matched were freed: hand the memory back
        // rather than keep it for the next import (mimalloc keeps freed pages otherwise).
        crate::memory::release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_import_per_organization_and_a_few_in_all() {
        let acme = take("turns-acme").unwrap();
        assert!(matches!(take("turns-acme"), Err(ApiError::Conflict(_))));
        let globex = take("turns-globex").unwrap();
        assert!(matches!(
            take("turns-initech"),
            Err(ApiError::RateLimited { .. })
        ));
        drop(acme);
        let _initech = take("turns-initech").unwrap();
        drop(globex);
    }
}
