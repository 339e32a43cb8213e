//! Scheduled backups, and pruning the old ones.

use super::backup_to;
use crate::db::Db;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Makes a backup into `dir` every `every`, keeping the newest `keep`, until the process ends.
pub async fn every(db: Db, every: Duration, dir: PathBuf, keep: usize) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the first backup comes after `every`
    loop {
        ticks.tick().await;
        let name = format!("lm-{}.lmbackup", Utc::now().format("%Y%m%dT%H%M%SZ"));
        let path = dir.join(name);
        match backup_to(&db, &path).await {
            Ok(summary) => tracing::info!(path = %path.display(), %summary, "backup made"),
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                continue;
            }
        }
        if let Err(e) = prune(&dir, keep) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot remove old backups");
        }
    }
}

/// Removes all but the newest `keep` scheduled backups in `dir` (names sort by time).
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lm-") && n.ends_with(".lmbackup"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.drain(..excess).collect();
    for path in &removed {
        std::fs::remove_file(path)?;
    }
    Ok(removed)
}
