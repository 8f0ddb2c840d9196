use crate::head::{
    DecodeContext, HeadsGrid, OutputFormat, decode_centernet, decode_centernet_heads, decode_ssd, decode_yolo, nms,
};
use crate::input::InputTensor;
use crate::manifest::{Batch, Manifest, ModelSpec};
use crate::{DetectError, Runtime};
use ort::session::{Session, SessionOutputs};
use shaobing_core::{Detection, Frame};
use shaobing_vision::{Letterbox, LetterboxTransform};

/// Frames one run of a dynamic-batch model takes at most: beyond this the latency of the
/// first camera in the batch grows faster than the per-frame saving.
pub const MAX_BATCH: usize = 4;

/// One model ready to run: session, letterbox canvas and input tensor buffer, all reused
/// from frame to frame.
pub struct Detector {
    spec: ModelSpec,
    session: Session,
    letterbox: Letterbox,
    input: InputTensor,
    class_names: Vec<String>,
    units_per_pixel: (f32, f32),
    transforms: Vec<LetterboxTransform>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("model", &self.spec.name).finish_non_exhaustive()
    }
}

impl Detector {
    /// Verifies the model file against the manifest, then builds a session for it.
    pub fn load(runtime: &Runtime, manifest: &Manifest, name: &str) -> Result<Self, DetectError> {
        let spec = manifest.get(name)?.clone();
        let bytes = manifest.read_verified(&spec)?;
        let session = runtime.session(&bytes)?;
        let class_names = class_names_of(&spec, &session)?;
        let (w, h) = (spec.input.width, spec.input.height);
        let units_per_pixel = if spec.output.box_units == "normalised" { (w as f32, h as f32) } else { (1.0, 1.0) };
        Ok(Self {
            letterbox: Letterbox::with_fit(w, h, spec.input.resize.into())?,
            input: InputTensor::new(&spec.input, max_batch(&spec)),
            units_per_pixel,
            class_names,
            session,
            spec,
            transforms: Vec::with_capacity(MAX_BATCH),
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Class names by index, from the manifest or else the ONNX metadata.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// How many frames one run may take.
    pub fn max_batch(&self) -> usize {
        max_batch(&self.spec)
    }

    /// Letterboxes the frame, runs the model and returns detections in normalised frame
    /// coordinates with a score of at least `min_score`.
    pub fn detect(&mut self, frame: &Frame, min_score: f32) -> Result<Vec<Detection>, DetectError> {
        Ok(self.detect_batch(&[frame], min_score)?.pop().unwrap_or_default())
    }

    /// One run for up to `max_batch()` frames (of any cameras and sizes); detections per frame.
    pub fn detect_batch(&mut self, frames: &[&Frame], min_score: f32) -> Result<Vec<Vec<Detection>>, DetectError> {
        let mut results = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(self.max_batch()) {
            self.prepare(chunk)?;
            let tensor = self.input.tensor(chunk.len())?;
            let outputs = self.session.run(ort::inputs![self.spec.input.name.as_str() => tensor])?;
            let parts =
                DecodeParts { units_per_pixel: self.units_per_pixel, class_names: &self.class_names, min_score };
            let decoded = decode_outputs(&self.spec, &outputs, &self.transforms, parts)?;
            let out = &self.spec.output;
            let suppress = !out.format.has_nms();
            let nms = |d| if suppress { nms(d, out.nms_iou, out.nms_class_agnostic) } else { d };
            results.extend(decoded.into_iter().map(nms));
        }
        Ok(results)
    }

    /// Letterboxes each frame into its slot of the input tensor.
    fn prepare(&mut self, frames: &[&Frame]) -> Result<(), DetectError> {
        self.transforms.clear();
        for (slot, frame) in frames.iter().enumerate() {
            self.transforms.push(self.letterbox.apply(frame)?);
            self.input.fill(slot, self.letterbox.pixels()?);
        }
        Ok(())
    }
}

fn max_batch(spec: &ModelSpec) -> usize {
    match spec.input.batch {
        Batch::One => 1,
        Batch::Dynamic => MAX_BATCH,
    }
}

/// What decoding needs besides the per-frame transform.
struct DecodeParts<'a> {
    units_per_pixel: (f32, f32),
    class_names: &'a [String],
    min_score: f32,
}

/// Splits the run's outputs per image and decodes each with its own letterbox transform.
fn decode_outputs<'a>(
    spec: &ModelSpec,
    outputs: &'a SessionOutputs<'_>,
    transforms: &[LetterboxTransform],
    parts: DecodeParts<'_>,
) -> Result<Vec<Vec<Detection>>, DetectError> {
    let names = spec.output.tensor_names().map_err(DetectError::Ort)?;
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let value = outputs.get(name).ok_or_else(|| DetectError::Ort(format!("model output `{name}` is missing")))?;
        let (shape, data) = value.try_extract_tensor::<f32>()?;
        tensors.push((shape.iter().copied().collect::<Vec<i64>>(), data));
    }
    let bad = |expected: &'static str, shape: &[i64]| DetectError::BadOutput {
        model: spec.name.clone(),
        shape: shape.to_vec(),
        expected,
    };
    let batch = transforms.len();
    let per_image = |data: &'a [f32], i: usize| -> &'a [f32] {
        let n = data.len() / batch;
        &data[i * n..(i + 1) * n]
    };
    let mut results = Vec::with_capacity(batch);
    for (i, transform) in transforms.iter().enumerate() {
        let ctx = DecodeContext {
            units_per_pixel: parts.units_per_pixel,
            transform,
            class_names: parts.class_names,
            min_score: parts.min_score,
        };
        let (shape, data) = &tensors[0];
        let detections = match spec.output.format {
            OutputFormat::Centernet => {
                if shape.len() != 3 || shape[2] != 6 {
                    return Err(bad("[B, N, 6]", shape));
                }
                decode_centernet(per_image(data, i), &ctx)
            }
            OutputFormat::CenternetHeads => {
                let [(logits_shape, logits), (boxes_shape, boxes)] = &tensors[..] else {
                    return Err(bad("two outputs: heatmap, boxes", shape));
                };
                let grid = heads_grid(spec, logits_shape, boxes_shape).ok_or_else(|| {
                    bad(
                        "heatmap [B, classes, H, W] and boxes [B, 4, H, W]",
                        if logits_shape.len() == 4 { boxes_shape } else { logits_shape },
                    )
                })?;
                decode_centernet_heads(per_image(logits, i), per_image(boxes, i), grid, &ctx)
            }
            OutputFormat::Yolo => {
                if shape.len() != 3 || shape[1] < 5 {
                    return Err(bad("[B, 4 + classes, anchors]", shape));
                }
                decode_yolo(per_image(data, i), shape[2] as usize, &ctx)
            }
            OutputFormat::Ssd => {
                let [(_, boxes), (_, scores), (_, classes), (_, count)] = &tensors[..] else {
                    return Err(bad("four outputs: boxes, scores, classes, count", shape));
                };
                let n = per_image(count, i).first().copied().unwrap_or(0.0).max(0.0) as usize;
                let offset = spec.output.class_offset;
                decode_ssd(per_image(boxes, i), per_image(scores, i), per_image(classes, i), n, offset, &ctx)
            }
        };
        results.push(detections);
    }
    Ok(results)
}

