//! The arguments of `lm-server serve`, and the runtime objects they build: the token
//! authenticator (built-in or an external OpenID provider) and the Hierarchy Providers.

use anyhow::{Context, Result, bail};
use clap::Args;
use lm_server::auth::{
    Authenticator, ClaimRules, ExternalIssuer, IntrospectionCache, Introspector, OrgRule,
    TokenService,
};
use lm_server::hierarchy_providers::{HierarchyProviders, ProviderConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LM_LISTEN", default_value = "127.0.0.1:7878")]
    pub(crate) listen: SocketAddr,
    /// Requests per second allowed per client address (0 disables the limit).
    #[arg(long, env = "LM_RATE_LIMIT", default_value_t = 50)]
    pub(crate) rate_limit: u32,
    /// Requests a client may send at once before the rate applies.
    #[arg(long, env = "LM_RATE_BURST", default_value_t = 100)]
    pub(crate) rate_burst: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub(crate) max_body: usize,
    /// Deadline of one request, e.g. 30s; imports get ten times as long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) request_timeout: Duration,
    /// How long a connection may take to send a request's head, from its opening or its
    /// previous answer; then it is closed (slow or idle clients).
    #[arg(long, env = "LM_IDLE_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub(crate) idle_timeout: Duration,
    /// How many connections one client address may hold at once; more are closed at once.
    #[arg(long, env = "LM_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections_per_client: u32,
    /// How long removed licenses stay restorable (and in the change feed as tombstones).
    #[arg(long, env = "LM_TOMBSTONE_RETENTION", default_value = "90days", value_parser = humantime::parse_duration)]
    pub(crate) tombstone_retention: Duration,
    /// Database connections per server process.
    #[arg(long, env = "LM_DB_CONNECTIONS", default_value_t = 16)]
    pub(crate) db_connections: u32,
    /// Lifetime of the access tokens the built-in authorization server issues.
    #[arg(long, env = "LM_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub(crate) access_token_ttl: Duration,
    /// Lifetime of a refresh token (each use rotates it).
    #[arg(long, env = "LM_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub(crate) refresh_token_ttl: Duration,
    /// How long an invitation or a password reset link may be used.
    #[arg(long, env = "LM_INVITATION_TTL", default_value = "7days", value_parser = humantime::parse_duration)]
    pub(crate) invitation_ttl: Duration,
    /// How long a device login waits for approval.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) device_code_ttl: Duration,
    /// The least time a device must wait between two polls of the token endpoint.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) device_poll_interval: Duration,
    /// Failed sign-ins in a row, from one address for one account, after which that address
    /// waits --login-lockout before trying that account again (others are not held up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_failed_logins: u32,
    /// How long an address waits after too many failed sign-ins for one account; each further
    /// failure doubles it (up to 64 times).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub(crate) login_lockout: Duration,
    /// How long a permission grant (the signed answer of a permission check) is good for at
    /// most; it ends with the license anyway.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub(crate) grant_lease: Duration,
    /// A member type (level 0) whose members use their units' seat licenses without taking
    /// a seat, e.g. teacher (repeatable). By default every member takes a seat.
    #[arg(long = "seat-free-type")]
    pub(crate) seat_free_types: Vec<String>,
    #[command(flatten)]
    pub(crate) hierarchy: HierarchyProviderArgs,
    /// Make a backup this often, e.g. 6h or 1day (off unless given).
    #[arg(long, env = "LM_BACKUP_EVERY", value_parser = humantime::parse_duration, requires = "backup_dir")]
    pub(crate) backup_every: Option<Duration>,
    /// Where scheduled backups go, as lm-YYYYMMDDTHHMMSSZ.lmbackup.
    #[arg(long, env = "LM_BACKUP_DIR")]
    pub(crate) backup_dir: Option<PathBuf>,
    /// How many scheduled backups to keep; older ones are removed.
    #[arg(long, env = "LM_BACKUP_KEEP", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) backup_keep: u32,
    #[command(flatten)]
    pub(crate) provider: ProviderArgs,
}

