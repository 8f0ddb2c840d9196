//! Readings lost before they reach the box: a sensor that numbers its messages says, by a gap
//! in the numbers, that some never arrived (a broker's queue limit, a radio link, a gateway
//! restart). Nothing else would notice.

use shaobing_core::SensorId;
use std::collections::HashMap;

/// A number this far below the last one is a sensor that restarted its counter, not a late
/// copy of an old message.
const RESTART_BELOW: u64 = 1_000;

/// The last sequence number seen per sensor (configured sensors only, so bounded).
#[derive(Debug, Default)]
pub(crate) struct SequenceWatch {
    last: HashMap<SensorId, u64>,
}

impl SequenceWatch {
    /// How many numbers are missing between the last one seen from `sensor` and `seq`. A
    /// redelivered or late message misses nothing; a restarted counter starts afresh.
    pub(crate) fn missing(&mut self, sensor: &SensorId, seq: u64) -> u64 {
        let Some(last) = self.last.get_mut(sensor) else {
            self.last.insert(sensor.clone(), seq);
            return 0;
        };
        if seq > *last {
            let gap = seq - *last - 1;
            *last = seq;
            gap
        } else {
            if *last - seq > RESTART_BELOW {
                *last = seq;
            }
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_and_copies_and_restarts_are_not() {
        let (a, b) = (SensorId("a".into()), SensorId("b".into()));
        let mut watch = SequenceWatch::default();
        let seen: Vec<u64> = [5, 6, 9, 9, 7, 10, 15].iter().map(|&s| watch.missing(&a, s)).collect();
        assert_eq!(seen, [0, 0, 2, 0, 0, 0, 4], "the first number sets the start; copies and late ones miss nothing");
        assert_eq!(watch.missing(&b, 3), 0, "each sensor counts on its own");
        assert_eq!(watch.missing(&a, 50_000), 49_984);
        assert_eq!(watch.missing(&a, 0), 0, "a restarted counter");
        assert_eq!(watch.missing(&a, 2), 1);
    }
}
