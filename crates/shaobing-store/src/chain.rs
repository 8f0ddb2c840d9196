//! A tamper-evident record: every status-history entry and every evidence row of the box joins
//! one hash chain, in the transaction that writes it. Each entry's hash covers the hash of the
//! entry before it and its own content (for evidence: the file's sha256, so the file is covered
//! too), so changing, removing or inserting an entry breaks every hash after it, and a changed
//! file no longer matches its row. The chain travels centrally with the issues; the central
//! copy anchors it (a box rewritten from some entry on no longer matches what the centre holds).
//! `shaobing evidence verify [--central]` checks it and names the first entry that does not match.

use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says, in the form its hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Content {
    History {
        issue_id: String,
        from_status: Option<String>,
        to_status: String,
        actor: String,
        note: Option<String>,
        at_ms: i64,
    },
    Evidence {
        issue_id: String,
        kind: String,
        sha256: String,
        bytes: i64,
        captured_ms: i64,
    },
}

impl Content {
    /// A JSON array: unambiguous whatever the strings hold.
    fn canonical(&self) -> String {
        let value = match self {
            Content::History { issue_id, from_status, to_status, actor, note, at_ms } => {
                serde_json::json!(["history", issue_id, from_status, to_status, actor, note, at_ms])
            }
            Content::Evidence { issue_id, kind, sha256, bytes, captured_ms } => {
                serde_json::json!(["evidence", issue_id, kind, sha256, bytes, captured_ms])
            }
        };
        value.to_string()
    }

    pub fn issue_id(&self) -> &str {
        match self {
            Content::History { issue_id, .. } | Content::Evidence { issue_id, .. } => issue_id,
        }
    }
}

impl std::fmt::Display for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::History { issue_id, from_status, to_status, actor, at_ms, .. } => write!(
                f,
                "history of issue {issue_id}: {} -> {to_status} by {actor} at {at_ms}",
                from_status.as_deref().unwrap_or("(new)")
            ),
            Content::Evidence { issue_id, kind, sha256, .. } => {
                write!(f, "{kind} evidence of issue {issue_id} (sha256 {sha256})")
            }
        }
    }
}

/// The hash of an entry with `content` after the entry whose hash is `prev`.
pub fn entry_hash(prev: &str, content: &Content) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(content.canonical().as_bytes());
    hex::encode(h.finalize())
}

/// One link of the chain as stored (here or centrally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub content: Content,
}

/// Where an entry's place in the chain is kept on its row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Link {
    pub chain_seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Appends `content` to the box's chain: the link to store on its row.
pub(crate) fn append(tx: &Transaction<'_>, content: &Content) -> rusqlite::Result<(i64, String, String)> {
    let (seq, prev): (i64, String) = tx
        .query_row("SELECT seq, hash FROM chain_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap_or((0, GENESIS.to_string()));
    let hash = entry_hash(&prev, content);
    tx.execute(
        "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
        params![seq + 1, hash],
    )?;
    Ok((seq + 1, prev, hash))
}

/// Rows written before the chain existed join it at the next start, oldest first.
pub(crate) fn backfill(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let history: Vec<(i64, Content)> = {
        let mut stmt = tx.prepare(
            "SELECT id, issue_id, from_status, to_status, actor, note, at_ms FROM status_history
             WHERE chain_seq IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, history_content(r, 1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let evidence: Vec<(i64, Content)> = {
        let mut stmt = tx.prepare(
            "SELECT id, issue_id, kind, sha256, bytes, captured_ms FROM evidence WHERE chain_seq IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, evidence_content(r, 1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let n = history.len() + evidence.len();
    for (table, rows) in [("status_history", history), ("evidence", evidence)] {
        for (id, content) in rows {
            let (seq, prev, hash) = append(&tx, &content)?;
            tx.execute(
                &format!("UPDATE {table} SET chain_seq = ?2, prev_hash = ?3, hash = ?4 WHERE id = ?1"),
                params![id, seq, prev, hash],
            )?;
        }
    }
    tx.commit()?;
    Ok(n)
}

pub(crate) fn history_content(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Content> {
    Ok(Content::History {
        issue_id: r.get(first)?,
        from_status: r.get(first + 1)?,
        to_status: r.get(first + 2)?,
        actor: r.get(first + 3)?,
        note: r.get(first + 4)?,
        at_ms: r.get(first + 5)?,
    })
}

pub(crate) fn evidence_content(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Content> {
    Ok(Content::Evidence {
        issue_id: r.get(first)?,
        kind: r.get(first + 1)?,
        sha256: r.get(first + 2)?,
        bytes: r.get(first + 3)?,
        captured_ms: r.get(first + 4)?,
    })
}

/// A box's chain as stored: its entries in order and the head (number, hash) it should end at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    pub entries: Vec<ChainEntry>,
    pub head: Option<(i64, String)>,
}

/// Every entry of the box's chain, in order, and the head it should end at.
pub(crate) fn entries(conn: &Connection) -> rusqlite::Result<Chain> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT chain_seq, prev_hash, hash, issue_id, from_status, to_status, actor, note, at_ms FROM status_history
         WHERE chain_seq IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ChainEntry { seq: r.get(0)?, prev_hash: r.get(1)?, hash: r.get(2)?, content: history_content(r, 3)? })
    })?;
    out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    let mut stmt = conn.prepare(
        "SELECT chain_seq, prev_hash, hash, issue_id, kind, sha256, bytes, captured_ms FROM evidence
         WHERE chain_seq IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ChainEntry { seq: r.get(0)?, prev_hash: r.get(1)?, hash: r.get(2)?, content: evidence_content(r, 3)? })
    })?;
    out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    out.sort_by_key(|e| e.seq);
    let head = conn.query_row("SELECT seq, hash FROM chain_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)));
    Ok(Chain { entries: out, head: head.ok() })
}

/// What does not match, at the chain entry `seq` (entries are counted from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub seq: i64,
    /// The entry, as a person reads it; empty for an entry that is missing.
    pub entry: String,
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry.is_empty() {
            true => write!(f, "entry {}: {}", self.seq, self.problem),
            false => write!(f, "entry {} ({}): {}", self.seq, self.entry, self.problem),
        }
    }
}

