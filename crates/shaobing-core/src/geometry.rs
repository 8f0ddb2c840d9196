use serde::{Deserialize, Serialize};

/// A point in normalised image coordinates: (0,0) top left, (1,1) bottom right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box in normalised image coordinates, `x1 <= x2`, `y1 <= y2`.
///
/// Normalised coordinates let zones, rules and the database stay valid when a camera's
/// analysis resolution changes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    /// Builds a box from two corners in any order, clamped to the image.
    pub fn from_corners(ax: f32, ay: f32, bx: f32, by: f32) -> Self {
        let c = |v: f32| v.clamp(0.0, 1.0);
        Self { x1: c(ax.min(bx)), y1: c(ay.min(by)), x2: c(ax.max(bx)), y2: c(ay.max(by)) }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn centre(&self) -> Point {
        Point { x: (self.x1 + self.x2) / 2.0, y: (self.y1 + self.y2) / 2.0 }
    }

    /// Where an object touches the ground: the point zones are judged by, so a tall object
    /// overhanging a kerb line counts where it stands, not where its roof is.
    pub fn bottom_centre(&self) -> Point {
        Point { x: (self.x1 + self.x2) / 2.0, y: self.y2 }
    }

    pub fn intersection(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        w * h
    }

    /// Share of the smaller box that lies inside the larger; 0 for degenerate boxes.
    pub fn nested(&self, other: &BBox) -> f32 {
        let smaller = self.area().min(other.area());
        if smaller <= 0.0 { 0.0 } else { self.intersection(other) / smaller }
    }

    /// Intersection over union; 0 for disjoint or degenerate boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolygonError {
    #[error("a polygon needs at least 3 points, got {0}")]
    TooFewPoints(usize),
    #[error("point {index} ({x}, {y}) is outside the normalised range 0..=1")]
    OutOfRange { index: usize, x: f32, y: f32 },
    #[error("the polygon has zero area (its points are collinear or repeated)")]
    Degenerate,
}

/// A simple polygon in normalised coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Polygon(Vec<Point>);

impl Polygon {
    pub fn new(points: Vec<Point>) -> Result<Self, PolygonError> {
        if points.len() < 3 {
            return Err(PolygonError::TooFewPoints(points.len()));
        }
        let bad = |v: f32| !v.is_finite() || !(0.0..=1.0).contains(&v);
        if let Some((index, p)) = points.iter().enumerate().find(|(_, p)| bad(p.x) || bad(p.y)) {
            return Err(PolygonError::OutOfRange { index, x: p.x, y: p.y });
        }
        let polygon = Self(points);
        if polygon.signed_area().abs() < 1e-9 {
            return Err(PolygonError::Degenerate);
        }
        Ok(polygon)
    }

    pub fn points(&self) -> &[Point] {
        &self.0
    }

    fn signed_area(&self) -> f32 {
        let n = self.0.len();
        (0..n)
            .map(|i| {
                let (a, b) = (self.0[i], self.0[(i + 1) % n]);
                a.x * b.y - b.x * a.y
            })
            .sum::<f32>()
            / 2.0
    }

    /// Even-odd ray casting; points on an edge may fall either way.
    pub fn contains(&self, p: Point) -> bool {
        let n = self.0.len();
        let mut inside = false;
        let mut j = n - 1;
        for i in 0..n {
            let (a, b) = (self.0[i], self.0[j]);
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

impl<'de> Deserialize<'de> for Polygon {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs: Vec<[f32; 2]> = Vec::deserialize(d)?;
        Polygon::new(pairs.into_iter().map(|[x, y]| Point { x, y }).collect()).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Polygon {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Polygon".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = <Vec<[f32; 2]>>::json_schema(generator);
        schema.insert("minItems".into(), 3.into());
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        let pts = [(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)];
        Polygon::new(pts.iter().map(|&(x, y)| Point { x, y }).collect()).unwrap()
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = BBox::from_corners(0.0, 0.0, 0.5, 0.5);
        let b = BBox::from_corners(0.25, 0.0, 0.75, 0.5);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::from_corners(0.6, 0.6, 0.9, 0.9)), 0.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn corners_are_ordered_and_clamped() {
        let b = BBox::from_corners(1.2, 0.5, 0.4, -0.1);
        assert_eq!(b, BBox { x1: 0.4, y1: 0.0, x2: 1.0, y2: 0.5 });
        assert_eq!(b.bottom_centre(), Point { x: 0.7, y: 0.5 });
    }

    #[test]
    fn polygon_contains_and_concave() {
        let sq = square();
        assert!(sq.contains(Point { x: 0.4, y: 0.4 }));
        assert!(!sq.contains(Point { x: 0.1, y: 0.4 }));
        // An L shape: the notch is outside.
        let l = [(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)];
        let l = Polygon::new(l.iter().map(|&(x, y)| Point { x, y }).collect()).unwrap();
        assert!(l.contains(Point { x: 0.25, y: 0.75 }));
        assert!(!l.contains(Point { x: 0.75, y: 0.75 }));
    }

    #[test]
    fn polygon_rejects_bad_input() {
        assert_eq!(Polygon::new(vec![]), Err(PolygonError::TooFewPoints(0)));
        let out = vec![Point { x: 0.0, y: 0.0 }, Point { x: 1.5, y: 0.0 }, Point { x: 0.0, y: 1.0 }];
        assert!(matches!(Polygon::new(out), Err(PolygonError::OutOfRange { index: 1, .. })));
        let line = vec![Point { x: 0.0, y: 0.0 }, Point { x: 0.5, y: 0.5 }, Point { x: 1.0, y: 1.0 }];
        assert_eq!(Polygon::new(line), Err(PolygonError::Degenerate));
    }

    #[test]
    fn polygon_deserialises_from_pairs() {
        #[derive(Deserialize)]
        struct W {
            p: Polygon,
        }
        let w: W = serde_json::from_str(r#"{"p":[[0,0],[1,0],[0,1]]}"#).unwrap();
        assert_eq!(w.p.points().len(), 3);
        let err = serde_json::from_str::<W>(r#"{"p":[[0,0],[1,0]]}"#).err().unwrap();
        assert!(err.to_string().contains("at least 3 points"), "{err}");
    }
}
