//! Candidate issues for tests of the stages downstream of the rules (store, drain, daemon).

use shaobing_core::{
    BBox, CandidateIssue, Category, Cause, Detection, DiscoveryChannel, EscalationTier, Location, Priority,
    Responsibility, UnixMillis, ZoneId,
};

/// A plausible illegal-parking issue (a truck in zone `kerb` of `cam-1`, grid cell
/// `SLT-03-07`) with the given key and time.
pub fn candidate(dedup_key: &str, observed_at: UnixMillis) -> CandidateIssue {
    let detection =
        Detection { class_id: 7, label: "truck".into(), score: 0.7, bbox: BBox::from_corners(0.8, 0.1, 0.9, 0.2) };
    CandidateIssue {
        dedup_key: dedup_key.into(),
        category: Category::IllegalParking,
        location: Location {
            lat: Some(39.9334),
            lon: Some(116.4551),
            address: Some("三里屯路 19 号".into()),
            grid_cell: Some("SLT-03-07".into()),
            source: "cam-1".into(),
            zone: Some(ZoneId("kerb".into())),
            image_point: Some(detection.bbox.bottom_centre()),
        },
        cause: Cause {
            summary: "机动车乱停放: truck stationary for 25 s in no-parking zone kerb".into(),
            rule: "illegal_parking/dwell".into(),
            confidence: 0.7,
            detections: vec![detection],
        },
        responsibility: Responsibility {
            department: "交通支队".into(),
            tier: EscalationTier::StreetToDistrict,
            resolution_path: "劝离".into(),
            deadlines: Default::default(),
        },
        priority: Priority::Routine,
        channel: DiscoveryChannel::CommandCentreVideo,
        observed_at,
    }
}
