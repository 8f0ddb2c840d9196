//! Key frames of every camera, decoded on a few shared decoders.
//!
//! In key-frame mode a camera's pipeline stops at compressed key frames, each one carrying its
//! own parameter sets, and hands them here. A key frame needs no earlier frame, so any decoder
//! can take any camera's: the process keeps one decoder per core instead of one per camera,
//! and with it one frame pool, one set of reference frames and one thread. Per 1080p camera
//! that was about 16 MiB of a 24 MiB total (measured with the cameras benchmark).
//!
//! A worker feeds a key frame into its chain `decoder -> videoconvertscale -> appsink` from
//! its own thread through a pad of its own and takes the picture. A decoder that held the
//! picture back for reordering is drained (it comes out) and flushed, so that between two
//! frames no decoder holds a picture that the next camera's frame could push out.

use crate::FrameSlot;
use crate::clock::StreamClock;
use crate::decode_queue::{DeadlineQueue, Shed};
use crate::gst_util::{element, frame_from_sample, scaler, sink_caps};
use crate::spec::CameraSpec;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use shaobing_core::{CameraId, Frame, UnixMillis};
use shaobing_metrics::CameraMetrics;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bursts of one camera waiting for a decoder, at most: a newer one displaces the oldest. Two
/// let a camera's next key frame queue behind one still waiting, and bound what a camera holds
/// (a 1080p key frame is ~150 KB compressed).
const PER_CAMERA: usize = 2;

/// How long a burst may wait for a decoder. Past it, the camera's next key frame is near and
/// the analysis would be stale: the burst is shed, counted, without costing a decode.
pub(crate) const DEADLINE: Duration = Duration::from_secs(4);

/// Where one camera's key frames go: the same for every frame of a run, shared by them.
pub(crate) struct Destination {
    camera: CameraId,
    width: Option<u32>,
    slot: Arc<FrameSlot>,
    pub metrics: CameraMetrics,
    /// When the camera's last key frame was decoded, for its run's watchdog.
    pub last_frame_ms: Arc<AtomicI64>,
    reporter: Reporter,
    seq: AtomicU64,
    /// Stamped when a key frame arrives, from its presentation time.
    clock: Mutex<StreamClock>,
    /// Frames decoded from each key frame on, and the current burst while it gathers.
    burst: usize,
    gathering: Mutex<Option<Burst>>,
    /// Bursts handed to the decoders and not yet delivered, reported or shed.
    pending: AtomicUsize,
    /// When the camera's newest burst was handed to the decoders.
    queued_ms: AtomicI64,
    /// Told each key frame's capture time, to place an issue's moment in the stream.
    clips: Option<Arc<crate::ClipRecorder>>,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination").field("camera", &self.camera).finish_non_exhaustive()
    }
}

impl Destination {
    pub fn new(
        spec: &CameraSpec,
        slot: Arc<FrameSlot>,
        metrics: CameraMetrics,
        last_frame_ms: Arc<AtomicI64>,
        reporter: Reporter,
    ) -> Self {
        let (camera, width, burst) = (spec.id.clone(), spec.analysis_width, spec.key_frame_burst.max(1));
        let clock = Mutex::new(StreamClock::new(StreamClock::is_live(&spec.uri), slot.last_captured()));
        let (seq, gathering) = (AtomicU64::new(0), Mutex::new(None));
        let (pending, queued_ms, clips) = (AtomicUsize::new(0), AtomicI64::new(0), spec.clips.clone());
        Self {
            camera,
            width,
            slot,
            metrics,
            last_frame_ms,
            reporter,
            seq,
            clock,
            burst,
            gathering,
            pending,
            queued_ms,
            clips,
        }
    }

    /// When the camera last showed it streams, for its watchdog: its last decoded frame or its
    /// newest key frame handed to the decoders. A box too loaded to decode them in time sheds
    /// them (counted); restarting the camera would only line its key frames up with the others.
    pub fn last_sign(&self) -> UnixMillis {
        UnixMillis(self.last_frame_ms.load(Ordering::Relaxed).max(self.queued_ms.load(Ordering::Relaxed)))
    }

