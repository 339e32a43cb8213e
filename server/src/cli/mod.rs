//! `lm-server`'s command line: the arguments of every command (`serve`'s in `serve_args`),
//! and what the commands share — opening the database. The administrative commands run in
//! `admin` and `clients`; `serve` in `crate::serve`.

mod admin;
mod clients;
mod serve_args;

pub(crate) use admin::run;
pub(crate) use serve_args::ServeArgs;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lm_protocol::Role;
use lm_server::db::{Db, PoolConfig};
use lm_server::store::Store;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "lm-server",
    version,
    about = "The License Manager server: the authoritative license inventory behind lmd and lm."
)]
#[command(
    after_help = "Quick start:\n  lm-server user add admin --role manager\n  lm-server serve &\n  TOKEN=$(lm-server token issue --user admin)\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:7878/v1/licenses"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args)]
pub(crate) struct Common {
    /// Database URL: sqlite://PATH (the default, a file under your data directory) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "LM_DATABASE_URL")]
    pub(crate) database: Option<String>,
    /// The server's public base URL; the issuer of the tokens it signs and accepts.
    #[arg(
        long,
        global = true,
        env = "LM_PUBLIC_URL",
        default_value = "http://127.0.0.1:7878"
    )]
    pub(crate) public_url: String,
    /// A private file of at least 32 random bytes that the private signing keys are sealed
    /// with in the database (ChaCha20-Poly1305); keys stored plain are sealed at start. Every
    /// command and replica that signs needs it, and a backup's keys open only with it.
    #[arg(long, global = true, env = "LM_KEY_SECRET_FILE")]
    pub(crate) key_secret_file: Option<PathBuf>,
}

