//! How the inventory's yearly cost changed: the totals lmd recorded on the days it ran (it
//! keeps one per day, each currency apart), so the trend covers what this lmd has seen —
//! the report says since when.

use crate::money::Money;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The total cost of the inventory (of the report's filter) on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub date: NaiveDate,
    pub total: Vec<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trend {
    /// One point per month, at the last day of it lmd recorded, oldest first; today's last.
    pub points: Vec<TrendPoint>,
    /// Where the figures come from, in words.
    pub source: String,
}

impl Trend {
    /// The trend of the daily `recorded` totals (any order), one point per month of the
    /// last `months` before `today`, and `now` as today's point.
    pub fn from_days(mut recorded: Vec<TrendPoint>, now: TrendPoint, months: u32) -> Trend {
        use chrono::Datelike;
        let today = now.date;
        let first_month = today
            .with_day(1)
            .and_then(|d| d.checked_sub_months(chrono::Months::new(months.saturating_sub(1))))
            .unwrap_or(today);
        recorded.retain(|p| p.date >= first_month && p.date < today);
        recorded.sort_by_key(|p| p.date);
        let since = recorded.first().map(|p| p.date);
        let mut points: Vec<TrendPoint> = Vec::new();
        for point in recorded {
            match points.last_mut() {
                Some(last)
                    if (last.date.year(), last.date.month())
                        == (point.date.year(), point.date.month()) =>
                {
                    *last = point;
                }
                _ => points.push(point),
            }
        }
        match points.last_mut() {
            Some(last)
                if (last.date.year(), last.date.month()) == (today.year(), today.month()) =>
            {
                *last = now;
            }
            _ => points.push(now),
        }
        Trend {
            points,
            source: match since {
                Some(day) => format!("the totals this lmd recorded each day it ran, since {day}"),
                None => "today's total only: this lmd has recorded no earlier day yet".into(),
            },
        }
    }
}
