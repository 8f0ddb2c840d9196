//! The console's JSON API on a running daemon fed by an in-test RTSP server: every documented
//! endpoint answers and matches `docs/openapi.json`, the access token is enforced, and the
//! event stream delivers a new issue within a second of it being filed. The contract is checked
//! with data in every field: sensors with readings and without, an issue in every status, and
//! a camera that is down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use serde_json::Value;
use shaobing::daemon::Daemon;
use shaobing_core::Secret;
use shaobing_rtsp_server::{RtspServer, Stream};
use shaobing_testkit::http::{Answer, send};
use shaobing_testkit::mosquitto::{Broker, Client};
use shaobing_testkit::until;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "console-test-token";

fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A minimal OpenAPI 3.0 schema check: `$ref`, `allOf`, type (with `nullable`), `enum`,
/// `required`, `properties` and `items`. Returns the first mismatch with its JSON path.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(spec, &spec["components"]["schemas"][name], value, at);
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        check(spec, part, value, at)?;
    }
    if value.is_null() {
        let nullable = schema.get("nullable").and_then(Value::as_bool).unwrap_or(false);
        return if nullable || schema.get("type").is_none() {
            Ok(())
        } else {
            Err(format!("{at}: null is not allowed"))
        };
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: expected {}, got {value}", schema["type"]));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        let key = key.as_str().unwrap();
        if value.get(key).is_none() {
            return Err(format!("{at}: missing required `{key}`"));
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), value.as_object()) {
        for (key, sub) in props {
            if let Some(v) = obj.get(key) {
                check(spec, sub, v, &format!("{at}.{key}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check(spec, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The documented schema of a path's JSON answer for `status`.
fn response_schema(spec: &Value, path: &str, status: &str) -> Value {
    let response = &spec["paths"][path]["get"]["responses"][status];
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(r) => &spec["components"]["responses"][r.trim_start_matches("#/components/responses/")],
        None => response,
    };
    response["content"]["application/json"]["schema"].clone()
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    request(addr, path, &format!("Host: 127.0.0.1\r\n{auth}")).await
}

/// GET `path` with these header lines (each ending in CRLF).
async fn request(addr: SocketAddr, path: &str, headers: &str) -> Answer {
    send(addr, "GET", path, headers, b"").await
}

async fn get_json(addr: SocketAddr, path: &str, doc_path: &str, spec: &Value) -> Value {
    let a = get(addr, path, Some(TOKEN)).await;
    assert_eq!(a.status, 200, "{path}: {}", String::from_utf8_lossy(&a.body));
    assert!(a.content_type.starts_with("application/json"), "{path}: {}", a.content_type);
    let value: Value = serde_json::from_slice(&a.body).unwrap();
    check(spec, &response_schema(spec, doc_path, "200"), &value, path).unwrap_or_else(|e| panic!("{e}\n{value:#}"));
    value
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `2026-11-26T10:00:00.123Z` as Unix milliseconds.
fn parse_rfc3339(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)) * 1000) + n(20, 23)
}

/// Reads the event stream until a `new` issue arrives; returns it and when it arrived.
async fn first_new_issue(addr: SocketAddr) -> (Value, i64) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 65_536];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "event stream closed: {text}");
        let at = now_ms();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            if event["change"] == "new" {
                return (event, at);
            }
        }
    }
}

