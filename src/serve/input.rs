//! Request bodies made into prepared 28×28 images: pictures (raw or in a multipart form),
//! JSON pixel arrays and Kaggle CSV text. Everything is checked against explicit limits
//! before it sizes anything: the body against `--max-body` while it is read, a picture's
//! size from its header before it is decoded, the number of images and parts against
//! [`MAX_BATCH_IMAGES`] and [`MAX_PARTS`], every pixel for being a finite grey level.

use super::config::{MAX_BATCH_IMAGES, MAX_PARTS};
use super::error::ApiError;
use crate::data::picture::{self, MAX_PICTURE_PIXELS, PICTURE_PIXELS};
use crate::data::{MNIST_SIDE, csv};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, request::Parts};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::path::Path;

/// What a body holds, from its `Content-Type` (a picture when it names nothing else).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Json,
    Multipart,
    Csv,
    Picture,
}

/// The kind of the request's body.
pub fn kind(parts: &Parts) -> Kind {
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match ct.as_str() {
        "application/json" => Kind::Json,
        "multipart/form-data" => Kind::Multipart,
        "text/csv" | "application/csv" => Kind::Csv,
        _ => Kind::Picture,
    }
}

/// Bytes of a refused body that are still read, and thrown away, before the 413 is sent: a
/// client that is still sending (curl, most libraries) then reads the answer instead of failing
/// on a connection closed under it. Past this, or `--timeout`, the connection is just closed.
pub const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads the whole body, refusing it (413) once it passes `max` bytes: at once when its
/// `Content-Length` says so, else as soon as that many bytes have arrived. Nothing past `max`
/// is kept.
pub async fn read_body(request: Request, max: usize) -> Result<(Parts, Bytes), ApiError> {
    let (parts, mut body) = request.into_parts();
    let too_large = || ApiError::too_large(format!("the request body is larger than {max} bytes (--max-body)"));
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(max as u64) as usize));
    let mut seen = 0u64;
    let refused = declared.is_some_and(|n| n > max as u64);
    if refused && declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len() as u64;
        if seen > DRAIN_LIMIT {
            break;
        }
        if !refused && seen <= max as u64 {
            kept.extend_from_slice(&data);
        }
    }
    if refused || seen > max as u64 {
        return Err(too_large());
    }
    Ok((parts, Bytes::from(kept)))
}

/// A picture's bytes prepared as MNIST's digits were (blocking: run it off the async threads).
/// 415 when it is no picture at all, 413 when its header declares more than
/// [`MAX_PICTURE_PIXELS`] (nothing is decoded then), 422 when it cannot be decoded or holds no ink.
pub fn picture(bytes: &[u8], name: &str) -> Result<Vec<f32>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::unsupported(
            "the body is empty: send a picture (PNG, JPEG, BMP, GIF or WebP), a multipart form with one, \
             or JSON {\"pixels\": [784 numbers]} with Content-Type: application/json",
        ));
    }
    if image::guess_format(bytes).is_err() {
        return Err(ApiError::unsupported(format!(
            "{name} is not a picture (PNG, JPEG, BMP, GIF or WebP); JSON needs Content-Type: application/json, \
             CSV Content-Type: text/csv"
        )));
    }
    let header = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format();
    let (w, h) = header
        .map_err(|e| e.to_string())
        .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()))
        .map_err(|e| ApiError::unprocessable(format!("{name}: cannot decode the image: {e}")))?;
    if u64::from(w) * u64::from(h) > MAX_PICTURE_PIXELS {
        return Err(ApiError::too_large(format!(
            "{name}: the image is {w}x{h}, more than {MAX_PICTURE_PIXELS} pixels; refused before decoding"
        )));
    }
    picture::load_picture_bytes(bytes, Path::new(name)).map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// The pictures of a multipart form, at most `max` (each part with a file name, or named
/// `file` or `image`, is a picture; other fields are ignored).
pub async fn multipart_pictures(parts: Parts, body: Bytes, max: usize) -> Result<Vec<(String, Bytes)>, ApiError> {
    let request = Request::from_parts(parts, Body::from(body));
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::bad_request(format!("bad multipart form: {e}"));
    let mut form = Multipart::from_request(request, &()).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut pictures = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.file_name().map(str::to_owned);
        if name.is_none() && !matches!(field.name(), Some("file" | "image")) {
            continue;
        }
        if pictures.len() == max.min(MAX_PARTS) {
            return Err(ApiError::too_large(format!("more than {} pictures in one form", max.min(MAX_PARTS))));
        }
        let name = name.unwrap_or_else(|| format!("part {}", pictures.len() + 1));
        pictures.push((name, field.bytes().await.map_err(bad)?));
    }
    if pictures.is_empty() {
        return Err(ApiError::unprocessable("the form holds no picture (a file field named `file`)"));
    }
    Ok(pictures)
}

