//! Operating the daemon: every metric the shipped dashboard and alert rules name exists on a
//! running daemon; canary passwords for the camera, the broker and the central database appear
//! nowhere, at trace level; bad configurations each get their own pointed message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod common;

use shaobing::daemon::Daemon;
use shaobing_core::{IssueStatus, UnixMillis};
use shaobing_rtsp_server::{RtspServer, Stream};
use shaobing_store::{Recorded, Store};
use shaobing_testkit::Pg;
use shaobing_testkit::issue::candidate;
use shaobing_testkit::mosquitto::{Broker, Client};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const CANARIES: [&str; 4] = ["canary-rtsp-5521", "canary-mqtt-7730", "canary-pg-9184", "canary-api-4412"];

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("shaobing_") {
        let start = i + at;
        let end = start + bytes[start..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
        names.insert(text[start..end].to_string());
        i = end;
    }
    names
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    fetch(addr, "/metrics").await
}

/// GET `path` with the console API's token.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        CANARIES[3]
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

fn seed_issues(data: &Path) {
    // One verified and one open issue, so the supervision figures have something to show.
    let mut store = Store::open(data, "box-ops").unwrap();
    let Recorded::Created { id } = store.record(&candidate("done", UnixMillis(1_000)), None).unwrap() else { panic!() };
    for to in [IssueStatus::Confirmed, IssueStatus::Dispatched, IssueStatus::Resolved, IssueStatus::Verified] {
        store.transition(&id, to, "duty-officer", None).unwrap();
    }
    store.record(&candidate("open", UnixMillis(2_000)), None).unwrap();
    // And one past its response deadline, which the daemon escalates.
    let mut late = candidate("late", UnixMillis(3_000));
    late.responsibility.deadlines.respond_secs = Some(0);
    store.record(&late, None).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alert_metrics_exist_and_canary_secrets_appear_nowhere() {
    let logs = shaobing_testkit::CapturedLogs::install();

    let clip = shaobing_rtsp_server::street_clip();
    let rtsp = RtspServer::start_with_auth(0, &[Stream::new("/cam", &clip)], Some(("viewer", CANARIES[0]))).unwrap();
    let broker = Broker::start();
    let pg = Pg::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    seed_issues(dir.path());
    let text = format!(
        "[daemon]\nbox_id = \"box-ops\"\ndata_dir = \"{data}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{api}\"\n\
         [[cameras]]\nid = \"gate\"\nuri = \"{uri}\"\nusername = \"viewer\"\npassword = \"{rtsp_pw}\"\nanalysis_fps = 2\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"box\"\npassword = \"{mqtt_pw}\"\n\
         [central]\nurl = \"{pg}\"\npassword = \"{pg_pw}\"\n",
        data = dir.path().display(),
        uri = rtsp.url("/cam"),
        rtsp_pw = CANARIES[0],
        port = broker.port,
        mqtt_pw = CANARIES[1],
        pg = pg.conninfo(),
        pg_pw = CANARIES[2],
        api = CANARIES[3],
    );
    let mut config = shaobing_config::Config::parse(&text, Path::new("ops.toml")).unwrap();
    common::with_fixture_sensors(&mut config);
    let printed = format!("{config:?}");
    let cancel = CancellationToken::new();
    let daemon = Daemon::start(config, cancel.clone()).await.unwrap();
    let addr = daemon.metrics_addr();
    // One malformed reading, so the reject series exists as it would on any real street.
    Client::connect(&broker, "sensor").publish("sanlitun/air/aq-gongti/state", "{not json").await;
    let mut exposed = String::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        exposed = scrape(addr).await;
        let inference = "shaobing_inference_seconds_count{model=\"centernet-mobilenetv3-coco\",box=\"box-ops\"}";
        if exposed.contains(&format!("{inference} "))
            && !exposed.contains(&format!("{inference} 0"))
            && exposed.contains("shaobing_sensor_messages_rejected_total")
            && exposed.contains("shaobing_issues_overdue_total")
        {
            break;
        }
    }
    let mut api = String::new();
    for path in ["/api/v1/cameras", "/api/v1/issues", "/api/v1/sensors"] {
        let answer = fetch(addr, path).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        api.push_str(&answer);
    }
    cancel.cancel();
    daemon.wait().await.unwrap();

    let on_metrics = metric_names(&exposed);
    dashboard_queries_use_labels_the_daemon_exports(&exposed);
    let build = exposed.lines().find(|l| l.starts_with("shaobing_build_info{")).unwrap_or_default();
    assert!(build.contains("box=\"box-ops\"") && build.contains("version=\"") && build.ends_with(" 1"), "{build}");
    for process in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"] {
        assert!(exposed.contains(&format!("{process}{{box=\"box-ops\"}} ")), "{process} missing");
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
    for file in ["grafana/shaobing-dashboard.json", "prometheus/shaobing-alerts.yml"] {
        let named = metric_names(&std::fs::read_to_string(Path::new(root).join(file)).unwrap());
        assert!(!named.is_empty(), "{file} names no metric");
        let missing: Vec<_> = named.difference(&on_metrics).collect();
        assert!(missing.is_empty(), "{file} names metrics the daemon does not export: {missing:?}");
    }

    let logged = logs.text();
    assert!(logged.contains("TRACE") || logged.contains("DEBUG"), "trace logging was on");
    for canary in CANARIES {
        let texts = [("logs", &logged), ("/metrics", &exposed), ("printed config", &printed), ("console API", &api)];
        for (what, text) in texts {
            assert!(!text.contains(canary), "{canary} leaked into the {what}");
        }
    }
}

