//! The 15 corruptions of MNIST-C (Mu and Gilmer, 2019), at the severities of the paper's
//! benchmark, implemented from their definitions: shot and impulse noise, glass and motion
//! blur, shear, scale, rotate, brightness, translate, stripe, fog, spatter, dotted line,
//! zigzag and Canny edges. Each works on one 28×28 image in 0..1 and draws its randomness
//! from an [`Rng`] derived from (seed, corruption, image), so a corrupted test set is the same
//! bits whatever the thread count.
//!
//! Where the reference leans on a library (scikit-image's warp and Canny, ImageMagick's motion
//! blur) the same operation is written out here: bilinear resampling with zeros outside,
//! Gaussian smoothing truncated at 4σ with edge values repeated, a one-sided Gaussian motion
//! kernel along a random angle, and Canny with σ = 1 and hysteresis at 0.1 and 0.2.

use crate::rng::Rng;
use rayon::prelude::*;

/// The side of the images the corruptions are defined on.
pub const SIDE: usize = 28;
const N: usize = SIDE * SIDE;

/// One corruption of MNIST-C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Corruption {
    ShotNoise,
    ImpulseNoise,
    GlassBlur,
    MotionBlur,
    Shear,
    Scale,
    Rotate,
    Brightness,
    Translate,
    Stripe,
    Fog,
    Spatter,
    DottedLine,
    Zigzag,
    CannyEdges,
}

/// The 15, in the paper's order.
pub const ALL: [Corruption; 15] = [
    Corruption::ShotNoise,
    Corruption::ImpulseNoise,
    Corruption::GlassBlur,
    Corruption::MotionBlur,
    Corruption::Shear,
    Corruption::Scale,
    Corruption::Rotate,
    Corruption::Brightness,
    Corruption::Translate,
    Corruption::Stripe,
    Corruption::Fog,
    Corruption::Spatter,
    Corruption::DottedLine,
    Corruption::Zigzag,
    Corruption::CannyEdges,
];

impl Corruption {
    /// The name MNIST-C gives it (`shot_noise`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::GlassBlur => "glass_blur",
            Corruption::MotionBlur => "motion_blur",
            Corruption::Shear => "shear",
            Corruption::Scale => "scale",
            Corruption::Rotate => "rotate",
            Corruption::Brightness => "brightness",
            Corruption::Translate => "translate",
            Corruption::Stripe => "stripe",
            Corruption::Fog => "fog",
            Corruption::Spatter => "spatter",
            Corruption::DottedLine => "dotted_line",
            Corruption::Zigzag => "zigzag",
            Corruption::CannyEdges => "canny_edges",
        }
    }

    /// The corruption named `name`.
    pub fn by_name(name: &str) -> Option<Corruption> {
        ALL.into_iter().find(|c| c.name() == name)
    }

    /// `img` (28×28, 0..1) corrupted, drawing from `rng`; the result is in 0..1.
    pub fn apply(self, img: &[f32], rng: &mut Rng) -> Vec<f32> {
        assert_eq!(img.len(), N, "MNIST-C's corruptions are defined on 28×28 images");
        let mut x = img.to_vec();
        match self {
            Corruption::ShotNoise => x.iter_mut().for_each(|v| *v = poisson(*v as f64 * 3.0, rng) as f32 / 3.0),
            Corruption::ImpulseNoise => {
                for v in &mut x {
                    if rng.uniform() <= 0.17 {
                        *v = if rng.uniform() <= 0.5 { 1.0 } else { 0.0 };
                    }
                }
            }
            Corruption::GlassBlur => x = glass_blur(&x, rng),
            Corruption::MotionBlur => x = motion_blur(&x, rng.uniform_range(-45.0, 45.0)),
            Corruption::Shear => {
                let s = 0.4 * sign(rng);
                x = warp_centred(&x, [1.0, -s.sin(), 0.0, s.cos()]);
            }
            Corruption::Scale => x = warp_centred(&x, [1.0 / 0.7, 0.0, 0.0, 1.0 / 0.7]),
            Corruption::Rotate => {
                let a = 0.4 * sign(rng);
                x = warp_centred(&x, [a.cos(), -a.sin(), a.sin(), a.cos()]);
            }
            Corruption::Brightness => x.iter_mut().for_each(|v| *v += 0.5),
            Corruption::Translate => {
                let (dx, dy) = (3.0 * sign(rng), 3.0 * sign(rng));
                x = warp(&x, |c, r| (c + dx, r + dy));
            }
            Corruption::Stripe => {
                for r in 0..SIDE {
                    for c in (0..7).chain(21..SIDE) {
                        x[r * SIDE + c] = 1.0 - x[r * SIDE + c];
                    }
                }
            }
            Corruption::Fog => x = fog(&x, rng),
            Corruption::Spatter => x = spatter(&x, rng),
            Corruption::DottedLine => {
                let (r0, r1) = (rng.below(27) as f32, rng.below(27) as f32);
                let mut line = line_from_points(0.0, r0, 27.0, r1);
                // Every other pair of columns is left out, starting with the first.
                for c in 0..SIDE {
                    if (c / 2) % 2 == 0 {
                        (0..SIDE).for_each(|r| line[r * SIDE + c] = 0.0);
                    }
                }
                x.iter_mut().zip(&line).for_each(|(v, l)| *v += l);
            }
            Corruption::Zigzag => x = zigzag(&x, rng),
            Corruption::CannyEdges => x = canny(&x),
        }
        x.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        x
    }
}

