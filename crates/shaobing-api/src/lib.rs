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

pub use config::{ConsoleConfig, ConsoleConfigError, MapConfig};
pub use live::LiveFrames;
pub use server::{Server, serve};

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use shaobing_core::{Detection, Followed, Frame, ObjectKind, Place, Polygon};
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
    pub place: Place,
    /// What the camera's rules follow: drawn on the live frame unless everything is asked for.
    pub followed: Vec<Followed>,
    #[serde(skip)]
    pub kinds_of: ClassKinds,
}

/// The kinds a detected class means on a camera (its models' class maps).
#[derive(Clone)]
pub struct ClassKinds(pub Arc<KindsOf>);

/// A class name -> the kinds it means.
pub type KindsOf = dyn Fn(&str) -> Vec<ObjectKind> + Send + Sync;

impl std::fmt::Debug for ClassKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClassKinds")
    }
}

impl CameraView {
    /// Whether the camera's rules follow `d`: a kind they follow, at a score they count.
    pub fn follows(&self, d: &Detection) -> bool {
        let kinds = (self.kinds_of.0)(&d.label);
        self.followed.iter().any(|f| d.score >= f.min_score && kinds.contains(&f.kind))
    }
}

/// A sensor as configured: its group, what the group measures and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct SensorView {
    pub id: String,
    pub group: String,
    /// `air_quality`, `parking` or `road`.
    pub kind: String,
    pub location: Place,
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

/// Draws a live frame with its zones, detections (each marked whether the rules follow it) and a
/// caption into a JPEG. The wiring supplies it (OpenCV, in `shaobing-vision`): the console
/// stores frames but does not draw.
pub type FrameRenderer =
    Arc<dyn Fn(&Frame, &[(String, Polygon)], &[(Detection, bool)], &str) -> Result<Vec<u8>, String> + Send + Sync>;

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
    /// The map's tiles (`metrics.map`).
    pub map: MapConfig,
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
        .route("/api/v1/sensors/{id}/trend", get(sensors::trend))
        .route("/api/v1/events", get(issues::events))
        .route("/api/v1/map", get(map))
        .with_state(state);
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(|Path(file): Path<String>| static_file_owned(file)))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such path") })
}

/// The console's files besides the page (`index`), embedded in the binary: no build toolchain
/// or file tree at run time. One page, one script per view (loaded in this order, sharing `common.js`), one stylesheet,
/// and Leaflet for the map (`static/vendor/README.md` says where it comes from).
const STATIC: &[(&str, &str, &str)] = &[
    ("console.css", include_str!("../static/console.css"), "text/css; charset=utf-8"),
    ("common.js", include_str!("../static/common.js"), JS),
    ("emergency.js", include_str!("../static/emergency.js"), JS),
    ("issues.js", include_str!("../static/issues.js"), JS),
    ("cameras.js", include_str!("../static/cameras.js"), JS),
    ("sensors.js", include_str!("../static/sensors.js"), JS),
    ("map.js", include_str!("../static/map.js"), JS),
    ("terminal.js", include_str!("../static/terminal.js"), JS),
    ("panels.js", include_str!("../static/panels.js"), JS),
    ("main.js", include_str!("../static/main.js"), JS),
    ("leaflet.js", include_str!("../static/vendor/leaflet/leaflet.js"), JS),
    ("leaflet.css", include_str!("../static/vendor/leaflet/leaflet.css"), "text/css; charset=utf-8"),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The page, served at `/` only: it is told the box's zone, so every time on it is shown in
/// that zone, named, whatever zone the browser is in.
async fn index() -> Response {
    const PAGE: &str = include_str!("../static/index.html");
    let zone = shaobing_core::box_zone();
    let page = PAGE.replacen("__UTC_OFFSET_MINUTES__", &zone.minutes().to_string(), 1).replacen(
        "__ZONE_NAME__",
        &zone.name(),
        1,
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], page).into_response()
}

async fn static_file_owned(name: String) -> Response {
    static_file(&name).await
}

async fn static_file(name: &str) -> Response {
    match STATIC.iter().find(|(file, ..)| *file == name) {
        Some((_, body, kind)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None => ApiError::not_found(format!("no static file `{name}`")).into_response(),
    }
}

/// The map's background: the configured tiles, or none (a plain coordinate grid).
async fn map(axum::extract::State(state): axum::extract::State<Arc<ApiState>>) -> axum::Json<serde_json::Value> {
    let tiles = state.map.tiles_url.as_ref().map(
        |url| serde_json::json!({ "url": url, "attribution": state.map.attribution, "max_zoom": state.map.max_zoom }),
    );
    axum::Json(serde_json::json!({ "tiles": tiles }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::BBox;

    fn detection(label: &str, score: f32) -> Detection {
        Detection { class_id: 0, label: label.into(), score, bbox: BBox::from_corners(0.1, 0.1, 0.2, 0.2) }
    }

    #[test]
    fn the_live_frame_draws_only_what_the_rules_follow_at_their_score() {
        let kerb = CameraView {
            id: "kerb".into(),
            models: vec!["coco".into()],
            zones: Vec::new(),
            place: Default::default(),
            followed: vec![Followed {
                kind: ObjectKind::Vehicle,
                min_score: 0.4,
                categories: vec![shaobing_core::Category::IllegalParking],
            }],
            kinds_of: ClassKinds(Arc::new(|class: &str| ObjectKind::defaults_for(class).to_vec())),
        };
        assert!(kerb.follows(&detection("car", 0.5)));
        assert!(kerb.follows(&detection("truck", 0.4)), "at the rule's own score");
        assert!(!kerb.follows(&detection("car", 0.39)), "below the score the rule counts");
        assert!(!kerb.follows(&detection("person", 0.9)), "people are not what this camera's rules follow");
        assert!(!kerb.follows(&detection("sports ball", 0.9)));
    }
}
