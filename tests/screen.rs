//! The command centre's screen (issue 19), in headless Chromium on a running daemon, at
//! 1920x1080 and at a phone's size: a fire nobody has acknowledged, an illegally parked car
//! filed from a camera, a PM2.5 episode from a real MQTT air monitor, a street camera playing
//! and a camera that is down. Each part is checked where an operator would look: the map, the
//! emergency banner, the issue with its large boxed snapshots and its timeline, the enlarged
//! camera with its zones and legend, the sensor's AQI level and trend. A second daemon with a
//! tile server configured draws its map on those tiles. Screenshots go to
//! target/test-artifacts/ (the README shows them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use shaobing::daemon::Daemon;
use shaobing_config::Config;
use shaobing_core::{BBox, Category, Priority, UnixMillis};
use shaobing_store::{Recorded, Store};
use shaobing_testkit::browser::{Browser, Screen};
use shaobing_testkit::mosquitto::{Broker, Client, until_online};
use shaobing_testkit::until;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "operator-token-screen";
const BOX: &str = "box-screen";
const WAIT: Duration = Duration::from_secs(20);
const AIR: &str = "sanlitun/air/aq-gongti/state";

fn media(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("media").join(path)
}

/// A street camera playing the street clip with a kerb it may not park on, and a gate camera
/// nobody answers for. Hazards clear after an hour unseen: the ones filed before the daemon
/// started stay open while the test looks at them.
fn config(data: &Path, broker: &Broker, tiles: Option<&str>) -> Config {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let map = tiles.map_or_else(String::new, |url| {
        format!("[metrics.map]\ntiles_url = \"{url}\"\nattribution = \"测试瓦片 test tiles\"\nmax_zoom = 19\n")
    });
    let text = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{TOKEN}\"\n\
         {map}[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[clips]\nenabled = false\n\
         [rules.fire_smoke]\nclear_secs = 3600\n[rules.illegal_parking]\nclear_secs = 3600\n\
         [[cameras]]\nid = \"gongti-n\"\nuri = \"file://{}\"\non_eos = \"restart\"\naddress = \"工体北路 北口\"\n\
         lat = 39.9338\nlon = 116.4532\n\
         [[cameras.zones]]\nid = \"kerb\"\nkind = \"no_parking\"\npolygon = [[0.0, 0.55], [0.35, 0.55], [0.35, 1.0], [0.0, 1.0]]\n\
         [[cameras]]\nid = \"gate\"\nuri = \"rtsp://127.0.0.1:{closed}/gate\"\naddress = \"三里屯路 南门\"\n\
         lat = 39.9321\nlon = 116.4558\n",
        data.display(),
        broker.port,
        shaobing_rtsp_server::street_clip().display(),
    );
    let mut config = Config::parse(&text, Path::new("screen.toml")).unwrap();
    common::with_fixture_sensors(&mut config);
    config.validate().unwrap();
    config
}

/// An evidence snapshot as the analysis draws it: `image` with `subject` boxed in red.
fn snapshot(image: &str, subject: BBox, what: &str) -> Vec<u8> {
    let frame = shaobing_vision::read_image(&media(image), "gongti-n").unwrap();
    let note = shaobing_vision::Annotation {
        zones: Vec::new(),
        boxes: vec![(what.to_string(), subject)],
        caption: format!("gongti-n {what}"),
    };
    shaobing_vision::render_evidence(&frame, &note).unwrap()
}

