//! The operator's loop in the console, clicked through in headless Chromium (chromedriver) on a
//! running daemon, at a desktop size and as a phone: sign in with the token, then on car-park
//! issues raised by real MQTT readings: confirm; dismiss with a reason (and the same car park
//! full again is not filed while suppressed, counted in the console); confirm, dispatch, mark
//! handled and see it verified when the car park empties; mark handled and see it reopened
//! when it stays full. Then the terminal, as street staff's phone with a position: its
//! department's open issues nearest first, one marked handled with a note from the card.
//! Screenshots go to target/test-artifacts/.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use shaobing::daemon::Daemon;
use shaobing_core::Secret;
use shaobing_store::Store;
use shaobing_testkit::browser::{Browser, Screen};
use shaobing_testkit::mosquitto::{Broker, Client};
use shaobing_testkit::until;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "operator-token-console";
const BOX: &str = "box-console";
const WAIT: Duration = Duration::from_secs(15);

/// The issue of car park `i`: its id and dedup key.
fn issue_of(data: &Path, i: usize) -> Option<(String, String)> {
    let rows = Store::open(data, BOX).unwrap().list(None, 100).unwrap();
    rows.into_iter().find(|r| r.source == common::park(i)).map(|r| (r.id, r.dedup_key))
}

async fn park(client: &Client, i: usize, percent: u32) {
    client.publish(&common::park_topic(i), percent.to_string()).await;
}

/// Opens issue `id`'s detail and gives `verdict` (with `reason` for a dismissal); waits for
/// the detail to show `status`.
async fn verdict(b: &Browser, id: &str, verdict: &str, reason: Option<&str>, status: &str) {
    Box::pin(give(b, id, verdict, reason, status)).await;
}

async fn give(b: &Browser, id: &str, verdict: &str, reason: Option<&str>, status: &str) {
    let open = format!("#detail[open] h2[data-id=\"{id}\"]");
    if !b.appears(&open, Duration::from_millis(200)).await {
        b.click(&format!("tr.issue-row[data-id=\"{id}\"]")).await;
        // The detail of the issue before stays in the page, closed, until this one is fetched:
        // its form is there but hidden, and typing into it is refused.
        b.wait_for(&open, WAIT).await;
    }
    b.type_into("#detail .verdict-form input[name=by]", "值班员 duty-officer").await;
    b.type_into("#detail .verdict-form textarea[name=note]", &format!("{verdict} from the console")).await;
    if let Some(reason) = reason {
        b.select("#detail .verdict-form select[name=reason]", reason).await;
    }
    b.click(&format!("#detail button.verdict-{verdict}")).await;
    b.wait_for(&format!("#detail h2[data-id=\"{id}\"][data-status=\"{status}\"]"), WAIT).await;
}

async fn close_detail(b: &Browser) {
    b.click("#detail button.close").await;
}

