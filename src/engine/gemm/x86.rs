//! The x86-64 microkernels: AVX-512 (a 12 × 32 tile in 24 of the 32 zmm registers) and
//! AVX2 + FMA (6 × 16 in 12 of the 16 ymm registers), each a broadcast of `A` times two vectors
//! of `B` per step of `k`; `A` packed, or read in place from a row-major matrix.

use super::blocked::Micro;
use std::arch::x86_64::*;

pub(super) struct Avx512;

impl Micro for Avx512 {
    const MR: usize = 12;
    const NR: usize = 32;

    #[inline]
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
        unsafe { avx512_tile::<true>(kc, a, 1, b, c, ldc, add) }
    }

    #[inline]
    unsafe fn tile_rows(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
        unsafe { avx512_tile::<false>(kc, a, lda, b, c, ldc, add) }
    }
}

/// `PACKED`: `a` is a packed strip; else `MR` rows of a row-major matrix, `lda` apart.
#[target_feature(enable = "avx512f")]
unsafe fn avx512_tile<const PACKED: bool>(
    kc: usize,
    mut a: *const f32,
    lda: usize,
    mut b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    const MR: usize = Avx512::MR;
    let (row_step, p_step) = if PACKED { (1, MR) } else { (lda, 1) };
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for _ in 0..kc {
        let (b0, b1) = unsafe { (_mm512_loadu_ps(b), _mm512_loadu_ps(b.add(16))) };
        for (r, row) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(unsafe { *a.add(r * row_step) });
            row[0] = _mm512_fmadd_ps(x, b0, row[0]);
            row[1] = _mm512_fmadd_ps(x, b1, row[1]);
        }
        a = unsafe { a.add(p_step) };
        b = unsafe { b.add(32) };
    }
    for (r, row) in acc.iter().enumerate() {
        let out = unsafe { c.add(r * ldc) };
        let (mut x0, mut x1) = (row[0], row[1]);
        if add {
            unsafe {
                x0 = _mm512_add_ps(_mm512_loadu_ps(out), x0);
                x1 = _mm512_add_ps(_mm512_loadu_ps(out.add(16)), x1);
            }
        }
        unsafe {
            _mm512_storeu_ps(out, x0);
            _mm512_storeu_ps(out.add(16), x1);
        }
    }
}

pub(super) struct Avx2;

impl Micro for Avx2 {
    const MR: usize = 6;
    const NR: usize = 16;

    #[inline]
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
        unsafe { avx2_tile::<true>(kc, a, 1, b, c, ldc, add) }
    }

    #[inline]
    unsafe fn tile_rows(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, add: bool) {
        unsafe { avx2_tile::<false>(kc, a, lda, b, c, ldc, add) }
    }
}

/// `PACKED`: `a` is a packed strip; else `MR` rows of a row-major matrix, `lda` apart.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_tile<const PACKED: bool>(
    kc: usize,
    mut a: *const f32,
    lda: usize,
    mut b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    const MR: usize = Avx2::MR;
    let (row_step, p_step) = if PACKED { (1, MR) } else { (lda, 1) };
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for _ in 0..kc {
        let (b0, b1) = unsafe { (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))) };
        for (r, row) in acc.iter_mut().enumerate() {
            let x = _mm256_set1_ps(unsafe { *a.add(r * row_step) });
            row[0] = _mm256_fmadd_ps(x, b0, row[0]);
            row[1] = _mm256_fmadd_ps(x, b1, row[1]);
        }
        a = unsafe { a.add(p_step) };
        b = unsafe { b.add(16) };
    }
    for (r, row) in acc.iter().enumerate() {
        let out = unsafe { c.add(r * ldc) };
        let (mut x0, mut x1) = (row[0], row[1]);
        if add {
            unsafe {
                x0 = _mm256_add_ps(_mm256_loadu_ps(out), x0);
                x1 = _mm256_add_ps(_mm256_loadu_ps(out.add(8)), x1);
            }
        }
        unsafe {
            _mm256_storeu_ps(out, x0);
            _mm256_storeu_ps(out.add(8), x1);
        }
    }
}
