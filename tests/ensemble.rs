//! `digits ensemble`: the ensemble's probabilities are the mean of its members', with and
//! without test-time augmentation, and `evaluate` accepts the ensemble directory.

use digits::data::{Split, load_mnist};
use digits::model::load_model;
use digits::model::{Classifier, Classify};
use std::path::{Path, PathBuf};

mod common;
use common::{digits, ok, s};

#[test]
fn ensemble_averages_its_members_and_evaluates() {
    let dir = std::env::temp_dir().join(format!("digits-ensemble-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runs: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("m{i}"))).collect();
    for (i, r) in runs.iter().enumerate() {
        let seed = (i + 1).to_string();
        ok(&[
            "train",
            "--model",
            "mlp-64-64",
            "--limit",
            "3000",
            "--epochs",
            "2",
            "--lr",
            "0.005",
            "--seed",
            &seed,
            "--out",
            s(r),
        ]);
    }
    let ens = dir.join("ens");
    let mut args = vec!["ensemble"];
    args.extend(runs.iter().map(|r| s(r)));
    args.extend(["--out", s(&ens)]);
    assert!(ok(&args).contains("ensemble of 3 models"));
    let test = load_mnist(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"), Split::Test).unwrap();
    let x = &test.images[..200 * 784];
    let mut members: Vec<_> = runs.iter().map(|r| load_model(r).unwrap().1).collect();
    let probs: Vec<Vec<f32>> = members.iter_mut().map(|m| m.predict(x, 100)).collect();
    let mut model = Classifier::load(&ens).unwrap();
    let got = model.predict_proba(x, 100);
    for (j, g) in got.iter().enumerate() {
        let mean = probs.iter().map(|p| p[j]).sum::<f32>() / 3.0;
        assert!((g - mean).abs() < 1e-6, "value {j}: {g} vs mean {mean}");
    }
    // With test-time augmentation the copies change the answer, reproducibly.
    let tta = dir.join("tta");
    args.pop();
    args.extend([s(&tta), "--tta", "3"]);
    ok(&args);
    let a = Classifier::load(&tta).unwrap().predict_proba(x, 100);
    let b = Classifier::load(&tta).unwrap().predict_proba(x, 50);
    // (The same copies whatever the batch size; only the products' rounding differs.)
    let most = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(most < 1e-5, "TTA depends on the batch size: differs by {most}");
    let moved = a.iter().zip(&got).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "TTA changed nothing");
    let eval: serde_json::Value = serde_json::from_str(&ok(&["evaluate", "--model", s(&ens), "--json"])).unwrap();
    assert!(eval["accuracy"].as_f64().unwrap() > 0.85, "{eval}");
    // The ensemble's report: every member's learning curves in one chart, one history row each.
    ok(&["report", s(&tta)]);
    let html = std::fs::read_to_string(tta.join("report.html")).unwrap();
    for chart in ["learning-curves", "confusion-matrix", "per-class", "misclassified", "weights"] {
        assert!(html.contains(&format!("<img alt=\"{chart}\" src=\"data:image/png;base64,")), "{chart} missing");
    }
    assert!(html.contains("An ensemble of 3 models") && html.contains("3 augmented copies"), "what it averages");
    for r in &runs {
        assert!(
            html.contains(&format!("<td class=\"l\">{}</td><td>2</td>", s(r))),
            "member {} has no history row",
            s(r)
        );
    }
    // Members that do not fit together are refused, naming the problem.
    let odd = dir.join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    let err = digits(&["ensemble", s(&runs[0]), s(&odd), "--out", s(&dir.join("bad"))]);
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && msg.contains("model.json is missing"), "{msg}");
    assert!(!dir.join("bad/ensemble.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}
