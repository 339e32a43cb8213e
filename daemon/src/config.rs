//! lmd's settings: a TOML file under the user's config directory, overridden by flags and
//! environment variables. Every key is documented in `daemon/lmd.example.toml`.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file as written. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: Option<String>,
    /// The OpenID provider to log in with, when it is not lm-server's built-in one.
    pub issuer: Option<String>,
    /// The client id registered for lm at the provider (default `lm`).
    pub client_id: Option<String>,
    /// The scopes to ask the provider for (default `openid offline_access licenses`).
    pub scopes: Option<Vec<String>>,
    pub token_file: Option<PathBuf>,
    pub login_file: Option<PathBuf>,
    /// Keep the login in the OS keyring (the Secret Service) when one runs (default true).
    pub keyring: Option<bool>,
    pub socket: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    #[serde(default, with = "humantime_serde_opt")]
    pub poll_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    pub max_backoff: Option<Duration>,
    /// Days before expiry to alert at.
    pub alert_days: Option<Vec<u32>>,
    /// `all` (every license you can see) or `mine` (assigned to you).
    pub alert_scope: Option<Scope>,
    /// Raise desktop notifications for alerts.
    pub notifications: Option<bool>,
}

/// Which licenses alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every license the user can see.
    All,
    /// Only licenses assigned to the user.
    Mine,
}

#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Days before expiry to alert at, e.g. [30, 7, 1, 0], when lmd's own configuration says;
    /// otherwise the organization's (`Shared::alert_days`).
    pub thresholds: Option<Vec<u32>>,
    pub scope: Scope,
    /// Raise desktop notifications (clients are told either way).
    pub notify: bool,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            thresholds: None,
            scope: Scope::All,
            notify: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigFile {
    /// Reads `path`. A missing file is an empty configuration unless it was asked for.
    pub fn load(path: &Path, required: bool) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(ConfigFile::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let config: ConfigFile = toml::from_str(text).map_err(|e| {
            // Name the key of the offending line, as `key: problem`.
            let key = e.span().and_then(|span| {
                let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
                let line = text[start..].lines().next()?;
                Some(line.split('=').next()?.trim().to_owned())
            });
            match key {
                Some(key) if !key.is_empty() && !e.message().contains(&key) => {
                    format!("{key}: {}", e.message())
                }
                _ => e.message().to_owned(),
            }
        })?;
        if let Some(issuer) = &config.issuer
            && !(issuer.starts_with("http://") || issuer.starts_with("https://"))
        {
            return Err(format!(
                "issuer: `{issuer}` is not an http:// or https:// URL"
            ));
        }
        if let Some(server) = &config.server
            && !(server.starts_with("http://") || server.starts_with("https://"))
        {
            return Err(format!(
                "server: `{server}` is not an http:// or https:// URL"
            ));
        }
        Ok(config)
    }
}

/// The default config file: `$XDG_CONFIG_HOME/lm/lmd.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("lm").join("lmd.toml"))
}

/// The default token file: `$XDG_CONFIG_HOME/lm/token`.
pub fn default_token_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("lm").join("token"))
}

/// Where a login is kept: `$XDG_STATE_HOME/lm/login.json` (or the data directory).
pub fn default_login_file() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("lm").join("login.json"))
}

/// The default cache: `$XDG_CACHE_HOME/lm/cache`.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("lm").join("cache"))
}

/// Durations written as humantime text: `"30s"`, `"5m"`.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let raw = String::deserialize(d)?;
        humantime::parse_duration(&raw).map(Some).map_err(|e| {
            serde::de::Error::custom(format!("`{raw}` is not a duration like 30s or 5m: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../lmd.example.toml");
        let config = ConfigFile::parse(text).unwrap();
        assert_eq!(config.poll_interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = ConfigFile::parse("sevrer = \"http://x\"").unwrap_err();
        assert!(unknown.contains("sevrer"), "{unknown}");
        let bad = ConfigFile::parse("poll_interval = \"often\"").unwrap_err();
        assert!(bad.contains("often"), "{bad}");
        let url = ConfigFile::parse("server = \"lm.example.org\"").unwrap_err();
        assert!(url.starts_with("server:"), "{url}");
    }
}
