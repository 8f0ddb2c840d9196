use super::*;
use shaobing_analysis::ZoneKind;
use shaobing_camera::{RtspClient, Transport};
use shaobing_core::ObjectKind;
use shaobing_detect::ExecutionProviderKind;
use std::path::Path;

const GOOD: &str = r#"
[daemon]
box_id = "sanlitun-01"

[[cameras]]
id = "gongti-north"
uri = "rtsp://127.0.0.1:8554/vtest"
analysis_fps = 2.0

[[cameras.zones]]
id = "kerb"
kind = "no_parking"
polygon = [[0.8, 0.05], [1.0, 0.05], [1.0, 0.3], [0.8, 0.3]]

[rules.illegal_parking]
dwell_secs = 20
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn good_config_parses_with_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.daemon.box_id, "sanlitun-01");
    assert_eq!(c.cameras[0].source.transport, Transport::Tcp);
    assert_eq!(c.cameras[0].models, vec!["centernet-mobilenetv3-coco".to_string()]);
    assert!(c.cameras[0].motion_gate.enabled);
    assert_eq!(c.cameras[0].zones[0].kind, ZoneKind::NoParking);
    assert_eq!(c.rules.illegal_parking.dwell_secs, 20.0);
    assert!(c.rules.street_vending.enabled && c.rules.fire_smoke.opencv);
    assert_eq!(c.models.kinds_of("centernet-mobilenetv3-coco", "truck"), vec![ObjectKind::Vehicle, ObjectKind::Cargo]);
    assert_eq!(c.metrics.listen.to_string(), "127.0.0.1:9464");
}

#[test]
fn rtsp_client_is_retina_unless_gstreamer_is_asked_for() {
    assert_eq!(parse(GOOD).unwrap().cameras[0].source.rtsp_client, RtspClient::Retina);
    let gst = parse(&GOOD.replace("[[cameras.zones]]", "rtsp_client = \"gstreamer\"\n[[cameras.zones]]")).unwrap();
    assert_eq!(gst.cameras[0].source.rtsp_client, RtspClient::Gstreamer);
    let e = error_of(&GOOD.replace("[[cameras.zones]]", "rtsp_client = \"ffmpeg\"\n[[cameras.zones]]"));
    assert!(e.contains("rtsp_client") && e.contains("retina") && e.contains("gstreamer"), "{e}");
}

#[test]
fn one_model_or_several_and_class_maps() {
    let one = parse(&GOOD.replace("[[cameras.zones]]", "model = \"a\"\n[[cameras.zones]]")).unwrap();
    assert_eq!(one.cameras[0].models, vec!["a".to_string()]);
    let text = GOOD.replace("[[cameras.zones]]", "models = [\"a\", \"fire\"]\n[[cameras.zones]]")
        + "\n[models.class_map.a]\nbooth = \"stall\"\n\"dining table\" = []\n";
    let two = parse(&text).unwrap();
    assert_eq!(two.cameras[0].models.len(), 2);
    assert_eq!(two.models.kinds_of("a", "booth"), vec![ObjectKind::Stall]);
    assert!(two.models.kinds_of("a", "dining table").is_empty(), "an empty list ignores the class");
    assert_eq!(two.models.kinds_of("b", "dining table"), vec![ObjectKind::StallProxy, ObjectKind::Cargo]);
    let bad = parse(&(GOOD.to_string() + "\n[models.class_map.a]\nbooth = \"stal\"\n")).unwrap_err().to_string();
    assert!(bad.contains("unknown hazard kind `stal`; expected one of person, vehicle, stall"), "{bad}");
}

