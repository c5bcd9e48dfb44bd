//! Pictures of single digits — scans, photos, drawings — made into the 28×28 inputs a model
//! trained on MNIST expects.
//!
//! A model trained on MNIST has only ever seen digits prepared one way: light ink on a black
//! background, cropped to the ink, the longer side scaled to 20 pixels with anti-aliasing, and
//! placed in a 28×28 frame so that the centre of mass of the ink is at the centre. A picture
//! fed in any other way (dark ink on white paper, a small digit in a large photo, grey paper)
//! is outside everything it learned, and it answers nonsense. [`preprocess`] repeats MNIST's
//! preparation on any picture:
//!
//! 1. **Grey levels.** Luminance in `[0, 1]`; a transparent background (drawing apps) is
//!    composited onto the colour that contrasts with the strokes. Pictures larger than
//!    1000 pixels are first scaled down (anti-aliased), which also averages out sensor noise.
//! 2. **Polarity.** The ink is the minority of the pixels: if the extreme furthest from the
//!    median grey level is darker than it, the ink is dark on light paper and the picture is
//!    inverted, so that ink is bright as in MNIST.
//! 3. **Background.** The paper's level is subtracted: the median for evenly lit pictures; for
//!    uneven light (photos, shadows) a smooth estimate interpolated from the low percentile
//!    of blocks of the picture.
//! 4. **Noise.** An Otsu threshold on the ink-bearing pixels separates ink from paper; grey
//!    levels below a lower threshold (at least half of it, and above the paper's noise) become
//!    0 and the ink is rescaled so its typical level is 1, keeping the soft anti-aliased edge.
//!    Connected specks much smaller than the digit are removed.
//! 5. **Strokes.** A pen stroke that would be thinner than about 1.4 pixels at MNIST's scale
//!    (a thin pen on a large picture) is thickened to MNIST's typical stroke width first,
//!    since it would otherwise fade to a faint trace when scaled down.
//! 6. **Crop and scale.** The picture is cropped to the ink and scaled so the longer side is
//!    20 pixels, keeping the aspect ratio (triangle filter, widened when shrinking, so every
//!    source pixel contributes: anti-aliased as MNIST's digits are).
//! 7. **Centre.** The 20-pixel box is placed in the 28×28 frame so the intensity centre of mass
//!    lands on pixel (14, 14) — where it lies in MNIST — as far as the frame allows.
//!
//! The result is row-major, in `[0, 1]`, ink bright: exactly like [`super::Dataset::images`].
//! [`load_picture`] reads a file (PNG, JPEG, BMP, GIF, WebP, recognised by content) and
//! preprocesses it; its errors name the file and the problem.

use super::MNIST_SIDE;
use crate::Error;
use image::{DynamicImage, ImageBuffer, ImageReader, Luma, imageops::FilterType};
use std::collections::VecDeque;
use std::path::Path;

/// File extensions (lower case) of the picture formats read: PNG, JPEG, BMP, GIF and WebP.
pub const EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// The longer side of the ink's box in the output, as in MNIST.
pub const INK_BOX: usize = 20;

/// Pixels in a preprocessed picture (28 × 28).
pub const PICTURE_PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// Pictures with a longer side above this are scaled down before anything else: the output is
/// 20 pixels, so more only costs time.
const MAX_WORK_SIDE: usize = 1000;

/// Least difference in grey level (of 1) between ink and paper for a picture to hold a digit.
pub const MIN_CONTRAST: f32 = 0.1;

/// Stroke width relative to the ink box's longer side below which strokes are thickened, and
/// the width they are thickened to (MNIST's median is 2.85 px of 20, 0.14).
const THIN_STROKE: f32 = 0.07;
const TARGET_STROKE: f32 = 0.12;

/// Why a decoded picture cannot be made into a digit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PictureError {
    /// The picture has no pixels.
    #[error("the image has no pixels")]
    Empty,
    /// Nothing stands out from the background.
    #[error(
        "no ink found: the image is blank or its contrast is too low (ink and background differ by \
         {contrast:.3} of the grey range, at least {MIN_CONTRAST} is needed)"
    )]
    NoInk { contrast: f32 },
}

