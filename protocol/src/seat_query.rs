//! Which seats of a license `GET /v1/licenses/{id}/seats` answers: oldest first, a page at a
//! time, so a license of 100,000 seats is read in bounded answers.

use crate::problem::FieldError;
use chrono::{DateTime, Utc};

/// Where a page of seats starts: after the seat taken at `since` with this assignment id
/// (the order is by `since`, then id). Written `<microseconds since the epoch>_<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatCursor {
    pub since: DateTime<Utc>,
    pub id: String,
}

impl SeatCursor {
    pub fn new(since: DateTime<Utc>, id: &str) -> SeatCursor {
        SeatCursor {
            since,
            id: id.to_owned(),
        }
    }
}

impl std::fmt::Display for SeatCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.since.timestamp_micros(), self.id)
    }
}

impl std::str::FromStr for SeatCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<SeatCursor, ()> {
        let (micros, id) = s.split_once('_').ok_or(())?;
        let since = DateTime::from_timestamp_micros(micros.parse().map_err(drop)?).ok_or(())?;
        let id: crate::license::AssignmentId = id.parse().map_err(drop)?;
        Ok(SeatCursor::new(since, id.as_str()))
    }
}

/// A page of a license's seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatQuery {
    pub after: Option<SeatCursor>,
    pub limit: u32,
}

impl Default for SeatQuery {
    fn default() -> Self {
        SeatQuery {
            after: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl SeatQuery {
    pub const DEFAULT_LIMIT: u32 = 1_000;
    pub const MAX_LIMIT: u32 = 1_000;

    /// Parses the query string's pairs; an unknown, repeated or bad parameter is an error
    /// naming it.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SeatQuery, FieldError> {
        let mut q = SeatQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(FieldError::new(key, "is given more than once"));
            }
            seen.push(key);
            match key {
                "cursor" => {
                    q.after = Some(value.parse().map_err(|()| {
                        FieldError::new("cursor", "is not a cursor this server issued")
                    })?);
                }
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=Self::MAX_LIMIT).contains(&n) => q.limit = n,
                    _ => {
                        return Err(FieldError::new(
                            "limit",
                            format!("must be a whole number from 1 to {}", Self::MAX_LIMIT),
                        ));
                    }
                },
                other => {
                    return Err(FieldError::new(
                        other,
                        "is not a parameter of this route (cursor, limit)",
                    ));
                }
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written() {
        let since = DateTime::from_timestamp_micros(1_764_985_123_123_456).unwrap();
        let cursor = SeatCursor::new(since, "0193a1b2-0000-7000-8000-000000000001");
        assert_eq!(cursor.to_string().parse::<SeatCursor>(), Ok(cursor));
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = SeatQuery::from_query([("limit", "0")]).unwrap_err();
        assert_eq!(err.field, "limit");
        let err = SeatQuery::from_query([("cursor", "yesterday")]).unwrap_err();
        assert_eq!(err.field, "cursor");
        let err = SeatQuery::from_query([("page", "2")]).unwrap_err();
        assert_eq!(err.field, "page");
        let q = SeatQuery::from_query([("limit", "5")]).unwrap();
        assert_eq!((q.after, q.limit), (None, 5));
    }
}
