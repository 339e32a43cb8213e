//! Listing: a filter and sort turned into one keyset-paginated SQL query.

use super::licenses::{COLUMNS, LicenseRow, UNLIMITED_SEATS, into_licenses, never};
use super::{Result, Store};
use crate::db::{SqlBuf, Value, like_escape};
use chrono::NaiveDate;
use lm_protocol::filter::add_days;
use lm_protocol::{Assigned, Cursor, CursorValue, License, ListParams, Page, SortField};

impl Store {
    /// One keyset page of `org`'s licenses.
    pub async fn list_licenses(
        &self,
        org: &str,
        params: &ListParams,
        today: NaiveDate,
    ) -> Result<Page<License>> {
        let q = list_query(org, params, today)?;
        let mut conn = self.db.read().await?;
        let rows: Vec<LicenseRow> = conn.exec().fetch_all(q.sql, q.args).await?;
        let mut items: Vec<License> = into_licenses(rows)?
            .into_iter()
            .map(|s| s.license)
            .collect();
        let next = if items.len() > params.limit as usize {
            items.truncate(params.limit as usize);
            items.last().map(|l| Cursor::after(l, params.sort).encode())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// The query plan of a listing, for benchmarks and `EXPLAIN` checks.
    pub async fn explain_list(
        &self,
        org: &str,
        params: &ListParams,
        today: NaiveDate,
    ) -> Result<Vec<String>> {
        let q = list_query(org, params, today)?;
        let mut conn = self.db.read().await?;
        match self.dialect() {
            crate::db::Dialect::Sqlite => {
                let rows: Vec<(i64, i64, i64, String)> = conn
                    .exec()
                    .fetch_all(format!("EXPLAIN QUERY PLAN {}", q.sql), q.args)
                    .await?;
                Ok(rows.into_iter().map(|r| r.3).collect())
            }
            crate::db::Dialect::Postgres => {
                let rows: Vec<(String,)> = conn
                    .exec()
                    .fetch_all(format!("EXPLAIN {}", q.sql), q.args)
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }
        }
    }
}

/// The SQL column a sort field orders by. Every one is NOT NULL (absent values are stored
/// as sentinels that sort last) and has an index `(org_id, column, id)`.
fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Id => "l.id",
        SortField::Product => "l.product",
        SortField::Name => "l.name_key",
        SortField::Kind => "l.kind",
        SortField::Vendor => "l.vendor_key",
        SortField::Cost => "l.cost_amount",
        SortField::Seats => "l.seats_sort",
        SortField::SeatsUsed => "l.seats_used",
        SortField::Added => "l.added",
        SortField::Expires => "l.expires_sort",
    }
}

/// The SQL value of a cursor's sort key.
fn cursor_value(field: SortField, value: &CursorValue) -> Result<Value, lm_protocol::FieldError> {
    let bad = || lm_protocol::FieldError::new("cursor", "does not fit the sort it claims");
    Ok(match (field, value) {
        (SortField::Seats, CursorValue::Null) => Value::from(UNLIMITED_SEATS),
        (SortField::Expires, CursorValue::Null) => Value::from(never()),
        (SortField::Added | SortField::Expires, CursorValue::Text(t)) => {
            Value::from(t.parse::<NaiveDate>().map_err(|_| bad())?)
        }
        (SortField::Cost | SortField::Seats | SortField::SeatsUsed, CursorValue::Int(i)) => {
            Value::from(*i)
        }
        (
            SortField::Id
            | SortField::Product
            | SortField::Name
            | SortField::Kind
            | SortField::Vendor,
            CursorValue::Text(t),
        ) => Value::from(t.as_str()),
        _ => return Err(bad()),
    })
}

