//! What the detectors look at: the part of the picture the camera's rules watch.
//!
//! A model sees its fixed input size (512 x 512 for the shipped detector) whatever the camera
//! sends, so a kerb that fills a fifth of a 1080p frame reaches it at a fifth of the pixels.
//! Cropping the frame to the rule zones (with a margin for the parts of an object that stand
//! outside its zone and for a stall's vendor) makes the objects that matter several times
//! larger in the model's input, for the same inference cost. The window keeps the frame's
//! shape, so a model that stretches its input (as the shipped ones do, after their reference
//! code) sees the proportions it always sees: a zoom, not a distortion. A model that looks
//! for fire sees the whole picture: fire matters anywhere.

use shaobing_core::{BBox, Detection, Frame, Polygon};

/// Margin around the zones, as a share of their extent on each side.
const MARGIN: f32 = 0.25;
/// Crops covering more than this share of the frame are not worth a copy.
const WORTH_IT: f32 = 0.6;
/// Margin around where it may be burning, as a share of its extent on each side: flames
/// reach out, smoke rises.
const FIRE_MARGIN: f32 = 1.0;
/// The smallest window over a fire, as a share of the frame's side: a model zoomed in further
/// sees too little of the scene to know flame from a lamp.
const FIRE_MIN_SIDE: f32 = 0.3;

/// A window of the frame, normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct View(BBox);

impl View {
    /// The window over `zones` with its margin, if it is small enough to gain anything.
    pub(crate) fn over(zones: &[Polygon]) -> Option<Self> {
        let points = zones.iter().flat_map(|z| z.points()).map(|p| (p.x, p.y));
        Self::framing(points, MARGIN, 0.0)
    }

    /// The window over where it may be burning (the boxes the OpenCV detector follows), if
    /// there is any and it is small enough to gain anything.
    pub(crate) fn around(boxes: &[BBox]) -> Option<Self> {
        let points = boxes.iter().flat_map(|b| [(b.x1, b.y1), (b.x2, b.y2)]);
        Self::framing(points, FIRE_MARGIN, FIRE_MIN_SIDE)
    }

    /// A frame-shaped window (square in normalised units) over `points` with `margin` of their
    /// extent on each side and at least `min_side`.
    fn framing(points: impl Iterator<Item = (f32, f32)>, margin: f32, min_side: f32) -> Option<Self> {
        let (mut x1, mut y1, mut x2, mut y2) = (1.0f32, 1.0f32, 0.0f32, 0.0f32);
        for (x, y) in points {
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x), y2.max(y));
        }
        if x2 <= x1 || y2 <= y1 {
            return None;
        }
        let side = ((x2 - x1).max(y2 - y1) * (1.0 + 2.0 * margin)).clamp(min_side, 1.0);
        if side * side > WORTH_IT {
            return None;
        }
        let (x, y) = (span((x1 + x2) / 2.0, side), span((y1 + y2) / 2.0, side));
        Some(Self(BBox::from_corners(x.0, y.0, x.1, y.1)))
    }

    /// The window's pixels as a frame of their own.
    pub(crate) fn crop(&self, frame: &Frame) -> Frame {
        shaobing_vision::compose::cropped(frame, self.0)
    }

    /// A detection in the window, in the whole frame's coordinates.
    pub(crate) fn in_frame(&self, mut d: Detection) -> Detection {
        let v = &self.0;
        let (w, h) = (v.x2 - v.x1, v.y2 - v.y1);
        let b = d.bbox;
        d.bbox = BBox::from_corners(v.x1 + b.x1 * w, v.y1 + b.y1 * h, v.x1 + b.x2 * w, v.y1 + b.y2 * h);
        d
    }
}

/// `[start, end)` of length `side` centred on `centre`, moved inside `[0, 1]`.
fn span(centre: f32, side: f32) -> (f32, f32) {
    let start = (centre - side / 2.0).clamp(0.0, 1.0 - side);
    (start, start + side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{CameraId, Point, UnixMillis};

    fn kerb() -> Polygon {
        let p = |x, y| Point { x, y };
        Polygon::new(vec![p(0.78, 0.07), p(1.0, 0.05), p(1.0, 0.25), p(0.78, 0.25)]).unwrap()
    }

    #[test]
    fn the_window_covers_the_zones_with_a_margin_and_maps_back() {
        let view = View::over(&[kerb()]).unwrap();
        let frame = Frame {
            camera: CameraId("c".into()),
            seq: 0,
            captured_at: UnixMillis(0),
            width: 100,
            height: 50,
            rgb: (0..100 * 50 * 3).map(|i| (i / 3 % 100) as u8).collect::<Vec<u8>>().into(),
        };
        // The kerb is 0.22 wide and 0.20 high: with its margins a 0.33 square of the frame,
        // moved inside it at the right edge, the frame's shape kept.
        let crop = view.crop(&frame);
        assert!(crop.is_well_formed());
        assert_eq!((crop.width, crop.height), (33, 17));
        assert_eq!(crop.rgb[0], 67, "starts 0.33 from the right edge");
        let d =
            Detection { class_id: 2, label: "car".into(), score: 0.9, bbox: BBox::from_corners(0.0, 0.0, 1.0, 1.0) };
        let back = view.in_frame(d).bbox;
        assert!((back.x1 - 0.67).abs() < 1e-3 && (back.x2 - 1.0).abs() < 1e-3 && back.y1 == 0.0, "{back:?}");
        let whole =
            Polygon::new(vec![Point { x: 0.0, y: 0.0 }, Point { x: 1.0, y: 0.0 }, Point { x: 1.0, y: 1.0 }]).unwrap();
        assert_eq!(View::over(&[whole]), None, "no gain in cropping the whole picture");
    }

    #[test]
    fn a_small_fire_is_looked_at_closely_but_not_too_closely() {
        let flame = BBox::from_corners(0.50, 0.50, 0.52, 0.54);
        let View(w) = View::around(&[flame]).unwrap();
        assert!((w.x2 - w.x1 - 0.3).abs() < 1e-6 && (w.y2 - w.y1 - 0.3).abs() < 1e-6, "{w:?}");
        assert!(w.x1 < flame.x1 && w.x2 > flame.x2 && w.y1 < flame.y1 && w.y2 > flame.y2, "{w:?}");
        assert_eq!(View::around(&[]), None, "nothing burning: the whole picture");
        let wide = [flame, BBox::from_corners(0.05, 0.1, 0.1, 0.2)];
        assert_eq!(View::around(&wide), None, "candidates far apart: the whole picture");
    }
}
