//! Kaggle CSV files end to end: MNIST → CSV → digits round trips, the submission file, CSV
//! training data, cross-validation, and a clear error for every kind of bad file.

mod common;

use common::{ok, s, temp_dir};
use digits::data::{Split, csv, idx, load_csv, load_mnist, unscale_pixels};
use std::path::{Path, PathBuf};

/// Runs a command that must fail cleanly (status 1, no panic); returns its stderr.
fn fails(args: &[&str]) -> String {
    let stderr = common::fails(args);
    assert!(!stderr.contains("panicked"), "digits {args:?} panicked:\n{stderr}");
    stderr
}

fn mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

#[test]
fn mnist_to_csv_to_digits_gives_the_idx_pixels_and_labels() {
    let dir = temp_dir("roundtrip");
    let out = ok(&["export-data", "--format", "csv", "--out", s(&dir)]);
    assert!(out.contains("train.csv: 60000 images") && out.contains("test.csv: 10000 images"), "{out}");
    for split in [Split::Train, Split::Test] {
        let idx = load_mnist(&mnist(), split).unwrap();
        let path = dir.join(format!("{}.csv", split.name()));
        let raw = csv::read_csv(&path).unwrap();
        let want =
            idx::read_idx_images(&mnist().join(format!("{}-images-idx3-ubyte.gz", split.file_prefix()))).unwrap();
        assert_eq!(raw.pixels, want.pixels, "{split}: CSV grey levels differ from the IDX file");
        let back = load_csv(&path).unwrap();
        assert_eq!(back.labels, idx.labels);
        assert_eq!(back.images, idx.images, "{split}: scaled pixels differ");
    }
    // And back to IDX (gzip): the same bytes as the bundled files, decompressed.
    let idx_dir = temp_dir("roundtrip-idx");
    ok(&["export-data", "--format", "idx", "--gzip", "--data", s(&dir.join("test.csv")), "--out", s(&idx_dir)]);
    let a = load_mnist(&idx_dir, Split::Train).unwrap(); // a single file exports as the train split
    assert_eq!(a.images, load_mnist(&mnist(), Split::Test).unwrap().images);
}

#[test]
fn kaggle_submission_has_10001_lines_and_agrees_with_evaluate() {
    let dir = temp_dir("submission");
    let run = dir.join("run");
    // Kaggle's test.csv has no label column: make one from the test set.
    let test = load_mnist(&mnist(), Split::Test).unwrap();
    let test_csv = dir.join("test.csv");
    csv::write_csv(&test_csv, &unscale_pixels(&test.images), None).unwrap();
    ok(&["train", "--model", "mlp-64-64", "--epochs", "1", "--limit", "5000", "--out", s(&run)]);
    let sub = dir.join("submission.csv");
    let out = ok(&["predict", "--model", s(&run), "--input", s(&test_csv), "--submission", s(&sub)]);
    assert!(out.contains("10000 predictions"), "{out}");
    let text = std::fs::read_to_string(&sub).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_001);
    assert_eq!(lines[0], "ImageId,Label");
    let mut correct = 0;
    for (i, line) in lines[1..].iter().enumerate() {
        let (id, label) = line.split_once(',').unwrap();
        assert_eq!(id.parse::<usize>().unwrap(), i + 1);
        correct += (label.parse::<u8>().unwrap() == test.labels[i]) as usize;
    }
    let eval: serde_json::Value = serde_json::from_str(&ok(&["evaluate", "--model", s(&run), "--json"])).unwrap();
    assert_eq!(correct as f64 / 10_000.0, eval["accuracy"].as_f64().unwrap());
    assert!(correct > 8_000, "{correct} correct");
}

#[test]
fn trains_and_evaluates_on_a_labelled_csv_file() {
    let dir = temp_dir("traincsv");
    let train = load_mnist(&mnist(), Split::Train).unwrap().subset(&(0..3000).collect::<Vec<_>>());
    let train_csv = dir.join("train.csv.gz");
    csv::write_csv(&train_csv, &unscale_pixels(&train.images), Some(&train.labels)).unwrap();
    let run = dir.join("run");
    let args = ["train", "--model", "mlp-64-64", "--epochs", "2", "--data", s(&train_csv), "--out", s(&run)];
    // A single file has no test set: validating on it must be asked for some other way.
    let err = fails(&[&args[..], &["--validation", "test"]].concat());
    assert!(err.contains("no test set") && err.contains("--test-data"), "{err}");
    let out = ok(&[&args[..], &["--validation-split", "0.2"]].concat());
    assert!(out.contains("2400 training images"), "{out}");
    assert!(out.contains("validation: loss"), "{out}");
    // --test-data scores it on the real test set as well (a second run into the same directory).
    let out = ok(&[&args[..], &["--test-data", s(&mnist()), "--overwrite"]].concat());
    let line = out.lines().find(|l| l.starts_with("test: ")).expect(&out);
    assert!(line.contains("/10000)"), "{line}");
    let eval: serde_json::Value =
        serde_json::from_str(&ok(&["evaluate", "--model", s(&run), "--data", s(&train_csv), "--json"])).unwrap();
    assert!(eval["accuracy"].as_f64().unwrap() > 0.8, "{eval}");
}

