//! Compaction of selected values to the front of a buffer, 8 at a time.
//!
//! With AVX-512 (detected at run time) each chunk of 8 is one compare, one
//! in-register `vcompresspd` and one full-width store whose tail the next
//! chunk overwrites (the memory form of `vcompresspd` is microcoded and slow on
//! AMD Zen 4, so it is not used).  Elsewhere the portable path writes chunks
//! with [`push_chunk`] (compiled for AVX2 and AVX too, chosen at run time).
//! Both give the same values in the same order.

use multiversion::multiversion;

// ---- 8-lane compaction helpers (shared with the exclusion pass in `mask`) ----

#[inline(always)]
#[allow(clippy::inline_always)]
pub(crate) fn chunk(s: &[f64]) -> [f64; 8] {
    std::array::from_fn(|l| s[l])
}

/// Bit `l` set where `f(c[l])`: one vector compare.
#[inline(always)]
#[allow(clippy::inline_always)]
pub(crate) fn bits_where(c: &[f64; 8], f: impl Fn(f64) -> bool) -> u8 {
    (0..8).fold(0, |b, l| b | (u8::from(f(c[l])) << l))
}

/// Bit `l` set where `mask[l]` is false, for a chunk of 8 (few are true, so
/// the whole chunk is tested as one word first).
#[inline(always)]
#[allow(clippy::inline_always)]
pub(crate) fn open_bits(mask: &[bool]) -> u8 {
    let bytes: [u8; 8] = std::array::from_fn(|l| u8::from(mask[l]));
    if u64::from_le_bytes(bytes) == 0 {
        return 0xff;
    }
    (0..8).fold(0, |b, l| b | (u8::from(bytes[l] == 0) << l))
}

/// Write the values of the chunk `c` whose bit is set in `keep` to
/// `dst[j..]`, in order, and return the new end.  A chunk kept whole is one
/// vector store and a chunk kept nowhere is skipped; otherwise every value
/// is written and the cursor moves only past those kept (`jj & 7` keeps the
/// index provably in the window: no bounds check, no branch).  `dst` needs
/// 8 slots from `j`.
#[inline(always)]
#[allow(clippy::inline_always)]
pub(crate) fn push_chunk(dst: &mut [f64], j: usize, c: &[f64; 8], keep: u8) -> usize {
    if keep == 0 {
        return j;
    }
    let w = &mut dst[j..j + 8];
    if keep == 0xff {
        w.copy_from_slice(c);
        return j + 8;
    }
    let mut jj = 0;
    for l in 0..8 {
        w[jj & 7] = c[l];
        jj += usize::from((keep >> l) & 1);
    }
    j + jj
}

/// Copy the values of `vals` within `[lo, hi]` (never NaN) to the front of
/// `out`, in order; returns how many.  `out` must be as long as `vals`.
///
/// # Panics
/// If `out` is shorter than `vals`.
#[allow(unsafe_code)] // the call of the AVX-512 path; see SAFETY
pub(crate) fn compact_within(vals: &[f64], lo: f64, hi: f64, out: &mut [f64]) -> usize {
    assert!(out.len() >= vals.len(), "compaction buffer too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F (checked just above) and `out`
        // is at least as long as `vals` (asserted above).
        return unsafe { avx512::within(vals, lo, hi, out) };
    }
    portable_within(vals, lo, hi, out)
}

/// Move the values of `buf[from]` within `[lo, hi]` (never NaN), in order,
/// to `buf[to..]` (`to <= from.start`: the values move down or stay); returns
/// how many.
///
/// # Panics
/// If `to > from.start` or `from` is not within `buf`.
#[allow(unsafe_code)] // the call of the AVX-512 path; see SAFETY
pub(crate) fn retain_within(
    buf: &mut [f64],
    from: std::ops::Range<usize>,
    to: usize,
    lo: f64,
    hi: f64,
) -> usize {
    assert!(to <= from.start && from.start <= from.end && from.end <= buf.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F (checked just above) and the
        // ranges are as `avx512::retain` requires (asserted above).
        return unsafe { avx512::retain(buf, from, to, lo, hi) };
    }
    let mut j = to;
    for i in from {
        let v = buf[i];
        if v >= lo && v <= hi {
            buf[j] = v;
            j += 1;
        }
    }
    j - to
}

