//! Data augmentation on the fly: random affine transforms (rotation, shifts, zoom, shear, as
//! Keras' `ImageDataGenerator`) and elastic distortion (Simard et al., 2003), then changes of
//! the ink and the paper (outlines, stroke width, blur, stray lines, a background, random erasing
//! as Zhong et al., 2017, and noise), applied to each training batch as it is assembled.
//!
//! Every image's transform is drawn from its own generator, derived from (seed, epoch, image
//! index), so an epoch's augmented images are the same whatever the batch size, the thread count
//! or the order the threads take them in; the work is spread over the cores with rayon.

mod pixels;

use crate::Error;
use crate::rng::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Ranges of the random transforms; zero switches a transform off.
///
/// Shifts are fractions of the image's width/height, zoom is the half-width of the scale
/// range (`0.1` draws each axis' scale from `[0.9, 1.1]`), angles are in degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    pub rotation: f32,
    pub width_shift: f32,
    pub height_shift: f32,
    pub zoom: f32,
    pub shear: f32,
    /// Strength of the elastic distortion in pixels (Simard: 34); 0 is off.
    pub elastic_alpha: f32,
    /// Smoothness of the elastic displacement field (Gaussian sigma in pixels; Simard: 4).
    pub elastic_sigma: f32,
    /// Largest change of the stroke width in pixels: each image is dilated (thicker) or eroded
    /// (thinner) by a radius drawn from `[-stroke, stroke]`.
    #[serde(skip_serializing_if = "is_zero")]
    pub stroke: f32,
    /// Largest Gaussian blur (sigma in pixels, drawn from `[0, blur]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub blur: f32,
    /// Largest weight of a random background (0..1): the ink is faded to `1 − b` and a smooth
    /// random field of weight `b` (a grey level mixed with low-frequency noise) laid under it,
    /// `b` drawn as `background·√u` (u uniform), most often near the largest.
    #[serde(skip_serializing_if = "is_zero")]
    pub background: f32,
    /// Probability of drawing the digit as its outline: the one-pixel contour of its ink
    /// (thresholded at a level drawn from 0.3..0.7), as an edge detector or a hollow pen shows it.
    #[serde(skip_serializing_if = "is_zero")]
    pub outline: f32,
    /// Probability of stray lines: one or two polylines (straight, bent or dashed) drawn over
    /// the digit, as a ruled line, a crossing stroke or a form's dotted line.
    #[serde(skip_serializing_if = "is_zero")]
    pub lines: f32,
    /// Probability of random erasing: a rectangle of 2% to 25% of the image filled with one
    /// random grey level.
    #[serde(skip_serializing_if = "is_zero")]
    pub erase: f32,
    /// Largest strength of the noise (drawn from `[0, noise]`): for half the noisy images the
    /// standard deviation of Gaussian noise added to every pixel, for the other half twice it
    /// as the relative deviation of speckle that multiplies the ink (a speckled, broken stroke);
    /// the result clipped to 0..1.
    #[serde(skip_serializing_if = "is_zero")]
    pub noise: f32,
    /// Share of the images (0..1) whose ink and paper are left as written: only the geometry
    /// applies to them, so the model keeps seeing clean digits among the changed ones.
    #[serde(skip_serializing_if = "is_zero")]
    pub clean: f32,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

impl AugmentConfig {
    /// The notebooks' `ImageDataGenerator(rotation_range=10, width_shift_range=0.1,
    /// height_shift_range=0.1, zoom_range=0.1)`.
    pub fn notebook() -> Self {
        AugmentConfig { rotation: 10.0, width_shift: 0.1, height_shift: 0.1, zoom: 0.1, ..Default::default() }
    }

    /// Whether any transform is on.
    pub fn is_active(&self) -> bool {
        self.rotation != 0.0
            || self.width_shift != 0.0
            || self.height_shift != 0.0
            || self.zoom != 0.0
            || self.shear != 0.0
            || self.elastic_alpha != 0.0
            || self.changes_pixels()
    }

    /// Whether any change of the ink or the paper is on (they come after the geometry).
    fn changes_pixels(&self) -> bool {
        self.pixel_changes().iter().any(|(_, v, _)| *v != 0.0)
    }