    /// At the end of a stream: hands over the burst still gathering and waits (up to `limit`)
    /// until the decoders have delivered every burst of this camera, so a clip's last key
    /// frames reach the analysis before the camera reports its end.
    pub async fn finish(self: &Arc<Self>, limit: std::time::Duration) {
        let partial = self.gathering.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(burst) = partial {
            submit(DecodeJob { to: self.clone(), burst });
        }
        let deadline = Instant::now() + limit;
        while self.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Takes a compressed key frame, or a frame of its burst, and hands each complete burst to
    /// the process-wide decoders. A burst cut short by a new key frame (the stream lost
    /// frames) is decoded as far as it goes.
    pub fn send(self: &Arc<Self>, sample: gst::Sample) {
        let Some(buffer) = sample.buffer() else { return };
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let pts = buffer.pts();
        let mut gathering = self.gathering.lock().unwrap_or_else(|p| p.into_inner());
        if key {
            if let Some(cut_short) = gathering.take() {
                submit(DecodeJob { to: self.clone(), burst: cut_short });
            }
            let captured_at = self.clock.lock().unwrap_or_else(|p| p.into_inner()).stamp(pts);
            if let Some(clips) = &self.clips {
                clips.stamped(pts, captured_at);
            }
            *gathering = Some(Burst {
                samples: Vec::with_capacity(self.burst),
                key_pts: pts,
                captured_at,
                received: Instant::now(),
            });
        }
        // A follower whose key frame is gone decodes to nothing: it stops here.
        let Some(burst) = gathering.as_mut() else { return };
        burst.samples.push(sample);
        if burst.samples.len() >= self.burst
            && let Some(full) = gathering.take()
        {
            submit(DecodeJob { to: self.clone(), burst: full });
        }
    }
}

/// A key frame and the frames that follow it, in decoding order.
struct Burst {
    samples: Vec<gst::Sample>,
    key_pts: Option<gst::ClockTime>,
    /// When the key frame was captured; the followers are stamped from it by their
    /// presentation times.
    captured_at: UnixMillis,
    received: Instant,
}

impl Burst {
    /// When a decoded picture of this burst was captured; `None` for a picture shown before
    /// the key frame (an open GOP's leading pictures, which need the GOP before).
    fn captured(&self, pts: Option<gst::ClockTime>) -> Option<UnixMillis> {
        let (Some(key), Some(pts)) = (self.key_pts, pts) else { return Some(self.captured_at) };
        let after = pts.checked_sub(key)?;
        Some(UnixMillis(self.captured_at.0 + i64::try_from(after.mseconds()).unwrap_or(i64::MAX)))
    }
}

/// One camera's burst and where its decoded frames go.
struct DecodeJob {
    to: Arc<Destination>,
    burst: Burst,
}

/// Where a key frame that cannot be decoded is reported: it is an error of its camera's run,
/// classified and retried by the supervisor like any other.
pub(crate) enum Reporter {
    /// An element of the camera's pipeline, on whose bus the error is posted.
    Element(gst::glib::WeakRef<gst::Element>),
    /// A run without a pipeline (a retina session), which checks this.
    Run(Arc<Mutex<Option<String>>>),
}

/// The process-wide decoders' queue, with the decoders started on first use. They live as long
/// as the process: they hold no state worth saving, and the daemon stops by exiting.
fn queue() -> &'static DeadlineQueue<DecodeJob> {
    static QUEUE: OnceLock<&'static DeadlineQueue<DecodeJob>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue: &'static DeadlineQueue<DecodeJob> = Box::leak(Box::new(DeadlineQueue::new(PER_CAMERA)));
        start_workers(queue);
        queue
    })
}

/// Hands `job` to the decoders. Never a wait in the camera's streaming thread: the job queues,
/// and a camera with too many waiting gives up its oldest.
fn submit(job: DecodeJob) {
    let to = job.to.clone();
    to.pending.fetch_add(1, Ordering::AcqRel);
    to.queued_ms.store(UnixMillis::now().0, Ordering::Relaxed);
    let owner = Arc::as_ptr(&to) as usize;
    if let Some(displaced) = queue().push(owner, job.burst.received + DEADLINE, job) {
        shed(displaced, Shed::Displaced);
    }
}

/// A job that leaves the queue without a decode.
fn shed(job: DecodeJob, why: Shed) {
    let counter = match why {
        Shed::Expired => &job.to.metrics.key_frames_expired,
        Shed::Displaced => &job.to.metrics.key_frames_displaced,
    };
    counter.inc();
    job.to.pending.fetch_sub(1, Ordering::AcqRel);
}

fn start_workers(queue: &'static DeadlineQueue<DecodeJob>) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for i in 0..workers {
        let spawned = std::thread::Builder::new().name(format!("keyframes-{i}")).spawn(move || work(queue));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a key-frame decoder thread");
        }
    }
}

