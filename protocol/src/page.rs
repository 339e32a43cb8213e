use serde::{Deserialize, Serialize};

/// One page of a keyset-paginated listing. `next` is the opaque cursor of the following
/// page, or `None` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
