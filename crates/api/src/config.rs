//! Configuration: one typed struct from defaults, an optional TOML file and `BILLING_*`
//! environment variables (`BILLING_AUTH__HS256_SECRET`, `BILLING_SERVER__BIND`, ...), plus
//! `DATABASE_URL`. Validated at start-up; secrets are never printed.

use std::fmt;
use std::path::PathBuf;

use billing_domain::period::BillingOffset;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The file read when it exists (or the one named by `BILLING_CONFIG`).
pub const DEFAULT_CONFIG_FILE: &str = "billing.toml";

/// The public development secret: used only with `serve --demo`, `serve --insecure-dev-key` or
/// `token --insecure-dev-key`, never just because no key is configured. Anyone can read it here,
/// so tokens it signs prove nothing.
pub const DEV_SECRET: &str = "billing-dev-secret-do-not-use-in-production-0123456789";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub billing: BillingSettings,
    pub mail: MailSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    /// Public base URL, written into the OpenAPI document's `servers`.
    pub public_url: String,
    /// Largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
    pub workers: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `sqlite://billing.db?mode=rwc` (default) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL schema (search path); empty for the server's default.
    pub schema: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthSettings {
    /// HS256 shared secret (at least 32 bytes) for tokens minted by `billing token`. Empty or
    /// blank: none.
    pub hs256_secret: String,
    /// PEM public key for RS256 or EdDSA tokens from an external identity provider.
    pub public_key_pem: String,
    /// `RS256` or `EdDSA`: the algorithm of `public_key_pem`.
    pub public_key_algorithm: String,
    /// PEM private key matching `public_key_pem`, only for `billing token`.
    pub private_key_pem: String,
    /// Required `iss` claim.
    pub issuer: String,
    /// Required `aud` claim.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Use the public development secret when no key is configured. Set only by the command
    /// line (`--demo`, `--insecure-dev-key`), never by a file or the environment.
    #[serde(skip)]
    pub insecure_dev_key: bool,
}

impl AuthSettings {
    /// The HS256 secret, unless it is empty or blank (which counts as none).
    pub fn hs256_secret(&self) -> Option<&str> {
        Some(self.hs256_secret.as_str()).filter(|s| !s.trim().is_empty())
    }

    /// The identity provider's public key, unless empty or blank.
    pub fn public_key_pem(&self) -> Option<&str> {
        Some(self.public_key_pem.as_str()).filter(|s| !s.trim().is_empty())
    }

