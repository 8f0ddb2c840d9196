//! The JSON API and web console (`docs/openapi.json`): cameras with their state and live
//! annotated frames, issues with their evidence, sensors with their latest readings, a
//! server-sent event stream of issue changes for the sub-district's terminal app, and the
//! operators' verdicts, which go to the issues room's one door.
//!
//! Served on one listener with `/metrics`, `/healthz` and `/readyz`, behind one access rule
//! (`access.rs`): a viewer token reads, the operator token also gives verdicts.

mod access;
mod config;
mod issues;
mod live;
mod sensors;
mod server;
mod verdicts;

pub use config::{ConsoleConfig, ConsoleConfigError};
pub use live::LiveFrames;
pub use server::{Server, serve};

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use shaobing_core::{Detection, Frame, Polygon};
use shaobing_metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A camera as configured: what the API shows besides its live state.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub id: String,
    pub models: Vec<String>,
    pub zones: Vec<ZoneView>,
}

/// A sensor as configured: its group, what the group measures and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct SensorView {
    pub id: String,
    pub group: String,
    /// `air_quality`, `parking` or `road`.
    pub kind: String,
    pub location: SensorLocation,
}

#[derive(Debug, Clone, Serialize)]
pub struct SensorLocation {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    pub id: String,
    pub kind: String,
    pub polygon: Vec<[f64; 2]>,
}

impl ZoneView {
    pub fn new(id: &str, kind: &str, polygon: &Polygon) -> Self {
        // Rounded to 1e-6: as written in the configuration, not as f32 widened to f64.
        let round = |v: f32| (f64::from(v) * 1e6).round() / 1e6;
        let polygon = polygon.points().iter().map(|p| [round(p.x), round(p.y)]).collect();
        Self { id: id.into(), kind: kind.into(), polygon }
    }
}

/// Draws a live frame with its zones, detections and a caption into a JPEG. The wiring
/// supplies it (OpenCV, in `shaobing-vision`): the console stores frames but does not draw.
pub type FrameRenderer =
    Arc<dyn Fn(&Frame, &[(String, Polygon)], &[Detection], &str) -> Result<Vec<u8>, String> + Send + Sync>;

/// Everything the handlers read.
pub struct ApiState {
    pub cameras: Vec<CameraView>,
    pub live: LiveFrames,
    pub metrics: Metrics,
    /// A read connection to the box's problem database, opened once.
    pub store: std::sync::Mutex<shaobing_store::Store>,
    /// The sensors' readings database, when the box ingests sensors.
    pub readings_db: Option<PathBuf>,
    /// The configured sensors, listed with their latest readings.
    pub sensors: Vec<SensorView>,
    pub events: broadcast::Sender<shaobing_issues::IssueEvent>,
    /// The operator's token (`metrics.access_token`): reads and gives verdicts.
    pub token: Option<String>,
    /// A token that only reads (`metrics.viewer_token`).
    pub viewer_token: Option<String>,
    /// Where verdicts go: the issues room's writer.
    pub verdicts: Option<shaobing_issues::Verdicts>,
    /// `evidence.max_bytes`, shown beside the disk use.
    pub evidence_max_bytes: u64,
    pub render: FrameRenderer,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("cameras", &self.cameras).finish_non_exhaustive()
    }
}

/// A JSON error body with its status.
#[derive(Debug)]
pub struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl ApiError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, what.into())
    }
    pub(crate) fn bad_request(what: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, what.into())
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The console and the API.
fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    let api = Router::new()
        .route("/api/v1/cameras", get(live::cameras))
        .route("/api/v1/cameras/{id}/frame.jpg", get(live::frame_jpeg))
        .route("/api/v1/issues", get(issues::list))
        .route("/api/v1/issues/{id}", get(issues::detail))
        .route("/api/v1/issues/{id}/evidence/{kind}", get(issues::evidence))
        .route("/api/v1/issues/{id}/verdict", post(verdicts::apply))
        .route("/api/v1/issues/{id}/suppression", delete(verdicts::lift))
        .route("/api/v1/suppressions", get(verdicts::list))
        .route("/api/v1/evidence", get(issues::evidence_usage))
        .route("/api/v1/precision", get(issues::precision))
        .route("/api/v1/on-time", get(issues::on_time))
        .route("/api/v1/mask-suggestions", get(issues::mask_suggestions))
        .route("/api/v1/sensors", get(sensors::list))
        .route("/api/v1/events", get(issues::events))
        .with_state(state);
    Router::new()
        .route("/", get(|| static_file("index.html")))
        .route("/static/{file}", get(|Path(file): Path<String>| static_file_owned(file)))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such path") })
}

const INDEX_HTML: &str = include_str!("../static/index.html");
const CONSOLE_JS: &str = include_str!("../static/console.js");
const CONSOLE_CSS: &str = include_str!("../static/console.css");

async fn static_file_owned(name: String) -> Response {
    static_file(&name).await
}

/// The console's files, embedded in the binary: no build toolchain or file tree at run time.
async fn static_file(name: &str) -> Response {
    let (body, kind) = match name {
        "index.html" => (INDEX_HTML, "text/html; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => return ApiError::not_found(format!("no static file `{name}`")).into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}