/// The heads' grid when both tensors have it: `[B, C, H, W]` logits, `[B, 4, H, W]` boxes.
fn heads_grid(spec: &ModelSpec, logits: &[i64], boxes: &[i64]) -> Option<HeadsGrid> {
    let dims = |s: &[i64]| -> Option<[usize; 4]> {
        let d: Vec<usize> = s.iter().map(|v| usize::try_from(*v).ok()).collect::<Option<_>>()?;
        d.try_into().ok()
    };
    let ([_, classes, height, width], [_, four, bh, bw]) = (dims(logits)?, dims(boxes)?);
    let stride = spec.output.stride?;
    (four == 4 && (bh, bw) == (height, width) && height > 0 && width > 0).then_some(HeadsGrid {
        classes,
        height,
        width,
        stride,
        top_k: spec.output.top_k,
    })
}

/// The manifest's class names, else the `names` an Ultralytics export writes into the ONNX
/// metadata (`{0: 'smoke', 1: 'fire'}`).
fn class_names_of(spec: &ModelSpec, session: &Session) -> Result<Vec<String>, DetectError> {
    if !spec.output.class_names.is_empty() {
        return Ok(spec.output.class_names.clone());
    }
    let names = session.metadata()?.custom("names").and_then(|s| parse_ultralytics_names(&s));
    names.ok_or_else(|| {
        DetectError::Ort(format!(
            "model `{}` has no class_names in the manifest and no `names` in its ONNX metadata",
            spec.name
        ))
    })
}

/// Parses a Python dict literal of index -> quoted name. Returns `None` unless the indices
/// are exactly 0..N, so a malformed entry can never shift every class by one.
pub fn parse_ultralytics_names(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (index, after) = rest.split_once(':')?;
        let index: usize = index.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let (name, tail) = after[1..].split_once(quote)?;
        if index != names.len() {
            return None;
        }
        names.push(name.to_string());
        rest = tail.trim_start().strip_prefix(',').unwrap_or(tail).trim_start();
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_parse_in_index_order() {
        assert_eq!(parse_ultralytics_names("{0: 'smoke', 1: 'fire'}"), Some(vec!["smoke".into(), "fire".into()]));
        assert_eq!(parse_ultralytics_names("{0: \"traffic light\"}"), Some(vec!["traffic light".into()]));
        assert_eq!(parse_ultralytics_names("{1: 'a'}"), None, "indices must start at 0");
        assert_eq!(parse_ultralytics_names("{0: 'a', 0: 'b'}"), None);
        assert_eq!(parse_ultralytics_names("['a', 'b']"), None);
        assert_eq!(parse_ultralytics_names("{}"), None);
    }
}
