//! Reading files we did not write (model files, recipes, search spaces, a run's JSON files,
//! weights and checkpoints): regular files only, never larger than a stated ceiling, and parse
//! errors as one line naming the file, the line and the column. A FIFO is refused instead of
//! read for ever, and a 10 GB "model.json" is refused from its size before a byte is read.

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::Path;

/// Largest text file (JSON, TOML) digits reads: 64 MiB, far beyond any file it writes (a
/// 100,000-configuration study's results are about 30 MB).
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Opens `path` for reading if it is a regular file (symbolic links followed); a FIFO, socket,
/// device or directory is an error, not a read that may block for ever. The file is opened
/// without blocking and its type checked on the open file, so nothing can be swapped in between.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(Error::io(path))?;
    let kind = file.metadata().map_err(Error::io(path))?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
        return Err(Error::format(path, format!("{what}: refused, digits reads only regular files")));
    }
    Ok(file)
}

/// The bytes of the regular file `path`, refused when it holds more than `max`.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let too_big = |len: u64| Error::format(path, format!("{len} bytes is larger than this file may be ({max} bytes)"));
    let len = file.metadata().map_err(Error::io(path))?.len();
    if len > max {
        return Err(too_big(len));
    }
    // The file may grow while it is read: never take more than the ceiling allows.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(Error::io(path))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The text of `path` (at most [`MAX_TEXT_BYTES`], UTF-8).
pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_capped(path, MAX_TEXT_BYTES)?)
        .map_err(|e| Error::format(path, format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to())))
}

/// `text`, the contents of `path`, parsed as TOML; an error says where, on one line.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
        Error::format(path, format!("{}{}", at.unwrap_or_default(), e.message().trim_end()))
    })
}

/// `text`, the contents of `path`, parsed as JSON (serde_json's errors say the line and column).
pub fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::format(path, e.to_string()))
}

/// [`read_text`] then [`parse_toml`].
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    parse_toml(path, &read_text(path)?)
}

/// [`read_text`] then [`parse_json`].
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    parse_json(path, &read_text(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_ceiling_fifos_and_bad_toml_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "x = 1\ny = [1,\nz = \"\"").unwrap();
        let e = read_toml::<toml::Table>(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: line 3, column", path.display())) && !e.contains('\n'), "{e}");
        assert!(read_capped(&path, 4).unwrap_err().to_string().contains("larger than this file may be (4 bytes)"));
        assert_eq!(read_capped(&path, 100).unwrap().len(), 20);
        assert!(read_text(dir.path()).unwrap_err().to_string().contains("a directory"));
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert!(read_text(&path).unwrap_err().to_string().contains("not UTF-8 text (byte 0)"));
    }
}
