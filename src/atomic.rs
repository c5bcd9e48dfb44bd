//! Writing files so that nothing digits writes is ever seen half-written: each file is written
//! to a temporary file created exclusively in the same directory, synced, then renamed over the
//! target. A crash leaves the old file or the new one, never a mix, and never a stray partial
//! file under the target's name.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through an exclusively created temporary file and a rename.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// [`write()`], with the error naming the file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes).map_err(Error::io(path))
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::format(path, e.to_string()))?;
    write_file(path, text.as_bytes())
}
