use crate::{VisionError, frame_mat};
use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;
use shaobing_core::{BBox, Frame, Polygon};

/// What to draw on an evidence image.
#[derive(Debug, Clone, Default)]
pub struct Annotation<'a> {
    /// Zones, drawn as outlines with their names.
    pub zones: Vec<(&'a str, &'a Polygon)>,
    /// Boxes with their labels; the first is the subject of the issue and drawn in red.
    pub boxes: Vec<(String, BBox)>,
    /// A caption drawn in the top-left corner: camera, time, rule.
    pub caption: String,
}

/// A camera's live frame as the console shows it: its zones, the detections with their scores
/// (green those the camera's rules follow, grey the rest when asked for everything), and a
/// caption.
pub fn render_live(
    frame: &Frame,
    zones: &[(String, Polygon)],
    detections: &[(shaobing_core::Detection, bool)],
    caption: &str,
) -> Result<Vec<u8>, VisionError> {
    let note = Annotation {
        zones: zones.iter().map(|(id, p)| (id.as_str(), p)).collect(),
        boxes: Vec::new(),
        caption: caption.to_string(),
    };
    let marks = detections
        .iter()
        .map(|(d, followed)| (format!("{} {:.2}", d.label, d.score), d.bbox, if *followed { GREEN } else { GREY }));
    render(frame, &note, marks.collect())
}

// Colours in BGR: OpenCV encodes BGR images.
const RED: (f64, f64, f64) = (40.0, 40.0, 230.0);
const YELLOW: (f64, f64, f64) = (0.0, 215.0, 255.0);
const GREEN: (f64, f64, f64) = (80.0, 200.0, 80.0);
const GREY: (f64, f64, f64) = (170.0, 170.0, 170.0);

fn colour((b, g, r): (f64, f64, f64)) -> Scalar {
    Scalar::new(b, g, r, 0.0)
}

/// Draws zones, boxes and caption over the frame and returns it as a JPEG.
pub fn render_evidence(frame: &Frame, note: &Annotation<'_>) -> Result<Vec<u8>, VisionError> {
    let marks =
        note.boxes.iter().enumerate().map(|(i, (text, b))| (text.clone(), *b, if i == 0 { RED } else { GREEN }));
    render(frame, note, marks.collect())
}

/// The note's zones and caption, and `marks` (text, box, colour).
fn render(
    frame: &Frame,
    note: &Annotation<'_>,
    marks: Vec<(String, BBox, (f64, f64, f64))>,
) -> Result<Vec<u8>, VisionError> {
    let src = frame_mat(frame)?;
    let mut img = Mat::default();
    imgproc::cvt_color_def(&src, &mut img, imgproc::COLOR_RGB2BGR)?;
    let (w, h) = (frame.width as f32, frame.height as f32);
    let px = |x: f32, y: f32| Point::new((x * w).round() as i32, (y * h).round() as i32);
    let thick = ((frame.width.max(frame.height) / 400) as i32).max(2);
    for (name, polygon) in &note.zones {
        let pts: Vector<Point> = polygon.points().iter().map(|p| px(p.x, p.y)).collect();
        let contours: Vector<Vector<Point>> = std::iter::once(pts).collect();
        imgproc::polylines(&mut img, &contours, true, colour(YELLOW), thick, imgproc::LINE_AA, 0)?;
        let first = polygon.points()[0];
        label(&mut img, name, px(first.x, first.y), YELLOW)?;
    }
    for (text, b, c) in &marks {
        let c = *c;
        let (p1, p2) = (px(b.x1, b.y1), px(b.x2, b.y2));
        imgproc::rectangle(&mut img, Rect::from_points(p1, p2), colour(c), thick, imgproc::LINE_8, 0)?;
        label(&mut img, text, p1, c)?;
    }
    label(&mut img, &note.caption, Point::new(4, 4), (255.0, 255.0, 255.0))?;
    encode_jpeg(&img)
}

/// Text on a dark band so it stays readable over any background. Hershey fonts are ASCII only,
/// so labels are written in English.
fn label(img: &mut Mat, text: &str, at: Point, c: (f64, f64, f64)) -> Result<(), VisionError> {
    if text.is_empty() {
        return Ok(());
    }
    let (font, scale, thickness) = (imgproc::FONT_HERSHEY_SIMPLEX, 0.45, 1);
    let mut baseline = 0;
    let size = imgproc::get_text_size(text, font, scale, thickness, &mut baseline)?;
    let top = (at.y - size.height - baseline - 2).max(0);
    // Keep the whole label inside the image: a vehicle at the right edge keeps its name.
    let left = at.x.min(img.cols() - size.width - 4).max(0);
    let band = Rect::new(left, top, size.width + 4, size.height + baseline + 4);
    imgproc::rectangle(img, band, Scalar::new(20.0, 20.0, 20.0, 0.0), imgproc::FILLED, imgproc::LINE_8, 0)?;
    let origin = Point::new(band.x + 2, band.y + size.height + 1);
    imgproc::put_text(img, text, origin, font, scale, colour(c), thickness, imgproc::LINE_AA, false)?;
    Ok(())
}

/// Encodes a BGR image as JPEG at quality 90: evidence must stay legible when zoomed.
pub fn encode_jpeg(bgr: &Mat) -> Result<Vec<u8>, VisionError> {
    let mut buf = Vector::<u8>::new();
    let params: Vector<i32> = [imgcodecs::IMWRITE_JPEG_QUALITY, 90].into_iter().collect();
    imgcodecs::imencode(".jpg", bgr, &mut buf, &params)?;
    Ok(buf.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shaobing_core::{CameraId, Point as NPoint, UnixMillis};

    #[test]
    fn evidence_is_a_decodable_jpeg_with_the_box_drawn() {
        let (w, h) = (160u32, 120u32);
        let frame = Frame {
            camera: CameraId("t".into()),
            seq: 0,
            captured_at: UnixMillis(0),
            width: w,
            height: h,
            rgb: vec![128u8; (w * h * 3) as usize].into(),
        };
        let zone = Polygon::new(vec![NPoint { x: 0.1, y: 0.1 }, NPoint { x: 0.9, y: 0.1 }, NPoint { x: 0.9, y: 0.9 }])
            .unwrap();
        let note = Annotation {
            zones: vec![("kerb", &zone)],
            boxes: vec![("car 0.9".into(), BBox::from_corners(0.25, 0.25, 0.75, 0.75))],
            caption: "cam t".into(),
        };
        let jpeg = render_evidence(&frame, &note).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "JPEG magic");
        let decoded = imgcodecs::imdecode(&Vector::from_slice(&jpeg), imgcodecs::IMREAD_COLOR).unwrap();
        assert_eq!((decoded.cols(), decoded.rows()), (160, 120));
        // The box's right edge at x=120 is red (BGR: high R channel), the grey inside is not.
        let edge = decoded.at_2d::<opencv::core::Vec3b>(60, 120).unwrap();
        let inside = decoded.at_2d::<opencv::core::Vec3b>(50, 100).unwrap();
        assert!(edge[2] > 180 && edge[0] < 100, "edge pixel {edge:?}");
        assert!((inside[2] as i32 - 128).abs() < 20, "inside pixel {inside:?}");
    }
}