/// The whole loop on car parks `first..first + 4`, in a browser of `screen`'s size.
async fn the_loop(addr: SocketAddr, data: &Path, sensors: &Client, first: usize, screen: Screen, name: &str) {
    let b = Browser::start(screen).await;
    // The browser's own prompt for the page (the token as the Basic password) reads; a verdict
    // asks for the token in the page, kept for the browser session.
    // (A URL with credentials stands for the prompt; the page then works from its plain URL, as
    // after a prompt, the browser sending the cached password.)
    b.goto(&format!("http://duty:{TOKEN}@{addr}/static/console.css")).await;
    b.goto(&format!("http://{addr}/")).await;
    b.wait_for("#issues", WAIT).await;
    if !b.text("#sign-in").await.contains("Sign out") {
        b.click("#sign-in").await;
        b.type_into("#login[open] input[name=token]", TOKEN).await;
        b.click("#login button[type=submit]").await;
    }
    assert!(until(WAIT, async || b.text("#sign-in").await.contains("Sign out")).await, "signed in");

    for i in first..first + 4 {
        park(sensors, i, 100).await;
    }
    let ids: Vec<(String, String)> = {
        assert!(until(WAIT, async || (first..first + 4).all(|i| issue_of(data, i).is_some())).await, "four issues");
        (first..first + 4).map(|i| issue_of(data, i).unwrap()).collect()
    };
    for (id, _) in &ids {
        b.wait_for(&format!("tr.issue-row[data-id=\"{id}\"]"), WAIT).await;
    }

    // Confirm.
    verdict(&b, &ids[0].0, "confirm", None, "confirmed").await;
    close_detail(&b).await;

    // Dismiss with a reason: listed as suppressed; the car park full again is not filed.
    let (dismissed, key) = &ids[1];
    verdict(&b, dismissed, "dismiss", Some("permitted"), "dismissed").await;
    close_detail(&b).await;
    let row = format!("#suppressions tr.suppression-row[data-key=\"{key}\"]");
    b.wait_for(&row, WAIT).await;
    park(sensors, first + 1, 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    park(sensors, first + 1, 100).await;
    let held = async || b.text(&format!("{row} td.suppressed")).await == "1";
    assert!(until(Duration::from_secs(25), held).await, "the suppressed candidate is counted in the console");
    let filed = Store::open(data, BOX).unwrap().list(None, 100).unwrap();
    assert_eq!(filed.iter().filter(|r| &r.dedup_key == key).count(), 1, "not filed again while suppressed");

    // Confirm, dispatch, handled; the car park empties: verified.
    let (handled, _) = &ids[2];
    verdict(&b, handled, "confirm", None, "confirmed").await;
    verdict(&b, handled, "dispatch", None, "dispatched").await;
    verdict(&b, handled, "handled", None, "resolved").await;
    park(sensors, first + 2, 30).await;
    b.wait_for(&format!("#detail h2[data-id=\"{handled}\"][data-status=\"verified\"]"), WAIT).await;
    close_detail(&b).await;

    // Handled, but the car park stays full past verify_secs: reopened to its department.
    let (reopened, _) = &ids[3];
    verdict(&b, reopened, "handled", None, "resolved").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    park(sensors, first + 3, 100).await;
    b.wait_for(&format!("#detail h2[data-id=\"{reopened}\"][data-status=\"dispatched\"]"), WAIT).await;
    let history = Store::open(data, BOX).unwrap().history(reopened).unwrap();
    assert!(history.iter().any(|h| h.actor.starts_with("console:")), "the verdict is recorded with who: {history:?}");
    // The readings around it as a chart with its thresholds, the occupancy in per cent.
    b.wait_for("#detail svg.readings-chart polyline.signal", WAIT).await;
    let caption = b.text("#detail figure.readings figcaption").await;
    assert!(caption.contains("占用率 occupancy 100 %") && caption.contains("触发 raise 0.95"), "{caption}");

    // Precision per source and category: the confirmed car park's 100 %, the dismissed one's 0 %.
    for (i, shown) in [(first, "100 %"), (first + 1, "0 %")] {
        let cell = format!("#precision tr.precision-row[data-source=\"{}\"] td.precision", common::park(i));
        assert!(
            until(WAIT, async || b.appears(&cell, Duration::from_millis(100)).await && b.text(&cell).await == shown)
                .await,
            "{cell}: {shown}"
        );
    }

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    b.screenshot(&artifacts.join(format!("console-verdicts-{name}.png"))).await;
}

/// Street staff at car park 4: the open issues (car parks 0, 3, 4 and 7 after the loops) nearest
/// first, and the nearest marked handled with a note from its card.
async fn the_terminal(addr: SocketAddr, data: &Path) {
    let b = Browser::start(Screen::Phone { width: 390, height: 844 }).await;
    let origin = format!("http://{addr}");
    b.goto(&format!("http://duty:{TOKEN}@{addr}/static/console.css")).await;
    b.goto(&format!("http://{addr}/#terminal")).await;
    let (lat, lon) = common::park_place(4);
    b.place_at(&origin, lat, lon).await;
    b.click("#sign-in").await;
    b.type_into("#login[open] input[name=token]", TOKEN).await;
    b.click("#login button[type=submit]").await;
    assert!(until(WAIT, async || b.text("#sign-in").await.contains("Sign out")).await, "signed in");
    let order = [4, 3, 7, 0].map(|i| issue_of(data, i).unwrap().0);
    let shown = async || {
        let ids = b
            .execute("return [...document.querySelectorAll('.terminal-card')].map(c => c.dataset.id)", json!([]))
            .await;
        ids.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
    };
    assert!(
        until(WAIT, async || shown().await.as_deref() == Some(&order[..])).await,
        "nearest first: {:?}",
        shown().await
    );
    assert_eq!(b.text("#terminal .where").await, "最近的在前 Nearest first");
    let first = format!(".terminal-card[data-id=\"{}\"]", order[0]);
    assert!(b.text(&format!("{first} .distance")).await.ends_with(" m"));
    b.wait_for(&format!("{first} a.map[href^=\"geo:\"]"), WAIT).await;
    b.execute("sessionStorage.setItem('shaobing-by', '巡查员 patrol-7')", json!([])).await;
    b.type_into(&format!("{first} textarea[name=note]"), "车已挪走 moved on").await;
    b.click(&format!("{first} button.handled")).await;
    assert!(until(WAIT, async || shown().await.is_some_and(|s| !s.contains(&order[0]))).await, "the handled card goes");
    let history = Store::open(data, BOX).unwrap().history(&order[0]).unwrap();
    let last = history.last().unwrap();
    assert_eq!((last.to_status.as_str(), last.note.as_deref()), ("resolved", Some("车已挪走 moved on")));
    assert_eq!(last.actor, "console:巡查员 patrol-7");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    b.screenshot(&artifacts.join("console-terminal-phone.png")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_issues_through_the_console_at_desktop_and_phone_sizes() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::car_parks(BOX, 8, broker.port, dir.path());
    config.metrics.access_token = Some(Secret::new(TOKEN));
    config.daemon.verify_secs = 1;
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let sensors = Client::connect(&broker, "car-parks");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = daemon.metrics_addr();
    // Boxed: a browser's futures are deep, and a test thread's stack is small.
    let desktop = Screen::Desktop { width: 1920, height: 1080 };
    Box::pin(the_loop(addr, dir.path(), &sensors, 0, desktop, "desktop")).await;
    let phone = Screen::Phone { width: 390, height: 844 };
    Box::pin(the_loop(addr, dir.path(), &sensors, 4, phone, "phone")).await;
    Box::pin(the_terminal(addr, dir.path())).await;
    cancel.cancel();
    daemon.wait().await.unwrap();
}

/// Chairs left on the pavement of the street clip from 2 s, as the evaluation sets them down;
/// taken away at `until` s (or never); the clip plays twice (159 s), encoded at 5 frames/s.
fn pavement_with_chairs(dir: &Path, name: &str, until: Option<f64>) -> std::path::PathBuf {
    let media = concat!(env!("CARGO_MANIFEST_DIR"), "/media/stall/chair.jpg");
    let until = until.map_or_else(String::new, |u| format!("until_secs = {u}\n"));
    let chair = |x: f64| {
        format!(
            "[[place]]\nobject = \"{media}\"\ncut_out = true\nfoot = [{x}, 0.93]\nheight = 0.2\nfrom_secs = 2\n{until}"
        )
    };
    let spec: shaobing_eval::ClipSpec = toml::from_str(&format!(
        "name = \"{name}\"\ncamera = \"{name}\"\nvideo = \"{}\"\nrepeat = 2\n{}{}",
        shaobing_rtsp_server::street_clip().display(),
        chair(0.42),
        chair(0.47)
    ))
    .unwrap();
    let footage = shaobing_eval::Footage::load(&spec, 5.0, 1).unwrap();
    let path = dir.join(format!("{name}.mkv"));
    common::encode_frames(footage.frames().map(|(_, f)| f), 5, &path);
    path
}

/// A pavement camera playing `clip` as a camera would, with the evaluation's fire lane.
fn pavement_camera(id: &str, clip: &Path) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nuri = \"file://{}\"\non_eos = \"restart\"\n[[cameras.zones]]\nid = \"lane\"\n\
         kind = \"no_clutter\"\npolygon = [[0.2, 0.6], [0.8, 0.6], [0.8, 1.0], [0.2, 1.0]]\n",
        clip.display()
    )
}

