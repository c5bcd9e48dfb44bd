//! Ensembles: several trained models whose class probabilities are averaged, optionally over
//! test-time augmented copies of each image, saved as a directory that `evaluate` and
//! `predict` accept like a single model.
//!
//! ```text
//! DIR/ensemble.json              format, version, member directories, test-time augmentation,
//!                                the runs they came from
//! DIR/members/<i>/model.*        each member's model files, copied so the directory stands alone
//! DIR/members/<i>/history.json   its training history, when it had one (for `digits report`)
//! ```

use super::classifier::Classify;
use super::load_model;
use crate::Error;
use crate::data::augment::{AugmentConfig, augment_batch};
use crate::engine::limits::MAX_PARAMS;
use crate::engine::{Network, Shape};
use crate::layout::{self, EnsembleDir, RunDir};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "digits-ensemble";
pub const FORMAT_VERSION: u32 = 1;

/// `ensemble.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleFile {
    pub format: String,
    pub format_version: u32,
    /// Member directories, relative to the ensemble's directory.
    pub members: Vec<PathBuf>,
    /// Augmented copies of each image averaged with the original (0: none).
    #[serde(default)]
    pub tta: usize,
    #[serde(default)]
    pub tta_augment: AugmentConfig,
    /// The run directories the members were copied from, as given (for names in reports).
    #[serde(default)]
    pub sources: Vec<String>,
    /// The temperature `digits calibrate` fitted to the averaged probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::Calibration>,
}

/// The gentle transforms used for test-time augmentation: a digit moved this little is still
/// plainly the same digit.
pub fn tta_default() -> AugmentConfig {
    AugmentConfig { rotation: 5.0, width_shift: 0.05, height_shift: 0.05, zoom: 0.05, ..Default::default() }
}

/// Members whose probabilities are averaged.
pub struct Ensemble {
    pub members: Vec<Network>,
    pub tta: usize,
    pub tta_augment: AugmentConfig,
}

impl Classify for Ensemble {
    fn input_shape(&self) -> Shape {
        self.members[0].input
    }
    fn classes(&self) -> usize {
        self.members[0].outputs()
    }
    fn predict_proba(&mut self, x: &[f32], batch: usize) -> Vec<f32> {
        let shape = self.input_shape();
        let per = shape.len();
        let n = x.len() / per.max(1);
        let mut sum = vec![0.0f32; n * self.classes()];
        let mut add = |p: Vec<f32>| sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        let ids: Vec<usize> = (0..n).collect();
        let mut copy = if self.tta > 0 { vec![0.0f32; x.len()] } else { Vec::new() };
        for k in 0..=self.tta {
            let input = if k == 0 {
                x
            } else {
                // Fixed seeds: the same images always get the same copies.
                augment_batch(&self.tta_augment, x, &ids, shape.h, shape.w, 0x77A, k as u64, &mut copy);
                &copy[..]
            };
            for m in &mut self.members {
                add(m.predict(input, batch));
            }
        }
        let scale = 1.0 / (self.members.len() * (self.tta + 1)) as f32;
        sum.iter_mut().for_each(|s| *s *= scale);
        sum
    }
}

/// Loads the ensemble directory `dir` (see [`crate::layout::EnsembleDir`]).
pub fn load_ensemble(dir: &Path) -> Result<(EnsembleFile, Ensemble), Error> {
    let file = EnsembleDir::new(dir).ensemble_json();
    let ens: EnsembleFile = crate::input::read_json(&file)?;
    if let Some(c) = &ens.calibration {
        super::calibrate::check(c, &file)?;
    }
    if ens.format != FORMAT || ens.format_version > FORMAT_VERSION || ens.members.is_empty() {
        return Err(Error::Format {
            path: file,
            message: format!("not a {FORMAT} file of version ≤ {FORMAT_VERSION} with at least one member"),
        });
    }
    if ens.tta > MAX_TTA {
        let message = format!("tta {} is more test-time augmented copies than allowed (at most {MAX_TTA})", ens.tta);
        return Err(Error::format(file, message));
    }
    check_member_count(ens.members.len(), &file)?;
    let (mut members, mut params) = (Vec::new(), 0);
    for (i, m) in ens.members.iter().enumerate() {
        let member = confined_member(dir, m).map_err(|problem| Error::Record {
            path: file.clone(),
            record: format!("member {i} `{}`", crate::error::shown(m)),
            message: problem.to_string(),
        })?;
        members.push(load_member(&member)?);
        params = count_params(params, &members, &file)?;
    }
    check_members(&members, &file)?;
    let e = Ensemble { members, tta: ens.tta, tta_augment: ens.tta_augment };
    Ok((ens, e))
}

