//! The box's hash chain as the central database holds it, for `shaobing evidence verify
//! --central`: the centre is the copy a box cannot rewrite.

use crate::{CentralConfig, CentralConfigError, SinkError};
use shaobing_store::{ChainEntry, Content, Mismatch};
use tokio_postgres::{NoTls, Row};

/// What the centre holds of one box's chain, and its evidence whose bytes no longer match the
/// sha256 they arrived with.
#[derive(Debug, Clone, Default)]
pub struct CentralChain {
    pub entries: Vec<ChainEntry>,
    pub bad_data: Vec<Mismatch>,
}

/// Why the central chain could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadChainError {
    #[error(transparent)]
    Config(#[from] CentralConfigError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl CentralConfig {
    /// Reads `box_id`'s chain entries (history and evidence) from the central database.
    pub async fn read_chain(&self, box_id: &str) -> Result<CentralChain, ReadChainError> {
        let (client, connection) = self.connection()?.connect(NoTls).await.map_err(SinkError::from)?;
        let connection = tokio::spawn(connection);
        let result = read(&client, box_id).await;
        drop(client);
        let _ = connection.await;
        Ok(result?)
    }
}

async fn read(client: &tokio_postgres::Client, box_id: &str) -> Result<CentralChain, SinkError> {
    let history = client
        .query(
            "SELECT h.chain_seq, h.prev_hash, h.hash, h.issue_id, h.from_status, h.to_status, h.actor, h.note, h.at_ms
             FROM shaobing_status_history h JOIN shaobing_issues i ON i.id = h.issue_id
             WHERE i.box_id = $1 AND h.hash IS NOT NULL",
            &[&box_id],
        )
        .await?;
    let evidence = client
        .query(
            "SELECT e.chain_seq, e.prev_hash, e.hash, e.issue_id, e.kind, e.sha256, e.bytes, e.captured_ms,
                encode(sha256(e.data), 'hex') = e.sha256
             FROM shaobing_evidence e JOIN shaobing_issues i ON i.id = e.issue_id
             WHERE i.box_id = $1 AND e.hash IS NOT NULL",
            &[&box_id],
        )
        .await?;
    let mut chain = CentralChain::default();
    for r in &history {
        let content = Content::History {
            issue_id: r.get(3),
            from_status: r.get(4),
            to_status: r.get(5),
            actor: r.get(6),
            note: r.get(7),
            at_ms: r.get(8),
        };
        chain.entries.push(entry(r, content));
    }
    for r in &evidence {
        let content = Content::Evidence {
            issue_id: r.get(3),
            kind: r.get(4),
            sha256: r.get(5),
            bytes: r.get(6),
            captured_ms: r.get::<_, Option<i64>>(7).unwrap_or_default(),
        };
        let e = entry(r, content);
        if !r.get::<_, bool>(8) {
            let problem = "its bytes in the central database no longer match its sha256".into();
            chain.bad_data.push(Mismatch { seq: e.seq, entry: e.content.to_string(), problem });
        }
        chain.entries.push(e);
    }
    chain.entries.sort_by_key(|e| e.seq);
    Ok(chain)
}

fn entry(r: &Row, content: Content) -> ChainEntry {
    ChainEntry { seq: r.get::<_, Option<i64>>(0).unwrap_or_default(), prev_hash: r.get(1), hash: r.get(2), content }
}