/// Whether `path`'s extension is one of [`EXTENSIONS`] (any case).
pub fn has_picture_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The most pixels a picture may have (e.g. 5000 × 5000; a 24-megapixel photo fits). Checked
/// from the header, before anything is decoded.
pub const MAX_PICTURE_PIXELS: u64 = 25_000_000;

/// Bytes of memory a picture may take per pixel while it is read and prepared: the decoded
/// image (up to 8, 16-bit RGBA), its grey levels with alpha (8) and the scaled-down copy (4),
/// with room to spare.
const BYTES_PER_PIXEL: u64 = 24;

/// Memory that the pictures being decoded at one time may take in all (pictures are prepared
/// in parallel): one picture of [`MAX_PICTURE_PIXELS`] fits alone, small ones many at a time.
pub const PICTURE_MEMORY_BUDGET: u64 = MAX_PICTURE_PIXELS * BYTES_PER_PIXEL;

/// The memory reserved by the pictures being decoded now, shared by every thread.
static IN_USE: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
static RELEASED: std::sync::Condvar = std::sync::Condvar::new();

/// A share of [`PICTURE_MEMORY_BUDGET`], given back when dropped.
struct Reservation(u64);

impl Reservation {
    /// Waits until `bytes` (at most the budget) fit beside what other threads hold.
    fn take(bytes: u64) -> Reservation {
        let bytes = bytes.min(PICTURE_MEMORY_BUDGET);
        let mut used = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        while *used + bytes > PICTURE_MEMORY_BUDGET {
            used = RELEASED.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += bytes;
        Reservation(bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        *used -= self.0;
        RELEASED.notify_all();
    }
}

/// Decodes the picture file at `path`; the format is recognised from the content (the
/// extension only when the content says nothing). The size in the header is checked against
/// [`MAX_PICTURE_PIXELS`] before decoding, and decoding waits for its share of
/// [`PICTURE_MEMORY_BUDGET`]. A FIFO or other non-regular file is refused unopened.
pub fn decode_picture(path: &Path) -> Result<DynamicImage, Error> {
    decode_within_budget(path).map(|(img, _)| img)
}

fn decode_within_budget(path: &Path) -> Result<(DynamicImage, Reservation), Error> {
    let file = super::open_regular(path)?;
    let mut reader = ImageReader::new(std::io::BufReader::new(file));
    if let Ok(format) = image::ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    decode_reader(reader, path)
}

/// Decodes a picture held in memory (an upload), with the same checks as a file: the format
/// from the content, the size from the header against [`MAX_PICTURE_PIXELS`] before anything
/// is decoded (a 100000×100000 PNG of a few hundred bytes is refused at once), and the
/// decoding within [`PICTURE_MEMORY_BUDGET`]. `name` is only used in error messages.
pub fn decode_picture_bytes(bytes: &[u8], name: &Path) -> Result<DynamicImage, Error> {
    decode_reader(ImageReader::new(std::io::Cursor::new(bytes)), name).map(|(img, _)| img)
}

/// [`decode_picture_bytes`], then [`preprocess`]: 784 values in `[0, 1]`, as [`load_picture`]
/// gives for a file. Errors name `name`.
pub fn load_picture_bytes(bytes: &[u8], name: &Path) -> Result<Vec<f32>, Error> {
    let (img, _reservation) = decode_reader(ImageReader::new(std::io::Cursor::new(bytes)), name)?;
    preprocess(&img).map_err(|e| Error::Format { path: name.to_path_buf(), message: e.to_string() })
}

/// The decoding shared by files and bytes in memory; `path` is only used in messages.
fn decode_reader<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<(DynamicImage, Reservation), Error> {
    let mut reader = reader.with_guessed_format().map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_PIXELS as u32);
    limits.max_image_height = Some(MAX_PICTURE_PIXELS as u32);
    limits.max_alloc = Some(MAX_PICTURE_PIXELS * 8);
    reader.limits(limits);
    let bad = |e: image::ImageError| Error::Format {
        path: path.to_path_buf(),
        message: match e {
            image::ImageError::Unsupported(u) => {
                format!("not a supported image ({u}); expected PNG, JPEG, BMP, GIF or WebP")
            }
            image::ImageError::Limits(l) => format!("refused: {l}"),
            e => format!("cannot decode the image: {e}"),
        },
    };
    let decoder = reader.into_decoder().map_err(bad)?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    let pixels = u64::from(w) * u64::from(h);
    if pixels > MAX_PICTURE_PIXELS {
        let message = format!("refused: the image is {w}x{h}, more than {MAX_PICTURE_PIXELS} pixels");
        return Err(Error::format(path, message));
    }
    let reservation = Reservation::take(pixels * BYTES_PER_PIXEL);
    Ok((DynamicImage::from_decoder(decoder).map_err(bad)?, reservation))
}

/// Reads the picture at `path` and preprocesses it ([`preprocess`]): 784 values in `[0, 1]`.
///
/// Errors name the file: it cannot be read or decoded ([`Error::Io`], [`Error::Format`]),
/// or it holds no ink ([`Error::Format`] with [`PictureError`]'s message).
pub fn load_picture(path: &Path) -> Result<Vec<f32>, Error> {
    // The reservation is held until the picture is prepared (the work copies are the memory).
    let (img, _reservation) = decode_within_budget(path)?;
    preprocess(&img).map_err(|e| Error::Format { path: path.to_path_buf(), message: e.to_string() })
}

/// Preprocesses a decoded picture as MNIST's digits were prepared (see the module docs):
/// 784 values, row-major 28×28, in `[0, 1]`, ink bright.
pub fn preprocess(img: &DynamicImage) -> Result<Vec<f32>, PictureError> {
    let (w, h, grey) = luminance(img);
    preprocess_luma(w, h, &grey)
}

/// The grey levels of a picture, row-major in `[0, 1]` (`1` = white), with transparency
/// composited onto a background that contrasts with the opaque pixels: white behind dark
/// strokes, black behind light ones (a drawing app's strokes on a transparent canvas).
pub fn luminance(img: &DynamicImage) -> (usize, usize, Vec<f32>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if !img.color().has_alpha() {
        return (w, h, img.to_luma32f().into_raw());
    }
    let la = img.to_luma_alpha32f().into_raw();
    let (mut sum, mut weight) = (0.0f64, 0.0f64);
    for p in la.chunks_exact(2) {
        sum += (p[0] * p[1]) as f64;
        weight += p[1] as f64;
    }
    let strokes = if weight > 0.0 { sum / weight } else { 0.0 };
    let back = if strokes < 0.5 { 1.0 } else { 0.0 };
    let grey = la.chunks_exact(2).map(|p| p[0].clamp(0.0, 1.0) * p[1] + back * (1.0 - p[1])).collect();
    (w, h, grey)
}

/// [`preprocess`] on grey levels: `grey` is `width × height`, row-major, `0` black, `1` white.
pub fn preprocess_luma(width: usize, height: usize, grey: &[f32]) -> Result<Vec<f32>, PictureError> {
    if width == 0 || height == 0 || grey.len() != width * height {
        return Err(PictureError::Empty);
    }
    let (w, h, mut g) = shrink_to_work_size(width, height, grey);

    // Polarity: the ink is the extreme furthest from the median (the paper). A 3×3 mean before
    // taking extremes keeps single noisy pixels from deciding; extremes rather than
    // percentiles because a small digit in a large picture may be well under 1% of it.
    let blurred = box3(w, h, &g);
    let (lo, hi) = blurred.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let median = quantile(&mut g.clone(), 0.5);
    if median - lo > hi - median {
        g.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    let (median, contrast) =
        if median - lo > hi - median { (1.0 - median, median - lo) } else { (median, hi - median) };
    if contrast.is_nan() || contrast < MIN_CONTRAST {
        return Err(PictureError::NoInk { contrast: contrast.max(0.0) });
    }

    // Background: flat unless the paper's level varies by a good part of the contrast.
    let background = block_background(w, h, &g);
    let (bmin, bmax) = background.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let d: Vec<f32> = if bmax - bmin > 0.2 * contrast {
        g.iter().zip(&background).map(|(v, b)| (v - b).max(0.0)).collect()
    } else {
        g.iter().map(|v| (v - median).max(0.0)).collect()
    };
    let peak = box3(w, h, &d).into_iter().fold(0.0f32, f32::max);
    if peak.is_nan() || peak < MIN_CONTRAST {
        return Err(PictureError::NoInk { contrast: peak.max(0.0) });
    }

    // Ink threshold: Otsu among the pixels that are not plain paper, kept in a sane range.
    let candidates: Vec<f32> = d.iter().copied().filter(|&v| v > 0.15 * peak).collect();
    let t = otsu(&candidates, peak).clamp(0.25 * peak, 0.6 * peak);
    let mut paper: Vec<f32> = d.iter().copied().filter(|&v| v < 0.5 * t).collect();
    let paper_noise = if paper.is_empty() { 0.0 } else { quantile(&mut paper, 0.95) };
    let floor = (0.5 * t).max(paper_noise).min(0.8 * t);
    let mut strong: Vec<f32> = d.iter().copied().filter(|&v| v > t).collect();
    let ink = quantile(&mut strong, 0.5).max(t + 1e-6);
    let mut v: Vec<f32> = d.iter().map(|&x| if x > floor { (x / ink).min(1.0) } else { 0.0 }).collect();
    let is_strong: Vec<bool> = d.iter().map(|&x| x > t).collect();

    remove_specks(w, h, &mut v, &is_strong);
    let Some(mut bbox) = bounding_box(w, h, &v) else {
        return Err(PictureError::NoInk { contrast: peak });
    };

    // Thin strokes (a fine pen on a large picture) would fade when scaled to 20 pixels.
    let longer = (bbox.2 - bbox.0).max(bbox.3 - bbox.1) as f32;
    let width_px = stroke_width(w, h, &is_strong, &v);
    if width_px < THIN_STROKE * longer {
        let radius = ((TARGET_STROKE * longer - width_px) / 2.0).round().max(1.0) as usize;
        v = dilate(w, h, &v, radius);
        bbox = bounding_box(w, h, &v).expect("dilation keeps the ink");
    }

    Ok(frame(w, &v, bbox))
}

/// Scales a picture down (anti-aliased) so its longer side is at most [`MAX_WORK_SIDE`].
fn shrink_to_work_size(w: usize, h: usize, grey: &[f32]) -> (usize, usize, Vec<f32>) {
    let longer = w.max(h);
    if longer <= MAX_WORK_SIDE {
        return (w, h, grey.to_vec());
    }
    let scale = MAX_WORK_SIDE as f64 / longer as f64;
    let (nw, nh) = (((w as f64 * scale).round() as usize).max(1), ((h as f64 * scale).round() as usize).max(1));
    (nw, nh, resize(w, h, grey, nw, nh))
}

/// Resizes grey levels with a triangle filter (bilinear when enlarging; when shrinking the
/// `image` crate widens it to the scale, averaging every source pixel: anti-aliased).
fn resize(w: usize, h: usize, grey: &[f32], nw: usize, nh: usize) -> Vec<f32> {
    resize_with(w, h, grey, nw, nh, FilterType::Triangle)
}

fn resize_with(w: usize, h: usize, grey: &[f32], nw: usize, nh: usize, filter: FilterType) -> Vec<f32> {
    let img: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(w as u32, h as u32, grey.to_vec()).expect("buffer matches its size");
    image::imageops::resize(&img, nw as u32, nh as u32, filter).into_raw()
}

/// The mean of each pixel's 3×3 neighbourhood (clipped at the edges).
fn box3(w: usize, h: usize, g: &[f32]) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(1), (x + 1).min(w - 1));
            rows[y * w + x] = g[y * w + a..=y * w + b].iter().sum::<f32>() / (b - a + 1) as f32;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            out[y * w + x] = (a..=b).map(|yy| rows[yy * w + x]).sum::<f32>() / (b - a + 1) as f32;
        }
    }
    out
}

