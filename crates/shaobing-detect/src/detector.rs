use crate::head::{OutputFormat, decode_centernet, nms};
use crate::manifest::{Layout, Manifest, ModelSpec};
use crate::{DetectError, Runtime};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use shaobing_core::{Detection, Frame};
use shaobing_vision::Letterbox;

/// Overlap above which two boxes of one class are the same object.
const NMS_IOU: f32 = 0.5;

/// One model ready to run: session, letterbox canvas and input tensor buffer, all reused
/// from frame to frame.
pub struct Detector {
    spec: ModelSpec,
    session: Session,
    letterbox: Letterbox,
    input: Vec<f32>,
    units_per_pixel: (f32, f32),
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
        let options = runtime.options;
        let mut builder = Session::builder(&runtime.env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_op_spinning(options.spinning)?;
        if options.intra_threads > 0 {
            builder = builder.with_intra_threads(options.intra_threads)?;
        }
        let session = builder.commit_from_memory(&bytes)?;
        let (w, h) = (spec.input.width, spec.input.height);
        let units_per_pixel = if spec.output.box_units == "normalised" { (w as f32, h as f32) } else { (1.0, 1.0) };
        Ok(Self {
            letterbox: Letterbox::new(w, h)?,
            input: vec![0.0; (w * h * 3) as usize],
            units_per_pixel,
            session,
            spec,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn class_names(&self) -> &[String] {
        &self.spec.output.class_names
    }

    /// Letterboxes the frame, runs the model and returns detections in normalised frame
    /// coordinates with a score of at least `min_score`.
    pub fn detect(&mut self, frame: &Frame, min_score: f32) -> Result<Vec<Detection>, DetectError> {
        let transform = self.letterbox.apply(frame)?;
        self.fill_input()?;
        let tensor = TensorRef::from_array_view((self.input_shape(), &self.input[..]))?;
        let outputs = self.session.run(ort::inputs![self.spec.input.name.as_str() => tensor])?;
        let output = &self.spec.output;
        let value = outputs
            .get(&output.name)
            .ok_or_else(|| DetectError::Ort(format!("model output `{}` is missing", output.name)))?;
        let (shape, rows) = value.try_extract_tensor::<f32>()?;
        if shape.len() != 3 || shape[2] != 6 {
            return Err(DetectError::BadOutput {
                model: self.spec.name.clone(),
                shape: shape.iter().copied().collect(),
                expected: "[1, N, 6]",
            });
        }
        let detections = match output.format {
            OutputFormat::Centernet => {
                decode_centernet(rows, self.units_per_pixel, &transform, &output.class_names, min_score)
            }
        };
        Ok(nms(detections, NMS_IOU))
    }

    fn input_shape(&self) -> [usize; 4] {
        let (w, h) = (self.spec.input.width as usize, self.spec.input.height as usize);
        match self.spec.input.layout {
            Layout::NHWC => [1, h, w, 3],
            Layout::NCHW => [1, 3, h, w],
        }
    }

    /// Converts the letterboxed bytes into the model's layout, scale and mean.
    fn fill_input(&mut self) -> Result<(), DetectError> {
        let pixels = self.letterbox.pixels()?;
        let (scale, mean) = (self.spec.input.scale, self.spec.input.mean);
        let bgr = self.spec.input.color.eq_ignore_ascii_case("BGR");
        let plane = pixels.len() / 3;
        let layout = self.spec.input.layout;
        for (i, px) in pixels.chunks_exact(3).enumerate() {
            for (c, m) in mean.iter().enumerate() {
                let src = if bgr { 2 - c } else { c };
                let dst = match layout {
                    Layout::NHWC => i * 3 + c,
                    Layout::NCHW => c * plane + i,
                };
                self.input[dst] = f32::from(px[src]) * scale - m;
            }
        }
        Ok(())
    }
}
