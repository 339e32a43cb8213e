//! `lm-server`: serve the License Manager API, and administer its database.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use lm_protocol::Role;
use lm_server::api::{AppState, Limits, app};
use lm_server::auth::{
    Authenticator, ClaimRules, ExternalIssuer, IntrospectionCache, Introspector, OrgRule,
    TokenService,
};
use lm_server::db::{Db, PoolConfig};
use lm_server::hierarchy_providers::{HierarchyProviders, ProviderConfig};
use lm_server::store::{ChangeContext, Store};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// The server allocates per row and per request from many threads; mimalloc measured
/// markedly faster than glibc malloc on the listing benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lm-server",
    version,
    about = "The License Manager server: the authoritative license inventory behind lmd and lm."
)]
#[command(
    after_help = "Quick start:\n  lm-server user add admin --role manager\n  lm-server serve &\n  TOKEN=$(lm-server token issue --user admin)\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:7878/v1/licenses"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Database URL: sqlite://PATH (the default, a file under your data directory) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "LM_DATABASE_URL")]
    database: Option<String>,
    /// The server's public base URL; the issuer of the tokens it signs and accepts.
    #[arg(
        long,
        global = true,
        env = "LM_PUBLIC_URL",
        default_value = "http://127.0.0.1:7878"
    )]
    public_url: String,
    /// A private file of at least 32 random bytes that the private signing keys are sealed
    /// with in the database (ChaCha20-Poly1305); keys stored plain are sealed at start. Every
    /// command and replica that signs needs it, and a backup's keys open only with it.
    #[arg(long, global = true, env = "LM_KEY_SECRET_FILE")]
    key_secret_file: Option<PathBuf>,
}