/// Configurations that parse but refer to what is not there: each fails only when the file
/// system is consulted.
fn broken_beyond_syntax(dir: &Path) -> Vec<(String, &'static str)> {
    let camera = |extra: &str| format!("[[cameras]]\nid = \"c\"\nuri = \"rtsp://127.0.0.1:1/x\"\n{extra}");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // The shipped manifest beside a model file that is not the model it describes.
    let file = text.lines().find_map(|l| l.strip_prefix("file = \"")).unwrap().trim_end_matches('"');
    std::fs::write(dir.join("manifest.toml"), &text).unwrap();
    std::fs::write(dir.join(file), b"not a model").unwrap();
    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "no certificate here").unwrap();
    let mqtt = |tls: &str| format!("[mqtt]\nhost = \"127.0.0.1\"\n[mqtt.tls]\nca_file = \"{tls}\"\n");
    vec![
        (String::new(), "empty"),
        ("\n# nothing but a comment\n".into(), "empty"),
        (camera("models = [\"no-such-model\"]\n"), "cameras[0].models"),
        ("[runtime]\nonnxruntime_path = \"/nonexistent/libonnxruntime.so\"\n".into(), "runtime.onnxruntime_path"),
        ("[models]\nmanifest = \"/nonexistent/manifest.toml\"\n".into(), "models.manifest"),
        (
            format!("[models]\nmanifest = \"{}\"\n{}", dir.join("manifest.toml").display(), camera("")),
            "cameras[0].models",
        ),
        (mqtt("/nonexistent/ca.pem"), "mqtt.tls.ca_file"),
        (mqtt(&not_pem.display().to_string()), "mqtt.tls.ca_file"),
        ("[mqtt]\nhost = \"127.0.0.1\"\npassword = { file = \"/nonexistent/pw\" }\n".into(), "password"),
    ]
}

/// `check-config` loads what `run` loads: for every broken configuration both exit 2 and name
/// the same key, so a unit that checks before it starts never loops on a start that fails.
/// The labels each series carries on a running daemon's `/metrics`, by metric name (histogram
/// series under their base name).
fn labels_by_metric(exposed: &str) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut labels: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in exposed.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else { continue };
        let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        let set = labels.entry(base.to_string()).or_default();
        for pair in rest.split("\",").filter_map(|p| p.split_once('=')) {
            set.insert(pair.0.trim_start_matches(',').to_string());
        }
        if name.ends_with("_bucket") {
            set.insert("le".into());
        }
    }
    labels
}

/// Every panel query of the shipped dashboard groups and filters by labels its metrics carry
/// on a running daemon (a `by (group)` over a counter without `group` draws one flat line).
fn dashboard_queries_use_labels_the_daemon_exports(exposed: &str) {
    let labels = labels_by_metric(exposed);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/shaobing-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        let unit = panel["fieldConfig"]["defaults"]["unit"].as_str();
        assert!(unit.is_some_and(|u| !u.is_empty()), "panel `{}` has no unit", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let base = |n: String| {
                ["_bucket", "_sum", "_count"].iter().fold(n, |n, s| n.strip_suffix(s).map_or(n.clone(), String::from))
            };
            let names: Vec<String> = metric_names(expr).into_iter().map(base).collect();
            let grouped = expr.split("by (").skip(1).filter_map(|s| s.split_once(')')).flat_map(|(l, _)| l.split(','));
            let filtered = expr
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}'))
                .flat_map(|(l, _)| l.split(',').filter_map(|p| p.split(['=', '!']).next()));
            for label in grouped.chain(filtered).map(str::trim).filter(|l| !l.is_empty()) {
                let carried = names.iter().any(|n| labels.get(n).is_some_and(|set| set.contains(label)));
                assert!(carried, "`{label}` is on none of {names:?} in `{expr}`");
            }
        }
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables.iter().any(|v| v["name"] == "box"), "the dashboard chooses boxes");
}

