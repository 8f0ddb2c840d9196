//! Compressed frames into an MP4, by GStreamer's parsers and `mp4mux`, one clip at a time on
//! one thread (a clip is a few hundred frames: tens of milliseconds), emergencies first.

use crate::gst_util::element;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use tokio::sync::oneshot;

/// How long muxing one clip may take before it is given up.
const MUX_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(30);

/// A frame as received, with the caps of its stream.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub buffer: gst::Buffer,
    pub caps: gst::Caps,
}

#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("clip of a {0} stream: only H.264 and H.265 are kept as clips")]
    Codec(String),
    #[error("cannot build the clip pipeline: {0}")]
    Pipeline(String),
    #[error("the clip muxer failed: {0}")]
    Failed(String),
    #[error("the clip muxer is gone")]
    Gone,
}

type Muxed = Result<(Vec<u8>, f64, usize), MuxError>;

/// A clip waiting for the muxer.
pub(crate) struct Job {
    urgent: bool,
    seq: u64,
    units: Vec<Unit>,
    reply: oneshot::Sender<Muxed>,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        (self.urgent, self.seq) == (other.urgent, other.seq)
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    /// Urgent first, then oldest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.urgent.cmp(&other.urgent).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<(BinaryHeap<Job>, u64)>,
    ready: Condvar,
}

impl Job {
    /// Muxes `units` on the process's clip thread: the MP4, its seconds and frames.
    pub(crate) async fn submit(units: Vec<Unit>, urgent: bool) -> Muxed {
        let (reply, answer) = oneshot::channel();
        let queue = queue();
        {
            let mut jobs = queue.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.1 += 1;
            let seq = jobs.1;
            jobs.0.push(Job { urgent, seq, units, reply });
        }
        queue.ready.notify_one();
        answer.await.unwrap_or(Err(MuxError::Gone))
    }
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<&'static Queue> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue: &'static Queue = Box::leak(Box::default());
        let spawned = std::thread::Builder::new().name("clips".into()).spawn(move || {
            loop {
                let job = {
                    let mut jobs = queue.jobs.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if let Some(job) = jobs.0.pop() {
                            break job;
                        }
                        jobs = queue.ready.wait(jobs).unwrap_or_else(|p| p.into_inner());
                    }
                };
                let _ = job.reply.send(mux(&job.units));
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the clip thread; clips will fail");
        }
        queue
    })
}

/// Decoding timestamps for frames in decoding order that carry only presentation times (RTP
/// carries no other): the sorted presentation times, shifted so that no frame is decoded
/// after it is shown. Returns (pts, dts) per frame, starting at dts 0.
pub(crate) fn timeline(pts: &[Option<u64>]) -> Vec<(u64, u64)> {
    const FRAME_NS: u64 = 40_000_000;
    let mut filled = Vec::with_capacity(pts.len());
    let mut last: Option<u64> = None;
    for p in pts {
        let p = p.or(last.map(|l| l + FRAME_NS)).unwrap_or(0);
        filled.push(p);
        last = Some(p);
    }
    let mut sorted = filled.clone();
    sorted.sort_unstable();
    let shift = filled.iter().zip(&sorted).map(|(p, d)| d.saturating_sub(*p)).max().unwrap_or(0);
    let base = sorted.first().copied().unwrap_or(0);
    filled.iter().zip(&sorted).map(|(p, d)| (p - base + shift, d - base)).collect()
}

fn parser_for(caps: &gst::Caps) -> Result<&'static str, MuxError> {
    let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
    match name.as_str() {
        "video/x-h264" => Ok("h264parse"),
        "video/x-h265" => Ok("h265parse"),
        _ => Err(MuxError::Codec(name)),
    }
}