impl Common {
    pub(crate) fn key_secret(&self) -> Result<Option<std::sync::Arc<lm_server::auth::KeySecret>>> {
        self.key_secret_file
            .as_deref()
            .map(|path| {
                Ok(std::sync::Arc::new(lm_server::auth::KeySecret::from_file(
                    path,
                )?))
            })
            .transpose()
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Serve the REST API until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Manage the people and machines that may hold tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Issue access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the OAuth clients of the built-in authorization server (`lm`, the public client
    /// of lmd and the CLI, is built in).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage API keys: long-lived bearer credentials of a user, for scripts and machines.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Manage the keys tokens are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Set an organization's policies.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Delete removed licenses older than a duration now (`serve` does this hourly).
    Purge {
        /// Removed longer ago than this, e.g. 90days; they can no longer be restored.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Duration,
    },
    /// Write a consistent backup of the whole database while the server keeps serving.
    Backup {
        /// The file to write (owner-only; it holds product keys and signing keys).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the database's contents with a backup, after verifying all of it.
    Restore {
        /// The backup file, made by `lm-server backup` or `serve --backup-every`.
        #[arg(long)]
        from: PathBuf,
        /// Only verify the file and say what it holds; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Fill an organization with realistic sample licenses (for demos and benchmarks).
    Seed {
        /// How many licenses to add.
        #[arg(long, default_value_t = 300)]
        licenses: usize,
        #[arg(long, default_value = "default")]
        org: String,
        /// Seed of the generator; the same seed gives the same inventory.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also a school: classes, students and teachers in the built-in Hierarchy Provider,
        /// products, seat licenses bought for classes and the school, and seats taken.
        #[arg(long)]
        school: bool,
        /// Also the sample's people (alice, bob, …, the ones licenses are assigned to) as
        /// members: employees, grace a manager, mallory a leaver (disabled, not offboarded).
        #[arg(long)]
        people: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user to an organization (created if new).
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "default")]
        org: String,
    },
    /// List users.
    List,
    /// Set a user's password for signing in (the device login page). Read from the terminal,
    /// or from the first line of standard input when it is not one.
    Passwd { name: String },
    /// Change a user's role.
    SetRole {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Stop a user from signing in; their refresh tokens are revoked at once.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
    /// The second factor: a one-time code (TOTP) asked for on the sign-in pages.
    #[command(subcommand)]
    Mfa(MfaCommand),
}

#[derive(Subcommand)]
pub(crate) enum MfaCommand {
    /// Give a user a new TOTP secret and print its otpauth:// URI for their authenticator
    /// app (replaces any earlier one).
    Enable { name: String },
    /// Stop asking a user for one-time codes.
    Disable { name: String },
}

#[derive(Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organization (its managers then run it through the API).
    Add {
        org: String,
        /// The name people see; the id when not given.
        #[arg(long)]
        name: Option<String>,
    },
    /// Every organization: id, name, members, live licenses.
    List,
    /// Change the name people see for an organization.
    Rename { org: String, name: String },
    /// Remove an organization that has nothing left: no members, no licenses (purge removed
    /// ones first), no service accounts. Its hierarchy and audit log go with it.
    Remove { org: String },
    /// Let the organization's employees buy seat licenses for their own units (at most
    /// --max-seats seats, valid up to a year), or with --off leave buying to managers (the
    /// default).
    SelfPurchase {
        org: String,
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        max_seats: Option<u32>,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Sign with a new key from now on; the old keys keep verifying the tokens they signed.
    /// Running servers switch within seconds.
    Rotate,
    /// List the keys: kid, created, retired.
    List,
}

#[derive(Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Make a key for a user; it is printed once (only its hash is kept).
    Create {
        #[arg(long)]
        user: String,
        /// What the key is for.
        #[arg(long, default_value = "made with lm-server apikey create")]
        label: String,
        /// Lifetime, e.g. 90days [default: until revoked].
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key by its id: it stops working within 5 seconds.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client. A confidential client (the default) gets a secret, printed once.
    Add {
        /// The client id, e.g. inventory-sync.
        id: String,
        /// A name people recognize [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// Make it a service account: it gets tokens with client_credentials, acting with this
        /// role in --org.
        #[arg(long, value_parser = parse_role, requires = "org")]
        role: Option<Role>,
        /// The organization a service account acts in.
        #[arg(long, requires = "role")]
        org: Option<String>,
        /// A grant it may use (repeatable): client_credentials (the default for service
        /// accounts), device_code, authorization_code, refresh_token. Without any, a confidential client may still
        /// introspect and revoke tokens (a resource server).
        #[arg(long = "grant", value_parser = parse_grant)]
        grants: Vec<String>,
        /// No secret, for programs that cannot keep one (device flow clients).
        #[arg(long)]
        public: bool,
        /// Where the authorization_code grant may send the browser back (repeatable). A
        /// loopback URI (http://127.0.0.1/cb) matches on any port (RFC 8252 §7.3).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
    },
    /// List clients.
    List,
    /// Remove a client: its refresh tokens are revoked at once, its access tokens stop working
    /// within 5 seconds.
    Remove { id: String },
}

fn parse_grant(text: &str) -> Result<String, String> {
    let grant = match text {
        "device_code" => "urn:ietf:params:oauth:grant-type:device_code",
        other => other,
    };
    match grant {
        "client_credentials"
        | "urn:ietf:params:oauth:grant-type:device_code"
        | "authorization_code"
        | "refresh_token" => Ok(grant.to_owned()),
        _ => Err(format!(
            "`{text}` is not a grant: use client_credentials, device_code, authorization_code or refresh_token"
        )),
    }
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Print an access token for a user on stdout.
    Issue {
        #[arg(long)]
        user: String,
        /// How long the token is valid, e.g. 1h, 8h, 7days; at most 30 days (API keys are
        /// for longer-lived automation).
        #[arg(long, default_value = "8h", value_parser = issued_token_ttl)]
        ttl: Duration,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// The longest lifetime `token issue` gives: a token cannot be revoked one by one, only by
/// disabling its user, so long-lived automation takes an API key (revocable, audited).
const MAX_ISSUED_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn issued_token_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if ttl > MAX_ISSUED_TOKEN_TTL {
        return Err(format!(
            "at most {}; for longer-lived automation make an API key \
             (`lm-server apikey create --user NAME --expires 90days`)",
            humantime::format_duration(MAX_ISSUED_TOKEN_TTL)
        ));
    }
    if ttl.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(ttl)
}

fn default_database_url() -> Result<String> {
    let dir = dirs::data_dir()
        .context("no data directory for this user; pass --database")?
        .join("lm");
    lm_server::private_files::create_dir(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join("lm-server.db").display()))
}

pub(crate) async fn open_store(common: &Common, pool: PoolConfig) -> Result<Store> {
    let url = match &common.database {
        Some(url) => url.clone(),
        None => default_database_url()?,
    };
    let db = Db::connect(&url, pool)
        .await
        .with_context(|| format!("opening {}", redact(&url)))?;
    let store = Store::new(db);
    let named = store
        .complete_purchase_identities()
        .await
        .context("giving earlier purchases their identity")?;
    if named > 0 {
        tracing::info!(purchases = named, "earlier purchases given their identity");
    }
    Ok(store)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
