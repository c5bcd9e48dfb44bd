//! Kaggle's digit-recognizer CSV files, read and written.
//!
//! `train.csv` has the header `label,pixel0,…,pixel783` and one image per line (the label, then
//! 784 grey levels 0-255, row-major); `test.csv` has the same without the `label` column. Files
//! may be gzip-compressed (`.gz`). Every problem is reported with the file, the line (1-based,
//! the header is line 1) and, where there is one, the column; nothing is allocated from what a
//! file claims, only from what it holds.
//!
//! [`write_csv`] writes the same layout (with labels when given) and [`write_submission`]
//! writes Kaggle's `ImageId,Label` answer file; both write a temporary file and rename it.

use super::{MNIST_SIDE, NUM_CLASSES};
use crate::Error;
use std::io::Read;
use std::path::Path;

/// Pixels per image in the CSV layout (28 × 28).
pub const PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// The images (and labels, when the file has a `label` column) of one CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvImages {
    /// Grey levels, `count * 784`, row-major per image.
    pub pixels: Vec<u8>,
    /// One label per image when the header starts with `label`, else `None`.
    pub labels: Option<Vec<u8>>,
    pub count: usize,
}

/// Whether `path` names a CSV file (`.csv` or `.csv.gz`, any case).
pub fn is_csv_path(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".csv") || name.ends_with(".csv.gz")
}

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_path_buf(), message: message.into() }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let raw = std::fs::read(path).map_err(io)?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| err(path, format!("not valid gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Shortens a cell for an error message (a binary file could hold a megabyte "cell").
fn show(cell: &[u8]) -> String {
    let s = String::from_utf8_lossy(&cell[..cell.len().min(20)]).into_owned();
    if cell.len() > 20 { format!("{s}…") } else { s }
}

/// Parses a whole number 0..=999 without allocating; `None` when the cell is not one.
fn parse_small(cell: &[u8]) -> Option<u32> {
    let cell = cell.trim_ascii();
    if cell.is_empty() || cell.len() > 3 || !cell.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(cell.iter().fold(0u32, |acc, &d| acc * 10 + (d - b'0') as u32))
}

/// Reads a Kaggle-style CSV file (see the module docs).
pub fn read_csv(path: &Path) -> Result<CsvImages, Error> {
    let bytes = read_bytes(path)?;
    parse_csv(path, &bytes)
}

/// Parses CSV text already in memory; `path` is only used in error messages.
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<CsvImages, Error> {
    let mut lines = bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let expected_header = "`label,pixel0,…,pixel783` (Kaggle's train.csv) or `pixel0,…,pixel783` (test.csv)";
    let header = lines.next().unwrap_or_default();
    let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header); // a spreadsheet's BOM
    if header.trim_ascii().is_empty() {
        let what = if bytes.trim_ascii().is_empty() { "the file is empty" } else { "line 1 is empty" };
        return Err(err(path, format!("{what}: expected the header {expected_header}")));
    }
    let names: Vec<&[u8]> = header.split(|&b| b == b',').map(<[u8]>::trim_ascii).collect();
    let has_label = names[0].eq_ignore_ascii_case(b"label");
    let pixel_names = if has_label { &names[1..] } else { &names[..] };
    for (i, name) in pixel_names.iter().enumerate() {
        if *name != format!("pixel{i}").as_bytes() {
            return Err(err(
                path,
                format!(
                    "line 1: header column {} is `{}`, expected `pixel{i}`; the header must be {expected_header}",
                    i + 1 + has_label as usize,
                    show(name)
                ),
            ));
        }
    }
    if pixel_names.len() != PIXELS {
        return Err(err(
            path,
            format!(
                "line 1: the header names {} pixel columns, but 28x28 images need {PIXELS} (pixel0 … pixel783)",
                pixel_names.len()
            ),
        ));
    }
    let columns = names.len();
    let mut pixels = Vec::new();
    let mut labels = has_label.then(Vec::new);
    let mut count = 0;
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.trim_ascii().is_empty() {
            continue; // blank lines (the file's last newline, a trailing empty line) carry nothing
        }
        let at = |message: String| err(path, format!("line {line_no}: {message}"));
        let mut n = 0;
        for (c, cell) in line.split(|&b| b == b',').enumerate() {
            n += 1;
            if c >= columns {
                continue; // counted for the message below
            }
            let value = parse_small(cell);
            if c == 0 && has_label {
                match value {
                    Some(v) if (v as usize) < NUM_CLASSES => labels.as_mut().expect("has label").push(v as u8),
                    Some(v) => return Err(at(format!("label {v} is outside 0-9"))),
                    None => return Err(at(format!("label `{}` is not a digit 0-9", show(cell)))),
                }
                continue;
            }
            let column = format!("column {} (pixel{})", c + 1, c - has_label as usize);
            match (value, parse_number(cell)) {
                (Some(v), _) if v <= 255 => pixels.push(v as u8),
                (_, Some(v)) => return Err(at(format!("{column}: {v} is outside 0-255"))),
                (_, None) => return Err(at(format!("{column}: `{}` is not a whole number", show(cell)))),
            }
        }
        if n != columns {
            return Err(at(format!("{n} columns, but the header has {columns}")));
        }
        count += 1;
    }
    if count == 0 {
        return Err(err(path, "no images: the file has a header but no data lines"));
    }
    Ok(CsvImages { pixels, labels, count })
}

