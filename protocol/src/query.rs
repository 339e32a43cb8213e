//! The query language people type: the TUI's filter line and the arguments of `lm ls`.
//!
//! ```text
//! kind:subscription vendor:adobe cost>100 cost<=500 expires<30d added>=2026-01-01
//! employee:alice device:LAPTOP-7 assigned:no expiring:30d sort:-expires "free text"
//! ```
//!
//! - `field:value` (or `field=value`) selects exactly; `cost`, `added` and `expires` also take
//!   `>`, `>=`, `<`, `<=`.
//! - Cost is in major units of the currency (`cost>100` is more than 100.00; `currency:JPY`
//!   makes it yen, which have no minor unit), unlike the API's minor units.
//! - Dates are `YYYY-MM-DD`, `today`, or relative to today: `30d`, `2w`, `6m`, `1y`, and with a
//!   `-` in the past (`added>-90d`).
//! - `expiring:30d` means "expires between today and 30 days from now".
//! - Anything else is free text (quote it to keep spaces: `"creative cloud"`); several free
//!   words are searched as one phrase.
//! - A later term for the same bound replaces an earlier one.
//!
//! A mistake is a [`QueryError`] whose `span` points at the offending token, so the TUI can
//! underline it while the user types.

use crate::filter::{Assigned, LicenseFilter, Sort, add_days};
use crate::problem::FieldError;
use crate::{Currency, Kind};
use chrono::{Days, Months, NaiveDate};
use std::ops::Range;
use std::str::FromStr;

/// A parsed query: what to select and, when it says `sort:`, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filter: LicenseFilter,
    pub sort: Option<Sort>,
}

/// What is wrong with a query, and where: `span` is a byte range of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub span: Range<usize>,
    pub message: String,
}

/// The terms of the language, for help screens: (syntax, meaning).
pub const QUERY_HELP: &[(&str, &str)] = &[
    ("kind:subscription", "kind is exactly"),
    ("vendor:adobe", "vendor, any case"),
    ("product:adobe-cc", "product id"),
    ("id:0192…", "license id"),
    ("employee:alice", "assigned to the employee"),
    ("device:LAPTOP-7", "assigned to the device"),
    ("assigned:no", "no, yes, employee or device"),
    ("cost>100 cost<=500", "cost in major units (also : >= <)"),
    ("currency:EUR", "cost currency"),
    (
        "expires<30d",
        "dates: YYYY-MM-DD, today, 30d, 2w, 6m, 1y, -90d",
    ),
    ("added>=2026-01-01", "date added (also : > <=)"),
    ("expiring:30d", "expires from today to 30 days ahead"),
    ("sort:-expires", "order by a column; - for descending"),
    ("\"free text\"", "anywhere in name, notes, ids, assignees"),
];

