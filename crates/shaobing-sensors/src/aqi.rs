//! Individual air quality index (IAQI, 空气质量分指数) per HJ 633-2012 Table 1, which implements
//! GB 3095-2012.
//!
//! IAQI = (IAQI_hi − IAQI_lo) / (BP_hi − BP_lo) × (C − BP_lo) + IAQI_lo between the two
//! breakpoints around the concentration C, rounded **up** to an integer (进位取整), as the
//! standard prescribes. Units: µg/m³, except CO in mg/m³.
//!
//! Which table a reading uses (see [`realtime_iaqi`]): a sensor reading is taken as a 1-h mean.
//! SO2, NO2, CO and O3 use their 1-h tables. PM2.5 and PM10 have only 24-h breakpoints in the
//! standard; like China's real-time publishing, their 1-h values are graded on the 24-h table.
//! Two notes of Table 1 are honoured: SO2 1-h above 800 µg/m³ is graded on the 24-h table, and
//! O3 8-h above 800 µg/m³ on the 1-h table. Above the last breakpoint the IAQI is 500 with
//! [`Iaqi::beyond_table`] set: the standard stops computing there, a rule must still see it.

use serde::Serialize;

/// IAQI values at the breakpoints, shared by every pollutant's row.
const IAQI_STEPS: [f64; 8] = [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pollutant {
    Pm2_5,
    Pm10,
    No2,
    So2,
    O3,
    Co,
}

/// The averaging period of a concentration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Averaging {
    OneHour,
    EightHour,
    TwentyFourHour,
}

/// The breakpoints of HJ 633-2012 Table 1; `None` where the standard defines no table.
/// Shorter rows end where the standard stops (SO2 1-h, O3 8-h).
fn breakpoints(p: Pollutant, a: Averaging) -> Option<&'static [f64]> {
    use Averaging::*;
    use Pollutant::*;
    Some(match (p, a) {
        (So2, TwentyFourHour) => &[0.0, 50.0, 150.0, 475.0, 800.0, 1600.0, 2100.0, 2620.0],
        (So2, OneHour) => &[0.0, 150.0, 500.0, 650.0, 800.0],
        (No2, TwentyFourHour) => &[0.0, 40.0, 80.0, 180.0, 280.0, 565.0, 750.0, 940.0],
        (No2, OneHour) => &[0.0, 100.0, 200.0, 700.0, 1200.0, 2340.0, 3090.0, 3840.0],
        (Pm10, TwentyFourHour) => &[0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0],
        (Co, TwentyFourHour) => &[0.0, 2.0, 4.0, 14.0, 24.0, 36.0, 48.0, 60.0],
        (Co, OneHour) => &[0.0, 5.0, 10.0, 35.0, 60.0, 90.0, 120.0, 150.0],
        (O3, OneHour) => &[0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0],
        (O3, EightHour) => &[0.0, 100.0, 160.0, 215.0, 265.0, 800.0],
        (Pm2_5, TwentyFourHour) => &[0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0],
        _ => return None,
    })
}

/// An individual AQI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Iaqi {
    pub value: u32,
    /// The concentration was above the last breakpoint; `value` is then 500.
    pub beyond_table: bool,
}

impl Iaqi {
    pub fn level(self) -> AqiLevel {
        AqiLevel::of(self.value)
    }
}

/// The six AQI levels of HJ 633-2012 Table 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AqiLevel {
    /// 一级 优, 0-50.
    Excellent,
    /// 二级 良, 51-100.
    Good,
    /// 三级 轻度污染, 101-150.
    LightlyPolluted,
    /// 四级 中度污染, 151-200.
    ModeratelyPolluted,
    /// 五级 重度污染, 201-300.
    HeavilyPolluted,
    /// 六级 严重污染, above 300.
    SeverelyPolluted,
}

impl AqiLevel {
    pub fn of(aqi: u32) -> Self {
        match aqi {
            0..=50 => AqiLevel::Excellent,
            51..=100 => AqiLevel::Good,
            101..=150 => AqiLevel::LightlyPolluted,
            151..=200 => AqiLevel::ModeratelyPolluted,
            201..=300 => AqiLevel::HeavilyPolluted,
            _ => AqiLevel::SeverelyPolluted,
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            AqiLevel::Excellent => "优",
            AqiLevel::Good => "良",
            AqiLevel::LightlyPolluted => "轻度污染",
            AqiLevel::ModeratelyPolluted => "中度污染",
            AqiLevel::HeavilyPolluted => "重度污染",
            AqiLevel::SeverelyPolluted => "严重污染",
        }
    }
}

/// The IAQI of a concentration on the table for `averaging`; `None` when the standard defines no
/// such table, when the concentration is negative or not finite, or when it is above the end of a
/// truncated table (SO2 1-h, O3 8-h: the caller must use the other period, see the module doc).
pub fn iaqi(pollutant: Pollutant, averaging: Averaging, concentration: f64) -> Option<Iaqi> {
    let table = breakpoints(pollutant, averaging)?;
    if !concentration.is_finite() || concentration < 0.0 {
        return None;
    }
    let segment = table.windows(2).position(|w| concentration <= w[1]);
    let Some(i) = segment else {
        let full = table.len() == IAQI_STEPS.len();
        return full.then_some(Iaqi { value: 500, beyond_table: true });
    };
    let (bp_lo, bp_hi) = (table[i], table[i + 1]);
    let (i_lo, i_hi) = (IAQI_STEPS[i], IAQI_STEPS[i + 1]);
    let exact = (i_hi - i_lo) / (bp_hi - bp_lo) * (concentration - bp_lo) + i_lo;
    // The value is in 0..=500 here, so the cast cannot truncate.
    Some(Iaqi { value: exact.ceil() as u32, beyond_table: false })
}

