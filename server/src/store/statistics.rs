//! Planner statistics on PostgreSQL, refreshed within seconds of a table changing by a tenth.
//!
//! PostgreSQL keeps a connection's plan of a prepared statement once a plan that ignores the
//! values looks no worse than the custom ones — costed on the statistics of the moment, and
//! kept until the next `ANALYZE` of a table it reads. A school's first morning grows
//! `assignments` from a few rows to 100,000 in about a minute; autovacuum looks at most once a
//! minute (`autovacuum_naptime`), so plans made on the small table went on scanning it, and
//! first checks fell from 1,240/s to 426/s before its `ANALYZE` came. Planning every statement
//! anew (`plan_cache_mode = force_custom_plan`) cost more than half the throughput. So lm
//! applies autovacuum's own rule (changed rows beyond a tenth of the table) every few seconds
//! and analyzes what it finds; `ANALYZE` invalidates the cached plans of every connection.
//! SQLite plans without such statistics (and `PRAGMA optimize` runs hourly): nothing to do.

use super::{Result, Store};
use crate::db::Dialect;
use std::time::Duration;

/// How often the tables' changes are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(3);

/// Rows changed since the last analysis beyond which a table is analyzed again, besides a
/// tenth of its rows (autovacuum's threshold is 50).
const CHANGED_ROWS: i64 = 500;

impl Store {
    /// Analyzes this database's tables whose rows changed by more than a tenth (and
    /// [`CHANGED_ROWS`]) since their last analysis; answers which. Nothing on SQLite.
    pub async fn refresh_statistics(&self) -> Result<Vec<String>> {
        if self.dialect() != Dialect::Postgres {
            return Ok(Vec::new());
        }
        let mut conn = self.db.read().await?;
        let stale: Vec<(String,)> = conn
            .exec()
            .fetch_all(
                format!(
                    "SELECT s.relname::text FROM pg_stat_user_tables s \
                     JOIN pg_class c ON c.oid = s.relid \
                     WHERE s.schemaname = current_schema() \
                     AND s.n_mod_since_analyze > {CHANGED_ROWS} + 0.1 * GREATEST(c.reltuples, 0)"
                ),
                vec![],
            )
            .await?;
        let mut analyzed = Vec::with_capacity(stale.len());
        for (table,) in stale {
            // A name from the catalogue, quoted as an identifier. SKIP_LOCKED: another replica
            // analyzing it already is as good.
            let quoted = format!("\"{}\"", table.replace('"', "\"\""));
            conn.exec()
                .execute(format!("ANALYZE (SKIP_LOCKED) {quoted}"), vec![])
                .await?;
            analyzed.push(table);
        }
        Ok(analyzed)
    }

    /// Refreshes planner statistics every few seconds, for as long as the server runs.
    pub async fn keep_statistics(self) {
        if self.dialect() != Dialect::Postgres {
            return;
        }
        let mut every = tokio::time::interval(LOOK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.refresh_statistics().await {
                Ok(tables) if tables.is_empty() => {}
                Ok(tables) => tracing::debug!(?tables, "planner statistics refreshed"),
                Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
            }
        }
    }
}
