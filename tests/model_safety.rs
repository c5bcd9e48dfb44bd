//! Issue 16, models and training: a model that does not fit the data or the ten classes is
//! refused before training, every size of a model file is bounded before anything is
//! allocated, a diverging run stops with an error and saves no model, and a model with
//! non-finite weights is refused. Each test is named after the bug it pins.

mod common;
use common::{fails, s, temp_dir};
use digits::model::{ModelSpec, save_model};
use std::path::Path;

/// Writes a TOML model file of `layers` (TOML array-of-tables text) with `input`.
fn model_file(dir: &Path, name: &str, input: &str, layers: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("input = {input}\n{layers}")).unwrap();
    path.to_str().unwrap().to_string()
}

const FLATTEN: &str = "[[layers]]\ntype = \"flatten\"\n";

/// `train --model FILE` on 300 images for one epoch into `out`: must fail; returns stderr.
fn train_fails(model: &str, out: &Path) -> String {
    let err = fails(&["train", "--model", model, "--limit", "300", "--epochs", "1", "--out", s(out)]);
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn last_layer_with_5_units_is_refused_before_training() {
    let dir = temp_dir("out5");
    for units in [5, 1] {
        let layers = format!("{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = {units}\nactivation = \"softmax\"\n");
        let model = model_file(&dir, &format!("out{units}.toml"), "[28, 28, 1]", &layers);
        let run = dir.join(format!("run{units}"));
        let err = train_fails(&model, &run);
        assert!(err.contains("digit classes is 10") && err.contains(&format!("{units} values per image")), "{err}");
        assert!(!err.contains("Epoch"), "refused before training: {err}");
        assert!(!run.exists(), "nothing written to the run directory");
    }
}

#[test]
fn model_ending_in_conv2d_is_refused() {
    let dir = temp_dir("endconv");
    let layers = "[[layers]]\ntype = \"conv2d\"\nfilters = 10\nkernel_size = 1\n";
    let model = model_file(&dir, "conv.toml", "[28, 28, 1]", layers);
    let run = dir.join("run");
    let err = train_fails(&model, &run);
    assert!(err.contains("digit classes is 10") && err.contains("7840 values per image"), "{err}");
    assert!(!run.exists());
}

#[test]
fn model_with_3_channel_input_is_refused_naming_both_shapes() {
    let dir = temp_dir("rgb");
    let layers = format!("{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n");
    let model = model_file(&dir, "rgb.toml", "[28, 28, 3]", &layers);
    let run = dir.join("run");
    let err = train_fails(&model, &run);
    assert!(err.contains("28×28×3") && err.contains("28×28×1"), "{err}");
    assert!(!run.exists());
}

/// A run directory holding `spec` (built, not trained) as a saved model.
fn saved_run(dir: &Path, spec: &ModelSpec, edit: impl FnOnce(&mut digits::engine::Network)) -> String {
    let mut net = spec.build(1).unwrap();
    edit(&mut net);
    let run = dir.join("run");
    save_model(&run, spec, &net).unwrap();
    run.to_str().unwrap().to_string()
}

fn mlp(input: [usize; 3]) -> ModelSpec {
    let mut spec: ModelSpec = toml::from_str(&format!(
        "input = {input:?}\n{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n"
    ))
    .unwrap();
    spec.name = Some("mlp".into());
    spec
}

#[test]
fn evaluate_of_a_32x32_model_json_is_an_error_not_14_percent() {
    let dir = temp_dir("eval32");
    let run = saved_run(&dir, &mlp([32, 32, 1]), |_| {});
    let err = fails(&["evaluate", "--model", &run]);
    assert!(err.contains("32×32×1") && err.contains("28×28×1"), "{err}");
    assert!(!err.contains("accuracy") && !err.contains("panicked"), "{err}");
    let err = fails(&["predict", "--model", &run, "--limit", "3"]);
    assert!(err.contains("32") && err.contains("28"), "{err}");
}

#[test]
fn empty_test_set_is_an_error() {
    let dir = temp_dir("emptytest");
    // An MNIST directory whose files hold no images.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for pre in ["train", "t10k"] {
        let images = [&0x803u32.to_be_bytes()[..], &0u32.to_be_bytes(), &28u32.to_be_bytes(), &28u32.to_be_bytes()];
        std::fs::write(empty.join(format!("{pre}-images-idx3-ubyte")), images.concat()).unwrap();
        std::fs::write(empty.join(format!("{pre}-labels-idx1-ubyte")), [0x801u32.to_be_bytes(), [0; 4]].concat())
            .unwrap();
    }
    let run = saved_run(&dir, &mlp([28, 28, 1]), |_| {});
    let err = fails(&["evaluate", "--model", &run, "--data", s(&empty)]);
    assert!(err.contains("no images"), "{err}");
    let out = dir.join("trained");
    let err = fails(&["train", "--model", "mlp-64-64", "--limit", "300", "--test-data", s(&empty), "--out", s(&out)]);
    assert!(err.contains("test set has no images"), "{err}");
    assert!(!err.contains("0/0") && !out.exists(), "refused before training: {err}");
}