/// Any number, for the message about a value out of range (e.g. `256`, `-3`, `12.5`).
fn parse_number(cell: &[u8]) -> Option<f64> {
    std::str::from_utf8(cell.trim_ascii()).ok()?.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Writes images (and labels, as a leading `label` column, when given) as a Kaggle-style CSV.
/// `pixels` holds `count * 784` grey levels. Written to a temporary file, then renamed.
pub fn write_csv(path: &Path, pixels: &[u8], labels: Option<&[u8]>) -> Result<(), Error> {
    if pixels.len() % PIXELS != 0 || labels.is_some_and(|l| l.len() * PIXELS != pixels.len()) {
        return Err(err(path, "cannot write: pixel and label counts do not match 28x28 images"));
    }
    let mut out = Vec::with_capacity(pixels.len() * 3);
    let mut header: Vec<String> = (0..PIXELS).map(|i| format!("pixel{i}")).collect();
    if labels.is_some() {
        header.insert(0, "label".into());
    }
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    for (i, image) in pixels.chunks(PIXELS).enumerate() {
        if let Some(l) = labels {
            push_number(&mut out, l[i]);
            out.push(b',');
        }
        for (j, &p) in image.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            push_number(&mut out, p);
        }
        out.push(b'\n');
    }
    write_file(path, &out)
}

fn push_number(out: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        out.push(b'0' + v / 100);
    }
    if v >= 10 {
        out.push(b'0' + v / 10 % 10);
    }
    out.push(b'0' + v % 10);
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let data = if gz {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).and_then(|_| enc.finish()).map_err(|source| Error::Io { path: path.into(), source })?
    } else {
        bytes.to_vec()
    };
    crate::atomic::write(path, &data).map_err(|source| Error::Io { path: path.into(), source })
}

/// Writes Kaggle's submission file: `ImageId,Label`, image ids counted from 1.
pub fn write_submission(path: &Path, labels: &[u8]) -> Result<(), Error> {
    let mut out = String::with_capacity(14 + labels.len() * 8);
    out.push_str("ImageId,Label\n");
    for (i, l) in labels.iter().enumerate() {
        out.push_str(&format!("{},{l}\n", i + 1));
    }
    write_file(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(label: bool) -> String {
        let mut h: Vec<String> = (0..PIXELS).map(|i| format!("pixel{i}")).collect();
        if label {
            h.insert(0, "label".into());
        }
        h.join(",")
    }

    fn row(label: Option<u8>, fill: u8) -> String {
        let mut cells: Vec<String> = vec![fill.to_string(); PIXELS];
        if let Some(l) = label {
            cells.insert(0, l.to_string());
        }
        cells.join(",")
    }

    #[test]
    fn reads_train_and_test_layouts_with_crlf_and_trailing_newline() {
        let text = format!("{}\r\n{}\r\n{}\r\n", header(true), row(Some(3), 7), row(Some(9), 255));
        let c = parse_csv(Path::new("t.csv"), text.as_bytes()).unwrap();
        assert_eq!(c.count, 2);
        assert_eq!(c.labels, Some(vec![3, 9]));
        assert_eq!(c.pixels.len(), 2 * PIXELS);
        assert_eq!((c.pixels[0], c.pixels[PIXELS]), (7, 255));
        let text = format!("{}\n{}", header(false), row(None, 0));
        let c = parse_csv(Path::new("t.csv"), text.as_bytes()).unwrap();
        assert_eq!((c.count, c.labels), (1, None));
    }

    #[test]
    fn small_numbers_parse_and_print_exactly() {
        for v in 0..=255u8 {
            let mut s = Vec::new();
            push_number(&mut s, v);
            assert_eq!(parse_small(&s), Some(v as u32));
        }
        assert_eq!(parse_small(b"1000"), None);
        assert_eq!(parse_small(b"-1"), None);
        assert_eq!(parse_small(b" 12 "), Some(12));
    }
}
