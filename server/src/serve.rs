//! `lm-server serve`: opens the database, starts the API with its background work
//! (signing keys kept current, housekeeping, planner statistics, backups, the relay of other
//! replicas' notifications), and stops gracefully on SIGTERM or Ctrl-C.

use crate::cli::{Common, ServeArgs, open_store};
use anyhow::{Context, Result};
use lm_server::api::{AppState, Limits, app};
use lm_server::auth::TokenService;
use lm_server::db::PoolConfig;
use lm_server::store::Store;
use std::time::Duration;

pub(crate) async fn serve(common: &Common, args: ServeArgs) -> Result<()> {
    let pool = PoolConfig {
        max_connections: args.db_connections,
        ..PoolConfig::default()
    };
    let store = open_store(common, pool).await?;
    let tokens = TokenService::load(&store, &common.public_url, common.key_secret()?).await?;
    let authenticator = args.provider.authenticator(&tokens).await?;
    tokio::spawn(lm_server::db::in_background(
        tokens.clone().keep_current(store.clone()),
    ));
    let limits = Limits {
        body_bytes: args.max_body,
        request_timeout: args.request_timeout,
        rate_per_second: (args.rate_limit > 0).then_some(args.rate_limit),
        rate_burst: args.rate_burst,
    };
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let router = app(
        AppState {
            store: store.clone(),
            tokens,
            authenticator,
            shutdown,
            metrics: Default::default(),
            seen_members: Default::default(),
            authorization: lm_server::api::oauth::AuthorizationServer::new(
                lm_server::oauth::Settings {
                    access_token_ttl: args.access_token_ttl,
                    refresh_token_ttl: args.refresh_token_ttl,
                    device_code_ttl: args.device_code_ttl,
                    device_poll_interval: args.device_poll_interval,
                    max_failed_logins: i64::from(args.max_failed_logins),
                    lockout: args.login_lockout,
                    invitation_ttl: args.invitation_ttl,
                    ..Default::default()
                },
            ),
            seats: lm_server::api::seats::SeatSettings {
                grant_lease: args.grant_lease,
                seat_free_types: std::sync::Arc::new(args.seat_free_types.clone()),
                hierarchy_providers: std::sync::Arc::new(args.hierarchy.providers()?),
            },
        },
        limits,
    );
    tokio::spawn(lm_server::db::in_background(housekeeping(
        store.clone(),
        args.tombstone_retention,
    )));
    tokio::spawn(lm_server::db::in_background(
        store.clone().keep_statistics(),
    ));
    if let (Some(every), Some(dir)) = (args.backup_every, args.backup_dir) {
        lm_server::private_files::create_dir(&dir)
            .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
        tracing::info!(every = %humantime::format_duration(every), dir = %dir.display(), keep = args.backup_keep, "scheduled backups");
        tokio::spawn(lm_server::db::in_background(lm_server::backup::every(
            store.db().clone(),
            every,
            dir,
            args.backup_keep as usize,
        )));
    }
    let relay = store.clone();
    tokio::spawn(async move { relay.relay_notifications().await });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local_addr = listener.local_addr()?;
    tracing::info!(
        listen = %local_addr,
        database = store.dialect().as_str(),
        issuer = %common.public_url,
        "lm-server ready"
    );
    let connection_limits = lm_server::connections::ConnectionLimits {
        idle: args.idle_timeout,
        per_address: args.max_connections_per_client as usize,
    };
    lm_server::connections::serve(listener, router, connection_limits, async move {
        shutdown_signal().await;
        // End event streams, or graceful shutdown would wait for them forever.
        let _ = stopping.send(true);
    })
    .await?;
    store.db().close().await;
    tracing::info!("lm-server stopped");
    Ok(())
}

/// Hourly: purges removed licenses past their retention and refreshes planner statistics.
async fn housekeeping(store: Store, retention: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match chrono::Duration::from_std(retention) {
            Ok(retention) => match store.purge_removed(chrono::Utc::now() - retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged removed licenses past their retention"),
                Err(e) => tracing::warn!(error = %e, "purging removed licenses failed"),
            },
            Err(e) => tracing::warn!(error = %e, "tombstone retention out of range"),
        }
        if let Err(e) = store.optimize().await {
            tracing::warn!(error = %e, "refreshing planner statistics failed");
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}