/// Member path `member` of the ensemble in `dir`, if it is relative and stays inside `dir`
/// (no `..`, no symbolic link leading out); else what is wrong with it.
fn confined_member(dir: &Path, member: &Path) -> Result<PathBuf, MemberProblem> {
    use std::path::Component;
    if !member.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(MemberProblem::NotRelative);
    }
    let path = dir.join(member);
    let root = dir.canonicalize().map_err(MemberProblem::Root)?;
    match path.canonicalize() {
        Ok(real) if real.starts_with(&root) => Ok(path),
        Ok(_) => Err(MemberProblem::LinkOut),
        Err(_) => Err(MemberProblem::Missing),
    }
}

/// What can be wrong with a member path of `ensemble.json`.
#[derive(Debug, thiserror::Error)]
enum MemberProblem {
    #[error("refused: member paths must be relative, inside the ensemble's directory, without `..`")]
    NotRelative,
    #[error("cannot resolve the ensemble's directory: {0}")]
    Root(std::io::Error),
    #[error("refused: a symbolic link leading out of the ensemble's directory")]
    LinkOut,
    #[error("the member's directory does not exist")]
    Missing,
}

/// Loads one member (a run directory): a missing directory and a nested ensemble are told
/// apart from a directory without a model.
pub fn load_member(run: &Path) -> Result<Network, Error> {
    if !run.is_dir() {
        return Err(Error::NotFound { path: run.into(), message: "no such directory (a member must be a run)".into() });
    }
    if EnsembleDir::is_ensemble(run) {
        let message = "is an ensemble; members must be single trained models (ensembles do not nest)";
        return Err(Error::format(run, message));
    }
    Ok(load_model(run)?.1)
}

fn check_members(members: &[Network], path: &Path) -> Result<(), Error> {
    let (input, classes) = (members[0].input, members[0].outputs());
    for (i, m) in members.iter().enumerate() {
        if m.input != input || m.outputs() != classes {
            return Err(Error::Format {
                path: path.into(),
                message: format!(
                    "member {i} takes {:?} → {} classes, member 0 {input:?} → {classes}",
                    m.input,
                    m.outputs()
                ),
            });
        }
    }
    Ok(())
}

/// The most test-time augmented copies an ensemble averages (more cost time, not accuracy).
pub const MAX_TTA: usize = 64;

/// The most members an ensemble may have.
pub const MAX_MEMBERS: usize = 256;

/// An error naming `path` (the ensemble) when it has more than [`MAX_MEMBERS`] members.
fn check_member_count(n: usize, path: &Path) -> Result<(), Error> {
    if n > MAX_MEMBERS {
        return Err(Error::format(path, format!("{n} members, more than an ensemble may have ({MAX_MEMBERS})")));
    }
    Ok(())
}

/// `total` plus the parameters of the last of `members` (loaded for the ensemble `path`): the
/// members together are held to one model's limit, [`MAX_PARAMS`], so that a member listed
/// again and again cannot multiply the memory an ensemble takes.
fn count_params(total: usize, members: &[Network], path: &Path) -> Result<usize, Error> {
    let (t, n) = members.last().map_or((0, 0), Network::param_counts);
    let total = total.saturating_add(t).saturating_add(n);
    if total > MAX_PARAMS {
        let message = format!(
            "its first {} members hold {total} parameters, more than an ensemble may hold in all ({MAX_PARAMS})",
            members.len()
        );
        return Err(Error::format(path, message));
    }
    Ok(total)
}