/// Every image of `images` (28×28 each, 0..1) corrupted by `c`, in parallel; image `i` as
/// [`corrupt_one`] corrupts it.
pub fn corrupt_all(images: &[f32], c: Corruption, seed: u64) -> Vec<f32> {
    let mut out = vec![0.0; images.len()];
    out.par_chunks_mut(N).zip(images.par_chunks(N)).enumerate().for_each(|(i, (dst, src))| {
        dst.copy_from_slice(&corrupt_one(src, c, seed, i));
    });
    out
}

/// Image number `i` of a set corrupted by `c`: it draws from the generator derived from
/// (`seed`, `c`, `i`), so it is the same alone or in a set, on any number of threads.
pub fn corrupt_one(img: &[f32], c: Corruption, seed: u64, i: usize) -> Vec<f32> {
    let index = ALL.iter().position(|&a| a == c).expect("one of ALL") as u64;
    c.apply(img, &mut Rng::derive(&[seed, 0xC0_44_u64, index, i as u64]))
}

fn sign(rng: &mut Rng) -> f32 {
    if rng.uniform() < 0.5 { -1.0 } else { 1.0 }
}

/// A Poisson draw of mean `lambda` (small here: at most 3), by Knuth's multiplication method.
fn poisson(lambda: f64, rng: &mut Rng) -> u32 {
    let limit = (-lambda).exp();
    let (mut k, mut p) = (0, 1.0f64);
    loop {
        p *= rng.uniform() as f64;
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// Resamples `x`: output pixel (column c, row r) takes the input at `inverse(c, r)`, bilinear,
/// zero outside (scikit-image's `warp`, order 1, constant mode).
fn warp(x: &[f32], inverse: impl Fn(f32, f32) -> (f32, f32)) -> Vec<f32> {
    let mut out = vec![0.0; N];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let (sc, sr) = inverse(c as f32, r as f32);
            out[r * SIDE + c] = crate::data::augment::bilinear(x, SIDE, SIDE, sc, sr);
        }
    }
    out
}

/// [`warp`] by the linear map `[a1, a2, b1, b2]` (input = M·output + t) with t chosen so the
/// centre (13.5, 13.5) stays put, as the reference does.
fn warp_centred(x: &[f32], [a1, a2, b1, b2]: [f32; 4]) -> Vec<f32> {
    let centre = (SIDE as f32 - 1.0) / 2.0;
    let (a3, b3) = (centre * (1.0 - a1 - a2), centre * (1.0 - b1 - b2));
    warp(x, |c, r| (a1 * c + a2 * r + a3, b1 * c + b2 * r + b3))
}

/// Gaussian smoothing, truncated at 4σ, edge values repeated (scikit-image's `gaussian`).
fn gaussian(x: &[f32], sigma: f32) -> Vec<f32> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let clamp = |i: isize| i.clamp(0, SIDE as isize - 1) as usize;
    let mut tmp = vec![0.0; N];
    let mut out = vec![0.0; N];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let s: f32 =
                (-radius..=radius).map(|k| kernel[(k + radius) as usize] * x[r * SIDE + clamp(c as isize + k)]).sum();
            tmp[r * SIDE + c] = s / total;
        }
    }
    for r in 0..SIDE {
        for c in 0..SIDE {
            let s: f32 =
                (-radius..=radius).map(|k| kernel[(k + radius) as usize] * tmp[clamp(r as isize + k) * SIDE + c]).sum();
            out[r * SIDE + c] = s / total;
        }
    }
    out
}

