//! Calibration: `digits calibrate` fits a temperature on the run's validation split that lowers
//! its negative log-likelihood there, stores it with the model, and every later prediction uses
//! it (same labels, other confidences); `predict --min-confidence` refuses exactly the images
//! below the threshold.

mod common;
use common::*;

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn calibrate_lowers_the_validation_nll_and_predictions_use_the_temperature() {
    let dir = temp_dir("calibrate");
    let run = dir.join("run");
    let train = ["train", "--model", "mlp-64-64", "--limit", "3000", "--epochs", "3", "--validation-split", "0.2"];
    ok(&[&train[..], &["--out", s(&run)]].concat());
    let before: serde_json::Value = serde_json::from_str(&ok(&["evaluate", "--model", s(&run), "--json"])).unwrap();
    assert!(before["ece"].as_f64().unwrap() > 0.0);
    let said = ok(&["calibrate", s(&run)]);
    assert!(said.contains("validation split (0.2 of its training set, seed 0, 600 images)"), "{said}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("model.json")).unwrap()).unwrap();
    let c = &saved["calibration"];
    assert!(c["nll_after"].as_f64().unwrap() <= c["nll_before"].as_f64().unwrap(), "{c}");
    assert!(c["temperature"].as_f64().unwrap() != 1.0);
    let after: serde_json::Value = serde_json::from_str(&ok(&["evaluate", "--model", s(&run), "--json"])).unwrap();
    assert_eq!(after["accuracy"], before["accuracy"], "a temperature keeps every label");
    assert_ne!(after["loss"], before["loss"], "but changes the probabilities");
    // Calibrating again fits on the uncalibrated probabilities: the same temperature.
    ok(&["calibrate", s(&run)]);
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("model.json")).unwrap()).unwrap();
    assert_eq!(again["calibration"]["temperature"], c["temperature"]);

    let rows = json_lines(&ok(&["predict", "--model", s(&run), "--limit", "500", "--json", "--min-confidence", "0.9"]));
    let all = json_lines(&ok(&["predict", "--model", s(&run), "--limit", "500", "--json"]));
    let mut unsure = 0;
    for (r, a) in rows.iter().zip(&all) {
        let top = r["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).fold(0.0, f64::max);
        if top < 0.9 {
            assert!(r["label"].is_null(), "{r}");
            unsure += 1;
        } else {
            assert_eq!(r["label"], a["label"], "{r}");
        }
    }
    assert!(unsure > 0 && unsure < 500, "{unsure} unsure of 500");
}

#[test]
fn calibrate_needs_held_out_images() {
    let dir = temp_dir("calibrate-none");
    let run = dir.join("run");
    ok(&["train", "--model", "mlp-64-64", "--limit", "500", "--epochs", "1", "--out", s(&run)]);
    let e = fails(&["calibrate", s(&run)]);
    assert!(e.contains("held out no validation split") && e.contains("--data"), "{e}");
    let out = digits(&["predict", "--model", s(&run), "--min-confidence", "1.5"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && e.contains("1.5 is not a probability"), "{e}");
}
