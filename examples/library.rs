//! digits as a library: train the notebooks' small MLP on 10,000 bundled MNIST images with a
//! validation split, watch it learn through the progress callback, score it on the test set,
//! then load the saved run back and read the example pictures of handwritten digits.
//!
//!     cargo run --release --example library
//!
//! It writes its run directory to a temporary folder and prints what it did.

use digits::data::picture::load_picture;
use digits::data::{Dataset, Split};
use digits::model::{Classifier, ModelSpec};
use digits::train::{Event, TrainOptions, Trainer, Validation};
use std::path::Path;

fn main() -> digits::Result<()> {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let train = Dataset::open(&mnist)?.first(10_000);
    let test = Dataset::open_split(&mnist, Split::Test)?;

    // The options a user gives (here: a preset and three epochs), resolved with the defaults.
    let options = TrainOptions { model: Some("mlp-512-512-d".into()), epochs: Some(3), ..Default::default() };
    let (model, config): (ModelSpec, _) = options.resolve()?;
    let dir = tempfile::tempdir().map_err(digits::Error::io(std::env::temp_dir()))?;
    let trainer = Trainer::new(config, dir.path()).validation(Validation::Split(0.1)).test_set(Some(test.clone()));
    let run = trainer.fit(&model, &train, &mut |event| {
        if let Event::EpochEnd(r) = event {
            println!(
                "epoch {}: loss {:.4}, accuracy {:.4}, val_accuracy {:.4}",
                r.epoch,
                r.loss,
                r.accuracy,
                r.val_accuracy.unwrap_or(f64::NAN)
            );
        }
    })?;
    let scored = run.scored.as_ref().expect("a test set was given");
    println!("test accuracy {:.4} ({}/{})", scored.accuracy, scored.correct, scored.samples);
    if let Some(report) = &run.report {
        println!("report: {} ({} charts)", report.html.display(), report.charts.len());
    }

    // Any consumer of a trained model loads it the same way, run or ensemble.
    let mut classifier = Classifier::load(run.dir.path())?;
    let pictures = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits");
    let mut names: Vec<_> = std::fs::read_dir(&pictures).map_err(digits::Error::io(&pictures))?.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let pixels = load_picture(&entry.path())?; // prepared as MNIST's digits were
        let p = classifier.predict(&pixels)?;
        println!("{}: {} (top 3: {:?})", entry.file_name().to_string_lossy(), p.label(0), p.top(0, 3));
    }
    let metrics = digits::eval::evaluate(&mut classifier, &test)?.metrics(&test);
    assert!(metrics.accuracy > 0.9, "the reloaded model should read the test set: {}", metrics.to_table());
    Ok(())
}
