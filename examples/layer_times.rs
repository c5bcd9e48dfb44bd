//! Where a training step's time goes, layer by layer: the forward and backward pass of each
//! layer of a model (a preset or a recipe's), timed over STEPS steps of random inputs after a
//! warm-up, as milliseconds per step and shares of the step.
//!
//!     cargo run --release --example layer_times -- MODEL|recipe:NAME [BATCH [STEPS [THREADS [infer]]]]
//!
//! With `infer`, the forward passes of inference alone (what `evaluate` and `predict` run).
//!
//! The optimiser's update is not included (it is one pass over the weights); nor is the loss.
//! A profiler says which code inside a layer is slow; this says which layer to look at.

use digits::engine::Ctx;
use digits::model::presets;
use digits::rng::Rng;
use digits::train::recipe::Recipe;
use std::time::Instant;

fn main() -> digits::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "cnn-32-64".into());
    let batch: usize = args.next().map(|t| t.parse().expect("BATCH: a number")).unwrap_or(128);
    let steps: usize = args.next().map(|t| t.parse().expect("STEPS: a number")).unwrap_or(50);
    let threads: usize = args.next().map(|t| t.parse().expect("THREADS: a number")).unwrap_or(2);
    let infer = args.next().is_some_and(|m| m == "infer");
    digits::engine::set_threads(threads);
    let spec = match model.strip_prefix("recipe:") {
        Some(r) => Recipe::resolve(r)?.model_spec()?,
        None => presets::resolve(&model)?,
    };
    let mut net = spec.build(0)?;
    let n = net.layers.len();
    let mut acts: Vec<Vec<f32>> = net.layers.iter().map(|l| vec![0.0; batch * l.output_shape().len()]).collect();
    let mut grads = acts.clone();
    let mut rng = Rng::new(1);
    let input: Vec<f32> = (0..batch * net.input.len()).map(|_| rng.uniform()).collect();
    let (mut fwd, mut bwd) = (vec![0.0f64; n], vec![0.0f64; n]);
    // On the engine's threads, as training runs its steps (`digits::engine::on_pool`).
    digits::engine::on_pool(|| {
        for step in 0..steps + 5 {
            for i in 0..n {
                let (before, rest) = acts.split_at_mut(i);
                let x: &[f32] = if i == 0 { &input } else { &before[i - 1] };
                let start = Instant::now();
                net.layers[i].forward(x, &mut rest[0], batch, Ctx { training: !infer, seed: step as u64 });
                if step >= 5 {
                    fwd[i] += start.elapsed().as_secs_f64();
                }
            }
            if infer {
                continue;
            }
            grads[n - 1].iter_mut().enumerate().for_each(|(j, g)| *g = ((j % 7) as f32 - 3.0) * 1e-3);
            // As `Network::backward`: nothing before the first layer with parameters.
            let first = net.first_with_params();
            for i in (first..n).rev() {
                let (gb, ga) = grads.split_at_mut(i);
                let x: &[f32] = if i == 0 { &input } else { &acts[i - 1] };
                let dx = if i > first { Some(&mut gb[i - 1][..]) } else { None };
                let start = Instant::now();
                net.layers[i].backward(x, &acts[i], &mut ga[0], dx, batch);
                if step >= 5 {
                    bwd[i] += start.elapsed().as_secs_f64();
                }
            }
        }
    });
    let total: f64 = fwd.iter().sum::<f64>() + bwd.iter().sum::<f64>();
    println!("{model}, batch {batch}, {steps} steps, {threads} threads: {:.2} ms a step", total / steps as f64 * 1e3);
    println!("{:<28} {:>10} {:>10} {:>7}", "layer", "fwd ms", "bwd ms", "share");
    for i in 0..n {
        let l = &net.layers[i];
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>6.1}%",
            format!("{} {}", l.kind(), l.output_shape()),
            fwd[i] / steps as f64 * 1e3,
            bwd[i] / steps as f64 * 1e3,
            (fwd[i] + bwd[i]) / total * 100.0
        );
    }
    Ok(())
}
