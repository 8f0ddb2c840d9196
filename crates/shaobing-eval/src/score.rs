//! Issues filed against issues expected: per category precision, recall, time to issue, and
//! false emergencies per camera-hour.

use crate::set::Expected;
use shaobing_core::{Category, Priority, ZoneId};
use std::collections::BTreeMap;

/// An issue the analysis filed (opened), by the clip's seconds.
#[derive(Debug, Clone)]
pub struct Filed {
    pub clip: String,
    pub category: Category,
    pub zone: Option<ZoneId>,
    pub at_secs: f64,
    pub dedup_key: String,
}

/// One category's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub expected: usize,
    pub filed: usize,
    pub matched: usize,
    /// Seconds from each matched hazard's start to its issue.
    pub times_to_issue: Vec<f64>,
}

impl Figures {
    /// Matched over filed; 1 when nothing was filed.
    pub fn precision(&self) -> f64 {
        if self.filed == 0 { 1.0 } else { self.matched as f64 / self.filed as f64 }
    }

    /// Matched over expected; 1 when nothing was expected.
    pub fn recall(&self) -> f64 {
        if self.expected == 0 { 1.0 } else { self.matched as f64 / self.expected as f64 }
    }

    pub fn mean_time_to_issue(&self) -> Option<f64> {
        let n = self.times_to_issue.len();
        (n > 0).then(|| self.times_to_issue.iter().sum::<f64>() / n as f64)
    }

    pub fn max_time_to_issue(&self) -> Option<f64> {
        self.times_to_issue.iter().copied().reduce(f64::max)
    }
}

/// What one evaluation run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub categories: BTreeMap<Category, Figures>,
    /// Issues that match no expected hazard (duplicates included).
    pub unexpected: Vec<Filed>,
    pub camera_hours: f64,
    pub frames: u64,
    /// Scene cuts and gaps the analysis saw.
    pub scene_breaks: (u64, u64),
    /// Wall-clock seconds the run took.
    pub wall_secs: f64,
}

impl Report {
    /// Unexpected issues of an emergency category (fire).
    pub fn false_emergencies(&self) -> impl Iterator<Item = &Filed> {
        self.unexpected.iter().filter(|f| f.category.default_priority() == Priority::Emergency)
    }

    pub fn false_emergencies_per_camera_hour(&self) -> f64 {
        if self.camera_hours > 0.0 { self.false_emergencies().count() as f64 / self.camera_hours } else { 0.0 }
    }

    /// Scores one clip's filed issues against its expectations: each expectation takes the
    /// first unmatched issue of its category (and zone) filed in its window; every other
    /// issue, duplicates included, is a false one.
    pub fn add_clip(&mut self, expected: &[Expected], filed: &[Filed], secs: f64) {
        self.camera_hours += secs / 3600.0;
        let mut used = vec![false; filed.len()];
        for e in expected {
            let figures = self.categories.entry(e.category).or_default();
            figures.expected += 1;
            let hit = filed.iter().enumerate().find(|(i, f)| !used[*i] && matches(e, f));
            if let Some((i, f)) = hit {
                used[i] = true;
                figures.matched += 1;
                figures.times_to_issue.push(f.at_secs - e.from_secs);
            }
        }
        for (f, used) in filed.iter().zip(used) {
            self.categories.entry(f.category).or_default().filed += 1;
            if !used {
                self.unexpected.push(f.clone());
            }
        }
    }

    /// The table the README shows.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<22} {:>8} {:>6} {:>7} {:>9} {:>6}  {:>22}\n",
            "category", "expected", "filed", "matched", "precision", "recall", "time to issue mean/max"
        );
        for (c, f) in &self.categories {
            let time = match (f.mean_time_to_issue(), f.max_time_to_issue()) {
                (Some(mean), Some(max)) => format!("{mean:.1} / {max:.1} s"),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "{:<22} {:>8} {:>6} {:>7} {:>9.2} {:>6.2}  {:>22}\n",
                c.as_str(),
                f.expected,
                f.filed,
                f.matched,
                f.precision(),
                f.recall(),
                time
            ));
        }
        out.push_str(&format!(
            "\n{:.2} camera-hours, {} frames analysed ({} scene cuts, {} gaps) in {:.0} s ({:.0}x real time); false emergencies: {} ({:.2} per camera-hour)\n",
            self.camera_hours,
            self.frames,
            self.scene_breaks.0,
            self.scene_breaks.1,
            self.wall_secs,
            self.camera_hours * 3600.0 / self.wall_secs.max(1e-9),
            self.false_emergencies().count(),
            self.false_emergencies_per_camera_hour()
        ));
        out
    }
}

fn matches(e: &Expected, f: &Filed) -> bool {
    f.category == e.category
        && e.zone.as_ref().is_none_or(|z| f.zone.as_ref() == Some(z))
        && (e.from_secs..=e.from_secs + e.within_secs).contains(&f.at_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filed(category: Category, at_secs: f64) -> Filed {
        Filed { clip: "c".into(), category, zone: None, at_secs, dedup_key: format!("k{at_secs}") }
    }

    fn expect(category: Category, from_secs: f64, within_secs: f64) -> Expected {
        Expected { category, zone: None, from_secs, within_secs }
    }

    #[test]
    fn duplicates_late_issues_and_unexpected_fires_count_against() {
        let mut r = Report::default();
        let expected = [expect(Category::IllegalParking, 0.0, 40.0), expect(Category::FireSmoke, 10.0, 5.0)];
        let filed = [
            filed(Category::IllegalParking, 20.0),
            filed(Category::IllegalParking, 25.0), // the same car again
            filed(Category::FireSmoke, 17.0),      // too late: not the expected fire
        ];
        r.add_clip(&expected, &filed, 3600.0);
        let parking = &r.categories[&Category::IllegalParking];
        assert_eq!((parking.expected, parking.filed, parking.matched), (1, 2, 1));
        assert_eq!((parking.precision(), parking.recall()), (0.5, 1.0));
        assert_eq!(parking.times_to_issue, vec![20.0]);
        let fire = &r.categories[&Category::FireSmoke];
        assert_eq!((fire.precision(), fire.recall()), (0.0, 0.0));
        assert_eq!(r.false_emergencies().count(), 1);
        assert_eq!(r.unexpected.len(), 2, "the duplicate and the late fire");
        assert_eq!(r.false_emergencies_per_camera_hour(), 1.0);
        assert!(r.table().contains("illegal_parking"));
    }
}
