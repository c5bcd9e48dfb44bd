//! `digits robustness`: the clean row is `evaluate`'s accuracy, every corruption is scored and
//! the result is kept beside the model, the same for the same seed; `digits compare` puts
//! several results side by side.

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

    // Side by side with the same model measured under another seed (a copy without history:
    // compared for its robustness only).
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["model.json", "model.safetensors"] {
        std::fs::copy(run.join(f), other.join(f)).unwrap();
    }
    let out4 = ok(&["robustness", s(&other), "--json", "--seed", "4"]);
    std::fs::write(run.join("robustness.json"), &out).unwrap(); // seed 3's, which --seed 4 replaced
    let r4: serde_json::Value = serde_json::from_str(&out4).unwrap();
    let table = ok(&["compare", s(&run), s(&other), "--out", s(&dir.join("cmp"))]);
    let row =
        |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} row: {table}"));
    let cells = |line: &str| line.split_whitespace().rev().take(2).map(str::to_string).collect::<Vec<_>>();
    let fog = |r: &serde_json::Value| {
        let f = r["corruptions"].as_array().unwrap().iter().find(|c| c["corruption"] == "fog").unwrap();
        format!("{:.4}", f["accuracy"].as_f64().unwrap())
    };
    assert_eq!(cells(row("fog")), [fog(&r4), fog(&r)], "{table}");
    assert_eq!(
        cells(row("mean corruption")),
        [r4["mean_corruption_accuracy"].as_f64().unwrap(), r["mean_corruption_accuracy"].as_f64().unwrap()]
            .map(|v| format!("{v:.4}")),
        "{table}"
    );
    assert!(
        table
            .contains("other was measured on 10000 images with seed 4, the first on 10000 with seed 3: not comparable"),
        "{table}"
    );
    assert!(dir.join("cmp/robustness.png").exists() && dir.join("cmp/robustness.svg").exists());
    assert!(!dir.join("cmp/compare.png").exists(), "no history, no learning curves");
    let err = fails(&["compare", s(&dir.join("nothing-here"))]);
    assert!(err.contains("no history and no robustness.json"), "{err}");
}