impl Common {
    fn key_secret(&self) -> Result<Option<std::sync::Arc<lm_server::auth::KeySecret>>> {
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
enum Command {
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
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LM_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Requests per second allowed per client address (0 disables the limit).
    #[arg(long, env = "LM_RATE_LIMIT", default_value_t = 50)]
    rate_limit: u32,
    /// Requests a client may send at once before the rate applies.
    #[arg(long, env = "LM_RATE_BURST", default_value_t = 100)]
    rate_burst: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Deadline of one request, e.g. 30s; imports get ten times as long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// How long a connection may take to send a request's head, from its opening or its
    /// previous answer; then it is closed (slow or idle clients).
    #[arg(long, env = "LM_IDLE_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// How many connections one client address may hold at once; more are closed at once.
    #[arg(long, env = "LM_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_client: u32,
    /// How long removed licenses stay restorable (and in the change feed as tombstones).
    #[arg(long, env = "LM_TOMBSTONE_RETENTION", default_value = "90days", value_parser = humantime::parse_duration)]
    tombstone_retention: Duration,
    /// Database connections per server process.
    #[arg(long, env = "LM_DB_CONNECTIONS", default_value_t = 16)]
    db_connections: u32,
    /// Lifetime of the access tokens the built-in authorization server issues.
    #[arg(long, env = "LM_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    access_token_ttl: Duration,
    /// Lifetime of a refresh token (each use rotates it).
    #[arg(long, env = "LM_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    refresh_token_ttl: Duration,
    /// How long a device login waits for approval.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    device_code_ttl: Duration,
    /// The least time a device must wait between two polls of the token endpoint.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    device_poll_interval: Duration,
    /// Failed sign-ins in a row, from one address for one account, after which that address
    /// waits --login-lockout before trying that account again (others are not held up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_failed_logins: u32,
    /// How long an address waits after too many failed sign-ins for one account; each further
    /// failure doubles it (up to 64 times).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    login_lockout: Duration,
    /// How long a permission grant (the signed answer of a permission check) is good for at
    /// most; it ends with the license anyway.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    grant_lease: Duration,
    /// A member type (level 0) whose members use their units' seat licenses without taking
    /// a seat, e.g. teacher (repeatable). By default every member takes a seat.
    #[arg(long = "seat-free-type")]
    seat_free_types: Vec<String>,
    #[command(flatten)]
    hierarchy: HierarchyProviderArgs,
    /// Make a backup this often, e.g. 6h or 1day (off unless given).
    #[arg(long, env = "LM_BACKUP_EVERY", value_parser = humantime::parse_duration, requires = "backup_dir")]
    backup_every: Option<Duration>,
    /// Where scheduled backups go, as lm-YYYYMMDDTHHMMSSZ.lmbackup.
    #[arg(long, env = "LM_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// How many scheduled backups to keep; older ones are removed.
    #[arg(long, env = "LM_BACKUP_KEEP", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..))]
    backup_keep: u32,
    #[command(flatten)]
    provider: ProviderArgs,
}

/// Remote Hierarchy Providers: the only addresses seat purchases and permission checks may
/// ask for memberships besides the built-in provider.
#[derive(Args)]
#[command(next_help_heading = "Hierarchy Providers")]
struct HierarchyProviderArgs {
    /// A remote Hierarchy Provider, NAME=BASE_URL (repeatable). Purchases name it by its
    /// base URL; any other URL is refused before a request is made.
    #[arg(long = "hierarchy-provider", value_parser = ProviderConfig::parse)]
    providers: Vec<ProviderConfig>,
    /// NAME=FILE: the bearer token to send to that provider, read from FILE.
    #[arg(long = "hierarchy-provider-token")]
    tokens: Vec<String>,
    /// How long a call to a Hierarchy Provider may take before it fails (502).
    #[arg(long = "hierarchy-provider-timeout", default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The longest a provider's membership answer is kept when its `Cache-Control: max-age`
    /// allows (0s: ask on every check).
    #[arg(long = "hierarchy-provider-max-age", default_value = "60s", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// How many calls this process makes to one provider at once; more wait their turn within
    /// the timeout.
    #[arg(long = "hierarchy-provider-concurrency", default_value_t = lm_server::hierarchy_providers::CALLS_AT_ONCE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    calls_at_once: u32,
}

impl HierarchyProviderArgs {
    fn providers(&self) -> anyhow::Result<HierarchyProviders> {
        let mut configs = self.providers.clone();
        for spec in &self.tokens {
            let (name, file) = spec
                .split_once('=')
                .with_context(|| format!("--hierarchy-provider-token `{spec}` is not NAME=FILE"))?;
            let config = configs
                .iter_mut()
                .find(|c| c.name == name)
                .with_context(|| {
                    format!("--hierarchy-provider-token names `{name}`, which no --hierarchy-provider defines")
                })?;
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token of `{name}` from {file}"))?;
            let token = token.trim();
            anyhow::ensure!(
                !token.is_empty(),
                "the token file {file} of `{name}` is empty"
            );
            config.token = Some(token.to_owned());
        }
        Ok(HierarchyProviders::new(configs, self.timeout)
            .map_err(anyhow::Error::msg)?
            .with_max_age(self.max_age)
            .with_calls_at_once(self.calls_at_once as usize))
    }
}

/// Trusting another identity provider instead of the built-in authorization server.
#[derive(Args)]
#[command(next_help_heading = "External identity provider")]
struct ProviderArgs {
    /// Accept the JWT access tokens of this OpenID provider (verified with the keys its
    /// discovery document names) instead of running the built-in authorization server.
    #[arg(long, env = "LM_ISSUER")]
    issuer: Option<String>,
    /// The `aud` tokens must carry; without it any token of the provider is accepted.
    #[arg(long, env = "LM_AUDIENCE")]
    audience: Option<String>,
    /// Dotted path of the claim that carries roles, e.g. `realm_access.roles` or `groups`.
    #[arg(long, env = "LM_ROLE_CLAIM", requires = "manager_value")]
    role_claim: Option<String>,
    /// The role claim's value (or one of its values) that makes a manager.
    #[arg(long, env = "LM_MANAGER_VALUE", requires = "role_claim")]
    manager_value: Option<String>,
    /// When given, only this value (or the manager value) lets someone in as an employee;
    /// without it everyone else with a valid token is an employee.
    #[arg(long, env = "LM_EMPLOYEE_VALUE", requires = "role_claim")]
    employee_value: Option<String>,
    /// Dotted path of the claim that names the caller's organization.
    #[arg(long, env = "LM_ORG_CLAIM", conflicts_with = "org")]
    org_claim: Option<String>,
    /// The one organization every token of the provider belongs to.
    #[arg(long, env = "LM_ORG")]
    org: Option<String>,
    /// The least time between two downloads of the provider's keys (an unknown `kid` asks for one).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    jwks_refetch_interval: Duration,
    /// Check opaque tokens by asking this RFC 7662 introspection endpoint.
    #[arg(long, env = "LM_INTROSPECTION_URL", requires = "introspection_client")]
    introspection_url: Option<String>,
    /// The client this server authenticates as at the introspection endpoint, as ID:SECRET
    /// (prefer the environment variable: arguments are visible to other local users).
    #[arg(
        long,
        env = "LM_INTROSPECTION_CLIENT",
        requires = "introspection_url",
        hide_env_values = true
    )]
    introspection_client: Option<String>,
    /// How long an introspection answer for an active token is reused (never past its expiry).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    introspection_cache: Duration,
    /// How long an introspection answer for an inactive token is reused.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    introspection_negative_cache: Duration,
}

