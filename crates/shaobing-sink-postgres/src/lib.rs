//! The sink toward the district's command centre: the outbox of the box's problem database
//! drained into the central PostgreSQL.
//!
//! Delivery is at least once; the central tables make it idempotent (issues keyed by their
//! id with a version guard, evidence by issue, kind and sha256), so a batch sent again after a
//! crash or a cut link changes nothing. A row the central database rejects (a poison row) is
//! retried a few times and then moved to the box's dead-letter table instead of blocking the
//! rest.
//!
//! The same connection brings the command centre's verdicts back (`shaobing_verdicts`), each
//! applied once on the box through the issues room's one door.

mod central;
mod config;
mod drain;
mod verdicts;
mod verify;

pub use central::{CentralIssue, migrate};
pub use config::{CentralConfig, CentralConfigError};
pub use drain::{DrainConfig, DrainStats, drain};
pub use verdicts::Inbound;
pub use verify::{CentralChain, ReadChainError};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("central database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Store(#[from] shaobing_store::StoreError),
    #[error("outbox row {seq}: {message}")]
    BadRow { seq: i64, message: String },
}
