//! Output heads: turning a model's raw output tensor into detections.

use serde::Deserialize;
use shaobing_core::Detection;
use shaobing_vision::LetterboxTransform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// `[B, N, 6]`: x1, y1, x2, y2, score, class per row, rows of a fixed top-K; needs NMS.
    Centernet,
    /// Ultralytics YOLOv8/YOLO11 export `[B, 4 + C, A]`: per anchor cx, cy, w, h, then one
    /// score per class (no objectness); needs NMS.
    Yolo,
    /// CenterNet cut at its two heads: class logits `[B, C, H, W]` before the sigmoid, and each
    /// cell's distances to the box's left, top, right and bottom edges `[B, 4, H, W]`; peaks
    /// (3 x 3 maxima) are found here, only among the cells above the score threshold.
    CenternetHeads,
    /// TensorFlow Object Detection API SSD with NMS inside the graph: four outputs, boxes
    /// `[B, N, 4]` as normalised y1, x1, y2, x2, scores `[B, N]`, classes `[B, N]`, count `[B]`.
    Ssd,
}

impl OutputFormat {
    /// Whether the graph already suppresses overlapping boxes.
    pub fn has_nms(self) -> bool {
        matches!(self, OutputFormat::Ssd)
    }
}

/// Where decoded boxes go and which of them are kept.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    /// Converts box units to model-input pixels (1 for pixels, the input size for normalised).
    pub units_per_pixel: (f32, f32),
    pub transform: &'a LetterboxTransform,
    pub class_names: &'a [String],
    pub min_score: f32,
}

impl DecodeContext<'_> {
    /// A detection from a box in model units, or `None` when it is weak, of an unknown class
    /// or degenerate. NaN scores fail the comparison and are dropped with the weak ones.
    fn detection(&self, class: f32, score: f32, [x1, y1, x2, y2]: [f32; 4]) -> Option<Detection> {
        if score.partial_cmp(&self.min_score).is_none_or(|o| o.is_lt()) || !class.is_finite() || class < 0.0 {
            return None;
        }
        let class_id = class.round() as u32;
        let label = self.class_names.get(class_id as usize)?.clone();
        let (sx, sy) = self.units_per_pixel;
        let bbox = self.transform.to_frame(x1 * sx, y1 * sy, x2 * sx, y2 * sy);
        (bbox.area() > 0.0).then_some(Detection { class_id, label, score, bbox })
    }
}

/// Decodes one image's `[4 + C, A]` block of a YOLOv8-style head: the best class per anchor.
pub fn decode_yolo(block: &[f32], anchors: usize, ctx: &DecodeContext<'_>) -> Vec<Detection> {
    let classes = (block.len() / anchors.max(1)).saturating_sub(4);
    let row = |r: usize| &block[r * anchors..(r + 1) * anchors];
    let mut best = vec![(0.0f32, 0usize); anchors];
    for c in 0..classes {
        for (a, s) in row(4 + c).iter().enumerate() {
            if *s > best[a].0 {
                best[a] = (*s, c);
            }
        }
    }
    let (cx, cy, w, h) = (row(0), row(1), row(2), row(3));
    best.iter()
        .enumerate()
        .filter(|(_, (s, _))| *s >= ctx.min_score)
        .filter_map(|(a, &(s, c))| {
            let (hw, hh) = (w[a] / 2.0, h[a] / 2.0);
            ctx.detection(c as f32, s, [cx[a] - hw, cy[a] - hh, cx[a] + hw, cy[a] + hh])
        })
        .collect()
}

/// Decodes one image of an SSD whose graph ran NMS: the first `count` rows are valid.
/// `class_offset` maps the graph's ids to `class_names` (TF label maps start persons at 1).
pub fn decode_ssd(
    boxes: &[f32],
    scores: &[f32],
    classes: &[f32],
    count: usize,
    class_offset: f32,
    ctx: &DecodeContext<'_>,
) -> Vec<Detection> {
    let n = count.min(scores.len()).min(classes.len()).min(boxes.len() / 4);
    (0..n)
        .filter_map(|i| {
            let b = &boxes[i * 4..i * 4 + 4];
            ctx.detection(classes[i] - class_offset, scores[i], [b[1], b[0], b[3], b[2]])
        })
        .collect()
}

/// Decodes CenterNet-style rows. A model that emits garbage classes or NaN scores must not
/// crash the analysis of a street: such rows are skipped.
pub fn decode_centernet(rows: &[f32], ctx: &DecodeContext<'_>) -> Vec<Detection> {
    rows.chunks_exact(6).filter_map(|r| ctx.detection(r[5], r[4], [r[0], r[1], r[2], r[3]])).collect()
}

