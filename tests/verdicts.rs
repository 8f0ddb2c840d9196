//! Verdicts through the console's API on a running daemon: the operator's token confirms,
//! dismisses, dispatches, marks handled and notes; a viewer's token is refused every change;
//! an illegal change is refused naming what is allowed; a dismissal suppresses its place and
//! category (listed, counted, undone); each verdict is counted by camera, category and verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

use serde_json::{Value, json};
use shaobing::daemon::Daemon;
use shaobing_config::Config;
use shaobing_store::{Recorded, Store};
use shaobing_testkit::http::{Answer, send};
use shaobing_testkit::issue::candidate;
use shaobing_testkit::mosquitto::Broker;
use std::net::SocketAddr;
use std::path::Path;
use tokio_util::sync::CancellationToken;

const OPERATOR: &str = "operator-token-0123";
const VIEWER: &str = "viewer-token-456789";
const BOX: &str = "box-verdicts";

fn config(broker: &Broker, data: &Path) -> Config {
    let text = format!(
        "[daemon]\nbox_id = \"{BOX}\"\ndata_dir = \"{}\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{OPERATOR}\"\nviewer_token = \"{VIEWER}\"\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {}\n",
        data.display(),
        broker.port
    );
    let mut config = Config::parse(&text, Path::new("test.toml")).unwrap();
    let sensors = include_str!("../crates/shaobing-sensors/fixtures/sensors.toml");
    config.sensors = Some(toml::from_str(sensors).unwrap());
    config.validate().unwrap();
    config
}