/// A fire nobody has acknowledged and a car parked on the kerb, filed by the camera earlier.
fn filed_earlier(data: &Path) -> (String, String) {
    let mut store = Store::open(data, BOX).unwrap();
    let mut record = |key: &str, category, priority, image: &str, subject, lat_lon: (f64, f64)| {
        let mut c = shaobing_testkit::issue::candidate(key, UnixMillis::now());
        (c.category, c.priority) = (category, priority);
        if category == Category::FireSmoke {
            c.cause.summary = "烟火: flame seen in 4 of 5 frames over 1.6 s".into();
            c.cause.rule = "fire_smoke/votes".into();
            c.cause.detections[0].label = "flame".into();
        }
        c.location.source = "gongti-n".into();
        (c.location.lat, c.location.lon) = (Some(lat_lon.0), Some(lat_lon.1));
        c.cause.detections[0].bbox = subject;
        let jpeg = snapshot(image, subject, c.cause.detections[0].label.as_str());
        match store.record(&c, Some(&jpeg)).unwrap() {
            Recorded::Created { id } => id,
            other => panic!("{other:?}"),
        }
    };
    let fire = record(
        "gongti-n/fire",
        Category::FireSmoke,
        Priority::Emergency,
        "fire/positive/flame_on_street.jpg",
        BBox::from_corners(0.3, 0.3, 0.7, 0.9),
        (39.9336, 116.4535),
    );
    let parked = record(
        "gongti-n/kerb",
        Category::IllegalParking,
        Priority::Routine,
        "darknet/dog.jpg",
        BBox::from_corners(0.6, 0.13, 0.9, 0.3),
        (39.9352, 116.4515),
    );
    (fire, parked)
}

