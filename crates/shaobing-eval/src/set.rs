//! The evaluation set: clips, what happens in them, and the issues a person expects.
//!
//! ```toml
//! config = "cameras.toml"          # cameras (zones, models) and rules, a shaobing configuration
//!
//! [[clips]]
//! name = "street"
//! camera = "street"                # a [[cameras]] id of that configuration
//! video = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
//! repeat = 2                       # played twice; the second pass follows the first
//! drop = { chance = 0.15, max_secs = 4 }   # a loaded box: bursts of dropped frames
//!
//! [[clips.expect]]
//! category = "illegal_parking"
//! zone = "kerb-north-east"
//! from_secs = 0                    # when the hazard is there
//! within_secs = 40                 # it must be filed by from + within
//! ```
//!
//! `[[clips.place]]` sets an object down in the picture for a while (`object`, `cut_out`,
//! `crop`, `foot`, `height`, `from_secs`, `until_secs`).
//!
//! With `gop_secs`, the clip plays as a key-frame camera sees it: the key frame every
//! `gop_secs` and the camera's `key_frame_burst` after it.
//!
//! A clip is a `video` file, or a `photo` watched for `secs` (with `flame_at_secs`, a flame in
//! it is unlit before and flickers after, as the hazard tests compose it). Paths are relative
//! to the set file.

use serde::Deserialize;
use shaobing_core::{Category, ZoneId};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("cannot read the evaluation set {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{path}: clips[{index}] ({name}): {message}")]
    Clip { path: PathBuf, index: usize, name: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSet {
    /// The shaobing configuration the clips are analysed with.
    pub config: PathBuf,
    pub clips: Vec<ClipSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipSpec {
    pub name: String,
    pub camera: String,
    #[serde(default)]
    pub video: Option<PathBuf>,
    #[serde(default)]
    pub photo: Option<PathBuf>,
    /// A photo clip's length and frame rate.
    #[serde(default = "default_secs")]
    pub secs: f64,
    #[serde(default = "default_photo_fps")]
    pub fps: f64,
    /// A photo clip: the flame in it lights up (and flickers) at this second.
    #[serde(default)]
    pub flame_at_secs: Option<f64>,
    #[serde(default = "one")]
    pub repeat: u32,
    #[serde(default)]
    pub drop: Option<Drops>,
    /// Exposure gain and sensor noise on every frame (a night: gain 0.35, noise 6).
    #[serde(default)]
    pub exposure: Option<Exposure>,
    /// Cut to this video or photo and back every `cut_every_secs` (another camera's picture
    /// on the same encoder channel, a looped clip).
    #[serde(default)]
    pub cut_to: Option<PathBuf>,
    #[serde(default = "default_cut_every")]
    pub cut_every_secs: f64,
    /// Pan sideways at this many pixels a second, jumping back every `cut_every_secs` (a
    /// PTZ camera on a patrol tour).
    #[serde(default)]
    pub pan_px_per_sec: Option<f64>,
    /// Key-frame mode: a key frame every this many seconds of the clip, and only it and the
    /// camera's `key_frame_burst` after it reach the analysis (a photo clip's frames come at
    /// `fps`). Unset: the camera's `analysis_fps`.
    #[serde(default)]
    pub gop_secs: Option<f64>,
    /// Objects set down in the picture for a while: goods piled, a stall and its vendor.
    #[serde(default)]
    pub place: Vec<Placement>,
    #[serde(default)]
    pub expect: Vec<Expected>,
}

/// An object cut out of a photo and set down in a clip's picture from `from_secs` until
/// `until_secs` (the clip's own seconds, repeats included).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub object: PathBuf,
    /// Cut the object out of its plain studio background (GrabCut); false sets the whole
    /// photo down.
    #[serde(default)]
    pub cut_out: bool,
    /// The part of the photo to set down (normalised `[x1, y1, x2, y2]`); the whole photo
    /// when unset.
    #[serde(default)]
    pub crop: Option<[f32; 4]>,
    /// Where its bottom centre stands, normalised to the picture.
    pub foot: [f32; 2],
    /// Its height, as a share of the picture's.
    pub height: f32,
    pub from_secs: f64,
    #[serde(default = "forever")]
    pub until_secs: f64,
}

fn forever() -> f64 {
    f64::INFINITY
}

/// Frames dropped in bursts, as a loaded box drops them: at each analysed frame, with
/// `chance`, the next up to `max_secs` of frames never reach the analysis.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drops {
    pub chance: f64,
    pub max_secs: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exposure {
    pub gain: f32,
    #[serde(default)]
    pub noise: f32,
}

/// One hazard a person sees in the clip, by the clip's own seconds (repeats included).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub category: Category,
    #[serde(default)]
    pub zone: Option<ZoneId>,
    pub from_secs: f64,
    pub within_secs: f64,
}

fn default_secs() -> f64 {
    30.0
}
fn default_photo_fps() -> f64 {
    10.0
}
fn one() -> u32 {
    1
}
fn default_cut_every() -> f64 {
    15.0
}

impl EvalSet {
    /// Reads a set file; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, SetError> {
        let text = std::fs::read_to_string(path).map_err(|source| SetError::Read { path: path.into(), source })?;
        let mut set: EvalSet =
            toml::from_str(&text).map_err(|e| SetError::Parse { path: path.into(), source: Box::new(e) })?;
        let base = path.parent().unwrap_or(Path::new("."));
        set.config = base.join(&set.config);
        for (index, clip) in set.clips.iter_mut().enumerate() {
            clip.resolve(base);
            clip.validate().map_err(|message| SetError::Clip {
                path: path.into(),
                index,
                name: clip.name.clone(),
                message,
            })?;
        }
        Ok(set)
    }
}

impl ClipSpec {
    fn resolve(&mut self, base: &Path) {
        for p in [&mut self.video, &mut self.photo, &mut self.cut_to].into_iter().flatten() {
            *p = base.join(&*p);
        }
        for p in &mut self.place {
            p.object = base.join(&p.object);
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.video.is_some() == self.photo.is_some() {
            return Err("expected one of `video` and `photo`".into());
        }
        if self.flame_at_secs.is_some() && self.photo.is_none() {
            return Err("`flame_at_secs` composes a flame into a `photo`".into());
        }
        let gop = ("gop_secs", self.gop_secs.unwrap_or(1.0));
        let positive = [("secs", self.secs), ("fps", self.fps), ("cut_every_secs", self.cut_every_secs), gop];
        if let Some((key, v)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("`{key}`: expected a positive number, got {v}"));
        }
        if let Some(p) = self.place.iter().find(|p| !(p.height > 0.0 && p.height <= 1.0) || p.until_secs <= p.from_secs)
        {
            return Err(format!("`place` {}: expected 0 < height <= 1 and until_secs > from_secs", p.object.display()));
        }
        if self.repeat == 0 {
            return Err("`repeat`: expected at least 1".into());
        }
        Ok(())
    }
}
