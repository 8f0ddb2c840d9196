//! What several end-to-end tests set up alike.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use shaobing_config::Config;
use std::fmt::Write as _;
use std::path::Path;

/// A daemon with `parks` car parks' occupancy sensors (`park-0000`… on
/// `sanlitun/parks/<id>/occupancy`, plain percent), behind the broker on `mqtt_port`: a car
/// park at 100 % is an issue at once, one issue per car park.
pub fn car_parks(box_id: &str, parks: usize, mqtt_port: u16, data: &Path) -> Config {
    let mut text = format!(
        "[daemon]\nbox_id = \"{box_id}\"\ndata_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nkeep_alive_secs = 30\n\
         [sensors]\n[[sensors.groups]]\nname = \"parks\"\nkind = \"parking\"\n\
         topic = \"sanlitun/parks/+/occupancy\"\nsensor_id_level = 2\n\
         decoder = {{ format = \"plain\", quantity = \"occupancy\", unit = \"percent\" }}\n\
         [[sensors.groups.rules]]\nname = \"full\"\nquantity = \"occupancy\"\nraise = 0.95\nclear = 0.5\n",
        data.display()
    );
    for i in 0..parks {
        let (lat, lon) = park_place(i);
        writeln!(
            text,
            "[sensors.groups.sensors.{}]\naddress = \"三里屯 {i} 号停车场\"\nlat = {lat}\nlon = {lon}",
            park(i)
        )
        .unwrap();
    }
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    config.validate().unwrap();
    config
}

/// Where car park `i` stands: a row along 工体北路, about 111 m apart.
pub fn park_place(i: usize) -> (f64, f64) {
    (39.93 + 0.001 * i as f64, 116.45)
}

/// The id of car park `i`.
pub fn park(i: usize) -> String {
    format!("park-{i:04}")
}

/// Where car park `i` publishes its occupancy.
pub fn park_topic(i: usize) -> String {
    format!("sanlitun/parks/{}/occupancy", park(i))
}

/// Encodes RGB frames, `fps` a second, into an H.264 Matroska file at `path`: footage an RTSP
/// server can then serve as a camera would.
pub fn encode_frames(frames: impl Iterator<Item = shaobing_core::Frame>, fps: i32, path: &Path) {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    shaobing_camera::init_gstreamer().unwrap();
    let mut frames = frames.peekable();
    let first = frames.peek().expect("frames to encode");
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGB")
        .field("width", i32::try_from(first.width).unwrap())
        .field("height", i32::try_from(first.height).unwrap())
        .field("framerate", gst::Fraction::new(fps, 1))
        .build();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! x264enc speed-preset=ultrafast key-int-max={fps} \
         ! matroskamux ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gstreamer_app::AppSrc>().unwrap();
    src.set_caps(Some(&caps));
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, frame) in frames.enumerate() {
        let mut buffer = gst::Buffer::from_slice(frame.rgb.to_vec());
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / u64::try_from(fps).unwrap()));
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("encoding finishes");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "encoding failed: {msg:?}");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The sensors of the shipped fixture (an air monitor at 工体北路, a car park) in `config`.
pub fn with_fixture_sensors(config: &mut Config) {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/shaobing-sensors/fixtures/sensors.toml");
    config.sensors = Some(toml::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap());
}

/// A browser at the console on `addr`, signed in with `token` as an operator would: the
/// browser's own prompt for the page (the token as its Basic password; a URL with credentials
/// stands for the prompt), then the page's sign-in, which keeps the token for the session.
pub async fn signed_in(
    addr: std::net::SocketAddr,
    token: &str,
    screen: shaobing_testkit::browser::Screen,
) -> shaobing_testkit::browser::Browser {
    let b = shaobing_testkit::browser::Browser::start(screen).await;
    b.goto(&format!("http://duty:{token}@{addr}/static/console.css")).await;
    b.goto(&format!("http://{addr}/")).await;
    b.click("#sign-in").await;
    b.type_into("#login[open] input[name=token]", token).await;
    b.click("#login button[type=submit]").await;
    let signed = shaobing_testkit::until(std::time::Duration::from_secs(15), async || {
        b.text("#sign-in").await.contains("Sign out")
    });
    assert!(signed.await, "signed in");
    b
}
