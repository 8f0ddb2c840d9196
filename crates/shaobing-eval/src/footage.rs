//! The frames a clip puts in front of the analysis, at the camera's analysis rate, on the
//! clip's own time: the picture (a video's frames or a photo, a flame composed into it), cut
//! against another picture, panned, exposed, and thinned by a loaded box's drops.

use crate::set::ClipSpec;
use anyhow::Context;
use shaobing_camera::FileFrames;
use shaobing_core::{BBox, CameraId, Frame, UnixMillis};
use shaobing_vision::compose::{Cutout, Rng, cropped, expose, flicker, panned, resized, unlit};
use shaobing_vision::{FireDetector, FireDetectorConfig};
use std::path::Path;

/// When every clip's time starts: an arbitrary fixed instant, so runs compare.
pub const EPOCH: UnixMillis = UnixMillis(1_767_225_600_000);

/// Which of a source's frames reach the analysis: `analysis_fps` of them, or in key-frame mode
/// the key frame every `gop` seconds and the camera's burst of frames after it.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    Rate(f64),
    KeyFrames { gop: f64, burst: usize },
}

/// Chooses frames by their seconds, as the camera's gate does by presentation time.
struct Picker {
    schedule: Schedule,
    due: f64,
    following: usize,
}

impl Picker {
    fn new(schedule: Schedule) -> Self {
        Self { schedule, due: 0.0, following: 0 }
    }

    fn admit(&mut self, t: f64) -> bool {
        let due = t + 1e-6 >= self.due;
        match self.schedule {
            Schedule::Rate(fps) if due => self.due += 1.0 / fps,
            Schedule::KeyFrames { gop, burst } if due => {
                self.due = ((t + 1e-6) / gop).floor() * gop + gop;
                self.following = burst.saturating_sub(1);
            }
            Schedule::KeyFrames { .. } if self.following > 0 => self.following -= 1,
            _ => return false,
        }
        true
    }
}

/// A picture source: a video's analysed frames with their seconds, or a photo.
enum Picture {
    Video { frames: Vec<(f64, Frame)>, secs: f64 },
    Photo(Frame),
}

impl Picture {
    fn load(path: &Path, photo: bool, schedule: Schedule) -> anyhow::Result<Self> {
        if photo {
            return Ok(Picture::Photo(shaobing_vision::read_image(path, "eval")?));
        }
        let (mut frames, mut picker, mut last, mut interval) = (Vec::new(), Picker::new(schedule), 0.0, 0.0);
        for f in FileFrames::open(path, UnixMillis(0)).with_context(|| format!("cannot decode {}", path.display()))? {
            let t = f.captured_at.0 as f64 / 1000.0;
            (interval, last) = (t - last, t);
            if picker.admit(t) {
                frames.push((t, f));
            }
        }
        anyhow::ensure!(!frames.is_empty(), "{}: no frame could be decoded", path.display());
        Ok(Picture::Video { frames, secs: last + interval })
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

    /// The analysed seconds of a pass; a photo is a source of `photo_fps` frames a second.
    fn times(&self, schedule: Schedule, photo_secs: f64, photo_fps: f64) -> Vec<f64> {
        match self {
            Picture::Video { frames, .. } => frames.iter().map(|(s, _)| *s).collect(),
            Picture::Photo(_) => {
                let mut picker = Picker::new(schedule);
                let source = (0..(photo_secs * photo_fps).round() as usize).map(|i| i as f64 / photo_fps);
                source.filter(|t| picker.admit(*t)).collect()
            }
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
    /// The objects of `spec.place`, in its order.
    objects: Vec<Cutout>,
    schedule: Schedule,
    fps: f64,
}

impl std::fmt::Debug for Footage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Footage")
            .field("clip", &self.spec.name)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl Footage {
    /// `burst`: in key-frame mode (the clip's `gop_secs`), the camera's `key_frame_burst`.
    pub fn load(spec: &ClipSpec, analysis_fps: f64, burst: usize) -> anyhow::Result<Self> {
        let schedule = match spec.gop_secs {
            Some(gop) => Schedule::KeyFrames { gop, burst },
            None => Schedule::Rate(analysis_fps),
        };
        let (path, photo) = match (&spec.video, &spec.photo) {
            (Some(v), _) => (v.as_path(), false),
            (None, Some(p)) => (p.as_path(), true),
            (None, None) => anyhow::bail!("clip {} has no picture", spec.name),
        };
        let main = Picture::load(path, photo, schedule)?;
        let other = spec.cut_to.as_deref().map(|p| Picture::load(p, is_photo(p), schedule)).transpose()?;
        let flame = match (&main, spec.flame_at_secs) {
            (Picture::Photo(f), Some(_)) => {
                Some(flame_in(f).with_context(|| format!("{}: no flame to light", path.display()))?)
            }
            _ => None,
        };
        let camera = CameraId(spec.camera.clone());
        let objects = spec
            .place
            .iter()
            .map(|p| cutout(p).with_context(|| format!("{}", p.object.display())))
            .collect::<anyhow::Result<Vec<Cutout>>>()?;
        // Fails here, not silently while playing, when an object cannot be set down.
        for (p, object) in spec.place.iter().zip(&objects) {
            object.set_down(main.at(0.0), p.foot, p.height)?;
        }
        Ok(Self { spec: spec.clone(), camera, main, other, flame, objects, schedule, fps: analysis_fps })
    }

    /// Seconds of footage the clip plays, repeats included.
    pub fn secs(&self) -> f64 {
        self.main.secs(self.spec.secs) * f64::from(self.spec.repeat)
    }

    /// Every analysed frame of the clip, in order, with its seconds into the clip.
    pub fn frames(&self) -> impl Iterator<Item = (f64, Frame)> + '_ {
        let pass = self.main.secs(self.spec.secs);
        let photo_fps = if self.spec.gop_secs.is_some() { self.spec.fps } else { self.fps };
        let times = self.main.times(self.schedule, self.spec.secs, photo_fps);
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
        rgb = self.placed(main, rgb, clip_t);
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

impl Footage {
    /// `rgb` (a picture of `like`'s size) with the objects that stand at `clip_t` set down.
    fn placed(&self, like: &Frame, mut rgb: Vec<u8>, clip_t: f64) -> Vec<u8> {
        for (p, object) in self.spec.place.iter().zip(&self.objects) {
            if (p.from_secs..p.until_secs).contains(&clip_t) {
                let picture = Frame { rgb: rgb.into(), ..like.clone() };
                // Checked on loading: the same object on a picture of the same size.
                rgb = object.set_down(&picture, p.foot, p.height).unwrap_or_else(|_| picture.rgb.to_vec());
            }
        }
        rgb
    }
}

/// The object of a placement: its photo, or the part of it the placement names.
fn cutout(p: &crate::set::Placement) -> anyhow::Result<Cutout> {
    let photo = shaobing_vision::read_image(&p.object, "eval")?;
    let photo = match p.crop {
        Some([x1, y1, x2, y2]) => cropped(&photo, BBox::from_corners(x1, y1, x2, y2)),
        None => photo,
    };
    Ok(Cutout::of(&photo, p.cut_out)?)
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