/// With a token set, every path but the probes needs it; a browser may give it as the Basic
/// password for reading, never for a change; and on loopback only loopback Host names pass.
async fn one_rule_for_every_path(addr: SocketAddr) {
    use base64::Engine;
    let basic = |password: &str| {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("duty-officer:{password}"));
        format!("Host: localhost\r\nAuthorization: Basic {pair}\r\n")
    };
    for path in ["/", "/static/common.js", "/static/leaflet.js", "/static/console.css", "/metrics", "/api/v1/issues"] {
        let refused = get(addr, path, None).await;
        assert_eq!(refused.status, 401, "{path} without the token");
        let error: Value = serde_json::from_slice(&refused.body).unwrap();
        assert!(error["error"].as_str().is_some(), "{path}: {error}");
        assert_eq!(request(addr, path, &basic("wrong-token-123")).await.status, 401, "{path}: a wrong Basic password");
        assert_eq!(request(addr, path, &basic(TOKEN)).await.status, 200, "{path}: the token as Basic password");
        assert_eq!(get(addr, path, Some(TOKEN)).await.status, 200, "{path}: the token as bearer");
    }
    let page = get(addr, "/", None).await;
    assert!(page.head.to_ascii_lowercase().contains("www-authenticate: basic"), "the browser asks: {}", page.head);
    let page = request(addr, "/", &basic(TOKEN)).await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    for script in ["common", "issues", "cameras", "sensors", "map", "main", "leaflet"] {
        assert!(html.contains(&format!("/static/{script}.js")), "{script}.js in the page");
        assert_eq!(get(addr, &format!("/static/{script}.js"), Some(TOKEN)).await.status, 200, "{script}.js served");
    }
    for probe in ["/healthz", "/readyz"] {
        assert_ne!(get(addr, probe, None).await.status, 401, "{probe} needs no token");
    }
    for host in ["evil.example", "evil.example:80", "192.0.2.7"] {
        let rebound =
            request(addr, "/api/v1/issues", &format!("Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n")).await;
        assert_eq!(rebound.status, 421, "Host {host} on a loopback listener");
    }
}

/// Adds the sensors of the shipped fixture (on `broker`) and a second camera nobody serves.
fn with_sensors_and_a_camera_down(config: &mut shaobing_config::Config, broker: &Broker) {
    config.mqtt = Some(toml::from_str(&format!("host = \"127.0.0.1\"\nport = {}\n", broker.port)).unwrap());
    common::with_fixture_sensors(config);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut down = config.cameras[0].clone();
    down.id = "nobody-serves-this".into();
    down.source.uri = format!("rtsp://127.0.0.1:{closed}/down");
    config.cameras.push(down);
    config.validate().unwrap();
}

/// One issue in each status, as the lifecycle allows reaching it.
fn seed_every_status(data: &std::path::Path, box_id: &str) {
    use shaobing_core::{IssueStatus::*, UnixMillis};
    let mut store = shaobing_store::Store::open(data, box_id).unwrap();
    let paths: [&[shaobing_core::IssueStatus]; 6] = [
        &[],
        &[Confirmed],
        &[Dismissed],
        &[Confirmed, Dispatched],
        &[Confirmed, Dispatched, Resolved],
        &[Confirmed, Dispatched, Resolved, Verified],
    ];
    // Two more dismissals at the same place as the dismissed one: a mask is offered there.
    let dismissed_again: [&[shaobing_core::IssueStatus]; 2] = [&[Dismissed], &[Dismissed]];
    for (i, path) in paths.iter().chain(&dismissed_again).enumerate() {
        let candidate = shaobing_testkit::issue::candidate(&format!("seeded-{i}"), UnixMillis(1_000 + i as i64));
        let shaobing_store::Recorded::Created { id } = store.record(&candidate, None).unwrap() else { panic!() };
        for to in *path {
            store.transition(&id, *to, "duty-officer", Some("seeded")).unwrap();
        }
    }
    // And one whose response is due at once: the daemon escalates it.
    let mut late = shaobing_testkit::issue::candidate("seeded-late", UnixMillis(2_000));
    late.responsibility.deadlines.respond_secs = Some(0);
    store.record(&late, None).unwrap();
}

