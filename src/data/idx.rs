//! Reading and writing IDX files, the format of the MNIST distribution.
//!
//! An IDX file is big-endian: a 4-byte magic number `0x0000TTDD` (`TT` = data type, `0x08` for
//! unsigned bytes; `DD` = number of dimensions), one 4-byte size per dimension, then the data,
//! row-major. Images are `0x00000803` (count, rows, cols), labels `0x00000801` (count).
//!
//! Files are read raw or gzip-compressed: a file whose name ends in `.gz`, or whose first bytes
//! are the gzip signature, is decompressed on the fly. Nothing is trusted before it is checked:
//!
//! * the magic number (type and number of dimensions);
//! * that the file holds exactly the bytes its header declares, no fewer and no more. This is
//!   checked before any buffer sized by the header is allocated: for raw files against the
//!   file length, for gzip files by reading at most `declared + 1` bytes into a growing buffer,
//!   so a lying header costs no more memory than the data actually present;
//! * that the header sizes multiply without overflow and stay within explicit limits: at most
//!   [`MAX_IMAGES`] images or labels, sides of at most [`MAX_IDX_SIDE`], at most
//!   [`MAX_IDX_PIXEL_BYTES`] bytes in all; a compressed file is never inflated past what its
//!   header declares (plus one byte, to tell trailing data);
//! * for labels, that every value is in `0..=9`.
//!
//! Every error names the file and says what was found and what was expected. No input makes
//! these functions panic.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{MAX_IDX_PIXEL_BYTES, MAX_IDX_SIDE, MAX_IMAGES};
use crate::Error;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions: count, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The gzip signature (RFC 1952).
const GZIP_SIGNATURE: [u8; 2] = [0x1f, 0x8b];

/// The contents of an IDX image file: `count` images of `rows x cols` bytes, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The bytes of image `i`. Panics if `i >= count`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

impl fmt::Debug for IdxImages {
    // Summarise rather than print millions of bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdxImages")
            .field("count", &self.count)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("pixels.len()", &self.pixels.len())
            .finish()
    }
}

/// Reads an IDX image file (magic `0x00000803`), raw or `.gz`.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, Error> {
    let (dims, pixels) = read_idx(path, Kind::Images)?;
    Ok(IdxImages { count: dims[0], rows: dims[1], cols: dims[2], pixels })
}

/// Reads an IDX label file (magic `0x00000801`), raw or `.gz`, and checks every label is in
/// `0..=9`.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, Error> {
    let (_dims, labels) = read_idx(path, Kind::Labels)?;
    check_labels(path, &labels)?;
    Ok(labels)
}

/// Writes an IDX image file. The file is uncompressed unless its name ends in `.gz`, in which
/// case it is gzip-compressed. It is written under a temporary name in the same directory and
/// then renamed ([`crate::atomic`]), so readers never see a half-written file.
///
/// Fails if `pixels.len() != count * rows * cols` or a size does not fit in 32 bits.
pub fn write_idx_images(path: &Path, images: &IdxImages) -> Result<(), Error> {
    let dims = [images.count, images.rows, images.cols];
    let needed = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if needed != Some(images.pixels.len()) {
        return Err(Error::format(
            path,
            format!(
                "cannot write: {} images of {}x{} need {} pixel bytes but {} were given",
                images.count,
                images.rows,
                images.cols,
                needed.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string()),
                images.pixels.len()
            ),
        ));
    }
    write_idx(path, IMAGES_MAGIC, &dims, &images.pixels)
}

/// Writes an IDX label file (values are written as given, not range-checked, so tests can make
/// bad files). Compression and atomic replacement as for [`write_idx_images`].
pub fn write_idx_labels(path: &Path, labels: &[u8]) -> Result<(), Error> {
    write_idx(path, LABELS_MAGIC, &[labels.len()], labels)
}

/// The kind of IDX file expected.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }

    fn ndims(self) -> usize {
        match self {
            Kind::Images => 3,
            Kind::Labels => 1,
        }
    }

    fn other(self) -> Kind {
        match self {
            Kind::Images => Kind::Labels,
            Kind::Labels => Kind::Images,
        }
    }

    fn file_desc(self) -> &'static str {
        match self {
            Kind::Images => "an IDX image file (unsigned bytes, 3 dimensions: count, rows, cols)",
            Kind::Labels => "an IDX label file (unsigned bytes, 1 dimension: count)",
        }
    }

    /// "60000 images of 28x28" / "60000 labels".
    fn describe(self, dims: &[usize]) -> String {
        match self {
            Kind::Images => format!("{} images of {}x{}", dims[0], dims[1], dims[2]),
            Kind::Labels => format!("{} labels", dims[0]),
        }
    }
}