#[test]
fn fire_confirmation_must_fit_its_window() {
    let err = parse(&(GOOD.to_string() + "\n[rules.fire_smoke]\nconfirm_k = 6\n")).unwrap_err().to_string();
    assert!(err.contains("rules.fire_smoke.confirm_k") && err.contains("confirm_n = 5"), "{err}");
    let err = parse(&GOOD.replace("[[cameras.zones]]", "[cameras.motion_gate]\nmin_moving = 1.5\n[[cameras.zones]]"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cameras[0].motion_gate.min_moving"), "{err}");
}

#[test]
fn unknown_keys_are_named_in_sections_with_flattened_blocks_too() {
    for (text, key) in [
        ("[mqtt]\nclean_session = true\n", "mqtt.clean_session"),
        ("[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\nlatitude = 39.9\n", "cameras[0].latitude"),
        (
            "[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\nmodel = \"centernet-mobilenetv3-coco\"\nlat = 39.9\nlon = 116.4\n",
            "",
        ),
    ] {
        let result = parse(text);
        match key {
            "" => assert!(result.is_ok(), "{text}: {:?}", result.err()),
            key => {
                let e = result.unwrap_err().to_string();
                assert!(e.contains(&format!("{key}: unknown key")), "{text}: {e}");
            }
        }
    }
}

#[test]
fn unknown_key_is_named() {
    let e = error_of(&GOOD.replace("analysis_fps", "analysis_fsp"));
    assert!(e.contains("analysis_fsp"), "{e}");
    assert!(e.contains("test.toml"), "{e}");
}

#[test]
fn credentials_in_uri_are_rejected() {
    let e = error_of(&GOOD.replace("rtsp://127.0.0.1", "rtsp://admin:hunter2@127.0.0.1"));
    assert!(e.starts_with("cameras[0].uri:"), "{e}");
    assert!(e.contains("credentials"), "{e}");
    assert!(!e.contains("hunter2"), "the error must not echo the password: {e}");
}

#[test]
fn bad_values_point_at_their_key() {
    let cases = [
        (GOOD.replace("analysis_fps = 2.0", "analysis_fps = 0"), "cameras[0].analysis_fps:"),
        (GOOD.replace("sanlitun-01", "san litun"), "daemon.box_id:"),
        (GOOD.replace("rtsp://127.0.0.1:8554/vtest", "not a uri"), "cameras[0].uri:"),
        (GOOD.replace("dwell_secs = 20", "dwell_secs = -1"), "rules.illegal_parking.dwell_secs:"),
        (
            format!(
                "{GOOD}\n[responsibility.fire_smoke]\ndepartment = \"\"\ntier = \"street_to_district\"\nresolution_path = \"x\"\n"
            ),
            "responsibility.fire_smoke.department:",
        ),
    ];
    for (text, prefix) in cases {
        let e = error_of(&text);
        assert!(e.starts_with(prefix), "expected `{prefix}`, got: {e}");
    }
}

#[test]
fn central_database_password_never_in_the_url() {
    let with = |url: &str| format!("{GOOD}\n[central]\nurl = \"{url}\"\npassword = \"canary-pg-991\"\n");
    let c = parse(&with("host=127.0.0.1 user=shaobing dbname=whistle")).unwrap();
    assert!(!format!("{c:?}").contains("canary-pg-991"), "Debug of the config prints no password");
    for bad in ["host=x password=canary-pg-991", "postgresql://shaobing:canary-pg-991@10.0.0.5/whistle"] {
        let e = error_of(&with(bad));
        assert!(e.starts_with("central.url:") && e.contains("password") && !e.contains("canary"), "{e}");
    }
}

#[test]
fn a_retired_central_key_still_loads() {
    let text = format!("{GOOD}\n[central]\nurl = \"host=127.0.0.1\"\noutbox_max_bytes = 268435456\n");
    assert_eq!(parse(&text).unwrap().central.unwrap().outbox_max_bytes, Some(268_435_456));
}

#[test]
fn duplicate_camera_and_bad_polygon() {
    let dup = format!("{GOOD}\n[[cameras]]\nid = \"gongti-north\"\nuri = \"file:///x.mp4\"\n");
    assert!(error_of(&dup).starts_with("cameras[1].id:"));
    let e = error_of(&GOOD.replace("[1.0, 0.3], [0.8, 0.3]", "[1.0, 1.3]"));
    assert!(e.contains("outside the normalised range"), "{e}");
}

#[test]
fn responsibility_falls_back_to_built_in_and_can_be_overridden() {
    let c = parse(GOOD).unwrap();
    assert!(c.responsibility_for(Category::FireSmoke).department.contains("消防"));
    let text = format!(
        "{GOOD}\n[responsibility.illegal_parking]\ndepartment = \"朝阳交通支队\"\ntier = \"street_to_district\"\nresolution_path = \"贴单\"\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.responsibility_for(Category::IllegalParking).department, "朝阳交通支队");
}

#[test]
fn relative_paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shaobing.toml");
    std::fs::write(&path, GOOD).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.daemon.data_dir, dir.path().join("var"));
    assert_eq!(c.models.manifest, None);
    let with = Config::parse(&format!("[models]\nmanifest = \"m/manifest.toml\"\n{GOOD}"), &path).unwrap();
    let mut with = with;
    with.resolve_paths_against(dir.path());
    assert_eq!(with.models.manifest, Some(dir.path().join("m/manifest.toml")));
    let missing = Config::load(&dir.path().join("nope.toml")).unwrap_err().to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
}

#[test]
fn the_shipped_example_and_demo_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let example = Config::load(&root.join("shaobing.example.toml")).unwrap();
    assert_eq!(example.cameras[0].zones.len(), 3);
    assert_eq!(example.runtime.execution_provider, ExecutionProviderKind::Cpu);
    Config::load(&root.join("../crates/shaobing/demo.toml")).unwrap();
}

