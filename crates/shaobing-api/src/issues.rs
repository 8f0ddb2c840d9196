//! The problem database as the terminal app reads it: pages of issues, one issue with its
//! history, evidence files, and a stream of changes.

use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{Value, json};
use shaobing_core::UnixMillis;
use shaobing_issues::IssueDocument;
use shaobing_store::{Store, parse_status};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The API's connection; a panic elsewhere while it was held leaves nothing half-written.
pub(crate) fn open(state: &ApiState) -> std::sync::MutexGuard<'_, Store> {
    state.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    category: Option<String>,
    /// The camera or sensor that raised it.
    source: Option<String>,
    priority: Option<String>,
    /// First seen at or after, and before, these times (milliseconds since the epoch).
    since: Option<i64>,
    until: Option<i64>,
}

impl ListQuery {
    /// The store's filter, every value checked; an empty parameter is no filter.
    fn filter(&self) -> Result<shaobing_store::IssueFilter, ApiError> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let bad = |key: &str, e: String| ApiError::bad_request(format!("{key}: {e}"));
        let priority = match given(&self.priority).as_deref() {
            None => None,
            Some("routine") => Some(shaobing_core::Priority::Routine),
            Some("emergency") => Some(shaobing_core::Priority::Emergency),
            Some(other) => return Err(bad("priority", format!("expected routine or emergency, got `{other}`"))),
        };
        Ok(shaobing_store::IssueFilter {
            statuses: given(&self.status)
                .map(|list| list.split(',').map(|s| parse_status(s.trim())).collect::<Result<Vec<_>, _>>())
                .transpose()
                .map_err(|e| bad("status", e.to_string()))?
                .unwrap_or_default(),
            category: given(&self.category).map(|c| c.parse()).transpose().map_err(|e: String| bad("category", e))?,
            source: given(&self.source),
            priority,
            since: self.since.map(UnixMillis),
            until: self.until.map(UnixMillis),
        })
    }
}

pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit: expected 1..=500, got {limit}")));
    }
    let filter = q.filter()?;
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let page = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let store = open(&state);
        let rows =
            store.page(&filter, limit, after.as_ref().map(|(t, id)| (*t, id.as_str()))).map_err(ApiError::internal)?;
        let next =
            (rows.len() == limit).then(|| rows.last().map(|r| format!("{}.{}", r.first_seen_ms, r.id))).flatten();
        let items = rows
            .into_iter()
            .map(|r| {
                let evidence = store.evidence_of(&r.id).map_err(ApiError::internal)?;
                Ok(IssueDocument::new(r, &evidence))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(json!({ "items": items, "next_cursor": next }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(page))
}

/// Cursors are `<first seen ms>.<id>` of the last row of the previous page.
fn parse_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request(format!("cursor: `{cursor}` is not a cursor this API gave out"));
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

pub(crate) async fn detail(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let issue = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let store = open(&state);
        let issue = IssueDocument::load(&store, &id).map_err(|_| ApiError::not_found(format!("no issue `{id}`")))?;
        let history: Vec<Value> = store
            .history(&id)
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|h| {
                json!({
                    "from": h.from_status, "to": h.to_status, "actor": h.actor, "note": h.note,
                    "at": UnixMillis(h.at_ms).to_rfc3339(),
                    "chain_seq": h.link.chain_seq, "prev_hash": h.link.prev_hash, "hash": h.link.hash,
                })
            })
            .collect();
        let verdicts = store.get(&id).map(|row| shaobing_store::verdicts_for(&row)).map_err(ApiError::internal)?;
        let mut value = serde_json::to_value(issue).map_err(ApiError::internal)?;
        value["history"] = Value::Array(history);
        value["verdicts"] = json!(verdicts);
        Ok(value)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(issue))
}

