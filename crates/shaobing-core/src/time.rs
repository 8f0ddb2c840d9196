use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch.
///
/// Milliseconds in an `i64` keep every stage (frames, readings, database rows) on one cheap,
/// totally ordered, serialisable representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

/// A configured number of seconds as milliseconds, saturating at `i64::MAX`.
pub fn secs_as_millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl UnixMillis {
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// `secs` seconds later, saturating: a configured period of years never wraps round.
    pub fn plus_secs(self, secs: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(secs_as_millis(secs)))
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: UnixMillis) -> Duration {
        Duration::from_millis(u64::try_from(self.0 - earlier.0).unwrap_or(0))
    }

    /// `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8, no daylight saving), the time
    /// the sub-district reads on its screens and evidence.
    pub fn to_china_time_string(self) -> String {
        let secs = self.0.div_euclid(1000) + 8 * 3600;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T10:00:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let (h, min, s, ms) = (rem / 3600, rem % 3600 / 60, rem % 60, self.0.rem_euclid(1000));
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
}

impl From<SystemTime> for UnixMillis {
    fn from(t: SystemTime) -> Self {
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Self(ms)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_saturating() {
        assert_eq!(UnixMillis(5_000).since(UnixMillis(2_000)), Duration::from_secs(3));
        assert_eq!(UnixMillis(1_000).since(UnixMillis(2_000)), Duration::ZERO);
    }

    #[test]
    fn china_time_formatting() {
        assert_eq!(UnixMillis(0).to_china_time_string(), "1970-01-01 08:00:00");
        // 2024-02-29 15:59:59 UTC is 23:59:59 in Beijing; one second later it is March.
        assert_eq!(UnixMillis(1_709_222_399_000).to_china_time_string(), "2024-02-29 23:59:59");
        assert_eq!(UnixMillis(1_709_222_400_000).to_china_time_string(), "2024-03-01 00:00:00");
        assert_eq!(UnixMillis(1_709_222_399_123).to_rfc3339(), "2024-02-29T15:59:59.123Z");
        assert_eq!(UnixMillis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn add_and_round_trip_through_system_time() {
        let t = UnixMillis(1_700_000_000_000);
        assert_eq!(t.saturating_add(Duration::from_millis(250)), UnixMillis(1_700_000_000_250));
        let st = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(UnixMillis::from(st), UnixMillis(1_700_000_000_123));
    }
}
