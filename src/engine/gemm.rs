//! Row-major matrix products on the `gemm` crate, the one place the engine calls it.

use gemm::Parallelism;
use std::cell::Cell;

thread_local! {
    static IN_GEMM: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a call to the `gemm` crate, which allocates its own packing
/// buffers per call (it takes no caller workspace); the allocation test uses this to tell
/// those apart from the engine's own.
#[doc(hidden)]
pub fn inside_gemm() -> bool {
    IN_GEMM.with(|c| c.get())
}

/// Below this many multiply-adds a product runs on one thread: spawning costs more.
const PARALLEL_MIN_FLOPS: usize = 1 << 17;

/// `c (m×n) = a (m×k) · b (k×n)`, or `c += …` when `accumulate`.
///
/// `a_t` means `a` is stored transposed (`k×m` row-major), `b_t` likewise (`n×k`). `parallel`
/// lets the product use the engine's threads; callers that already run one product per thread
/// pass `false`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul: buffer too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if a_t { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if b_t { (1, k as isize) } else { (n as isize, 1) };
    let threads = super::threads();
    let par = if parallel && threads > 1 && m * n * k >= PARALLEL_MIN_FLOPS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    IN_GEMM.with(|f| f.set(true));
    // SAFETY: the asserts above bound every index the strides reach; `c` does not alias.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
    IN_GEMM.with(|f| f.set(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], a_t: bool, b: &[f32], b_t: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if a_t { a[p * m + i] } else { a[i * k + p] };
                    let bv = if b_t { b[j * k + p] } else { b[p * n + j] };
                    s += av as f64 * bv as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations_match_naive() {
        let (m, n, k) = (37, 29, 41);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0).collect();
        for a_t in [false, true] {
            for b_t in [false, true] {
                let want = naive(m, n, k, &a, a_t, &b, b_t);
                let mut c = vec![1.0f32; m * n];
                matmul(m, n, k, &a, a_t, &b, b_t, &mut c, false, true);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4, "{x} vs {y}");
                }
                let mut c2 = vec![1.0f32; m * n];
                matmul(m, n, k, &a, a_t, &b, b_t, &mut c2, true, false);
                for (x, y) in c2.iter().zip(&want) {
                    assert!((x - (y + 1.0)).abs() < 1e-4);
                }
            }
        }
    }
}
