//! Run, ensemble and tuning directories are owned: a process that writes one holds its lock
//! file ([`crate::layout::LOCK`]) until it is done, with its pid and host written inside, and a
//! second writer is refused with them. The lock is the operating system's (`flock` on Unix): it
//! ends with the process, so a killed writer leaves no lock behind, only a file.
//!
//! Beside the lock, [`prepare_new_run`] says whether a new run may be written into a directory:
//! only into an empty one, or with `overwrite` into one that holds nothing but a run's files
//! (which it clears first).

use crate::layout::{self, EnsembleDir, RunDir};
use crate::{Error, Result, atomic};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock of a directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock, or says who holds it. Then removes the
    /// temporary files a killed writer left in `dir` (they are this owner's now).
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let (mut file, path) = open_lock(dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().chars().filter(|c| !c.is_control()).take(200).collect::<String>();
                return Err(Error::Invalid(format!(
                    "{}: another digits process is writing this directory ({}); wait for it to end or use another directory",
                    dir.display(),
                    if holder.is_empty() { "holder unknown".into() } else { holder }
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
        }
        let me = format!("pid {} on host {}\n", std::process::id(), hostname());
        file.set_len(0).map_err(Error::io(&path))?;
        file.rewind().map_err(Error::io(&path))?;
        file.write_all(me.as_bytes()).map_err(Error::io(&path))?;
        atomic::remove_stale_temps(dir)?;
        Ok(DirLock { _file: file, path })
    }

    /// Waits for `dir`'s lock (which `dir` must exist for): for a short transaction on files
    /// that several processes share, where waiting is right and the holder is not named.
    pub fn wait(dir: &Path) -> Result<DirLock> {
        let (file, path) = open_lock(dir)?;
        file.lock().map_err(Error::io(&path))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates `dir` if needed and opens (creating) its lock file.
fn open_lock(dir: &Path) -> Result<(File, PathBuf)> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let path = dir.join(layout::LOCK);
    let file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(Error::io(&path))?;
    Ok((file, path))
}

/// This machine's name (`unknown` when the system will not say).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if rc != 0 || end == 0 {
        return "unknown".into();
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The entries of `dir` other than its lock file and temporary files (none when `dir` does
/// not exist).
fn entries(dir: &Path) -> Result<Vec<String>> {
    let list = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in list {
        let name = entry.map_err(Error::io(dir))?.file_name().to_string_lossy().into_owned();
        if name != layout::LOCK && !atomic::is_temp_name(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Makes `dir` ready for a new run, under its lock: an empty (or missing) directory is used as
/// it is; a directory holding a run's files only is cleared when `overwrite` is set, else
/// refused; an ensemble, a tuning directory or a directory with other files is refused.
pub fn prepare_new_run(dir: &RunDir, overwrite: bool) -> Result<DirLock> {
    let path = dir.path();
    if EnsembleDir::is_ensemble(path) {
        return Err(Error::Invalid(format!(
            "{}: is an ensemble directory ({}); a run cannot be written into it, use another --out",
            path.display(),
            layout::ENSEMBLE_JSON
        )));
    }
    let lock = DirLock::acquire(path)?;
    let names = entries(path)?;
    if names.is_empty() {
        return Ok(lock);
    }
    let foreign: Vec<&String> = names.iter().filter(|n| !layout::RUN_FILES.contains(&n.as_str())).collect();
    if !foreign.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: holds files that are not a run's ({}); a run is written only into an empty directory or a run directory, use another --out",
            path.display(),
            list(&foreign)
        )));
    }
    if !overwrite {
        return Err(Error::Invalid(format!(
            "{}: holds another run ({}); give --overwrite to replace it, --resume {} to continue it, or another --out",
            path.display(),
            list(&names.iter().collect::<Vec<_>>()),
            path.display()
        )));
    }
    for name in &names {
        let p = path.join(name);
        let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        gone.map_err(Error::io(&p))?;
    }
    Ok(lock)
}

/// Names for a message: the first few, then how many more.
fn list(names: &[&String]) -> String {
    let shown: Vec<&str> = names.iter().take(4).map(|s| s.as_str()).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// Locks `out` for an ensemble of `members` after checking it may hold one: `out` may not be a
/// run directory (it would turn the run into an ensemble), nor one of the members, nor hold
/// other files; an existing ensemble may be replaced only with `overwrite`.
pub fn prepare_ensemble(out: &Path, members: &[PathBuf], overwrite: bool) -> Result<DirLock> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(m) = members.iter().find(|m| same(m, out)) {
        return Err(Error::Invalid(format!(
            "{}: is member run {} itself; an ensemble is written into a directory of its own",
            out.display(),
            m.display()
        )));
    }
    if RunDir::new(out).has_model() || RunDir::new(out).args_json().exists() {
        return Err(Error::Invalid(format!(
            "{}: is a run directory; writing an ensemble there would turn the run into an ensemble, use another --out",
            out.display()
        )));
    }
    let lock = DirLock::acquire(out)?;
    let names = entries(out)?;
    let ours = [layout::ENSEMBLE_JSON, layout::MEMBERS_DIR];
    let foreign: Vec<&String> = names.iter().filter(|n| !ours.contains(&n.as_str())).collect();
    if !foreign.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: holds files that are not an ensemble's ({}); use another --out",
            out.display(),
            list(&foreign)
        )));
    }
    if !names.is_empty() && !overwrite {
        return Err(Error::Invalid(format!(
            "{}: holds an ensemble already; give --overwrite to replace it, or another --out",
            out.display()
        )));
    }
    Ok(lock)
}
