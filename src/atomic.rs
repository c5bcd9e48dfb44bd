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
    let mut tmp = builder(&format!(".{name}."), 0o666).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A temporary name `PREFIX…​.tmp` created with `mode` less the umask, as any file a program
/// creates (tempfile's own default, 0600, would make a model or a submission unreadable to
/// the user's group after the rename).
pub(crate) fn builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, '_> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    b
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

/// Whether `name` is one of [`write()`]'s temporary names (`.{name}.XXXXXX.tmp`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.len() > ".x.tmp".len()
}

/// Removes the temporary files a killed writer left in `dir` (not in its subfolders); returns
/// how many. Only the process that holds the directory's lock ([`crate::lock::DirLock`]) may
/// call it: another writer's temporary file is not stale.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name();
        let kind = entry.file_type().map_err(Error::io(entry.path()))?;
        if !is_temp_name(&name.to_string_lossy()) {
            continue;
        }
        // A temporary directory is an ensemble's members being written (not a symbolic link:
        // the file type is not followed).
        if kind.is_file() {
            std::fs::remove_file(entry.path()).map_err(Error::io(entry.path()))?;
        } else if kind.is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
        } else {
            continue;
        }
        removed += 1;
    }
    Ok(removed)
}