impl ProviderArgs {
    /// The authenticator these flags ask for; the built-in one without any.
    async fn authenticator(&self, tokens: &TokenService) -> Result<Authenticator> {
        let external = self.issuer.is_some() || self.introspection_url.is_some();
        if !external {
            if self.role_claim.is_some()
                || self.org_claim.is_some()
                || self.org.is_some()
                || self.audience.is_some()
            {
                bail!(
                    "--audience, --role-claim, --org-claim and --org apply only with --issuer or --introspection-url"
                );
            }
            return Ok(Authenticator::BuiltIn(tokens.clone()));
        }
        let org = match (&self.org_claim, &self.org) {
            (Some(path), None) => OrgRule::Claim(path.clone()),
            (None, Some(org)) => OrgRule::Fixed(org.clone()),
            _ => bail!(
                "with an external identity provider, give --org-claim PATH or --org ORG: every caller belongs to an organization"
            ),
        };
        let rules = ClaimRules {
            role_claim: self.role_claim.clone(),
            manager_value: self.manager_value.clone(),
            employee_value: self.employee_value.clone(),
            org,
        };
        if self.role_claim.is_none() {
            tracing::warn!(
                "no --role-claim: every caller of the identity provider is an employee, nobody can edit"
            );
        }
        if self.audience.is_none() {
            tracing::warn!(
                "no --audience: tokens the identity provider made for any application are accepted"
            );
        }
        if let Some(url) = &self.introspection_url {
            let client = self.introspection_client.as_deref().unwrap_or_default();
            let Some((id, secret)) = client.split_once(':') else {
                bail!("--introspection-client: expected ID:SECRET");
            };
            let cache = IntrospectionCache {
                positive: self.introspection_cache,
                negative: self.introspection_negative_cache,
                ..IntrospectionCache::default()
            };
            return Ok(Authenticator::Introspection(std::sync::Arc::new(
                Introspector::new(
                    url,
                    id,
                    secret,
                    self.issuer.clone(),
                    self.audience.clone(),
                    rules,
                    cache,
                ),
            )));
        }
        let issuer = self.issuer.as_deref().unwrap_or_default();
        let external = ExternalIssuer::new(
            issuer,
            self.audience.clone(),
            rules,
            self.jwks_refetch_interval,
        );
        // The provider may be down while this replica starts: serve anyway, and fetch the keys
        // when the first token arrives.
        if let Err(e) = external.fetch_keys().await {
            tracing::warn!(error = %e, "cannot fetch the identity provider's keys yet");
        }
        Ok(Authenticator::External(std::sync::Arc::new(external)))
    }
}

