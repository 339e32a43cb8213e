use serde::{Deserialize, Serialize};

/// One page of a keyset-paginated listing. `next` is the opaque cursor of the following
/// page, or `None` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, or null on the last.
    pub next: Option<String>,
}
