//! The detector's thresholds.

/// Thresholds of the detector. Colour values are 8-bit; areas are fractions of the frame.
#[derive(Debug, Clone)]
pub struct FireDetectorConfig {
    /// Frames are analysed at this width (aspect ratio kept): flames a few pixels wide at 320 px
    /// are far away, and the cost stays around a millisecond per frame.
    pub analysis_width: u32,
    /// Chen's R_T: fringe pixels must be at least this red.
    pub flame_min_red: u8,
    /// Fringe pixels must be this much redder than blue (Chen's saturation rule, simplified).
    pub flame_min_red_minus_blue: u8,
    /// Celik's tau on |Cr - Cb|.
    pub flame_min_cr_minus_cb: u8,
    /// A core pixel is bright yellow-white: luma, red and green at least these.
    pub core_min_luma: u8,
    pub core_min_red: u8,
    pub core_min_green: u8,
    /// A pixel that was flame in the previous frame stays flame down to this far below the
    /// thresholds above (8-bit levels): sensor noise is a few levels, a moving tongue leaves.
    pub hysteresis: u8,
    /// Weight of the newest frame in the running mean luma that exposure is normalised to.
    pub exposure_rate: f32,
    /// Smallest and largest region kept, as fractions of the frame.
    pub min_area: f32,
    pub max_area: f32,
    /// A flame has both a core and a fringe: bounds on the share of core pixels in a region.
    pub min_core_fraction: f32,
    pub max_core_fraction: f32,
    pub min_fringe_fraction: f32,
    /// Share of region pixels with red clipped (>= 250): a flame is a light source.
    pub min_clipped_fraction: f32,
    /// Standard deviation of G/R across the region: yellow core to red edge.
    pub min_hue_spread: f32,
    /// Mean Sobel |dx| + |dy| of luma inside the region: flames are ragged, sunsets smooth.
    pub min_edge_energy: f32,
    /// Regions wider than this many times their height are horizon bands (sunsets).
    pub max_band_aspect: f32,
    /// Frames of mask change kept for the flicker test.
    pub history: usize,
    /// Frames needed before `observe` can confirm anything.
    pub min_frames: usize,
    /// Thick mask change per frame, as a fraction of the region's area, needed to call it
    /// flickering.
    pub min_flicker: f32,
    /// A tracked flame not found as a candidate is still judged for this many frames, while at
    /// least `coast_min_coverage` of its last area is flame-coloured inside its box.
    pub track_coast: usize,
    pub coast_min_coverage: f32,
    /// Smoke: foreground pixels at most this far from grey (max |Cr-128|, |Cb-128|) and with
    /// luma in this range.
    pub smoke_max_chroma: u8,
    pub smoke_luma: (u8, u8),
    /// Smoke: a pixel must be grey foreground in this many of the last `history` frames.
    pub smoke_min_persistence: u8,
    /// Smoke: smallest and largest region, as fractions of the frame. Foreground over much of
    /// the picture is the camera moving or the light changing, not a plume starting.
    pub smoke_min_area: f32,
    pub smoke_max_area: f32,
    /// Smoke: share of a region's pixels whose brightness changed since the previous frame.
    /// Smoke churns; a ghost in the background model is still, and people crossing it change
    /// only their own part of it.
    pub smoke_min_churn: f32,
    /// Smoke: edge energy in the region relative to the background model must fall below this.
    pub smoke_max_edge_ratio: f32,
    /// Smoke: a region must be tracked this many frames and still cover this share of the box
    /// it was first seen in (smoke grows from its source; a passer-by walks away from it).
    pub smoke_min_track: usize,
    pub smoke_min_origin_overlap: f32,
    /// Smoke spreads: a track's area must have grown by this factor since it was first seen.
    /// The ghost a removed object leaves in the background model is grey, persistent and
    /// anchored too, but it only shrinks as the model absorbs it.
    pub smoke_min_growth: f32,
}

impl Default for FireDetectorConfig {
    fn default() -> Self {
        Self {
            analysis_width: 320,
            flame_min_red: 190,
            flame_min_red_minus_blue: 60,
            flame_min_cr_minus_cb: 40,
            core_min_luma: 200,
            core_min_red: 235,
            core_min_green: 190,
            hysteresis: 16,
            exposure_rate: 0.05,
            min_area: 0.001,
            max_area: 0.3,
            min_core_fraction: 0.04,
            max_core_fraction: 0.85,
            min_fringe_fraction: 0.12,
            min_clipped_fraction: 0.25,
            min_hue_spread: 0.07,
            min_edge_energy: 70.0,
            max_band_aspect: 4.0,
            history: 8,
            min_frames: 5,
            min_flicker: 0.02,
            track_coast: 16,
            coast_min_coverage: 0.5,
            smoke_max_chroma: 24,
            smoke_luma: (70, 230),
            smoke_min_persistence: 5,
            smoke_min_area: 0.01,
            smoke_max_area: 0.25,
            smoke_min_churn: 0.3,
            smoke_max_edge_ratio: 0.8,
            smoke_min_track: 6,
            smoke_min_origin_overlap: 0.5,
            smoke_min_growth: 1.25,
        }
    }
}
