//! Output heads: turning a model's raw output tensor into detections.

use serde::Deserialize;
use shaobing_core::Detection;
use shaobing_vision::LetterboxTransform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// `[1, N, 6]`: x1, y1, x2, y2, score, class per row, rows of a fixed top-K.
    Centernet,
}

/// Decodes CenterNet-style rows. `units_per_pixel` converts box units to model-input pixels
/// (1 for pixel outputs, the input size for normalised ones). Rows below `min_score` or with a
/// class outside `class_names` are skipped: a model that emits garbage classes must not crash
/// the analysis of a street.
pub fn decode_centernet(
    rows: &[f32],
    units_per_pixel: (f32, f32),
    transform: &LetterboxTransform,
    class_names: &[String],
    min_score: f32,
) -> Vec<Detection> {
    rows.chunks_exact(6)
        .filter_map(|r| {
            let (score, class) = (r[4], r[5]);
            // NaN scores fail `>=` and are skipped with the weak ones.
            if score.partial_cmp(&min_score).is_none_or(|o| o.is_lt()) || !class.is_finite() || class < 0.0 {
                return None;
            }
            let class_id = class.round() as u32;
            let label = class_names.get(class_id as usize)?.clone();
            let (sx, sy) = units_per_pixel;
            let bbox = transform.to_frame(r[0] * sx, r[1] * sy, r[2] * sx, r[3] * sy);
            (bbox.area() > 0.0).then_some(Detection { class_id, label, score, bbox })
        })
        .collect()
}

/// Class-wise greedy non-maximum suppression, highest score first.
pub fn nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for d in detections {
        let suppressed = kept.iter().any(|k| k.class_id == d.class_id && k.bbox.iou(&d.bbox) > iou_threshold);
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
        LetterboxTransform { scale: 1.0, pad_x: 0.0, pad_y: 0.0, frame_width: w, frame_height: h }
    }

    fn names() -> Vec<String> {
        vec!["person".into(), "car".into()]
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
        let d = decode_centernet(&rows, (1.0, 1.0), &identity(100, 200), &names(), 0.3);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].label, "person");
        assert_eq!(d[0].bbox, BBox { x1: 0.1, y1: 0.1, x2: 0.5, y2: 0.5 });
    }

    #[test]
    fn normalised_units_are_scaled_to_pixels() {
        let rows = [0.1, 0.2, 0.5, 0.6, 0.9, 1.0];
        let d = decode_centernet(&rows, (100.0, 100.0), &identity(100, 100), &names(), 0.3);
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
        let kept = nms(vec![det(0, 0.5, 0.0), det(0, 0.9, 0.01), det(1, 0.4, 0.0), det(0, 0.7, 0.5)], 0.5);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.4]);
    }
}
