//! An organization's settings, as its members read them and its managers change them.

use crate::license::HierarchyName;
use crate::money::Currency;
use crate::text::{printable, validated_string};
use serde::{Deserialize, Deserializer, Serialize};

validated_string!(
    /// The name people see for an organization, e.g. "Northside School District".
    OrgName, "an organization name", 100, false, printable
);

/// The days before expiry daemons alert at unless an organization says otherwise.
pub const DEFAULT_ALERT_DAYS: [u32; 4] = [30, 7, 1, 0];

/// The most alert thresholds an organization may set.
pub const MAX_ALERT_DAYS: usize = 8;

/// The furthest ahead an alert may be, in days.
pub const MAX_ALERT_DAY: u32 = 365;

/// An organization's settings (`GET /v1/org`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    /// The organization's id, as tokens name it.
    pub id: String,
    pub name: OrgName,
    /// The currency new licenses are entered in unless another is given; null: none.
    pub currency: Option<Currency>,
    /// The days before expiry daemons alert at, furthest first (lmd's own configuration
    /// overrides them).
    pub alert_days: Vec<u32>,
    /// How many seats an employee may buy for their own units at once; null: only managers
    /// buy seat licenses.
    pub self_purchase_max_seats: Option<u32>,
    /// Member types (level 0 of the hierarchy, e.g. `teacher`) whose members use their
    /// units' seat licenses without taking a seat.
    #[serde(default)]
    pub seat_free_types: Vec<HierarchyName>,
}

/// A change of the settings (`PATCH /v1/org`): what is given changes; `null` clears an
/// optional setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<OrgName>,
    #[serde(
        default,
        deserialize_with = "crate::license::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Currency>))]
    pub currency: Option<Option<Currency>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_days: Option<AlertDays>,
    #[serde(
        default,
        deserialize_with = "crate::license::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>, minimum = 1, maximum = 100000))]
    pub self_purchase_max_seats: Option<Option<u32>>,
    /// At most [`MAX_SEAT_FREE_TYPES`]; `[]` makes every member take a seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 16))]
    pub seat_free_types: Option<Vec<HierarchyName>>,
}

/// The most seat-free member types an organization may name.
pub const MAX_SEAT_FREE_TYPES: usize = 16;

/// The most seats an organization may let an employee buy at once.
pub const MAX_SELF_PURCHASE_SEATS: u32 = 100_000;

/// Days before expiry to alert at: 1 to [`MAX_ALERT_DAYS`] distinct days from 0 to
/// [`MAX_ALERT_DAY`], kept furthest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(into = "Vec<u32>")]
#[cfg_attr(feature = "openapi", schema(value_type = Vec<u32>))]
pub struct AlertDays(Vec<u32>);

impl AlertDays {
    pub fn new(mut days: Vec<u32>) -> Result<AlertDays, String> {
        if days.is_empty() || days.len() > MAX_ALERT_DAYS {
            return Err(format!("must list 1 to {MAX_ALERT_DAYS} days"));
        }
        if let Some(far) = days.iter().find(|d| **d > MAX_ALERT_DAY) {
            return Err(format!("{far} is beyond {MAX_ALERT_DAY} days"));
        }
        days.sort_unstable_by(|a, b| b.cmp(a));
        let count = days.len();
        days.dedup();
        if days.len() != count {
            return Err("lists a day twice".into());
        }
        Ok(AlertDays(days))
    }

    pub fn days(&self) -> &[u32] {
        &self.0
    }
}

impl From<AlertDays> for Vec<u32> {
    fn from(days: AlertDays) -> Vec<u32> {
        days.0
    }
}

impl<'de> Deserialize<'de> for AlertDays {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AlertDays::new(Vec::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_days_are_a_few_distinct_days_furthest_first() {
        assert_eq!(
            AlertDays::new(vec![1, 30, 0, 7]).unwrap().days(),
            [30, 7, 1, 0]
        );
        for bad in [vec![], vec![400], vec![7, 7], (0..9).collect()] {
            assert!(AlertDays::new(bad.clone()).is_err(), "{bad:?}");
        }
        let patch: Result<OrgPatch, _> = serde_json::from_str(r#"{"alert_days": [3, 3]}"#);
        assert!(patch.unwrap_err().to_string().contains("twice"));
        let cleared: OrgPatch = serde_json::from_str(r#"{"currency": null}"#).unwrap();
        assert_eq!(cleared.currency, Some(None));
        assert!(serde_json::from_str::<OrgPatch>(r#"{"colour": "red"}"#).is_err());
    }
}