    /// The changes of the ink and the paper: name, strength, and the largest strength allowed
    /// (`None`: a fraction, at most 1).
    fn pixel_changes(&self) -> [(&'static str, f32, Option<f32>); 7] {
        [
            ("stroke", self.stroke, Some(3.0)),
            ("blur", self.blur, Some(3.0)),
            ("background", self.background, None),
            ("erase", self.erase, None),
            ("noise", self.noise, Some(1.0)),
            ("lines", self.lines, None),
            ("outline", self.outline, None),
        ]
    }

    /// Checks the ranges are usable ([`Error::Invalid`] naming the first one that is not).
    pub fn validate(&self) -> Result<(), Error> {
        let all = [
            ("rotation", self.rotation),
            ("width_shift", self.width_shift),
            ("height_shift", self.height_shift),
            ("zoom", self.zoom),
            ("shear", self.shear),
            ("elastic_alpha", self.elastic_alpha),
            ("elastic_sigma", self.elastic_sigma),
        ];
        let pixels = self.pixel_changes().map(|(name, v, _)| (name, v));
        for (name, v) in all.into_iter().chain(pixels) {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(format!("augmentation {name} must be a non-negative number, got {v}")));
            }
        }
        if !(self.clean.is_finite() && (0.0..=1.0).contains(&self.clean)) {
            return Err(Error::invalid(format!(
                "augmentation clean must be a fraction from 0 to 1, got {}",
                self.clean
            )));
        }
        if self.zoom >= 1.0 {
            return Err(Error::invalid(format!(
                "augmentation zoom must be below 1 (scales 1 ± zoom), got {}",
                self.zoom
            )));
        }
        for (name, v, most) in self.pixel_changes() {
            match most {
                Some(most) if v > most => {
                    return Err(Error::invalid(format!("augmentation {name} must be at most {most}, got {v}")));
                }
                None if v > 1.0 => {
                    return Err(Error::invalid(format!("augmentation {name} must be a fraction from 0 to 1, got {v}")));
                }
                _ => {}
            }
        }
        if self.elastic_alpha > 0.0 && self.elastic_sigma <= 0.0 {
            return Err(Error::invalid("elastic distortion needs elastic_sigma > 0"));
        }
        Ok(())
    }
}

