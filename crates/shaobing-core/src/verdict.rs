//! What people decide about an issue. Every verdict, whoever takes it (the console, the CLI,
//! the central database), goes through the same lifecycle rules in the problem database.

use crate::IssueStatus;
use serde::{Deserialize, Serialize};

/// Why a candidate was dismissed: the reason travels with the dismissal and decides nothing
/// else, but a command centre counts them (a camera whose candidates are mostly `permitted`
/// needs its zones' hours, one mostly `wrong_category` its detector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DismissReason {
    NotAProblem,
    WrongCategory,
    Permitted,
    Duplicate,
}

impl DismissReason {
    pub const ALL: [DismissReason; 4] =
        [DismissReason::NotAProblem, DismissReason::WrongCategory, DismissReason::Permitted, DismissReason::Duplicate];

    pub fn as_str(self) -> &'static str {
        match self {
            DismissReason::NotAProblem => "not_a_problem",
            DismissReason::WrongCategory => "wrong_category",
            DismissReason::Permitted => "permitted",
            DismissReason::Duplicate => "duplicate",
        }
    }
}

impl std::str::FromStr for DismissReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown dismiss reason `{s}` (expected one of {})", names.join(", "))
        })
    }
}

/// One decision about an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// A real problem: the candidate becomes an issue to act on.
    Confirm,
    /// Not one to act on; the same place and category are not filed again for a while.
    Dismiss { reason: DismissReason },
    /// Handed to a department.
    Dispatch,
    /// The department says it is dealt with; the camera or the readings then check it.
    Handled,
    /// Seen dealt with.
    Verify,
    /// A note in the history; the status stays.
    Note,
    /// An emergency seen by the command centre: its alarm stops; the status stays.
    Acknowledge,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Confirm => "confirm",
            Verdict::Dismiss { .. } => "dismiss",
            Verdict::Dispatch => "dispatch",
            Verdict::Handled => "handled",
            Verdict::Verify => "verify",
            Verdict::Note => "note",
            Verdict::Acknowledge => "acknowledge",
        }
    }

    /// The status the verdict moves an issue to; `None` for a note.
    pub fn status(&self) -> Option<IssueStatus> {
        match self {
            Verdict::Confirm => Some(IssueStatus::Confirmed),
            Verdict::Dismiss { .. } => Some(IssueStatus::Dismissed),
            Verdict::Dispatch => Some(IssueStatus::Dispatched),
            Verdict::Handled => Some(IssueStatus::Resolved),
            Verdict::Verify => Some(IssueStatus::Verified),
            Verdict::Note | Verdict::Acknowledge => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_as_the_api_writes_them() {
        let v: Verdict = serde_json::from_str(r#"{"verdict":"dismiss","reason":"permitted"}"#).unwrap();
        assert_eq!(v, Verdict::Dismiss { reason: DismissReason::Permitted });
        assert_eq!(v.status(), Some(IssueStatus::Dismissed));
        let v: Verdict = serde_json::from_str(r#"{"verdict":"handled"}"#).unwrap();
        assert_eq!((v.as_str(), v.status()), ("handled", Some(IssueStatus::Resolved)));
        assert!(serde_json::from_str::<Verdict>(r#"{"verdict":"dismiss"}"#).is_err(), "a dismissal needs its reason");
        assert_eq!("duplicate".parse::<DismissReason>(), Ok(DismissReason::Duplicate));
        assert!("meh".parse::<DismissReason>().unwrap_err().contains("not_a_problem, wrong_category"));
    }
}
