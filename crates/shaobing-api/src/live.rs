//! What each camera sees now: its state and counters, and its latest analysed frame drawn with
//! the detections and zones on request (never per frame: nobody may be watching).

use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shaobing_core::{Detection, Frame, LiveView, Polygon, UnixMillis};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A camera's latest analysed frame, what was detected in it, and its analysed frames per
/// second (a moving average over the last few frames).
type Live = (Frame, Vec<Detection>, f64);

/// The latest analysed frame of each camera with what was detected in it. Holding one frame
/// per camera behind an `Arc` costs no copy: the frame is the one analysis already has.
#[derive(Debug, Clone, Default)]
pub struct LiveFrames(Arc<Mutex<HashMap<String, Live>>>);

impl LiveView for LiveFrames {
    fn publish(&self, frame: &Frame, detections: &[Detection]) {
        let camera = frame.camera.0.as_str();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let rate = match map.get(camera) {
            Some((last, _, rate)) if frame.captured_at.0 > last.captured_at.0 => {
                let now = 1000.0 / (frame.captured_at.0 - last.captured_at.0) as f64;
                if *rate == 0.0 { now } else { 0.8 * rate + 0.2 * now }
            }
            Some((_, _, rate)) => *rate,
            None => 0.0,
        };
        map.insert(camera.to_string(), (frame.clone(), detections.to_vec(), rate));
    }
}

impl LiveFrames {
    fn latest(&self, camera: &str) -> Option<Live> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(camera).cloned()
    }
}

pub(crate) async fn cameras(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let items: Vec<Value> = state
        .cameras
        .iter()
        .map(|c| {
            let m = state.metrics.camera(&c.id);
            let live = state.live.latest(&c.id);
            let last = live.as_ref().map(|(f, _, _)| f.captured_at.to_rfc3339());
            let analysed_fps = live.as_ref().map_or(0.0, |(_, _, rate)| (rate * 100.0).round() / 100.0);
            json!({
                "id": c.id,
                "state": m.state().map_or("connecting", |s| s.as_str()),
                "up": m.up.get() == 1,
                "down_reason": m.down_reason(),
                "models": c.models,
                "frames": {
                    "received": m.frames_received.get(),
                    "decoded": m.frames_decoded.get(),
                    "analysed": m.frames_analysed.get(),
                    "dropped": m.frames_dropped.get(),
                },
                "analysed_fps": analysed_fps,
                "last_frame_at": last,
                "zones": c.zones,
                "place": c.place,
                "followed": c.followed,
            })
        })
        .collect();
    Json(json!({ "items": items }))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct FrameQuery {
    /// `1`: draw every detection, not only what the camera's rules follow.
    #[serde(default)]
    all: Option<u8>,
}

pub(crate) async fn frame_jpeg(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Query(q): Query<FrameQuery>,
) -> Result<Response, ApiError> {
    let camera =
        state.cameras.iter().find(|c| c.id == id).ok_or_else(|| ApiError::not_found(format!("no camera `{id}`")))?;
    let (frame, detections, _) = state
        .live
        .latest(&id)
        .ok_or_else(|| ApiError::not_found(format!("camera `{id}` has no analysed frame yet")))?;
    let polygons: Vec<(String, Polygon)> = camera
        .zones
        .iter()
        .filter_map(|z| {
            let points = z.polygon.iter().map(|[x, y]| shaobing_core::Point { x: *x as f32, y: *y as f32 }).collect();
            Polygon::new(points).ok().map(|p| (z.id.clone(), p))
        })
        .collect();
    let everything = q.all.unwrap_or(0) != 0;
    let marked: Vec<(Detection, bool)> = detections
        .into_iter()
        .map(|d| {
            let followed = camera.follows(&d);
            (d, followed)
        })
        .filter(|(_, followed)| everything || *followed)
        .collect();
    // Drawing and encoding a frame is milliseconds of CPU: off the async workers.
    let render = state.render.clone();
    let jpeg = tokio::task::spawn_blocking(move || {
        let caption = format!("{id} {}", UnixMillis(frame.captured_at.0).to_local_string_zoned());
        render(&frame, &polygons, &marked, &caption).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg).into_response())
}