/// A model file's and an untrusted `model.json`'s dense layer of `units` units: both errors
/// naming the layer and the limit, neither an abort nor a panic.
fn huge_units_are_errors(units: &str) {
    let dir = temp_dir("units");
    let layers = format!("{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = {units}\nactivation = \"softmax\"\n");
    let model = model_file(&dir, "big.toml", "[28, 28, 1]", &layers);
    let err = train_fails(&model, &dir.join("run"));
    assert!(err.contains("big.toml") && err.contains("layer 1 (dense)") && err.contains("units"), "{err}");
    // The same in a run's model.json (hand-edited or from someone else).
    let run = saved_run(&dir, &mlp([28, 28, 1]), |_| {});
    let json = Path::new(&run).join("model.json");
    let text = std::fs::read_to_string(&json).unwrap().replace("\"units\": 10", &format!("\"units\": {units}"));
    std::fs::write(&json, text).unwrap();
    for cmd in [&["evaluate", "--model", &run][..], &["predict", "--model", &run, "--limit", "3"]] {
        let err = fails(cmd);
        assert!(
            err.contains("model.json") && err.contains("layer 1 (dense)") && err.contains("limit"),
            "{cmd:?}: {err}"
        );
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{cmd:?}: {err}");
    }
}

#[test]
fn units_1e12_is_an_error_not_an_abort() {
    huge_units_are_errors("1000000000000");
    // Written as a float it is not a whole number of units.
    let dir = temp_dir("units-float");
    let model =
        model_file(&dir, "f.toml", "[28, 28, 1]", &format!("{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = 1e12\n"));
    let err = train_fails(&model, &dir.join("run"));
    assert!(err.contains("f.toml") && err.contains("expected usize"), "{err}");
}

#[test]
fn units_2_pow_62_is_an_error_not_a_capacity_overflow() {
    huge_units_are_errors(&(1u64 << 62).to_string());
}

#[test]
fn every_size_of_a_model_file_is_bounded_before_allocation() {
    let dir = temp_dir("sizes");
    let conv = |opts: &str| format!("[[layers]]\ntype = \"conv2d\"\n{opts}\n");
    let cases = [
        ("[28, 28, 1]", conv("filters = 4611686018427387904\nkernel_size = 3"), "filters"),
        ("[28, 28, 1]", conv("filters = 4\nkernel_size = 4611686018427387904\npadding = \"same\""), "kernel size"),
        ("[28, 28, 1]", conv("filters = 4\nkernel_size = 3\nstrides = 100000"), "stride"),
        (
            "[28, 28, 1]",
            "[[layers]]\ntype = \"max_pool2d\"\npool_size = 1000000\npadding = \"same\"\n".into(),
            "pool size",
        ),
        ("[28, 28, 1]", conv("filters = 2000\nkernel_size = 1"), "output size"),
        ("[1000000, 1000000, 1]", FLATTEN.into(), "input shape"),
        ("[28, 28, 1]", FLATTEN.repeat(300), "300 layers"),
        // Each layer within the limit, the two together over 100 million parameters.
        (
            "[28, 28, 1]",
            format!(
                "{FLATTEN}[[layers]]\ntype = \"dense\"\nunits = 60000\n[[layers]]\ntype = \"dense\"\nunits = 1000\n"
            ),
            "over the limit of 100000000 parameters",
        ),
    ];
    for (i, (input, layers, want)) in cases.iter().enumerate() {
        let model = model_file(&dir, &format!("m{i}.toml"), input, layers);
        let err = train_fails(&model, &dir.join(format!("run{i}")));
        assert!(err.contains(&format!("m{i}.toml")) && err.contains(want), "case {i}: {err}");
    }
}

#[test]
fn lr_1e6_stops_with_a_divergence_error_and_saves_no_model() {
    let dir = temp_dir("diverge");
    let run = dir.join("run");
    let args =
        ["train", "--model", "mlp-64-64", "--limit", "2000", "--epochs", "3", "--lr", "1e6", "--optimizer", "sgd"];
    let err = fails(&[&args[..], &["--out", s(&run)]].concat());
    assert!(err.contains("training diverged at epoch 1, batch "), "{err}");
    assert!(err.contains("last finite loss") && err.contains("--lr"), "{err}");
    assert!(!run.join("model.json").exists() && !run.join("model.safetensors").exists(), "no model saved");
    assert!(!run.join("metrics.json").exists());
}