fn list_query(org: &str, params: &ListParams, today: NaiveDate) -> Result<SqlBuf> {
    let f = &params.filter;
    let mut q = SqlBuf::new(&format!(
        "SELECT {COLUMNS} FROM licenses l WHERE l.org_id = "
    ));
    q.arg(org);
    q.push(if params.deleted {
        " AND l.deleted_at IS NOT NULL"
    } else {
        " AND l.deleted_at IS NULL"
    });
    let eq = |q: &mut SqlBuf, column: &str, value: Option<Value>| {
        if let Some(v) = value {
            q.push(&format!(" AND {column} = ")).arg(v);
        }
    };
    eq(&mut q, "l.id", f.id.as_ref().map(|v| v.to_string().into()));
    eq(
        &mut q,
        "l.kind",
        f.kind.as_ref().map(|v| v.to_string().into()),
    );
    eq(
        &mut q,
        "l.product",
        f.product.as_ref().map(|v| v.to_string().into()),
    );
    eq(&mut q, "l.vendor_key", f.vendor.clone().map(Value::from));
    eq(&mut q, "l.cost_amount", f.cost.map(Value::from));
    eq(
        &mut q,
        "l.cost_currency",
        f.currency.map(|c| c.to_string().into()),
    );
    eq(&mut q, "l.added", f.added.map(Value::from));
    eq(&mut q, "l.expires", f.expires.map(Value::from));
    let range = |q: &mut SqlBuf, column: &str, op: &str, value: Option<Value>| {
        if let Some(v) = value {
            q.push(&format!(" AND {column} {op} ")).arg(v);
        }
    };
    range(&mut q, "l.cost_amount", ">=", f.cost_min.map(Value::from));
    range(&mut q, "l.cost_amount", "<=", f.cost_max.map(Value::from));
    range(&mut q, "l.added", ">=", f.added_from.map(Value::from));
    range(&mut q, "l.added", "<=", f.added_to.map(Value::from));
    if f.expires_from.is_some() || f.expires_to.is_some() || f.expiring_within.is_some() {
        q.push(" AND l.expires IS NOT NULL");
    }
    range(
        &mut q,
        "l.expires_sort",
        ">=",
        f.expires_from.map(Value::from),
    );
    range(
        &mut q,
        "l.expires_sort",
        "<=",
        f.expires_to.map(Value::from),
    );
    if let Some(days) = f.expiring_within {
        range(&mut q, "l.expires_sort", ">=", Some(today.into()));
        range(
            &mut q,
            "l.expires_sort",
            "<=",
            Some(add_days(today, days).into()),
        );
    }
    if let Some(employee) = &f.employee {
        q.push(" AND l.id IN (SELECT a.license_id FROM assignments a WHERE a.org_id = ")
            .arg(org)
            .push(" AND a.employee = ")
            .arg(employee.to_string())
            .push(")");
    }
    if let Some(device) = &f.device {
        q.push(" AND l.id IN (SELECT a.license_id FROM assignments a WHERE a.org_id = ")
            .arg(org)
            .push(" AND a.device = ")
            .arg(device.to_string())
            .push(")");
    }
    if let Some(assigned) = f.assigned {
        let (negate, which) = match assigned {
            Assigned::No => ("NOT ", ""),
            Assigned::Yes => ("", ""),
            Assigned::Employee => ("", " AND a.employee IS NOT NULL"),
            Assigned::Device => ("", " AND a.device IS NOT NULL"),
        };
        q.push(" AND ")
            .push(negate)
            .push("EXISTS (SELECT 1 FROM assignments a WHERE a.license_id = l.id")
            .push(which)
            .push(")");
    }
    if let Some(text) = &f.q {
        q.push(" AND l.search LIKE ")
            .arg(format!("%{}%", like_escape(text)))
            .push(" ESCAPE '\\'");
    }
    let column = sort_column(params.sort.field);
    let (cmp, dir) = if params.sort.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &params.cursor {
        let value = cursor_value(params.sort.field, &cursor.value)?;
        if params.sort.field == SortField::Id {
            q.push(&format!(" AND l.id {cmp} ")).arg(cursor.id.as_str());
        } else {
            q.push(&format!(" AND ({column}, l.id) {cmp} ("))
                .arg(value)
                .push(", ")
                .arg(cursor.id.as_str())
                .push(")");
        }
    }
    if params.sort.field == SortField::Id {
        q.push(&format!(" ORDER BY l.id {dir} LIMIT "));
    } else {
        q.push(&format!(" ORDER BY {column} {dir}, l.id {dir} LIMIT "));
    }
    q.arg(i64::from(params.limit) + 1);
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_has_a_cursor_mapping() {
        for field in SortField::ALL {
            let sample = match field {
                SortField::Cost | SortField::Seats | SortField::SeatsUsed => CursorValue::Int(1),
                SortField::Added | SortField::Expires => CursorValue::Text("2026-01-01".into()),
                _ => CursorValue::Text("x".into()),
            };
            assert!(cursor_value(field, &sample).is_ok(), "{field:?}");
        }
    }
}
