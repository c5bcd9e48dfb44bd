//! `digits robustness`: the clean row is `evaluate`'s accuracy, every corruption is scored and
//! the result is kept beside the model, the same for the same seed.

mod common;
use common::*;

#[test]
fn robustness_scores_15_corruptions_keeps_them_and_repeats_for_a_seed() {
    let dir = temp_dir("robustness");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    for f in ["model.json", "model.safetensors"] {
        std::fs::copy(format!("tests/fixtures/tiny-run/{f}"), run.join(f)).unwrap();
    }
    let evaluated: serde_json::Value = serde_json::from_str(&ok(&["evaluate", "--model", s(&run), "--json"])).unwrap();
    let out = ok(&["robustness", s(&run), "--json", "--seed", "3"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["clean_accuracy"], evaluated["accuracy"]);
    let scores = r["corruptions"].as_array().unwrap();
    assert_eq!(scores.len(), 15);
    let names: Vec<&str> = scores.iter().map(|s| s["corruption"].as_str().unwrap()).collect();
    assert!(names.contains(&"fog") && names.contains(&"canny_edges"), "{names:?}");
    let mean = scores.iter().map(|s| s["accuracy"].as_f64().unwrap()).sum::<f64>() / 15.0;
    assert!((mean - r["mean_corruption_accuracy"].as_f64().unwrap()).abs() < 1e-12);
    // A linear model loses much of its accuracy under some corruption.
    assert!(r["worst"]["accuracy"].as_f64().unwrap() < r["clean_accuracy"].as_f64().unwrap() - 0.2, "{r}");
    let n = &r["non_digits"];
    assert_eq!(n["count"], 600);
    let rejected = n["rejected"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rejected), "{n}");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(kept, r);
    assert_eq!(ok(&["robustness", s(&run), "--json", "--seed", "3"]), out, "same seed, same result");
    assert_ne!(ok(&["robustness", s(&run), "--json", "--seed", "4"]), out, "the seed draws the noise");
    // The run's report now has a robustness section: the bars and the gallery of corruptions.
    ok(&["report", s(&run)]);
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains("id=\"robustness\""), "no robustness section");
    for stem in ["robustness", "corruptions"] {
        assert!(run.join(format!("report/{stem}.png")).exists() && run.join(format!("report/{stem}.svg")).exists());
    }
}
