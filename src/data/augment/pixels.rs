//! The changes of the ink and the paper that follow the geometric transform, in this order:
//! outline, stroke width, blur, stray lines, a background, random erasing, noise; then the
//! image is clipped to 0..1.
//!
//! They are what a digit meets off MNIST: a digit seen as its edges (an edge detector, a hollow
//! pen), a thinner or bolder pen, an out-of-focus photograph, grey or uneven paper, a ruled line
//! or a stroke across the digit, something covering part of the digit, sensor noise or a
//! speckled, broken stroke. Stroke, blur, background and noise each change half the images (at
//! a strength drawn up to the configured one), so that every combination, none included, is
//! seen in training; outlines, lines and erasing are given as probabilities. Each draws from the image's
//! generator only when it is on, and after the geometry, so adding one leaves the draws of the
//! transforms before it unchanged.

use super::{AugmentConfig, gaussian_blur};
use crate::rng::Rng;
use std::cell::RefCell;

thread_local! {
    // Four image-sized buffers per worker thread (no allocation per image).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Smallest and largest area of an erased rectangle, as fractions of the image.
const ERASE_AREA: (f32, f32) = (0.02, 0.25);
/// Range of an erased rectangle's height / width (drawn log-uniformly).
const ERASE_ASPECT: (f32, f32) = (0.25, 4.0);
/// The share of the images each of stroke, blur, background and noise changes.
const CHANCE: f32 = 0.5;
/// The scales of the background's noise (Gaussian sigma, pixels): fine, middle, broad.
const BACKGROUND_SIGMAS: [f32; 3] = [1.0, 3.0, 8.0];

/// Applies the changes `cfg` turns on to `img` (`rows × cols`), drawing from `rng`.
pub(super) fn change(cfg: &AugmentConfig, img: &mut [f32], rows: usize, cols: usize, rng: &mut Rng) {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        scratch.resize(4 * img.len(), 0.0);
        let (tmp, rest) = scratch.split_at_mut(img.len());
        let (field, rest) = rest.split_at_mut(img.len());
        let (octave, ones) = rest.split_at_mut(img.len());
        // The strength of a change that is on for this image, or None.
        let draw =
            |most: f32, rng: &mut Rng| (most > 0.0 && rng.uniform() < CHANCE).then(|| rng.uniform_range(0.0, most));
        let outlined = cfg.outline > 0.0 && rng.uniform() < cfg.outline;
        if outlined {
            let level = rng.uniform_range(0.3, 0.7);
            outline(img, tmp, rows, cols, level);
        }
        if let Some(r) = draw(cfg.stroke, rng) {
            // A one-pixel outline only gets bolder: thinning would erase it.
            let thinner = rng.uniform() < 0.5 && !outlined;
            stroke(img, tmp, rows, cols, if thinner { -r } else { r });
        }
        if let Some(sigma) = draw(cfg.blur, rng) {
            gaussian_blur(img, tmp, rows, cols, sigma, 1.0);
        }
        if cfg.lines > 0.0 && rng.uniform() < cfg.lines {
            lines(img, rows, cols, rng);
        }
        if let Some(weight) = draw(cfg.background, rng) {
            // Skewed towards the strong end (the square root of a uniform fraction): faint
            // paper changes little, fog-like paper is what the model must learn to look through.
            let weight = (weight * cfg.background).sqrt();
            smooth_field([field, octave, ones, tmp], rows, cols, rng);
            img.iter_mut().zip(field.iter()).for_each(|(v, f)| *v = (1.0 - weight) * *v + weight * f);
        }
        if cfg.erase > 0.0 && rng.uniform() < cfg.erase {
            erase(img, rows, cols, rng);
        }
        if let Some(sd) = draw(cfg.noise, rng) {
            if rng.uniform() < 0.5 {
                img.iter_mut().for_each(|v| *v += sd * rng.normal());
            } else {
                // Speckle: only what is not blank (the ink, and any paper laid under it) varies,
                // some of it dropping out, as shot noise does.
                img.iter_mut().filter(|v| **v > 0.0).for_each(|v| *v *= (1.0 + 2.0 * sd * rng.normal()).max(0.0));
            }
        }
    });
    img.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
}

/// Replaces the image by the contour of its ink at `level`: the inked pixels (`>= level`) with
/// an uninked one among their four neighbours (or on the border), at full ink.
fn outline(img: &mut [f32], tmp: &mut [f32], rows: usize, cols: usize, level: f32) {
    tmp.copy_from_slice(img);
    let inked = |r: usize, c: usize| tmp[r * cols + c] >= level;
    for r in 0..rows {
        for c in 0..cols {
            let edge = inked(r, c)
                && (r == 0
                    || c == 0
                    || r + 1 == rows
                    || c + 1 == cols
                    || !inked(r - 1, c)
                    || !inked(r + 1, c)
                    || !inked(r, c - 1)
                    || !inked(r, c + 1));
            img[r * cols + c] = if edge { 1.0 } else { 0.0 };
        }
    }
}