async fn call(addr: SocketAddr, method: &str, path: &str, token: &str, body: Value) -> Answer {
    let headers = format!("Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    send(addr, method, path, &headers, body.to_string().as_bytes()).await
}

async fn verdict(addr: SocketAddr, id: &str, token: &str, body: Value) -> Answer {
    call(addr, "POST", &format!("/api/v1/issues/{id}/verdict"), token, body).await
}

/// Files `n` candidates straight into the store, as the rules would have before the start.
fn file(data: &Path, keys: &[&str]) -> Vec<String> {
    let mut store = Store::open(data, BOX).unwrap();
    keys.iter()
        .map(|key| {
            let mut issue = candidate(key, shaobing_core::UnixMillis::now());
            issue.location.source = "cam-kerb".into();
            match store.record(&issue, None).unwrap() {
                Recorded::Created { id } => id,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_give_verdicts_through_the_api_and_viewers_cannot() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let ids = file(dir.path(), &["cam-kerb/kerb/illegal_parking/3-9", "cam-kerb/kerb/illegal_parking/8-9"]);
    // A file nobody filed (left by a restore, say): reported at start, not a crash.
    std::fs::write(dir.path().join("evidence/stray.jpg"), b"\xFF\xD8").unwrap();
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config(&broker, dir.path()), cancel.clone()).await.unwrap();
    let addr = daemon.metrics_addr();

    // A viewer reads but may change nothing.
    let refused = verdict(addr, &ids[0], VIEWER, json!({"verdict": "confirm", "by": "wall-screen"})).await;
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    assert!(refused.json()["error"].as_str().unwrap().contains("only read"));
    let page =
        send(addr, "GET", "/api/v1/issues", &format!("Host: 127.0.0.1\r\nAuthorization: Bearer {VIEWER}\r\n"), b"")
            .await;
    assert_eq!(page.status, 200);

    // Confirm, note, dispatch, handled: each recorded with who.
    for (body, status) in [
        (json!({"verdict": "confirm", "by": "王芳"}), "confirmed"),
        (json!({"verdict": "note", "by": "王芳", "note": "车主电话已联系"}), "confirmed"),
        (json!({"verdict": "dispatch", "by": "王芳", "note": "交通支队"}), "dispatched"),
        (json!({"verdict": "handled", "by": "交通支队-李", "note": "已拖走"}), "resolved"),
    ] {
        let answer = verdict(addr, &ids[0], OPERATOR, body.clone()).await;
        assert_eq!(answer.status, 200, "{body}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.json()["issue"]["status"], status, "{body}");
    }
    let history = Store::open(dir.path(), BOX).unwrap().history(&ids[0]).unwrap();
    let said: Vec<(&str, &str)> = history.iter().skip(1).map(|h| (h.to_status.as_str(), h.actor.as_str())).collect();
    assert_eq!(
        said,
        [
            ("confirmed", "console:王芳"),
            ("confirmed", "console:王芳"),
            ("dispatched", "console:王芳"),
            ("resolved", "console:交通支队-李")
        ]
    );
    // The lifecycle refuses what it does not allow, and says what it does.
    let illegal = verdict(addr, &ids[0], OPERATOR, json!({"verdict": "confirm", "by": "王芳"})).await;
    assert_eq!(illegal.status, 409);
    assert!(illegal.json()["error"].as_str().unwrap().contains("verified, dispatched"), "{}", illegal.json());
    // Bad requests are clear.
    for (body, expected) in [
        (json!({"verdict": "dismiss", "by": "王芳"}), "reason"),
        (json!({"verdict": "confirm", "by": " "}), "by"),
        (json!({"verdict": "note", "by": "王芳"}), "note"),
        (json!({"verdict": "bless", "by": "王芳"}), "unknown variant `bless`, expected one of `confirm`"),
    ] {
        let bad = verdict(addr, &ids[1], OPERATOR, body.clone()).await;
        assert_eq!(bad.status, 400, "{body}");
        assert!(bad.json()["error"].as_str().unwrap().contains(expected), "{body}: {}", bad.json());
    }
    assert_eq!(verdict(addr, "no-such-issue", OPERATOR, json!({"verdict": "confirm", "by": "王芳"})).await.status, 404);

    // A dismissal suppresses the place: listed with who and why, undone by the operator only.
    let dismissed = verdict(
        addr,
        &ids[1],
        OPERATOR,
        json!({"verdict": "dismiss", "reason": "permitted", "by": "王芳", "note": "装卸区"}),
    )
    .await;
    assert_eq!(dismissed.status, 200, "{}", String::from_utf8_lossy(&dismissed.body));
    let held = send(
        addr,
        "GET",
        "/api/v1/suppressions",
        &format!("Host: 127.0.0.1\r\nAuthorization: Bearer {VIEWER}\r\n"),
        b"",
    )
    .await
    .json();
    let items = held["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{held}");
    assert_eq!(
        (items[0]["issue_id"].as_str(), items[0]["reason"].as_str(), items[0]["by"].as_str()),
        (Some(ids[1].as_str()), Some("permitted"), Some("console:王芳"))
    );
    let path = format!("/api/v1/issues/{}/suppression", ids[1]);
    assert_eq!(call(addr, "DELETE", &path, VIEWER, json!({"by": "wall-screen"})).await.status, 403);
    let lifted = call(addr, "DELETE", &path, OPERATOR, json!({"by": "王芳"})).await;
    assert_eq!(lifted.json()["lifted"], true);

    let metrics =
        send(addr, "GET", "/metrics", &format!("Host: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\n"), b"").await;
    let text = String::from_utf8_lossy(&metrics.body);
    let stray = format!("shaobing_evidence_orphans{{kind=\"file_without_row\",box=\"{BOX}\"}} 1");
    assert!(text.contains(&stray), "{stray} in\n{text}");
    for v in ["confirm", "note", "dispatch", "handled", "dismiss"] {
        let line = format!(
            "shaobing_verdicts_total{{category=\"illegal_parking\",source=\"cam-kerb\",verdict=\"{v}\",box=\"{BOX}\"}} 1"
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    cancel.cancel();
    daemon.wait().await.unwrap();
}

const AIR: &str = r#"
[[groups]]
name = "air"
kind = "air_quality"
topic = "sanlitun/air/+/state"
sensor_id_level = 2
decoder = { format = "json", timestamp = "ts", timestamp_unit = "millis", sequence = "seq", fields = [
    { path = "pm25", quantity = "pm2_5" },
] }
[groups.sensors.aq-1]
address = "工体北路"
[[groups.rules]]
name = "pm25_high"
quantity = "pm2_5"
raise = 100.0
clear = 50.0
min_duration_secs = 60
# An hour: a reopening comes from the re-check's own reading, not the ongoing report.
ongoing_every_secs = 3600
"#;

/// 核查: an issue marked handled is watched by the sensor that raised it: the air clearing
/// verifies it; the episode still going after `verify_secs` reopens it to its department at
/// the first reading then (not at its next hourly ongoing report), the readings kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handled_sensor_issue_is_verified_by_its_readings_or_reopened() {
    use shaobing_testkit::mosquitto::{Client, now_ms};
    use shaobing_testkit::until;
    use std::time::Duration;
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&broker, dir.path());
    config.sensors = Some(toml::from_str(AIR).unwrap());
    config.daemon.verify_secs = 1;
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let addr = daemon.metrics_addr();
    let station = Client::connect(&broker, "station");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut seq = 0;
    let mut publish = async |minutes_ago: f64, pm25: f64| {
        let ts = now_ms() - (minutes_ago * 60_000.0) as i64;
        station.publish("sanlitun/air/aq-1/state", format!(r#"{{"ts":{ts},"seq":{seq},"pm25":{pm25}}}"#)).await;
        seq += 1;
    };
    let issues = || Store::open(dir.path(), BOX).unwrap().list(None, 10).unwrap();
    let latest = || issues().into_iter().next().unwrap();
    let handled = async |id: &str| {
        let answer = verdict(addr, id, OPERATOR, json!({"verdict": "handled", "by": "生态环境局"})).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    };

    // An episode, handled, then the air clears: verified by the readings.
    for m in 0..4 {
        publish(40.0 - f64::from(m), 150.0).await;
    }
    assert!(until(Duration::from_secs(10), async || issues().len() == 1).await, "the first episode is an issue");
    let first = latest().id;
    handled(&first).await;
    publish(35.0, 20.0).await;
    let status = |id: &str| Store::open(dir.path(), BOX).unwrap().get(id).unwrap().status;
    assert!(until(Duration::from_secs(10), async || status(&first) == "verified").await);
    let last = Store::open(dir.path(), BOX).unwrap().history(&first).unwrap().pop().unwrap();
    assert!(last.note.unwrap_or_default().starts_with("verified by its source"), "{:?}", last.actor);

    // A second episode, handled, still going a few seconds later: reopened.
    for m in 0..4 {
        publish(6.0 - f64::from(m), 150.0).await;
    }
    assert!(until(Duration::from_secs(10), async || issues().len() == 2).await, "the second episode is an issue");
    let second = latest().id;
    assert_ne!(second, first);
    handled(&second).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    publish(0.0, 160.0).await;
    assert!(until(Duration::from_secs(10), async || status(&second) == "dispatched").await, "reopened");
    let kept = Store::open(dir.path(), BOX).unwrap().evidence_of(&second).unwrap();
    let still = kept.iter().find(|e| e.kind == "still_present").expect("the readings that were still high");
    let readings: serde_json::Value = serde_json::from_slice(&std::fs::read(&still.path).unwrap()).unwrap();
    let latest_value = readings["points"].as_array().unwrap().last().unwrap()["value"].as_f64();
    assert_eq!(latest_value, Some(160.0), "{readings}");
    let metrics =
        send(addr, "GET", "/metrics", &format!("Host: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\n"), b"").await;
    let text = String::from_utf8_lossy(&metrics.body);
    for outcome in ["verified", "reopened"] {
        let line = format!(
            "shaobing_issue_rechecks_total{{category=\"air_pollution\",outcome=\"{outcome}\",box=\"{BOX}\"}} 1"
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    cancel.cancel();
    daemon.wait().await.unwrap();
}
