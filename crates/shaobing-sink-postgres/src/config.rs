//! The `[central]` section: where the outbox drains to.

use crate::drain::{DrainConfig, DrainStats, drain};
use serde::Deserialize;
use shaobing_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A configuration problem in `[central]`, pointing at the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct CentralConfigError {
    pub key: String,
    pub message: String,
}

fn invalid(key: &str, message: impl Into<String>) -> CentralConfigError {
    CentralConfigError { key: key.into(), message: message.into() }
}

/// The central problem database.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CentralConfig {
    /// libpq-style connection string or URL, without the password, e.g.
    /// `host=10.0.0.5 port=5432 user=shaobing dbname=whistle` or `postgresql://shaobing@10.0.0.5/whistle`.
    pub url: String,
    /// Password of the central database user; never printed.
    #[serde(default)]
    pub password: Option<shaobing_core::Secret>,
    /// Outbox rows per central transaction.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Failed deliveries before a row the central database rejects goes to the dead-letter table.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// Retired, no effect: it capped the readings the outbox used to carry. The outbox now holds
    /// only issues and their evidence, which are never shed. Still accepted (with a warning) so
    /// that existing configuration files load.
    #[serde(default)]
    pub outbox_max_bytes: Option<u64>,
}

fn default_batch() -> usize {
    200
}

fn default_max_attempts() -> i64 {
    5
}

impl CentralConfig {
    pub fn validate(&self) -> Result<(), CentralConfigError> {
        self.postgres_config()?;
        if !(1..=10_000).contains(&self.batch) {
            return Err(invalid("central.batch", format!("expected 1..=10000 rows, got {}", self.batch)));
        }
        if self.max_attempts < 1 {
            return Err(invalid("central.max_attempts", format!("expected at least 1, got {}", self.max_attempts)));
        }
        Ok(())
    }
}

impl CentralConfig {
    /// The connection settings `url` holds, which must not include a password in any of the
    /// forms libpq accepts (`password=`, `password = x`, `user:pw@` in a URL, `?password=`).
    /// Errors never repeat the URL: a mistyped one may hold the password anyway.
    fn postgres_config(&self) -> Result<tokio_postgres::Config, CentralConfigError> {
        if self.url.trim().is_empty() {
            return Err(invalid("central.url", "expected a connection string such as `host=… user=… dbname=…`"));
        }
        let config: tokio_postgres::Config = self.url.parse().map_err(|_| {
            invalid(
                "central.url",
                "not a connection string (`host=… user=… dbname=…` or `postgresql://user@host/db`); not repeated here, \
                 in case it holds a password",
            )
        })?;
        if config.get_password().is_some() {
            return Err(invalid(
                "central.url",
                "the connection string embeds a password; put it in central.password so the URL can be logged",
            ));
        }
        Ok(config)
    }

    /// How to connect: the URL, the password from its own key, short timeouts.
    pub(crate) fn connection(&self) -> Result<tokio_postgres::Config, CentralConfigError> {
        let mut postgres = self.postgres_config()?;
        if let Some(password) = &self.password {
            postgres.password(password.expose());
        }
        postgres.connect_timeout(Duration::from_secs(5)).keepalives_idle(Duration::from_secs(10));
        Ok(postgres)
    }

    /// The drain toward the central database, on its own connection to the box's store
    /// (`store`), woken by `wake` when an issue is filed or resolved; with `verdicts`, it also
    /// brings the command centre's verdicts for this box back.
    pub fn drain(
        &self,
        store: Store,
        wake: Arc<Notify>,
        verdicts: Option<crate::Inbound>,
        cancel: CancellationToken,
    ) -> Result<impl Future<Output = ()> + Send + 'static, CentralConfigError> {
        let postgres = self.connection()?;
        if self.outbox_max_bytes.is_some() {
            tracing::warn!("central.outbox_max_bytes has no effect (issues are never shed); remove it");
        }
        let config =
            DrainConfig { batch: self.batch, max_attempts: self.max_attempts, verdicts, ..DrainConfig::new(postgres) };
        let stats = Arc::new(DrainStats::default());
        Ok(drain(Arc::new(Mutex::new(store)), config, wake, stats, cancel))
    }
}
