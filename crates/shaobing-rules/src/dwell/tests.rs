use super::*;
use crate::SubjectConfig;
use shaobing_core::{BBox, Detection, ObjectKind, Point, Polygon, ZoneId};

fn zone(id: &str, x1: f32, y1: f32, x2: f32, y2: f32) -> Zone {
    let polygon = Polygon::new(vec![
        Point { x: x1, y: y1 },
        Point { x: x2, y: y1 },
        Point { x: x2, y: y2 },
        Point { x: x1, y: y2 },
    ])
    .unwrap();
    Zone { id: ZoneId(id.into()), polygon, exempt: Vec::new() }
}

fn config(category: Category, kinds: &[ObjectKind], dwell_secs: u64) -> DwellRuleConfig {
    DwellRuleConfig {
        category,
        rule: "test/dwell",
        subject: SubjectConfig {
            kinds: kinds.to_vec(),
            min_score: 0.3,
            needs_companion: vec![ObjectKind::StallProxy],
            companion: vec![ObjectKind::Person],
            companion_reach: 1.0,
            cargo_fallback: kinds.contains(&ObjectKind::Tricycle),
            explained_by: vec![ObjectKind::Person, ObjectKind::Vehicle],
        },
        dwell: Duration::from_secs(dwell_secs),
        stationary_iou: 0.6,
        track_timeout: Duration::from_secs(10),
        occlusion: Duration::from_secs(5),
        clear_after: Duration::from_secs(60),
        exempt: Vec::new(),
    }
}

fn parking(dwell_secs: u64) -> DwellRule {
    let c = config(Category::IllegalParking, &[ObjectKind::Vehicle], dwell_secs);
    DwellRule::new(CameraId("cam".into()), vec![zone("kerb", 0.5, 0.0, 1.0, 0.5)], c)
}

fn det(label: &str, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
    Detection { class_id: 2, label: label.into(), score, bbox: BBox::from_corners(x1, y1, x2, y2) }
}

/// Sightings as the analysis makes them: every kind the class means.
fn seen(detections: &[Detection]) -> Vec<Sighting> {
    detections
        .iter()
        .flat_map(|d| ObjectKind::defaults_for(&d.label).iter().map(|k| Sighting { kind: *k, detection: d.clone() }))
        .collect()
}

fn van() -> Detection {
    det("truck", 0.7, 0.8, 0.1, 0.9, 0.2)
}

/// Runs one frame a second and collects (second, phase, key) of every hazard.
fn drive(
    rule: &mut DwellRule,
    seconds: std::ops::Range<i64>,
    frame: impl Fn(i64) -> Vec<Detection>,
) -> Vec<(i64, Phase, String)> {
    let mut out = Vec::new();
    for s in seconds {
        for h in rule.observe(&seen(&frame(s)), UnixMillis(s * 1000)) {
            out.push((s, h.phase, h.dedup_key));
        }
    }
    out
}

fn opened(events: &[(i64, Phase, String)]) -> Vec<i64> {
    events.iter().filter(|e| e.1 == Phase::Opened).map(|e| e.0).collect()
}

#[test]
fn parked_van_raises_once_after_dwell_then_ongoing() {
    let mut r = parking(20);
    let events = drive(&mut r, 0..60, |_| vec![van()]);
    assert_eq!(opened(&events), vec![20], "raised exactly when the dwell time is reached");
    assert!(events.iter().all(|p| p.2 == "cam/kerb/illegal_parking/13-3"), "{:?}", events[0]);
    assert_eq!(events.len(), 40);
}

#[test]
fn label_flicker_and_short_occlusion_do_not_reset_or_duplicate() {
    let mut r = parking(20);
    let events = drive(&mut r, 0..60, |s| match s % 7 {
        0 => vec![],                                      // missed detection
        3 => vec![det("car", 0.5, 0.805, 0.1, 0.9, 0.2)], // label flicker + jitter
        _ => vec![van()],
    });
    assert_eq!(opened(&events).len(), 1);
}