thread_local! {
    // Displacement fields and blur scratch, one set per worker thread (no allocation per image).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Writes an augmented copy of images `ids` of `images` (row-major, `rows * cols` values each)
/// into `out`, in that order. An image's index in `images` seeds its draw, with `seed` and
/// `epoch`.
#[allow(clippy::too_many_arguments)]
pub fn augment_batch(
    cfg: &AugmentConfig,
    images: &[f32],
    ids: &[usize],
    rows: usize,
    cols: usize,
    seed: u64,
    epoch: u64,
    out: &mut [f32],
) {
    let per = rows * cols;
    out[..ids.len() * per].par_chunks_mut(per).zip(ids).for_each(|(dst, &i)| {
        let mut rng = Rng::derive(&[seed, 0xA06_0000, epoch, i as u64]);
        augment_one(cfg, &images[i * per..(i + 1) * per], rows, cols, &mut rng, dst);
    });
}

/// One image: draws a transform from `rng` and resamples `src` into `dst` (bilinear, zero
/// outside the image).
pub fn augment_one(cfg: &AugmentConfig, src: &[f32], rows: usize, cols: usize, rng: &mut Rng, dst: &mut [f32]) {
    let sym = |rng: &mut Rng, r: f32| if r > 0.0 { rng.uniform_range(-r, r) } else { 0.0 };
    let theta = sym(rng, cfg.rotation).to_radians();
    let tx = sym(rng, cfg.width_shift) * cols as f32;
    let ty = sym(rng, cfg.height_shift) * rows as f32;
    let shear = sym(rng, cfg.shear).to_radians();
    let (zx, zy) = if cfg.zoom > 0.0 {
        (rng.uniform_range(1.0 - cfg.zoom, 1.0 + cfg.zoom), rng.uniform_range(1.0 - cfg.zoom, 1.0 + cfg.zoom))
    } else {
        (1.0, 1.0)
    };
    // Output → input coordinates about the centre: x_in = M (x_out − c) + c − t, where M =
    // rotation · shear · scale⁻¹ (a zoom above 1 enlarges the digit).
    let (s, c) = theta.sin_cos();
    let (ss, sc) = (shear.sin(), shear.cos());
    // rotation [[c, -s], [s, c]] times shear [[1, -ss], [0, sc]] times diag(1/zx, 1/zy), on (x, y).
    let m00 = c / zx;
    let m01 = (-c * ss - s * sc) / zy;
    let m10 = s / zx;
    let m11 = (-s * ss + c * sc) / zy;
    let (cx, cy) = ((cols as f32 - 1.0) / 2.0, (rows as f32 - 1.0) / 2.0);
    let elastic = cfg.elastic_alpha > 0.0;
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let per = rows * cols;
        if elastic {
            scratch.resize(3 * per, 0.0);
            let (fields, tmp) = scratch.split_at_mut(2 * per);
            let (dx, dy) = fields.split_at_mut(per);
            for v in dx.iter_mut().chain(dy.iter_mut()) {
                *v = rng.uniform_range(-1.0, 1.0);
            }
            gaussian_blur(dx, &mut tmp[..per], rows, cols, cfg.elastic_sigma, cfg.elastic_alpha);
            gaussian_blur(dy, &mut tmp[..per], rows, cols, cfg.elastic_sigma, cfg.elastic_alpha);
        }
        for r in 0..rows {
            let uy = r as f32 - cy;
            // Source coordinates move by (m00, m10) per output column.
            let mut sx = m01 * uy - m00 * cx + cx - tx;
            let mut sy = m11 * uy - m10 * cx + cy - ty;
            for q in 0..cols {
                let (mut x, mut y) = (sx, sy);
                if elastic {
                    let (ex, ey) = (scratch[r * cols + q], scratch[per + r * cols + q]);
                    x += m00 * ex + m01 * ey;
                    y += m10 * ex + m11 * ey;
                }
                dst[r * cols + q] = bilinear(src, rows, cols, x, y);
                sx += m00;
                sy += m10;
            }
        }
    });
    // Drawn only when asked for, so runs without it keep their draws (and their bits).
    let clean = cfg.clean > 0.0 && rng.uniform() < cfg.clean;
    if cfg.changes_pixels() && !clean {
        pixels::change(cfg, dst, rows, cols, rng);
    }
}

