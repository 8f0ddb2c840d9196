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