#[test]
fn outside_zone_moving_or_weak_or_not_a_vehicle_never_raise() {
    let mut r = parking(5);
    let events = drive(&mut r, 0..30, |s| {
        let x = 0.5 + s as f32 * 0.02; // drives along the kerb
        vec![
            det("car", 0.8, 0.1, 0.6, 0.2, 0.7),      // parked outside the zone
            det("truck", 0.8, x, 0.1, x + 0.08, 0.2), // moving inside
            det("car", 0.1, 0.7, 0.2, 0.8, 0.3),      // too weak
            det("person", 0.9, 0.6, 0.3, 0.65, 0.45), // not a vehicle
        ]
    });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn one_vehicle_called_two_classes_is_one_track() {
    let mut r = parking(0);
    let both = [van(), det("car", 0.5, 0.801, 0.1, 0.9, 0.201)];
    let hazards = r.observe(&seen(&both), UnixMillis(0));
    assert_eq!(hazards.len(), 1);
    assert_eq!(hazards[0].detection.label, "truck", "the higher score names the object");
}

#[test]
fn zone_judged_by_bottom_centre() {
    let mut r = parking(0);
    // Roof inside the zone, wheels below its edge at y=0.5: not parked in the zone.
    assert!(r.observe(&seen(&[det("car", 0.9, 0.6, 0.4, 0.7, 0.6)]), UnixMillis(0)).is_empty());
    // Wheels inside: raised at once with a zero dwell.
    assert_eq!(r.observe(&seen(&[det("car", 0.9, 0.6, 0.3, 0.7, 0.45)]), UnixMillis(0)).len(), 1);
}

#[test]
fn stationary_object_for_an_hour_is_one_issue_then_cleared_once() {
    let mut r = parking(300);
    // One frame every two seconds for an hour, with a 30 s occlusion (a bus) in the middle,
    // longer than the track timeout: a new track, the same hazard.
    let events = drive(&mut r, 0..1800, |s| if (900..915).contains(&s) { vec![] } else { vec![van()] });
    assert_eq!(opened(&events), vec![300]);
    let keys: std::collections::HashSet<_> = events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(keys.len(), 1, "one dedup key the whole hour");
    // Driven away: cleared once, 60 s after the last sighting.
    let after = drive(&mut r, 1800..1900, |_| vec![]);
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].0, after[0].1), (1859, Phase::Cleared));
}

#[test]
fn traffic_through_a_raised_place_does_not_keep_it_open() {
    let mut r = parking(20);
    assert_eq!(opened(&drive(&mut r, 0..30, |_| vec![van()])), vec![20]);
    // The van leaves; cars drive through its cell without stopping.
    let events = drive(&mut r, 30..100, |s| {
        let x = 0.5 + (s % 10) as f32 * 0.05;
        vec![det("car", 0.8, x, 0.1, x + 0.1, 0.2)]
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].0, events[0].1), (89, Phase::Cleared), "60 s after the van was last seen");
}

fn stall_rule() -> DwellRule {
    let c = config(Category::StreetVending, &[ObjectKind::Stall, ObjectKind::StallProxy], 300);
    DwellRule::new(CameraId("cam".into()), vec![zone("pavement", 0.0, 0.5, 1.0, 1.0)], c)
}

#[test]
fn table_with_a_vendor_is_a_stall_table_alone_is_not() {
    let table = det("dining table", 0.6, 0.3, 0.6, 0.45, 0.75);
    let vendor = det("person", 0.8, 0.46, 0.45, 0.52, 0.75);
    let far_person = det("person", 0.8, 0.9, 0.1, 0.95, 0.3);
    let mut alone = stall_rule();
    assert!(drive(&mut alone, 0..400, |_| vec![table.clone(), far_person.clone()]).is_empty());
    let mut attended = stall_rule();
    // The vendor is there at the start, then away serving customers: still one stall.
    let events =
        drive(
            &mut attended,
            0..400,
            |s| {
                if s < 30 { vec![table.clone(), vendor.clone()] } else { vec![table.clone()] }
            },
        );
    assert_eq!(opened(&events), vec![300]);
    let mut again = stall_rule();
    let h: Vec<Hazard> =
        (0..=300).flat_map(|s| again.observe(&seen(&[table.clone(), vendor.clone()]), UnixMillis(s * 1000))).collect();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].related[0].label, "person");
    assert_eq!(h[0].note.as_deref(), Some("dining table attended by a person"));
}

#[test]
fn people_walking_past_a_table_do_not_make_it_a_stall() {
    let table = det("dining table", 0.6, 0.3, 0.6, 0.45, 0.75);
    let passer_by = det("person", 0.8, 0.46, 0.45, 0.52, 0.75);
    let mut r = stall_rule();
    // Someone beside it for 2 s of every 10, all day.
    let events =
        drive(
            &mut r,
            0..1000,
            |s| {
                if s % 10 < 2 { vec![table.clone(), passer_by.clone()] } else { vec![table.clone()] }
            },
        );
    assert!(opened(&events).is_empty(), "{events:?}");
}