/// Three issues dismissed at one place of camera `camera` earlier: a mask is offered there.
fn dismissed_three_times(data: &Path, camera: &str) {
    use shaobing_core::{BBox, DismissReason, UnixMillis, Verdict};
    let mut store = Store::open(data, BOX).unwrap();
    for i in 0..3 {
        let mut c = shaobing_testkit::issue::candidate(&format!("{camera}/earlier-{i}"), UnixMillis(1_000 + i));
        c.location.source = camera.into();
        c.cause.detections[0].bbox = BBox::from_corners(0.05, 0.3, 0.15, 0.45);
        c.location.image_point = Some(c.cause.detections[0].bbox.bottom_centre());
        let shaobing_store::Recorded::Created { id } = store.record(&c, None).unwrap() else { panic!() };
        store.apply_verdict(&id, &Verdict::Dismiss { reason: DismissReason::Permitted }, "值班员", None).unwrap();
    }
}

/// A fire filed earlier on camera `camera` that nobody has acknowledged: its id.
fn unacknowledged_fire(data: &Path, camera: &str) -> String {
    let mut fire = shaobing_testkit::issue::candidate(&format!("{camera}/fire"), shaobing_core::UnixMillis::now());
    fire.category = shaobing_core::Category::FireSmoke;
    fire.priority = shaobing_core::Priority::Emergency;
    fire.location.source = camera.into();
    match Store::open(data, BOX).unwrap().record(&fire, Some(b"\xFF\xD8 a fire")).unwrap() {
        shaobing_store::Recorded::Created { id } => id,
        other => panic!("{other:?}"),
    }
}

