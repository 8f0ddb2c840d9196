//! The one door verdicts come back through. The console (and, later, the central database)
//! hands a verdict to the issues room's writer, which applies it under the store's lifecycle
//! rules on the same thread that files findings, announces the change like any other, and
//! answers with the issue as it now stands or the reason it refused.

use shaobing_core::Verdict;
use shaobing_metrics::Metrics;
use shaobing_store::{IssueRow, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Verdicts waiting for the writer: people click, they do not stream.
const QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    /// Refused by the store: an unknown issue, a change the lifecycle does not allow, a disk.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the daemon is stopping; the verdict was not applied")]
    Stopped,
}

/// What an operator asks of the writer.
#[derive(Debug)]
pub(crate) enum Decision {
    Verdict {
        verdict: Verdict,
        note: Option<String>,
        /// Names the verdict where it was taken, so that it is applied once.
        source: Option<String>,
    },
    /// Undo a dismissal's suppression.
    Lift,
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) actor: String,
    pub(crate) decision: Decision,
    pub(crate) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Issue(Box<IssueRow>),
    Lifted(bool),
}

/// Hands verdicts to the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Verdicts {
    tx: mpsc::Sender<Request>,
    metrics: Metrics,
}

/// The writer's end of [`Verdicts`].
#[derive(Debug)]
pub struct VerdictInbox(pub(crate) mpsc::Receiver<Request>);

pub fn verdicts(metrics: Metrics) -> (Verdicts, VerdictInbox) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (Verdicts { tx, metrics }, VerdictInbox(rx))
}

impl Verdicts {
    /// Applies `verdict` on issue `id` by `actor`; the issue as it now stands.
    pub async fn apply(
        &self,
        id: &str,
        verdict: Verdict,
        actor: &str,
        note: Option<String>,
    ) -> Result<IssueRow, VerdictError> {
        self.apply_from(id, verdict, actor, note, None).await
    }

    /// [`Verdicts::apply`] for a verdict named `source` where it was taken: applied once,
    /// however often it is handed over (a reconnect, a restart).
    pub async fn apply_from(
        &self,
        id: &str,
        verdict: Verdict,
        actor: &str,
        note: Option<String>,
        source: Option<String>,
    ) -> Result<IssueRow, VerdictError> {
        let name = verdict.as_str();
        let outcome = self.ask(id, actor, Decision::Verdict { verdict, note, source }).await?;
        let Outcome::Issue(row) = outcome else { return Err(VerdictError::Stopped) };
        self.metrics.verdict(&row.source, &row.category, name);
        Ok(*row)
    }

    /// Lifts the suppression a dismissal of issue `id` set; `false` when none was in force.
    pub async fn lift(&self, id: &str, actor: &str) -> Result<bool, VerdictError> {
        match self.ask(id, actor, Decision::Lift).await? {
            Outcome::Lifted(lifted) => Ok(lifted),
            Outcome::Issue(_) => Err(VerdictError::Stopped),
        }
    }

    async fn ask(&self, id: &str, actor: &str, decision: Decision) -> Result<Outcome, VerdictError> {
        let (reply, answer) = oneshot::channel();
        let request = Request { id: id.to_string(), actor: actor.to_string(), decision, reply };
        self.tx.send(request).await.map_err(|_| VerdictError::Stopped)?;
        Ok(answer.await.map_err(|_| VerdictError::Stopped)??)
    }
}
