//! Makes the example pictures in `examples/digits/`: digits as a person would hand them to
//! `digits predict` — pen on unevenly lit paper, a marker off-centre, strokes from a drawing
//! app on a transparent canvas, and a real MNIST test digit printed dark on grey paper.
//!
//!     cargo run --release --example make_digit_pictures
//!
//! Deterministic: the same files every time.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use std::f32::consts::PI;
use std::path::Path;

/// A stroke: points in unit coordinates (x right, y down) of the picture's square of `side`.
type Stroke = Vec<(f32, f32)>;

fn arc(cx: f32, cy: f32, r: f32, from_deg: f32, to_deg: f32) -> Stroke {
    (0..=40)
        .map(|i| {
            let a = (from_deg + (to_deg - from_deg) * i as f32 / 40.0) * PI / 180.0;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect()
}

/// How much of pixel `(x, y)` (centre at +0.5) a pen of radius `r` covers along the strokes,
/// with a slight wobble as a hand makes.
fn coverage(strokes: &[Stroke], side: f32, ox: f32, oy: f32, r: f32, x: f32, y: f32) -> f32 {
    let mut best = f32::INFINITY;
    for s in strokes {
        for w in s.windows(2) {
            let wob = |p: (f32, f32)| (ox + p.0 * side + (p.1 * 9.0).sin() * side * 0.01, oy + p.1 * side);
            let (a, b) = (wob(w[0]), wob(w[1]));
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy).max(1e-6)).clamp(0.0, 1.0);
            best = best.min(((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt());
        }
    }
    (r + 0.5 - best).clamp(0.0, 1.0)
}

/// A small deterministic noise source.
fn noise(i: u32) -> f32 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits");
    std::fs::create_dir_all(&dir)?;

    // A 3 in blue ballpoint on paper lit from the top left, photographed: JPEG.
    let three = vec![arc(0.5, 0.3, 0.19, -160.0, 90.0), arc(0.5, 0.69, 0.21, -90.0, 165.0)];
    let (w, h) = (360u32, 300u32);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let light = 0.97 - 0.35 * ((fx / w as f32) * 0.6 + (fy / h as f32) * 0.4);
        let ink = coverage(&three, 210.0, 90.0, 40.0, 2.2, fx, fy);
        let n = noise(y * w + x) * 0.03;
        let paper = [0.96 * light + n, 0.95 * light + n, 0.90 * light + n];
        let pen = [0.12, 0.16, 0.45];
        let c = |k: usize| ((paper[k] * (1.0 - ink) + pen[k] * light * ink) * 255.0).round().clamp(0.0, 255.0) as u8;
        Rgb([c(0), c(1), c(2)])
    });
    JpegEncoder::new_with_quality(std::fs::File::create(dir.join("three-pen-photo.jpg"))?, 80).encode_image(&img)?;

    // A 7 in thick black marker, off-centre on white: PNG.
    let seven = vec![vec![(0.2, 0.18), (0.78, 0.16), (0.62, 0.45), (0.45, 0.88)], vec![(0.42, 0.5), (0.72, 0.5)]];
    let img = GrayImage::from_fn(256, 256, |x, y| {
        let ink = coverage(&seven, 130.0, 100.0, 20.0, 8.0, x as f32 + 0.5, y as f32 + 0.5);
        Luma([(250.0 - 235.0 * ink).round() as u8])
    });
    img.save(dir.join("seven-marker.png"))?;

    // A 4 drawn in a drawing app: black strokes on a transparent canvas: PNG with alpha.
    let four = vec![vec![(0.55, 0.12), (0.18, 0.62), (0.82, 0.62)], vec![(0.62, 0.35), (0.6, 0.9)]];
    let img = RgbaImage::from_fn(300, 300, |x, y| {
        let ink = coverage(&four, 260.0, 20.0, 20.0, 5.0, x as f32 + 0.5, y as f32 + 0.5);
        Rgba([0, 0, 0, (ink * 255.0).round() as u8])
    });
    img.save(dir.join("four-drawing-app.png"))?;

    // MNIST test digit 1 (a 2), enlarged and printed dark on grey paper: PNG.
    let test =
        digits::data::load_mnist(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"), digits::data::Split::Test)?;
    let v = test.image(1);
    let small = GrayImage::from_fn(28, 28, |x, y| Luma([(v[(y * 28 + x) as usize] * 255.0).round() as u8]));
    let big = imageops::resize(&small, 112, 112, FilterType::Triangle);
    let img = GrayImage::from_fn(160, 140, |x, y| {
        let paper = 205.0 + 20.0 * x as f32 / 160.0 + noise(y * 160 + x + 7) * 12.0;
        let ink = if (30..142).contains(&x) && (14..126).contains(&y) {
            big.get_pixel(x - 30, y - 14)[0] as f32 / 255.0
        } else {
            0.0
        };
        Luma([(paper * (1.0 - ink) + 45.0 * ink).round().clamp(0.0, 255.0) as u8])
    });
    img.save(dir.join("two-mnist-on-grey-paper.png"))?;

    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        println!("{} {} bytes", e.path().display(), e.metadata()?.len());
    }
    Ok(())
}