/// The camera's open clutter issue, once filed.
fn clutter_of(data: &Path, camera: &str) -> Option<String> {
    let rows = Store::open(data, BOX).unwrap().list(None, 100).unwrap();
    rows.into_iter().find(|r| r.source == camera && r.category == "street_clutter").map(|r| r.id)
}

/// 核查 by camera, in the console: chairs left on the pavement on two cameras are filed; both
/// are marked handled from the detail view; where the chairs are then taken away the issue is
/// verified (with the "after" snapshot), where they are left it is reopened to its department
/// with the "still present" snapshot shown. A place dismissed three times before is outlined
/// over its camera's live frame and listed with the mask to add; a fire nobody acknowledged
/// holds a banner (and its alarm) until the shift lead does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handled_camera_issue_is_verified_when_taken_away_and_reopened_with_a_snapshot_when_left() {
    let dir = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let taken = pavement_with_chairs(media.path(), "taken-away", Some(45.0));
    let left = pavement_with_chairs(media.path(), "left", None);
    dismissed_three_times(dir.path(), "left");
    let fire = unacknowledged_fire(dir.path(), "taken-away");
    let text = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\nverify_secs = 40\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         access_token = \"{TOKEN}\"\n[clips]\nenabled = false\n\
         [rules.street_clutter]\ndwell_secs = 5\nclear_secs = 5\n{}{}",
        dir.path().display(),
        pavement_camera("taken-away", &taken),
        pavement_camera("left", &left)
    );
    let config = shaobing_config::Config::parse(&text, Path::new("console-cameras.toml")).unwrap();
    config.validate().unwrap();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let addr = daemon.metrics_addr();
    Box::pin(camera_recheck(addr, dir.path(), &fire)).await;
    cancel.cancel();
    daemon.wait().await.unwrap();
}