const FIELDS: &[&str] = &[
    "id", "kind", "product", "vendor", "cost", "currency", "device", "employee", "assigned",
    "added", "expires", "expiring", "sort", "text",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Is,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Query {
    /// Parses `input`, resolving relative dates against `today`.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut text: Vec<String> = Vec::new();
        // Cost bounds wait until the currency (which may come later) is known.
        let mut costs: Vec<(Op, &str, Range<usize>)> = Vec::new();
        for token in tokens(input)? {
            let Some((field, op, value, value_span)) = split_term(input, &token)? else {
                text.push(unquote(&input[token.clone()]));
                continue;
            };
            let error = |message: String| QueryError {
                span: value_span.clone(),
                message: format!("{field}: {message}"),
            };
            let raw = unquote(value);
            if raw.is_empty() {
                return Err(error("needs a value".into()));
            }
            let only_is = |op: Op| {
                if op == Op::Is {
                    Ok(())
                } else {
                    Err(QueryError {
                        span: token.clone(),
                        message: format!("{field}: only `{field}:value` is possible here"),
                    })
                }
            };
            let f = &mut query.filter;
            match field {
                "id" => {
                    only_is(op)?;
                    f.id = Some(typed(&raw, &error)?);
                }
                "kind" => {
                    only_is(op)?;
                    f.kind = Some(typed::<Kind>(&raw, &error)?);
                }
                "product" => {
                    only_is(op)?;
                    f.product = Some(typed(&raw, &error)?);
                }
                "vendor" => {
                    only_is(op)?;
                    f.vendor = Some(raw.to_lowercase());
                }
                "currency" => {
                    only_is(op)?;
                    f.currency = Some(typed::<Currency>(&raw.to_uppercase(), &error)?);
                }
                "device" => {
                    only_is(op)?;
                    f.device = Some(typed(&raw, &error)?);
                }
                "employee" => {
                    only_is(op)?;
                    f.employee = Some(typed(&raw, &error)?);
                }
                "assigned" => {
                    only_is(op)?;
                    f.assigned = Some(Assigned::from_str(&raw.to_lowercase()).map_err(error)?);
                }
                "text" => {
                    only_is(op)?;
                    text.push(raw);
                }
                "sort" => {
                    only_is(op)?;
                    query.sort = Some(raw.parse().map_err(error)?);
                }
                "expiring" => {
                    only_is(op)?;
                    let until = relative_date(&raw, today)
                        .filter(|d| *d >= today)
                        .ok_or_else(|| {
                            error(format!("`{raw}` is not a time ahead like 30d, 2w or 6m"))
                        })?;
                    f.expiring_within = Some((until - today).num_days() as u32);
                }
                "cost" => costs.push((op, value, value_span.clone())),
                "added" | "expires" => {
                    let date = date(&raw, today).ok_or_else(|| {
                        error(format!(
                            "`{raw}` is not a date like 2026-01-31, today, 30d or -2w"
                        ))
                    })?;
                    let (exact, from, to) = if field == "added" {
                        (&mut f.added, &mut f.added_from, &mut f.added_to)
                    } else {
                        (&mut f.expires, &mut f.expires_from, &mut f.expires_to)
                    };
                    match op {
                        Op::Is => *exact = Some(date),
                        Op::Ge => *from = Some(date),
                        Op::Gt => *from = Some(date.succ_opt().unwrap_or(date)),
                        Op::Le => *to = Some(date),
                        Op::Lt => *to = Some(date.pred_opt().unwrap_or(date)),
                    }
                }
                _ => unreachable!("split_term returns known fields only"),
            }
        }
        let digits = query.filter.currency.map_or(2, |c| c.minor_digits());
        for (op, value, span) in costs {
            let raw = unquote(value);
            let amount = amount(&raw, digits).map_err(|message| QueryError {
                span: span.clone(),
                message: format!("cost: {message}"),
            })?;
            let f = &mut query.filter;
            match op {
                Op::Is => f.cost = Some(amount),
                Op::Ge => f.cost_min = Some(amount),
                Op::Gt => f.cost_min = Some(amount.saturating_add(1)),
                Op::Le => f.cost_max = Some(amount),
                Op::Lt if amount == 0 => {
                    return Err(QueryError {
                        span,
                        message: "cost: nothing costs less than 0".into(),
                    });
                }
                Op::Lt => f.cost_max = Some(amount - 1),
            }
        }
        if !text.is_empty() {
            let phrase = text.join(" ").to_lowercase();
            query.filter.q = Some(phrase).filter(|q| !q.trim().is_empty());
        }
        query.filter.check().map_err(|e| QueryError {
            span: 0..input.len(),
            message: e.message,
        })?;
        Ok(query)
    }
}

/// Parses a validated value, reporting its rule as a [`QueryError`].
fn typed<T: FromStr<Err = FieldError>>(
    raw: &str,
    error: &impl Fn(String) -> QueryError,
) -> Result<T, QueryError> {
    raw.parse().map_err(|e: FieldError| error(e.message))
}

/// Splits `input` into tokens at whitespace outside quotes.
pub(crate) fn tokens(input: &str) -> Result<Vec<Range<usize>>, QueryError> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quote_at = None;
    for (i, c) in input.char_indices() {
        if c == '"' {
            start.get_or_insert(i);
            quote_at = match quote_at {
                Some(_) => None,
                None => Some(i),
            };
        } else if c.is_whitespace() && quote_at.is_none() {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
        } else {
            start.get_or_insert(i);
        }
    }
    if let Some(q) = quote_at {
        return Err(QueryError {
            span: q..input.len(),
            message: "this quote is never closed".into(),
        });
    }
    if let Some(s) = start {
        out.push(s..input.len());
    }
    Ok(out)
}