/// Remote Hierarchy Providers: the only addresses seat purchases and permission checks may
/// ask for memberships besides the built-in provider.
#[derive(Args)]
#[command(next_help_heading = "Hierarchy Providers")]
pub(crate) struct HierarchyProviderArgs {
    /// A remote Hierarchy Provider, NAME=BASE_URL (repeatable). Purchases name it by its
    /// base URL; any other URL is refused before a request is made.
    #[arg(long = "hierarchy-provider", value_parser = ProviderConfig::parse)]
    pub(crate) providers: Vec<ProviderConfig>,
    /// NAME=FILE: the bearer token to send to that provider, read from FILE.
    #[arg(long = "hierarchy-provider-token")]
    pub(crate) tokens: Vec<String>,
    /// How long a call to a Hierarchy Provider may take before it fails (502).
    #[arg(long = "hierarchy-provider-timeout", default_value = "2s", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// The longest a provider's membership answer is kept when its `Cache-Control: max-age`
    /// allows (0s: ask on every check).
    #[arg(long = "hierarchy-provider-max-age", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) max_age: Duration,
    /// How many calls this process makes to one provider at once; more wait their turn within
    /// the timeout.
    #[arg(long = "hierarchy-provider-concurrency", default_value_t = lm_server::hierarchy_providers::CALLS_AT_ONCE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) calls_at_once: u32,
}

impl HierarchyProviderArgs {
    pub(crate) fn providers(&self) -> anyhow::Result<HierarchyProviders> {
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
pub(crate) struct ProviderArgs {
    /// Accept the JWT access tokens of this OpenID provider (verified with the keys its
    /// discovery document names) instead of running the built-in authorization server.
    #[arg(long, env = "LM_ISSUER")]
    pub(crate) issuer: Option<String>,
    /// The `aud` tokens must carry; without it any token of the provider is accepted.
    #[arg(long, env = "LM_AUDIENCE")]
    pub(crate) audience: Option<String>,
    /// Dotted path of the claim that carries roles, e.g. `realm_access.roles` or `groups`.
    #[arg(long, env = "LM_ROLE_CLAIM", requires = "manager_value")]
    pub(crate) role_claim: Option<String>,
    /// The role claim's value (or one of its values) that makes a manager.
    #[arg(long, env = "LM_MANAGER_VALUE", requires = "role_claim")]
    pub(crate) manager_value: Option<String>,
    /// When given, only this value (or the manager value) lets someone in as an employee;
    /// without it everyone else with a valid token is an employee.
    #[arg(long, env = "LM_EMPLOYEE_VALUE", requires = "role_claim")]
    pub(crate) employee_value: Option<String>,
    /// Dotted path of the claim that names the caller's organization.
    #[arg(long, env = "LM_ORG_CLAIM", conflicts_with = "org")]
    pub(crate) org_claim: Option<String>,
    /// The one organization every token of the provider belongs to.
    #[arg(long, env = "LM_ORG")]
    pub(crate) org: Option<String>,
    /// The least time between two downloads of the provider's keys (an unknown `kid` asks for one).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) jwks_refetch_interval: Duration,
    /// Check opaque tokens by asking this RFC 7662 introspection endpoint.
    #[arg(long, env = "LM_INTROSPECTION_URL", requires = "introspection_client")]
    pub(crate) introspection_url: Option<String>,
    /// The client this server authenticates as at the introspection endpoint, as ID:SECRET
    /// (prefer the environment variable: arguments are visible to other local users).
    #[arg(
        long,
        env = "LM_INTROSPECTION_CLIENT",
        requires = "introspection_url",
        hide_env_values = true
    )]
    pub(crate) introspection_client: Option<String>,
    /// How long an introspection answer for an active token is reused (never past its expiry).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) introspection_cache: Duration,
    /// How long an introspection answer for an inactive token is reused.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) introspection_negative_cache: Duration,
}

impl ProviderArgs {
    /// The authenticator these flags ask for; the built-in one without any.
    pub(crate) async fn authenticator(&self, tokens: &TokenService) -> Result<Authenticator> {
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