#[derive(Subcommand)]
enum UserCommand {
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
enum MfaCommand {
    /// Give a user a new TOTP secret and print its otpauth:// URI for their authenticator
    /// app (replaces any earlier one).
    Enable { name: String },
    /// Stop asking a user for one-time codes.
    Disable { name: String },
}

#[derive(Subcommand)]
enum OrgCommand {
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
enum KeysCommand {
    /// Sign with a new key from now on; the old keys keep verifying the tokens they signed.
    /// Running servers switch within seconds.
    Rotate,
    /// List the keys: kid, created, retired.
    List,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
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
enum ClientCommand {
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
enum TokenCommand {
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

async fn open_store(common: &Common, pool: PoolConfig) -> Result<Store> {
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

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match cli.command {
        // Boxed: the serving future is large, and the main thread's stack is not.
        Command::Serve(args) => Box::pin(serve(&cli.common, *args)).await,
        Command::User(UserCommand::Add { name, role, org }) => {
            check_name(&name, "user name")?;
            check_name(&org, "organization")?;
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let user = store.add_user(&name, &org, role).await?;
            eprintln!(
                "added {} {} to organization {}",
                user.role, user.name, user.org
            );
            Ok(())
        }
        Command::User(UserCommand::Passwd { name }) => {
            let password = read_password(&name)?;
            let hash =
                tokio::task::spawn_blocking(move || lm_server::oauth::hash_password(&password))
                    .await??;
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store
                .set_password(&name, Some(&hash))
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("password of {name} set; any lockout lifted");
            Ok(())
        }
        Command::User(UserCommand::SetRole { name, role }) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store
                .set_role(&name, role)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!(
                "{name} is now a {role}; tokens issued before keep their role until they expire"
            );
            Ok(())
        }
        Command::User(UserCommand::Disable { name }) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store
                .set_disabled(&name, true)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} is disabled and signed out everywhere");
            Ok(())
        }
        Command::User(UserCommand::Enable { name }) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store
                .set_disabled(&name, false)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} is enabled");
            Ok(())
        }
        Command::User(UserCommand::Mfa(MfaCommand::Enable { name })) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let secret = lm_server::oauth::totp::TotpSecret::generate();
            store
                .set_totp_secret(&name, Some(&secret.to_base32()))
                .await
                .map_err(|e| no_such_user(e, &name))?;
            println!("{}", secret.uri("lm", &name));
            eprintln!(
                "{name} now signs in with a one-time code too; give them this URI (or its secret) for their authenticator app, privately"
            );
            Ok(())
        }
        Command::User(UserCommand::Mfa(MfaCommand::Disable { name })) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store
                .set_totp_secret(&name, None)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} signs in without a one-time code again");
            Ok(())
        }
        Command::User(UserCommand::List) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            for u in store.users().await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.name,
                    u.org,
                    u.role,
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Issue { user, ttl }) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let Some(u) = store.user(&user).await? else {
                bail!(
                    "no user named `{user}`; add one with `lm-server user add {user} --role manager`"
                );
            };
            if u.disabled {
                bail!("user `{user}` is disabled");
            }
            let tokens =
                TokenService::load(&store, &cli.common.public_url, cli.common.key_secret()?)
                    .await?;
            println!("{}", tokens.issue(&u.name, &u.org, u.role, ttl, None)?);
            Ok(())
        }
        Command::Client(command) => client_command(&cli.common, command).await,
        Command::Apikey(command) => api_key_command(&cli.common, command).await,
        Command::Org(OrgCommand::SelfPurchase {
            org,
            max_seats,
            off: _,
        }) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store.set_self_purchase(&org, max_seats).await?;
            match max_seats {
                Some(max) => eprintln!(
                    "employees of {org} may buy seat licenses of up to {max} seats for their own units"
                ),
                None => eprintln!("only managers of {org} buy seat licenses"),
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let secret = cli.common.key_secret()?;
            let kid = lm_server::auth::KeyRing::rotate(&store, secret.as_deref()).await?;
            eprintln!("tokens are now signed with key {kid}; older keys keep verifying");
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            for key in store.signing_keys().await? {
                println!(
                    "{}\t{}\t{}",
                    key.kid,
                    key.created_at.format("%Y-%m-%d %H:%M:%S"),
                    key.retired_at.map_or("signing".to_owned(), |t| format!(
                        "retired {}",
                        t.format("%Y-%m-%d %H:%M:%S")
                    ))
                );
            }
            Ok(())
        }
        Command::Purge { older_than } => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let before = chrono::Utc::now() - chrono::Duration::from_std(older_than)?;
            let purged = store.purge_removed(before).await?;
            eprintln!("purged {purged} licenses removed before {before}");
            Ok(())
        }
        Command::Backup { to } => {
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let summary = lm_server::backup::backup_to(store.db(), &to).await?;
            eprintln!("backed up to {}: {summary}", to.display());
            Ok(())
        }
        Command::Restore { from, check } => {
            if check {
                let summary = lm_server::backup::verify(&from)?;
                eprintln!("{} is a complete backup, {summary}", from.display());
                return Ok(());
            }
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            let actor = format!(
                "{} (lm-server restore)",
                std::env::var("USER").unwrap_or_else(|_| "operator".into())
            );
            let summary = lm_server::backup::restore(&store, &from, &actor).await?;
            eprintln!(
                "restored {}, {summary}; every daemon will resync",
                from.display()
            );
            Ok(())
        }
        Command::Seed {
            licenses,
            org,
            seed,
            school,
        } => {
            check_name(&org, "organization")?;
            let store = open_store(&cli.common, PoolConfig::default()).await?;
            store.ensure_org(&org).await?;
            let today = chrono::Utc::now().date_naive();
            let started = std::time::Instant::now();
            let ctx = ChangeContext {
                org: org.clone(),
                actor: "lm-server seed".into(),
                request_id: None,
                client_addr: None,
            };
            let mut added = 0;
            for chunk in lm_server::sample::licenses(licenses, seed, today).chunks(10_000) {
                added += store.insert_batch(&ctx, chunk.to_vec()).await?;
            }
            if school {
                let made = lm_server::sample_school::school(&store, &ctx, today).await?;
                eprintln!(
                    "added a school of {} people with {} seat licenses, {} seats taken",
                    made.people, made.licenses, made.seats_taken
                );
            }
            store.analyze().await?;
            eprintln!(
                "added {added} sample licenses to {org} in {:.1?}",
                started.elapsed()
            );
            Ok(())
        }
    }
}