fn has_gz_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("gz"))
}

/// Opens `path`, decides raw or gzip, and reads a checked IDX file of the given kind.
fn read_idx(path: &Path, kind: Kind) -> Result<(Vec<usize>, Vec<u8>), Error> {
    let file: File = super::open_regular(path)?;
    let len = file.metadata().map_err(Error::io(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(Error::io(path))?;
    let gz = has_gz_extension(path) || head.starts_with(&GZIP_SIGNATURE);
    if gz {
        read_idx_from(MultiGzDecoder::new(reader), None, path, kind)
    } else {
        read_idx_from(reader, Some(len), path, kind)
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Checks the 4-byte magic number; the error says what was found and what was expected.
fn check_magic(path: &Path, bytes: [u8; 4], kind: Kind) -> Result<(), Error> {
    let found = u32::from_be_bytes(bytes);
    let expected = kind.magic();
    if found == expected {
        return Ok(());
    }
    let detail = if found == kind.other().magic() {
        format!(", which is {}", kind.other().file_desc())
    } else if bytes[..3] == [0, 0, 0x08] {
        format!(": unsigned-byte IDX data with {} dimensions where {} are expected", bytes[3], kind.ndims())
    } else if bytes[..2] == [0, 0] && usize::from(bytes[3]) == kind.ndims() {
        format!(": IDX data type 0x{:02x} where 0x08 (unsigned byte) is expected", bytes[2])
    } else {
        String::from(" (not an IDX file?)")
    };
    Err(Error::format(
        path,
        format!("bad magic number 0x{found:08x}{detail}; expected 0x{expected:08x} for {}", kind.file_desc()),
    ))
}

/// Checks every label is a digit; names the first offending record.
fn check_labels(path: &Path, labels: &[u8]) -> Result<(), Error> {
    match labels.iter().position(|&l| l > 9) {
        Some(i) => Err(Error::format(path, format!("label {} at record {i} is outside 0-9", labels[i]))),
        None => Ok(()),
    }
}

/// A stream being read as an IDX file: where it comes from, what it should hold, and whether
/// it is decompressed (so its errors can be told apart from the disk's).
struct Stream<'p> {
    path: &'p Path,
    kind: Kind,
    gz: bool,
}

impl Stream<'_> {
    /// "the file holds" / "the decompressed data holds", for the messages.
    fn holds(&self) -> &'static str {
        if self.gz { "the decompressed data holds" } else { "the file holds" }
    }

    /// Errors from the gzip decoder mean the compressed data is bad, not that the disk failed.
    fn read_err(&self, e: io::Error) -> Error {
        let decoder_error =
            matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof);
        if self.gz && decoder_error {
            Error::format(self.path, format!("not valid gzip data (corrupt, truncated or not gzip at all): {e}"))
        } else {
            Error::io(self.path)(e)
        }
    }

    /// Reads the magic number and the dimension sizes, checking both.
    fn header(&self, r: &mut impl Read) -> Result<Vec<usize>, Error> {
        let mut magic = [0u8; 4];
        let n = read_full(r, &mut magic).map_err(|e| self.read_err(e))?;
        if n < magic.len() {
            let holds = self.holds();
            let message = format!("truncated: {holds} only {n} bytes, too few for the 4-byte IDX magic number");
            return Err(Error::format(self.path, message));
        }
        check_magic(self.path, magic, self.kind)?;
        let mut size_bytes = [0u8; 12];
        let size_bytes = &mut size_bytes[..4 * self.kind.ndims()];
        let n = read_full(r, size_bytes).map_err(|e| self.read_err(e))?;
        if n < size_bytes.len() {
            let (holds, header_len) = (self.holds(), self.header_len());
            let message =
                format!("truncated: {holds} only {} bytes, too few for the {header_len}-byte IDX header", 4 + n);
            return Err(Error::format(self.path, message));
        }
        Ok(size_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect())
    }

    fn header_len(&self) -> usize {
        4 + 4 * self.kind.ndims()
    }

    /// The message for a data part of `present` bytes where `declared` were declared, if they
    /// differ; `present` is `None` when a stream holds more than declared (its length unknown).
    fn size_error(&self, desc: &str, declared: u64, present: Option<u64>) -> Option<Error> {
        let (holds, header_len) = (self.holds(), self.header_len());
        let message = match present {
            Some(p) if p < declared => format!(
                "truncated: header declares {desc} ({declared} bytes) but {holds} only {p} bytes after its \
                 {header_len}-byte header"
            ),
            Some(p) if p > declared => format!(
                "trailing data: header declares {desc} ({declared} bytes) but {holds} {p} bytes after its \
                 {header_len}-byte header ({} extra)",
                p - declared
            ),
            Some(_) => return None,
            None => format!(
                "trailing data: header declares {desc} ({declared} bytes) but {holds} more bytes after its \
                 {header_len}-byte header"
            ),
        };
        Some(Error::format(self.path, message))
    }
}

