//! `digits train --resume`: a run killed with SIGKILL at a random moment and resumed ends with
//! the same weights and history as the same run uninterrupted; callbacks act as Keras' do.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

mod common;
use common::{digits_cmd as digits, ok_output, temp_dir, weights_hash};

fn ok(out: Output) -> String {
    ok_output(&[], out)
}

/// The history without its timings.
fn history(dir: &Path) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("history.json")).unwrap()).unwrap();
    let mut epochs = v.as_array().unwrap().clone();
    for e in &mut epochs {
        e.as_object_mut().unwrap().remove("seconds");
    }
    epochs
}

#[test]
fn a_run_killed_at_a_seeded_moment_resumes_to_the_same_result() {
    let dir = temp_dir("kill");
    let args = |out: &Path| {
        vec![
            "train".to_string(),
            "--model".into(),
            "mlp-512-512-d".into(),
            "--limit".into(),
            "12000".into(),
            "--epochs".into(),
            "6".into(),
            "--validation-split".into(),
            "0.1".into(),
            "--reduce-lr".into(),
            "1".into(),
            "--reduce-lr-factor".into(),
            "0.5".into(),
            "--early-stopping".into(),
            "3".into(),
            "--restore-best-weights".into(),
            "--augment".into(),
            "--threads".into(),
            "2".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let whole = dir.join("whole");
    ok(digits().args(args(&whole)).output().unwrap());

    // Where to kill comes from a seed, not from the wall clock: after a seeded epoch's line,
    // and a seeded delay into the next epoch (each takes about half a second here).
    let mut rng = SplitMix(0x5EED_0011);
    let (after_epoch, delay_ms) = (1 + rng.next() % 4, rng.next() % 400);
    let killed = dir.join("killed");
    let mut child = digits().args(args(&killed)).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // The reader stays open until the kill: a closed pipe would end the run with SIGPIPE instead.
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    for line in std::io::BufRead::lines(&mut reader) {
        let line = line.unwrap();
        if line.starts_with(&format!("Epoch {after_epoch}/")) {
            seen += 1;
            break;
        }
    }
    assert_eq!(seen, 1, "the run never finished epoch {after_epoch}");
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    drop(reader);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the run ended before it could be killed: {status}");
    assert!(!killed.join("model.safetensors").exists(), "an interrupted run must not look finished");

    let out = ok(digits().args(["train", "--resume", killed.to_str().unwrap()]).output().unwrap());
    assert!(out.contains("resuming") && out.contains("test: loss"), "{out}");
    assert_eq!(history(&whole), history(&killed));
    assert_eq!(
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(killed.join("model.safetensors")).unwrap(),
        "resumed weights differ from the uninterrupted run's"
    );
}

#[test]
fn early_stopping_and_reduce_lr_act_and_say_so() {
    let dir = temp_dir("callbacks");
    let out = ok(digits()
        .args(["train", "--model", "mlp-64-64", "--limit", "6000", "--epochs", "12", "--validation-split", "0.2"])
        .args(["--early-stopping", "2", "--restore-best-weights", "--reduce-lr", "1", "--reduce-lr-factor", "0.5"])
        .args(["--lr", "0.01", "--out", dir.join("run").to_str().unwrap()])
        .output()
        .unwrap());
    let h = history(&dir.join("run"));
    assert!(h.len() < 12, "early stopping never stopped:\n{out}");
    let stop = h.len();
    assert!(out.contains(&format!("Epoch {stop}: early stopping")), "{out}");
    // The learning rate halves after each epoch without improvement of val_loss.
    assert!(out.contains("ReduceLROnPlateau reducing learning rate to 5.0000e-3"), "{out}");
    let lrs: Vec<f64> = h.iter().map(|e| e["lr"].as_f64().unwrap()).collect();
    assert!(lrs.windows(2).all(|w| w[1] <= w[0]) && lrs.last() < lrs.first(), "{lrs:?}");
    // Restored to the best epoch: the saved model's val loss is the best one.
    let best = h.iter().map(|e| e["val_loss"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    let line = out.lines().find(|l| l.starts_with("Restoring model weights")).expect(&out);
    let best_epoch = h.iter().position(|e| e["val_loss"].as_f64().unwrap() == best).unwrap() + 1;
    assert!(line.ends_with(&format!("best epoch: {best_epoch}.")), "{line}");
    // A validation monitor without validation is an error, not a silent no-op.
    let bad = digits()
        .args(["train", "--model", "mlp-64-64", "--limit", "500", "--early-stopping", "1", "--out"])
        .arg(dir.join("bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("watches val_loss but there is no validation set"), "{err}");
}

/// Regression: serde_json's default float parser is not correctly rounded, so a resumed run's
/// history and callback state (the best val_loss so far) came back one ulp off, e.g.
/// 2987/3000 as 0.9956666666666668, and could steer EarlyStopping differently.
#[test]
fn checkpoint_progress_floats_survive_bit_for_bit() {
    use digits::model::presets::preset;
    use digits::optim::{Optimizer, OptimizerConfig};
    use digits::train::checkpoint::{load_checkpoint, save_checkpoint};
    use digits::train::{EpochRecord, Progress};
    let mut net = preset("mlp-64-64").unwrap().build(1).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::by_name("adam").unwrap());
    let mut progress = Progress::default();
    // Many awkward values: ratios of counts, losses, rates after repeated scaling.
    let mut x = 0.021_731_f64;
    for epoch in 1..=200 {
        x = (x * 1.618_033_988_749_895 + 0.1).fract();
        progress.history.epochs.push(EpochRecord {
            epoch,
            loss: x / 7.0,
            accuracy: (2900 + epoch) as f64 / 3000.0,
            val_loss: Some(x * x / 3.0),
            val_accuracy: Some((2800 + epoch) as f64 / 2999.0),
            lr: 0.002 * (0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / 200.0).cos())),
            seconds: x * 100.0,
        });
    }
    progress.epochs_done = 200;
    progress.callbacks.early_stopping.best = Some(0.021_732_551_187_000_01);
    progress.callbacks.lr_scale = 0.1 * 0.1 * 0.1;
    let dir = temp_dir("floats");
    let path = dir.join("checkpoint.safetensors");
    save_checkpoint(&path, &net, &opt, &progress).unwrap();
    let back = load_checkpoint(&path, &mut net, &mut opt).unwrap();
    for (a, b) in progress.history.epochs.iter().zip(&back.history.epochs) {
        assert_eq!(a, b, "epoch {}", a.epoch);
        for (x, y) in [(a.loss, b.loss), (a.lr, b.lr), (a.val_accuracy.unwrap(), b.val_accuracy.unwrap())] {
            assert_eq!(x.to_bits(), y.to_bits(), "epoch {}", a.epoch);
        }
    }
    assert_eq!(back, progress);
}

/// A small seeded generator (SplitMix64), so the test's choices are the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `--restore-best-weights` saves the best epoch's weights: bit for bit those of the same run
/// trained to the best epoch only, and not those of the epoch it stopped at.
#[test]
fn restore_best_weights_saves_the_best_epochs_weights() {
    let dir = temp_dir("restore");
    let train = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let text = ok(digits()
            .args(["train", "--model", "mlp-64-64", "--limit", "6000", "--validation-split", "0.2", "--lr", "0.01"])
            .args(["--threads", "2", "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap());
        (weights_hash(&out.join("model.safetensors")), history(&out), text)
    };
    let (restored, h, out) = train("restored", &["--epochs", "12", "--early-stopping", "2", "--restore-best-weights"]);
    let stop = h.len();
    let best = h.iter().map(|e| e["val_loss"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    let best_epoch = h.iter().position(|e| e["val_loss"].as_f64().unwrap() == best).unwrap() + 1;
    assert!(stop < 12 && best_epoch < stop, "the run must stop early after its best epoch:\n{out}");
    let (to_best, ..) = train("to-best", &["--epochs", &best_epoch.to_string()]);
    let (to_stop, ..) = train("to-stop", &["--epochs", &stop.to_string()]);
    // The check can tell the two apart: without restoring, the weights would be the last epoch's.
    assert_ne!(to_best, to_stop, "the best and the last epoch's weights are the same: nothing to check");
    assert_eq!(restored, to_best, "the saved weights are not the best epoch's (epoch {best_epoch} of {stop})");
}