    /// The private key for `billing token`, unless empty or blank.
    pub fn private_key_pem(&self) -> Option<&str> {
        Some(self.private_key_pem.as_str()).filter(|s| !s.trim().is_empty())
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| {
            if s.is_empty() {
                "<unset>"
            } else {
                "<redacted>"
            }
        };
        f.debug_struct("AuthSettings")
            .field("hs256_secret", &redact(&self.hs256_secret))
            .field("public_key_pem", &redact(&self.public_key_pem))
            .field("public_key_algorithm", &self.public_key_algorithm)
            .field("private_key_pem", &redact(&self.private_key_pem))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("insecure_dev_key", &self.insecure_dev_key)
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BillingSettings {
    /// Billing UTC offset of new accounts that do not name one (`+09:00`).
    pub default_offset: String,
    /// How long after a period ends its invoice is finalized (`1d`, `12h`; at most 3 days, so
    /// invoices are final before the charge on the 5th).
    pub finalize_grace: String,
    /// How often `billing serve` runs billing (`15m`; `0s` turns the job off).
    pub run_every: String,
    /// The seller named on invoices (the provider's company).
    pub seller_name: String,
    /// The day of the month finalized invoices are charged, in each account's offset (1 to
    /// 28; default 5).
    pub charge_day: u8,
    /// When a softly declined charge is tried again, after the first attempt: a comma-separated
    /// list of increasing durations (default `1d,3d,7d`; empty: never).
    pub retry_after: String,
    /// The payment gateway cards are registered and charged with: `sandbox` (the built-in
    /// one, the default).
    pub gateway: String,
    pub webhooks: WebhookConfig,
    pub events: EventConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Allow plain `http` URLs and loopback, link-local and private-network targets
    /// (development and demos; `--demo` sets it). Off by default: no request forgery through a
    /// webhook URL.
    pub allow_private_targets: bool,
    /// How long an endpoint may take to answer (`15s`).
    pub timeout: String,
    /// How often the sender in `billing serve` looks for deliveries due (`200ms`; `0s` turns
    /// it off).
    pub poll_every: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventConfig {
    /// How long events (and their deliveries) are kept (`90d`).
    pub retention: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailSettings {
    /// The SMTP server: `smtp://127.0.0.1:1025`, `smtps://user:password@smtp.example.com:465`.
    /// Empty: mail is logged, not sent.
    pub smtp_url: String,
    /// The sender of billing mail.
    pub from: String,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("MailSettings")
            .field(
                "smtp_url",
                &if self.smtp_url.is_empty() {
                    "<unset>"
                } else {
                    "<redacted>"
                },
            )
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogSettings {
    /// `json` (structured, default) or `pretty`.
    pub format: String,
    /// An `EnvFilter` directive such as `info` or `billing_api=debug,info`.
    pub filter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings {
                bind: "127.0.0.1:8080".into(),
                public_url: "http://127.0.0.1:8080".into(),
                json_limit_bytes: 1024 * 1024,
                workers: 2,
            },
            database: DatabaseSettings {
                url: "sqlite://billing.db?mode=rwc".into(),
                max_connections: 10,
                schema: String::new(),
            },
            auth: AuthSettings {
                hs256_secret: String::new(),
                public_key_pem: String::new(),
                public_key_algorithm: "RS256".into(),
                private_key_pem: String::new(),
                issuer: "billing".into(),
                audience: "billing-api".into(),
                leeway_seconds: 30,
                insecure_dev_key: false,
            },
            billing: BillingSettings {
                default_offset: "+00:00".into(),
                finalize_grace: "1d".into(),
                run_every: "15m".into(),
                seller_name: "Billing API".into(),
                charge_day: 5,
                retry_after: "1d,3d,7d".into(),
                gateway: billing_application::payments::gateway::SANDBOX.into(),
                webhooks: WebhookConfig {
                    allow_private_targets: false,
                    timeout: "15s".into(),
                    poll_every: "200ms".into(),
                },
                events: EventConfig {
                    retention: "90d".into(),
                },
            },
            mail: MailSettings {
                smtp_url: String::new(),
                from: "billing@localhost".into(),
            },
            log: LogSettings {
                format: "json".into(),
                filter: "info".into(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then the config file, then `BILLING_*` variables, then `DATABASE_URL`.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var_os("BILLING_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let mut figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("BILLING_").split("__").ignore(&["config"]));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                figment = figment.merge(("database.url", url));
            }
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        BillingOffset::parse(&self.billing.default_offset)
            .map_err(|e| ConfigError::Invalid(format!("billing.default_offset: {e}")))?;
        if self
            .auth
            .hs256_secret()
            .is_some_and(|secret| secret.len() < 32)
        {
            return Err(ConfigError::Invalid(
                "auth.hs256_secret must be at least 32 bytes".into(),
            ));
        }
        self.finalize_grace()?;
        self.billing_run_every()?;
        self.charge_day()?;
        self.retry_schedule()?;
        self.webhook_settings()?;
        self.webhook_poll_every()?;
        self.event_retention()?;
        if !billing_application::payments::gateway::GATEWAYS.contains(&self.billing.gateway.trim())
        {
            return Err(ConfigError::Invalid(format!(
                "billing.gateway must be one of: {}",
                billing_application::payments::gateway::GATEWAYS.join(", ")
            )));
        }
        if !matches!(self.auth.public_key_algorithm.as_str(), "RS256" | "EdDSA") {
            return Err(ConfigError::Invalid(
                "auth.public_key_algorithm must be RS256 or EdDSA".into(),
            ));
        }
        if self.server.json_limit_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.json_limit_bytes must be at least 1024".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            return Err(ConfigError::Invalid(
                "log.format must be json or pretty".into(),
            ));
        }
        Ok(())
    }

    /// The grace after a period before its invoice is finalized.
    pub fn finalize_grace(&self) -> Result<time::Duration, ConfigError> {
        let invalid = || {
            ConfigError::Invalid(
                "billing.finalize_grace must be a duration such as 1d or 12h, at most 3 days"
                    .into(),
            )
        };
        let grace =
            humantime::parse_duration(&self.billing.finalize_grace).map_err(|_| invalid())?;
        let grace = time::Duration::try_from(grace).map_err(|_| invalid())?;
        if grace > billing_domain::invoices::finalization::MAX_GRACE {
            return Err(invalid());
        }
        Ok(grace)
    }

    /// The day of the month invoices are charged.
    pub fn charge_day(&self) -> Result<billing_domain::payments::ChargeDay, ConfigError> {
        billing_domain::payments::ChargeDay::new(self.billing.charge_day)
            .map_err(|e| ConfigError::Invalid(format!("billing.charge_day: {e}")))
    }

    /// When softly declined charges are tried again.
    pub fn retry_schedule(&self) -> Result<billing_domain::payments::RetrySchedule, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid(format!("billing.retry_after: {why}"));
        let delays = self
            .billing
            .retry_after
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let parsed = humantime::parse_duration(d)
                    .map_err(|_| invalid("each delay is a duration such as 1d or 36h".into()))?;
                time::Duration::try_from(parsed).map_err(|e| invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        billing_domain::payments::RetrySchedule::new(delays).map_err(|e| invalid(e.to_string()))
    }

    /// How often `billing serve` runs billing; `None` when the job is off.
    pub fn billing_run_every(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        let every = humantime::parse_duration(&self.billing.run_every).map_err(|_| {
            ConfigError::Invalid("billing.run_every must be a duration such as 15m or 0s".into())
        })?;
        Ok((!every.is_zero()).then_some(every))
    }

    /// How webhooks are sent.
    pub fn webhook_settings(
        &self,
    ) -> Result<billing_application::state::WebhookSettings, ConfigError> {
        let timeout = humantime::parse_duration(&self.billing.webhooks.timeout)
            .ok()
            .filter(|t| !t.is_zero() && *t <= std::time::Duration::from_secs(60))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "billing.webhooks.timeout must be a duration from 1ms to 60s, such as 15s"
                        .into(),
                )
            })?;
        Ok(billing_application::state::WebhookSettings {
            allow_private_targets: self.billing.webhooks.allow_private_targets,
            timeout,
        })
    }

