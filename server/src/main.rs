//! `lm-server`: serve the License Manager API, and administer its database. The command
//! line is in `cli`, serving in `serve`.

mod cli;
mod serve;

use anyhow::Result;
use clap::Parser;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The server allocates per row and per request from many threads; mimalloc measured
/// markedly faster than glibc malloc on the listing benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = cli::Cli::parse();
    match cli.command {
        // Boxed: the serving future is large, and the main thread's stack is not.
        cli::Command::Serve(args) => Box::pin(serve::serve(&cli.common, *args)).await,
        command => cli::run(&cli.common, command).await,
    }
}