/// The `q` quantile (`0..=1`) of `values` (reordered in place); 0 for an empty slice.
fn quantile(values: &mut [f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// The paper's level everywhere, for ink that is bright: the 10th percentile of each of 6×6
/// blocks (a block is rarely 90% ink), interpolated bilinearly between block centres.
fn block_background(w: usize, h: usize, g: &[f32]) -> Vec<f32> {
    let n = 6usize;
    let (nx, ny) = (n.min(w), n.min(h));
    let mut level = vec![0.0f32; nx * ny];
    let mut cell = Vec::new();
    for by in 0..ny {
        for bx in 0..nx {
            cell.clear();
            for y in by * h / ny..(by + 1) * h / ny {
                cell.extend_from_slice(&g[y * w + bx * w / nx..y * w + (bx + 1) * w / nx]);
            }
            level[by * nx + bx] = quantile(&mut cell, 0.1);
        }
    }
    let coord = |p: usize, size: usize, cells: usize| {
        let f = ((p as f32 + 0.5) * cells as f32 / size as f32 - 0.5).clamp(0.0, (cells - 1) as f32);
        let i = (f as usize).min(cells.saturating_sub(2));
        (i, (f - i as f32).min(1.0))
    };
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (iy, fy) = coord(y, h, ny);
        let iy1 = (iy + 1).min(ny - 1);
        for x in 0..w {
            let (ix, fx) = coord(x, w, nx);
            let ix1 = (ix + 1).min(nx - 1);
            let top = level[iy * nx + ix] * (1.0 - fx) + level[iy * nx + ix1] * fx;
            let bottom = level[iy1 * nx + ix] * (1.0 - fx) + level[iy1 * nx + ix1] * fx;
            out[y * w + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    out
}

/// Otsu's threshold of `values` in `[0, max]`: the level that best separates two classes
/// (maximum between-class variance), on a 256-bin histogram.
fn otsu(values: &[f32], max: f32) -> f32 {
    if values.is_empty() || max <= 0.0 {
        return 0.5 * max;
    }
    let bins = 256usize;
    let mut hist = vec![0u64; bins];
    for &v in values {
        hist[((v / max * (bins - 1) as f32).round() as usize).min(bins - 1)] += 1;
    }
    let total = values.len() as f64;
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0, mut best, mut best_i) = (0.0f64, 0.0f64, -1.0f64, bins / 2);
    for (i, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += i as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_i = i;
        }
    }
    (best_i as f32 + 0.5) / (bins - 1) as f32 * max
}

/// Zeroes the connected pieces of ink (8-neighbours) that are specks: pieces without a pixel
/// above the ink threshold, or holding less than 1/25 of the largest piece's ink.
fn remove_specks(w: usize, h: usize, v: &mut [f32], strong: &[bool]) {
    let mut label = vec![u32::MAX; w * h];
    let mut pieces: Vec<(f32, bool)> = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if v[start] <= 0.0 || label[start] != u32::MAX {
            continue;
        }
        let id = pieces.len() as u32;
        let (mut mass, mut has_strong) = (0.0f32, false);
        label[start] = id;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            mass += v[p];
            has_strong |= strong[p];
            let (x, y) = (p % w, p / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let q = ny * w + nx;
                    if v[q] > 0.0 && label[q] == u32::MAX {
                        label[q] = id;
                        queue.push_back(q);
                    }
                }
            }
        }
        pieces.push((mass, has_strong));
    }
    let largest = pieces.iter().filter(|p| p.1).map(|p| p.0).fold(0.0f32, f32::max);
    for (p, l) in v.iter_mut().zip(&label) {
        if *l != u32::MAX {
            let (mass, has_strong) = pieces[*l as usize];
            if !has_strong || mass < largest / 25.0 {
                *p = 0.0;
            }
        }
    }
}

