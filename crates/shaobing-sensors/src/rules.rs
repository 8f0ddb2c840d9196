//! Rules over sensor readings: threshold + minimum duration + hysteresis (on a value, its IAQI
//! or its rise over a window), and stale sensors.
//!
//! Everything runs on reading timestamps, never the wall clock, except the stale check, whose
//! `now` the caller passes in. A sustained episode is one issue: [`Phase::Opened`] once, then
//! [`Phase::Ongoing`] at most every `ongoing_every_secs`, then [`Phase::Cleared`] when the
//! signal passes the clear threshold. Redelivered or out-of-order readings (timestamp not after
//! the last one seen for that sensor and quantity) are ignored, so at-least-once delivery does
//! not count a reading twice towards a duration.

use crate::aqi::realtime_iaqi;
use crate::config::{Direction, RuleConfig, SensorGroupConfig, Signal};
use crate::decode::{Mapping, SensorMessage};
use crate::quantity::Quantity;
use crate::store::{ReadingsError, ReadingsStore};
use serde::{Deserialize, Serialize};
use shaobing_core::{
    CandidateIssue, Category, Cause, DiscoveryChannel, Finding, Location, Phase, Reading, RecheckWatch, Responsibility,
    SensorId, UnixMillis,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Points kept per sensor and quantity, whatever the windows say: a sensor publishing ten
/// times a second must not grow memory without bound.
const MAX_SERIES_POINTS: usize = 8192;
/// Evidence series are thinned to at most this many points.
const MAX_EVIDENCE_POINTS: usize = 240;

/// A rule's finding: the candidate issue for the problem database, and the readings around the
/// event (serialise with [`Evidence::to_json`] and keep next to the issue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorIssue {
    pub phase: Phase,
    pub candidate: CandidateIssue,
    pub evidence: Evidence,
}