#[test]
fn check_config_and_run_refuse_each_bad_config_alike() {
    let dir = tempfile::tempdir().unwrap();
    let syntax = [
        ("[daemon]\nbox_id = \"has space\"\n", "daemon.box_id"),
        ("[[cameras]]\nid = \"c\"\nuri = \"rtsp://u:canary-pw@h/x\"\n", "cameras[0].uri"),
        ("[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\nanalysis_fps = 0\n", "cameras[0].analysis_fps"),
        ("[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\nwatchdog_secs = 0.1\n", "cameras[0].watchdog_secs"),
        ("[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\nanalysis_widht = 640\n", "analysis_widht"),
        ("[rules.illegal_parking]\nmin_score = 2\n", "rules.illegal_parking.min_score"),
        ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "metrics.access_token"),
        ("[metrics]\nlisten = \"0.0.0.0:9464\"\naccess_token = \"\"\n", "metrics.access_token"),
        ("[metrics]\nviewer_token = \"viewer-token-0123\"\n", "metrics.viewer_token"),
        ("[metrics]\naccess_token = \"same-token-0123\"\nviewer_token = \"same-token-0123\"\n", "metrics.viewer_token"),
        ("[daemon]\ndismissed_suppress_days = -1\n", "daemon.dismissed_suppress_days"),
        ("[rules.fire_smoke]\nconfirm_k = 9\n", "rules.fire_smoke.confirm_k"),
        ("[central]\nurl = \"host=x password=canary-pw\"\n", "central.url"),
        ("[mqtt]\nport = 0\n", "mqtt.port"),
        ("[mqtt]\nkeep_alive_secs = 1\n", "mqtt.keep_alive_secs"),
        ("[metrics]\nlisten = \"not an address\"\n", "listen"),
        ("[responsibility.fire_smoke]\ndepartment = \"消防\"\ntier = \"nowhere\"\nresolution_path = \"x\"\n", "tier"),
    ];
    let cases: Vec<(String, &str)> =
        syntax.iter().map(|(t, k)| (t.to_string(), *k)).chain(broken_beyond_syntax(dir.path())).collect();
    let mut messages = BTreeSet::new();
    for (text, key) in &cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let check = shaobing(&["check-config", path.to_str().unwrap()]);
        let run = shaobing(&["run", "--config", path.to_str().unwrap()]);
        for (command, (code, stderr)) in [("check-config", &check), ("run", &run)] {
            assert_eq!(*code, Some(2), "{command} on\n{text}\n{stderr}");
            assert!(stderr.contains(key), "{command}: `{key}` not named for\n{text}\n{stderr}");
            assert!(!stderr.contains("canary-pw"), "{command}: a password was echoed: {stderr}");
        }
        messages.insert(check.1);
    }
    assert!(cases.len() >= 20, "{} broken configurations", cases.len());
    assert_eq!(messages.len(), cases.len() - 1, "every case but the two empty files has its own message");
}

/// Runs the shipped command line; its exit code and standard error.
fn shaobing(args: &[&str]) -> (Option<i32>, String) {
    let (code, _, stderr) = shaobing_output(args);
    (code, stderr)
}

