//! Single-image latency, what a server answering one drawing at a time sees: `predict` of one
//! 28×28 test image through `mlp-512-512-d` and `cnn-32-64`, called CALLS times in-process (a
//! different test image each call, after 200 warm-up calls), as p50, p99 and mean.
//!
//!     cargo run --release --example latency [-- THREADS [CALLS]]
//!
//! `bench/latency_torch.py` times PyTorch eager at batch 1 the same way; `bench/compare.py
//! --cases latency` runs both side by side. The weights are freshly initialised (as the
//! reference's are): the time of a product does not depend on its values.

use digits::data::{Dataset, Split};
use digits::model::presets::preset;
use std::path::Path;
use std::time::Instant;

fn main() -> digits::Result<()> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map(|t| t.parse().expect("THREADS: a number")).unwrap_or(2);
    let calls: usize = args.next().map(|t| t.parse().expect("CALLS: a number")).unwrap_or(10_000);
    digits::engine::set_threads(threads);
    let cpu = digits::engine::gemm::Cpu::read();
    println!("CPU: {} ({})", cpu.model, cpu.simd);
    println!("kernel chosen at run time: {}, {threads} threads, {calls} calls", digits::engine::gemm::kernel().name());
    let test = Dataset::open_split(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"), Split::Test)?;
    for name in ["mlp-512-512-d", "cnn-32-64"] {
        let mut net = preset(name).expect("a preset").build(0)?;
        let mut times = Vec::with_capacity(calls);
        let mut checksum = 0usize;
        for call in 0..calls + 200 {
            let image = test.image(call % test.len());
            let start = Instant::now();
            let p = net.predict(image, 1);
            let took = start.elapsed().as_secs_f64();
            checksum += digits::engine::loss::argmax(&p);
            if call >= 200 {
                times.push(took);
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize] * 1e6;
        let mean = times.iter().sum::<f64>() / times.len() as f64 * 1e6;
        println!(
            "{{\"model\": \"{name}\", \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"mean_us\": {mean:.1}, \"calls\": {calls}, \"threads\": {threads}, \"checksum\": {checksum}}}",
            at(0.5),
            at(0.99)
        );
    }
    Ok(())
}
