//! In which order a list comes, and where a page of it starts: the sort columns, the keys
//! licenses sort by ([`License::sort_value`], [`License::compare`]), keyset cursors, and a
//! list's parameters as the API reads them.

use super::{FILTER_PARAMS, LicenseFilter};
use crate::license::License;
use crate::problem::FieldError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A column a listing can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    Id,
    Product,
    Name,
    Kind,
    Vendor,
    Cost,
    Seats,
    SeatsUsed,
    Added,
    Expires,
}

impl SortField {
    pub const ALL: [SortField; 10] = [
        SortField::Id,
        SortField::Product,
        SortField::Name,
        SortField::Kind,
        SortField::Vendor,
        SortField::Cost,
        SortField::Seats,
        SortField::SeatsUsed,
        SortField::Added,
        SortField::Expires,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortField::Id => "id",
            SortField::Product => "product",
            SortField::Name => "name",
            SortField::Kind => "kind",
            SortField::Vendor => "vendor",
            SortField::Cost => "cost",
            SortField::Seats => "seats",
            SortField::SeatsUsed => "seats_used",
            SortField::Added => "added",
            SortField::Expires => "expires",
        }
    }
}

/// An ordering: a field and a direction. On the wire `expires` or `-expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            field: SortField::Id,
            descending: false,
        }
    }
}

impl FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let field = SortField::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<_> = SortField::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "cannot sort by `{name}`: use one of {} (prefix `-` for descending)",
                    names.join(", ")
                )
            })?;
        Ok(Sort { field, descending })
    }
}

impl Serialize for Sort {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sort {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.descending {
            f.write_str("-")?;
        }
        f.write_str(self.field.as_str())
    }
}

/// The value of a license's sort key, as stored in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Null,
    Int(i64),
    Text(String),
}

impl CursorValue {
    fn rank(&self) -> u8 {
        match self {
            CursorValue::Null => 1,
            _ => 0,
        }
    }
}

impl PartialOrd for CursorValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CursorValue {
    /// Absent values sort after every present value (see the module docs).
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (CursorValue::Int(a), CursorValue::Int(b)) => a.cmp(b),
            (CursorValue::Text(a), CursorValue::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl License {
    /// The key this license sorts by under `field`. Names and vendors sort case-insensitively;
    /// dates sort as their `YYYY-MM-DD` text.
    pub fn sort_value(&self, field: SortField) -> CursorValue {
        match field {
            SortField::Id => CursorValue::Text(self.id.to_string()),
            SortField::Product => CursorValue::Text(self.product.to_string()),
            SortField::Name => CursorValue::Text(self.name.as_str().to_lowercase()),
            SortField::Kind => CursorValue::Text(self.kind.to_string()),
            SortField::Vendor => CursorValue::Text(self.vendor.as_str().to_lowercase()),
            SortField::Cost => CursorValue::Int(self.cost.amount),
            SortField::Seats => self
                .seats
                .map_or(CursorValue::Null, |s| CursorValue::Int(s.into())),
            SortField::SeatsUsed => CursorValue::Int(self.seats_used.into()),
            SortField::Added => CursorValue::Text(self.added.to_string()),
            SortField::Expires => self
                .expires
                .map_or(CursorValue::Null, |d| CursorValue::Text(d.to_string())),
        }
    }

    /// Orders two licenses under `sort`, ties broken by id in the same direction.
    pub fn compare(&self, other: &License, sort: Sort) -> Ordering {
        let ord = self
            .sort_value(sort.field)
            .cmp(&other.sort_value(sort.field))
            .then_with(|| self.id.cmp(&other.id));
        if sort.descending { ord.reverse() } else { ord }
    }
}

/// Where a page ends: the sort it was made under, and the last row's key and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub sort: Sort,
    pub value: CursorValue,
    pub id: String,
}

impl Cursor {
    pub fn after(license: &License, sort: Sort) -> Cursor {
        Cursor {
            sort,
            value: license.sort_value(sort.field),
            id: license.id.to_string(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> Result<Cursor, FieldError> {
        let bad = || {
            FieldError::new(
                "cursor",
                "is not a cursor this server issued; start again without it",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }

    /// Whether `license` comes after this cursor under the cursor's sort.
    pub fn precedes(&self, license: &License) -> bool {
        let ord = self
            .value
            .cmp(&license.sort_value(self.sort.field))
            .then_with(|| self.id.as_str().cmp(license.id.as_str()));
        if self.sort.descending {
            ord == Ordering::Greater
        } else {
            ord == Ordering::Less
        }
    }
}

/// A list request: the filter plus ordering, page size and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub filter: LicenseFilter,
    pub sort: Sort,
    pub limit: u32,
    pub cursor: Option<Cursor>,
    /// List removed (soft-deleted) licenses instead of live ones; managers only.
    pub deleted: bool,
}

impl Default for ListParams {
    fn default() -> Self {
        ListParams {
            filter: LicenseFilter::default(),
            sort: Sort::default(),
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
            deleted: false,
        }
    }
}

impl ListParams {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1_000;

    /// Parses `GET /v1/licenses` query parameters. Unknown or repeated parameters are
    /// refused, and every error names its parameter.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListParams, FieldError> {
        let mut params = ListParams::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(FieldError::new(key, "is given more than once"));
            }
            seen.push(key);
            let result = match key {
                "sort" => value.parse().map(|s| params.sort = s),
                "limit" => match value.trim().parse::<u32>() {
                    Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => {
                        params.limit = n;
                        Ok(())
                    }
                    _ => Err(format!(
                        "must be a whole number from 1 to {}",
                        Self::MAX_LIMIT
                    )),
                },
                "cursor" => {
                    params.cursor = Some(Cursor::decode(value)?);
                    Ok(())
                }
                "deleted" => match value.parse::<bool>() {
                    Ok(deleted) => {
                        params.deleted = deleted;
                        Ok(())
                    }
                    Err(_) => Err("must be true or false".into()),
                },
                k if FILTER_PARAMS.contains(&k) => params.filter.set(k, value),
                other => Err(format!(
                    "`{other}` is not a parameter of this listing; use one of {}, sort, limit, cursor, deleted",
                    FILTER_PARAMS.join(", ")
                )),
            };
            result.map_err(|m| FieldError::new(key, m))?;
        }
        params.filter.check()?;
        if let Some(cursor) = &params.cursor
            && cursor.sort != params.sort
        {
            return Err(FieldError::new(
                "cursor",
                format!(
                    "was issued for sort `{}`, not `{}`",
                    cursor.sort, params.sort
                ),
            ));
        }
        Ok(params)
    }
}
