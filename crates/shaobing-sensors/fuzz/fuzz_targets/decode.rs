//! Any bytes on an air-quality (JSON) or parking (plain number) topic: the decoder must return
//! readings that are finite and not from the future, or a rejection; never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shaobing_core::UnixMillis;
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG, PARKING_TOPIC};
use shaobing_sensors::{Mapping, Quantity, RejectCode};
use std::sync::LazyLock;

static MAPPING: LazyLock<Mapping> = LazyLock::new(|| {
    let config = toml::from_str(EXAMPLE_CONFIG).expect("example config parses");
    Mapping::new(config).expect("example config is valid")
});

const NOW: UnixMillis = UnixMillis(1_764_028_800_000);

fuzz_target!(|data: &[u8]| {
    // The first byte picks the topic, so one target covers both decoders.
    let (topic, payload) = match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => (PARKING_TOPIC, rest),
        Some((_, rest)) => (AIR_TOPIC, rest),
        None => (AIR_TOPIC, data),
    };
    match MAPPING.decode(topic, payload, NOW) {
        Ok(message) => {
            assert!(!message.readings.is_empty());
            for r in &message.readings {
                let q = Quantity::parse(&r.quantity).expect("a known quantity");
                let (lo, hi) = q.plausible_range();
                assert!(r.value.is_finite() && (lo..=hi).contains(&r.value), "{r:?}");
                assert!(r.observed_at.0 <= NOW.0 + 300_000, "{r:?}");
            }
        }
        Err(rejection) => {
            assert!(RejectCode::ALL.contains(&rejection.code));
            assert!(rejection.detail.len() < 1024, "unbounded detail: {} bytes", rejection.detail.len());
        }
    }
});