/// `appsrc -> h26xparse -> mp4mux (moov first, for playing in a browser) -> appsink`.
fn mux(units: &[Unit]) -> Muxed {
    let first = units.first().ok_or(MuxError::Failed("no frames".into()))?;
    let pipeline_error = |e: &dyn std::fmt::Display| MuxError::Pipeline(e.to_string());
    let parser = element(parser_for(&first.caps)?).map_err(|e| pipeline_error(&e))?;
    let mux = element("mp4mux").map_err(|e| pipeline_error(&e))?;
    mux.set_property("faststart", true);
    let src = gst_app::AppSrc::builder().caps(&first.caps).format(gst::Format::Time).build();
    let sink = gst_app::AppSink::builder().sync(false).build();
    let pipeline = gst::Pipeline::new();
    pipeline.add_many([src.upcast_ref(), &parser, &mux, sink.upcast_ref()]).map_err(|e| pipeline_error(&e))?;
    gst::Element::link_many([src.upcast_ref(), &parser, &mux, sink.upcast_ref()]).map_err(|e| pipeline_error(&e))?;
    let result = run(&pipeline, &src, &sink, units);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run(pipeline: &gst::Pipeline, src: &gst_app::AppSrc, sink: &gst_app::AppSink, units: &[Unit]) -> Muxed {
    let failed = |e: &dyn std::fmt::Display| MuxError::Failed(e.to_string());
    pipeline.set_state(gst::State::Playing).map_err(|e| failed(&e))?;
    let times = timeline(&units.iter().map(|u| u.buffer.pts().map(gst::ClockTime::nseconds)).collect::<Vec<_>>());
    for (unit, (pts, dts)) in units.iter().zip(&times) {
        let mut buffer = unit.buffer.copy();
        {
            let b = buffer.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(*pts));
            b.set_dts(gst::ClockTime::from_nseconds(*dts));
            b.set_duration(gst::ClockTime::NONE);
        }
        let sample = gst::Sample::builder().buffer(&buffer).caps(&unit.caps).build();
        src.push_sample(&sample).map_err(|e| failed(&e))?;
    }
    src.end_of_stream().map_err(|e| failed(&e))?;
    let mut mp4 = Vec::new();
    while let Some(sample) = sink.try_pull_sample(MUX_TIMEOUT) {
        if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
            mp4.extend_from_slice(map.as_slice());
        }
    }
    if let Some(error) = bus_error(pipeline) {
        return Err(MuxError::Failed(error));
    }
    if !sink.is_eos() {
        return Err(MuxError::Failed(format!("no end of stream within {MUX_TIMEOUT}")));
    }
    let span = times.iter().map(|t| t.0).max().unwrap_or(0) - times.iter().map(|t| t.0).min().unwrap_or(0);
    let frame = if units.len() > 1 { span / (units.len() as u64 - 1) } else { 0 };
    Ok((mp4, (span + frame) as f64 / 1e9, units.len()))
}

pub(super) fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(crate::gst_util::one_line(e.error(), e.debug()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergencies_are_muxed_first_then_the_oldest() {
        let job = |urgent, seq| Job { urgent, seq, units: Vec::new(), reply: oneshot::channel().0 };
        let mut heap: BinaryHeap<Job> =
            [job(false, 1), job(true, 3), job(false, 2), job(true, 4)].into_iter().collect();
        let order: Vec<(bool, u64)> = std::iter::from_fn(|| heap.pop()).map(|j| (j.urgent, j.seq)).collect();
        assert_eq!(order, [(true, 3), (true, 4), (false, 1), (false, 2)]);
    }

    #[test]
    fn decoding_times_never_pass_presentation_times() {
        // I0 P3 B1 B2 P6 B4 B5 in decoding order, 40 ms frames.
        let ms = |v: &[u64]| v.iter().map(|m| Some(m * 1_000_000 + 5_000_000_000)).collect::<Vec<_>>();
        let t = timeline(&ms(&[0, 120, 40, 80, 240, 160, 200]));
        assert_eq!(t[0].1, 0);
        assert!(t.windows(2).all(|w| w[0].1 < w[1].1), "decoding times increase: {t:?}");
        assert!(t.iter().all(|(p, d)| d <= p), "{t:?}");
        let shown: Vec<u64> = t.iter().map(|(p, _)| p - t[0].0).collect();
        assert_eq!(shown, [0, 120, 40, 80, 240, 160, 200].map(|m| m * 1_000_000));
        // Without B-frames nothing shifts; a missing time follows the previous frame.
        let t = timeline(&[Some(0), None, Some(80_000_000)]);
        assert_eq!(t, vec![(0, 0), (40_000_000, 40_000_000), (80_000_000, 80_000_000)]);
    }
}
