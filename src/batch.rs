//! Many pairs at once: every pair's fits on the rayon pool (pairs in parallel
//! above a size threshold, each large pair also split into parts), results
//! gathered into dense arrays padded with NaN.

use rayon::prelude::*;

use crate::clip::fit_clipped;
use crate::error::{CoreError, CoreResult};
use crate::fit::{fit_all_prefetching, FitResult, PairInput, MAX_RANK};
use crate::prefetch::Prefetch;
use crate::stats::{FieldKind, RESIDUAL_FIELDS};
use crate::view::Frame;
use crate::weighted::fit_weighted;

/// Below this many pixels in all, pairs are fitted one after another.
pub const PARALLEL_MIN_PIXELS: usize = 1 << 16;

/// A pair hints the next one into the cache during its statistics pass when
/// the next one's pixels take at most this many bytes: two such pairs stay
/// inside a 1 MB L2 cache.  Larger pairs are split into parts fitted in
/// parallel and stream from memory anyway.
pub const PREFETCH_MAX_BYTES: usize = 1 << 19;

/// Width of the padded coefficient axis (degree 12 has 13 coefficients).
pub const MAX_COEFFS: usize = 13;

/// Fit every pair; one result (or error) per pair, in input order.
///
/// `n_threads` runs the batch on a pool of that size (built once per size)
/// instead of iuvs's default pool (see [`crate::parallel`]).
///
/// # Errors
/// Only for an invalid thread count; per-pair errors are in the returned vector.
pub fn fit_batch(
    pairs: &[PairInput<'_>],
    ranks: &[i64],
    n_threads: Option<usize>,
    clip: Option<(f64, usize)>,
    weights: &[Option<Frame<'_>>],
) -> CoreResult<Vec<CoreResult<Vec<FitResult>>>> {
    if !weights.is_empty() && weights.len() != pairs.len() {
        return Err(CoreError::InvalidParameter(format!(
            "{} pairs but {} weight arrays",
            pairs.len(),
            weights.len()
        )));
    }
    let total: usize = pairs.iter().map(|p| p.dark_in.len()).sum();
    let one = |i: usize| -> CoreResult<Vec<FitResult>> {
        let p = &pairs[i];
        let w = weights.get(i).and_then(Option::as_ref);
        match (clip, w) {
            (None, None) => {
                // a small pair's pixels come from memory: hint the next pair's
                // into the cache during this one's statistics pass
                let ahead = pairs
                    .get(i + 1)
                    .map(|next| Prefetch::new(&[next.dark_in.region(), next.dark_out.region()]))
                    .filter(|a| a.total() <= PREFETCH_MAX_BYTES)
                    .unwrap_or_default();
                fit_all_prefetching(p, ranks, ahead)
            }
            (None, Some(w)) => fit_weighted(p, w, ranks),
            (Some((sigma, niter)), w) => ranks
                .iter()
                .map(|&r| fit_clipped(p, r, sigma, niter, w).map(|c| c.fit))
                .collect(),
        }
    };
    if total < PARALLEL_MIN_PIXELS {
        if n_threads == Some(0) {
            return Err(CoreError::InvalidParameter(
                "n_threads must be at least 1".into(),
            ));
        }
        return Ok((0..pairs.len()).map(one).collect());
    }
    let pool = match n_threads {
        None => crate::parallel::pool()?,
        Some(n) => crate::parallel::pool_of(n)?,
    };
    Ok(pool.install(|| (0..pairs.len()).into_par_iter().map(one).collect()))
}

/// Dense, NaN-padded arrays of a batch (row-major, pair-major).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchArrays {
    /// Pairs.
    pub n_pairs: usize,
    /// Ranks per pair.
    pub n_ranks: usize,
    /// `(n_pairs, n_ranks, MAX_COEFFS)` coefficients, highest power first, NaN padded at the end.
    pub coeffs: Vec<f64>,
    /// `(n_pairs, n_ranks, MAX_COEFFS)` standard errors, same layout.
    pub perr: Vec<f64>,
    /// `(n_pairs, n_ranks, MAX_COEFFS, MAX_COEFFS)` covariance, NaN padded.
    pub cov: Vec<f64>,
    /// `(n_pairs, n_ranks, MAX_COEFFS)` Chebyshev coefficients, lowest first, NaN padded.
    pub cheb: Vec<f64>,
    /// Named `(n_pairs, n_ranks)` float columns.
    pub floats: Vec<(&'static str, Vec<f64>)>,
    /// Named `(n_pairs, n_ranks)` count columns (-1 for a failed pair).
    pub counts: Vec<(&'static str, Vec<i64>)>,
}

/// Float columns of a fit beyond its residual statistics.
pub const FIT_FLOAT_NAMES: [&str; 5] = ["ssr", "center", "half_width", "condition", "rank"];

fn residual_names(kind: FieldKind) -> impl Iterator<Item = &'static str> {
    RESIDUAL_FIELDS
        .iter()
        .filter(move |f| f.kind == kind)
        .map(|f| f.name)
}

#[allow(clippy::cast_possible_truncation)]
fn count_of(v: f64) -> i64 {
    v as i64
}

/// Gather per-pair results into dense arrays (failed pairs stay NaN / -1).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn to_arrays(results: &[CoreResult<Vec<FitResult>>], ranks: &[i64]) -> BatchArrays {
    let (np, nr) = (results.len(), ranks.len());
    let mut a = BatchArrays {
        n_pairs: np,
        n_ranks: nr,
        coeffs: vec![f64::NAN; np * nr * MAX_COEFFS],
        perr: vec![f64::NAN; np * nr * MAX_COEFFS],
        cov: vec![f64::NAN; np * nr * MAX_COEFFS * MAX_COEFFS],
        cheb: vec![f64::NAN; np * nr * MAX_COEFFS],
        // the residual statistics in the order of RESIDUAL_FIELDS, then the fit's
        floats: residual_names(FieldKind::Float)
            .chain(FIT_FLOAT_NAMES)
            .map(|n| (n, vec![f64::NAN; np * nr]))
            .collect(),
        counts: residual_names(FieldKind::Count)
            .map(|n| (n, vec![-1; np * nr]))
            .collect(),
    };
    debug_assert!(usize::try_from(MAX_RANK).unwrap_or(0) < MAX_COEFFS);
    for (i, res) in results.iter().enumerate() {
        let Ok(fits) = res else { continue };
        for (j, f) in fits.iter().enumerate() {
            let cell = i * nr + j;
            let p = f.coeffs.len();
            let base = cell * MAX_COEFFS;
            a.coeffs[base..base + p].copy_from_slice(&f.coeffs);
            a.cheb[base..base + f.cheb.len()].copy_from_slice(&f.cheb);
            for r in 0..p {
                a.perr[base + r] = f.cov[r * p + r].sqrt();
                for c in 0..p {
                    a.cov[cell * MAX_COEFFS * MAX_COEFFS + r * MAX_COEFFS + c] = f.cov[r * p + c];
                }
            }
            let values = f.residual_values();
            let mut floats = a.floats.iter_mut();
            let mut counts = a.counts.iter_mut();
            for (field, v) in RESIDUAL_FIELDS.iter().zip(values) {
                match field.kind {
                    FieldKind::Float => floats.next().map(|(_, col)| col[cell] = v),
                    // exact: counts are whole numbers far below 2^53
                    FieldKind::Count => counts.next().map(|(_, col)| col[cell] = count_of(v)),
                };
            }
            let extra = [
                f.stats.ssr,
                f.center,
                f.half_width,
                f.condition,
                f.rank as f64,
            ];
            for ((_, col), v) in floats.zip(extra) {
                col[cell] = v;
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::fit_all;
    use crate::mask::Exclusion;
    use crate::view::Frame;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn batch_equals_one_by_one_and_keeps_errors_per_pair() {
        let xs: Vec<ArrayD<f64>> = (0..40)
            .map(|k| ArrayD::from_shape_fn(IxDyn(&[50, 40]), |i| (i[0] * 40 + i[1] + k) as f64))
            .collect();
        let mut ys: Vec<ArrayD<f64>> = xs.iter().map(|x| x.mapv(|v| 1.5 * v + 2.0)).collect();
        ys[7] = ArrayD::zeros(IxDyn(&[2, 2])); // shape mismatch in one pair
        let pairs: Vec<PairInput<'_>> = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| PairInput {
                dark_in: Frame::from(x.view()),
                dark_out: Frame::from(y.view()),
                mask: None,
                exclusion: Exclusion::default(),
            })
            .collect();
        for threads in [None, Some(1), Some(2)] {
            let res = fit_batch(&pairs, &[0, 1], threads, None, &[]).unwrap();
            assert!(res[7].is_err());
            for (i, r) in res.iter().enumerate() {
                if i == 7 {
                    continue;
                }
                assert_eq!(r.as_ref().unwrap(), &fit_all(&pairs[i], &[0, 1]).unwrap());
            }
            let arrays = to_arrays(&res, &[0, 1]);
            assert!(arrays.coeffs[7 * 2 * MAX_COEFFS].is_nan());
            let base = 3 * 2 * MAX_COEFFS + MAX_COEFFS;
            assert!((arrays.coeffs[base] - 1.5).abs() < 1e-12 && arrays.coeffs[base + 2].is_nan());
        }
        assert!(fit_batch(&pairs, &[0], Some(0), None, &[]).is_err());
    }
}
