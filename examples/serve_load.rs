//! Load generator for `digits serve` and the reference server of `bench/serve.py`: N
//! single-image predictions (MNIST test images as JSON pixel arrays, 0..255) at concurrency C
//! over keep-alive connections; prints one JSON line with the throughput, latency percentiles
//! and errors (any answer that is not a 200 with a label, or no answer).
//!
//!     cargo run --release --example serve_load -- URL [REQUESTS] [CONCURRENCY]

use digits::data::{Dataset, Split};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: serve_load URL [REQUESTS] [CONCURRENCY]").clone();
    let requests: usize = args.get(2).map_or(20_000, |n| n.parse().expect("REQUESTS"));
    let concurrency: usize = args.get(3).map_or(32, |n| n.parse().expect("CONCURRENCY"));
    let test = Dataset::open_split("data/mnist", Split::Test).expect("MNIST test set");
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..1000)
            .map(|i| {
                let pixels: Vec<u8> = test.image(i).iter().map(|v| (v * 255.0).round() as u8).collect();
                serde_json::json!({ "pixels": pixels }).to_string()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(requests)));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (url, bodies, next, latencies, errors) =
                (url.clone(), bodies.clone(), next.clone(), latencies.clone(), errors.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let t = Instant::now();
                    let ok = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(bodies[i % bodies.len()].as_bytes())
                        .ok()
                        .filter(|r| r.status() == 200)
                        .and_then(|mut r| r.body_mut().read_to_string().ok())
                        .is_some_and(|text| text.contains("\"label\""));
                    mine.push(t.elapsed().as_secs_f64());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().expect("a worker"));
    let seconds = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let pct = |q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1] * 1000.0;
    let line = serde_json::json!({
        "requests": l.len(), "concurrency": concurrency, "seconds": seconds,
        "throughput": l.len() as f64 / seconds, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "max_ms": pct(1.0), "errors": errors.load(Ordering::Relaxed),
    });
    println!("{line}");
}
