//! The pre-roll of one camera and the clips it is gathering.

use super::mux::{Job, Unit};
use super::{Clip, ClipError, ClipsConfig};
use gstreamer as gst;
use shaobing_core::UnixMillis;
use shaobing_metrics::CameraMetrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a clip waits for its post-roll beyond `post_secs`, in wall time, before it is
/// written with what came: a camera that stalls or ends must not hold its issue's clip.
const POST_ROLL_GRACE: Duration = Duration::from_secs(5);

/// The box-wide bound on pre-roll, shared by every camera's recorder.
#[derive(Debug)]
pub struct ClipBudget {
    limit: i64,
    used: AtomicI64,
    gauge: shaobing_metrics::IntGauge,
}

impl ClipBudget {
    pub fn new(limit: u64, gauge: shaobing_metrics::IntGauge) -> Arc<Self> {
        Arc::new(Self { limit: i64::try_from(limit).unwrap_or(i64::MAX), used: AtomicI64::new(0), gauge })
    }

    fn add(&self, bytes: i64) {
        let now = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.gauge.set(now);
    }

    fn over(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.limit
    }
}

/// One GOP as received: a key frame and the frames after it, in decoding order.
#[derive(Debug)]
struct Gop {
    key_pts: u64,
    caps: gst::Caps,
    units: Vec<gst::Buffer>,
    bytes: i64,
}

/// A clip still collecting its post-roll.
#[derive(Debug)]
struct Gathering {
    id: u64,
    end_pts: u64,
    units: Vec<Unit>,
    done: bool,
}

#[derive(Debug, Default)]
struct Ring {
    gops: VecDeque<Gop>,
    /// A frame's presentation time (ns) and the capture time the camera's clock gave it: how
    /// an issue's moment finds its place in the stream.
    anchor: Option<(u64, i64)>,
    gathering: Vec<Gathering>,
    next_id: u64,
}

/// A camera's pre-roll: fed by the receiver with every compressed frame, asked by the
/// analysis for a clip around an issue's moment.
#[derive(Debug)]
pub struct ClipRecorder {
    pre_ns: u64,
    post_ns: u64,
    post: Duration,
    budget: Arc<ClipBudget>,
    metrics: CameraMetrics,
    ring: Mutex<Ring>,
}