/// The grid of a CenterNet's heads: classes and cells, and the input pixels between cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadsGrid {
    pub classes: usize,
    pub height: usize,
    pub width: usize,
    pub stride: f32,
    /// At most this many peaks, the strongest (the graph's own tail kept 100).
    pub top_k: usize,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes one image of CenterNet's heads as the graph's own tail did (sigmoid, a cell kept
/// where it equals the 3 x 3 maximum of its class, the `top_k` strongest, boxes from the
/// cell's centre), but looking only at logits above the threshold's: at 0.3 that is a few
/// hundred of 1.3 million, where the tail took the sigmoid, transposes, pooled and sorted all.
pub fn decode_centernet_heads(
    logits: &[f32],
    boxes: &[f32],
    grid: HeadsGrid,
    ctx: &DecodeContext<'_>,
) -> Vec<Detection> {
    let HeadsGrid { classes, height, width, stride, top_k } = grid;
    let cells = height * width;
    if logits.len() < classes * cells || boxes.len() < 4 * cells {
        return Vec::new();
    }
    // A margin below the threshold's logit: the score itself is checked after the sigmoid.
    let floor = match ctx.min_score {
        s if s <= 0.0 => f32::NEG_INFINITY,
        s => (s / (1.0 - s)).ln() - 1e-3,
    };
    let mut peaks: Vec<(f32, usize, usize)> = Vec::new();
    for c in 0..classes {
        let plane = &logits[c * cells..(c + 1) * cells];
        for (cell, &v) in plane.iter().enumerate() {
            if v >= floor
                && let Some(score) = peak_score(plane, cell, width, height)
            {
                peaks.push((score, c, cell));
            }
        }
    }
    if peaks.len() > top_k {
        peaks.select_nth_unstable_by(top_k, |a, b| b.0.total_cmp(&a.0));
        peaks.truncate(top_k);
    }
    peaks
        .into_iter()
        .filter_map(|(score, c, cell)| {
            let (y, x) = (cell / width, cell % width);
            let (cx, cy) = (x as f32 * stride, y as f32 * stride);
            let d = |k: usize| boxes[k * cells + cell];
            ctx.detection(c as f32, score, [cx - d(0), cy - d(1), cx + d(2), cy + d(3)])
        })
        .collect()
}

/// `cell`'s score if it is the largest of its 3 x 3 neighbourhood, ties kept, as the graph's
/// max-pool compared scores: only a neighbour with a larger logit can beat it, and then only
/// if its score is larger too (two logits can round to one score near 1).
fn peak_score(plane: &[f32], cell: usize, width: usize, height: usize) -> Option<f32> {
    let (y, x) = (cell / width, cell % width);
    let v = plane[cell];
    if v.is_nan() {
        return None;
    }
    let score = sigmoid(v);
    for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
            let n = plane[ny * width + nx];
            if n > v && sigmoid(n) > score {
                return None;
            }
        }
    }
    Some(score)
}