/// `POST /api/predict`'s JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelsBody {
    /// 784 grey levels, row-major, in 0..1 or 0..255.
    pub pixels: Vec<f64>,
    /// Prepare them as a picture first (a 28×28 drawing that is not centred or is dark on
    /// light), rather than take them as an MNIST image (light on black, centred).
    #[serde(default)]
    pub prepare: bool,
    /// Include the prepared image in the answer.
    #[serde(default)]
    pub image: bool,
}

/// `POST /api/predict/batch`'s JSON body: `{"images": [[784 numbers], ...]}` or the bare array.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum BatchBody {
    Wrapped { images: Vec<Vec<f64>> },
    Bare(Vec<Vec<f64>>),
}

/// Parses JSON, telling NaN and Infinity (which some JSON writers emit, and JSON forbids) apart
/// from other syntax errors.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let text = String::from_utf8_lossy(bytes);
        if e.is_syntax() && ["NaN", "Infinity"].iter().any(|w| text.contains(w)) {
            ApiError::unprocessable(format!(
                "invalid JSON ({e}): NaN and Infinity are not numbers; pixels must be finite"
            ))
        } else if e.is_data() {
            ApiError::unprocessable(format!("unexpected JSON: {e}"))
        } else {
            ApiError::bad_request(format!("invalid JSON: {e}"))
        }
    })
}

/// One image's grey levels checked and scaled to 0..1: exactly 784 finite values in 0..255,
/// read as 0..1 when none is above 1. `what` names the image in messages.
pub fn pixels(values: &[f64], what: &str) -> Result<Vec<f32>, ApiError> {
    if values.len() != PICTURE_PIXELS {
        return Err(ApiError::unprocessable(format!(
            "{what}: expected {PICTURE_PIXELS} numbers (28x28, row-major), got {}",
            values.len()
        )));
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0 || **v > 255.0) {
        return Err(ApiError::unprocessable(format!("{what}: value {i} is {v}; grey levels are 0..1 or 0..255")));
    }
    let scale = if values.iter().any(|&v| v > 1.0) { 255.0 } else { 1.0 };
    Ok(values.iter().map(|&v| (v / scale) as f32).collect())
}

/// A JSON image prepared as a picture ([`PixelsBody::prepare`]): grey levels of a 28×28
/// drawing, either polarity.
pub fn prepare_pixels(pixels: &[f32]) -> Result<Vec<f32>, ApiError> {
    picture::preprocess_luma(MNIST_SIDE, MNIST_SIDE, pixels).map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// The images of a batch JSON body, checked, concatenated.
pub fn json_batch(bytes: &[u8]) -> Result<Vec<f32>, ApiError> {
    let images = match parse_json::<BatchBody>(bytes)? {
        BatchBody::Wrapped { images } | BatchBody::Bare(images) => images,
    };
    check_count(images.len())?;
    let mut out = Vec::with_capacity(images.len() * PICTURE_PIXELS);
    for (i, image) in images.iter().enumerate() {
        out.extend(pixels(image, &format!("images[{i}]"))?);
    }
    Ok(out)
}

/// The images of a Kaggle CSV body (`label,pixel0,…` or `pixel0,…`; labels are ignored).
pub fn csv_batch(bytes: &[u8]) -> Result<Vec<f32>, ApiError> {
    let images =
        csv::parse_csv(Path::new("request body"), bytes).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    check_count(images.count)?;
    Ok(images.pixels.iter().map(|&p| f32::from(p) / 255.0).collect())
}

/// A batch holds 1 to [`MAX_BATCH_IMAGES`] images.
fn check_count(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::unprocessable("the batch holds no image"));
    }
    if n > MAX_BATCH_IMAGES {
        return Err(ApiError::too_large(format!("{n} images in one batch; at most {MAX_BATCH_IMAGES}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_checked_and_scaled() {
        let mut v = vec![0.0; 784];
        v[3] = 255.0;
        let p = pixels(&v, "x").unwrap();
        assert_eq!(p[3], 1.0);
        v[3] = 0.5;
        assert_eq!(pixels(&v, "x").unwrap()[3], 0.5);
        assert!(pixels(&v[..783], "x").unwrap_err().message.contains("got 783"));
        v[9] = -1.0;
        assert!(pixels(&v, "x").unwrap_err().message.contains("value 9 is -1"));
    }

    #[test]
    fn nan_in_json_is_named() {
        let e = parse_json::<PixelsBody>(br#"{"pixels": [0, NaN]}"#).err().unwrap();
        assert_eq!(e.status, 422);
        assert!(e.message.contains("NaN"), "{}", e.message);
        assert_eq!(parse_json::<PixelsBody>(b"{").err().unwrap().status, 400);
    }
}
