//! 烟火: flame or smoke, an emergency. No dwell: confirmation over K of the last N analysed
//! frames is what keeps one bright frame (a headlight, a camera flash) from waking everyone.

use crate::Hazard;
use crate::settings::FireRuleSettings;
use shaobing_core::Phase;
use shaobing_core::{CameraId, Category, Detection, UnixMillis, ZoneId};
use std::collections::VecDeque;
use std::time::Duration;

/// One voter's sighting of flame or smoke in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FireVote {
    /// Who saw it: `opencv` or a model's name.
    pub voter: String,
    pub detection: Detection,
}

#[derive(Debug)]
pub struct FireRule {
    camera: CameraId,
    config: FireRuleSettings,
    /// The last `confirm_n` analysed frames: whether each saw fire, and when it was.
    window: VecDeque<(bool, UnixMillis)>,
    /// When the current episode's first positive frame was, and the last one.
    episode: Option<(UnixMillis, UnixMillis)>,
    raised: Option<Hazard>,
}

impl FireRule {
    pub fn new(camera: CameraId, config: FireRuleSettings) -> Self {
        let window = VecDeque::with_capacity(config.confirm_n);
        Self { camera, config, window, episode: None, raised: None }
    }

    /// After a scene break: frames before it confirm nothing after it. A raised fire stays
    /// raised until it has not been seen for `clear_secs`.
    pub fn restart(&mut self) {
        self.window.clear();
    }

    /// Feeds one analysed frame's votes; returns the fire hazard opened, ongoing or cleared.
    pub fn observe(&mut self, votes: &[FireVote], now: UnixMillis) -> Option<Hazard> {
        let strong: Vec<&FireVote> = votes.iter().filter(|v| v.detection.score >= self.config.min_score).collect();
        let mut voters: Vec<&str> = strong.iter().map(|v| v.voter.as_str()).collect();
        voters.sort_unstable();
        voters.dedup();
        let positive = !strong.is_empty() && voters.len() >= self.config.votes_required;
        self.push(positive, now);
        if positive {
            let start = self.episode.map_or(now, |(s, _)| s);
            self.episode = Some((start, now));
            return self.sighted(&strong, &voters, start, now);
        }
        self.maybe_cleared(now)
    }

    fn push(&mut self, positive: bool, now: UnixMillis) {
        if self.window.len() == self.config.confirm_n.max(1) {
            self.window.pop_front();
        }
        self.window.push_back((positive, now));
    }

    fn positives(&self) -> usize {
        self.window.iter().filter(|(p, _)| *p).count()
    }

    /// K positives of the window, spread over `confirm_min_secs` at least: a key frame's burst
    /// is several frames of one moment, and one moment is not a fire.
    fn confirmed(&self) -> bool {
        let mut seen = self.window.iter().filter(|(p, _)| *p).map(|(_, t)| *t);
        let Some(first) = seen.next() else { return false };
        let last = seen.next_back().unwrap_or(first);
        self.positives() >= self.config.confirm_k
            && last.since(first) >= Duration::from_secs_f64(self.config.confirm_min_secs)
    }

    fn sighted(&mut self, votes: &[&FireVote], voters: &[&str], start: UnixMillis, now: UnixMillis) -> Option<Hazard> {
        let confirmed = self.confirmed();
        let phase = match (&self.raised, confirmed) {
            (Some(_), _) => Phase::Ongoing,
            (None, true) => Phase::Opened,
            (None, false) => return None,
        };
        let subject = votes.iter().max_by(|a, b| a.detection.bbox.area().total_cmp(&b.detection.bbox.area()))?;
        let hazard = Hazard {
            phase,
            dedup_key: format!("{}/scene/{}/frame", self.camera, Category::FireSmoke),
            category: Category::FireSmoke,
            rule: "fire_smoke/k_of_n",
            zone: ZoneId("scene".into()),
            track_id: 0,
            detection: subject.detection.clone(),
            related: votes.iter().map(|v| v.detection.clone()).collect(),
            note: Some(format!(
                "seen in {} of the last {} frames by {}",
                self.positives(),
                self.window.len(),
                voters.join(" + ")
            )),
            confidence: votes.iter().map(|v| v.detection.score).fold(0.0, f32::max),
            duration: now.since(start),
        };
        self.raised = Some(hazard.clone());
        Some(hazard)
    }