/// Greedy non-maximum suppression, highest score first; within each class, or across classes
/// when `class_agnostic` (as some models' reference code does).
pub fn nms(mut detections: Vec<Detection>, iou_threshold: f32, class_agnostic: bool) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for d in detections {
        let suppressed =
            kept.iter().any(|k| (class_agnostic || k.class_id == d.class_id) && k.bbox.iou(&d.bbox) > iou_threshold);
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::BBox;

    fn identity(w: u32, h: u32) -> LetterboxTransform {
        LetterboxTransform { scale_x: 1.0, scale_y: 1.0, pad_x: 0.0, pad_y: 0.0, frame_width: w, frame_height: h }
    }

    fn names() -> Vec<String> {
        vec!["person".into(), "car".into()]
    }

    fn ctx<'a>(t: &'a LetterboxTransform, names: &'a [String], units: (f32, f32)) -> DecodeContext<'a> {
        DecodeContext { units_per_pixel: units, transform: t, class_names: names, min_score: 0.3 }
    }

    #[test]
    fn yolo_anchors_take_their_best_class() {
        // Three anchors, two classes; rows are cx, cy, w, h, score(person), score(car).
        let block = [
            50.0,
            10.0,
            20.0, // cx
            50.0,
            10.0,
            20.0, // cy
            20.0,
            4.0,
            8.0, // w
            40.0,
            4.0,
            8.0, // h
            0.1,
            0.2,
            f32::NAN, // person
            0.8,
            0.25,
            0.6, // car
        ];
        let t = identity(100, 100);
        let d = decode_yolo(&block, 3, &ctx(&t, &names(), (1.0, 1.0)));
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!((d[0].label.as_str(), d[0].score), ("car", 0.8));
        assert_eq!(d[0].bbox, BBox { x1: 0.4, y1: 0.3, x2: 0.6, y2: 0.7 });
        assert_eq!(d[1].bbox, BBox { x1: 0.16, y1: 0.16, x2: 0.24, y2: 0.24 });
    }

    #[test]
    fn ssd_rows_are_yxyx_and_limited_by_count() {
        let boxes = [0.1, 0.2, 0.5, 0.4, 0.0, 0.0, 1.0, 1.0];
        let (scores, classes) = ([0.9, 0.9], [1.0, 1.0]);
        let t = identity(100, 100);
        let d = decode_ssd(&boxes, &scores, &classes, 1, 1.0, &ctx(&t, &names(), (100.0, 100.0)));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].label, "person", "TF label 1 is class 0 after the offset");
        assert!((d[0].bbox.x1 - 0.2).abs() < 1e-6 && (d[0].bbox.y2 - 0.5).abs() < 1e-6, "{:?}", d[0].bbox);
    }

    #[test]
    fn rows_decode_to_normalised_boxes() {
        let rows = [
            10.0,
            20.0,
            50.0,
            100.0,
            0.9,
            0.0, // person
            0.0,
            0.0,
            100.0,
            100.0,
            0.2,
            1.0, // below threshold
            0.0,
            0.0,
            10.0,
            10.0,
            0.8,
            7.0, // unknown class
            5.0,
            5.0,
            5.0,
            9.0,
            0.8,
            1.0, // zero width
            f32::NAN,
            0.0,
            1.0,
            1.0,
            f32::NAN,
            1.0, // garbage
        ];
        let t = identity(100, 200);
        let d = decode_centernet(&rows, &ctx(&t, &names(), (1.0, 1.0)));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].label, "person");
        assert_eq!(d[0].bbox, BBox { x1: 0.1, y1: 0.1, x2: 0.5, y2: 0.5 });
    }

    #[test]
    fn normalised_units_are_scaled_to_pixels() {
        let rows = [0.1, 0.2, 0.5, 0.6, 0.9, 1.0];
        let t = identity(100, 100);
        let d = decode_centernet(&rows, &ctx(&t, &names(), (100.0, 100.0)));
        assert_eq!(d[0].label, "car");
        assert!((d[0].bbox.x2 - 0.5).abs() < 1e-6 && (d[0].bbox.y1 - 0.2).abs() < 1e-6);
    }

    /// Logits of 2 classes on a 3 x 4 grid, all far below any threshold but where set.
    fn heads(set: &[(usize, usize, f32)]) -> Vec<f32> {
        let mut logits = vec![-20.0; 2 * 12];
        for &(c, cell, v) in set {
            logits[c * 12 + cell] = v;
        }
        logits
    }

    fn grid(top_k: usize) -> HeadsGrid {
        HeadsGrid { classes: 2, height: 3, width: 4, stride: 10.0, top_k }
    }

    #[test]
    fn heads_keep_peaks_above_the_threshold_with_boxes_from_the_cell_centre() {
        // Class 1: a peak at cell 5 (y 1, x 1) with a weaker neighbour at 6; class 0: peaks at
        // 11 (score 0.5) and at 2 below the threshold (0.27); boxes 2 px left and up, 3 px right and down of every centre.
        let logits = heads(&[(1, 5, 2.0), (1, 6, 1.0), (0, 11, 0.0), (0, 2, -1.0)]);
        let boxes: Vec<f32> = [2.0, 2.0, 3.0, 3.0].iter().flat_map(|d| [*d; 12]).collect();
        let t = identity(40, 30);
        let d = decode_centernet_heads(&logits, &boxes, grid(100), &ctx(&t, &names(), (1.0, 1.0)));
        assert_eq!(d.len(), 2, "{d:?}");
        let car = d.iter().find(|d| d.label == "car").unwrap();
        assert!((car.score - 0.880_797).abs() < 1e-5, "{}", car.score);
        assert_eq!(car.bbox, BBox { x1: 8.0 / 40.0, y1: 8.0 / 30.0, x2: 13.0 / 40.0, y2: 13.0 / 30.0 });
        let person = d.iter().find(|d| d.label == "person").unwrap();
        assert_eq!((person.score, person.bbox.x2, person.bbox.y2), (0.5, 33.0 / 40.0, 23.0 / 30.0));
    }

    #[test]
    fn heads_keep_ties_and_at_most_top_k() {
        // Two equal neighbours are both maxima of their 3 x 3, as in the graph's max-pool.
        let logits = heads(&[(0, 0, 3.0), (0, 1, 3.0), (1, 10, 1.0), (1, 3, 0.5)]);
        let boxes = vec![1.0; 4 * 12];
        let t = identity(40, 30);
        let all = decode_centernet_heads(&logits, &boxes, grid(100), &ctx(&t, &names(), (1.0, 1.0)));
        assert_eq!(all.len(), 4, "{all:?}");
        let two = decode_centernet_heads(&logits, &boxes, grid(2), &ctx(&t, &names(), (1.0, 1.0)));
        let scores: Vec<f32> = two.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![sigmoid(3.0); 2], "the strongest two");
        assert!(decode_centernet_heads(&logits[..10], &boxes, grid(2), &ctx(&t, &names(), (1.0, 1.0))).is_empty());
    }

    #[test]
    fn nms_keeps_the_best_per_class() {
        let det = |class_id, score, x: f32| Detection {
            class_id,
            label: String::new(),
            score,
            bbox: BBox::from_corners(x, 0.0, x + 0.2, 0.2),
        };
        let all = vec![det(0, 0.5, 0.0), det(0, 0.9, 0.01), det(1, 0.4, 0.0), det(0, 0.7, 0.5)];
        let kept = nms(all.clone(), 0.5, false);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.4]);
        let agnostic: Vec<f32> = nms(all, 0.5, true).iter().map(|d| d.score).collect();
        assert_eq!(agnostic, vec![0.9, 0.7], "the other class's box under the best one goes too");
    }
}
