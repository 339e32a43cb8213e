//! `lm`: without a command, the terminal UI; with one, a scriptable CLI. See `lm --help`.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 lmd not running, 4 not allowed.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use lm_protocol::socket::{NoArgs, Request};
use lm_protocol::{LicenseFilter, Sort};
use lm_tui::app::keys::KeyMap;
use lm_tui::cli::{self, AuditArgs, LicenseArgs};
use lm_tui::client::{ClientError, DaemonClient};
use lm_tui::listing;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// lm — the License Manager in your terminal. Without a command it opens the terminal UI.
#[derive(Debug, Parser)]
#[command(
    name = "lm",
    version,
    after_help = "Start here:\n  lm demo                 a server, a daemon and this UI on sample data\n  lm                      the terminal UI (lmd must be running)\n  lm ls expiring:30d      licenses expiring within 30 days\n\nExit codes: 0 ok, 1 error, 2 usage, 3 lmd not running, 4 not allowed."
)]
struct Args {
    /// The socket of lmd [default: $XDG_RUNTIME_DIR/lm/lmd.sock].
    #[arg(long, env = "LM_SOCKET", global = true)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Log lmd in to the server: open the address shown in any browser and approve.
    Login,
    /// Log lmd out: the login is revoked at the server and forgotten, the cache cleared.
    Logout,
    /// Where lmd stands: connection, user, cache size and age.
    Status {
        #[arg(long)]
        json: bool,
        /// Also where lmd's memory goes: each part of its cache, the allocator's figures.
        #[arg(long)]
        memory: bool,
    },
    /// Your permissions from the seat licenses of your units (taking a seat if you hold
    /// none), with the signed grant lmd keeps for offline use.
    Permissions {
        #[arg(long)]
        json: bool,
    },
    /// The expiry alerts in effect (licenses within an alert threshold of their expiry,
    /// also those already notified), soonest first.
    Alerts {
        #[arg(long)]
        json: bool,
    },
    /// List licenses matching a query, e.g. `lm ls vendor:adobe expires<30d`.
    #[command(after_help = lm_tui_query_help())]
    Ls {
        /// Query terms (see below); several words are one query.
        query: Vec<String>,
        /// Sort by a column: id, name, product, kind, vendor, cost, seats, seats_used, added, expires; `-` for descending.
        #[arg(long)]
        sort: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// JSON array of licenses (the lm-protocol `License` shape).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV with a header row.
        #[arg(long)]
        csv: bool,
    },
    /// Show one license; the id may be any unique part of it.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Everyone a license is assigned to, also beyond the ten it lists (a seat license of a
    /// school has hundreds), in the order they were assigned.
    Holders {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a license (managers).
    Add {
        #[command(flatten)]
        fields: LicenseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Change fields of a license (managers); the version you saw is sent, so a concurrent
    /// change is refused instead of overwritten.
    Edit {
        id: String,
        #[command(flatten)]
        fields: LicenseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove licenses (managers); `lm restore ID` brings one back.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Restore a removed license (managers); needs its full id (see `lm audit --action delete`).
    Restore { id: String },
    /// Assign a license to an employee or a device (managers).
    Assign {
        id: String,
        #[arg(long)]
        employee: Option<String>,
        #[arg(long)]
        device: Option<String>,
    },
    /// Remove an assignment (managers).
    Unassign {
        id: String,
        #[arg(long)]
        employee: Option<String>,
        #[arg(long)]
        device: Option<String>,
    },
    /// The audit log: who changed what, newest first (managers).
    Audit(AuditArgs),
    /// Add and update licenses from a CSV file (managers): the columns of `lm export`, in
    /// any order; rows match by id, else product + key, else product + name. All or nothing:
    /// a file with a problem changes nothing, and every problem is listed by row and column.
    Import {
        file: PathBuf,
        /// Check the file and say what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The server's report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Insights as numbers: `lm report renewals|spend|seats|reclaim|trend [FILTER…]` — what
    /// renews when and for how much, where the money goes, seats in use, what to reclaim.
    Report(cli::ReportArgs),
    /// The organization's people: list, show, invite, change roles, disable, offboard.
    People {
        #[command(subcommand)]
        command: cli::PeopleCmd,
    },
    /// The organization's settings: name, currency, alert days.
    Org {
        #[command(subcommand)]
        command: cli::OrgCmd,
    },
    /// Every license, as CSV (default) or JSON.
    Export {
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script, e.g. `lm completions bash > ~/.local/share/bash-completion/completions/lm`.
    Completions { shell: clap_complete::Shell },
    /// Start a server on sample data, a daemon logged in as a demo manager, and the UI.
    /// Quitting the UI stops and removes all of it.
    Demo {
        /// How many sample licenses.
        #[arg(long, default_value_t = 400)]
        licenses: usize,
    },
}

fn lm_tui_query_help() -> String {
    let mut text = String::from("Query terms:\n");
    for (syntax, meaning) in lm_protocol::query::QUERY_HELP {
        text.push_str(&format!("  {syntax:<22} {meaning}\n"));
    }
    text
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lm: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lm: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 3 when lmd is not running, 4 when not allowed, 1 otherwise.
fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::NotRunning(_)) => 3,
        Some(c) if matches!(c.status(), Some(401 | 403)) => 4,
        _ => 1,
    }
}

/// Logs go to a file (`$XDG_STATE_HOME/lm/lm.log`), never to the screen the TUI owns.
fn init_logging() {
    let Some(dir) = dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("lm"))
    else {
        return;
    };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("lm.log"))
    else {
        return;
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LM_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
}

fn keymap() -> anyhow::Result<KeyMap> {
    let Some(path) = dirs::config_dir().map(|d| d.join("lm").join("keys.toml")) else {
        return Ok(KeyMap::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            KeyMap::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyMap::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

async fn connect(socket: &std::path::Path) -> anyhow::Result<DaemonClient> {
    Ok(DaemonClient::connect(socket, "lm-cli").await?.0)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let socket = args
        .socket
        .or_else(lm_protocol::socket::default_socket_path)
        .context("no socket path: set --socket, LM_SOCKET or XDG_RUNTIME_DIR")?;
    let today = chrono::Utc::now().date_naive();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let Some(command) = args.command else {
        return lm_tui::runtime::run(&socket, keymap()?).await;
    };
    match command {
        Cmd::Demo { licenses } => {
            drop(out);
            lm_tui::demo::run_demo(licenses, keymap()?).await
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Args::command(), "lm", &mut out);
            Ok(())
        }
        Cmd::Login => {
            let (client, events) = DaemonClient::connect(&socket, "lm-cli").await?;
            drop(out);
            cli::login(&client, events).await
        }
        Cmd::Logout => {
            let client = connect(&socket).await?;
            client.request(Request::Logout(NoArgs {})).await?;
            eprintln!("logged out; the cached licenses were cleared");
            Ok(())
        }
        Cmd::Status { json, memory } => {
            let client = connect(&socket).await?;
            let status = cli::status(&client).await?;
            let footprint = match memory {
                true => Some(client.footprint().await?),
                false => None,
            };
            cli::print_status(&status, footprint.as_ref(), json, &mut out)
        }
        Cmd::Permissions { json } => {
            let client = connect(&socket).await?;
            cli::print_permissions(&cli::permissions(&client).await?, json, &mut out)
        }
        Cmd::Alerts { json } => {
            let client = connect(&socket).await?;
            cli::print_alerts(&cli::alerts(&client).await?, json, &mut out)
        }
        Cmd::Ls {
            query,
            sort,
            limit,
            json,
            csv,
        } => {
            let (filter, sort) = cli::parse_query(&query, sort.as_deref(), today)?;
            let client = connect(&socket).await?;
            if json {
                write_json(&client, filter, sort, limit, &mut out).await
            } else if csv {
                write_csv(&client, filter, sort, limit, &mut out).await
            } else {
                // A table's columns fit its widest cell: the whole list first.
                let licenses = cli::list_all(&client, filter, sort, limit).await?;
                Ok(cli::print_table(&licenses, today, &mut out)?)
            }
        }
        Cmd::Import {
            file,
            dry_run,
            json,
        } => {
            let path = std::path::absolute(&file)
                .with_context(|| format!("cannot resolve {}", file.display()))?;
            let client = connect(&socket).await?;
            let report = cli::import(&client, path, dry_run).await?;
            cli::print_import(&report, json, &mut out)
        }
        Cmd::Export { json } => {
            let client = connect(&socket).await?;
            let (filter, sort) = (LicenseFilter::default(), Sort::default());
            if json {
                write_json(&client, filter, sort, None, &mut out).await
            } else {
                write_csv(&client, filter, sort, None, &mut out).await
            }
        }
        Cmd::Show { id, json } => {
            let client = connect(&socket).await?;
            let license = cli::resolve(&client, &id).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &license)?;
                writeln!(out)?;
            } else {
                cli::print_license(&license, &mut out)?;
            }
            Ok(())
        }
        Cmd::Holders { id, json } => {
            let client = connect(&socket).await?;
            let license = cli::resolve(&client, &id).await?;
            let holders = cli::holders(&client, &license).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &holders)?;
                writeln!(out)?;
            } else {
                cli::print_holders(&holders, &mut out)?;
            }
            Ok(())
        }
        Cmd::Add { fields, json } => {
            let new = fields.to_new()?;
            let client = connect(&socket).await?;
            let license = cli::create(&client, new).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &license)?;
                writeln!(out)?;
            } else {
                writeln!(out, "added {} “{}”", license.id, license.name)?;
            }
            Ok(())
        }
        Cmd::Edit { id, fields, json } => {
            let client = connect(&socket).await?;
            let current = cli::resolve(&client, &id).await?;
            let patch = fields.to_patch(&current)?;
            if patch.is_empty() {
                anyhow::bail!(
                    "nothing to change: give at least one field flag (see `lm edit --help`)"
                );
            }
            let license = cli::update(&client, &current, patch).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &license)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "updated “{}” to version {}",
                    license.name, license.version
                )?;
            }
            Ok(())
        }
        Cmd::Rm { ids } => {
            let client = connect(&socket).await?;
            // Resolve all first: a typo in the third id must not leave two removed.
            let mut licenses = Vec::new();
            for id in &ids {
                licenses.push(cli::resolve(&client, id).await?);
            }
            for license in &licenses {
                cli::remove(&client, license).await?;
                writeln!(
                    out,
                    "removed {} “{}” (undo: lm restore {})",
                    license.id, license.name, license.id
                )?;
            }
            Ok(())
        }
        Cmd::Restore { id } => {
            let client = connect(&socket).await?;
            let id = id
                .trim()
                .parse()
                .map_err(|e: lm_protocol::FieldError| anyhow::anyhow!("id: {}", e.message))?;
            let license = cli::restore(&client, id).await?;
            writeln!(out, "restored {} “{}”", license.id, license.name)?;
            Ok(())
        }
        Cmd::Assign {
            id,
            employee,
            device,
        } => {
            let to = cli::assignee_arg(employee.as_deref(), device.as_deref())?;
            let client = connect(&socket).await?;
            let license = cli::resolve(&client, &id).await?;
            let license = cli::assign(&client, &license, to.clone()).await?;
            writeln!(
                out,
                "assigned “{}” to {to}; seats {}",
                license.name,
                lm_tui::format::seats(&license)
            )?;
            Ok(())
        }
        Cmd::Unassign {
            id,
            employee,
            device,
        } => {
            let who = cli::assignee_arg(employee.as_deref(), device.as_deref())?;
            let client = connect(&socket).await?;
            let license = cli::resolve(&client, &id).await?;
            cli::unassign(&client, &license, &who).await?;
            writeln!(out, "unassigned {who} from “{}”", license.name)?;
            Ok(())
        }
        Cmd::Report(args) => {
            let client = connect(&socket).await?;
            cli::run_report(&client, &args, today, &mut out).await
        }
        Cmd::People { command } => {
            let client = connect(&socket).await?;
            cli::run_people(&client, command, &mut out).await
        }
        Cmd::Org { command } => {
            let client = connect(&socket).await?;
            cli::run_org(&client, command, &mut out).await
        }
        Cmd::Audit(audit) => {
            let query = audit.to_query()?;
            let client = connect(&socket).await?;
            if audit.json {
                let mut array = listing::JsonArray::new(&mut out);
                listing::each_audit_entry(&client, query, |entries| {
                    entries.iter().try_for_each(|e| array.push(e))?;
                    anyhow::Ok(())
                })
                .await?;
                array.finish()?;
            } else {
                cli::print_audit_header(&mut out)?;
                listing::each_audit_entry(&client, query, |entries| {
                    anyhow::Ok(cli::print_audit(&entries, &mut out)?)
                })
                .await?;
            }
            Ok(())
        }
    }
}

/// `--json` of a list: a JSON array, written as lmd's windows arrive.
async fn write_json(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut array = listing::JsonArray::new(out);
    write_each(client, filter, sort, limit, |l| Ok(array.push(l)?)).await?;
    Ok(array.finish()?)
}

/// `--csv` of a list and `lm export`: the import/export CSV, written as lmd's windows arrive.
async fn write_csv(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut csv = listing::CsvLicenses::new(out)?;
    write_each(client, filter, sort, limit, |l| Ok(csv.push(l)?)).await?;
    Ok(csv.finish()?)
}

/// Hands `write` each license of the list, as lmd's windows arrive.
async fn write_each(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
    mut write: impl FnMut(&lm_protocol::License) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    listing::each_license(client, filter, sort, limit, |window| {
        window.iter().try_for_each(&mut write)
    })
    .await
}
