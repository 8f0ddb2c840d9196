//! What a detected object means to the hazard rules, independent of any one model's classes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The hazard rules' vocabulary. A per-model class map says which model class is which kind,
/// so a custom `stall` model and a COCO model can feed the same rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Person,
    /// A motor vehicle (car, van, truck, bus, motorcycle parked as a vehicle).
    Vehicle,
    /// A street stall, from a model trained on stalls.
    Stall,
    /// Objects that make a stall with a person beside them (COCO umbrella, table, chair, bench).
    StallProxy,
    /// A tricycle, from a model that has the class (e.g. VisDrone's `tricycle`).
    Tricycle,
    /// A two-wheeler; with a cargo-sized box attached it is the COCO fallback for a tricycle.
    Cycle,
    /// Something cargo-sized that may ride on a cycle (COCO truck, car, suitcase, bench, ...).
    Cargo,
    Flame,
    Smoke,
    /// Something that newly stands still, found without a class model (the analysis's still
    /// watch): what it is, the detections around it say.
    NewObject,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 10] = [
        ObjectKind::Person,
        ObjectKind::Vehicle,
        ObjectKind::Stall,
        ObjectKind::StallProxy,
        ObjectKind::Tricycle,
        ObjectKind::Cycle,
        ObjectKind::Cargo,
        ObjectKind::Flame,
        ObjectKind::Smoke,
        ObjectKind::NewObject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Person => "person",
            ObjectKind::Vehicle => "vehicle",
            ObjectKind::Stall => "stall",
            ObjectKind::StallProxy => "stall_proxy",
            ObjectKind::Tricycle => "tricycle",
            ObjectKind::Cycle => "cycle",
            ObjectKind::Cargo => "cargo",
            ObjectKind::Flame => "flame",
            ObjectKind::Smoke => "smoke",
            ObjectKind::NewObject => "new_object",
        }
    }

    /// The kinds a class name means when no class map overrides it: COCO's names, the
    /// VisDrone tricycle classes, and the usual names of stall and fire models. One class may
    /// be several kinds (a COCO motorcycle is a vehicle when parked, a cycle under cargo).
    pub fn defaults_for(class: &str) -> &'static [ObjectKind] {
        use ObjectKind::*;
        match class.to_ascii_lowercase().as_str() {
            "person" | "pedestrian" | "people" => &[Person],
            "car" | "bus" | "van" => &[Vehicle, Cargo],
            "truck" => &[Vehicle, Cargo],
            "motorcycle" | "motor" | "motorbike" => &[Vehicle, Cycle],
            "bicycle" => &[Cycle],
            "umbrella" | "dining table" | "chair" | "bench" => &[StallProxy, Cargo],
            "suitcase" => &[Cargo],
            "stall" | "street stall" | "street_stall" | "vendor stall" => &[Stall],
            "tricycle" | "awning-tricycle" | "awning_tricycle" => &[Tricycle],
            "fire" | "flame" => &[Flame],
            "smoke" => &[Smoke],
            _ => &[],
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of object the rules of a camera follow: the lowest score any of them counts, and the
/// categories it may be filed as. What the console draws on the live frame by default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Followed {
    pub kind: ObjectKind,
    pub min_score: f32,
    pub categories: Vec<crate::Category>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_and_visdrone_names_map_to_kinds() {
        assert_eq!(ObjectKind::defaults_for("awning-tricycle"), &[ObjectKind::Tricycle]);
        assert!(ObjectKind::defaults_for("Motorcycle").contains(&ObjectKind::Cycle));
        assert!(ObjectKind::defaults_for("dining table").contains(&ObjectKind::StallProxy));
        assert!(ObjectKind::defaults_for("giraffe").is_empty());
    }

    #[test]
    fn kinds_round_trip_through_their_config_names() {
        let k: ObjectKind = serde_json::from_str("\"stall_proxy\"").unwrap();
        assert_eq!(k, ObjectKind::StallProxy);
        assert_eq!(serde_json::to_string(&ObjectKind::Flame).unwrap(), "\"flame\"");
    }
}