#[inline]
pub(crate) fn bilinear(src: &[f32], rows: usize, cols: usize, x: f32, y: f32) -> f32 {
    if !(x > -1.0 && y > -1.0 && x < cols as f32 && y < rows as f32) {
        return 0.0;
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    if x0 >= 0 && y0 >= 0 && (x0 as usize) + 1 < cols && (y0 as usize) + 1 < rows {
        // Inside: all four neighbours exist (the common case).
        let i = y0 as usize * cols + x0 as usize;
        let top = src[i] + (src[i + 1] - src[i]) * fx;
        let bottom = src[i + cols] + (src[i + cols + 1] - src[i + cols]) * fx;
        return top + (bottom - top) * fy;
    }
    let at = |yy: isize, xx: isize| {
        if yy < 0 || xx < 0 || yy >= rows as isize || xx >= cols as isize {
            0.0
        } else {
            src[yy as usize * cols + xx as usize]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
    let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Gaussian blur in place, approximated by three box blurs per axis (the widths chosen so the
/// variance matches, as in Kovesi's "fast almost-Gaussian filtering"; a direct 25-tap kernel
/// made elastic distortion cost more than a CNN step), zero outside the image as scipy's
/// `mode="constant"`; then scales by `gain`.
pub(crate) fn gaussian_blur(field: &mut [f32], tmp: &mut [f32], rows: usize, cols: usize, sigma: f32, gain: f32) {
    let n = 3.0f32;
    let ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut wl = ideal.floor() as i32;
    if wl % 2 == 0 {
        wl -= 1;
    }
    let wu = wl + 2;
    let m = ((12.0 * sigma * sigma - n * (wl * wl) as f32 - 4.0 * n * wl as f32 - 3.0 * n) / (-4.0 * wl as f32 - 4.0))
        .round() as i32;
    for pass in 0..3 {
        let radius = (if pass < m { wl } else { wu } - 1).max(0) as usize / 2;
        box_rows(field, tmp, rows, cols, radius);
        box_cols(tmp, field, rows, cols, radius);
    }
    field.iter_mut().for_each(|v| *v *= gain);
}

/// Horizontal box mean of half-width `radius`, zeros beyond the edges.
fn box_rows(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, radius: usize) {
    let norm = 1.0 / (2 * radius + 1) as f32;
    for r in 0..rows {
        let row = &src[r * cols..(r + 1) * cols];
        let mut acc: f32 = row[..radius.min(cols)].iter().sum();
        for q in 0..cols {
            if q + radius < cols {
                acc += row[q + radius];
            }
            if q > radius {
                acc -= row[q - radius - 1];
            }
            dst[r * cols + q] = acc * norm;
        }
    }
}

/// Vertical box mean of half-width `radius`, zeros beyond the edges.
fn box_cols(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, radius: usize) {
    let norm = 1.0 / (2 * radius + 1) as f32;
    for q in 0..cols {
        let mut acc: f32 = (0..radius.min(rows)).map(|r| src[r * cols + q]).sum();
        for r in 0..rows {
            if r + radius < rows {
                acc += src[(r + radius) * cols + q];
            }
            if r > radius {
                acc -= src[(r - radius - 1) * cols + q];
            }
            dst[r * cols + q] = acc * norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<f32> {
        let mut img = vec![0.0; 28 * 28];
        for r in 10..18 {
            for c in 12..16 {
                img[r * 28 + c] = 1.0;
            }
        }
        img
    }

    #[test]
    fn turning_a_change_on_leaves_the_geometry_drawn_as_before() {
        // The pixel changes draw after the geometry, so a recipe that adds them moves its
        // digits exactly as it did without them.
        let img = square();
        let geometry = AugmentConfig { rotation: 15.0, zoom: 0.1, ..Default::default() };
        let blurred = AugmentConfig { blur: 2.0, ..geometry };
        let centre = |x: &[f32]| {
            let m: f32 = x.iter().sum();
            x.iter().enumerate().map(|(i, v)| (i % 28) as f32 * v).sum::<f32>() / m
        };
        let mut changed = 0;
        for seed in 0..8 {
            let (mut a, mut b) = (vec![0.0; 784], vec![0.0; 784]);
            augment_one(&geometry, &img, 28, 28, &mut Rng::new(seed), &mut a);
            augment_one(&blurred, &img, 28, 28, &mut Rng::new(seed), &mut b);
            assert!((centre(&a) - centre(&b)).abs() < 0.05, "seed {seed}: {} vs {}", centre(&a), centre(&b));
            changed += usize::from(a != b);
        }
        assert!((1..8).contains(&changed), "blur changes about half the images: {changed} of 8");
    }

    #[test]
    fn clean_leaves_that_share_of_the_images_with_only_their_geometry() {
        let img = square();
        let geometry = AugmentConfig { rotation: 15.0, ..Default::default() };
        let changed = AugmentConfig { noise: 0.3, erase: 1.0, ..geometry };
        let mut only_geometry = 0;
        for seed in 0..200 {
            let (mut a, mut b) = (vec![0.0; 784], vec![0.0; 784]);
            augment_one(&geometry, &img, 28, 28, &mut Rng::new(seed), &mut a);
            augment_one(&AugmentConfig { clean: 0.4, ..changed }, &img, 28, 28, &mut Rng::new(seed), &mut b);
            only_geometry += usize::from(a == b);
        }
        // Erasing is certain, so an unchanged image is one left clean: about 40% of 200.
        assert!((60..=100).contains(&only_geometry), "{only_geometry} of 200 left clean");
        assert!(AugmentConfig { clean: 1.5, ..changed }.validate().unwrap_err().to_string().contains("clean"));
        assert!(AugmentConfig { clean: 1.0, ..changed }.validate().is_ok());
    }

    #[test]
    fn no_transform_is_the_identity() {
        let img = square();
        let mut out = vec![0.0; 784];
        augment_one(&AugmentConfig::default(), &img, 28, 28, &mut Rng::new(1), &mut out);
        assert_eq!(out, img);
    }

    #[test]
    fn a_shift_moves_the_ink_and_keeps_all_of_it() {
        let img = square();
        let cfg = AugmentConfig { width_shift: 0.2, ..Default::default() };
        let mut out = vec![0.0; 784];
        let mut rng = Rng::new(7);
        augment_one(&cfg, &img, 28, 28, &mut rng, &mut out);
        let mass: f32 = out.iter().sum();
        let cx: f32 = out.iter().enumerate().map(|(i, v)| (i % 28) as f32 * v).sum::<f32>() / mass;
        let tx = Rng::new(7).uniform_range(-0.2, 0.2) * 28.0;
        assert!((cx - (13.5 + tx)).abs() < 1e-3, "centre {cx}, shift {tx}");
        assert!((mass - 32.0).abs() < 1e-3, "a shift inside the frame keeps the ink: {mass}");
    }

    #[test]
    fn rotation_keeps_the_centre_and_the_ink() {
        let img = square();
        let cfg = AugmentConfig { rotation: 30.0, ..Default::default() };
        let mut out = vec![0.0; 784];
        augment_one(&cfg, &img, 28, 28, &mut Rng::new(3), &mut out);
        let mass: f32 = out.iter().sum();
        let cy: f32 = out.iter().enumerate().map(|(i, v)| (i / 28) as f32 * v).sum::<f32>() / mass;
        assert!((mass - 32.0).abs() < 1.0, "{mass}");
        assert!((cy - 13.5).abs() < 0.1, "{cy}");
        assert_ne!(out, img);
    }

    #[test]
    fn batches_are_reproducible_and_independent_of_order() {
        let a = square();
        let images: Vec<f32> = a.iter().chain(a.iter().rev()).copied().collect();
        let cfg = AugmentConfig {
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
            stroke: 1.0,
            blur: 1.0,
            background: 0.8,
            lines: 0.5,
            outline: 0.3,
            erase: 0.5,
            noise: 0.2,
            ..AugmentConfig::notebook()
        };
        let mut one = vec![0.0; 2 * 784];
        augment_batch(&cfg, &images, &[0, 1], 28, 28, 1, 2, &mut one);
        let mut swapped = vec![0.0; 2 * 784];
        augment_batch(&cfg, &images, &[1, 0], 28, 28, 1, 2, &mut swapped);
        assert_eq!(one[..784], swapped[784..]);
        assert_eq!(one[784..], swapped[..784]);
        let mut other_epoch = vec![0.0; 2 * 784];
        augment_batch(&cfg, &images, &[0, 1], 28, 28, 1, 3, &mut other_epoch);
        assert_ne!(one, other_epoch);
    }

    #[test]
    fn box_blur_approximates_the_gaussian() {
        // An impulse in the middle of a 41x41 field blurs to (nearly) a Gaussian of sigma 4.
        let (n, sigma) = (41, 4.0f32);
        let mut field = vec![0.0; n * n];
        field[20 * n + 20] = 1.0;
        let mut tmp = vec![0.0; n * n];
        gaussian_blur(&mut field, &mut tmp, n, n, sigma, 1.0);
        let total: f32 = field.iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "mass {total}");
        let var: f32 = field.iter().enumerate().map(|(i, v)| ((i % n) as f32 - 20.0).powi(2) * v).sum();
        assert!((var.sqrt() - sigma).abs() < 0.25, "sigma {}", var.sqrt()); // integer box widths: 3.83
        let peak = 1.0 / (2.0 * std::f32::consts::PI * sigma * sigma);
        assert!((field[20 * n + 20] - peak).abs() < 0.15 * peak, "{} vs {peak}", field[20 * n + 20]);
    }

    #[test]
    fn bad_ranges_are_rejected() {
        assert!(AugmentConfig { zoom: 1.0, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { rotation: -1.0, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { elastic_alpha: 3.0, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { stroke: 3.5, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { background: 1.01, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig { noise: f32::NAN, ..Default::default() }.validate().is_err());
        assert!(AugmentConfig::notebook().validate().is_ok());
    }
}