/// The smallest box `(x0, y0, x1, y1)` (exclusive ends) holding every non-zero pixel.
fn bounding_box(w: usize, h: usize, v: &[f32]) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for y in 0..h {
        for x in 0..w {
            if v[y * w + x] > 0.0 {
                b = Some(match b {
                    None => (x, y, x + 1, y + 1),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
                });
            }
        }
    }
    b
}

/// The typical width of the strokes in pixels: twice the area of the strong ink over its
/// boundary (a stroke of width `s` and length `L` has area `sL` and about `2L` boundary
/// pixels). Only ink that survived [`remove_specks`] counts.
fn stroke_width(w: usize, h: usize, strong: &[bool], v: &[f32]) -> f32 {
    let ink = |x: usize, y: usize| strong[y * w + x] && v[y * w + x] > 0.0;
    let (mut area, mut boundary) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !ink(x, y) {
                continue;
            }
            area += 1;
            let inner = x > 0
                && x + 1 < w
                && y > 0
                && y + 1 < h
                && ink(x - 1, y)
                && ink(x + 1, y)
                && ink(x, y - 1)
                && ink(x, y + 1);
            if !inner {
                boundary += 1;
            }
        }
    }
    if boundary == 0 { 0.0 } else { 2.0 * area as f32 / boundary as f32 }
}