/// Checks that `entries` (in order) form an unbroken chain from the genesis to `head`: each
/// numbered one after the other, each following the hash before it, each hash its content's.
pub fn verify(entries: &[ChainEntry], head: Option<(i64, &str)>) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let (mut expected_seq, mut prev) = (1, GENESIS.to_string());
    for e in entries {
        let at = |problem: String| Mismatch { seq: e.seq, entry: e.content.to_string(), problem };
        if e.seq != expected_seq {
            found.push(Mismatch { seq: expected_seq, entry: String::new(), problem: "missing".into() });
        }
        if e.prev_hash != prev {
            found.push(at("does not follow the entry before it (its previous hash differs)".into()));
        }
        if entry_hash(&e.prev_hash, &e.content) != e.hash {
            found.push(at("changed after it was written (its content does not match its hash)".into()));
        }
        (expected_seq, prev) = (e.seq + 1, e.hash.clone());
    }
    if let Some((seq, hash)) = head
        && (seq != expected_seq - 1 || hash != prev)
    {
        found.push(Mismatch {
            seq: expected_seq,
            entry: String::new(),
            problem: format!("the chain ends before its recorded head (entry {seq}): entries are missing"),
        });
    }
    found
}

/// The box's chain against the central copy of it: each central entry must hash to itself and
/// equal the box's entry of its number. Returns what does not match and how many of the box's
/// entries the centre does not hold yet (still in the outbox).
pub fn compare(local: &[ChainEntry], central: &[ChainEntry]) -> (Vec<Mismatch>, usize) {
    let by_seq: std::collections::HashMap<i64, &ChainEntry> = local.iter().map(|e| (e.seq, e)).collect();
    let mut found = Vec::new();
    for c in central {
        let at = |problem: &str| Mismatch { seq: c.seq, entry: c.content.to_string(), problem: problem.into() };
        if entry_hash(&c.prev_hash, &c.content) != c.hash {
            found.push(at("changed in the central database (its content does not match its hash)"));
        }
        match by_seq.get(&c.seq) {
            None => found.push(at("in the central database but not on the box")),
            Some(l) if l.hash != c.hash => {
                found.push(at("differs from the central copy: the box's record was rewritten"))
            }
            Some(_) => {}
        }
    }
    found.sort_by_key(|m| m.seq);
    let held: std::collections::HashSet<i64> = central.iter().map(|c| c.seq).collect();
    (found, local.iter().filter(|l| !held.contains(&l.seq)).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(at_ms: i64) -> Content {
        Content::History {
            issue_id: "i1".into(),
            from_status: None,
            to_status: "candidate".into(),
            actor: "shaobing".into(),
            note: Some("a \"quoted\" | note".into()),
            at_ms,
        }
    }

    fn chain(n: i64) -> Vec<ChainEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let content = history(seq);
                let hash = entry_hash(&prev, &content);
                let e = ChainEntry { seq, prev_hash: prev.clone(), hash: hash.clone(), content };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_unbroken_chain_verifies_and_each_kind_of_break_is_named_at_its_entry() {
        let good = chain(5);
        assert_eq!(verify(&good, Some((5, &good[4].hash))), vec![]);
        let mut edited = good.clone();
        if let Content::History { actor, .. } = &mut edited[2].content {
            *actor = "someone else".into();
        }
        let found = verify(&edited, None);
        assert_eq!(found.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3]);
        assert!(found[0].to_string().contains("someone else"), "{}", found[0]);
        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(verify(&removed, None)[0].seq, 2, "a missing entry is named");
        let truncated = &good[..3];
        assert_eq!(verify(truncated, Some((5, &good[4].hash)))[0].seq, 4);
    }

    #[test]
    fn a_box_rewritten_from_an_entry_on_no_longer_matches_the_centre() {
        let good = chain(5);
        assert_eq!(compare(&good, &good[..4]), (vec![], 1), "one entry not sent yet");
        // Entry 3 edited and every hash after it recomputed: the box's own chain verifies...
        let mut rewritten = good.clone();
        let mut prev = rewritten[1].hash.clone();
        for e in &mut rewritten[2..] {
            if let Content::History { actor, .. } = &mut e.content {
                *actor = "forger".into();
            }
            e.prev_hash = prev.clone();
            e.hash = entry_hash(&prev, &e.content);
            prev = e.hash.clone();
        }
        assert_eq!(verify(&rewritten, None), vec![]);
        // ...but not against the centre, which names the first entry rewritten.
        let (found, _) = compare(&rewritten, &good);
        assert_eq!(found.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
    }
}
