use serde::{Deserialize, Deserializer, Serialize};
use std::sync::OnceLock;
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

    /// `YYYY-MM-DD HH:MM:SS` in the box's zone ([`box_zone`]), the time the sub-district
    /// reads on its screens and evidence.
    pub fn to_local_string(self) -> String {
        self.to_string_in(box_zone())
    }

    /// `YYYY-MM-DD HH:MM:SS CST`: the local time with its zone named, for text read alone.
    pub fn to_local_string_zoned(self) -> String {
        format!("{} {}", self.to_local_string(), box_zone().abbreviation())
    }

    /// `YYYY-MM-DD HH:MM:SS` at `zone`'s offset.
    pub fn to_string_in(self, zone: UtcOffset) -> String {
        let secs = self.local_millis(zone).div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// Minutes since local midnight in the box's zone, 0..1440.
    pub fn local_minute_of_day(self) -> u32 {
        (self.local_millis(box_zone()).rem_euclid(86_400_000) / 60_000) as u32
    }

    /// Milliseconds since the epoch as a clock at `zone` reads them.
    fn local_millis(self, zone: UtcOffset) -> i64 {
        self.0 + i64::from(zone.minutes) * 60_000
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

/// The box's clock zone: a fixed offset from UTC. Screens, evidence captions, the CLI and
/// the rules' permitted hours all read one local time; a sub-district's permits are written
/// in it, and China keeps no daylight saving, so an offset is the whole of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcOffset {
    minutes: i32,
}

impl UtcOffset {
    /// China Standard Time, UTC+8: the default.
    pub const CHINA: UtcOffset = UtcOffset { minutes: 8 * 60 };

    /// `+08:00`, `-03:30`, `UTC+8`, `+0530`: the offset east of UTC, at most 14 hours.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("expected an offset from UTC such as `+08:00` or `-03:30`, got `{s}`");
        let t = s.trim();
        let t = t.strip_prefix("UTC").unwrap_or(t);
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = match rest.split_once(':') {
            Some(hm) => hm,
            None if rest.len() == 4 => rest.split_at(2),
            None => (rest, "0"),
        };
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..=14).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 14 * 60 {
            return Err(bad());
        }
        Ok(Self { minutes: sign * (h * 60 + m) })
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// `UTC+08:00`.
    pub fn label(self) -> String {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// Short, beside a time: `CST` for Beijing time, the offset otherwise.
    pub fn abbreviation(self) -> String {
        if self == Self::CHINA { "CST".into() } else { self.label() }
    }

    /// What a screen calls the zone: `北京时间 CST (UTC+08:00)` for Beijing time.
    pub fn name(self) -> String {
        if self == Self::CHINA { format!("北京时间 CST ({})", self.label()) } else { self.label() }
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label().trim_start_matches("UTC"))
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UtcOffset::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for UtcOffset {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UtcOffset".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An offset from UTC, `+HH:MM` or `-HH:MM` (`UTC+8` and `+0800` are read too), at most 14 hours.",
        })
    }
}

static BOX_ZONE: OnceLock<UtcOffset> = OnceLock::new();

/// Sets the box's zone once, at start, from its configuration; later calls change nothing,
/// so every thread reads one zone for the life of the process.
pub fn set_box_zone(zone: UtcOffset) {
    let _ = BOX_ZONE.set(zone);
}

/// The box's zone: as configured, Beijing time until then.
pub fn box_zone() -> UtcOffset {
    BOX_ZONE.get().copied().unwrap_or(UtcOffset::CHINA)
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
    fn local_time_formatting() {
        let cst = UtcOffset::CHINA;
        assert_eq!(UnixMillis(0).to_string_in(cst), "1970-01-01 08:00:00");
        // 2024-02-29 15:59:59 UTC is 23:59:59 in Beijing; one second later it is March.
        assert_eq!(UnixMillis(1_709_222_399_000).to_string_in(cst), "2024-02-29 23:59:59");
        assert_eq!(UnixMillis(1_709_222_400_000).to_string_in(cst), "2024-03-01 00:00:00");
        let west = UtcOffset::parse("-03:30").unwrap();
        assert_eq!(UnixMillis(0).to_string_in(west), "1969-12-31 20:30:00");
        assert_eq!(UnixMillis(1_709_222_399_123).to_rfc3339(), "2024-02-29T15:59:59.123Z");
        assert_eq!(UnixMillis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn offsets_parse_in_the_forms_people_write() {
        for (text, minutes) in [("+08:00", 480), ("UTC+8", 480), ("+0530", 330), ("-03:30", -210), ("+00:00", 0)] {
            assert_eq!(UtcOffset::parse(text).map(UtcOffset::minutes), Ok(minutes), "{text}");
        }
        for bad in ["", "8", "+15:00", "+08:60", "CST", "+8:xx"] {
            assert!(UtcOffset::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UtcOffset::CHINA.name(), "北京时间 CST (UTC+08:00)");
        assert_eq!(UtcOffset::parse("-03:30").unwrap().name(), "UTC-03:30");
        assert_eq!(UtcOffset::parse("+07:00").unwrap().abbreviation(), "UTC+07:00");
    }

    #[test]
    fn add_and_round_trip_through_system_time() {
        let t = UnixMillis(1_700_000_000_000);
        assert_eq!(t.saturating_add(Duration::from_millis(250)), UnixMillis(1_700_000_000_250));
        let st = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(UnixMillis::from(st), UnixMillis(1_700_000_000_123));
    }
}