/// Grey dilation: each pixel becomes the maximum of its `(2r+1)²` square neighbourhood.
fn dilate(w: usize, h: usize, v: &[f32], r: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let row = &v[y * w..(y + 1) * w];
            rows[y * w + x] = row[x.saturating_sub(r)..=(x + r).min(w - 1)].iter().copied().fold(0.0, f32::max);
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (y.saturating_sub(r)..=(y + r).min(h - 1)).map(|yy| rows[yy * w + x]).fold(0.0, f32::max);
        }
    }
    out
}

/// Crops `v` (`w` wide) to `bbox`, scales the longer side to [`INK_BOX`] keeping the aspect
/// ratio, and places it in the 28×28 frame with its centre of mass on pixel (14, 14).
fn frame(w: usize, v: &[f32], (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Vec<f32> {
    let (cw, ch) = (x1 - x0, y1 - y0);
    let crop: Vec<f32> = (y0..y1).flat_map(|y| v[y * w + x0..y * w + x1].iter().copied()).collect();
    let longer = cw.max(ch);
    let side = |s: usize| ((s * INK_BOX) as f64 / longer as f64).round().clamp(1.0, INK_BOX as f64) as usize;
    let (tw, th) = (side(cw), side(ch));
    let mut small = resize_with(cw, ch, &crop, tw, th, FilterType::CatmullRom);
    // Ink at its typical level is 1 in MNIST; scaling may have averaged the peaks down.
    let max = small.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        small.iter_mut().for_each(|p| *p = (*p / max).clamp(0.0, 1.0));
    }
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..th {
        for x in 0..tw {
            let p = small[y * tw + x] as f64;
            mass += p;
            mx += p * x as f64;
            my += p * y as f64;
        }
    }
    let centre = (MNIST_SIDE / 2) as f64;
    let offset = |m: f64, size: usize| -> usize {
        let c = if mass > 0.0 { m / mass } else { (size as f64 - 1.0) / 2.0 };
        (centre - c).round().clamp(0.0, (MNIST_SIDE - size) as f64) as usize
    };
    let (dx, dy) = (offset(mx, tw), offset(my, th));
    let mut out = vec![0.0f32; PICTURE_PIXELS];
    for y in 0..th {
        out[(y + dy) * MNIST_SIDE + dx..(y + dy) * MNIST_SIDE + dx + tw].copy_from_slice(&small[y * tw..(y + 1) * tw]);
    }
    out
}

/// A preprocessed picture (or any `side × side` image in `[0, 1]`) as 8-bit grey PNG bytes.
pub fn encode_png(pixels: &[f32], side: usize) -> Vec<u8> {
    let bytes: Vec<u8> = pixels.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let img = image::GrayImage::from_raw(side as u32, side as u32, bytes).expect("pixels match the side");
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("PNG encoding into memory cannot fail");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_recognised_in_any_case() {
        for p in ["a.png", "b.JPG", "c.jpeg", "d.Bmp", "e.gif", "f.webp"] {
            assert!(has_picture_extension(Path::new(p)), "{p}");
        }
        for p in ["a.txt", "b", "c.png.bak", ".png"] {
            assert!(!has_picture_extension(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn otsu_splits_two_groups_and_quantile_picks_order_statistics() {
        let mut v: Vec<f32> = (0..100).map(|i| if i < 70 { 0.2 } else { 0.8 }).collect();
        let t = otsu(&v, 1.0);
        assert!(t > 0.2 && t < 0.8, "{t}");
        assert_eq!(quantile(&mut v, 0.5), 0.2);
        assert_eq!(quantile(&mut v, 1.0), 0.8);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn dilation_grows_a_point_to_a_square() {
        let mut v = vec![0.0; 49];
        v[24] = 1.0;
        let d = dilate(7, 7, &v, 2);
        assert_eq!(d.iter().filter(|&&p| p == 1.0).count(), 25);
        assert_eq!(bounding_box(7, 7, &d), Some((1, 1, 6, 6)));
    }

    #[test]
    fn encoded_png_round_trips() {
        let v: Vec<f32> = (0..PICTURE_PIXELS).map(|i| (i % 256) as f32 / 255.0).collect();
        let img = image::load_from_memory(&encode_png(&v, MNIST_SIDE)).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (28, 28));
        assert!(img.pixels().zip(&v).all(|(p, &x)| p[0] == (x * 255.0).round() as u8));
    }
}