/// The core reader. `raw_len` is the file length for an uncompressed file, `None` for a
/// decompressed stream (whose length is unknown until it is read).
fn read_idx_from<R: Read>(
    mut r: R,
    raw_len: Option<u64>,
    path: &Path,
    kind: Kind,
) -> Result<(Vec<usize>, Vec<u8>), Error> {
    let s = Stream { path, kind, gz: raw_len.is_none() };
    let dims = s.header(&mut r)?;
    let desc = kind.describe(&dims);
    let Some(declared) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        let message = format!("header declares {desc}, a size that overflows this machine's address space");
        return Err(Error::format(path, message));
    };
    check_limits(path, &dims, &desc)?;
    let declared64 = declared as u64;
    let data = match raw_len {
        Some(len) => {
            // Raw: the file length says how much data there is; check before allocating.
            let present = len.saturating_sub(s.header_len() as u64);
            if let Some(e) = s.size_error(&desc, declared64, Some(present)) {
                return Err(e);
            }
            let mut data = vec![0u8; declared];
            let n = read_full(&mut r, &mut data).map_err(|e| s.read_err(e))?;
            if n < declared {
                // The file shrank while being read.
                let message =
                    format!("truncated: header declares {desc} ({declared} bytes) but only {n} could be read");
                return Err(Error::format(path, message));
            }
            data
        }
        None => {
            // Compressed: read at most one byte more than declared into a buffer that grows
            // with the data actually present, never pre-sized by the header.
            let mut data = Vec::new();
            r.by_ref().take(declared64.saturating_add(1)).read_to_end(&mut data).map_err(|e| s.read_err(e))?;
            let present = data.len() as u64;
            if let Some(e) = s.size_error(&desc, declared64, (present <= declared64).then_some(present)) {
                return Err(e);
            }
            data
        }
    };
    Ok((dims, data))
}

/// Refuses a header declaring more than the limits allow (see the module docs), before
/// anything is allocated or inflated.
fn check_limits(path: &Path, dims: &[usize], desc: &str) -> Result<(), Error> {
    let bytes: usize = dims.iter().product();
    let problem = if dims[0] > MAX_IMAGES {
        format!("more than {MAX_IMAGES} records, the most a data file may hold")
    } else if dims[1..].iter().any(|&side| side > MAX_IDX_SIDE) {
        format!("a side longer than {MAX_IDX_SIDE} pixels")
    } else if bytes > MAX_IDX_PIXEL_BYTES {
        format!("more than {MAX_IDX_PIXEL_BYTES} bytes of data")
    } else {
        return Ok(());
    };
    Err(Error::format(path, format!("refused: header declares {desc}, {problem}")))
}

