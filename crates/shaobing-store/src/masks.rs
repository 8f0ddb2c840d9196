//! What repeated dismissals teach beyond a suppression: a place on a camera's view that
//! operators dismissed again and again (a permitted market, a loading bay, a flag that looks
//! like flame) is offered as a mask zone, so the camera stops looking there at all.

use crate::{Store, StoreError};
use serde::Serialize;
use shaobing_core::{BBox, Detection, UnixMillis};
use std::collections::BTreeMap;

/// Dismissals at one place that make it a suggested mask.
pub const MASK_AFTER_DISMISSALS: usize = 3;
/// How far back dismissals count.
pub const MASK_LOOKBACK_MS: i64 = 30 * 86_400_000;
/// The grid places are compared on: the one the camera's dedup keys use.
const GRID: f64 = 16.0;

/// A place on a camera's view offered as a mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskSuggestion {
    pub camera: String,
    /// The grid cell (`x-y` of 16 x 16) the dismissed issues stood in.
    pub cell: String,
    pub dismissals: usize,
    pub categories: Vec<String>,
    /// The area the dismissed issues' detections covered, in normalised image coordinates,
    /// clockwise from the top left: what a `[[cameras.zones]]` mask's `polygon` takes.
    pub polygon: Vec<[f64; 2]>,
    pub last_dismissed_ms: i64,
}

struct Dismissed {
    camera: String,
    category: String,
    x: f64,
    y: f64,
    detections: Vec<Detection>,
    at: i64,
}

fn cell(v: f64) -> u32 {
    ((v.clamp(0.0, 1.0) * GRID) as u32).min(GRID as u32 - 1)
}

/// The area `members` cover: the union of their detections' boxes, else their cell.
fn area(members: &[&Dismissed]) -> Vec<[f64; 2]> {
    let boxes: Vec<BBox> = members.iter().flat_map(|d| d.detections.iter().map(|det| det.bbox)).collect();
    let (x1, y1, x2, y2) = if boxes.is_empty() {
        let (cx, cy) = (f64::from(cell(members[0].x)), f64::from(cell(members[0].y)));
        (cx / GRID, cy / GRID, (cx + 1.0) / GRID, (cy + 1.0) / GRID)
    } else {
        boxes.iter().fold((1.0f64, 1.0f64, 0.0f64, 0.0f64), |(a, b, c, d), bb| {
            (a.min(f64::from(bb.x1)), b.min(f64::from(bb.y1)), c.max(f64::from(bb.x2)), d.max(f64::from(bb.y2)))
        })
    };
    let r = |v: f64| (v * 1e4).round() / 1e4;
    vec![[r(x1), r(y1)], [r(x2), r(y1)], [r(x2), r(y2)], [r(x1), r(y2)]]
}

/// Places on each camera's view dismissed at least [`MASK_AFTER_DISMISSALS`] times within
/// [`MASK_LOOKBACK_MS`] of `now`, most dismissed first.
pub fn mask_suggestions(store: &Store, now: UnixMillis) -> Result<Vec<MaskSuggestion>, StoreError> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT source, category, image_x, image_y, detections_json, updated_ms FROM issues
             WHERE status = 'dismissed' AND image_x IS NOT NULL AND image_y IS NOT NULL AND updated_ms >= ?1",
        )
        .map_err(store.sql_err())?;
    let rows = stmt
        .query_map([now.0 - MASK_LOOKBACK_MS], |r| {
            let json: String = r.get(4)?;
            Ok(Dismissed {
                camera: r.get(0)?,
                category: r.get(1)?,
                x: r.get(2)?,
                y: r.get(3)?,
                detections: serde_json::from_str(&json).unwrap_or_default(),
                at: r.get(5)?,
            })
        })
        .map_err(store.sql_err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(store.sql_err())?;
    let mut places: BTreeMap<(&str, u32, u32), Vec<&Dismissed>> = BTreeMap::new();
    for d in &rows {
        places.entry((&d.camera, cell(d.x), cell(d.y))).or_default().push(d);
    }
    let mut offered: Vec<MaskSuggestion> = places
        .into_iter()
        .filter(|(_, members)| members.len() >= MASK_AFTER_DISMISSALS)
        .map(|((camera, cx, cy), members)| {
            let mut categories: Vec<String> = members.iter().map(|d| d.category.clone()).collect();
            categories.sort();
            categories.dedup();
            MaskSuggestion {
                camera: camera.to_string(),
                cell: format!("{cx}-{cy}"),
                dismissals: members.len(),
                categories,
                polygon: area(&members),
                last_dismissed_ms: members.iter().map(|d| d.at).max().unwrap_or_default(),
            }
        })
        .collect();
    offered.sort_by(|a, b| b.dismissals.cmp(&a.dismissals).then(a.camera.cmp(&b.camera)).then(a.cell.cmp(&b.cell)));
    Ok(offered)
}
