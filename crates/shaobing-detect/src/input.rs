//! The model's input tensor, allocated once for the largest batch and refilled per frame.

use crate::DetectError;
use crate::manifest::{InputSpec, InputType, Layout};
use ort::session::SessionInputValue;
use ort::value::TensorRef;

enum Buffer {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

/// How to turn a letterboxed RGB byte into the model's value for channel `c`.
#[derive(Clone, Copy)]
struct Conversion {
    scale: f32,
    mean: [f32; 3],
    /// Source channel for each destination channel (RGB or BGR).
    order: [usize; 3],
}

pub(crate) struct InputTensor {
    buffer: Buffer,
    conversion: Conversion,
    layout: Layout,
    height: usize,
    width: usize,
}

impl InputTensor {
    pub(crate) fn new(spec: &InputSpec, max_batch: usize) -> Self {
        let len = max_batch * spec.width as usize * spec.height as usize * 3;
        let buffer = match spec.dtype {
            InputType::Float32 => Buffer::F32(vec![0.0; len]),
            InputType::Uint8 => Buffer::U8(vec![0; len]),
        };
        let order = if spec.color.eq_ignore_ascii_case("BGR") { [2, 1, 0] } else { [0, 1, 2] };
        Self {
            buffer,
            conversion: Conversion { scale: spec.scale, mean: spec.mean, order },
            layout: spec.layout,
            height: spec.height as usize,
            width: spec.width as usize,
        }
    }

    /// Writes one letterboxed image (HWC RGB bytes) into batch slot `slot`.
    pub(crate) fn fill(&mut self, slot: usize, pixels: &[u8]) {
        let image = self.height * self.width * 3;
        let (conv, layout) = (self.conversion, self.layout);
        match &mut self.buffer {
            Buffer::F32(buf) => fill_f32(&mut buf[slot * image..(slot + 1) * image], pixels, conv, layout),
            Buffer::U8(buf) => fill_u8(&mut buf[slot * image..(slot + 1) * image], pixels, conv.order, layout),
        }
    }

    /// A view of the first `batch` images as the model's input value.
    pub(crate) fn tensor(&self, batch: usize) -> Result<SessionInputValue<'_>, DetectError> {
        let shape = match self.layout {
            Layout::NHWC => [batch, self.height, self.width, 3],
            Layout::NCHW => [batch, 3, self.height, self.width],
        };
        let len = shape.iter().product::<usize>();
        Ok(match &self.buffer {
            Buffer::F32(buf) => TensorRef::from_array_view((shape, &buf[..len]))?.into(),
            Buffer::U8(buf) => TensorRef::from_array_view((shape, &buf[..len]))?.into(),
        })
    }
}

fn fill_f32(dst: &mut [f32], pixels: &[u8], conv: Conversion, layout: Layout) {
    let Conversion { scale, mean, order } = conv;
    match layout {
        // The common case (raw RGB, same order): one flat pass the compiler vectorises.
        Layout::NHWC if order == [0, 1, 2] && mean == [mean[0]; 3] => {
            for (o, p) in dst.iter_mut().zip(pixels) {
                *o = f32::from(*p) * scale - mean[0];
            }
        }
        Layout::NHWC => {
            for (out, px) in dst.chunks_exact_mut(3).zip(pixels.chunks_exact(3)) {
                for c in 0..3 {
                    out[c] = f32::from(px[order[c]]) * scale - mean[c];
                }
            }
        }
        Layout::NCHW => {
            // One plane at a time keeps both the reads and the writes sequential.
            let plane = pixels.len() / 3;
            for (c, out) in dst.chunks_exact_mut(plane).enumerate() {
                let (src, s, m) = (order[c], scale, mean[c]);
                for (o, px) in out.iter_mut().zip(pixels.chunks_exact(3)) {
                    *o = f32::from(px[src]) * s - m;
                }
            }
        }
    }
}

fn fill_u8(dst: &mut [u8], pixels: &[u8], order: [usize; 3], layout: Layout) {
    match (layout, order) {
        (Layout::NHWC, [0, 1, 2]) => dst.copy_from_slice(pixels),
        (Layout::NHWC, _) => {
            for (out, px) in dst.chunks_exact_mut(3).zip(pixels.chunks_exact(3)) {
                out.copy_from_slice(&[px[order[0]], px[order[1]], px[order[2]]]);
            }
        }
        (Layout::NCHW, _) => {
            let plane = pixels.len() / 3;
            for (c, out) in dst.chunks_exact_mut(plane).enumerate() {
                for (o, px) in out.iter_mut().zip(pixels.chunks_exact(3)) {
                    *o = px[order[c]];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout, dtype: InputType, color: &str) -> InputSpec {
        InputSpec {
            name: "in".into(),
            layout,
            width: 2,
            height: 1,
            color: color.into(),
            scale: 0.5,
            mean: [1.0, 2.0, 3.0],
            dtype,
            resize: crate::manifest::Resize::Letterbox,
            batch: crate::manifest::Batch::Dynamic,
        }
    }

    const PIXELS: [u8; 6] = [10, 20, 30, 40, 50, 60];

    #[test]
    fn nchw_float_planes_scaled_and_centred() {
        let mut t = InputTensor::new(&spec(Layout::NCHW, InputType::Float32, "RGB"), 2);
        t.fill(1, &PIXELS);
        let Buffer::F32(buf) = &t.buffer else { panic!() };
        assert_eq!(&buf[6..], &[4.0, 19.0, 8.0, 23.0, 12.0, 27.0], "second slot, one plane per channel");
        assert_eq!(&buf[..6], &[0.0; 6], "first slot untouched");
    }

    #[test]
    fn nhwc_uint8_bgr_swaps_channels() {
        let mut t = InputTensor::new(&spec(Layout::NHWC, InputType::Uint8, "BGR"), 1);
        t.fill(0, &PIXELS);
        let Buffer::U8(buf) = &t.buffer else { panic!() };
        assert_eq!(buf, &[30, 20, 10, 60, 50, 40]);
    }
}
