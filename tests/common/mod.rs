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
        writeln!(text, "[sensors.groups.sensors.{}]\naddress = \"三里屯 {i} 号停车场\"", park(i)).unwrap();
    }
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    config.validate().unwrap();
    config
}

/// The id of car park `i`.
pub fn park(i: usize) -> String {
    format!("park-{i:04}")
}

/// Where car park `i` publishes its occupancy.
pub fn park_topic(i: usize) -> String {
    format!("sanlitun/parks/{}/occupancy", park(i))
}
