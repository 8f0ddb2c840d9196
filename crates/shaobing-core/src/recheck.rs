//! Issues marked handled that their sensor is to look at again (核查). The issues room names
//! them, each with when its re-check falls due; the sensor stage reports a standing episode of
//! one at its first reading after that instead of at its next `ongoing_every_secs`, so a
//! problem still there is reopened with the readings that show it, not a quarter of an hour
//! later.

use crate::UnixMillis;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared between the issues room (which sets it) and the sensor stage (which reads it).
#[derive(Debug, Clone, Default)]
pub struct RecheckWatch(Arc<Mutex<HashMap<String, UnixMillis>>>);

impl RecheckWatch {
    /// The re-checks waiting now, by dedup key, each with when it falls due.
    pub fn set(&self, due: impl IntoIterator<Item = (String, UnixMillis)>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = due.into_iter().collect();
    }

    /// Whether a reading at `t` of the episode `dedup_key` is what its re-check waits for; the
    /// first one is taken (the issues room names it again if it still waits).
    /// Whether the re-check of `dedup_key` is due at `t`, leaving it waiting: a camera sends
    /// snapshots until the issues room has concluded it.
    pub fn is_due(&self, dedup_key: &str, t: UnixMillis) -> bool {
        let due = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        due.get(dedup_key).is_some_and(|at| t >= *at)
    }

    pub fn take_due(&self, dedup_key: &str, t: UnixMillis) -> bool {
        self.take_due_with(|| dedup_key.to_string(), t)
    }

    /// As `take_due`, the key made only when some re-check waits: readings arrive by the
    /// thousand a second and almost none is awaited.
    pub fn take_due_with(&self, dedup_key: impl FnOnce() -> String, t: UnixMillis) -> bool {
        let mut due = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if due.is_empty() {
            return false;
        }
        let key = dedup_key();
        match due.get(&key) {
            Some(at) if t >= *at => due.remove(&key).is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_after_the_due_time_is_taken_once() {
        let watch = RecheckWatch::default();
        watch.set([("k".to_string(), UnixMillis(1_000))]);
        assert!(!watch.take_due("k", UnixMillis(999)), "not yet due");
        assert!(!watch.take_due("other", UnixMillis(5_000)), "not watched");
        assert!(watch.take_due("k", UnixMillis(1_000)));
        assert!(!watch.take_due("k", UnixMillis(2_000)), "taken");
        watch.set([("cam".to_string(), UnixMillis(1_000))]);
        assert!(!watch.is_due("cam", UnixMillis(999)) && watch.is_due("cam", UnixMillis(1_000)));
        assert!(watch.is_due("cam", UnixMillis(2_000)), "still waiting until the issues room ends it");
        watch.set([]);
        let made = std::cell::Cell::new(false);
        assert!(!watch.take_due_with(
            || {
                made.set(true);
                "k".into()
            },
            UnixMillis(3_000)
        ));
        assert!(!made.get(), "no key is made while nothing waits");
    }
}