fn work(queue: &DeadlineQueue<DecodeJob>) {
    let mut chain: Option<Chain> = None;
    loop {
        let job = queue.pop(|late| shed(late, Shed::Expired));
        // A panic in a decoder or element must not take the thread with it: with every
        // decoder gone, nothing would take the queue again.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(&mut chain, &job)))
            .unwrap_or_else(|_| Err("the decoder panicked".into()));
        match decoded {
            Ok(frames) => deliver(&job, frames),
            Err(detail) => {
                // A fresh chain for the next frame: this one may be in any state.
                chain = None;
                report(&job, &detail);
            }
        }
        job.to.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

fn decode(chain: &mut Option<Chain>, job: &DecodeJob) -> Result<Vec<Frame>, String> {
    let first = job.burst.samples.first().ok_or("an empty burst")?;
    let caps = first.caps().ok_or("a key frame without caps")?;
    let media = caps.structure(0).map(|s| s.name().to_string()).ok_or("empty caps")?;
    let width = job.to.width;
    if chain.as_ref().is_none_or(|c| c.media != media || c.width != width) {
        *chain = Some(Chain::new(&media, width)?);
    }
    let chain = chain.as_mut().ok_or("no decoder")?;
    let mut frames = Vec::with_capacity(job.burst.samples.len());
    for sample in chain.decode(caps, &job.burst.samples)? {
        let Some(captured_at) = job.burst.captured(sample.buffer().and_then(|b| b.pts())) else { continue };
        let seq = job.to.seq.fetch_add(1, Ordering::Relaxed);
        let frame = frame_from_sample(&sample, &job.to.camera, seq, captured_at)
            .ok_or("a decoded frame without readable caps")?;
        frames.push(frame);
    }
    if frames.is_empty() {
        return Err("the decoder gave no picture from the key frame on".into());
    }
    Ok(frames)
}

fn deliver(job: &DecodeJob, frames: Vec<Frame>) {
    let to = &job.to;
    to.metrics.frames_decoded.inc_by(frames.len() as u64);
    to.metrics.decode_seconds.observe(job.burst.received.elapsed().as_secs_f64());
    to.last_frame_ms.store(UnixMillis::now().0, Ordering::Relaxed);
    let dropped = to.slot.put_all(frames);
    if dropped > 0 {
        to.metrics.frames_dropped.inc_by(dropped as u64);
    }
}

fn report(job: &DecodeJob, detail: &str) {
    job.to.metrics.frames_dropped.inc();
    match &job.to.reporter {
        Reporter::Element(element) => {
            if let Some(element) = element.upgrade() {
                gst::element_error!(element, gst::StreamError::Decode, ("cannot decode a key frame: {detail}"));
            }
        }
        Reporter::Run(errors) => {
            *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("cannot decode a key frame: {detail}"));
        }
    }
}

/// A decoder for one kind of stream, fed by hand from the worker's thread.
struct Chain {
    pipeline: gst::Pipeline,
    feed: gst::Pad,
    /// The frames decoded so far. A callback, not `pull_sample`: the drain query waits until
    /// the appsink's queue is empty, and the worker that would pull is the one waiting.
    decoded: Arc<Mutex<Vec<gst::Sample>>>,
    media: String,
    width: Option<u32>,
    caps: Option<gst::Caps>,
}

impl Chain {
    fn new(media: &str, width: Option<u32>) -> Result<Self, String> {
        let decoder = match media {
            "video/x-h264" => Some("avdec_h264"),
            "video/x-h265" => Some("avdec_h265"),
            "video/x-raw" => None,
            other => return Err(format!("no key-frame decoder for {other}")),
        };
        let pipeline = gst::Pipeline::with_name("keyframe-decoder");
        let mut chain = Vec::new();
        if let Some(name) = decoder {
            let element = element(name).map_err(|e| e.to_string())?;
            // One thread: the workers are already one per core.
            element.set_property("max-threads", 1i32);
            chain.push(element);
        }
        chain.push(scaler().map_err(|e| e.to_string())?);
        // No preroll: the worker pushes from its own thread and must never wait on the sink.
        let decoded = Arc::new(Mutex::new(Vec::new()));
        let into = decoded.clone();
        let sink = gst_app::AppSink::builder()
            .caps(&sink_caps(width))
            .sync(false)
            .callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        into.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            )
            .build();
        sink.set_property("async", false);
        chain.push(sink.clone().upcast());
        pipeline.add_many(&chain).map_err(|e| e.to_string())?;
        gst::Element::link_many(&chain).map_err(|e| e.to_string())?;
        let feed = gst::Pad::builder(gst::PadDirection::Src).name("feed").build();
        let first = chain[0].static_pad("sink").ok_or("the decoder has no sink pad")?;
        feed.set_active(true).map_err(|e| e.to_string())?;
        feed.link(&first).map_err(|e| e.to_string())?;
        pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
        feed.push_event(gst::event::StreamStart::new("keyframes"));
        Ok(Self { pipeline, feed, decoded, media: media.to_string(), width, caps: None })
    }

    /// Decodes a key frame and its followers; the pictures come back in presentation order.
    fn decode(&mut self, caps: &gst::CapsRef, samples: &[gst::Sample]) -> Result<Vec<gst::Sample>, String> {
        if self.caps.as_ref().is_none_or(|c| c.as_ref() != caps) {
            let caps = caps.to_owned();
            self.feed.push_event(gst::event::Caps::new(&caps));
            self.caps = Some(caps);
        }
        self.feed.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
        let mut refused = None;
        for sample in samples {
            let buffer = sample.buffer_owned().ok_or("a key frame without data")?;
            if let Err(flow) = self.feed.push(buffer) {
                refused = Some(flow);
                break;
            }
        }
        // A decoder without a reordering delay has given every picture back already and holds
        // nothing, so the next key frame, whichever camera's, can follow as it is. One that
        // holds pictures back for B-frames keeps some until its reorder queue fills; libav
        // gives them up only at the end of the stream (GstVideoDecoder answers a drain query
        // without draining libav), so the stream is ended and flushed back to the start.
        // After the flush libav frees and reallocates its tables: milliseconds per 1080p
        // frame, paid only by streams whose decoder holds pictures back.
        if self.decoded_count() < samples.len() {
            self.feed.push_event(gst::event::Eos::new());
            self.feed.push_event(gst::event::FlushStart::new());
            self.feed.push_event(gst::event::FlushStop::new(true));
            self.feed.push_event(gst::event::StreamStart::new("keyframes"));
            if let Some(caps) = &self.caps {
                self.feed.push_event(gst::event::Caps::new(caps));
            }
        }
        let mut decoded = std::mem::take(&mut *self.decoded.lock().unwrap_or_else(|p| p.into_inner()));
        decoded.sort_by_key(|s| s.buffer().and_then(|b| b.pts()));
        let error = self.error();
        match (refused, decoded.is_empty()) {
            (_, false) => Ok(decoded),
            (Some(flow), true) => Err(error.unwrap_or_else(|| format!("decoder refused the frame: {flow:?}"))),
            (None, true) => Err("the decoder gave no frame".into()),
        }
    }

    fn decoded_count(&self) -> usize {
        self.decoded.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The last error on the chain's bus; the other messages (state changes, warnings) are
    /// dropped with it, since nobody else reads this bus.
    fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let mut error = None;
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                error = Some(crate::gst_util::one_line(e.error(), e.debug()));
            }
        }
        error
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_metrics::Metrics;

    /// One 1080p H.264 key frame with its parameter sets, as a camera's pipeline hands it over.
    fn key_frame() -> gst::Sample {
        crate::init_gstreamer().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=1 pattern=ball ! video/x-raw,width=1920,height=1080 \
             ! x264enc speed-preset=ultrafast ! h264parse config-interval=-1 \
             ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let sample = sink.pull_sample().unwrap();
        pipeline.set_state(gst::State::Null).unwrap();
        sample
    }

    /// Cameras connected together send their key frames together: far more at once than the
    /// decoders take. Each waits its turn and is decoded; none is lost, and while a camera's
    /// waits the camera shows as streaming.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_key_frames_from_many_cameras_is_decoded_in_turn() {
        const CAMERAS: usize = 96;
        let sample = key_frame();
        let metrics = Metrics::new();
        let spec = crate::spec::tests::spec(Duration::from_secs(3));
        let cameras: Vec<(Arc<FrameSlot>, Arc<Destination>)> = (0..CAMERAS)
            .map(|i| {
                let spec = CameraSpec { id: CameraId(format!("burst{i}")), analysis_width: Some(960), ..spec.clone() };
                let slot = Arc::new(FrameSlot::new());
                let (cm, last) = (metrics.camera(&spec.id.0), Arc::new(AtomicI64::new(0)));
                let to = Destination::new(&spec, slot.clone(), cm, last, Reporter::Run(Arc::default()));
                (slot, Arc::new(to))
            })
            .collect();
        let sent = UnixMillis::now();
        for (_, to) in &cameras {
            to.send(sample.clone());
        }
        let waiting = cameras.iter().filter(|(_, to)| to.pending.load(Ordering::Acquire) > 0).count();
        assert!(waiting > 32, "the burst is larger than the decoders take at once ({waiting} waiting)");
        assert!(cameras.iter().all(|(_, to)| to.last_sign() >= sent), "a camera whose key frame waits is streaming");
        for (i, (slot, to)) in cameras.iter().enumerate() {
            let frame = slot.take(DEADLINE).await.unwrap();
            assert!(frame.is_some_and(|f| f.width == 960), "camera {i}: its key frame was decoded");
            assert_eq!(to.metrics.key_frames_expired.get() + to.metrics.key_frames_displaced.get(), 0, "camera {i}");
        }
    }
}
