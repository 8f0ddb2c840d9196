//! The queue in front of the shared key-frame decoders.
//!
//! Cameras connected together (a box coming back after a power cut, or a server that starts
//! every session at a key frame) send their key frames together, every GOP. A bounded channel
//! that refuses what does not fit lost most of such a burst, and lost it again every GOP; the
//! watchdog then restarted the cameras that had no frame, which connected them together again.
//! Here a burst waits instead: bounded per camera rather than overall, taken in arrival order,
//! so that every camera's key frame is decoded in turn, late rather than lost. A frame still
//! waiting at its deadline is stale (its camera's next one is on the way) and is shed, counted,
//! without costing a decode.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Why a queued item left without being taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// It was still waiting at its deadline.
    Expired,
    /// Its owner had as many items waiting as it may, and a newer one came.
    Displaced,
}

pub(crate) struct DeadlineQueue<T> {
    waiting: Mutex<VecDeque<Waiting<T>>>,
    ready: Condvar,
    per_owner: usize,
}

struct Waiting<T> {
    owner: usize,
    deadline: Instant,
    item: T,
}

impl<T> DeadlineQueue<T> {
    /// A queue holding at most `per_owner` items of each owner.
    pub fn new(per_owner: usize) -> Self {
        Self { waiting: Mutex::new(VecDeque::new()), ready: Condvar::new(), per_owner: per_owner.max(1) }
    }

    /// Queues `item` of `owner`, to be taken before `deadline`; returns the owner's oldest item
    /// when it makes room for this one.
    pub fn push(&self, owner: usize, deadline: Instant, item: T) -> Option<T> {
        let mut waiting = self.lock();
        let displaced = if waiting.iter().filter(|w| w.owner == owner).count() >= self.per_owner {
            let oldest = waiting.iter().position(|w| w.owner == owner);
            oldest.and_then(|i| waiting.remove(i)).map(|w| w.item)
        } else {
            None
        };
        waiting.push_back(Waiting { owner, deadline, item });
        drop(waiting);
        self.ready.notify_one();
        displaced
    }

    /// Waits for the oldest item whose deadline has not passed; those that have are handed to
    /// `expired` on the way.
    pub fn pop(&self, mut expired: impl FnMut(T)) -> T {
        let mut waiting = self.lock();
        loop {
            while let Some(w) = waiting.pop_front() {
                if w.deadline > Instant::now() {
                    return w.item;
                }
                expired(w.item);
            }
            waiting = self.ready.wait(waiting).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Waiting<T>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_from_every_owner_is_kept_and_taken_in_arrival_order() {
        let q = DeadlineQueue::new(2);
        for owner in 0..64 {
            assert!(q.push(owner, later(10_000), owner).is_none(), "owner {owner}");
        }
        let taken: Vec<usize> = (0..64).map(|_| q.pop(|_| panic!("nothing expired"))).collect();
        assert_eq!(taken, (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn an_owner_over_its_bound_gives_up_its_oldest_and_others_keep_theirs() {
        let q = DeadlineQueue::new(2);
        assert!(q.push(1, later(10_000), "a1").is_none());
        assert!(q.push(2, later(10_000), "b1").is_none());
        assert!(q.push(1, later(10_000), "a2").is_none());
        assert_eq!(q.push(1, later(10_000), "a3"), Some("a1"));
        let taken: Vec<&str> = (0..3).map(|_| q.pop(|_| panic!("nothing expired"))).collect();
        assert_eq!(taken, ["b1", "a2", "a3"]);
    }

    #[test]
    fn items_past_their_deadline_are_shed_not_taken() {
        let q = DeadlineQueue::new(4);
        q.push(1, Instant::now(), "stale");
        q.push(2, later(10_000), "fresh");
        let mut expired = Vec::new();
        assert_eq!(q.pop(|item| expired.push(item)), "fresh");
        assert_eq!(expired, ["stale"]);
    }

    #[test]
    fn a_waiting_taker_wakes_for_a_push_from_another_thread() {
        let q = Arc::new(DeadlineQueue::new(1));
        let taker = {
            let q = q.clone();
            std::thread::spawn(move || q.pop(|_: u32| {}))
        };
        std::thread::sleep(Duration::from_millis(50));
        q.push(7, later(10_000), 42);
        assert_eq!(taker.join().unwrap(), 42);
    }
}