#[test]
fn dedicated_stall_class_needs_no_companion() {
    let mut r = stall_rule();
    let events = drive(&mut r, 0..301, |_| vec![det("stall", 0.7, 0.2, 0.6, 0.4, 0.8)]);
    assert_eq!(opened(&events), vec![300]);
}

fn tricycle_rule() -> DwellRule {
    let c = config(Category::UnlicensedTricycle, &[ObjectKind::Tricycle], 30);
    DwellRule::new(CameraId("cam".into()), vec![zone("exit", 0.0, 0.0, 1.0, 1.0)], c)
}

#[test]
fn tricycle_class_is_raised_with_full_confidence() {
    let mut r = tricycle_rule();
    let t = det("awning-tricycle", 0.8, 0.2, 0.5, 0.3, 0.6);
    let h: Vec<Hazard> =
        (0..31).flat_map(|s| r.observe(&seen(std::slice::from_ref(&t)), UnixMillis(s * 1000))).collect();
    assert_eq!(h.len(), 1);
    assert!((h[0].confidence - 0.8).abs() < 1e-6 && h[0].note.is_none());
}

#[test]
fn coco_fallback_cycle_with_cargo_is_a_low_confidence_tricycle() {
    let bike = det("bicycle", 0.7, 0.20, 0.50, 0.28, 0.62);
    let load = det("bench", 0.6, 0.27, 0.48, 0.37, 0.61); // cargo bed beside the rider
    let parked_bike = det("bicycle", 0.7, 0.60, 0.50, 0.68, 0.62);
    let bag = det("suitcase", 0.6, 0.61, 0.40, 0.63, 0.43); // tiny, above: not a load
    let mut r = tricycle_rule();
    let mut raised = Vec::new();
    for s in 0..40 {
        raised.extend(
            r.observe(&seen(&[bike.clone(), load.clone(), parked_bike.clone(), bag.clone()]), UnixMillis(s * 1000)),
        );
    }
    let opened: Vec<&Hazard> = raised.iter().filter(|h| h.phase == Phase::Opened).collect();
    assert_eq!(opened.len(), 1, "{raised:?}");
    let h = opened[0];
    assert_eq!(h.detection.label, "tricycle? (bicycle + bench)");
    assert!((h.confidence - 0.6 * 0.5).abs() < 1e-6);
    assert!(h.note.as_deref().unwrap().starts_with("COCO fallback, low confidence"));
    assert_eq!(h.detection.bbox, BBox::from_corners(0.20, 0.48, 0.37, 0.62));
}