fn no_such_user(e: lm_server::store::StoreError, name: &str) -> anyhow::Error {
    match e {
        lm_server::store::StoreError::NotFound => anyhow::anyhow!(
            "no user named `{name}`; add one with `lm-server user add {name} --role manager`"
        ),
        other => other.into(),
    }
}

/// Reads a new password: twice, without echo, from a terminal; else one line of stdin.
fn read_password(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {name}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the two passwords differ; nothing changed");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

async fn api_key_command(common: &Common, command: ApiKeyCommand) -> Result<()> {
    let store = open_store(common, PoolConfig::default()).await?;
    let admin = |org: String| ChangeContext {
        org,
        actor: "lm-server apikey".into(),
        request_id: None,
        client_addr: None,
    };
    match command {
        ApiKeyCommand::Create {
            user,
            label,
            expires,
        } => {
            let label =
                lm_protocol::KeyLabel::new(&label).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
            let Some(owner) = store.user(&user).await? else {
                bail!(
                    "no user named `{user}`; add one with `lm-server user add {user} --role employee`"
                );
            };
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() + d))
                .transpose()
                .context("--expires is too long")?;
            let (info, key, _) = match store
                .create_api_key(&admin(owner.org), &user, label.as_str(), expires_at)
                .await
            {
                Err(lm_server::store::StoreError::NotFound) => bail!("user `{user}` is disabled"),
                other => other?,
            };
            println!("{key}");
            eprintln!(
                "API key {} of {user} made; store it now, it cannot be shown again",
                info.id
            );
            Ok(())
        }
        ApiKeyCommand::List { user } => {
            for k in store.api_keys(user.as_deref()).await? {
                let state = match (k.revoked_at, k.expires_at) {
                    (Some(at), _) => format!("revoked {}", at.format("%Y-%m-%d")),
                    (None, Some(at)) => format!("expires {}", at.format("%Y-%m-%d")),
                    (None, None) => "no expiry".into(),
                };
                println!("{}\t{}\t{}\t{state}", k.id, k.owner, k.label);
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { id } => {
            match store.revoke_api_key(&admin(String::new()), &id, None).await {
                Err(lm_server::store::StoreError::NotFound) => {
                    bail!("no live API key `{id}`; `lm-server apikey list` shows them")
                }
                other => other?,
            }
            eprintln!("API key {id} revoked; it stops working within 5 seconds");
            Ok(())
        }
    }
}

async fn client_command(common: &Common, command: ClientCommand) -> Result<()> {
    let store = open_store(common, PoolConfig::default()).await?;
    match command {
        ClientCommand::Add {
            id,
            name,
            role,
            org,
            mut grants,
            public,
            redirect_uris,
        } => {
            check_name(&id, "client id")?;
            if id == lm_server::oauth::BUILTIN_CLIENT {
                bail!("`{id}` is the built-in client of lmd and the CLI; choose another id");
            }
            if let Some(org) = &org {
                check_name(org, "organization")?;
            }
            let service_account = role.zip(org).map(|(role, org)| (org, role));
            if grants.is_empty() && service_account.is_some() {
                grants.push("client_credentials".into());
            }
            let credentials = grants.iter().any(|g| g == "client_credentials");
            if credentials && service_account.is_none() {
                bail!(
                    "--grant client_credentials needs --role and --org: what does the service account act as?"
                );
            }
            if credentials && public {
                bail!("a public client cannot use client_credentials: anyone could claim to be it");
            }
            if public && grants.is_empty() {
                bail!(
                    "a public client needs a --grant (device_code, authorization_code, refresh_token)"
                );
            }
            let browser = grants.iter().any(|g| g == "authorization_code");
            if browser && redirect_uris.is_empty() {
                bail!(
                    "--grant authorization_code needs a --redirect-uri to send the browser back to"
                );
            }
            for uri in &redirect_uris {
                let scheme_ok = uri.starts_with("https://")
                    || uri.starts_with("http://127.0.0.1")
                    || uri.starts_with("http://[::1]");
                if !scheme_ok || uri.contains('#') {
                    bail!(
                        "--redirect-uri `{uri}`: use https://…, or a loopback http://127.0.0.1/… or http://[::1]/… without a #fragment"
                    );
                }
            }
            let secret = (!public).then(|| lm_server::oauth::random_secret(32));
            store
                .add_client(&lm_server::store::clients::NewClient {
                    name: name.unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    secret: secret.clone(),
                    redirect_uris,
                    grants,
                    service_account,
                })
                .await?;
            println!("client_id: {id}");
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("store the secret now: only its hash is kept, it cannot be shown again");
            }
            Ok(())
        }
        ClientCommand::List => {
            println!("lm	public	device_code authorization_code refresh_token	(built in)");
            for c in store.clients().await? {
                let grants: Vec<&str> = c
                    .grants
                    .iter()
                    .map(|g| g.trim_start_matches("urn:ietf:params:oauth:grant-type:"))
                    .collect();
                println!(
                    "{}	{}	{}	{}",
                    c.id,
                    if c.is_confidential() {
                        "confidential"
                    } else {
                        "public"
                    },
                    if grants.is_empty() {
                        "-".to_owned()
                    } else {
                        grants.join(" ")
                    },
                    c.service_account
                        .map_or_else(String::new, |(org, role)| format!("{role} in {org}")),
                );
            }
            Ok(())
        }
        ClientCommand::Remove { id } => {
            match store.remove_client(&id).await {
                Err(lm_server::store::StoreError::NotFound) => {
                    bail!("no client `{id}`; `lm-server client list` shows them")
                }
                other => other?,
            }
            eprintln!("client {id} removed; its tokens stop working within 5 seconds");
            Ok(())
        }
    }
}

fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        bail!("`{name}` is not a valid {what}: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`");
    }
    Ok(())
}

async fn serve(common: &Common, args: ServeArgs) -> Result<()> {
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
            authorization: lm_server::api::oauth::AuthorizationServer::new(
                lm_server::oauth::Settings {
                    access_token_ttl: args.access_token_ttl,
                    refresh_token_ttl: args.refresh_token_ttl,
                    device_code_ttl: args.device_code_ttl,
                    device_poll_interval: args.device_poll_interval,
                    max_failed_logins: i64::from(args.max_failed_logins),
                    lockout: args.login_lockout,
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