/// Grey-scale dilation (`radius > 0`, bolder) or erosion (`< 0`, thinner) by `|radius|` pixels:
/// whole steps of a 3×3 cross, then a fraction of one more step blended in.
fn stroke(img: &mut [f32], tmp: &mut [f32], rows: usize, cols: usize, radius: f32) {
    let pick: fn(f32, f32) -> f32 = if radius > 0.0 { f32::max } else { f32::min };
    let r = radius.abs();
    let (whole, part) = (r.floor() as usize, r.fract());
    for _ in 0..whole {
        cross_step(img, tmp, rows, cols, pick);
        img.copy_from_slice(tmp);
    }
    if part > 0.0 {
        cross_step(img, tmp, rows, cols, pick);
        img.iter_mut().zip(tmp.iter()).for_each(|(v, m)| *v += part * (m - *v));
    }
}

/// `dst` = `pick` of each pixel and its four neighbours inside the image.
fn cross_step(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, pick: fn(f32, f32) -> f32) {
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let mut v = src[i];
            if r > 0 {
                v = pick(v, src[i - cols]);
            }
            if r + 1 < rows {
                v = pick(v, src[i + cols]);
            }
            if c > 0 {
                v = pick(v, src[i - 1]);
            }
            if c + 1 < cols {
                v = pick(v, src[i + 1]);
            }
            dst[i] = v;
        }
    }
}

/// A random background in 0..1: a grey level mixed, by a random proportion, with cloudy noise
/// (uniform noise blurred at three scales, each at a random weight, stretched to 0..1), as grey
/// paper, shadows and fog have both broad and fine variation.
fn smooth_field([field, octave, ones, tmp]: [&mut [f32]; 4], rows: usize, cols: usize, rng: &mut Rng) {
    let level = rng.uniform();
    let mix = rng.uniform();
    field.fill(0.0);
    for sigma in BACKGROUND_SIGMAS {
        let weight = rng.uniform();
        octave.iter_mut().for_each(|v| *v = rng.uniform());
        gaussian_blur(octave, tmp, rows, cols, sigma, 1.0);
        // The blur counts zeros beyond the edges: dividing by the blurred frame of ones takes
        // out the dark border that would otherwise mark every background.
        ones.fill(1.0);
        gaussian_blur(ones, tmp, rows, cols, sigma, 1.0);
        octave.iter_mut().zip(ones.iter()).for_each(|(o, n)| *o /= n.max(1e-6));
        stretch(octave);
        field.iter_mut().zip(octave.iter()).for_each(|(f, o)| *f += weight * o);
    }
    stretch(field);
    field.iter_mut().for_each(|v| *v = (1.0 - mix) * level + mix * *v);
}

/// Stretches `values` linearly to 0..1 (all 0.5 when they are flat).
fn stretch(values: &mut [f32]) {
    let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = hi - lo;
    values.iter_mut().for_each(|v| *v = if span > 1e-6 { (*v - lo) / span } else { 0.5 });
}

/// Random erasing (Zhong et al., 2017): one rectangle of random area and shape, anywhere,
/// filled with one random grey level.
fn erase(img: &mut [f32], rows: usize, cols: usize, rng: &mut Rng) {
    let area = rng.uniform_range(ERASE_AREA.0, ERASE_AREA.1) * (rows * cols) as f32;
    let aspect = rng.uniform_range(ERASE_ASPECT.0.ln(), ERASE_ASPECT.1.ln()).exp();
    let h = ((area * aspect).sqrt().round() as usize).clamp(1, rows);
    let w = ((area / aspect).sqrt().round() as usize).clamp(1, cols);
    let (top, left) = (rng.below(rows - h + 1), rng.below(cols - w + 1));
    let level = rng.uniform();
    for r in top..top + h {
        img[r * cols + left..r * cols + left + w].fill(level);
    }
}

/// One or two stray lines over the image: polylines of one to three straight pieces, one or
/// two pixels wide, of one grey level each, some dashed.
fn lines(img: &mut [f32], rows: usize, cols: usize, rng: &mut Rng) {
    for _ in 0..1 + rng.below(2) {
        let level = rng.uniform_range(0.5, 1.0);
        let radius = if rng.uniform() < 0.5 { 0.5 } else { 1.0 };
        let dashed = rng.uniform() < 0.3;
        let point =
            |rng: &mut Rng| (rng.uniform_range(0.0, cols as f32 - 1.0), rng.uniform_range(0.0, rows as f32 - 1.0));
        let mut from = point(rng);
        let mut travelled = 0.0f32;
        for _ in 0..1 + rng.below(3) {
            let to = point(rng);
            let length = ((to.0 - from.0).powi(2) + (to.1 - from.1).powi(2)).sqrt();
            let steps = (length * 2.0).ceil().max(1.0) as usize;
            for k in 0..=steps {
                let t = k as f32 / steps as f32;
                // Dashes of two pixels, gaps of two.
                if dashed && ((travelled + t * length) / 2.0) as usize % 2 == 1 {
                    continue;
                }
                stamp(img, rows, cols, from.0 + t * (to.0 - from.0), from.1 + t * (to.1 - from.1), radius, level);
            }
            travelled += length;
            from = to;
        }
    }
}

