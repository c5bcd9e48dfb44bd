//! The element-wise passes (batch normalisation, activations, pooling, dropout, optimiser
//! steps) compiled for the CPU's wider vectors, chosen at run time.
//!
//! The crate is built for any x86-64, whose baseline vectors hold four floats; the products
//! have their own AVX kernels (`gemm`), and [`wide`] gives the loops around them AVX2: it runs
//! a closure inside a function compiled with AVX2 enabled, into which the closure is inlined
//! (`#[inline(always)]` on the closure makes sure of it).
//! The same operations in the same order, wider: the bits do not change (Rust never fuses a
//! multiply and an add on its own), as `tests/golden.rs` checks.

/// Runs `f`, compiled for AVX2 where the CPU has it. Pass `#[inline(always)] || …`: a closure
/// left to the inliner's judgement stays a separate function compiled for the baseline (it has
/// two callers here). Give it the loop itself (a closure that only calls a rayon iterator would
/// leave the loop in rayon's own, baseline, closures).
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    // std caches what it detects: a load and a test per call.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