/// Copy the values of `a` whose `mask` is false to the front of `out`, in
/// order; returns how many.  `out` must be as long as `a`.
///
/// # Panics
/// If `out` is shorter than `a` or `mask`.
#[allow(unsafe_code)] // the call of the AVX-512 path; see SAFETY
pub(crate) fn compact_unmasked(a: &[f64], mask: &[bool], out: &mut [f64]) -> usize {
    let n = a.len().min(mask.len());
    assert!(out.len() >= n, "compaction buffer too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F (checked just above), the two
        // inputs are cut to one length and `out` is at least that long
        // (asserted above).
        return unsafe { avx512::unmasked(&a[..n], &mask[..n], out) };
    }
    portable_unmasked(&a[..n], &mask[..n], out)
}

/// Copy the usable pairs of `bx`/`by` (both finite, `mask` false, `x <= thr`)
/// to the front of `xs`/`ys`, in order; returns how many.  `xs` and `ys` must
/// be as long as the inputs.
///
/// # Panics
/// If `xs` or `ys` is shorter than the inputs.
#[allow(unsafe_code)] // the call of the AVX-512 path; see SAFETY
pub(crate) fn compact_usable_pairs(
    bx: &[f64],
    by: &[f64],
    mask: &[bool],
    thr: f64,
    xs: &mut [f64],
    ys: &mut [f64],
) -> usize {
    let n = bx.len().min(by.len()).min(mask.len());
    assert!(
        xs.len() >= n && ys.len() >= n,
        "compaction buffer too short"
    );
    let (bx, by, mask) = (&bx[..n], &by[..n], &mask[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F (checked just above), the inputs
        // are cut to one length and the outputs are at least that long
        // (asserted above).
        return unsafe { avx512::usable_pairs(bx, by, mask, thr, xs, ys) };
    }
    portable_usable_pairs(bx, by, mask, thr, xs, ys)
}

#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn portable_usable_pairs(
    bx: &[f64],
    by: &[f64],
    mask: &[bool],
    thr: f64,
    xs: &mut [f64],
    ys: &mut [f64],
) -> usize {
    let n = bx.len();
    let whole = n - n % 8;
    let mut j = 0;
    for i in (0..whole).step_by(8) {
        let (cx, cy) = (chunk(&bx[i..i + 8]), chunk(&by[i..i + 8]));
        let keep = open_bits(&mask[i..i + 8])
            & bits_where(&cx, |x| x.is_finite() & (x <= thr))
            & bits_where(&cy, f64::is_finite);
        push_chunk(ys, j, &cy, keep);
        j = push_chunk(xs, j, &cx, keep);
    }
    usable_tail(bx, by, mask, thr, (xs, ys), whole, j)
}

/// The usable pairs from `from` on, one by one, written from `j`; returns the
/// new end (the tail after the last whole chunk).
fn usable_tail(
    bx: &[f64],
    by: &[f64],
    mask: &[bool],
    thr: f64,
    (xs, ys): (&mut [f64], &mut [f64]),
    from: usize,
    mut j: usize,
) -> usize {
    for i in from..bx.len() {
        let (x, y) = (bx[i], by[i]);
        if x.is_finite() && y.is_finite() && !mask[i] && x <= thr {
            xs[j] = x;
            ys[j] = y;
            j += 1;
        }
    }
    j
}

/// Call `f(i)`, in order, for every `i` whose `vals[i]` is below `lo` or
/// above `hi` (NaN is neither).  Few values are: whole chunks are tested at
/// once.
#[allow(unsafe_code)] // the call of the AVX-512 path; see SAFETY
pub(crate) fn for_each_outside(vals: &[f64], lo: f64, hi: f64, f: impl FnMut(usize)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has AVX-512F (checked just above).
        unsafe { avx512::outside(vals, lo, hi, f) };
        return;
    }
    portable_outside(vals, lo, hi, f);
}

