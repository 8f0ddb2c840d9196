//! The frames a clip puts in front of the analysis, at the camera's analysis rate, on the
//! clip's own time: the picture (a video's frames or a photo, a flame composed into it), cut
//! against another picture, panned, exposed, and thinned by a loaded box's drops.

use crate::set::ClipSpec;
use anyhow::Context;
use shaobing_camera::FileFrames;
use shaobing_core::{BBox, CameraId, Frame, UnixMillis};
use shaobing_vision::compose::{Rng, expose, flicker, panned, resized, unlit};
use shaobing_vision::{FireDetector, FireDetectorConfig};
use std::path::Path;

/// When every clip's time starts: an arbitrary fixed instant, so runs compare.
pub const EPOCH: UnixMillis = UnixMillis(1_767_225_600_000);

/// A picture source: a video's frames at the analysis rate with their seconds, or a photo.
enum Picture {
    Video { frames: Vec<(f64, Frame)>, secs: f64 },
    Photo(Frame),
}

impl Picture {
    fn load(path: &Path, photo: bool, fps: f64) -> anyhow::Result<Self> {
        if photo {
            return Ok(Picture::Photo(shaobing_vision::read_image(path, "eval")?));
        }
        let mut frames = Vec::new();
        let (mut due, mut last) = (0.0, 0.0);
        for f in FileFrames::open(path, UnixMillis(0)).with_context(|| format!("cannot decode {}", path.display()))? {
            last = f.captured_at.0 as f64 / 1000.0;
            if last + 1e-6 >= due {
                frames.push((last, f));
                due += 1.0 / fps;
            }
        }
        anyhow::ensure!(!frames.is_empty(), "{}: no frame could be decoded", path.display());
        Ok(Picture::Video { frames, secs: last + 1.0 / fps })
    }

    /// Length of one pass (a photo lasts as long as the clip says).
    fn secs(&self, photo_secs: f64) -> f64 {
        match self {
            Picture::Video { secs, .. } => *secs,
            Picture::Photo(_) => photo_secs,
        }
    }

    /// The picture at `t` seconds into a pass, and the times of a video's analysed frames.
    fn at(&self, t: f64) -> &Frame {
        match self {
            Picture::Photo(f) => f,
            Picture::Video { frames, .. } => {
                let i = frames.partition_point(|(s, _)| *s <= t).saturating_sub(1);
                &frames[i].1
            }
        }
    }

    fn times(&self, fps: f64, photo_secs: f64) -> Vec<f64> {
        match self {
            Picture::Video { frames, .. } => frames.iter().map(|(s, _)| *s).collect(),
            Picture::Photo(_) => (0..(photo_secs * fps).round() as usize).map(|i| i as f64 / fps).collect(),
        }
    }
}

/// A clip ready to be played: its pictures, and where a composed flame is.
pub struct Footage {
    spec: ClipSpec,
    camera: CameraId,
    main: Picture,
    other: Option<Picture>,
    flame: Option<BBox>,
    fps: f64,
}

impl std::fmt::Debug for Footage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Footage").field("clip", &self.spec.name).field("fps", &self.fps).finish_non_exhaustive()
    }
}

impl Footage {
    pub fn load(spec: &ClipSpec, analysis_fps: f64) -> anyhow::Result<Self> {
        let (path, photo) = match (&spec.video, &spec.photo) {
            (Some(v), _) => (v.as_path(), false),
            (None, Some(p)) => (p.as_path(), true),
            (None, None) => anyhow::bail!("clip {} has no picture", spec.name),
        };
        let main = Picture::load(path, photo, analysis_fps)?;
        let other = spec.cut_to.as_deref().map(|p| Picture::load(p, is_photo(p), analysis_fps)).transpose()?;
        let flame = match (&main, spec.flame_at_secs) {
            (Picture::Photo(f), Some(_)) => {
                Some(flame_in(f).with_context(|| format!("{}: no flame to light", path.display()))?)
            }
            _ => None,
        };
        let camera = CameraId(spec.camera.clone());
        Ok(Self { spec: spec.clone(), camera, main, other, flame, fps: analysis_fps })
    }

    /// Seconds of footage the clip plays, repeats included.
    pub fn secs(&self) -> f64 {
        self.main.secs(self.spec.secs) * f64::from(self.spec.repeat)
    }

    /// Every analysed frame of the clip, in order, with its seconds into the clip.
    pub fn frames(&self) -> impl Iterator<Item = (f64, Frame)> + '_ {
        let pass = self.main.secs(self.spec.secs);
        let times = self.main.times(self.fps, self.spec.secs);
        let mut rng = Rng(0x5eed ^ self.spec.name.len() as u64);
        let mut dropped_until = f64::MIN;
        (0..self.spec.repeat).flat_map(move |k| times.clone().into_iter().map(move |t| (k, t))).filter_map(
            move |(k, t)| {
                let clip_t = f64::from(k) * pass + t;
                if clip_t < dropped_until {
                    return None;
                }
                if let Some(d) = self.spec.drop
                    && f64::from(rng.unit()) < d.chance
                {
                    dropped_until = clip_t + f64::from(rng.unit()) * d.max_secs;
                }
                Some((clip_t, self.render(t, clip_t, &mut rng)))
            },
        )
    }

    fn render(&self, pass_t: f64, clip_t: f64, rng: &mut Rng) -> Frame {
        let main = self.main.at(pass_t);
        let cut_phase = (clip_t / self.spec.cut_every_secs).floor() as u64;
        let mut rgb = match &self.other {
            Some(other) if cut_phase % 2 == 1 => {
                resized(other.at(pass_t % other.secs(self.spec.secs)), main.width, main.height)
            }
            _ => self.composed(main, clip_t, rng),
        };
        if let Some(speed) = self.spec.pan_px_per_sec {
            let dx = ((clip_t % self.spec.cut_every_secs) * speed) as usize;
            rgb = panned(&rgb, main.width as usize, main.height as usize, dx);
        }
        if let Some(e) = self.spec.exposure {
            rgb = expose(&rgb, e.gain, e.noise, rng);
        }
        Frame {
            camera: self.camera.clone(),
            seq: (clip_t * self.fps) as u64,
            captured_at: UnixMillis(EPOCH.0 + (clip_t * 1000.0).round() as i64),
            width: main.width,
            height: main.height,
            rgb: rgb.into(),
        }
    }

    /// The main picture, with its flame unlit before `flame_at_secs` and flickering after.
    fn composed(&self, main: &Frame, clip_t: f64, rng: &mut Rng) -> Vec<u8> {
        match (self.flame, self.spec.flame_at_secs) {
            (Some(bbox), Some(at)) if clip_t < at => unlit(main, bbox),
            (Some(bbox), Some(_)) => flicker(main, bbox, rng),
            _ => main.rgb.to_vec(),
        }
    }
}

fn is_photo(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// The largest flame-like region of a photo.
fn flame_in(photo: &Frame) -> anyhow::Result<BBox> {
    let found = FireDetector::new(FireDetectorConfig::default()).candidates(photo)?;
    found.into_iter().max_by(|a, b| a.area.total_cmp(&b.area)).map(|r| r.bbox).context("the colour test finds none")
}
