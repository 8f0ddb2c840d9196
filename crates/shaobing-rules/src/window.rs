//! Hours of the day when a rule does not apply: a night market permitted 18:00-22:00, a
//! loading bay 06:00-08:00. Read on the frames' own time in the box's zone (`daemon.utc_offset`,
//! Beijing time by default), the time the sub-district's permits are written in.

use serde::{Deserialize, Deserializer};
use shaobing_core::UnixMillis;

/// `HH:MM-HH:MM`, start included, end excluded; a window may run past midnight (`22:00-06:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[schemars(with = "String")]
pub struct TimeWindow {
    start: u32,
    end: u32,
}

impl TimeWindow {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("expected HH:MM-HH:MM (local time), got `{s}`");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let minute = |t: &str| -> Result<u32, String> {
            let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        let (start, end) = (minute(a)?, minute(b)?);
        if start == end {
            return Err(format!("`{s}` is empty: start and end are the same minute"));
        }
        Ok(Self { start, end })
    }

    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: UnixMillis) -> bool {
        let minute = t.local_minute_of_day();
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl<'de> Deserialize<'de> for TimeWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TimeWindow::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Whether any of `windows` contains `t`.
pub fn exempt(windows: &[TimeWindow], t: UnixMillis) -> bool {
    windows.iter().any(|w| w.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03 at `h:m` China time, the zone of a box whose configuration names none.
    fn cst(h: i64, m: i64) -> UnixMillis {
        UnixMillis(1_796_256_000_000 + (h * 60 + m) * 60_000 - 8 * 3_600_000)
    }

    #[test]
    fn windows_in_china_time_including_past_midnight() {
        let market = TimeWindow::parse("18:00-22:00").unwrap();
        assert!(market.contains(cst(18, 0)) && market.contains(cst(21, 59)));
        assert!(!market.contains(cst(22, 0)) && !market.contains(cst(17, 59)) && !market.contains(cst(10, 0)));
        let night = TimeWindow::parse("22:00-06:00").unwrap();
        assert!(night.contains(cst(23, 30)) && night.contains(cst(2, 0)) && !night.contains(cst(6, 0)));
        for bad in ["18:00", "25:00-26:00", "18:60-19:00", "08:00-08:00", "a-b"] {
            assert!(TimeWindow::parse(bad).is_err(), "{bad}");
        }
    }
}