/// `field op value` when the token is a term; `None` when it is free text.
#[allow(clippy::type_complexity)]
fn split_term<'a>(
    input: &'a str,
    token: &Range<usize>,
) -> Result<Option<(&'static str, Op, &'a str, Range<usize>)>, QueryError> {
    let text = &input[token.clone()];
    if text.starts_with('"') {
        return Ok(None);
    }
    let Some(at) = text.find([':', '=', '<', '>']) else {
        return Ok(None);
    };
    let name = text[..at].to_lowercase();
    let (op, len) = match &text[at..] {
        t if t.starts_with(">=") => (Op::Ge, 2),
        t if t.starts_with("<=") => (Op::Le, 2),
        t if t.starts_with('>') => (Op::Gt, 1),
        t if t.starts_with('<') => (Op::Lt, 1),
        _ => (Op::Is, 1),
    };
    let Some(field) = FIELDS.iter().copied().find(|f| *f == name) else {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Err(QueryError {
                span: token.start..token.start + at,
                message: format!("`{name}` is not a field; use one of {}", FIELDS.join(", ")),
            });
        }
        return Ok(None);
    };
    let value_start = token.start + at + len;
    Ok(Some((
        field,
        op,
        &input[value_start..token.end],
        value_start..token.end,
    )))
}

fn unquote(raw: &str) -> String {
    raw.replace('"', "")
}

fn date(raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .or_else(|| relative_date(raw, today))
}

/// `today`, or `[+-]N` followed by d, w, m or y.
fn relative_date(raw: &str, today: NaiveDate) -> Option<NaiveDate> {
    let raw = raw.to_lowercase();
    if raw == "today" {
        return Some(today);
    }
    let (past, rest) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(&raw)),
    };
    let unit = rest.chars().last()?;
    let n: u32 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    match (unit, past) {
        ('d', false) => Some(add_days(today, n)),
        ('d', true) => today.checked_sub_days(Days::new(n.into())),
        ('w', false) => Some(add_days(today, n.checked_mul(7)?)),
        ('w', true) => today.checked_sub_days(Days::new(u64::from(n) * 7)),
        ('m', false) => today.checked_add_months(Months::new(n)),
        ('m', true) => today.checked_sub_months(Months::new(n)),
        ('y', false) => today.checked_add_months(Months::new(n.checked_mul(12)?)),
        ('y', true) => today.checked_sub_months(Months::new(n.checked_mul(12)?)),
        _ => None,
    }
}

