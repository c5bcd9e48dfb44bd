//! End-to-end tests of the `digits` binary on the real bundled MNIST.

use std::path::Path;
use std::process::Command;

mod common;
use common::{digits, ok, temp_dir};

#[test]
fn models_json_lists_every_preset_with_keras_param_counts() {
    let v: serde_json::Value = serde_json::from_str(&ok(&["models", "--json"])).unwrap();
    let want = [
        ("mlp-512-512-d", 669_706),
        ("mlp-512-512", 669_706),
        ("mlp-512-128", 468_874),
        ("mlp-500-300-100-bn", 575_510),
        ("mlp-500-400-300-200-50-bn", 784_960),
        ("mlp-512-256", 535_818),
        ("mlp-64-64", 55_050),
        ("mlp-sigmoid-l2", 60_970),
        ("cnn-32-64", 858_122),
    ];
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), want.len());
    for (e, (name, params)) in list.iter().zip(want) {
        assert_eq!(e["name"], name);
        assert_eq!(e["params"], params);
        assert!(!e["description"].as_str().unwrap().is_empty());
    }
}

/// 5,000 real training images, one epoch: the default MLP must reach 90% on the 10,000 test
/// images; the run directory must hold everything `evaluate` and `predict` need.
#[test]
fn train_5000_images_one_epoch_reaches_90_percent_then_evaluate_and_predict() {
    let dir = temp_dir("train5k");
    let run = dir.join("run");
    let out = ok(&[
        "train",
        "--limit",
        "5000",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--validation-split",
        "0.1",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.contains("Epoch 1/1"), "{out}");
    for f in ["model.json", "model.safetensors", "train.json", "history.csv", "history.json", "metrics.json"] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let acc = metrics["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.90, "test accuracy {acc}");
    let hist: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    let rec = &hist[0];
    for k in ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"] {
        assert!(rec.get(k).is_some(), "history lacks {k}");
    }
    assert!(rec["val_accuracy"].as_f64().unwrap() > 0.85);
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert!(csv.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n1,"), "{csv}");

    // evaluate --json agrees with the metrics written at the end of training.
    let ev: serde_json::Value =
        serde_json::from_str(&ok(&["evaluate", "--model", run.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(ev["accuracy"], metrics["accuracy"]);
    let cm = ev["confusion_matrix"].as_array().unwrap();
    assert_eq!(cm.len(), 10);
    let total: u64 = cm.iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 10_000);
    assert_eq!(ev["per_class"].as_array().unwrap().len(), 10);
    let table = ok(&["evaluate", "--model", run.to_str().unwrap()]);
    assert!(table.contains("macro avg") && table.contains("weighted avg") && table.contains("true"), "{table}");

    // predict: the first test image of MNIST is a 7.
    let p = ok(&["predict", "--model", run.to_str().unwrap(), "--limit", "3"]);
    let lines: Vec<&str> = p.lines().collect();
    assert_eq!(lines.len(), 4, "{p}");
    let first: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(first[1], "7", "{p}");
    let probs: f32 = first[2..].iter().map(|v| v.parse::<f32>().unwrap()).sum();
    assert!((probs - 1.0).abs() < 2e-3);
    let _ = std::fs::remove_dir_all(&dir);
}

fn history_without_times(run: &Path) -> Vec<serde_json::Value> {
    let mut h: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    for r in &mut h {
        r.as_object_mut().unwrap().remove("seconds");
    }
    h
}

#[test]
fn same_seed_and_threads_give_the_same_history_and_weights_bit_for_bit() {
    let dir = temp_dir("determinism");
    let mut runs = Vec::new();
    for (k, seed) in ["7", "7", "8"].iter().enumerate() {
        let run = dir.join(format!("run{k}"));
        ok(&[
            "train",
            "--model",
            "cnn-32-64",
            "--limit",
            "512",
            "--epochs",
            "2",
            "--batch-size",
            "64",
            "--seed",
            seed,
            "--threads",
            "2",
            "--validation-split",
            "0.25",
            "--out",
            run.to_str().unwrap(),
        ]);
        runs.push(run);
    }
    assert_eq!(history_without_times(&runs[0]), history_without_times(&runs[1]));
    let w0 = std::fs::read(runs[0].join("model.safetensors")).unwrap();
    let w1 = std::fs::read(runs[1].join("model.safetensors")).unwrap();
    let w2 = std::fs::read(runs[2].join("model.safetensors")).unwrap();
    assert!(w0 == w1, "same seed, different weights");
    assert!(w0 != w2, "different seeds, same weights");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_model_and_missing_data_are_clear_errors() {
    let out = digits(&["train", "--model", "no-such-model"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'no-such-model' is neither a preset nor a model file"), "{err}");
    let out = digits(&["train", "--data", "/nonexistent/mnist", "--epochs", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/mnist") && !err.contains("panicked"), "{err}");
    let out = digits(&["evaluate", "--model", "/nonexistent/run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/run: no such model directory"), "{err}");
}

#[test]
fn model_file_in_toml_trains_and_bad_model_files_name_the_problem() {
    let dir = temp_dir("modelfile");
    let f = dir.join("tiny.toml");
    std::fs::write(
        &f,
        "input = [28, 28, 1]\n[[layers]]\ntype = \"conv2d\"\nfilters = 4\nkernel_size = 3\nstrides = 2\npadding = \"same\"\nactivation = \"relu\"\n\
         [[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n",
    )
    .unwrap();
    let run = dir.join("run");
    let out = ok(&[
        "train",
        "--model",
        f.to_str().unwrap(),
        "--limit",
        "256",
        "--epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.contains("model tiny (7890 params)"), "{out}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[layers]]\ntype = \"dense\"\nunits = 10\nactivaton = \"relu\"\n").unwrap();
    let out = digits(&["train", "--model", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("activaton"), "{err}");
    let misfit = dir.join("misfit.json");
    std::fs::write(&misfit, r#"{"layers": [{"type": "conv2d", "filters": 2, "kernel_size": 40}]}"#).unwrap();
    let out = digits(&["train", "--model", misfit.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("misfit.json") && err.contains("does not fit input 28×28×1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cosine_schedule_decays_the_learning_rate_to_zero_over_the_run() {
    let dir = temp_dir("cosine");
    let run = dir.join("run");
    ok(&[
        "train",
        "--limit",
        "640",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--lr",
        "0.002",
        "--schedule",
        "cosine",
        "--out",
        run.to_str().unwrap(),
    ]);
    let h: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    // 10 steps per epoch, 20 in all; the lr recorded is that of each epoch's last step (9, 19).
    let want = |t: f64| 0.002 * 0.5 * (1.0 + (std::f64::consts::PI * t / 20.0).cos());
    assert!((h[0]["lr"].as_f64().unwrap() - want(9.0)).abs() < 1e-6, "{:?}", h[0]);
    assert!((h[1]["lr"].as_f64().unwrap() - want(19.0)).abs() < 1e-6, "{:?}", h[1]);
    let out = digits(&["train", "--schedule", "linear"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown schedule 'linear'"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `digits cv | head -1` used to panic with "failed printing to stdout: Broken pipe", and
/// `digits predict | head -1` to print "error: Broken pipe".
#[test]
fn broken_pipe_ends_quietly_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_digits"))
        .args(["predict", "--model", run.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DIGITS_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // then drop the pipe
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("index\tlabel"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn augment_preview_draws_the_grid_and_augmented_training_is_reproducible() {
    let dir = temp_dir("augment");
    let png = dir.join("grid.png");
    let out = ok(&["augment-preview", "--rows", "3", "--columns", "4", "--scale", "2", "--out", png.to_str().unwrap()]);
    assert!(out.contains("rotation 10°"), "{out}");
    let img = image::open(&png).unwrap();
    // 5 cells of 28·2 + 2 px, three 2-px gaps after the original column; 3 rows.
    assert_eq!((img.width(), img.height()), (5 * 58 + 6, 3 * 58 + 2));
    let bad = digits(&["augment-preview", "--zoom", "1.5", "--out", png.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("zoom must be below 1"));
    // Augmented training: the same seed gives the same run; augmentation changes it.
    let args = ["train", "--model", "mlp-64-64", "--limit", "2000", "--epochs", "1", "--validation", "none"];
    let run = |extra: &[&str], name: &str| {
        let d = dir.join(name);
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--out", d.to_str().unwrap()]);
        ok(&a);
        std::fs::read(d.join("model.safetensors")).unwrap()
    };
    let aug1 = run(&["--augment", "--shear", "10", "--elastic-alpha", "20"], "a1");
    let aug2 = run(&["--augment", "--shear", "10", "--elastic-alpha", "20"], "a2");
    let plain = run(&[], "plain");
    assert_eq!(aug1, aug2, "augmented training is not reproducible");
    assert_ne!(aug1, plain);
    let train: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("a1/train.json")).unwrap()).unwrap();
    assert_eq!(train["config"]["augment"]["rotation"], 10.0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The training flags reach the run's settings (train.json): optimizer, momentum, Nesterov,
/// loss, and flags over a recipe's values (the recipe keeps the rest).
#[test]
fn optimizer_loss_and_recipe_flags_reach_the_runs_settings() {
    let dir = temp_dir("wiring");
    let settings = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.join(name);
        let mut args =
            vec!["train", "--limit", "600", "--epochs", "1", "--threads", "2", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        ok(&args);
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap()
    };
    let sgd = settings(
        "sgd",
        &["--model", "mlp-64-64", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--nesterov"],
    );
    let opt = &sgd["config"]["optimizer"];
    assert_eq!(opt["name"], "sgd", "{opt}");
    assert_eq!(opt["momentum"].as_f64().unwrap() as f32, 0.9, "{opt}");
    assert_eq!(opt["nesterov"], true, "{opt}");
    assert_eq!(opt["lr"].as_f64().unwrap() as f32, 0.05, "{opt}");
    let rms = settings("rms", &["--model", "mlp-64-64", "--optimizer", "rmsprop", "--momentum", "0.5"]);
    assert_eq!(rms["config"]["optimizer"]["name"], "rmsprop");
    assert_eq!(rms["config"]["optimizer"]["momentum"].as_f64().unwrap() as f32, 0.5);
    let cat = settings("cat", &["--model", "mlp-64-64", "--loss", "categorical_crossentropy"]);
    assert_eq!(cat["config"]["loss"], "categorical_crossentropy");
    assert_eq!(sgd["config"]["loss"], "sparse_categorical_crossentropy");
    // The `fast` recipe with two of its values overridden keeps its model and schedule.
    let fast = settings("fast", &["--recipe", "fast", "--batch-size", "64", "--schedule", "constant"]);
    let recipe: toml::Value = toml::from_str(&std::fs::read_to_string("recipes/fast.toml").unwrap()).unwrap();
    assert_eq!(fast["config"]["batch_size"], 64);
    assert_eq!(fast["config"]["epochs"], 1);
    assert_eq!(fast["config"]["schedule"], "constant");
    assert_ne!(recipe["batch_size"].as_integer(), Some(64), "the override must differ from the recipe");
    let fast_plain = settings("fast-plain", &["--recipe", "fast"]);
    assert_eq!(fast_plain["config"]["batch_size"].as_i64(), recipe["batch_size"].as_integer());
    assert_eq!(fast["model"], fast_plain["model"]);
    assert_eq!(fast["model"], "cnn-fast");
    assert_eq!(fast["config"]["optimizer"]["lr"].as_f64().unwrap() as f32, 0.005);
    assert_eq!(fast_plain["config"]["schedule"], "one_cycle");
    assert!(digits(&["train", "--optimizer", "adam", "--nesterov", "--limit", "10"]).status.code() == Some(1));
}

/// Regression (issue 11): a model whose input does not match the data panicked in the fit loop;
/// it is an error naming both shapes, before anything trains.
#[test]
fn a_model_whose_input_does_not_fit_the_data_is_an_error_naming_both_shapes() {
    let dir = temp_dir("shape");
    let model = dir.join("wide.toml");
    std::fs::write(&model, "input = [32, 32, 1]\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n").unwrap();
    let out = digits(&[
        "train",
        "--model",
        model.to_str().unwrap(),
        "--limit",
        "100",
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("32×32×1") && err.contains("28×28×1"), "{err}");
    assert!(!dir.join("run").join("model.json").exists(), "nothing is saved");
}
