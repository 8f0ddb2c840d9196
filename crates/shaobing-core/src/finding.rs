//! What every rule hands to the issues room, camera or sensor alike.

use crate::{CandidateIssue, UnixMillis};

/// Where a hazard stands in its life: raised now, still standing, or seen gone. Camera and
/// sensor rules share it, so the issues room has one lifecycle to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Opened,
    Ongoing,
    Cleared,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Opened => "opened",
            Phase::Ongoing => "ongoing",
            Phase::Cleared => "cleared",
        }
    }
}

/// A rule's finding, the one thing sources hand to the issues room.
#[derive(Debug, Clone)]
pub enum Finding {
    /// A hazard just raised: file the issue (or fold it into the open one with its key), with
    /// its evidence: a JPEG snapshot, or the readings around the event as JSON.
    Opened { issue: Box<CandidateIssue>, evidence: Option<Vec<u8>> },
    /// A hazard still standing: fold the sighting into its open issue. Now and then it carries
    /// fresh evidence (a snapshot, the readings): what a re-check that finds the hazard still
    /// there after it was marked handled keeps as its "still present" evidence.
    Ongoing { issue: Box<CandidateIssue>, evidence: Option<Vec<u8>> },
    /// The source saw the problem gone: resolve the open issue with this key, keeping the
    /// "after" snapshot that shows it.
    Cleared { dedup_key: String, actor: String, note: String, after: Option<(Vec<u8>, UnixMillis)> },
    /// The video around an `Opened` finding's moment, which comes `post_secs` after it: kept
    /// with the issue that finding filed (or folded into), dropped if it filed none.
    Clip { dedup_key: String, moment: UnixMillis, mp4: Vec<u8>, starts_at: UnixMillis },
}

impl Finding {
    pub fn phase(&self) -> Phase {
        match self {
            Finding::Opened { .. } => Phase::Opened,
            // More evidence of a hazard that stood.
            Finding::Ongoing { .. } | Finding::Clip { .. } => Phase::Ongoing,
            Finding::Cleared { .. } => Phase::Cleared,
        }
    }

    pub fn dedup_key(&self) -> &str {
        match self {
            Finding::Opened { issue, .. } | Finding::Ongoing { issue, .. } => &issue.dedup_key,
            Finding::Cleared { dedup_key, .. } | Finding::Clip { dedup_key, .. } => dedup_key,
        }
    }
}

/// A finding on its way to the issues room. A source that keeps its findings on disk until
/// they are filed (the sensor stage, which acknowledges readings before the issues room has
/// their findings) sends a [`Receipt`] with each one.
pub struct Filing {
    pub finding: Finding,
    pub receipt: Option<Receipt>,
}

impl std::fmt::Debug for Filing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filing").field("finding", &self.finding).field("receipt", &self.receipt).finish()
    }
}

impl From<Finding> for Filing {
    fn from(finding: Finding) -> Self {
        Self { finding, receipt: None }
    }
}

/// Names a durable finding, so that one handed over again after a crash is applied once, and
/// tells its source once the problem database holds it.
pub struct Receipt {
    pub id: String,
    filed: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Receipt {
    pub fn new(id: String, filed: impl FnOnce() + Send + 'static) -> Self {
        Self { id, filed: Box::new(filed) }
    }

    /// The problem database holds the finding (applied now, or already before a restart).
    pub fn filed(self) {
        (self.filed)();
    }
}