#[test]
fn a_car_that_passes_the_same_spot_again_and_again_never_stood_still() {
    let mut r = parking(20);
    // Traffic: a car at the same spot every 6 s (a loop, a queue that moves on), unseen in
    // between; the gaps are inside the track timeout, outside the occlusion bound.
    let events = drive(&mut r, 0..120, |s| if s % 6 == 0 { vec![van()] } else { vec![] });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_vehicle_on_an_old_grid_edge_is_one_issue_through_occlusions_and_jitter() {
    let mut r = parking(20);
    // Its foot at x = 0.625 sat on a cell edge of the old 8x8 grid: the jitter moves it across.
    let car = |s: i64| {
        let x = if s % 2 == 0 { 0.57 } else { 0.585 };
        det("car", 0.8, x, 0.1, x + 0.1, 0.3)
    };
    // Hidden by a bus for 15 s (longer than the track timeout) twice: new tracks, one hazard.
    let events =
        drive(&mut r, 0..200, |s| if (60..75).contains(&s) || (120..135).contains(&s) { vec![] } else { vec![car(s)] });
    assert_eq!(opened(&events), vec![20]);
    let keys: std::collections::HashSet<_> = events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[test]
fn a_nested_box_on_the_same_vehicle_is_the_same_issue() {
    let mut r = parking(20);
    // The detector also boxes the van's cab, inside the van's box but overlapping it little.
    let cab = det("car", 0.6, 0.82, 0.1, 0.87, 0.16);
    let events = drive(&mut r, 0..60, |s| if s < 5 { vec![van()] } else { vec![van(), cab.clone()] });
    assert_eq!(opened(&events).len(), 1, "{events:?}");
    let keys: std::collections::HashSet<_> = events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(keys.len(), 1);
}

#[test]
fn two_vehicles_side_by_side_are_two_issues() {
    let mut r = parking(20);
    // A van and a car on the kerb, close enough to share a cell of the old grid.
    let car = det("car", 0.8, 0.90, 0.12, 0.99, 0.2);
    let van = det("truck", 0.8, 0.88 - 0.1, 0.1, 0.89, 0.2);
    let events = drive(&mut r, 0..30, |_| vec![van.clone(), car.clone()]);
    assert_eq!(opened(&events), vec![20, 20], "{events:?}");
    let keys: std::collections::HashSet<_> = events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(keys.len(), 2);
}

#[test]
fn a_stall_in_its_permitted_hours_is_no_issue_and_one_after_them_is() {
    let market = crate::TimeWindow::parse("18:00-22:00").unwrap();
    let mut zone = zone("pavement", 0.0, 0.5, 1.0, 1.0);
    zone.exempt = vec![market];
    let c = config(Category::StreetVending, &[ObjectKind::Stall], 60);
    let mut r = DwellRule::new(CameraId("cam".into()), vec![zone], c);
    // 2026-12-03 21:50 China time: the stall stands from ten minutes before closing time.
    let start = 1_796_256_000_000 + (21 * 60 + 50) * 60_000 - 8 * 3_600_000;
    let stall = det("stall", 0.8, 0.2, 0.6, 0.4, 0.8);
    let mut opened = Vec::new();
    for s in 0..900 {
        for h in r.observe(&seen(std::slice::from_ref(&stall)), UnixMillis(start + s * 1000)) {
            if h.phase == Phase::Opened {
                opened.push(s);
            }
        }
    }
    // Permitted until 22:00; its dwell counts from the last permitted frame (21:59:59, s = 599).
    assert_eq!(opened, vec![659]);
}

#[test]
fn keys_survive_a_restart_and_two_objects_in_one_cell_get_two() {
    // A restarted daemon sees the van still standing: the same key, so the store folds the
    // sighting into the issue it already has.
    let mut before = parking(20);
    let mut after = parking(20);
    let first = drive(&mut before, 0..25, |_| vec![van()]);
    let again = drive(&mut after, 0..25, |s| vec![det("truck", 0.7, 0.802 + 0.001 * (s % 3) as f32, 0.1, 0.9, 0.201)]);
    assert_eq!(first[0].2, again[0].2);
    // Two scooters a hand apart, in one cell of the key grid: two hazards, two keys.
    let mut r = parking(20);
    let a = det("motorcycle", 0.8, 0.755, 0.3, 0.770, 0.4);
    let b = det("motorcycle", 0.8, 0.777, 0.3, 0.792, 0.4);
    let events = drive(&mut r, 0..21, |_| vec![a.clone(), b.clone()]);
    let keys: Vec<&str> = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(keys, vec!["cam/kerb/illegal_parking/12-6", "cam/kerb/illegal_parking/12-6+2"]);
}

/// A still-watch region: something new standing there, of no class.
fn new_object(x1: f32, y1: f32, x2: f32, y2: f32) -> Sighting {
    Sighting { kind: ObjectKind::NewObject, detection: det("new object", 0.8, x1, y1, x2, y2) }
}

/// Frames of `sightings` a second apart; the seconds at which an issue opened.
fn opened_on(rule: &mut DwellRule, seconds: std::ops::Range<i64>, sightings: &[Sighting]) -> Vec<i64> {
    seconds.filter(|s| rule.observe(sightings, UnixMillis(s * 1000)).iter().any(|h| h.phase == Phase::Opened)).collect()
}

fn with(new: Sighting, detections: &[Detection]) -> Vec<Sighting> {
    let mut all = seen(detections);
    all.push(new);
    all
}

#[test]
fn a_new_object_with_a_vendor_beside_it_is_a_stall_one_that_is_a_person_is_not() {
    let vending = || {
        let c = config(Category::StreetVending, &[ObjectKind::Stall, ObjectKind::NewObject], 60);
        let mut c = c;
        c.subject.needs_companion.push(ObjectKind::NewObject);
        DwellRule::new(CameraId("cam".into()), vec![zone("pavement", 0.0, 0.5, 1.0, 1.0)], c)
    };
    let goods = new_object(0.30, 0.60, 0.45, 0.75);
    let vendor = det("person", 0.8, 0.46, 0.45, 0.52, 0.75);
    assert_eq!(opened_on(&mut vending(), 0..90, &with(goods.clone(), std::slice::from_ref(&vendor))), vec![60]);
    assert!(opened_on(&mut vending(), 0..90, &[goods]).is_empty(), "nobody selling: not a stall");
    let standing = new_object(0.46, 0.46, 0.52, 0.75);
    assert!(opened_on(&mut vending(), 0..90, &with(standing, &[vendor])).is_empty(), "a person standing still");
}

#[test]
fn a_new_object_over_a_cycle_is_a_tricycle_the_parked_cycle_alone_is_not() {
    let bike = det("bicycle", 0.7, 0.20, 0.50, 0.28, 0.62);
    let loaded = new_object(0.18, 0.40, 0.36, 0.63);
    let mut r = tricycle_rule();
    let raised: Vec<Hazard> = (0..31)
        .flat_map(|s| r.observe(&with(loaded.clone(), std::slice::from_ref(&bike)), UnixMillis(s * 1000)))
        .collect();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].detection.label, "tricycle? (bicycle + new object)");
    let parked = new_object(0.20, 0.50, 0.28, 0.62);
    assert!(opened_on(&mut tricycle_rule(), 0..40, &with(parked, &[bike])).is_empty());
}