/// Makes an ensemble directory `out` from single-model run directories, under `out`'s lock
/// ([`crate::lock::prepare_ensemble`] says which directories may hold one; an ensemble already
/// there is replaced only with `overwrite`). The members are checked first, then copied into a
/// temporary folder that replaces `out/members/` once complete, and `ensemble.json` is written
/// last: a failure leaves the old ensemble (or, in a directory this call created, nothing).
pub fn save_ensemble(
    out: &Path,
    runs: &[PathBuf],
    tta: usize,
    tta_augment: AugmentConfig,
    overwrite: bool,
) -> Result<(), Error> {
    let sources = runs.iter().map(|r| r.display().to_string()).collect();
    save_ensemble_named(out, runs, sources, tta, tta_augment, overwrite)
}

/// [`save_ensemble`], naming the members `sources` (one per run) in `ensemble.json` rather
/// than by their run directories: members assembled from a study's store are trained in
/// scratch directories whose names mean nothing.
pub fn save_ensemble_named(
    out: &Path,
    runs: &[PathBuf],
    sources: Vec<String>,
    tta: usize,
    tta_augment: AugmentConfig,
    overwrite: bool,
) -> Result<(), Error> {
    if sources.len() != runs.len() {
        return Err(Error::invalid(format!("{} names for {} members", sources.len(), runs.len())));
    }
    if runs.is_empty() {
        return Err(Error::Invalid("an ensemble needs at least one member".into()));
    }
    if tta > MAX_TTA {
        return Err(Error::invalid(format!("--tta {tta} is more copies than helps; use at most {MAX_TTA}")));
    }
    check_member_count(runs.len(), out)?;
    let (mut members, mut params) = (Vec::new(), 0);
    for run in runs {
        members.push(load_member(run)?);
        params = count_params(params, &members, out)?;
    }
    check_members(&members, out)?;
    let created = !out.exists();
    let lock = crate::lock::prepare_ensemble(out, runs, overwrite)?;
    let written = write_ensemble(out, runs, sources, tta, tta_augment);
    if written.is_err() && created {
        let _ = std::fs::remove_dir_all(out);
    }
    drop(lock);
    written
}

fn write_ensemble(
    out: &Path,
    runs: &[PathBuf],
    sources: Vec<String>,
    tta: usize,
    tta_augment: AugmentConfig,
) -> Result<(), Error> {
    let dir = EnsembleDir::new(out);
    let staging = crate::atomic::builder(".members.", 0o777).tempdir_in(out).map_err(Error::io(out))?;
    let mut rel = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let dst = staging.path().join(i.to_string());
        std::fs::create_dir(&dst).map_err(Error::io(&dst))?;
        let run = RunDir::new(run);
        let history = run.history_json();
        // The history goes along when there is one, for the ensemble's report.
        let files = [run.model_json(), run.weights()].into_iter().chain(history.is_file().then_some(history));
        for from in files {
            let to = dst.join(from.file_name().expect("a file name"));
            std::fs::copy(&from, &to).map_err(Error::io(&from))?;
        }
        rel.push(EnsembleDir::member_rel(i));
    }
    // Replacing: the old description goes first, so a half-replaced ensemble never loads.
    let (json, members) = (dir.ensemble_json(), out.join(layout::MEMBERS_DIR));
    for gone in [std::fs::remove_file(&json), std::fs::remove_dir_all(&members)] {
        gone.or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(Error::io(out))?;
    }
    // Once renamed, the staging folder's own clean-up finds nothing to remove.
    std::fs::rename(staging.path(), &members).map_err(Error::io(&members))?;
    let file = EnsembleFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        members: rel,
        tta,
        tta_augment,
        sources,
        calibration: None,
    };
    crate::atomic::write_json(&json, &file)
}