/// A major-unit amount (`100`, `99.5`, `1,299.00`) in minor units of a currency with
/// `digits` decimals: how people type a cost, here and in forms.
pub fn amount(raw: &str, digits: u32) -> Result<i64, String> {
    let bad = || format!("`{raw}` is not an amount like 100 or 99.50");
    let clean = raw.replace([',', '_'], "");
    let (whole, fraction) = clean.split_once('.').unwrap_or((&clean, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    if fraction.len() > digits as usize {
        return Err(format!(
            "`{raw}` has {} decimals; this currency has {digits}",
            fraction.len()
        ));
    }
    let scale = 10i64.pow(digits);
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<i64>().map_err(|_| bad())? * 10i64.pow(digits - fraction.len() as u32)
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(|| format!("`{raw}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::SortField;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn parse(input: &str) -> LicenseFilter {
        Query::parse(input, today())
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .filter
    }

    fn date(s: &str) -> Option<NaiveDate> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_example_from_the_issue_parses() {
        let f = parse(
            r#"kind:subscription vendor:adobe cost>100 cost<=500 expires<30d added>=2026-01-01 employee:alice device:LAPTOP-7 "free text""#,
        );
        assert_eq!(f.kind.unwrap().as_str(), "subscription");
        assert_eq!(f.vendor.as_deref(), Some("adobe"));
        assert_eq!(f.cost_min, Some(10_001));
        assert_eq!(f.cost_max, Some(50_000));
        assert_eq!(f.expires_to, date("2026-12-21"));
        assert_eq!(f.added_from, date("2026-01-01"));
        assert_eq!(f.employee.unwrap().as_str(), "alice");
        assert_eq!(f.device.unwrap().as_str(), "LAPTOP-7");
        assert_eq!(f.q.as_deref(), Some("free text"));
    }

    #[test]
    fn dates_are_absolute_or_relative_to_today() {
        let cases = [
            ("expires:today", "2026-11-22"),
            ("expires:2027-02-01", "2027-02-01"),
            ("expires:1d", "2026-11-23"),
            ("expires:+2w", "2026-12-06"),
            ("expires:-1m", "2026-10-22"),
            ("expires:1y", "2027-11-22"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).expires, date(expected), "{input}");
        }
        assert_eq!(parse("added>-90d").added_from, date("2026-08-25"));
        assert_eq!(parse("expires<today").expires_to, date("2026-11-21"));
        assert_eq!(parse("expiring:30d").expiring_within, Some(30));
        assert_eq!(parse("expiring:1m").expiring_within, Some(30));
    }

    #[test]
    fn cost_is_in_major_units_of_the_currency() {
        assert_eq!(parse("cost:599").cost, Some(59_900));
        assert_eq!(parse("cost>=99.5").cost_min, Some(9_950));
        assert_eq!(parse("cost<1,000").cost_max, Some(99_999));
        let yen = parse("cost>1000 currency:jpy");
        assert_eq!(yen.cost_min, Some(1_001));
        assert_eq!(yen.currency.unwrap().as_str(), "JPY");
    }

    #[test]
    fn free_words_form_one_phrase_and_quotes_keep_spaces() {
        assert_eq!(
            parse("Creative  Cloud").q.as_deref(),
            Some("creative cloud")
        );
        assert_eq!(
            parse(r#"vendor:"Micro Focus" kind:site"#).vendor.as_deref(),
            Some("micro focus")
        );
        assert_eq!(parse("text:kind:site").q.as_deref(), Some("kind:site"));
        assert_eq!(parse("10:30").q.as_deref(), Some("10:30"));
        assert_eq!(parse("   "), LicenseFilter::default());
    }

    #[test]
    fn assigned_and_sort() {
        assert_eq!(parse("assigned:no").assigned, Some(Assigned::No));
        let q = Query::parse("sort:-expires", today()).unwrap();
        assert_eq!(q.sort.unwrap().field, SortField::Expires);
        assert!(q.sort.unwrap().descending);
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("kind:site cost>ten", "ten", "cost"),
            ("colour:red", "colour", "not a field"),
            ("vendor:", "", "needs a value"),
            ("expires<soon", "soon", "not a date"),
            ("cost>1.234", "1.234", "decimals"),
            ("kind>site", "kind>site", "only"),
            ("assigned:maybe", "maybe", "no, yes"),
            ("sort:price", "price", "sort"),
            ("expiring:-3d", "-3d", "ahead"),
            ("kind:site \"open", "\"open", "never closed"),
            ("cost<0", "0", "less than 0"),
        ];
        for (input, token, words) in cases {
            let e = Query::parse(input, today()).unwrap_err();
            assert_eq!(&input[e.span.clone()], token, "{input}: {e}");
            assert!(e.message.contains(words), "{input}: {e}");
        }
        let range = Query::parse("cost>500 cost<100", today()).unwrap_err();
        assert!(range.message.contains("empty"), "{range}");
    }

    proptest::proptest! {
        /// Whatever is typed, the parser answers without panicking, and an error's span is a
        /// valid place in the input to underline.
        #[test]
        fn any_input_gets_a_query_or_a_placed_error(
            input in r#"([a-z_]{0,9}[:=<>]{0,2}[-+0-9a-zA-Z.,"é ]{0,12} ?){0,5}"#
        ) {
            if let Err(e) = Query::parse(&input, today()) {
                proptest::prop_assert!(e.span.end <= input.len());
                proptest::prop_assert!(input.is_char_boundary(e.span.start));
                proptest::prop_assert!(input.is_char_boundary(e.span.end));
            }
        }
    }
}
