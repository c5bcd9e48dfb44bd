//! Kaggle's digit-recognizer CSV files, read and written on the `csv` crate.
//!
//! `train.csv` has the header `label,pixel0,…,pixel783` and one image per line (the label, then
//! 784 grey levels 0-255, row-major); `test.csv` has the same without the `label` column. Files
//! may be gzip-compressed (`.gz`). Every problem is reported with the file, the line (1-based,
//! the header is line 1) and, where there is one, the column; nothing is allocated from what a
//! file claims, only from what it holds.
//!
//! The `csv` crate does the splitting (quoted cells, CRLF, a spreadsheet's byte-order mark);
//! this module checks the layout and the values, so its messages name Kaggle's columns.
//!
//! [`write_csv`] writes the same layout (with labels when given) and [`write_submission`]
//! writes Kaggle's `ImageId,Label` answer file; both write a temporary file and rename it.

use super::{MAX_IMAGES, MNIST_SIDE, NUM_CLASSES};
use crate::{Error, Result};
use csv::ByteRecord;
use std::io::{self, Read, Write};
use std::path::Path;

/// Pixels per image in the CSV layout (28 × 28).
pub const PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// The longest line read (a data line of 785 cells is at most about 3 KB; quotes and spaces
/// are allowed for): a longer one is refused before the csv crate buffers it.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The most lines (data and blank) and bytes read from one file, decompressed: with
/// [`MAX_IMAGES`] data lines these bound both the memory and the time a file (a `.csv.gz` bomb
/// among them) can take.
pub const MAX_LINES: u64 = 2 * MAX_IMAGES as u64;
/// See [`MAX_LINES`].
pub const MAX_BYTES: u64 = 1 << 30;

/// How a header must read, for the messages about one that does not.
const EXPECTED_HEADER: &str = "`label,pixel0,…,pixel783` (Kaggle's train.csv) or `pixel0,…,pixel783` (test.csv)";

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

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// An error about line `line` of `path`.
fn at_line(path: &Path, line: u64, message: String) -> Error {
    Error::Record { path: path.to_path_buf(), record: format!("line {line}"), message }
}

/// Reads a Kaggle-style CSV file (see the module docs), streaming it (and decompressing a
/// `.gz` one) rather than holding its text in memory.
pub fn read_csv(path: &Path) -> Result<CsvImages> {
    let file = super::open_regular(path)?;
    if is_gz(path) {
        read_from(path, flate2::read::MultiGzDecoder::new(io::BufReader::new(file)))
    } else {
        read_from(path, file)
    }
}

/// Parses CSV text already in memory; `path` is only used in error messages.
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<CsvImages> {
    read_from(path, bytes)
}

/// The input, with the offset of every line break read: the csv crate's own line count includes
/// the empty lines it skips before a record, so the messages count lines from these instead.
struct Counted<R> {
    inner: R,
    read: u64,
    breaks: Vec<u64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.breaks.extend(buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| start + i as u64));
        self.read += n as u64;
        self.check()?;
        Ok(n)
    }
}

impl<R> Counted<R> {
    /// Refuses input past the ceilings ([`MAX_BYTES`], [`MAX_LINES`], [`MAX_LINE_BYTES`]), as
    /// an [`io::Error`] carrying a [`Ceiling`] that [`Lines::error`] turns into the message.
    fn check(&self) -> io::Result<()> {
        let line = self.breaks.len() as u64 + 1;
        let line_start = self.breaks.last().map_or(0, |b| b + 1);
        let message = if self.read > MAX_BYTES {
            format!("more than {MAX_BYTES} bytes (the most a CSV file may hold, decompressed)")
        } else if line > MAX_LINES {
            format!("more than {MAX_LINES} lines (the most a CSV file may hold)")
        } else if self.read - line_start > MAX_LINE_BYTES {
            format!("line {line} is longer than {MAX_LINE_BYTES} bytes (a data line is about 3 KB)")
        } else {
            return Ok(());
        };
        Err(io::Error::other(Ceiling(message)))
    }
}

/// A ceiling on the input exceeded; its message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Ceiling(String);

/// Records one at a time, with errors that name the file and the line.
struct Lines<'p, R> {
    path: &'p Path,
    reader: csv::Reader<Counted<R>>,
}