pub(crate) async fn evidence(
    State(state): State<Arc<ApiState>>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (bytes, path) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, String), ApiError> {
        let store = open(&state);
        let rows = store.evidence_of(&id).map_err(ApiError::internal)?;
        // The latest of its kind: an issue raised again after a re-check has a clip per raising.
        let row = rows
            .into_iter()
            .rfind(|e| e.kind == kind)
            .ok_or_else(|| ApiError::not_found(format!("issue `{id}` has no `{kind}` evidence")))?;
        let bytes = std::fs::read(&row.path).map_err(|e| {
            // The path is the box's own business: logged here, never in the answer.
            tracing::warn!(issue = %id, %kind, path = %row.path, error = %e, "an evidence file is missing");
            ApiError::not_found(format!("the `{kind}` evidence file of issue `{id}` is missing"))
        })?;
        Ok((bytes, row.path))
    })
    .await
    .map_err(ApiError::internal)??;
    let kind = match path.rsplit('.').next() {
        Some("json") => "application/json",
        Some("mp4") => "video/mp4",
        _ => "image/jpeg",
    };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// `GET /api/v1/evidence`: the disk the evidence kept takes, per category, against
/// `evidence.max_bytes`.
pub(crate) async fn evidence_usage(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let max_bytes = state.evidence_max_bytes;
    let by_category = tokio::task::spawn_blocking(move || open(&state).evidence_bytes_by_category())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let total: u64 = by_category.iter().map(|(_, b)| b).sum();
    let categories: Vec<Value> = by_category.into_iter().map(|(c, b)| json!({"category": c, "bytes": b})).collect();
    Ok(Json(json!({ "total_bytes": total, "max_bytes": max_bytes, "categories": categories })))
}

/// `GET /api/v1/precision`: each camera's and sensor's precision per category (confirmed /
/// (confirmed + dismissed)), least precise first, as `shaobing issues report` gives it.
pub(crate) async fn precision(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let items = tokio::task::spawn_blocking(move || shaobing_store::precision(&open(&state)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/on-time`: each department's deadlines kept (responses and resolutions on
/// time, open issues overdue), least punctual first, as `shaobing issues report` gives it.
pub(crate) async fn on_time(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let figures = tokio::task::spawn_blocking(move || shaobing_store::report(&open(&state)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "items": shaobing_store::on_time(&figures) })))
}

/// `GET /api/v1/mask-suggestions`: places on a camera's view dismissed again and again,
/// offered as mask zones; a place an existing mask of its camera already covers is left out.
pub(crate) async fn mask_suggestions(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let s = state.clone();
    let offered = tokio::task::spawn_blocking(move || {
        shaobing_store::mask_suggestions(&open(&s), shaobing_core::UnixMillis::now())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let items: Vec<_> = offered.into_iter().filter(|m| !already_masked(&state, m)).collect();
    Ok(Json(json!({ "items": items, "after_dismissals": shaobing_store::MASK_AFTER_DISMISSALS })))
}

/// Whether the middle of suggestion `m` lies in a mask zone its camera has.
fn already_masked(state: &ApiState, m: &shaobing_store::MaskSuggestion) -> bool {
    let n = m.polygon.len().max(1) as f64;
    let (x, y) = m.polygon.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    let point = shaobing_core::Point { x: x as f32, y: y as f32 };
    state.cameras.iter().filter(|c| c.id == m.camera).flat_map(|c| &c.zones).filter(|z| z.kind == "mask").any(|z| {
        let points = z.polygon.iter().map(|p| shaobing_core::Point { x: p[0] as f32, y: p[1] as f32 }).collect();
        shaobing_core::Polygon::new(points).is_ok_and(|poly| poly.contains(point))
    })
}

/// Issue changes as they happen; a subscriber that falls behind is told how many it missed
/// (a `lagged` event) rather than silently losing them, and can reload the list.
pub(crate) async fn events(
    State(state): State<Arc<ApiState>>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = state.events.subscribe();
    let stream = stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => Event::default()
                .event("issue")
                .json_data(&e)
                .unwrap_or_else(|_| Event::default().comment("unencodable")),
            Err(broadcast::error::RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("ping"))
}