#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn portable_outside(vals: &[f64], lo: f64, hi: f64, mut f: impl FnMut(usize)) {
    let whole = vals.len() - vals.len() % 8;
    for (c, ch) in vals[..whole].chunks_exact(8).enumerate() {
        let mut bits = bits_where(&chunk(ch), |v| (v < lo) | (v > hi));
        while bits != 0 {
            f(8 * c + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    for (i, &v) in vals.iter().enumerate().skip(whole) {
        if v < lo || v > hi {
            f(i);
        }
    }
}

#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn portable_within(vals: &[f64], lo: f64, hi: f64, out: &mut [f64]) -> usize {
    let whole = vals.len() - vals.len() % 8;
    let mut j = 0;
    for ch in vals[..whole].chunks_exact(8) {
        let c = chunk(ch);
        j = push_chunk(out, j, &c, bits_where(&c, |v| (v >= lo) & (v <= hi)));
    }
    for &v in &vals[whole..] {
        if v >= lo && v <= hi {
            out[j] = v;
            j += 1;
        }
    }
    j
}

#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn portable_unmasked(a: &[f64], mask: &[bool], out: &mut [f64]) -> usize {
    let n = a.len();
    let whole = n - n % 8;
    let mut j = 0;
    for (ac, mc) in a[..whole]
        .chunks_exact(8)
        .zip(mask[..whole].chunks_exact(8))
    {
        j = push_chunk(out, j, &chunk(ac), open_bits(mc));
    }
    for i in whole..n {
        if !mask[i] {
            out[j] = a[i];
            j += 1;
        }
    }
    j
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // AVX-512 intrinsics; every block has its SAFETY note
mod avx512 {
    use super::open_bits;
    use std::arch::x86_64::{
        __m512d, __mmask8, _mm512_abs_pd, _mm512_cmp_pd_mask, _mm512_loadu_pd,
        _mm512_maskz_compress_pd, _mm512_set1_pd, _mm512_storeu_pd, _CMP_GE_OQ, _CMP_GT_OQ,
        _CMP_LE_OQ, _CMP_LT_OQ,
    };

    /// Store the lanes of `v` selected by `k` at `out[j..]` and return the new
    /// end.  Writes all of `out[j..j + 8]` (the lanes past the selected ones
    /// are overwritten by later chunks or left as scratch).
    ///
    /// # Safety
    /// AVX-512F must be available and `j + 8 <= out.len()`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn push(out: &mut [f64], j: usize, v: __m512d, k: __mmask8) -> usize {
        debug_assert!(j + 8 <= out.len());
        let packed = _mm512_maskz_compress_pd(k, v);
        // SAFETY: the caller guarantees 8 writable values from `j`.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr().add(j), packed) };
        j + k.count_ones() as usize
    }

    /// [`super::compact_within`] with AVX-512.
    ///
    /// # Safety
    /// AVX-512F must be available; `out.len() >= vals.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn within(vals: &[f64], lo: f64, hi: f64, out: &mut [f64]) -> usize {
        // SAFETY: `vals` is readable for its length and `out` writable for at
        // least that many values; the two slices do not overlap.
        unsafe { within_run(vals.as_ptr(), vals.len(), out.as_mut_ptr(), lo, hi) }
    }

    /// The values of `src[..n]` within `[lo, hi]` (never NaN), in order, to
    /// `dst`; returns how many.  `dst` may be `src` or below it in the same
    /// buffer: every chunk is loaded before anything is written over it.
    ///
    /// # Safety
    /// AVX-512F must be available; `src` readable for `n` values; `dst`
    /// writable for `n` values; when the two overlap, `dst <= src`.
    #[target_feature(enable = "avx512f")]
    unsafe fn within_run(src: *const f64, n: usize, dst: *mut f64, lo: f64, hi: f64) -> usize {
        let whole = n - n % 8;
        let (vlo, vhi) = (_mm512_set1_pd(lo), _mm512_set1_pd(hi));
        let mut j = 0;
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 <= whole <= n values are readable at `src`.
            let v = unsafe { _mm512_loadu_pd(src.add(i)) };
            // ordered, quiet compares: NaN is never within
            let k =
                _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, vlo) & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(v, vhi);
            // SAFETY: j <= i, so the 8 values written at dst + j end at or
            // before dst + i + 8, within the n writable values; when dst is at
            // or below src they cover only values already loaded.
            unsafe { _mm512_storeu_pd(dst.add(j), _mm512_maskz_compress_pd(k, v)) };
            j += k.count_ones() as usize;
            i += 8;
        }
        while i < n {
            // SAFETY: i < n, j <= i: in bounds as above, read before written.
            unsafe {
                let v = *src.add(i);
                if v >= lo && v <= hi {
                    *dst.add(j) = v;
                    j += 1;
                }
            }
            i += 1;
        }
        j
    }

    /// [`super::for_each_outside`] with AVX-512.
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn outside(vals: &[f64], lo: f64, hi: f64, mut f: impl FnMut(usize)) {
        let n = vals.len();
        let whole = n - n % 8;
        let (vlo, vhi) = (_mm512_set1_pd(lo), _mm512_set1_pd(hi));
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 <= whole <= vals.len().
            let v = unsafe { _mm512_loadu_pd(vals.as_ptr().add(i)) };
            // ordered, quiet compares: NaN is never outside
            let mut k =
                _mm512_cmp_pd_mask::<_CMP_LT_OQ>(v, vlo) | _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, vhi);
            while k != 0 {
                f(i + k.trailing_zeros() as usize);
                k &= k - 1;
            }
            i += 8;
        }
        for (i, &v) in vals.iter().enumerate().skip(whole) {
            if v < lo || v > hi {
                f(i);
            }
        }
    }

    /// [`super::compact_usable_pairs`] with AVX-512.
    ///
    /// # Safety
    /// AVX-512F must be available; `bx`, `by`, `mask` equally long, `xs` and
    /// `ys` at least as long.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn usable_pairs(
        bx: &[f64],
        by: &[f64],
        mask: &[bool],
        thr: f64,
        xs: &mut [f64],
        ys: &mut [f64],
    ) -> usize {
        let n = bx.len();
        let whole = n - n % 8;
        let (inf, vthr) = (_mm512_set1_pd(f64::INFINITY), _mm512_set1_pd(thr));
        let mut j = 0;
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 <= whole <= bx.len() == by.len().
            let (x, y) = unsafe {
                (
                    _mm512_loadu_pd(bx.as_ptr().add(i)),
                    _mm512_loadu_pd(by.as_ptr().add(i)),
                )
            };
            // |v| < inf is false for infinities and NaN; x <= thr is false for NaN
            let k = open_bits(&mask[i..i + 8])
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(x), inf)
                & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(x, vthr)
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(y), inf);
            // SAFETY: j <= i, so j + 8 <= i + 8 <= whole <= xs.len(), ys.len().
            unsafe { push(ys, j, y, k) };
            // SAFETY: as above.
            j = unsafe { push(xs, j, x, k) };
            i += 8;
        }
        super::usable_tail(bx, by, mask, thr, (xs, ys), whole, j)
    }

    /// [`super::retain_within`] with AVX-512.
    ///
    /// # Safety
    /// AVX-512F must be available; `to <= from.start <= from.end <= buf.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn retain(
        buf: &mut [f64],
        from: std::ops::Range<usize>,
        to: usize,
        lo: f64,
        hi: f64,
    ) -> usize {
        let base = buf.as_mut_ptr();
        // SAFETY: `buf[from]` is readable, `buf[to..from.end]` (as long as
        // `from` or longer) writable, and `to <= from.start`.
        unsafe { within_run(base.add(from.start), from.len(), base.add(to), lo, hi) }
    }

    /// [`super::compact_unmasked`] with AVX-512.
    ///
    /// # Safety
    /// AVX-512F must be available; `a`, `mask` equally long, `out` at least as long.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn unmasked(a: &[f64], mask: &[bool], out: &mut [f64]) -> usize {
        let n = a.len();
        let whole = n - n % 8;
        let mut j = 0;
        let mut i = 0;
        while i < whole {
            // SAFETY: i + 8 <= whole <= a.len().
            let v = unsafe { _mm512_loadu_pd(a.as_ptr().add(i)) };
            let k = open_bits(&mask[i..i + 8]);
            // SAFETY: j <= i, so j + 8 <= i + 8 <= whole <= out.len().
            j = unsafe { push(out, j, v, k) };
            i += 8;
        }
        for i in whole..n {
            if !mask[i] {
                out[j] = a[i];
                j += 1;
            }
        }
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| match i % 11 {
                3 => f64::NAN,
                5 => f64::INFINITY,
                7 => f64::NEG_INFINITY,
                9 => 1.0, // exactly on the upper bound
                _ => (i as f64 * 0.37).sin() * 2.0,
            })
            .collect()
    }

    #[test]
    fn both_paths_keep_the_same_values_in_order() {
        // every length up to a few chunks, so every tail is covered
        for n in 0..70 {
            let v = values(n);
            let want: Vec<f64> = v
                .iter()
                .copied()
                .filter(|&x| (-0.5..=1.0).contains(&x))
                .collect();
            let mut out = vec![0.0; n];
            let k = compact_within(&v, -0.5, 1.0, &mut out);
            assert_eq!(&out[..k], &want[..], "within, n = {n}");
            let mut out2 = vec![0.0; n];
            let k2 = portable_within(&v, -0.5, 1.0, &mut out2);
            assert_eq!(&out2[..k2], &want[..], "portable within, n = {n}");

            let mask: Vec<bool> = (0..n).map(|i| i % 3 == 0 || i % 8 == 5).collect();
            let want: Vec<f64> = v
                .iter()
                .zip(&mask)
                .filter(|(_, &m)| !m)
                .map(|(&x, _)| x)
                .collect();
            let mut out = vec![0.0; n];
            let k = compact_unmasked(&v, &mask, &mut out);
            // NaN != NaN: compare the bits
            let bits = |s: &[f64]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out[..k]), bits(&want), "unmasked, n = {n}");
            let mut out2 = vec![0.0; n];
            let k2 = portable_unmasked(&v, &mask, &mut out2);
            assert_eq!(bits(&out2[..k2]), bits(&want), "portable unmasked, n = {n}");
        }
    }

    #[test]
    fn both_paths_find_the_same_values_outside() {
        for n in 0..70 {
            let v = values(n);
            let want: Vec<usize> = (0..n).filter(|&i| v[i] < -0.5 || v[i] > 0.9).collect();
            let mut got = Vec::new();
            for_each_outside(&v, -0.5, 0.9, |i| got.push(i));
            assert_eq!(got, want, "n = {n}");
            let mut got = Vec::new();
            portable_outside(&v, -0.5, 0.9, |i| got.push(i));
            assert_eq!(got, want, "portable, n = {n}");
        }
    }

    #[test]
    fn both_paths_keep_the_same_usable_pairs() {
        for n in 0..70 {
            let x = values(n);
            let y: Vec<f64> = values(n + 4)[4..].to_vec();
            let mask: Vec<bool> = (0..n).map(|i| i % 5 == 1).collect();
            for thr in [f64::INFINITY, 0.5, -3.0] {
                let want: Vec<(f64, f64)> = (0..n)
                    .filter(|&i| x[i].is_finite() && y[i].is_finite() && !mask[i] && x[i] <= thr)
                    .map(|i| (x[i], y[i]))
                    .collect();
                for portable in [false, true] {
                    let (mut xs, mut ys) = (vec![0.0; n], vec![0.0; n]);
                    let k = if portable {
                        portable_usable_pairs(&x, &y, &mask, thr, &mut xs, &mut ys)
                    } else {
                        compact_usable_pairs(&x, &y, &mask, thr, &mut xs, &mut ys)
                    };
                    let got: Vec<(f64, f64)> = xs[..k]
                        .iter()
                        .copied()
                        .zip(ys[..k].iter().copied())
                        .collect();
                    assert_eq!(got, want, "n = {n}, thr = {thr}, portable = {portable}");
                }
            }
        }
    }

    #[test]
    fn retain_moves_the_kept_values_down_in_order() {
        for n in 0..40 {
            for (start, to) in [(0, 0), (3, 0), (5, 2), (9, 9)] {
                if start > n {
                    continue;
                }
                let mut buf = values(n);
                let before = buf.clone();
                let want: Vec<f64> = before[start..]
                    .iter()
                    .copied()
                    .filter(|&x| (-0.5..=1.0).contains(&x))
                    .collect();
                let k = retain_within(&mut buf, start..n, to, -0.5, 1.0);
                assert_eq!(&buf[to..to + k], &want[..], "n = {n}, {start} -> {to}");
                // nothing below `to` is touched
                let bits = |s: &[f64]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&buf[..to]), bits(&before[..to]));
            }
        }
    }

    #[test]
    fn all_or_nothing_and_short_buffers() {
        let v = vec![0.5; 33];
        let mut out = vec![0.0; 33];
        assert_eq!(compact_within(&v, 0.0, 1.0, &mut out), 33);
        assert_eq!(compact_within(&v, 2.0, 3.0, &mut out), 0);
        assert_eq!(compact_unmasked(&v, &[true; 33], &mut out), 0);
        assert_eq!(compact_unmasked(&v, &[false; 33], &mut out), 33);
        let short = std::panic::catch_unwind(|| {
            let mut o = vec![0.0; 3];
            compact_within(&[1.0; 4], 0.0, 2.0, &mut o)
        });
        assert!(short.is_err());
    }
}