impl SensorIssue {
    /// The finding the issues room files: a raised episode with the readings around it as
    /// evidence, a standing one folded in, a cleared one resolving its issue.
    pub fn into_finding(self) -> Finding {
        match self.phase {
            Phase::Opened => Finding::Opened {
                evidence: serde_json::to_vec_pretty(&self.evidence).ok(),
                issue: Box::new(self.candidate),
            },
            Phase::Ongoing => Finding::Ongoing {
                evidence: serde_json::to_vec_pretty(&self.evidence).ok(),
                issue: Box::new(self.candidate),
            },
            Phase::Cleared => Finding::Cleared {
                dedup_key: self.candidate.dedup_key,
                actor: format!("sensor:{}", self.evidence.rule),
                note: "cleared: back under the clear threshold".into(),
                after: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `sensor/<group>/<rule>`, as in the cause.
    pub rule: String,
    pub group: String,
    pub sensor: SensorId,
    pub quantity: Option<String>,
    pub unit: Option<String>,
    pub signal: Option<Signal>,
    pub raise: Option<f64>,
    pub clear: Option<f64>,
    /// When the signal first passed `raise` (threshold rules) or the last reading (stale).
    pub since: Option<UnixMillis>,
    pub points: Vec<EvidencePoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvidencePoint {
    pub t: UnixMillis,
    pub value: f64,
    /// The rule's signal at this point (equal to `value` for a `value` rule).
    pub signal: f64,
}

impl Evidence {
    pub fn to_json(&self) -> String {
        // Plain data with no maps keyed by non-strings: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum EpisodeState {
    Idle,
    Pending { since: UnixMillis },
    Active { since: UnixMillis, reported: UnixMillis },
}

/// One rule, compiled for one group.
#[derive(Debug, Clone)]
struct Rule {
    config: RuleConfig,
    category: Category,
    responsibility: Responsibility,
}

#[derive(Debug, Clone)]
struct SensorState {
    location: Location,
    last_seen: Option<UnixMillis>,
    stale_open: bool,
    series: BTreeMap<Quantity, VecDeque<(UnixMillis, f64)>>,
    /// One per rule of the group, same order.
    episodes: Vec<EpisodeState>,
    /// An episode or the silence flag moved since the state was last saved.
    changed: bool,
}

/// What of a sensor's rule state is saved with the readings; the series are read back from
/// the readings themselves, and when it last spoke from its latest reading.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedState {
    stale_open: bool,
    /// By rule name: a rule added, removed or reordered in the configuration keeps the others.
    episodes: BTreeMap<String, EpisodeState>,
}

#[derive(Debug, Clone)]
struct GroupState {
    name: String,
    rules: Vec<Rule>,
    stale_after: Option<Duration>,
    maintenance: Responsibility,
    /// How long readings are kept for rise windows and evidence.
    keep: Duration,
    sensors: BTreeMap<SensorId, SensorState>,
}

/// The rules of every sensor group, with their per-sensor state.
#[derive(Debug, Clone)]
pub struct RuleEngine {
    groups: Vec<GroupState>,
    /// Who keeps the box's own links working (a broker that lost the box's session).
    maintenance: Responsibility,
    /// The first `check_stale` time: a sensor never heard from counts as silent since then.
    origin: Option<UnixMillis>,
    /// Handled issues to report on at their first reading once due.
    rechecks: RecheckWatch,
}

impl RuleEngine {
    /// `responsibility` is the configured responsibility map; it is resolved once per rule.
    pub fn new(mapping: &Mapping, responsibility: impl Fn(Category) -> Responsibility) -> Self {
        let groups = mapping.groups().iter().map(|g| GroupState::new(g, &responsibility)).collect();
        let maintenance = responsibility(Category::DeviceMaintenance);
        Self { groups, maintenance, origin: None, rechecks: RecheckWatch::default() }
    }

    /// Reports a standing episode whose issue was marked handled at its first reading once
    /// the re-check is due, not at its next ongoing period.
    pub fn watching(mut self, rechecks: RecheckWatch) -> Self {
        self.rechecks = rechecks;
        self
    }

    /// Feeds the readings of one committed message; returns what the rules found.
    pub fn observe(&mut self, message: &SensorMessage) -> Vec<SensorIssue> {
        let Some(group) = self.groups.get_mut(message.group) else { return Vec::new() };
        let mut out = Vec::new();
        for reading in &message.readings {
            group.observe(reading, &self.rechecks, &mut out);
        }
        out
    }

    /// The state of every sensor whose episodes or silence changed since the last call, as
    /// (group, sensor, JSON) for [`crate::RuleWrites::states`].
    pub fn take_changed(&mut self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for group in &mut self.groups {
            for (id, state) in group.sensors.iter_mut().filter(|(_, s)| s.changed) {
                state.changed = false;
                let saved = SavedState {
                    stale_open: state.stale_open,
                    episodes: group.rules.iter().map(|r| r.config.name.clone()).zip(state.episodes.clone()).collect(),
                };
                // Plain data keyed by strings: serialisation cannot fail.
                out.push((group.name.clone(), id.0.clone(), serde_json::to_string(&saved).unwrap_or_default()));
            }
        }
        out
    }

    /// Picks up where the rules stood before a restart: each sensor's episodes and silence
    /// from its saved state, when it last spoke and the recent points of its rules' series
    /// from the readings. Readings redelivered after the restart are then not newer than what
    /// the rules have seen, and are ignored as before.
    pub fn restore(&mut self, store: &ReadingsStore) -> Result<(), ReadingsError> {
        let saved = store.rule_states()?;
        let latest = store.latest()?;
        for group in &mut self.groups {
            for (g, sensor, json) in &saved {
                let Some(state) = group.sensors.get_mut(&SensorId(sensor.clone())) else { continue };
                if g != &group.name {
                    continue;
                }
                match serde_json::from_str::<SavedState>(json) {
                    Ok(saved) => state.restore(&saved, &group.rules),
                    Err(e) => {
                        tracing::warn!(group = %g, %sensor, error = %e, "saved rule state unreadable; starting afresh")
                    }
                }
            }
            for reading in &latest {
                let Some(state) = group.sensors.get_mut(&reading.sensor) else { continue };
                state.last_seen = Some(state.last_seen.map_or(reading.observed_at, |t| t.max(reading.observed_at)));
                let Some(quantity) = Quantity::parse(&reading.quantity) else { continue };
                if !group.rules.iter().any(|r| r.config.quantity == quantity) {
                    continue;
                }
                let from = UnixMillis(reading.observed_at.0.saturating_sub(group.keep.as_millis() as i64));
                for point in store.series(&reading.sensor, &reading.quantity, from, reading.observed_at)? {
                    state.push(quantity, point.reading.observed_at, point.reading.value, group.keep);
                }
            }
        }
        Ok(())
    }

    /// A device-maintenance issue for a broker that came back without the box's session: what
    /// sensors published while the box was away is gone, and someone must see why the broker
    /// does not keep sessions (`lost` times since start).
    pub fn session_lost(&self, broker: &str, lost: u64, now: UnixMillis) -> SensorIssue {
        let rule = "sensor/mqtt/session_lost".to_string();
        let summary = format!(
            "MQTT broker {broker} came back without this box's session ({lost} time(s) since start): \
             readings published while the box was away were dropped by the broker; check that it saves sessions"
        );
        let candidate = CandidateIssue {
            dedup_key: format!("sensor:mqtt:{broker}:session_lost"),
            category: Category::DeviceMaintenance,
            location: Location { source: format!("mqtt://{broker}"), ..Location::default() },
            cause: Cause { summary, rule: rule.clone(), confidence: 1.0, detections: Vec::new() },
            responsibility: self.maintenance.clone(),
            priority: Category::DeviceMaintenance.default_priority(),
            channel: DiscoveryChannel::CommandCentreSensor,
            observed_at: now,
        };
        let evidence = Evidence {
            rule,
            group: "mqtt".into(),
            sensor: SensorId(broker.to_string()),
            quantity: None,
            unit: None,
            signal: None,
            raise: None,
            clear: None,
            since: Some(now),
            points: Vec::new(),
        };
        SensorIssue { phase: Phase::Opened, candidate, evidence }
    }

    /// Raises a device-maintenance issue for each sensor silent for its group's
    /// `stale_after_secs` at `now`.
    pub fn check_stale(&mut self, now: UnixMillis) -> Vec<SensorIssue> {
        let origin = *self.origin.get_or_insert(now);
        let mut out = Vec::new();
        for group in &mut self.groups {
            group.check_stale(now, origin, &mut out);
        }
        out
    }
}

impl GroupState {
    fn new(config: &SensorGroupConfig, responsibility: &impl Fn(Category) -> Responsibility) -> Self {
        let rules: Vec<Rule> = config
            .rules
            .iter()
            .map(|r| {
                let category = config.category_of(r);
                Rule { config: r.clone(), category, responsibility: responsibility(category) }
            })
            .collect();
        let keep_secs = rules
            .iter()
            .map(|r| (r.config.evidence_before_secs + r.config.min_duration_secs).max(r.config.rise_window_secs))
            .max()
            .unwrap_or(0);
        let sensors = config
            .sensors
            .iter()
            .map(|(id, loc)| (SensorId(id.clone()), SensorState::new(id, loc, rules.len())))
            .collect();
        Self {
            name: config.name.clone(),
            stale_after: config.stale_after_secs.map(Duration::from_secs),
            maintenance: responsibility(Category::DeviceMaintenance),
            keep: Duration::from_secs(keep_secs),
            rules,
            sensors,
        }
    }

    fn observe(&mut self, reading: &Reading, rechecks: &RecheckWatch, out: &mut Vec<SensorIssue>) {
        let Some(quantity) = Quantity::parse(&reading.quantity) else { return };
        let Some(state) = self.sensors.get_mut(&reading.sensor) else { return };
        let t = reading.observed_at;
        if state.stale_open {
            state.stale_open = false;
            state.changed = true;
            out.push(stale_issue(&self.name, &reading.sensor, state, &self.maintenance, Phase::Cleared, t));
        }
        state.last_seen = Some(state.last_seen.map_or(t, |seen| seen.max(t)));
        if !state.push(quantity, t, reading.value, self.keep) {
            return;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.config.quantity != quantity {
                continue;
            }
            let Some(signal) = signal_at(&rule.config, &state.series[&quantity], t, reading.value) else { continue };
            let before = state.episodes[i];
            let mut phase = step(&mut state.episodes[i], &rule.config, signal, t);
            if phase.is_none()
                && let EpisodeState::Active { since, .. } = state.episodes[i]
                && rechecks.take_due_with(|| episode_key(&self.name, &reading.sensor, &rule.config), t)
            {
                state.episodes[i] = EpisodeState::Active { since, reported: t };
                phase = Some(Phase::Ongoing);
            }
            state.changed |= state.episodes[i] != before;
            if let Some(phase) = phase {
                out.push(threshold_issue(&self.name, &reading.sensor, state, rule, i, phase, t));
            }
        }
    }

    fn check_stale(&mut self, now: UnixMillis, origin: UnixMillis, out: &mut Vec<SensorIssue>) {
        let Some(after) = self.stale_after else { return };
        for (id, state) in &mut self.sensors {
            let silent_since = state.last_seen.unwrap_or(origin);
            if !state.stale_open && now.since(silent_since) >= after {
                state.stale_open = true;
                state.changed = true;
                out.push(stale_issue(&self.name, id, state, &self.maintenance, Phase::Opened, now));
            }
        }
    }
}

impl SensorState {
    fn new(id: &str, loc: &shaobing_core::Place, rules: usize) -> Self {
        let location = Location {
            lat: loc.lat,
            lon: loc.lon,
            address: loc.address.clone(),
            grid_cell: loc.grid_cell.clone(),
            source: id.to_string(),
            zone: None,
            image_point: None,
        };
        Self {
            location,
            last_seen: None,
            stale_open: false,
            series: BTreeMap::new(),
            episodes: vec![EpisodeState::Idle; rules],
            changed: false,
        }
    }

    fn restore(&mut self, saved: &SavedState, rules: &[Rule]) {
        self.stale_open = saved.stale_open;
        for (episode, rule) in self.episodes.iter_mut().zip(rules) {
            if let Some(state) = saved.episodes.get(&rule.config.name) {
                *episode = *state;
            }
        }
    }

    /// Appends a point; `false` (and nothing kept) when it is not newer than the last one.
    fn push(&mut self, quantity: Quantity, t: UnixMillis, value: f64, keep: Duration) -> bool {
        let series = self.series.entry(quantity).or_default();
        if series.back().is_some_and(|&(last, _)| t <= last) {
            return false;
        }
        series.push_back((t, value));
        while series.front().is_some_and(|&(first, _)| t.since(first) > keep) || series.len() > MAX_SERIES_POINTS {
            series.pop_front();
        }
        true
    }
}

/// The rule's signal for the point `(t, value)` of `series`. For a rise, the oldest point in
/// the window is the first one from the front no more than the window before `t` (points after
/// `t` come later in the series, so they are never picked before it).
fn signal_at(rule: &RuleConfig, series: &VecDeque<(UnixMillis, f64)>, t: UnixMillis, value: f64) -> Option<f64> {
    match rule.signal {
        Signal::Value => Some(value),
        Signal::Iaqi => rule.quantity.pollutant().and_then(|p| realtime_iaqi(p, value)).map(|i| f64::from(i.value)),
        Signal::Rise => {
            let window = Duration::from_secs(rule.rise_window_secs);
            let oldest = series.iter().find(|(at, _)| t.since(*at) <= window).map_or(value, |&(_, v)| v);
            Some(value - oldest)
        }
    }
}

fn past(direction: Direction, signal: f64, threshold: f64) -> bool {
    match direction {
        Direction::Above => signal >= threshold,
        Direction::Below => signal <= threshold,
    }
}

fn cleared(direction: Direction, signal: f64, threshold: f64) -> bool {
    match direction {
        Direction::Above => signal <= threshold,
        Direction::Below => signal >= threshold,
    }
}

/// Advances one episode by one signal value; returns the phase to report, if any.
fn step(state: &mut EpisodeState, rule: &RuleConfig, signal: f64, t: UnixMillis) -> Option<Phase> {
    let min_duration = Duration::from_secs(rule.min_duration_secs);
    let raised = past(rule.direction, signal, rule.raise);
    match *state {
        EpisodeState::Idle | EpisodeState::Pending { .. } if !raised => {
            *state = EpisodeState::Idle;
            None
        }
        EpisodeState::Idle => {
            *state = EpisodeState::Pending { since: t };
            step(state, rule, signal, t)
        }
        EpisodeState::Pending { since } if t.since(since) >= min_duration => {
            *state = EpisodeState::Active { since, reported: t };
            Some(Phase::Opened)
        }
        EpisodeState::Pending { .. } => None,
        EpisodeState::Active { .. } if cleared(rule.direction, signal, rule.clear) => {
            *state = EpisodeState::Idle;
            Some(Phase::Cleared)
        }
        EpisodeState::Active { since, reported }
            if t.since(reported) >= Duration::from_secs(rule.ongoing_every_secs) =>
        {
            *state = EpisodeState::Active { since, reported: t };
            Some(Phase::Ongoing)
        }
        EpisodeState::Active { .. } => None,
    }
}

fn threshold_issue(
    group: &str,
    sensor: &SensorId,
    state: &SensorState,
    rule: &Rule,
    index: usize,
    phase: Phase,
    t: UnixMillis,
) -> SensorIssue {
    let c = &rule.config;
    let since = match state.episodes[index] {
        EpisodeState::Active { since, .. } | EpisodeState::Pending { since } => since,
        // A cleared episode has just gone idle; its evidence starts at the window's edge.
        EpisodeState::Idle => t,
    };
    let from = UnixMillis(since.0.saturating_sub(i64::try_from(c.evidence_before_secs * 1000).unwrap_or(i64::MAX)));
    let series = state.series.get(&c.quantity);
    let points = evidence_points(series, from, |at, v| series.and_then(|s| signal_at(c, s, at, v)).unwrap_or(v));
    let peak = points.iter().map(|p| p.signal).fold(f64::NAN, |a, b| pick_extreme(c.direction, a, b));
    let latest = points.last().map_or(f64::NAN, |p| p.value);
    let rule_name = format!("sensor/{group}/{}", c.name);
    let unit = c.quantity.canonical_unit().as_str();
    let summary = format!(
        "{}: {} {} {} {} since {} (latest {latest} {unit}, extreme signal {peak}; {}); clears at {}",
        sensor.0,
        c.quantity,
        signal_name(c.signal),
        if c.direction == Direction::Above { ">=" } else { "<=" },
        c.raise,
        since.to_local_string_zoned(),
        phase_name(phase),
        c.clear,
    );
    let evidence = Evidence {
        rule: rule_name.clone(),
        group: group.to_string(),
        sensor: sensor.clone(),
        quantity: Some(c.quantity.as_str().into()),
        unit: Some(unit.into()),
        signal: Some(c.signal),
        raise: Some(c.raise),
        clear: Some(c.clear),
        since: Some(since),
        points,
    };
    let key = episode_key(group, sensor, c);
    issue(phase, key, rule.category, state, rule_name, summary, rule.responsibility.clone(), t, evidence)
}

/// The dedup key of a rule's episodes on one sensor.
fn episode_key(group: &str, sensor: &SensorId, rule: &RuleConfig) -> String {
    format!("sensor:{group}:{}:{}", sensor.0, rule.name)
}

fn stale_issue(
    group: &str,
    sensor: &SensorId,
    state: &SensorState,
    responsibility: &Responsibility,
    phase: Phase,
    t: UnixMillis,
) -> SensorIssue {
    let rule_name = format!("sensor/{group}/stale");
    let last = state.last_seen.map_or_else(|| "never since start".to_string(), |s| s.to_local_string_zoned());
    let summary = format!("{}: sensor silent, last reading {last} ({})", sensor.0, phase_name(phase));
    let evidence = Evidence {
        rule: rule_name.clone(),
        group: group.to_string(),
        sensor: sensor.clone(),
        quantity: None,
        unit: None,
        signal: None,
        raise: None,
        clear: None,
        since: state.last_seen,
        points: Vec::new(),
    };
    let key = format!("sensor:{group}:{}:stale", sensor.0);
    issue(phase, key, Category::DeviceMaintenance, state, rule_name, summary, responsibility.clone(), t, evidence)
}

#[allow(clippy::too_many_arguments)] // one flat constructor beats a builder used twice
fn issue(
    phase: Phase,
    dedup_key: String,
    category: Category,
    state: &SensorState,
    rule: String,
    summary: String,
    responsibility: Responsibility,
    t: UnixMillis,
    evidence: Evidence,
) -> SensorIssue {
    let candidate = CandidateIssue {
        dedup_key,
        category,
        location: state.location.clone(),
        // A sensor reading crossing a configured threshold is not a guess: full confidence.
        cause: Cause { summary, rule, confidence: 1.0, detections: Vec::new() },
        responsibility,
        priority: category.default_priority(),
        channel: DiscoveryChannel::CommandCentreSensor,
        observed_at: t,
    };
    SensorIssue { phase, candidate, evidence }
}

fn evidence_points(
    series: Option<&VecDeque<(UnixMillis, f64)>>,
    from: UnixMillis,
    signal: impl Fn(UnixMillis, f64) -> f64,
) -> Vec<EvidencePoint> {
    let in_window: Vec<(UnixMillis, f64)> =
        series.map(|s| s.iter().copied().filter(|&(t, _)| t >= from).collect()).unwrap_or_default();
    let stride = in_window.len().div_ceil(MAX_EVIDENCE_POINTS).max(1);
    let last = in_window.len().saturating_sub(1);
    in_window
        .iter()
        .enumerate()
        // Thin evenly but always keep the newest point: it is the one that fired.
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, &(t, value))| EvidencePoint { t, value, signal: signal(t, value) })
        .collect()
}

fn pick_extreme(direction: Direction, a: f64, b: f64) -> f64 {
    match direction {
        Direction::Above => a.max(b),
        Direction::Below => a.min(b),
    }
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Value => "value",
        Signal::Iaqi => "IAQI",
        Signal::Rise => "rise",
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Opened => "opened",
        Phase::Ongoing => "ongoing",
        Phase::Cleared => "cleared",
    }
}

#[cfg(test)]
mod tests;