#[test]
fn divergence_after_a_good_epoch_keeps_its_checkpoint_and_model() {
    use digits::data::Dataset;
    use digits::optim::OptimizerConfig;
    use digits::train::{TrainConfig, Trainer};
    let train = Dataset::open("data/mnist").unwrap().first(1000);
    let dir = temp_dir("diverge-late");
    let mut config =
        TrainConfig { epochs: 1, optimizer: OptimizerConfig::by_name("sgd").unwrap(), ..Default::default() };
    let spec = digits::model::presets::preset("mlp-64-64").unwrap();
    Trainer::new(config.clone(), dir.path()).report(false).fit(&spec, &train, &mut |_| {}).unwrap();
    let (checkpoint, weights) = (dir.join("checkpoint-last.safetensors"), dir.join("model.safetensors"));
    let before = (common::weights_hash(&checkpoint), common::weights_hash(&weights));
    // Resumed for a second epoch at a rate that blows up at once.
    config.epochs = 2;
    config.optimizer.set_lr(1e6);
    let mut trainer = Trainer::new(config, dir.path()).report(false);
    trainer.resume = true;
    let err = trainer.fit(&spec, &train, &mut |_| {}).err().expect("diverges").to_string();
    assert!(err.starts_with("training diverged at epoch 2, batch "), "{err}");
    assert!(err.contains("last finite loss: ") && !err.contains("last finite loss: none"), "{err}");
    let after = (common::weights_hash(&checkpoint), common::weights_hash(&weights));
    assert_eq!(before, after, "the last good checkpoint (and the earlier model) are untouched");
}

#[test]
fn predict_refuses_a_model_with_nan_weights() {
    let dir = temp_dir("nanweights");
    let run = saved_run(&dir, &mlp([28, 28, 1]), |net| {
        let (_, kernel) = net.named_params_mut().into_iter().next().unwrap();
        kernel.value[17] = f32::NAN;
    });
    for cmd in [&["evaluate", "--model", &run][..], &["predict", "--model", &run, "--limit", "3"]] {
        let err = fails(cmd);
        assert!(err.contains("model.safetensors") && err.contains("dense.kernel") && err.contains("NaN"), "{err}");
    }
    let infinite = temp_dir("infweights");
    let run = saved_run(&infinite, &mlp([28, 28, 1]), |net| {
        net.named_params_mut().into_iter().nth(1).unwrap().1.value[0] = f32::INFINITY;
    });
    let err = fails(&["predict", "--model", &run, "--limit", "3"]);
    assert!(err.contains("dense.bias"), "{err}");
}

#[test]
fn batch_norm_epsilon_nan_and_negative_l2_are_refused() {
    let dir = temp_dir("bn-l2");
    let cases = [
        ("[[layers]]\ntype = \"batch_normalization\"\nepsilon = nan\n", "epsilon positive"),
        (
            "[[layers]]\ntype = \"dense\"\nunits = 10\nkernel_regularizer = { l2 = -0.5 }\n",
            "L2 factor -0.5 must be finite and not negative",
        ),
        (
            "[[layers]]\ntype = \"dense\"\nunits = 10\nactivity_regularizer = { l2 = nan }\n",
            "L2 factor NaN must be finite",
        ),
    ];
    for (i, (layers, want)) in cases.iter().enumerate() {
        let model = model_file(&dir, &format!("m{i}.toml"), "[28, 28, 1]", &format!("{FLATTEN}{layers}"));
        let err = train_fails(&model, &dir.join("run"));
        assert!(err.contains(&format!("m{i}.toml")) && err.contains(want), "{err}");
    }
}

#[test]
fn a_diverging_tuning_trial_scores_nothing_and_the_study_goes_on() {
    use digits::data::Dataset;
    use digits::layout::RunDir;
    use digits::optim::OptimizerConfig;
    use digits::train::TrainConfig;
    let data = Dataset::open("data/mnist").unwrap().first(600);
    let (train, val) = (data.clone().first(500), data.subset(&(500..600).collect::<Vec<_>>()));
    let dir = temp_dir("trial-diverges");
    let mut config =
        TrainConfig { epochs: 1, optimizer: OptimizerConfig::by_name("sgd").unwrap(), ..Default::default() };
    config.optimizer.set_lr(1e6);
    let spec = digits::model::presets::preset("mlp-64-64").unwrap();
    let trained = digits::tune::trial::run_trial(&RunDir::new(dir.path()), &spec, &config, &train, Some(&val)).unwrap();
    assert_eq!(trained.val_accuracy, 0.0);
    assert!(trained.val_loss.is_nan());
    assert!(!dir.join("model.json").exists(), "no model saved for a diverged trial");
}