/// The IAQI of a reading taken as a 1-h mean, following the conventions in the module doc.
pub fn realtime_iaqi(pollutant: Pollutant, concentration: f64) -> Option<Iaqi> {
    match pollutant {
        Pollutant::Pm2_5 | Pollutant::Pm10 => iaqi(pollutant, Averaging::TwentyFourHour, concentration),
        Pollutant::So2 => iaqi(pollutant, Averaging::OneHour, concentration)
            .or_else(|| iaqi(pollutant, Averaging::TwentyFourHour, concentration)),
        Pollutant::No2 | Pollutant::Co | Pollutant::O3 => iaqi(pollutant, Averaging::OneHour, concentration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Averaging::*;
    use Pollutant::*;

    fn value(p: Pollutant, a: Averaging, c: f64) -> u32 {
        iaqi(p, a, c).unwrap().value
    }

    #[test]
    fn breakpoints_map_to_their_iaqi_exactly() {
        assert_eq!(value(Pm2_5, TwentyFourHour, 0.0), 0);
        assert_eq!(value(Pm2_5, TwentyFourHour, 35.0), 50);
        assert_eq!(value(Pm2_5, TwentyFourHour, 75.0), 100);
        assert_eq!(value(Pm2_5, TwentyFourHour, 250.0), 300);
        assert_eq!(value(Pm2_5, TwentyFourHour, 500.0), 500);
        assert_eq!(value(Co, OneHour, 10.0), 100);
    }

    // Hand-computed from the formula and Table 1; rounding is upward.
    #[test]
    fn interpolation_rounds_up() {
        // (150-100)/(115-75)*(80-75)+100 = 106.25
        assert_eq!(value(Pm2_5, TwentyFourHour, 80.0), 107);
        // (100-50)/(75-35)*(36-35)+50 = 51.25
        assert_eq!(value(Pm2_5, TwentyFourHour, 36.0), 52);
        // (150-100)/(250-150)*(200-150)+100 = 125
        assert_eq!(value(Pm10, TwentyFourHour, 200.0), 125);
        // (150-100)/(700-200)*(300-200)+100 = 110
        assert_eq!(value(No2, OneHour, 300.0), 110);
        // (100-50)/(80-40)*(60-40)+50 = 75
        assert_eq!(value(No2, TwentyFourHour, 60.0), 75);
        // (150-100)/(35-10)*(12-10)+100 = 104
        assert_eq!(value(Co, OneHour, 12.0), 104);
        // (200-150)/(24-14)*(20-14)+150 = 180
        assert_eq!(value(Co, TwentyFourHour, 20.0), 180);
        // (150-100)/(300-200)*(250-200)+100 = 125
        assert_eq!(value(O3, OneHour, 250.0), 125);
        // (100-50)/(160-100)*(130-100)+50 = 75
        assert_eq!(value(O3, EightHour, 130.0), 75);
        // (50-0)/(150-0)*100 = 33.33
        assert_eq!(value(So2, OneHour, 100.0), 34);
    }

    #[test]
    fn truncated_tables_fall_back_as_the_notes_require() {
        assert_eq!(iaqi(So2, OneHour, 900.0), None);
        // (300-200)/(1600-800)*(900-800)+200 = 212.5
        assert_eq!(realtime_iaqi(So2, 900.0).unwrap().value, 213);
        assert_eq!(iaqi(O3, EightHour, 900.0), None);
        // (400-300)/(1000-800)*(900-800)+300 = 350
        assert_eq!(value(O3, OneHour, 900.0), 350);
    }

    #[test]
    fn beyond_the_table_saturates_and_undefined_tables_are_none() {
        assert_eq!(iaqi(Pm2_5, TwentyFourHour, 650.0), Some(Iaqi { value: 500, beyond_table: true }));
        assert_eq!(iaqi(Pm2_5, OneHour, 50.0), None);
        assert_eq!(iaqi(Pm10, EightHour, 50.0), None);
        assert_eq!(iaqi(Pm2_5, TwentyFourHour, -1.0), None);
        assert_eq!(iaqi(Pm2_5, TwentyFourHour, f64::NAN), None);
        assert_eq!(realtime_iaqi(Pm2_5, 80.0).unwrap().value, 107);
    }

    #[test]
    fn levels_follow_table_2() {
        assert_eq!(AqiLevel::of(50), AqiLevel::Excellent);
        assert_eq!(AqiLevel::of(51), AqiLevel::Good);
        assert_eq!(AqiLevel::of(150), AqiLevel::LightlyPolluted);
        assert_eq!(AqiLevel::of(151), AqiLevel::ModeratelyPolluted);
        assert_eq!(AqiLevel::of(300), AqiLevel::HeavilyPolluted);
        assert_eq!(AqiLevel::of(301), AqiLevel::SeverelyPolluted);
        assert_eq!(realtime_iaqi(Pm2_5, 80.0).unwrap().level().name_zh(), "轻度污染");
    }
}