/// 重度污染 for ninety minutes (PM2.5 between 160 and 220 µg/m³, 200 at last), one reading a
/// minute: an episode still open, and a trend worth drawing.
async fn air_episode(client: &Client) {
    let now = UnixMillis::now().0;
    for m in 0..90_i64 {
        let pm25 = if m == 89 { 200.0 } else { 190.0 + 30.0 * (m as f64 / 7.0).sin() };
        let ts = now - (95 - m) * 60_000;
        client.publish(AIR, format!(r#"{{"ts":{ts},"seq":{},"pm25":{pm25}}}"#, m + 1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_centre_sees_where_the_problems_are_and_the_fire_at_once() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let (fire, parked) = filed_earlier(dir.path());
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config(dir.path(), &broker, None), cancel.clone()).await.unwrap();
    let monitor = Client::connect(&broker, "air-monitor");
    let filed = async || {
        let rows = Store::open(dir.path(), BOX).unwrap().list(None, 50).unwrap();
        rows.into_iter().find(|r| r.category == "air_pollution").map(|r| r.id)
    };
    // A reading published before the box has subscribed goes nowhere, as from a real monitor.
    assert!(until_online(&broker, BOX, WAIT).await, "the box announced itself online");
    air_episode(&monitor).await;
    assert!(until(WAIT, async || filed().await.is_some()).await, "the PM2.5 episode filed");
    let air = filed().await.unwrap();
    let addr = daemon.metrics_addr();
    let scene = Scene { addr, fire, parked, air };
    Box::pin(look(&scene, Screen::Desktop { width: 1920, height: 1080 }, "desktop")).await;
    Box::pin(look(&scene, Screen::Phone { width: 390, height: 844 }, "phone")).await;
    cancel.cancel();
    daemon.wait().await.unwrap();
}

struct Scene {
    addr: SocketAddr,
    fire: String,
    parked: String,
    air: String,
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The page's measure of something, by a script.
async fn measure(b: &Browser, script: &str) -> f64 {
    b.execute(script, json!([])).await.as_f64().unwrap_or(f64::NAN)
}

/// Every item of issue 19, at one screen size.
async fn look(s: &Scene, screen: Screen, name: &str) {
    let b = common::signed_in(s.addr, TOKEN, screen).await;
    let width = measure(&b, "return window.innerWidth").await;
    let wider = measure(&b, "return document.documentElement.scrollWidth").await;
    assert!(wider <= width + 1.0, "nothing wider than the {width} px window: the page is {wider} px");
    // 2. The fire nobody acknowledged: the banner with its snapshot, and the alarm.
    b.wait_for(&format!("#emergency[data-alarm=\"on\"][data-id=\"{}\"]", s.fire), WAIT).await;
    b.wait_for("#emergency img.emergency-shot[src]", WAIT).await;
    assert!(b.text("#emergency").await.contains("紧急 Emergency"));
    // 1. The map: cameras, the sensor and the open issues by category and priority, on a plain
    // coordinate grid (no tiles configured).
    b.wait_for("#map-canvas[data-background=\"grid\"]", WAIT).await;
    b.wait_for("path.map-issue.category-fire_smoke.priority-emergency", WAIT).await;
    b.wait_for("path.map-issue.category-illegal_parking.priority-routine", WAIT).await;
    b.wait_for("path.map-issue.category-air_pollution", WAIT).await;
    b.wait_for(".leaflet-marker-icon.map-camera.down", WAIT).await;
    b.wait_for(".leaflet-marker-icon.map-sensor", WAIT).await;
    let markers = measure(&b, "return document.querySelectorAll('.leaflet-marker-icon.map-camera').length").await;
    assert_eq!(markers, 2.0, "both cameras on the map");
    let legend = b.text(".map-legend").await;
    assert!(legend.contains("烟火 Fire/smoke") && !legend.contains("黑三轮"), "only what the map shows: {legend}");
    b.execute("document.getElementById('map').scrollIntoView()", json!([])).await;
    b.screenshot(&artifact(&format!("screen-{name}-map.png"))).await;
    // 3. The parked car from its marker on the map: large snapshots, the subject boxed, a timeline.
    // On a phone from its row in the list (clicked as an element: rows arriving above it move
    // it under a pointer aimed a moment before).
    match screen {
        Screen::Desktop { .. } => {
            // Centred first, as an operator scrolls it: the emergency banner stands over the
            // top of the page until acknowledged.
            let marker = "path.map-issue.category-illegal_parking";
            b.execute("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", json!([marker])).await;
            b.click(marker).await;
        }
        Screen::Phone { .. } => {
            let row = format!("tr.issue-row[data-id=\"{}\"]", s.parked);
            b.wait_for(&row, WAIT).await;
            b.execute("document.querySelector(arguments[0]).click()", json!([row])).await;
        }
    }
    if !b.appears(&format!("#detail[open] h2[data-id=\"{}\"]", s.parked), WAIT).await {
        b.screenshot(&artifact(&format!("screen-{name}-no-detail.png"))).await;
        panic!("no detail of the parked car after a click");
    }
    b.wait_for("#detail img.evidence-before[src]", WAIT).await;
    let shown =
        measure(&b, "return document.querySelector('#detail img.evidence-before').getBoundingClientRect().width").await;
    assert!(shown >= (0.8 * width).min(560.0), "a large snapshot: {shown} px wide in a {width} px window");
    b.type_into("#detail .verdict-form input[name=by]", "值班员 duty-officer").await;
    // Confirmed at the desk, then dispatched from the phone: each a step of the timeline.
    let (verdict, status, step) = match screen {
        Screen::Desktop { .. } => ("confirm", "confirmed", "待核实 → 已确认"),
        Screen::Phone { .. } => ("dispatch", "dispatched", "已确认 → 已派单"),
    };
    b.click(&format!("#detail button.verdict-{verdict}")).await;
    b.wait_for(&format!("#detail h2[data-id=\"{}\"][data-status=\"{status}\"]", s.parked), WAIT).await;
    let timeline = b.text("#detail ol.timeline").await;
    for step in ["首次发现 First seen", "立案 Filed", step, "console:值班员 duty-officer"] {
        assert!(timeline.contains(step), "{step} in the timeline:\n{timeline}");
    }
    assert!(b.text("#detail dl").await.contains("北京时间 CST (UTC+08:00)"));
    b.screenshot(&artifact(&format!("screen-{name}-issue.png"))).await;
    b.click("#detail button.close").await;
    // 4. Cameras: the one down says why; the street camera enlarged, its zone named, the legend
    // saying what is drawn, and every detection on request.
    b.wait_for(".camera-card[data-id=\"gate\"] .state[data-reason=\"unreachable\"]", WAIT).await;
    assert!(b.text(".camera-card[data-id=\"gate\"] .state").await.contains("无法连接 unreachable"));
    b.wait_for(".camera-card[data-id=\"gongti-n\"]:not(.missing) img.frame[src]", Duration::from_secs(40)).await;
    b.click(".camera-card[data-id=\"gongti-n\"] .frame-box").await;
    b.wait_for("#camera-view[open] h2[data-id=\"gongti-n\"]", WAIT).await;
    b.wait_for("#camera-view img.frame[data-all=\"no\"][src]", WAIT).await;
    b.wait_for("#camera-view li.followed[data-kind=\"vehicle\"]", WAIT).await;
    assert!(b.text("#camera-view tr.zone-row[data-zone=\"kerb\"]").await.contains("禁止停车 no parking"));
    let legend = b.text("#camera-view .legend").await;
    assert!(legend.contains("机动车 vehicle ≥ 30 %") && legend.contains("机动车乱停放"), "{legend}");
    let big =
        measure(&b, "return document.querySelector('#camera-view img.frame').getBoundingClientRect().width").await;
    assert!(big >= 0.85 * width.min(1400.0) - 40.0, "enlarged: {big} px in a {width} px window");
    b.click("#camera-view input[name=all]").await;
    b.wait_for("#camera-view img.frame[data-all=\"yes\"]", WAIT).await;
    b.screenshot(&artifact(&format!("screen-{name}-camera.png"))).await;
    b.click("#camera-view button.close").await;
    // 5. The air monitor: its AQI level in Chinese with the HJ 633 colour, its trend, and the
    // episode's readings as a chart.
    b.wait_for("tr.sensor-row[data-id=\"aq-gongti\"] td.level.aqi-5", WAIT).await;
    assert!(b.text("tr.sensor-row[data-id=\"aq-gongti\"] td.level").await.contains("250 重度污染"));
    b.click("tr.sensor-row[data-id=\"aq-gongti\"]").await;
    b.wait_for("#sensor-trend[data-sensor=\"aq-gongti\"] svg.trend-chart[data-quantity=\"pm2_5\"]", WAIT).await;
    let points = measure(
        &b,
        "return document.querySelector('svg.trend-chart[data-quantity=pm2_5] polyline.mean').points.numberOfItems",
    )
    .await;
    assert!(points >= 20.0, "ninety minutes of readings in the 6-hour trend: {points} points");
    b.execute("document.getElementById('sensor-trend').scrollIntoView()", json!([])).await;
    b.screenshot(&artifact(&format!("screen-{name}-sensor.png"))).await;
    b.execute(&format!("showDetail({})", json!(s.air)), json!([])).await;
    b.wait_for("#detail[open] svg.readings-chart", WAIT).await;
    b.click("#detail button.close").await;
    // 6. A token the box refuses (revoked, mistyped): the page asks for one instead of failing.
    b.execute("api('/api/v1/issues', {headers: {Authorization: 'Bearer wrong-token-here'}}).catch(() => 0)", json!([]))
        .await;
    b.wait_for("#login[open] input[name=token]", WAIT).await;
}

/// A tile server standing in for the command centre's: every tile a small PNG, each request
/// counted.
async fn tile_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let png = grey_png();
    let count = served.clone();
    let app = axum::Router::new().route(
        "/tiles/{z}/{x}/{y}",
        axum::routing::get(move || {
            count.fetch_add(1, Ordering::Relaxed);
            let png = png.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "image/png")], png) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, served)
}

/// A 256x256 grey PNG, made by OpenCV.
fn grey_png() -> Vec<u8> {
    use opencv::core::{CV_8UC3, Mat, Scalar, Vector};
    use opencv::prelude::*;
    let tile = Mat::new_rows_cols_with_default(256, 256, CV_8UC3, Scalar::new(200.0, 210.0, 220.0, 0.0)).unwrap();
    let mut png = Vector::<u8>::new();
    opencv::imgcodecs::imencode(".png", &tile, &mut png, &Vector::new()).unwrap();
    png.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_draws_on_the_tiles_the_operator_configures() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let (tiles, served) = tile_server().await;
    let url = format!("http://{tiles}/tiles/{{z}}/{{x}}/{{y}}");
    let mut config = config(dir.path(), &broker, Some(&url));
    config.cameras.clear();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let b = common::signed_in(daemon.metrics_addr(), TOKEN, Screen::Desktop { width: 1280, height: 800 }).await;
    b.wait_for("#map-canvas[data-background=\"tiles\"]", WAIT).await;
    b.wait_for("#map-canvas img.leaflet-tile-loaded", WAIT).await;
    b.wait_for(".leaflet-marker-icon.map-sensor", WAIT).await;
    assert!(b.text(".leaflet-control-attribution").await.contains("测试瓦片 test tiles"));
    assert!(served.load(std::sync::atomic::Ordering::Relaxed) > 0, "tiles fetched from the configured server");
    cancel.cancel();
    daemon.wait().await.unwrap();
}
