//! Verdicts from the console: confirm, dismiss (with a reason), dispatch, handled, verify,
//! note, and the undo of a dismissal's suppression. Each goes through the issues room's one
//! door (`shaobing_issues::Verdicts`) and so through the store's lifecycle rules; the access
//! rule lets only the operator token change anything.

use crate::{ApiError, ApiState};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use shaobing_core::Verdict;
use shaobing_issues::{IssueDocument, VerdictError, Verdicts};
use shaobing_store::StoreError;
use std::sync::Arc;

/// Longest name accepted for who gives a verdict.
const MAX_BY_CHARS: usize = 64;
/// Longest note accepted.
const MAX_NOTE_CHARS: usize = 2_000;

// No `deny_unknown_fields`: serde cannot combine it with the flattened verdict.
#[derive(Debug, Deserialize)]
pub(crate) struct VerdictBody {
    #[serde(flatten)]
    verdict: Verdict,
    /// Who gives it (the operator's name or staff number), recorded in the history.
    by: String,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ByBody {
    by: String,
}

fn door(state: &ApiState) -> Result<&Verdicts, ApiError> {
    state
        .verdicts
        .as_ref()
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "verdicts are taken by the running daemon".into()))
}

fn actor(by: &str) -> Result<String, ApiError> {
    let by = by.trim();
    if by.is_empty() || by.chars().count() > MAX_BY_CHARS || by.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "by: who gives the verdict, 1 to {MAX_BY_CHARS} printable characters"
        )));
    }
    Ok(format!("console:{by}"))
}

fn refused(e: VerdictError) -> ApiError {
    match e {
        VerdictError::Store(StoreError::NotFound(id)) => ApiError::not_found(format!("issue `{id}` not found")),
        VerdictError::Store(StoreError::Transition(t)) => ApiError(StatusCode::CONFLICT, t.to_string()),
        VerdictError::Stopped => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        VerdictError::Store(other) => ApiError::internal(other),
    }
}

/// `POST /api/v1/issues/{id}/verdict` with `{"verdict": "dismiss", "reason": "permitted",
/// "by": "…", "note": "…"}`: the issue as it now stands.
pub(crate) async fn apply(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Result<Json<VerdictBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let actor = actor(&body.by)?;
    let note = body.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ApiError::bad_request(format!("note: at most {MAX_NOTE_CHARS} characters")));
    }
    if body.verdict == Verdict::Note && note.is_none() {
        return Err(ApiError::bad_request("note: a note verdict needs its text"));
    }
    let row = door(&state)?.apply(&id, body.verdict, &actor, note).await.map_err(refused)?;
    let issue = tokio::task::spawn_blocking(move || {
        let store = crate::issues::open(&state);
        let evidence = store.evidence_of(&row.id).map_err(ApiError::internal)?;
        Ok::<_, ApiError>(IssueDocument::new(row, &evidence))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(json!({ "issue": issue })))
}

/// `DELETE /api/v1/issues/{id}/suppression` with `{"by": "…"}`: undoes what the issue's
/// dismissal suppressed.
pub(crate) async fn lift(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Result<Json<ByBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let lifted = door(&state)?.lift(&id, &actor(&body.by)?).await.map_err(refused)?;
    Ok(Json(json!({ "lifted": lifted })))
}

/// `GET /api/v1/suppressions`: the places and categories dismissed and not filed again, with
/// who dismissed them, until when, and how many candidates each held back.
pub(crate) async fn list(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let items = tokio::task::spawn_blocking(move || crate::issues::open(&state).suppressions())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "items": items })))
}