/// Writes an IDX file: the header, then the data (gzip-compressed when the name ends in
/// `.gz`), through a temporary file and a rename.
fn write_idx(path: &Path, magic: u32, dims: &[usize], data: &[u8]) -> Result<(), Error> {
    let mut bytes = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    bytes.extend_from_slice(&magic.to_be_bytes());
    for &d in dims {
        let d32 = u32::try_from(d).map_err(|_| {
            Error::format(path, format!("cannot write: size {d} does not fit in a 32-bit IDX header field"))
        })?;
        bytes.extend_from_slice(&d32.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    if has_gz_extension(path) {
        let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
        bytes = enc.write_all(&bytes).and_then(|_| enc.finish()).map_err(Error::io(path))?;
    }
    crate::atomic::write_file(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const P: &str = "mem/test-images-idx3-ubyte";

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn raw(bytes: &[u8], kind: Kind) -> Result<(Vec<usize>, Vec<u8>), String> {
        read_idx_from(Cursor::new(bytes), Some(bytes.len() as u64), Path::new(P), kind).map_err(|e| e.to_string())
    }

    fn gz(bytes: &[u8], kind: Kind) -> Result<(Vec<usize>, Vec<u8>), String> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        let compressed = enc.finish().unwrap();
        read_idx_from(MultiGzDecoder::new(&compressed[..]), None, Path::new(P), kind).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_good_images_raw_and_gz() {
        let mut f = header(IMAGES_MAGIC, &[2, 2, 3]);
        f.extend(0..12u8);
        for got in [raw(&f, Kind::Images), gz(&f, Kind::Images)] {
            let (dims, data) = got.unwrap();
            assert_eq!(dims, vec![2, 2, 3]);
            assert_eq!(data, (0..12).collect::<Vec<u8>>());
        }
    }

    #[test]
    fn zero_images_is_fine() {
        let f = header(IMAGES_MAGIC, &[0, 28, 28]);
        assert_eq!(raw(&f, Kind::Images).unwrap().1.len(), 0);
    }

    #[test]
    fn magic_errors_say_found_and_expected() {
        let f = header(LABELS_MAGIC, &[0]);
        let e = raw(&f, Kind::Images).unwrap_err();
        assert!(e.starts_with(P), "{e}");
        assert!(e.contains("0x00000801") && e.contains("0x00000803"), "{e}");
        assert!(e.contains("label file"), "{e}");

        let e = raw(&header(0x0000_0802, &[1, 1]), Kind::Images).unwrap_err();
        assert!(e.contains("2 dimensions where 3 are expected"), "{e}");

        let e = raw(&header(0x0000_0d03, &[1, 1, 1]), Kind::Images).unwrap_err();
        assert!(e.contains("data type 0x0d"), "{e}");

        let e = raw(b"hello world, not idx", Kind::Labels).unwrap_err();
        assert!(e.contains("bad magic number 0x68656c6c"), "{e}");
    }

    #[test]
    fn short_headers_are_truncation() {
        for bytes in [&b""[..], &[0, 0, 8][..], &header(IMAGES_MAGIC, &[1, 1])[..]] {
            for e in [raw(bytes, Kind::Images), gz(bytes, Kind::Images)] {
                let e = e.unwrap_err();
                assert!(e.contains("truncated"), "{e}");
            }
        }
    }

    #[test]
    fn size_must_match_exactly() {
        let mut f = header(LABELS_MAGIC, &[5]);
        f.extend([1, 2, 3, 4]);
        for e in [raw(&f, Kind::Labels), gz(&f, Kind::Labels)] {
            let e = e.unwrap_err();
            assert!(e.contains("truncated: header declares 5 labels (5 bytes)"), "{e}");
            assert!(e.contains("only 4 bytes"), "{e}");
        }
        f.extend([5, 6]);
        for e in [raw(&f, Kind::Labels), gz(&f, Kind::Labels)] {
            let e = e.unwrap_err();
            assert!(e.contains("trailing data"), "{e}");
        }
    }

    #[test]
    fn huge_header_is_rejected_without_allocating() {
        let mut f = header(IMAGES_MAGIC, &[4_000_000_000, 28, 28]);
        f.extend([0u8; 100]);
        for e in [raw(&f, Kind::Images), gz(&f, Kind::Images)] {
            let e = e.unwrap_err();
            assert!(e.contains("refused: header declares 4000000000 images of 28x28, more than 100000"), "{e}");
        }
    }

    #[test]
    fn size_overflow_is_an_error() {
        let f = header(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX]);
        for e in [raw(&f, Kind::Images), gz(&f, Kind::Images)] {
            let e = e.unwrap_err();
            assert!(e.contains("overflows"), "{e}");
        }
    }

    #[test]
    fn invalid_gzip_is_a_format_error() {
        let bytes = b"\x1f\x8b\x08\x00garbage garbage garbage";
        let e = read_idx_from(MultiGzDecoder::new(&bytes[..]), None, Path::new(P), Kind::Images).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e:?}");
        assert!(e.to_string().contains("not valid gzip"), "{e}");
    }

    #[test]
    fn labels_out_of_range() {
        let p = Path::new(P);
        assert!(check_labels(p, &[0, 9, 3]).is_ok());
        let e = check_labels(p, &[0, 1, 10, 255]).unwrap_err();
        assert_eq!(e.to_string(), format!("{P}: label 10 at record 2 is outside 0-9"));
    }

    #[test]
    fn writer_rejects_inconsistent_images() {
        let bad = IdxImages { count: 2, rows: 2, cols: 2, pixels: vec![0; 7] };
        let e = write_idx_images(Path::new("/nonexistent-dir/x"), &bad).unwrap_err();
        assert!(e.to_string().contains("need 8 pixel bytes but 7"), "{e}");
    }
}
