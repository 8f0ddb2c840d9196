//! Counters of the sensor ingest. Labels come only from configuration (group names) and fixed
//! code lists, so cardinality is bounded by the config file, never by what sensors send.

use crate::{Mapping, RejectCode};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use shaobing_core::Phase;

/// The label of messages whose topic matched no group.
pub const UNMATCHED_GROUP: &str = "unmatched";

#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// One counter per group, the unmatched last: resolved once, since every message counts
    /// here and a label lookup per message is a hash and a lock.
    received: Vec<IntCounter>,
    rejected: IntCounterVec,
    fields_rejected: IntCounterVec,
    missing: IntCounterVec,
    pub committed: IntCounter,
    pub duplicates: IntCounter,
    issues: IntCounterVec,
    pub commit_seconds: Histogram,
    groups: Vec<String>,
}

// fsync-bound commits on an SD card or eMMC take 1 ms to a few hundred ms.
const COMMIT_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: T) -> prometheus::Result<T> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

impl IngestMetrics {
    /// Registers the metrics and creates every (group, code) series at zero, so an alert on
    /// a rejection rate has a series before the first rejection.
    pub fn register(registry: &Registry, mapping: &Mapping) -> prometheus::Result<Self> {
        let r = registry;
        let mut groups: Vec<String> = mapping.groups().iter().map(|g| g.name.clone()).collect();
        groups.push(UNMATCHED_GROUP.into());
        let received = counter_vec(
            r,
            "shaobing_sensor_messages_received_total",
            "MQTT messages received from sensors, by group.",
            &["group"],
        )?;
        let m = Self {
            received: groups.iter().map(|g| received.with_label_values(&[g.as_str()])).collect(),
            rejected: counter_vec(
                r,
                "shaobing_sensor_messages_rejected_total",
                "Sensor messages rejected (acknowledged, never stored), by group and error code.",
                &["group", "code"],
            )?,
            fields_rejected: counter_vec(
                r,
                "shaobing_sensor_fields_rejected_total",
                "Optional fields left out of a stored message for a bad value, by group and error code.",
                &["group", "code"],
            )?,
            missing: counter_vec(
                r,
                "shaobing_sensor_messages_missing_total",
                "Messages a sensor numbered that never reached the box (gaps in its sequence numbers), by group.",
                &["group"],
            )?,
            committed: register(
                r,
                IntCounter::new(
                    "shaobing_sensor_readings_committed_total",
                    "Readings committed to the readings store.",
                )?,
            )?,
            duplicates: register(
                r,
                IntCounter::new(
                    "shaobing_sensor_readings_duplicate_total",
                    "Redelivered readings already in the store, ignored.",
                )?,
            )?,
            issues: counter_vec(
                r,
                "shaobing_sensor_issues_total",
                "Candidate issues from sensor rules, by category and phase.",
                &["category", "phase"],
            )?,
            commit_seconds: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new("shaobing_sensor_commit_seconds", "Time of one readings-store commit.")
                        .buckets(COMMIT_BUCKETS.to_vec()),
                )?,
            )?,
            groups,
        };
        for group in &m.groups {
            m.missing.with_label_values(&[group.as_str()]);
            for code in RejectCode::ALL {
                m.rejected.with_label_values(&[group.as_str(), code.as_str()]);
            }
        }
        Ok(m)
    }

    fn group_label(&self, group: Option<usize>) -> &str {
        group.and_then(|g| self.groups.get(g)).map_or(UNMATCHED_GROUP, String::as_str)
    }

    pub fn received(&self, group: Option<usize>) {
        let unmatched = self.received.len() - 1;
        let i = group.filter(|&g| g < unmatched).unwrap_or(unmatched);
        self.received[i].inc();
    }

    pub fn rejected(&self, group: Option<usize>, code: RejectCode) {
        self.rejected.with_label_values(&[self.group_label(group), code.as_str()]).inc();
    }

    pub fn field_rejected(&self, group: usize, code: RejectCode) {
        self.fields_rejected.with_label_values(&[self.group_label(Some(group)), code.as_str()]).inc();
    }

    /// Optional fields left out so far for a group name and code (tests).
    pub fn fields_rejected_count(&self, group: &str, code: RejectCode) -> u64 {
        self.fields_rejected.with_label_values(&[group, code.as_str()]).get()
    }

    pub fn missing(&self, group: usize, messages: u64) {
        self.missing.with_label_values(&[self.group_label(Some(group))]).inc_by(messages);
    }

    /// Messages counted missing so far for a group name (tests).
    pub fn missing_count(&self, group: &str) -> u64 {
        self.missing.with_label_values(&[group]).get()
    }

    pub fn issue(&self, category: &str, phase: Phase) {
        self.issues.with_label_values(&[category, phase.as_str()]).inc();
    }

    /// Rejections counted so far for a group name and code (tests and the benchmark).
    pub fn rejected_count(&self, group: &str, code: RejectCode) -> u64 {
        self.rejected.with_label_values(&[group, code.as_str()]).get()
    }
}