async fn camera_recheck(addr: SocketAddr, data: &Path, fire: &str) {
    let b = common::signed_in(addr, TOKEN, Screen::Desktop { width: 1920, height: 1080 }).await;
    // The fire nobody has acknowledged: a banner and its alarm until someone does.
    b.wait_for(&format!("#emergency[data-alarm=\"on\"][data-id=\"{fire}\"]"), WAIT).await;
    assert!(b.text("#emergency").await.contains("紧急 Emergency"));
    b.type_into("#emergency input[name=by]", "值班长 shift-lead").await;
    b.click("#emergency button.acknowledge").await;
    b.wait_for("#emergency[data-alarm=\"off\"]", WAIT).await;
    let fire_row = Store::open(data, BOX).unwrap().get(fire).unwrap();
    assert!(fire_row.acknowledged_ms.is_some() && fire_row.responded_ms.is_some(), "{fire_row:?}");
    let last = Store::open(data, BOX).unwrap().history(fire).unwrap().pop().unwrap();
    assert_eq!((last.actor.as_str(), last.to_status.as_str()), ("console:值班长 shift-lead", "candidate"));
    b.wait_for("#masks tr.mask-row[data-camera=\"left\"]", WAIT).await;
    b.wait_for(".camera-card[data-id=\"left\"] svg.masks polygon.suggested-mask", WAIT).await;
    assert!(b.text("#masks tr.mask-row pre.snippet").await.contains("kind = \"mask\""));

    let filed = Duration::from_secs(40);
    assert!(
        until(filed, async || clutter_of(data, "taken-away").is_some() && clutter_of(data, "left").is_some()).await,
        "chairs on both pavements filed"
    );
    let (gone, stays) = (clutter_of(data, "taken-away").unwrap(), clutter_of(data, "left").unwrap());
    for id in [&gone, &stays] {
        b.wait_for(&format!("tr.issue-row[data-id=\"{id}\"]"), WAIT).await;
        verdict(&b, id, "handled", None, "resolved").await;
        close_detail(&b).await;
    }
    // Taken away at 45 s, within verify_secs of the verdict: verified, the place seen empty.
    let outcome = Duration::from_secs(90);
    b.click(&format!("tr.issue-row[data-id=\"{gone}\"]")).await;
    b.wait_for(&format!("#detail h2[data-id=\"{gone}\"][data-status=\"verified\"]"), outcome).await;
    b.wait_for("#detail img.evidence-after", WAIT).await;
    close_detail(&b).await;
    // Left where they were past verify_secs: reopened to the department, with what is there.
    b.click(&format!("tr.issue-row[data-id=\"{stays}\"]")).await;
    b.wait_for(&format!("#detail h2[data-id=\"{stays}\"][data-status=\"dispatched\"]"), outcome).await;
    b.wait_for("#detail img.evidence-still_present", WAIT).await;
    // Codes read in Chinese with the English beside them, numbers rounded, the zone named.
    let detail = b.text("#detail dl").await;
    for shown in [
        "社区吹哨、科室报到 Community to sub-district",
        "疏解整治促提升",
        "指挥中心视频 Command centre video",
        "北京时间 CST (UTC+08:00)",
    ] {
        assert!(detail.contains(shown), "{shown} in\n{detail}");
    }
    assert!(!detail.contains("street_to_district") && !detail.contains("command_centre_video"), "{detail}");
    assert!(
        detail.lines().any(|l| l.trim().ends_with(" %") && l.trim().len() <= 6),
        "the confidence in per cent: {detail}"
    );
    let kept = Store::open(data, BOX).unwrap().evidence_of(&stays).unwrap();
    let still = kept.iter().find(|e| e.kind == "still_present").expect("a still-present snapshot");
    assert!(still.captured_ms > kept[0].captured_ms, "taken after the issue was raised: {kept:?}");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    b.screenshot(&artifacts.join("console-recheck-camera.png")).await;
    close_detail(&b).await;
    Box::pin(filters_kept_in_the_url(&b, addr)).await;
}