impl<'p, R: Read> Lines<'p, R> {
    fn new(path: &'p Path, input: R) -> Self {
        // Only `\n` ends a line, as the line numbers count them; a `\r` before it is white space.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(Counted { inner: input, read: 0, breaks: Vec::new() });
        Lines { path, reader }
    }

    /// The line (1-based) `record` starts on: past the empty lines skipped before it, which are
    /// line breaks right where the record's reading began.
    fn line_of(&self, record: &ByteRecord) -> u64 {
        let breaks = &self.reader.get_ref().breaks;
        let mut at = record.position().map_or(0, |p| p.byte());
        let mut before = breaks.partition_point(|&b| b < at);
        while breaks.get(before) == Some(&at) {
            (before, at) = (before + 1, at + 1);
        }
        before as u64 + 1
    }

    /// An error about `record`'s line.
    fn at(&self, record: &ByteRecord, message: String) -> Error {
        at_line(self.path, self.line_of(record), message)
    }

    /// Reads the next record into `record`; `false` at the end of the file.
    fn next(&mut self, record: &mut ByteRecord) -> Result<bool> {
        self.reader.read_byte_record(record).map_err(|e| self.error(e))
    }

    /// The next record that is not blank (the file's last newline, a trailing empty line).
    fn next_filled(&mut self, record: &mut ByteRecord) -> Result<bool> {
        while self.next(record)? {
            if !is_blank(record) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn error(&self, e: csv::Error) -> Error {
        let source = match e.into_kind() {
            csv::ErrorKind::Io(source) => source,
            // Flexible byte records fail in no other way; kept rather than assumed.
            other => return Error::format(self.path, format!("unreadable CSV: {other:?}")),
        };
        if let Some(c) = source.get_ref().and_then(|e| e.downcast_ref::<Ceiling>()) {
            return Error::format(self.path, format!("refused: {c}"));
        }
        // Errors from the gzip decoder mean the compressed data is bad, not that the disk failed.
        let decoder = matches!(
            source.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        );
        if is_gz(self.path) && decoder {
            Error::format(self.path, format!("not valid gzip data: {source}"))
        } else {
            Error::Io { path: self.path.to_path_buf(), source }
        }
    }
}

/// Whether a record holds nothing but white space.
fn is_blank(record: &ByteRecord) -> bool {
    record.len() == 1 && record[0].trim_ascii().is_empty()
}

fn read_from(path: &Path, input: impl Read) -> Result<CsvImages> {
    let mut lines = Lines::new(path, input);
    let mut record = ByteRecord::new();
    let has_label = read_header(&mut lines, &mut record)?;
    let columns = PIXELS + has_label as usize;
    let mut out = CsvImages { pixels: Vec::new(), labels: has_label.then(Vec::new), count: 0 };
    while lines.next_filled(&mut record)? {
        if out.count == MAX_IMAGES {
            let message = format!("more than {MAX_IMAGES} images (the most a data file may hold)");
            return Err(lines.at(&record, format!("refused: {message}")));
        }
        push_row(&record, columns, &mut out, |message| lines.at(&record, message))?;
        out.count += 1;
    }
    if out.count == 0 {
        return Err(Error::format(path, "no images: the file has a header but no data lines"));
    }
    Ok(out)
}

/// Reads and checks line 1; returns whether the file has a `label` column.
fn read_header<R: Read>(lines: &mut Lines<'_, R>, record: &mut ByteRecord) -> Result<bool> {
    let path = lines.path;
    let found = lines.next(record)?;
    if !found || is_blank(record) || lines.line_of(record) != 1 {
        // Whether anything but white space follows decides which message fits.
        let more = found && !is_blank(record) || lines.next_filled(record)?;
        let what = if more { "line 1 is empty" } else { "the file is empty" };
        return Err(Error::format(path, format!("{what}: expected the header {EXPECTED_HEADER}")));
    }
    let has_label = record[0].trim_ascii().eq_ignore_ascii_case(b"label");
    let pixel_names = record.iter().skip(has_label as usize).map(<[u8]>::trim_ascii);
    let mut named = 0;
    for (i, name) in pixel_names.enumerate() {
        if name != format!("pixel{i}").as_bytes() {
            let column = i + 1 + has_label as usize;
            let message = format!(
                "header column {column} is `{}`, expected `pixel{i}`; the header must be {EXPECTED_HEADER}",
                show(name)
            );
            return Err(at_line(path, 1, message));
        }
        named += 1;
    }
    if named != PIXELS {
        let message =
            format!("the header names {named} pixel columns, but 28x28 images need {PIXELS} (pixel0 … pixel783)");
        return Err(at_line(path, 1, message));
    }
    Ok(has_label)
}

/// Appends one data line's label (when the file has them) and grey levels to `out`; `bad` makes
/// the error from what is wrong with the line. Cells are checked in order, then the number of
/// columns, so the first bad cell is the one reported.
fn push_row(record: &ByteRecord, columns: usize, out: &mut CsvImages, bad: impl Fn(String) -> Error) -> Result<()> {
    let mut cells = record.iter().take(columns);
    if let Some(labels) = out.labels.as_mut() {
        let cell = cells.next().unwrap_or_default();
        match parse_small(cell) {
            Some(v) if (v as usize) < NUM_CLASSES => labels.push(v as u8),
            Some(v) => return Err(bad(format!("label {v} is outside 0-9"))),
            None => return Err(bad(format!("label `{}` is not a digit 0-9", show(cell)))),
        }
    }
    let first = out.labels.is_some() as usize;
    for (i, cell) in cells.enumerate() {
        let column = || format!("column {} (pixel{i})", i + 1 + first);
        match (parse_small(cell), parse_number(cell)) {
            (Some(v), _) if v <= 255 => out.pixels.push(v as u8),
            (_, Some(v)) if v.fract() != 0.0 => {
                return Err(bad(format!("{}: {v} is not a whole number (grey levels are 0-255)", column())));
            }
            (_, Some(v)) => return Err(bad(format!("{}: {v} is outside 0-255", column()))),
            (_, None) => return Err(bad(format!("{}: `{}` is not a whole number", column(), show(cell)))),
        }
    }
    if record.len() != columns {
        return Err(bad(format!("{} columns, but the header has {columns}", record.len())));
    }
    Ok(())
}

/// Shortens a cell for an error message (a binary file could hold a megabyte "cell") and
/// escapes its control characters (an escape sequence must not reach the terminal).
fn show(cell: &[u8]) -> String {
    let s = crate::error::escape_bytes(&cell[..cell.len().min(20)]);
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

/// Any number, for the message about a value out of range (e.g. `256`, `-3`, `12.5`).
fn parse_number(cell: &[u8]) -> Option<f64> {
    std::str::from_utf8(cell.trim_ascii()).ok()?.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The decimal text of every grey level, so writing a cell is a table look-up.
fn number_table() -> Vec<String> {
    (0..=255u8).map(|v| v.to_string()).collect()
}

/// Writes images (and labels, as a leading `label` column, when given) as a Kaggle-style CSV.
/// `pixels` holds `count * 784` grey levels. Written to a temporary file, then renamed.
pub fn write_csv(path: &Path, pixels: &[u8], labels: Option<&[u8]>) -> Result<()> {
    if !pixels.len().is_multiple_of(PIXELS) || labels.is_some_and(|l| l.len() * PIXELS != pixels.len()) {
        return Err(Error::format(path, "cannot write: pixel and label counts do not match 28x28 images"));
    }
    let numbers = &number_table();
    let label_column = labels.map(|_| "label".to_string());
    let header = label_column.into_iter().chain((0..PIXELS).map(|i| format!("pixel{i}")));
    let rows = pixels.chunks(PIXELS).enumerate().map(move |(i, image)| {
        let label = labels.map(|l| numbers[l[i] as usize].as_str());
        label.into_iter().chain(image.iter().map(move |&p| numbers[p as usize].as_str()))
    });
    write_table(path, header, rows, pixels.len() * 3)
}

/// Writes Kaggle's submission file: `ImageId,Label`, image ids counted from 1.
pub fn write_submission(path: &Path, labels: &[u8]) -> Result<()> {
    let rows = labels.iter().enumerate().map(|(i, l)| [(i + 1).to_string(), l.to_string()]);
    write_table(path, ["ImageId", "Label"], rows, 14 + labels.len() * 8)
}

/// Writes a header and rows as CSV (gzip-compressed when the name ends in `.gz`) through a
/// temporary file and a rename; `size` is a guess of the text's length.
fn write_table<H, R, C>(path: &Path, header: H, rows: impl Iterator<Item = R>, size: usize) -> Result<()>
where
    H: IntoIterator,
    H::Item: AsRef<[u8]>,
    R: IntoIterator<Item = C>,
    C: AsRef<[u8]>,
{
    let text = (|| -> std::result::Result<Vec<u8>, csv::Error> {
        let mut writer =
            csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::with_capacity(size));
        writer.write_record(header)?;
        for row in rows {
            writer.write_record(row)?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    })()
    .map_err(|e| Error::format(path, format!("cannot write: {e}")))?;
    let bytes = if is_gz(path) { gzip(&text).map_err(Error::io(path))? } else { text };
    crate::atomic::write_file(path, &bytes)
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    enc.finish()
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

    fn parse(text: &str) -> Result<CsvImages> {
        parse_csv(Path::new("t.csv"), text.as_bytes())
    }

    #[test]
    fn reads_train_and_test_layouts_with_crlf_and_trailing_newline() {
        let text = format!("{}\r\n{}\r\n{}\r\n", header(true), row(Some(3), 7), row(Some(9), 255));
        let c = parse(&text).unwrap();
        assert_eq!(c.count, 2);
        assert_eq!(c.labels, Some(vec![3, 9]));
        assert_eq!(c.pixels.len(), 2 * PIXELS);
        assert_eq!((c.pixels[0], c.pixels[PIXELS]), (7, 255));
        let text = format!("{}\n{}", header(false), row(None, 0));
        let c = parse(&text).unwrap();
        assert_eq!((c.count, c.labels), (1, None));
    }

    #[test]
    fn a_byte_order_mark_blank_lines_and_quoted_cells_are_read() {
        let quoted = row(Some(4), 1).replacen(",1,", ",\"1\",", 1);
        let text = format!("\u{feff}{}\n\n{}\n   \n{}\n\n", header(true), row(Some(2), 5), quoted);
        let c = parse(&text).unwrap();
        assert_eq!((c.count, c.labels), (2, Some(vec![2, 4])));
        assert!(c.pixels[PIXELS..].iter().all(|&p| p == 1));
    }

    #[test]
    fn errors_name_the_line_after_blank_lines() {
        let text = format!("{}\n\n\n{}\n", header(true), row(Some(12), 0));
        let e = parse(&text).unwrap_err();
        assert!(matches!(e, Error::Record { .. }), "{e:?}");
        assert_eq!(e.to_string(), "t.csv: line 4: label 12 is outside 0-9");
        assert_eq!(
            parse("\n\n").unwrap_err().to_string(),
            format!("t.csv: the file is empty: expected the header {EXPECTED_HEADER}")
        );
        let e = parse(&format!("\n{}\n", header(true))).unwrap_err();
        assert!(e.to_string().starts_with("t.csv: line 1 is empty"), "{e}");
    }

    #[test]
    fn gzip_files_round_trip_and_bad_gzip_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv.gz");
        let pixels: Vec<u8> = (0..2 * PIXELS).map(|i| (i % 256) as u8).collect();
        write_csv(&path, &pixels, Some(&[0, 9])).unwrap();
        let c = read_csv(&path).unwrap();
        assert_eq!((c.pixels, c.labels), (pixels, Some(vec![0, 9])));
        std::fs::write(&path, "plain text").unwrap();
        let e = read_csv(&path).unwrap_err();
        assert!(matches!(e, Error::Format { .. }) && e.to_string().contains("not valid gzip data"), "{e}");
    }

    #[test]
    fn submission_lists_ids_from_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("submission.csv");
        write_submission(&path, &[7, 2, 1]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ImageId,Label\n1,7\n2,2\n3,1\n");
    }

    #[test]
    fn small_numbers_parse_and_print_exactly() {
        for (v, text) in number_table().iter().enumerate() {
            assert_eq!(parse_small(text.as_bytes()), Some(v as u32));
        }
        assert_eq!(parse_small(b"1000"), None);
        assert_eq!(parse_small(b"-1"), None);
        assert_eq!(parse_small(b" 12 "), Some(12));
    }
}