impl ClipRecorder {
    pub fn new(config: &ClipsConfig, budget: Arc<ClipBudget>, metrics: CameraMetrics) -> Arc<Self> {
        let nanos = |secs: f64| (secs.max(0.0) * 1e9) as u64;
        Arc::new(Self {
            pre_ns: nanos(config.pre_secs),
            post_ns: nanos(config.post_secs),
            post: Duration::from_secs_f64(config.post_secs.max(0.0)),
            budget,
            metrics,
            ring: Mutex::new(Ring::default()),
        })
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new run of the camera: its timestamps start over, so the pre-roll goes and the clips
    /// being gathered end with what they have.
    pub fn restart(&self) {
        let mut ring = self.ring();
        let freed: i64 = ring.gops.drain(..).map(|g| g.bytes).sum();
        self.budget.add(-freed);
        ring.anchor = None;
        for g in &mut ring.gathering {
            g.done = true;
        }
    }

    /// The camera's clock gave the frame presented at `pts` the capture time `at`.
    pub fn stamped(&self, pts: Option<gst::ClockTime>, at: UnixMillis) {
        if let Some(pts) = pts {
            self.ring().anchor = Some((pts.nseconds(), at.0));
        }
    }

    /// Takes one compressed frame (H.264 or H.265, as `caps` say). Frames before the first key
    /// frame cannot start a clip and are not kept.
    pub fn push(&self, buffer: &gst::BufferRef, caps: &gst::Caps, key: bool) {
        let keepable = caps.structure(0).is_some_and(|s| matches!(s.name().as_str(), "video/x-h264" | "video/x-h265"));
        if !keepable {
            return;
        }
        let buffer = buffer.to_owned();
        let Some(pts) = buffer.pts().map(gst::ClockTime::nseconds) else { return };
        let bytes = i64::try_from(buffer.size()).unwrap_or(i64::MAX);
        let mut ring = self.ring();
        for g in ring.gathering.iter_mut().filter(|g| !g.done) {
            if key && pts >= g.end_pts {
                g.done = true;
            } else {
                g.units.push(Unit { buffer: buffer.clone(), caps: caps.clone() });
            }
        }
        if key {
            ring.gops.push_back(Gop { key_pts: pts, caps: caps.clone(), units: Vec::new(), bytes: 0 });
        }
        let Some(gop) = ring.gops.back_mut() else { return };
        gop.units.push(buffer.clone());
        gop.bytes += bytes;
        self.budget.add(bytes);
        self.trim(&mut ring, pts);
    }

    /// Drops GOPs no clip can need (the next one already starts `pre_secs` before the newest
    /// frame), then, while the box is over its budget, this camera's oldest but the current.
    fn trim(&self, ring: &mut Ring, newest: u64) {
        while ring.gops.len() > 1 && ring.gops[1].key_pts.saturating_add(self.pre_ns) <= newest {
            self.drop_oldest(ring);
        }
        while ring.gops.len() > 1 && self.budget.over() {
            self.drop_oldest(ring);
            self.metrics.preroll_shed.inc();
        }
    }

    fn drop_oldest(&self, ring: &mut Ring) {
        if let Some(gop) = ring.gops.pop_front() {
            self.budget.add(-gop.bytes);
        }
    }

    /// Starts gathering the clip around the moment `at` on the camera's clock.
    fn begin(&self, at: UnixMillis) -> Result<u64, ClipError> {
        let mut ring = self.ring();
        let (anchor_pts, anchor_ms) = ring.anchor.ok_or(ClipError::NoVideo)?;
        let at_ns = i128::from(anchor_pts) + i128::from(at.0 - anchor_ms) * 1_000_000;
        let at_pts = u64::try_from(at_ns.max(0)).unwrap_or(0);
        let start = at_pts.saturating_sub(self.pre_ns);
        let first = ring.gops.iter().rposition(|g| g.key_pts <= start).unwrap_or(0);
        let units: Vec<Unit> = ring
            .gops
            .iter()
            .skip(first)
            .flat_map(|g| g.units.iter().map(|b| Unit { buffer: b.clone(), caps: g.caps.clone() }))
            .collect();
        if units.is_empty() {
            return Err(ClipError::NoVideo);
        }
        let id = ring.next_id;
        ring.next_id += 1;
        let end_pts = at_pts.saturating_add(self.post_ns);
        // A moment already past: the pre-roll may hold its post-roll too.
        let newest_key = ring.gops.back().map_or(0, |g| g.key_pts);
        let (units, done) = match units.iter().position(|u| key_at_or_after(u, end_pts)) {
            Some(cut) => (units[..cut].to_vec(), true),
            None => (units, newest_key >= end_pts),
        };
        ring.gathering.push(Gathering { id, end_pts, units, done });
        Ok(id)
    }

    fn is_done(&self, id: u64) -> bool {
        self.ring().gathering.iter().find(|g| g.id == id).is_none_or(|g| g.done)
    }

    fn take(&self, id: u64) -> Vec<Unit> {
        let mut ring = self.ring();
        let i = ring.gathering.iter().position(|g| g.id == id);
        without_leading_pictures(i.map(|i| ring.gathering.swap_remove(i).units).unwrap_or_default())
    }

    /// The clip around the moment `at` (an issue's snapshot), once its post-roll has come in
    /// (or `post_secs` and a grace have passed in wall time, or `cancel` fired: then with what
    /// came). `urgent` clips (emergencies) are muxed before the others.
    pub async fn clip(&self, at: UnixMillis, urgent: bool, cancel: &CancellationToken) -> Result<Clip, ClipError> {
        let result = self.gather(at, urgent, cancel).await;
        match &result {
            Ok(_) => self.metrics.clips_written.inc(),
            Err(_) => self.metrics.clips_failed.inc(),
        }
        result
    }

    async fn gather(&self, at: UnixMillis, urgent: bool, cancel: &CancellationToken) -> Result<Clip, ClipError> {
        let id = self.begin(at)?;
        let deadline = Instant::now() + self.post + POST_ROLL_GRACE;
        while !self.is_done(id) && Instant::now() < deadline {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        let units = self.take(id);
        let first_pts = units.first().and_then(|u| u.buffer.pts()).map_or(0, gst::ClockTime::nseconds);
        let starts_at = self.time_of(first_pts);
        let (mp4, secs, frames) = Job::submit(units, urgent).await?;
        Ok(Clip { mp4, starts_at, secs, frames })
    }

    /// The capture time of the frame presented at `pts`, by the latest anchor.
    fn time_of(&self, pts: u64) -> UnixMillis {
        let anchor = self.ring().anchor;
        let (apts, ams) = anchor.unwrap_or((pts, UnixMillis::now().0));
        UnixMillis(ams + i64::try_from((i128::from(pts) - i128::from(apts)) / 1_000_000).unwrap_or(0))
    }
}

/// An open GOP's key frame (an H.265 CRA, an H.264 recovery point) is followed in decoding
/// order by pictures shown before it that refer to the GOP before: at the start of a clip they
/// cannot be decoded, so they go.
fn without_leading_pictures(mut units: Vec<Unit>) -> Vec<Unit> {
    let Some(key_pts) = units.first().and_then(|u| u.buffer.pts()) else { return units };
    let next_key = units.iter().skip(1).position(|u| !u.buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
    let first_gop = next_key.map_or(units.len(), |i| i + 1);
    let mut i = 0;
    units.retain(|u| {
        i += 1;
        i > first_gop || u.buffer.pts().is_none_or(|p| p >= key_pts)
    });
    units
}

fn key_at_or_after(unit: &Unit, pts: u64) -> bool {
    let key = !unit.buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    key && unit.buffer.pts().is_some_and(|p| p.nseconds() >= pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(pre: f64, post: f64, budget: u64) -> Arc<ClipRecorder> {
        let metrics = shaobing_metrics::Metrics::new();
        let config = ClipsConfig { pre_secs: pre, post_secs: post, memory_bytes: budget, ..ClipsConfig::default() };
        ClipRecorder::new(&config, ClipBudget::new(budget, metrics.clip_buffer_bytes()), metrics.camera("c"))
    }

    fn caps() -> gst::Caps {
        gst::init().unwrap();
        gst::Caps::builder("video/x-h264").field("stream-format", "byte-stream").build()
    }

    /// Frames at 10/s with a key frame every `gop` frames, `size` bytes each.
    fn feed(r: &ClipRecorder, from: u64, to: u64, gop: u64, size: usize) {
        let caps = caps();
        for i in from..to {
            let mut b = gst::Buffer::from_mut_slice(vec![0u8; size]);
            let key = i % gop == 0;
            {
                let b = b.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_mseconds(i * 100));
                if !key {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
            }
            r.push(&b, &caps, key);
            r.stamped(b.pts(), UnixMillis(1_000_000 + i as i64 * 100));
        }
    }

    fn pre_roll_secs(r: &ClipRecorder) -> f64 {
        let ring = r.ring();
        let (first, last) = (ring.gops.front().unwrap().key_pts, ring.gops.back().unwrap().units.len());
        let newest = ring.gops.back().unwrap().key_pts + (last as u64 - 1) * 100_000_000;
        (newest - first) as f64 / 1e9
    }

    #[test]
    fn the_pre_roll_keeps_whole_gops_covering_pre_secs() {
        let r = recorder(10.0, 10.0, 1 << 30);
        feed(&r, 0, 600, 20, 100);
        let held = pre_roll_secs(&r);
        assert!((10.0..=12.0).contains(&held), "{held} s held for a 10 s pre-roll with 2 s GOPs");
        let ring = r.ring();
        assert!(ring.gops.iter().all(|g| !g.units[0].flags().contains(gst::BufferFlags::DELTA_UNIT)));
        assert_eq!(r.budget.used.load(Ordering::Relaxed), ring.gops.iter().map(|g| g.bytes).sum::<i64>());
    }

    #[test]
    fn over_budget_a_camera_sheds_its_oldest_gops_and_counts_them() {
        let r = recorder(10.0, 10.0, 1 << 20);
        // 100 KB frames: a 10 s pre-roll would be 10 MB against a 1 MiB budget.
        feed(&r, 0, 200, 20, 100_000);
        let ring = r.ring();
        assert!(ring.gops.len() <= 2, "{} GOPs held", ring.gops.len());
        assert!(r.budget.used.load(Ordering::Relaxed) <= (1 << 20) + 20 * 100_000);
        assert!(r.metrics.preroll_shed.get() >= 5);
    }

    #[test]
    fn a_clip_spans_the_gop_before_the_moment_to_the_key_frame_after_it() {
        let r = recorder(3.0, 3.0, 1 << 30);
        feed(&r, 0, 100, 20, 10);
        // The moment is the newest frame (9.9 s): from the key frame at or before 6.9 s.
        let id = r.begin(UnixMillis(1_000_000 + 9_900)).unwrap();
        assert!(!r.is_done(id));
        feed(&r, 100, 150, 20, 10);
        assert!(r.is_done(id), "the key frame at 14 s (>= 12.9 s) ends it");
        let units = r.take(id);
        let pts: Vec<u64> = units.iter().map(|u| u.buffer.pts().unwrap().mseconds()).collect();
        assert_eq!((pts[0], *pts.last().unwrap()), (6_000, 13_900));
        assert!(!units[0].buffer.flags().contains(gst::BufferFlags::DELTA_UNIT));
    }

    #[test]
    fn a_moment_in_the_past_is_cut_from_the_pre_roll_and_a_restart_ends_a_clip() {
        let r = recorder(6.0, 2.0, 1 << 30);
        feed(&r, 0, 100, 10, 10);
        // The pre-roll reaches back to 3.0 s; the post-roll ends before the key frame at 9 s.
        let id = r.begin(UnixMillis(1_000_000 + 6_500)).unwrap();
        assert!(r.is_done(id));
        let pts: Vec<u64> = r.take(id).iter().map(|u| u.buffer.pts().unwrap().mseconds()).collect();
        assert_eq!((pts[0], *pts.last().unwrap()), (3_000, 8_900));
        let pending = r.begin(UnixMillis(1_000_000 + 9_900)).unwrap();
        r.restart();
        assert!(r.is_done(pending));
        assert!(matches!(r.begin(UnixMillis(1_000_000 + 9_900)), Err(ClipError::NoVideo)));
        assert_eq!(r.budget.used.load(Ordering::Relaxed), 0);
    }
}