/// Severity 1: blur (σ 0.7), shuffle neighbouring pixels twice, blur again.
fn glass_blur(x: &[f32], rng: &mut Rng) -> Vec<f32> {
    let mut x: Vec<f32> = gaussian(x, 0.7).iter().map(|v| (v * 255.0).clamp(0.0, 255.0).floor() / 255.0).collect();
    for _ in 0..2 {
        for h in (2..SIDE).rev() {
            for w in (2..SIDE).rev() {
                if rng.uniform() < 0.5 {
                    // Offsets in [-1, 0], as numpy's randint(-1, 1).
                    let (dx, dy) = (rng.below(2) as isize - 1, rng.below(2) as isize - 1);
                    let (h2, w2) = ((h as isize + dy) as usize, (w as isize + dx) as usize);
                    x.swap(h * SIDE + w, h2 * SIDE + w2);
                }
            }
        }
    }
    gaussian(&x, 0.7)
}

/// Severity 1 (radius 10, σ 3): each pixel averages the pixels behind it along `angle`
/// degrees with one-sided Gaussian weights, as ImageMagick's motion blur does.
fn motion_blur(x: &[f32], angle: f32) -> Vec<f32> {
    let (radius, sigma) = (10usize, 3.0f32);
    let (dy, dx) = angle.to_radians().sin_cos();
    let taps: Vec<(f32, isize, isize)> = (0..=radius)
        .map(|i| {
            let w = (-((i * i) as f32) / (2.0 * sigma * sigma)).exp();
            (w, (i as f32 * dx).round() as isize, (i as f32 * dy).round() as isize)
        })
        .collect();
    let total: f32 = taps.iter().map(|t| t.0).sum();
    let clamp = |i: isize| i.clamp(0, SIDE as isize - 1) as usize;
    let mut out = vec![0.0; N];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let s: f32 =
                taps.iter().map(|&(w, ox, oy)| w * x[clamp(r as isize + oy) * SIDE + clamp(c as isize + ox)]).sum();
            out[r * SIDE + c] = s / total;
        }
    }
    out
}

/// Severity 5: a plasma fractal (diamond-square, decay 1.4) laid over the digit with weight 3,
/// the result scaled back under the image's own maximum.
fn fog(x: &[f32], rng: &mut Rng) -> Vec<f32> {
    let plasma = plasma_fractal(32, 1.4, rng);
    let max = x.iter().copied().fold(0.0f32, f32::max);
    let mut out = vec![0.0; N];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let v = x[r * SIDE + c] + 3.0 * plasma[r * 32 + c];
            out[r * SIDE + c] = v * max / (max + 3.0);
        }
    }
    out
}