    fn maybe_cleared(&mut self, now: UnixMillis) -> Option<Hazard> {
        let (_, last) = self.episode?;
        if now.since(last) < Duration::from_secs_f64(self.config.clear_secs) {
            return None;
        }
        self.episode = None;
        let raised = self.raised.take()?;
        Some(Hazard { phase: Phase::Cleared, duration: now.since(last), note: None, ..raised })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::BBox;

    fn rule(votes_required: usize) -> FireRule {
        FireRule::new(
            CameraId("cam".into()),
            FireRuleSettings {
                confirm_k: 3,
                confirm_n: 5,
                votes_required,
                min_score: 0.3,
                clear_secs: 30.0,
                ..FireRuleSettings::default()
            },
        )
    }

    fn vote(voter: &str, score: f32) -> FireVote {
        FireVote {
            voter: voter.into(),
            detection: Detection {
                class_id: 0,
                label: "flame".into(),
                score,
                bbox: BBox::from_corners(0.4, 0.4, 0.5, 0.6),
            },
        }
    }

    fn run(rule: &mut FireRule, frames: &[Vec<FireVote>]) -> Vec<(usize, Phase)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, v)| rule.observe(v, UnixMillis(i as i64 * 1000)).map(|h| (i, h.phase)))
            .collect()
    }

    #[test]
    fn three_of_five_frames_confirm_then_ongoing_then_cleared() {
        let mut r = rule(1);
        let mut frames: Vec<Vec<FireVote>> = vec![vec![vote("opencv", 0.8)], vec![], vec![vote("opencv", 0.7)]];
        frames.push(vec![vote("opencv", 0.9)]);
        frames.push(vec![vote("opencv", 0.9)]);
        frames.extend((0..40).map(|_| vec![]));
        let phases = run(&mut r, &frames);
        assert_eq!(phases[0], (3, Phase::Opened), "third positive of five opens at once");
        assert_eq!(phases[1], (4, Phase::Ongoing));
        assert_eq!(phases[2], (34, Phase::Cleared), "30 s after the last flame");
        assert_eq!(phases.len(), 3);
    }

    #[test]
    fn isolated_flashes_never_confirm() {
        let mut r = rule(1);
        let frames: Vec<Vec<FireVote>> =
            (0..60).map(|i| if i % 3 == 0 { vec![vote("opencv", 0.9)] } else { vec![] }).collect();
        assert!(run(&mut r, &frames).is_empty(), "one frame in three is never three of five");
    }

    #[test]
    fn two_voters_must_agree_when_asked() {
        let mut r = rule(2);
        let alone: Vec<Vec<FireVote>> = (0..10).map(|_| vec![vote("opencv", 0.9), vote("opencv", 0.5)]).collect();
        assert!(run(&mut r, &alone).is_empty());
        let both: Vec<Vec<FireVote>> = (0..3).map(|_| vec![vote("opencv", 0.9), vote("fire-yolo", 0.6)]).collect();
        let h = both.iter().enumerate().filter_map(|(i, v)| r.observe(v, UnixMillis(20_000 + i as i64 * 300))).last();
        let h = h.expect("confirmed by both voters");
        assert_eq!(h.dedup_key, "cam/scene/fire_smoke/frame");
        assert!(h.note.unwrap().contains("fire-yolo + opencv"));
    }

    #[test]
    fn one_moment_is_not_a_fire_two_key_frames_are() {
        let mut r = rule(1);
        // Key-frame bursts: three frames 40 ms apart every 2 s.
        let at = |key: i64, i: i64| UnixMillis(key * 2000 + i * 40);
        let first: Vec<_> = (0..3).filter_map(|i| r.observe(&[vote("opencv", 0.9)], at(0, i))).collect();
        assert!(first.is_empty(), "three positives of one burst confirm nothing");
        let h = r.observe(&[vote("opencv", 0.9)], at(1, 0)).expect("the next key frame confirms");
        assert_eq!(h.phase, Phase::Opened);
    }

    #[test]
    fn weak_votes_do_not_count() {
        let mut r = rule(1);
        let frames: Vec<Vec<FireVote>> = (0..10).map(|_| vec![vote("opencv", 0.1)]).collect();
        assert!(run(&mut r, &frames).is_empty());
    }
}