/// Inks the pixels within `radius` of (x, y) at least to `level`.
fn stamp(img: &mut [f32], rows: usize, cols: usize, x: f32, y: f32, radius: f32, level: f32) {
    let (r0, r1) = ((y - radius).ceil().max(0.0) as usize, ((y + radius).floor() as usize).min(rows - 1));
    let (c0, c1) = ((x - radius).ceil().max(0.0) as usize, ((x + radius).floor() as usize).min(cols - 1));
    for r in r0..=r1 {
        for c in c0..=c1 {
            if (c as f32 - x).powi(2) + (r as f32 - y).powi(2) <= radius * radius + 0.25 {
                let v = &mut img[r * cols + c];
                *v = v.max(level);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical bar 2 pixels wide.
    fn bar() -> Vec<f32> {
        let mut img = vec![0.0; 28 * 28];
        for r in 6..22 {
            img[r * 28 + 13] = 1.0;
            img[r * 28 + 14] = 1.0;
        }
        img
    }

    fn ink(img: &[f32]) -> f32 {
        img.iter().sum()
    }

    #[test]
    fn dilation_thickens_and_erosion_thins_the_stroke() {
        let mut tmp = vec![0.0; 784];
        let (mut bold, mut thin, mut half) = (bar(), bar(), bar());
        stroke(&mut bold, &mut tmp, 28, 28, 1.0);
        stroke(&mut thin, &mut tmp, 28, 28, -1.0);
        stroke(&mut half, &mut tmp, 28, 28, 0.5);
        assert_eq!(ink(&bold), 4.0 * 16.0 + 2.0 * 2.0, "one pixel each side, one above and below each column");
        assert_eq!(ink(&thin), 0.0, "a 2-pixel bar eroded by 1 vanishes");
        assert_eq!(ink(&half), ink(&bar()) + 0.5 * (ink(&bold) - ink(&bar())));
    }

    #[test]
    fn a_full_background_replaces_the_image_and_stays_in_range() {
        let cfg = AugmentConfig { background: 1.0, ..Default::default() };
        for seed in 0..20 {
            let mut img = bar();
            change(&cfg, &mut img, 28, 28, &mut Rng::new(seed));
            assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        let (mut a, mut b) = (bar(), bar());
        change(&cfg, &mut a, 28, 28, &mut Rng::new(3));
        change(&cfg, &mut b, 28, 28, &mut Rng::new(3));
        assert_eq!(a, b, "the same generator draws the same background");
    }

    #[test]
    fn erasing_fills_one_rectangle_with_one_level() {
        let mut img = vec![0.5; 784];
        erase(&mut img, 28, 28, &mut Rng::new(11));
        let changed: Vec<usize> = (0..784).filter(|&i| img[i] != 0.5).collect();
        let level = img[changed[0]];
        assert!(changed.iter().all(|&i| img[i] == level));
        let rows: Vec<usize> = changed.iter().map(|i| i / 28).collect();
        let cols: Vec<usize> = changed.iter().map(|i| i % 28).collect();
        let (h, w) = (
            rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1,
            cols.iter().max().unwrap() - cols.iter().min().unwrap() + 1,
        );
        assert_eq!(h * w, changed.len(), "a filled rectangle");
        let area = changed.len() as f32 / 784.0;
        assert!((0.01..=0.3).contains(&area), "{area}");
    }

    #[test]
    fn the_outline_of_a_wide_bar_is_its_hollow_border() {
        let mut img = vec![0.0; 784];
        for r in 6..22 {
            img[r * 28 + 12..r * 28 + 16].fill(0.8);
        }
        let mut tmp = vec![0.0; 784];
        outline(&mut img, &mut tmp, 28, 28, 0.5);
        let inked = |r: usize, c: usize| img[r * 28 + c] == 1.0;
        assert!(inked(6, 13) && inked(21, 14) && inked(10, 12) && inked(10, 15), "the border, at full ink");
        assert!(!inked(10, 13) && !inked(10, 14), "the inside is hollow");
        assert_eq!(ink(&img), (2 * 16 + 2 * 2) as f32, "two sides of 16, two ends of 2 more");
        let mut faint = vec![0.4; 784];
        outline(&mut faint, &mut tmp, 28, 28, 0.5);
        assert_eq!(ink(&faint), 0.0, "nothing at the level is no outline");
    }

    #[test]
    fn stray_lines_add_ink_and_take_none() {
        let mut img = bar();
        lines(&mut img, 28, 28, &mut Rng::new(2));
        assert!(img.iter().zip(&bar()).all(|(after, before)| after >= before));
        assert!(ink(&img) > ink(&bar()) + 5.0, "a line is at least a few pixels of ink");
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn noise_and_blur_keep_the_image_in_range_and_change_it() {
        let cfg = AugmentConfig {
            blur: 1.5,
            noise: 0.3,
            stroke: 1.0,
            erase: 1.0,
            lines: 1.0,
            outline: 1.0,
            ..Default::default()
        };
        let mut img = bar();
        change(&cfg, &mut img, 28, 28, &mut Rng::new(5));
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(img, bar());
    }
}