/// A `size`×`size` height map in 0..1 by the diamond-square algorithm (`size` a power of two).
fn plasma_fractal(size: usize, decay: f32, rng: &mut Rng) -> Vec<f32> {
    let mut map = vec![0.0f32; size * size];
    let at = |r: usize, c: usize| (r % size) * size + c % size;
    let (mut step, mut wibble) = (size, 100.0f32);
    while step >= 2 {
        let half = step / 2;
        // Squares: each centre from its four corners.
        for r in (0..size).step_by(step) {
            for c in (0..size).step_by(step) {
                let sum = map[at(r, c)] + map[at(r + step, c)] + map[at(r, c + step)] + map[at(r + step, c + step)];
                map[at(r + half, c + half)] = sum / 4.0 + wibble * rng.uniform_range(-wibble, wibble);
            }
        }
        // Diamonds: each edge midpoint from its two corners and two centres.
        for r in (0..size).step_by(step) {
            for c in (0..size).step_by(step) {
                let (up, left) = ((r + size - half) % size, (c + size - half) % size);
                let across = map[at(r, c)] + map[at(r, c + step)] + map[at(up, c + half)] + map[at(r + half, c + half)];
                map[at(r, c + half)] = across / 4.0 + wibble * rng.uniform_range(-wibble, wibble);
                let down = map[at(r, c)] + map[at(r + step, c)] + map[at(r + half, left)] + map[at(r + half, c + half)];
                map[at(r + half, c)] = down / 4.0 + wibble * rng.uniform_range(-wibble, wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let (lo, hi) = map.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    map.iter().map(|v| (v - lo) / (hi - lo).max(f32::MIN_POSITIVE)).collect()
}

/// Severity 4: blotches of mud (grey 63/255) where smoothed noise crosses a threshold.
fn spatter(x: &[f32], rng: &mut Rng) -> Vec<f32> {
    let noise: Vec<f32> = (0..N).map(|_| 0.65 + 0.3 * rng.normal()).collect();
    let liquid = gaussian(&noise, 1.0);
    let wet: Vec<f32> = liquid.iter().map(|&l| if l > 0.65 { 1.0 } else { 0.0 }).collect();
    let mask: Vec<f32> = gaussian(&wet, 1.5).iter().map(|&m| if m < 0.8 { 0.0 } else { m }).collect();
    x.iter().zip(&mask).map(|(v, m)| v * (1.0 - m) + 63.0 / 255.0 * m).collect()
}

/// A soft line from (column c0, row r0) to (c1, r1), fading over 2.3 pixels, absent outside
/// the columns between its ends.
fn line_from_points(c0: f32, r0: f32, c1: f32, r1: f32) -> Vec<f32> {
    let mut out = vec![0.0; N];
    if c1 == c0 {
        return out;
    }
    let m = (r1 - r0) / (c1 - c0);
    let (left, right) = (c0.floor() as isize, c1.ceil() as isize);
    for r in 0..SIDE {
        for c in 0..SIDE {
            if (c as isize) < left || (c as isize) >= right {
                continue;
            }
            let dist = (r as f32 - (m * (c as f32 - c0) + r0)).abs().min(2.3 - 1e-6);
            out[r * SIDE + c] = ((1.0 - dist / 2.3).ln() + 1.0).clamp(0.0, 1.0);
        }
    }
    out
}

/// A zigzag line (segments 2 pixels long, 2 wide) across the image at a random height and slope.
fn zigzag(x: &[f32], rng: &mut Rng) -> Vec<f32> {
    let (a, b) = (2.0f32, 2.0f32);
    let (c0, c1) = (2.0f32, 25.0f32);
    let r0 = rng.below(27) as f32;
    let r1 = r0 + rng.below(10) as f32 - 5.0;
    let theta = ((r1 - r0) / (c1 - c0)).atan();
    let d = (c1 - c0) / theta.cos();
    let mut points = vec![(0.0f32, 0.0f32)];
    let mut r_i = 0.0;
    for i in 0..=(((d - a) / (2.0 * a)).floor() as i32) {
        let c_i = (2 * i + 1) as f32 * a;
        r_i = if i % 2 == 0 { b } else { -b };
        points.push((c_i, r_i));
    }
    let max_c = 2.0 * a * (d / (2.0 * a)).floor();
    if d != max_c {
        points.push((d, r_i / (2.0 * (d - max_c))));
    }
    let (s, co) = theta.sin_cos();
    let rotated: Vec<(f32, f32)> = points.iter().map(|&(c, r)| (co * c - s * r + c0, s * c + co * r + r0)).collect();
    let mut out = x.to_vec();
    for w in rotated.windows(2) {
        let line = line_from_points(w[0].0, w[0].1, w[1].0, w[1].1);
        out.iter_mut().zip(&line).for_each(|(v, l)| *v = (*v + l).clamp(0.0, 1.0));
    }
    out
}

/// The edges Canny's detector finds (σ 1, hysteresis at 0.1 and 0.2 of the gradient
/// magnitude), as 1 on 0.
fn canny(x: &[f32]) -> Vec<f32> {
    let s = gaussian(x, 1.0);
    let px =
        |r: isize, c: isize| s[r.clamp(0, SIDE as isize - 1) as usize * SIDE + c.clamp(0, SIDE as isize - 1) as usize];
    let (mut gx, mut gy, mut mag) = (vec![0.0f32; N], vec![0.0f32; N], vec![0.0f32; N]);
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            let i = r as usize * SIDE + c as usize;
            gx[i] = (px(r - 1, c + 1) + 2.0 * px(r, c + 1) + px(r + 1, c + 1))
                - (px(r - 1, c - 1) + 2.0 * px(r, c - 1) + px(r + 1, c - 1));
            gy[i] = (px(r + 1, c - 1) + 2.0 * px(r + 1, c) + px(r + 1, c + 1))
                - (px(r - 1, c - 1) + 2.0 * px(r - 1, c) + px(r - 1, c + 1));
            mag[i] = gx[i].hypot(gy[i]);
        }
    }
    // Non-maximum suppression along the gradient's direction (rounded to 45°).
    let mut thin = vec![0.0f32; N];
    for r in 1..SIDE - 1 {
        for c in 1..SIDE - 1 {
            let i = r * SIDE + c;
            let angle = gy[i].atan2(gx[i]).to_degrees().rem_euclid(180.0);
            let (dr, dc): (isize, isize) = match angle {
                a if !(22.5..157.5).contains(&a) => (0, 1),
                a if a < 67.5 => (1, 1),
                a if a < 112.5 => (1, 0),
                _ => (1, -1),
            };
            let n1 = mag[(r as isize + dr) as usize * SIDE + (c as isize + dc) as usize];
            let n2 = mag[(r as isize - dr) as usize * SIDE + (c as isize - dc) as usize];
            if mag[i] >= n1 && mag[i] >= n2 {
                thin[i] = mag[i];
            }
        }
    }
    // Hysteresis: strong edges, and weak ones connected to them.
    let (low, high) = (0.1, 0.2);
    let mut edge = vec![0.0f32; N];
    let mut stack: Vec<usize> = (0..N).filter(|&i| thin[i] >= high).collect();
    stack.iter().for_each(|&i| edge[i] = 1.0);
    while let Some(i) = stack.pop() {
        let (r, c) = ((i / SIDE) as isize, (i % SIDE) as isize);
        for (dr, dc) in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] {
            let (rr, cc) = (r + dr, c + dc);
            if rr < 0 || cc < 0 || rr >= SIDE as isize || cc >= SIDE as isize {
                continue;
            }
            let j = rr as usize * SIDE + cc as usize;
            if edge[j] == 0.0 && thin[j] >= low {
                edge[j] = 1.0;
                stack.push(j);
            }
        }
    }
    edge
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> Vec<f32> {
        // A bar with soft edges: a "1".
        (0..N).map(|i| if (i % SIDE).abs_diff(14) <= 2 && (5..23).contains(&(i / SIDE)) { 0.9 } else { 0.0 }).collect()
    }

    #[test]
    fn every_corruption_is_deterministic_in_range_and_changes_the_image() {
        let img = digit();
        for c in ALL {
            let a = c.apply(&img, &mut Rng::new(7));
            let b = c.apply(&img, &mut Rng::new(7));
            assert_eq!(a, b, "{} is not deterministic", c.name());
            assert_eq!(a.len(), N);
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)), "{} leaves 0..1", c.name());
            assert_ne!(a, img, "{} changed nothing", c.name());
            assert_eq!(Corruption::by_name(c.name()), Some(c));
        }
    }

    #[test]
    fn known_answers_of_the_deterministic_corruptions() {
        let img = digit();
        let stripe = Corruption::Stripe.apply(&img, &mut Rng::new(0));
        assert_eq!(stripe[0], 1.0);
        assert_eq!(stripe[10], 0.0);
        assert_eq!(stripe[5 * SIDE + 14], 0.9);
        let bright = Corruption::Brightness.apply(&img, &mut Rng::new(0));
        assert_eq!((bright[0], bright[5 * SIDE + 14]), (0.5, 1.0));
        // Scaling by 0.7 about the centre keeps the centre and pulls the bar's ends inwards.
        let scaled = Corruption::Scale.apply(&img, &mut Rng::new(0));
        assert!((scaled[14 * SIDE + 14] - 0.9).abs() < 1e-6);
        assert_eq!(scaled[5 * SIDE + 14], 0.0);
        // Canny finds the bar's long edges, not its inside.
        let edges = Corruption::CannyEdges.apply(&img, &mut Rng::new(0));
        assert_eq!(edges[14 * SIDE + 14], 0.0);
        assert!(edges.iter().filter(|&&e| e == 1.0).count() > 20);
    }

    #[test]
    fn corrupt_all_is_the_same_whatever_the_thread_count() {
        let images: Vec<f32> = (0..20).flat_map(|_| digit()).collect();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let a = one.install(|| corrupt_all(&images, Corruption::Fog, 3));
        let b = corrupt_all(&images, Corruption::Fog, 3);
        assert_eq!(a, b);
        assert_ne!(&a[..N], &a[N..2 * N], "each image draws its own fog");
    }
}
