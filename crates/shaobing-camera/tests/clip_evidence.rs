//! Clips around a moment, cut from real RTSP streams without decoding: H.264 and H.265, with
//! B-frames and without, in both analysis modes, each checked by demuxing and decoding it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use shaobing_camera::{ClipBudget, ClipRecorder, ClipsConfig, FileFrames, inspect_clip};
use shaobing_core::UnixMillis;
use shaobing_metrics::Metrics;
use shaobing_rtsp_server::{Codec, RtspServer, Stream};
use std::time::Duration;
use support::{Cam, spec, vtest, wait_for};
use tokio_util::sync::CancellationToken;

const PRE: f64 = 4.0;
const POST: f64 = 3.0;
/// Key frame every 15 frames: 1.5 s at the street clip's 10 frames/s.
const GOP: u32 = 15;

fn streams() -> Vec<Stream> {
    let s = |mount: &str, codec, bframes| Stream {
        codec,
        gop: GOP,
        bframes,
        size: Some((384, 288)),
        ..Stream::new(mount, &vtest())
    };
    vec![
        s("/h264", Codec::H264, 0),
        s("/h264b", Codec::H264, 2),
        s("/h265", Codec::H265, 0),
        s("/h265b", Codec::H265, 2),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_cover_the_moment_from_a_key_frame_in_both_modes_with_and_without_b_frames() {
    let server = RtspServer::start(0, &streams()).unwrap();
    let config = ClipsConfig { pre_secs: PRE, post_secs: POST, ..ClipsConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    for keyframes in [true, false] {
        let metrics = Metrics::new();
        let budget = ClipBudget::new(config.memory_bytes, metrics.clip_buffer_bytes());
        let mut cams = Vec::new();
        for mount in ["/h264", "/h264b", "/h265", "/h265b"] {
            let id = format!("{}{}", if keyframes { "k" } else { "f" }, &mount[1..]);
            let mut s = spec(&id, &server.url(mount));
            s.keyframes_only = keyframes;
            let recorder = ClipRecorder::new(&config, budget.clone(), metrics.camera(&id));
            s.clips = Some(recorder.clone());
            cams.push((mount, recorder, Cam::start(s, &metrics)));
        }
        // Enough stream behind the moment for the whole pre-roll.
        let streamed = |cam: &Cam| {
            let t = cam.times.lock().unwrap();
            t.len() >= 2 && t[t.len() - 1] - t[0] >= ((PRE + 2.0) * 1000.0) as i64
        };
        let ok = wait_for(Duration::from_secs(30), || cams.iter().all(|(_, _, c)| streamed(c))).await;
        assert!(ok.is_some(), "every camera streamed {PRE} s (keyframes: {keyframes})");
        let cancel = CancellationToken::new();
        let asked = cams.iter().map(|(mount, recorder, cam)| {
            let moment = UnixMillis(*cam.times.lock().unwrap().last().unwrap());
            let cancel = cancel.clone();
            async move { (mount, moment, recorder.clip(moment, false, &cancel).await) }
        });
        let clips = futures_util::future::join_all(asked).await;
        assert!(metrics.clip_buffer_bytes().get() > 0, "the pre-roll is counted");
        for (mount, moment, clip) in clips {
            let what = format!("{mount} keyframes={keyframes}");
            let clip = clip.unwrap_or_else(|e| panic!("{what}: {e}"));
            let path = dir.path().join(format!("{}-{keyframes}.mp4", &mount[1..]));
            std::fs::write(&path, &clip.mp4).unwrap();
            let info = inspect_clip(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
            let codec = if mount.starts_with("/h265") { "video/x-h265" } else { "video/x-h264" };
            assert_eq!(info.codec, codec, "{what}");
            assert!(info.starts_at_key_frame, "{what}: {info:?}");
            assert_eq!(info.frames, clip.frames, "{what}: every frame kept");
            // PRE + POST, plus up to a GOP before and one after (whole GOPs), less a GOP when
            // the moment fell early in the pre-roll.
            let gop = f64::from(GOP) / 10.0;
            assert!((PRE + POST - gop..=PRE + POST + 2.0 * gop).contains(&info.secs), "{what}: {info:?}");
            assert!((info.secs - clip.secs).abs() < 0.2, "{what}: {info:?} against {} s", clip.secs);
            let end = clip.starts_at.0 + (clip.secs * 1000.0) as i64;
            assert!(clip.starts_at <= moment && moment.0 < end, "{what}: {moment:?} outside {clip:?}");
            let decoded = FileFrames::open(&path, UnixMillis(0)).unwrap().count();
            assert_eq!(decoded, info.frames, "{what}: every frame decodes");
        }
        for (_, _, cam) in cams {
            assert_eq!(cam.metrics.clips_written.get(), 1);
            cam.stop().await;
        }
    }
}
