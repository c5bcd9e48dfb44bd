//! How near the matrix products run to the machine's limit: the FMA peak of this CPU measured
//! with a tiny loop (one core, then every engine thread at once), then each product of the seed
//! models' training and inference at its real shape, in GFLOP/s and as a share of that peak,
//! on every kernel this CPU runs.
//!
//!     cargo run --release --example gemm_bench [-- THREADS]

use digits::engine::gemm::{Kernel, matmul_with};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).map(|t| t.parse().expect("THREADS: a number")).unwrap_or(2);
    digits::engine::set_threads(threads);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    let cpu = digits::engine::gemm::Cpu::read();
    println!("CPU: {}", cpu.model);
    println!("SIMD: {}", cpu.simd);
    println!("kernel chosen at run time: {}", Kernel::detect().name());
    let one = peak::measure(1);
    let all = peak::measure(threads);
    println!("FMA peak (f32): {one:.1} GFLOP/s on one core, {all:.1} on {threads} threads at once");
    println!();
    // (what, m, n, k, a_t, b_t, parallel): the products as the layers call them.
    #[rustfmt::skip]
    let shapes: &[(&str, usize, usize, usize, bool, bool, bool)] = &[
        ("mlp dense 784→512 forward, batch 128", 128, 512, 784, false, false, true),
        ("mlp dense 512→512 forward, batch 128", 128, 512, 512, false, false, true),
        ("mlp dense 784→512 weight gradient", 784, 512, 128, true, false, true),
        ("mlp dense 512→512 input gradient", 128, 512, 512, false, true, true),
        ("mlp dense 784→512 forward, batch 1,000 (inference)", 1000, 512, 784, false, false, true),
        ("cnn conv2 forward, chunk of 2 samples (per thread)", 392, 64, 800, false, false, false),
        ("cnn conv2 weight gradient, chunk of 2 (per thread)", 800, 64, 392, true, false, false),
        ("cnn conv2 input gradient, chunk of 2 (per thread)", 392, 800, 64, false, true, false),
        ("cnn conv1 forward, chunk of 13 samples (per thread)", 13 * 784, 32, 25, false, false, false),
        ("cnn conv1 weight gradient, chunk of 13 (per thread)", 25, 32, 13 * 784, true, false, false),
        ("cnn dense 3136→256 forward, batch 128", 128, 256, 3136, false, false, true),
        ("cnn dense 3136→256 weight gradient, batch 128", 3136, 256, 128, true, false, true),
    ];
    let kernels: Vec<Kernel> =
        [Kernel::Avx512, Kernel::Avx2, Kernel::Fallback].into_iter().filter(|k| k.available()).collect();
    print!("| product | m × n × k |");
    for k in &kernels {
        print!(" {}, GFLOP/s (% of peak) |", k.name());
    }
    println!();
    println!("|---|---|{}", "---|".repeat(kernels.len()));
    for &(what, m, n, k, a_t, b_t, parallel) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut c = vec![0.0f32; m * n];
        print!("| {what} | {m} × {n} × {k} |");
        for &kernel in &kernels {
            // Per-thread products run on every thread at once, as the layers run them.
            let copies = if parallel { 1 } else { threads };
            let flops = 2.0 * (m * n * k) as f64 * copies as f64;
            let run = |c: &mut [f32]| {
                if parallel {
                    matmul_with(kernel, m, n, k, &a, a_t, &b, b_t, c, false, true);
                } else {
                    rayon::broadcast(|_| {
                        let mut c = vec![0.0f32; m * n];
                        matmul_with(kernel, m, n, k, &a, a_t, &b, b_t, &mut c, false, false);
                    });
                }
            };
            let best = best_of(|| run(&mut c), flops);
            let peak = if parallel || copies > 1 { all } else { one };
            print!(" {:.0} ({:.0}%) |", best / 1e9, 100.0 * best / 1e9 / peak);
        }
        println!();
    }
}

/// The best rate (flop/s) of repeated calls over about half a second.
fn best_of(mut f: impl FnMut(), flops: f64) -> f64 {
    f();
    let mut best = 0.0f64;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 0.5 {
        let t = Instant::now();
        f();
        best = best.max(flops / t.elapsed().as_secs_f64());
    }
    best
}

mod peak {
    use std::time::Instant;

    /// GFLOP/s of independent FMA chains on `threads` threads at once (the widest vectors).
    pub fn measure(threads: usize) -> f64 {
        let best = (0..5)
            .map(|_| {
                let start = Instant::now();
                let flops: f64 = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads).map(|_| s.spawn(run)).collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum()
                });
                flops / start.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max);
        best / 1e9
    }

    const STEPS: usize = 20_000_000;

    /// Flops done by 12 independent chains of `STEPS` vector FMAs.
    fn run() -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return unsafe { avx512() };
            }
            if std::arch::is_x86_feature_detected!("fma") {
                return unsafe { avx2() };
            }
        }
        0.0
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512() -> f64 {
        use std::arch::x86_64::*;
        let mut acc = [_mm512_set1_ps(0.0); 12];
        let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..STEPS / 4 {
            for _ in 0..4 {
                for a in acc.iter_mut() {
                    *a = _mm512_fmadd_ps(*a, x, y);
                }
            }
        }
        let mut out = [0.0f32; 16];
        let sum = acc.iter().fold(_mm512_set1_ps(0.0), |s, a| _mm512_add_ps(s, *a));
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), sum) };
        std::hint::black_box(out);
        (STEPS * 12 * 16 * 2) as f64
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2() -> f64 {
        use std::arch::x86_64::*;
        let mut acc = [_mm256_set1_ps(0.0); 12];
        let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..STEPS / 4 {
            for _ in 0..4 {
                for a in acc.iter_mut() {
                    *a = _mm256_fmadd_ps(*a, x, y);
                }
            }
        }
        let mut out = [0.0f32; 8];
        let sum = acc.iter().fold(_mm256_set1_ps(0.0), |s, a| _mm256_add_ps(s, *a));
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
        std::hint::black_box(out);
        (STEPS * 12 * 8 * 2) as f64
    }
}