/// The issue list filtered by category: only the two clutter issues, the filter in the URL
/// and still applied after a reload.
async fn filters_kept_in_the_url(b: &Browser, addr: SocketAddr) {
    let categories = async || {
        let shown = b
            .execute("return [...document.querySelectorAll('tr.issue-row')].map(r => r.querySelector('td.category').textContent)", json!([]))
            .await;
        shown.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
    };
    let only_clutter =
        async || categories().await.is_some_and(|c| c.len() == 2 && c.iter().all(|c| c.starts_with("乱堆物料")));
    b.select("#category-filter", "street_clutter").await;
    assert!(until(WAIT, only_clutter).await, "only clutter listed: {:?}", categories().await);
    assert_eq!(b.execute("return location.search", json!([])).await, json!("?category=street_clutter"));
    b.goto(&format!("http://{addr}/?category=street_clutter")).await;
    b.wait_for("tr.issue-row", WAIT).await;
    assert!(until(WAIT, only_clutter).await, "still filtered after a reload: {:?}", categories().await);
}

/// A box process whose end is the test's: killed when dropped, whatever failed before.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The box's clock is its configuration (`daemon.utc_offset`), not the browser's: the console
/// writes an issue's times in the box's zone and names it, and so does the command line. The
/// shipped binary in a process of its own, since the zone is the whole process's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_the_command_line_write_times_in_the_box_s_configured_zone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 2025-12-04 00:00:00 UTC: 20:30 the evening before at UTC-03:30.
    let seen = shaobing_core::UnixMillis(1_764_806_400_000);
    let candidate = shaobing_testkit::issue::candidate("zone", seen);
    let shaobing_store::Recorded::Created { id } = Store::open(&data, BOX).unwrap().record(&candidate, None).unwrap()
    else {
        panic!("filed")
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], shaobing_testkit::mosquitto::free_port()));
    let config = dir.path().join("box.toml");
    let text = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\nutc_offset = \"-03:30\"\n[metrics]\nlisten = \"{addr}\"\n\
         access_token = \"{TOKEN}\"\n",
        data.display()
    );
    std::fs::write(&config, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_shaobing-under-test");
    let listed = std::process::Command::new(bin).args(["issues", "list", "--config"]).arg(&config).output().unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(table.contains("first seen (UTC-03:30)") && table.contains("2025-12-03 20:30:00"), "{table}");

    let spawned = std::process::Command::new(bin).args(["run", "--config"]).arg(&config).spawn().unwrap();
    let _daemon = Running(spawned);
    let up = until(Duration::from_secs(30), async || tokio::net::TcpStream::connect(addr).await.is_ok());
    assert!(up.await, "the box serves its console");
    let b = common::signed_in(addr, TOKEN, Screen::Desktop { width: 1280, height: 800 }).await;
    let row = format!("tr.issue-row[data-id=\"{id}\"]");
    b.wait_for(&row, WAIT).await;
    assert_eq!(b.text(&format!("{row} td.first-seen")).await.trim(), "2025-12-03 20:30:00");
    b.click(&row).await;
    b.wait_for(&format!("#detail h2[data-id=\"{id}\"]"), WAIT).await;
    let detail = b.text("#detail dl").await;
    assert!(detail.contains("UTC-03:30") && detail.contains("2025-12-03 20:30:00"), "{detail}");
    assert!(!detail.contains("北京时间"), "{detail}");
}