/// Runs the shipped command line; its exit code, standard output and standard error.
fn shaobing_output(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shaobing-under-test")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `shaobing issues`: options before or after the subcommand, one verb per status change
/// through the store's lifecycle rules, JSON on every listing, and a clear refusal when it
/// does not know which box.
#[test]
fn the_issues_command_takes_options_anywhere_one_verb_per_change_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut store = Store::open(&data, "box-cli").unwrap();
    let Recorded::Created { id } = store.record(&candidate("cli", UnixMillis(1_000)), None).unwrap() else { panic!() };
    let d = data.to_str().unwrap();
    let json = |args: &[&str]| {
        let (code, out, err) = shaobing_output(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let listed = json(&["issues", "list", "--data-dir", d, "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let listed = json(&["issues", "--data-dir", d, "--json", "list", "--status", "candidate"]);
    assert_eq!(listed[0]["id"], id.as_str());
    for (verb, status) in
        [("confirm", "confirmed"), ("dispatch", "dispatched"), ("resolve", "resolved"), ("verify", "verified")]
    {
        let row =
            json(&["issues", verb, &id[..13], "--by", "duty-officer", "--note", "checked", "--data-dir", d, "--json"]);
        assert_eq!(row["status"], status, "{verb}");
    }
    let (code, _, err) = shaobing_output(&["issues", "dismiss", &id, "--by", "duty-officer", "--data-dir", d]);
    assert_eq!(code, Some(1), "a verified issue cannot be dismissed: {err}");
    assert!(err.contains("cannot go from `verified` to `dismissed`"), "{err}");
    let shown = json(&["issues", "show", &id, "--data-dir", d, "--json"]);
    let changes: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|h| h["to_status"].as_str().unwrap()).collect();
    assert_eq!(changes, ["candidate", "confirmed", "dispatched", "resolved", "verified"]);
    let report = json(&["issues", "report", "--data-dir", d, "--json"]);
    assert_eq!(report["departments"][0]["verified"], 1, "{report}");
    assert_eq!(report["precision"][0]["confirmed"], 1, "{report}");
    let (_, table, _) = shaobing_output(&["issues", "list", "--data-dir", d]);
    assert!(table.contains("1 issue(s)") && table.contains("verified"), "{table}");
    // A dismissal with its reason suppresses the place; listed, then undone.
    let Recorded::Created { id: other } = store.record(&candidate("cli-2", UnixMillis(2_000)), None).unwrap() else {
        panic!()
    };
    let row = json(&[
        "issues",
        "dismiss",
        &other,
        "--by",
        "王芳",
        "--reason",
        "permitted",
        "--note",
        "装卸区",
        "--data-dir",
        d,
        "--json",
    ]);
    assert_eq!(row["status"], "dismissed");
    let held = json(&["issues", "suppressions", "--data-dir", d, "--json"]);
    assert_eq!((held[0]["issue_id"].as_str(), held[0]["reason"].as_str()), (Some(other.as_str()), Some("permitted")));
    let (code, _, err) =
        shaobing_output(&["issues", "dismiss", &other, "--by", "x", "--reason", "meh", "--data-dir", d]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not_a_problem, wrong_category, permitted, duplicate"), "{err}");
    let lifted = json(&["issues", "unsuppress", &other[..13], "--by", "王芳", "--data-dir", d, "--json"]);
    assert_eq!(lifted["lifted"], true);
    assert_eq!(json(&["issues", "suppressions", "--data-dir", d, "--json"]).as_array().map(Vec::len), Some(0));
    let noted = json(&["issues", "note", &other, "--by", "王芳", "--note", "复核", "--data-dir", d, "--json"]);
    assert_eq!(noted["status"], "dismissed", "a note keeps the status");
    // One confirmed, one dismissed, same source and category: 50 %.
    let report = json(&["issues", "report", "--data-dir", d, "--json"]);
    let precision = &report["precision"][0];
    assert_eq!((precision["confirmed"].as_i64(), precision["dismissed"].as_i64()), (Some(1), Some(1)), "{report}");
    assert_eq!(precision["precision"].as_f64(), Some(0.5));
    let (_, table, _) = shaobing_output(&["issues", "report", "--data-dir", d]);
    assert!(table.contains("50 %"), "{table}");
    let (help_code, help, _) = shaobing_output(&["issues", "dismiss", "--help"]);
    assert_eq!(help_code, Some(0));
    for arg in ["<ID>", "--by", "--note", "--reason", "--data-dir", "--config", "--json"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(arg)).unwrap_or_else(|| panic!("{arg}: {help}"));
        assert!(line.trim().len() > arg.len() + 10, "`{arg}` has no help: {line}");
    }
}

/// The demo clears its data directory before each run: one holding a database it did not
/// create (a box's own) is refused and left as it was; its own is cleared.
#[test]
fn the_demo_never_deletes_a_database_it_did_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("box-data");
    seed_issues(&data);
    let (code, stderr) = shaobing(&["demo", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("did not create") && stderr.contains("--data-dir"), "{stderr}");
    let store = Store::open(&data, "box-ops").unwrap();
    assert_eq!(store.list(None, 10).unwrap().len(), 3, "the box's issues are untouched");
    let entries = std::fs::read_dir(&data).unwrap().count();
    assert!(!data.join(".shaobing-demo").exists() && entries >= 2, "nothing was written into it");
}