    /// How often the webhook sender looks for deliveries; `None` when it is off.
    pub fn webhook_poll_every(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        let every = humantime::parse_duration(&self.billing.webhooks.poll_every).map_err(|_| {
            ConfigError::Invalid(
                "billing.webhooks.poll_every must be a duration such as 200ms or 0s".into(),
            )
        })?;
        Ok((!every.is_zero()).then_some(every))
    }

    /// How long events are kept.
    pub fn event_retention(&self) -> Result<time::Duration, ConfigError> {
        humantime::parse_duration(&self.billing.events.retention)
            .ok()
            .and_then(|d| time::Duration::try_from(d).ok())
            .filter(|d| *d >= time::Duration::days(1))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "billing.events.retention must be a duration of at least 1d, such as 90d"
                        .into(),
                )
            })
    }

    /// The default billing offset (validated by [`Settings::validate`]).
    pub fn default_offset(&self) -> BillingOffset {
        BillingOffset::parse(&self.billing.default_offset).unwrap_or(BillingOffset::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = "super-secret-value-that-is-long-enough".into();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("super-secret"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn validation_refuses_short_secrets_and_bad_offsets() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = "short".into();
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.billing.default_offset = "+25:00".into();
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.billing.finalize_grace = "4d".into();
        assert!(settings.validate().is_err());
        settings.billing.finalize_grace = "soon".into();
        assert!(settings.validate().is_err());
        settings.billing.finalize_grace = "12h".into();
        let mut unknown = settings.clone();
        unknown.billing.gateway = "stripe".into();
        assert!(unknown.validate().is_err());
        assert_eq!(
            settings.finalize_grace().ok(),
            Some(time::Duration::hours(12))
        );
        assert!(Settings::default().validate().is_ok());
    }
}