#[test]
fn cv_runs_stratified_folds_and_reports_mean_and_std() {
    let out = ok(&[
        "cv",
        "--model",
        "mlp-64-64",
        "--folds",
        "3",
        "--limit",
        "1500",
        "--epochs",
        "2",
        "--lr",
        "0.005",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let folds = v["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let accs: Vec<f64> = folds.iter().map(|f| f["accuracy"].as_f64().unwrap()).collect();
    for f in folds {
        assert_eq!(f["train"].as_u64().unwrap() + f["validation"].as_u64().unwrap(), 1500);
        assert!((499..=501).contains(&f["validation"].as_u64().unwrap()), "{f}");
    }
    let mean = accs.iter().sum::<f64>() / 3.0;
    let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!((v["mean_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((v["std_accuracy"].as_f64().unwrap() - std).abs() < 1e-12);
    assert!(mean > 0.75, "{out}");
    // The text form ends with the summary line.
    let text = ok(&["cv", "--model", "mlp-64-64", "--folds", "2", "--limit", "600", "--epochs", "1"]);
    assert!(text.contains("fold 2/2: val_loss"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("accuracy: ") && text.contains(" ± "), "{text}");
}

// ---- bad files: each names the file, the line and the problem; no partial output ----

fn header(label: bool, pixels: usize) -> String {
    let mut h: Vec<String> = (0..pixels).map(|i| format!("pixel{i}")).collect();
    if label {
        h.insert(0, "label".into());
    }
    h.join(",")
}

fn row(label: Option<&str>, cells: &[(usize, &str)]) -> String {
    let mut v: Vec<String> = vec!["0".into(); 784];
    for &(i, c) in cells {
        v[i] = c.into();
    }
    if let Some(l) = label {
        v.insert(0, l.into());
    }
    v.join(",")
}

/// Writes `text` as a CSV file, runs `predict --submission` and `evaluate` on it, and checks
/// both fail naming the file and containing `want`, and that no submission was written.
fn rejects(name: &str, text: &str, want: &str) {
    let dir = temp_dir(name);
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run");
    let path = dir.join("bad.csv");
    std::fs::write(&path, text).unwrap();
    let sub = dir.join("submission.csv");
    let err = fails(&["predict", "--model", s(&run), "--input", s(&path), "--submission", s(&sub)]);
    assert!(err.contains(s(&path)) && err.contains(want), "expected {want:?} naming the file, got:\n{err}");
    assert!(!sub.exists(), "a submission was written for a bad input");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "stray files left behind");
    let err = fails(&["evaluate", "--model", s(&run), "--data", s(&path)]);
    assert!(err.contains(s(&path)) && err.contains(want), "evaluate: expected {want:?}, got:\n{err}");
}

#[test]
fn csv_with_a_wrong_header_is_rejected() {
    let text = format!("{}\n{}\n", header(true, 784).replace("pixel5,", "pixel_5,"), row(Some("1"), &[]));
    rejects("header", &text, "line 1: header column 7 is `pixel_5`, expected `pixel5`");
}

#[test]
fn csv_with_a_wrong_column_count_is_rejected() {
    let mut text = format!("{}\n{}\n", header(true, 784), row(Some("1"), &[]));
    text += row(Some("2"), &[]).rsplit_once(',').unwrap().0; // one cell short on line 3
    rejects("columns", &text, "line 3: 784 columns, but the header has 785");
}

#[test]
fn csv_with_a_non_numeric_cell_is_rejected() {
    let text = format!("{}\n{}\n", header(true, 784), row(Some("4"), &[(100, "abc")]));
    rejects("nonnumeric", &text, "line 2: column 102 (pixel100): `abc` is not a whole number");
}

#[test]
fn csv_with_a_value_outside_0_255_is_rejected() {
    let text = format!("{}\n{}\n", header(true, 784), row(Some("4"), &[(783, "256")]));
    rejects("range", &text, "line 2: column 785 (pixel783): 256 is outside 0-255");
}

#[test]
fn empty_csv_is_rejected() {
    rejects("empty", "", "the file is empty: expected the header `label,pixel0,…,pixel783`");
    rejects("headeronly", &format!("{}\n", header(true, 784)), "no images: the file has a header but no data lines");
}

#[test]
fn csv_with_a_label_outside_0_9_is_rejected() {
    let text = format!("{}\n{}\n{}\n", header(true, 784), row(Some("3"), &[]), row(Some("10"), &[]));
    rejects("label", &text, "line 3: label 10 is outside 0-9");
}

#[test]
fn csv_and_idx_images_that_are_not_28x28_are_rejected() {
    let text = format!("{}\n{}\n", header(true, 400), vec!["0"; 401].join(","));
    rejects("shape", &text, "the header names 400 pixel columns, but 28x28 images need 784");
    // An IDX file of 20x20 images.
    let dir = temp_dir("idxshape");
    let path = dir.join("small-images-idx3-ubyte");
    idx::write_idx_images(&path, &idx::IdxImages { count: 2, rows: 20, cols: 20, pixels: vec![0; 800] }).unwrap();
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run");
    let sub = dir.join("submission.csv");
    let err = fails(&["predict", "--model", s(&run), "--input", s(&path), "--submission", s(&sub)]);
    assert!(err.contains(s(&path)) && err.contains("images are 20x20, the model expects 28x28"), "{err}");
    assert!(!sub.exists());
}

#[test]
fn test_csv_without_labels_cannot_be_evaluated() {
    let dir = temp_dir("nolabels");
    let path = dir.join("test.csv");
    std::fs::write(&path, format!("{}\n{}\n", header(false, 784), row(None, &[]))).unwrap();
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run");
    let err = fails(&["evaluate", "--model", s(&run), "--data", s(&path)]);
    assert!(err.contains("no `label` column"), "{err}");
}