#[test]
fn execution_provider_is_cpu_or_cuda() {
    let cuda = parse(&format!("[runtime]\nexecution_provider = \"cuda\"\ncuda_device = 1\n{GOOD}")).unwrap();
    assert_eq!((cuda.runtime.execution_provider, cuda.runtime.cuda_device), (ExecutionProviderKind::Cuda, 1));
    let err = error_of(&format!("[runtime]\nexecution_provider = \"tpu\"\n{GOOD}"));
    assert!(err.contains("runtime.execution_provider: expected one of `cpu`, `cuda`, got `tpu`"), "{err}");
}

#[test]
fn a_fire_window_too_short_for_the_camera_rate_points_at_the_key() {
    let fast = GOOD.replace("analysis_fps = 2.0", "analysis_fps = 10.0");
    let e = error_of(&fast);
    assert!(e.starts_with("rules.fire_smoke.confirm_min_secs:"), "{e}");
    assert!(e.contains("cameras[0].analysis_fps = 10"), "{e}");
    parse(&format!("{fast}\n[rules.fire_smoke]\nconfirm_n = 8\n")).expect("eight frames at 10 fps span 0.7 s");
    parse(&format!("{fast}\n[rules.fire_smoke]\nenabled = false\n")).expect("no fire rule, no window");
}

#[test]
fn a_toml_error_names_the_line_without_repeating_it() {
    let text = "[mqtt]\nhost = \"broker\"\npassword = \"canary-secret-99\" trailing\n";
    let e = Config::parse(text, Path::new("box.toml")).unwrap_err().to_string();
    assert!(e.starts_with("box.toml: line 3, column"), "{e}");
    assert!(!e.contains("canary-secret-99"), "the password's line was echoed: {e}");
    let text = "[central]\nurl = \"host=db password = canary-secret-99\"\n";
    let e = Config::parse(text, Path::new("box.toml")).unwrap_err().to_string();
    assert!(e.contains("central.url") && e.contains("embeds a password") && !e.contains("canary"), "{e}");
    for url in [
        "postgresql://u:canary-secret-99@db/x",
        "postgresql://u@db/x?password=canary-secret-99",
        "host=db port=nonsense",
    ] {
        let text = format!("[central]\nurl = \"{url}\"\n");
        let e = Config::parse(&text, Path::new("box.toml")).unwrap_err().to_string();
        assert!(e.contains("central.url") && !e.contains("canary") && !e.contains("nonsense"), "{url}: {e}");
    }
}