/// The places dismissed again and again, and the deadlines kept, on the seeded issues.
async fn masks_and_deadlines(addr: SocketAddr, spec: &Value) {
    let masks = get_json(addr, "/api/v1/mask-suggestions", "/api/v1/mask-suggestions", spec).await;
    let offered = masks["items"].as_array().unwrap();
    assert_eq!(offered.len(), 1, "{masks}");
    assert_eq!((offered[0]["camera"].as_str(), offered[0]["dismissals"].as_u64()), (Some("cam-1"), Some(3)));
    let corners: Vec<(f64, f64)> = offered[0]["polygon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    assert_eq!(corners, vec![(0.8, 0.1), (0.9, 0.1), (0.9, 0.2), (0.8, 0.2)], "the dismissed truck's box");
    let on_time = get_json(addr, "/api/v1/on-time", "/api/v1/on-time", spec).await;
    let police = on_time["items"].as_array().unwrap().iter().find(|d| d["department"] == "交通支队").unwrap();
    assert_eq!((police["responses_late"].as_i64(), police["overdue"].as_i64()), (Some(1), Some(1)), "{police}");
    assert!(police["response_rate"].as_f64().is_some_and(|r| r < 1.0), "{police}");
    let all = get_json(addr, "/api/v1/issues?limit=100&status=candidate", "/api/v1/issues", spec).await;
    let late = all["items"].as_array().unwrap().iter().find(|i| i["overdue"] == true).expect("the late issue listed");
    assert_eq!((late["tier"].as_str(), late["missed"][0].as_str()), (Some("district_supervision"), Some("response")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_endpoint_answers_to_its_schema_and_new_issues_stream_within_a_second() {
    let spec = spec();
    let clip = shaobing_rtsp_server::street_clip();
    let server = RtspServer::start(0, &[Stream::new("/street", &clip)]).expect("RTSP server");
    let data = tempfile::tempdir().unwrap();
    let mut config = shaobing::demo::demo_config(&server.url("/street"), data.path()).unwrap();
    config.rules.illegal_parking.dwell_secs = 8.0;
    config.metrics.access_token = Some(Secret::new(TOKEN));
    let broker = Broker::start();
    with_sensors_and_a_camera_down(&mut config, &broker);
    seed_every_status(data.path(), &config.daemon.box_id);
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.expect("daemon starts");
    let addr = daemon.metrics_addr();

    assert_eq!(get(addr, "/api/v1/cameras", None).await.status, 401, "the token is enforced");
    assert_eq!(get(addr, "/api/v1/cameras", Some("wrong")).await.status, 401);
    let stream = tokio::spawn(first_new_issue(addr));
    let (event, arrived) =
        tokio::time::timeout(Duration::from_secs(60), stream).await.expect("a new issue within 60 s").unwrap();
    check(&spec, &spec["components"]["schemas"]["IssueEvent"], &event, "event").unwrap_or_else(|e| panic!("{e}"));
    let filed = parse_rfc3339(event["issue"]["updated"].as_str().unwrap());
    assert!(arrived - filed < 1000, "the event came {} ms after the issue was filed", arrived - filed);

    let cameras = get_json(addr, "/api/v1/cameras", "/api/v1/cameras", &spec).await;
    assert_eq!(cameras["items"][0]["id"], "vtest-street");
    let frame = get(addr, "/api/v1/cameras/vtest-street/frame.jpg", Some(TOKEN)).await;
    assert_eq!((frame.status, frame.content_type.as_str()), (200, "image/jpeg"));
    assert!(frame.body.starts_with(&[0xFF, 0xD8]) && frame.body.len() > 10_000);
    // The van and the car at the kerb are filed within a frame of each other: the streamed
    // issue is one of the newest two.
    let page = get_json(addr, "/api/v1/issues?limit=2", "/api/v1/issues", &spec).await;
    let id = event["issue"]["id"].as_str().unwrap().to_string();
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    assert!(listed.contains(&id.as_str()), "{id} not among {listed:?}");
    let detail = get_json(addr, &format!("/api/v1/issues/{id}"), "/api/v1/issues/{id}", &spec).await;
    assert_eq!(detail["history"][0]["to"], "candidate");
    let url = detail["evidence"][0]["url"].as_str().unwrap().to_string();
    let before = get(addr, &url, Some(TOKEN)).await;
    assert_eq!((before.status, before.content_type.as_str()), (200, "image/jpeg"));
    // Published until the box has one stored: a reading sent before the daemon's subscription
    // is up goes nowhere, as it would from a real monitor.
    let monitor = Client::connect(&broker, "air-monitor");
    let mut seq = 0;
    let stored = until(Duration::from_secs(20), async || {
        seq += 1;
        let reading = format!(r#"{{"ts":{},"seq":{seq},"pm25":35.0}}"#, now_ms());
        monitor.publish("sanlitun/air/aq-gongti/state", reading).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sensors: Value = serde_json::from_slice(&get(addr, "/api/v1/sensors", Some(TOKEN)).await.body).unwrap();
        sensors["items"][0]["latest"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    assert!(stored, "a reading of aq-gongti stored");
    let sensors = get_json(addr, "/api/v1/sensors", "/api/v1/sensors", &spec).await;
    let ids: Vec<&str> = sensors["items"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(ids.contains(&"aq-gongti") && ids.len() >= 2, "every configured sensor, read or not: {sensors}");
    let gongti = sensors["items"].as_array().unwrap().iter().find(|s| s["id"] == "aq-gongti").unwrap();
    assert_eq!(gongti["latest"][0]["value"], 35.0, "{sensors}");
    assert!(gongti["location"]["address"].as_str().is_some_and(|a| a.contains("工体")), "{gongti}");
    let trend = get_json(addr, "/api/v1/sensors/aq-gongti/trend?hours=1", "/api/v1/sensors/{id}/trend", &spec).await;
    let pm25 = trend["quantities"].as_array().unwrap().iter().find(|q| q["quantity"] == "pm2_5").unwrap();
    assert_eq!(pm25["points"].as_array().unwrap().last().unwrap()["max"], 35.0, "{trend}");
    let map = get_json(addr, "/api/v1/map", "/api/v1/map", &spec).await;
    assert!(map["tiles"].is_null(), "no tiles configured: a plain grid, {map}");
    let usage = get_json(addr, "/api/v1/evidence", "/api/v1/evidence", &spec).await;
    let parking = usage["categories"].as_array().unwrap().iter().find(|c| c["category"] == "illegal_parking");
    assert!(parking.is_some_and(|c| c["bytes"].as_u64() > Some(10_000)), "the snapshots' disk use: {usage}");
    assert_eq!(usage["max_bytes"], 8u64 << 30);
    let precision = get_json(addr, "/api/v1/precision", "/api/v1/precision", &spec).await;
    let judged = precision["items"].as_array().unwrap();
    assert!(judged.iter().any(|p| p["dismissed"].as_i64() > Some(0)), "the seeded dismissal counts: {precision}");
    let all = get_json(addr, "/api/v1/issues?limit=100", "/api/v1/issues", &spec).await;
    let statuses: std::collections::BTreeSet<&str> =
        all["items"].as_array().unwrap().iter().filter_map(|i| i["status"].as_str()).collect();
    assert_eq!(statuses.len(), 6, "an issue in every status: {statuses:?}");
    let open =
        get_json(addr, "/api/v1/issues?status=candidate,confirmed,dispatched&limit=100", "/api/v1/issues", &spec).await;
    let open: std::collections::BTreeSet<&str> =
        open["items"].as_array().unwrap().iter().filter_map(|i| i["status"].as_str()).collect();
    assert_eq!(open, ["candidate", "confirmed", "dispatched"].into(), "every open status, no other");
    let dismissed = get_json(
        addr,
        "/api/v1/issues?category=illegal_parking&status=dismissed&source=cam-1",
        "/api/v1/issues",
        &spec,
    )
    .await;
    assert_eq!(dismissed["items"].as_array().unwrap().len(), 3, "the seeded dismissals: {dismissed}");
    let none = get_json(addr, "/api/v1/issues?priority=emergency&since=1", "/api/v1/issues", &spec).await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "no emergency here: {none}");
    let cameras = get_json(addr, "/api/v1/cameras", "/api/v1/cameras", &spec).await;
    assert_eq!(cameras["items"].as_array().unwrap().len(), 2, "{cameras}");
    let down = cameras["items"].as_array().unwrap().iter().find(|c| c["id"] == "nobody-serves-this").unwrap();
    assert_eq!((down["up"].as_bool(), down["down_reason"].as_str()), (Some(false), Some("unreachable")), "{down}");
    for (path, status) in [
        ("/api/v1/issues?limit=0", 400),
        ("/api/v1/issues?priority=urgent", 400),
        ("/api/v1/issues?category=nope", 400),
        ("/api/v1/issues?status=candidate,nope", 400),
        ("/api/v1/issues/nope", 404),
        ("/api/v1/cameras/nope/frame.jpg", 404),
        ("/api/v1/sensors/nope/trend", 404),
        ("/api/v1/sensors/aq-gongti/trend?hours=0", 400),
        ("/api/v1/sensors/aq-gongti/trend?hours=73", 400),
        ("/api/v1/nothing-here", 404),
        ("/nothing-here", 404),
    ] {
        let a = get(addr, path, Some(TOKEN)).await;
        assert_eq!(a.status, status, "{path}");
        let error: Value = serde_json::from_slice(&a.body).unwrap();
        check(&spec, &spec["components"]["schemas"]["Error"], &error, path).unwrap();
    }
    masks_and_deadlines(addr, &spec).await;
    one_rule_for_every_path(addr).await;
    cancel.cancel();
    daemon.wait().await.expect("clean shutdown");
}

/// The console page in headless Chromium (Debian's, installed by scripts/setup.sh): the camera
/// grid shows a live frame, the issue list the demo's issue with its snapshot, and the
/// evidence's disk use its category. The
/// screenshot is kept in target/test-artifacts/console.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_live_frame_and_the_issue_with_its_snapshot_in_chromium() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "Chromium is missing: run scripts/setup.sh");
    let clip = shaobing_rtsp_server::street_clip();
    let server = RtspServer::start(0, &[Stream::new("/street", &clip)]).expect("RTSP server");
    let data = tempfile::tempdir().unwrap();
    let mut config = shaobing::demo::demo_config(&server.url("/street"), data.path()).unwrap();
    config.rules.illegal_parking.dwell_secs = 8.0;
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.expect("daemon starts");
    let addr = daemon.metrics_addr();
    let started = std::time::Instant::now();
    let id = loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no issue within 60 s");
        let page: Value = serde_json::from_slice(&get(addr, "/api/v1/issues?limit=1", None).await.body).unwrap();
        if let Some(id) = page["items"][0]["id"].as_str() {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: Vec<String>| {
        let url = format!("http://{addr}/");
        let profile = profile.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("/usr/bin/chromium")
                .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
                .args(["--window-size=1280,1800", "--virtual-time-budget=15000"])
                .arg(format!("--user-data-dir={}", profile.display()))
                .args(extra)
                .arg(url)
                .output()
                .unwrap()
        })
    };
    let dom = run(vec!["--dump-dom".into()]).await.unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let shot = artifacts.join("console.png");
    let screenshot = run(vec![format!("--screenshot={}", shot.display())]).await.unwrap();
    cancel.cancel();
    daemon.wait().await.expect("clean shutdown");
    // An image's src is set only once it has loaded; a card without a frame is `missing`.
    let frame = format!(
        "class=\"frame\" alt=\"latest analysed frame of vtest-street\" src=\"http://{addr}/api/v1/cameras/vtest-street/frame.jpg"
    );
    assert!(dom.contains(&frame) && dom.contains("class=\"camera-card\""), "no live frame:\n{dom}");
    assert!(dom.contains(&format!("data-id=\"{id}\"")), "the issue is not listed:\n{dom}");
    assert!(
        dom.contains(&format!("src=\"http://{addr}/api/v1/issues/{id}/evidence/before\"")),
        "no snapshot shown:\n{dom}"
    );
    assert!(dom.contains("机动车乱停放"), "categories carry their Chinese names:\n{dom}");
    assert!(
        dom.contains("class=\"evidence-usage\" data-category=\"illegal_parking\"") && dom.contains("总计 Total"),
        "the evidence's disk use per category is shown:\n{dom}"
    );
    assert!(screenshot.status.success() && std::fs::metadata(&shot).unwrap().len() > 10_000, "{screenshot:?}");
}