#[test]
fn a_new_object_is_clutter_unless_a_detection_says_what_it_is() {
    let clutter = || {
        let mut c = config(Category::StreetClutter, &[ObjectKind::NewObject], 60);
        c.subject.explained_by = vec![ObjectKind::Person, ObjectKind::Vehicle, ObjectKind::Cycle];
        DwellRule::new(CameraId("cam".into()), vec![zone("fire-lane", 0.0, 0.5, 1.0, 1.0)], c)
    };
    let pile = new_object(0.30, 0.60, 0.45, 0.75);
    assert_eq!(opened_on(&mut clutter(), 0..90, std::slice::from_ref(&pile)), vec![60]);
    let bike = det("bicycle", 0.7, 0.30, 0.60, 0.44, 0.75);
    assert!(opened_on(&mut clutter(), 0..90, &with(pile.clone(), &[bike])).is_empty(), "a parked bicycle");
    let passer_by = det("person", 0.8, 0.70, 0.45, 0.75, 0.75);
    assert_eq!(opened_on(&mut clutter(), 0..90, &with(pile, &[passer_by])), vec![60], "someone else nearby");
}

#[test]
fn a_stream_of_people_walking_past_is_no_vendor() {
    let c = config(Category::StreetVending, &[ObjectKind::NewObject], 60);
    let mut c = c;
    c.subject.needs_companion.push(ObjectKind::NewObject);
    let mut r = DwellRule::new(CameraId("cam".into()), vec![zone("pavement", 0.0, 0.5, 1.0, 1.0)], c);
    let goods = new_object(0.30, 0.60, 0.45, 0.75);
    // Someone beside the goods every second, each a step further along the pavement.
    let opened: Vec<i64> = (0..200)
        .filter(|s| {
            let x = 0.15 + 0.03 * (s % 12) as f32;
            let walker = det("person", 0.8, x, 0.45, x + 0.06, 0.75);
            r.observe(&with(goods.clone(), &[walker]), UnixMillis(s * 1000)).iter().any(|h| h.phase == Phase::Opened)
        })
        .collect();
    assert!(opened.is_empty(), "{opened:?}");
}

#[test]
fn a_vendor_half_hidden_by_the_goods_is_a_vendor_whoever_walks_past() {
    let mut c = config(Category::StreetVending, &[ObjectKind::NewObject], 60);
    c.subject.needs_companion.push(ObjectKind::NewObject);
    let mut r = DwellRule::new(CameraId("cam".into()), vec![zone("pavement", 0.0, 0.5, 1.0, 1.0)], c);
    let goods = new_object(0.30, 0.60, 0.45, 0.75);
    let vendor = det("person", 0.4, 0.46, 0.50, 0.52, 0.75);
    // Passers-by, surer detections than the vendor, beside the goods every other second.
    let opened: Vec<i64> = (0..90)
        .filter(|s| {
            let mut seen = vec![vendor.clone()];
            if s % 2 == 0 {
                let x = 0.15 + 0.03 * (s % 12) as f32;
                seen.push(det("person", 0.9, x, 0.45, x + 0.06, 0.75));
            }
            r.observe(&with(goods.clone(), &seen), UnixMillis(s * 1000)).iter().any(|h| h.phase == Phase::Opened)
        })
        .collect();
    assert_eq!(opened, vec![60]);
}
