//! Outlier-resistant fits: fit, sigma-clip the residuals, refit on the rest,
//! repeat — the procedure of astropy's `FittingWithOutlierRemoval(fitter,
//! sigma_clip, niter, sigma=k)`:
//!
//! * each outer iteration clips the residuals of the current model with
//!   `sigma_clip` semantics (`cenfunc='median'`, `stdfunc='std'`, up to five
//!   inner iterations on the shrinking set, and the final mask = the incoming
//!   mask OR the residuals outside the final bounds);
//! * the model is refitted on the pixels left; the loop stops after `niter`
//!   iterations or when the number of clipped pixels stops changing.
//!
//! The usable pixels are gathered once (values and their logical indices), so
//! this path copies the pixels it fits; the plain fits never do.

use multiversion::multiversion;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{CoreError, CoreResult};
use crate::fit::kernels::{residuals_of, Eval};
use crate::fit::{fit_all, FitResult, PairInput};
use crate::mask::{Counts, Exclusion};
use crate::scratch;
use crate::view::{walks_in_c_order, Frame, PixelArray, Walk};
use crate::weighted::fit_weighted;

/// Inner iterations of each `sigma_clip` call (astropy's default `maxiters=5`).
pub const SIGMA_CLIP_MAXITERS: usize = 5;

/// A clipped fit: the final model and the clipping it took.
#[derive(Debug, Clone, PartialEq)]
pub struct ClippedFit {
    /// The model fitted on the pixels left after clipping.
    pub fit: FitResult,
    /// Outer iterations run.
    pub iterations: usize,
    /// Flat logical (C-order) indices of the clipped pixels, ascending.
    pub clipped: Vec<usize>,
}

/// The usable pixels of a pair in walk order, with their flat logical indices
/// (and their weights, when weights were given).
pub(crate) struct Gathered {
    pub(crate) x: Vec<f64>,
    pub(crate) y: Vec<f64>,
    pub(crate) w: Vec<f64>,
    /// Logical index of each gathered pixel; left empty while they are
    /// simply `0, 1, 2, ...` (`identity`, the common case).
    index: Vec<usize>,
    identity: bool,
    pub(crate) counts: Counts,
}

impl Gathered {
    /// Flat logical (C-order) index of gathered pixel `i`.
    pub(crate) fn logical(&self, i: usize) -> usize {
        if self.identity {
            i
        } else {
            self.index[i]
        }
    }

    /// Hand the buffers back to the per-thread pool.
    pub(crate) fn recycle(self) {
        scratch::give_f64(self.x);
        scratch::give_f64(self.y);
        scratch::give_f64(self.w);
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn gather(input: &PairInput<'_>, weights: Option<&Frame<'_>>) -> CoreResult<Gathered> {
    input.walk()?; // shape and emptiness checks with the user's names
    let shape = input.dark_in.shape().to_vec();
    let n = input.dark_in.len();
    // the logical index of each pixel: the walk position itself when the walk
    // keeps C order (the common case), else an index array walked alongside
    let in_order = walks_in_c_order(&shape, input.dark_in.data.strides());
    let mut iota = ArrayD::from_elem(IxDyn(if in_order { &[0][..] } else { &shape[..] }), 0_i64);
    let mut frames: Vec<Frame<'_>> = vec![input.dark_in.reborrow(), input.dark_out.reborrow()];
    if let Some(w) = weights {
        if w.shape() != shape.as_slice() {
            return Err(CoreError::ShapeMismatch {
                what_a: "dark_in",
                a: shape.clone(),
                what_b: "weights",
                b: w.shape().to_vec(),
            });
        }
        frames.push(w.reborrow());
    }
    let weighted = weights.is_some();
    let index_col = frames.len();
    if !in_order {
        for (k, v) in iota.iter_mut().enumerate() {
            *v = i64::try_from(k).unwrap_or(i64::MAX);
        }
        frames.push(Frame::native(PixelArray::I64(iota.view())));
    }
    let mask: Option<ArrayViewD<'_, bool>> = input.mask.as_ref().map(|m| m.view());
    let walk = Walk::new(&frames, mask.as_ref())?;
    let thr = input.exclusion.hot_threshold.unwrap_or(f64::INFINITY);
    let mut g = Gathered {
        x: scratch::take_f64(n),
        y: scratch::take_f64(n),
        w: scratch::take_f64(if weighted { n } else { 0 }),
        index: Vec::new(),
        identity: true,
        counts: Counts::default(),
    };
    let mut position = 0_usize;
    let exclusion = &input.exclusion;
    walk.for_each_block(&mut |b| {
        if in_order
            && exclusion.all_usable(b)
            && (!weighted || b.cols[2][..b.len].iter().all(|w| w.is_finite()))
        {
            // the common case: every pixel of the block is used, in order
            let n = b.len;
            g.x.extend_from_slice(&b.cols[0][..n]);
            g.y.extend_from_slice(&b.cols[1][..n]);
            if weighted {
                g.w.extend_from_slice(&b.cols[2][..n]);
            }
            if !g.identity {
                g.index.extend(position..position + n);
            }
            g.counts.n_total += n;
            position += n;
            return;
        }
        if g.identity {
            // from here on the gathered pixels are no longer 0, 1, 2, ...
            g.identity = false;
            g.index = (0..g.x.len()).collect();
        }
        for i in 0..b.len {
            let (x, y) = (b.cols[0][i], b.cols[1][i]);
            let w = if weighted { b.cols[2][i] } else { 1.0 };
            g.counts.n_total += 1;
            if !(x.is_finite() && y.is_finite() && w.is_finite()) {
                g.counts.n_nonfinite += 1;
            } else if b.mask[i] {
                g.counts.n_masked += 1;
            } else if x > thr {
                g.counts.n_hot += 1;
            } else {
                g.x.push(x);
                g.y.push(y);
                if weighted {
                    g.w.push(w);
                }
                g.index.push(if in_order {
                    position + i
                } else {
                    b.cols[index_col][i] as usize
                });
            }
        }
        position += b.len;
    });
    g.counts.n_used = g.x.len();
    Ok(g)
}

fn residuals(fit: &FitResult, x: &[f64], y: &[f64], out: &mut Vec<f64>) {
    out.resize(x.len(), 0.0);
    let model = match fit.rank {
        -1 => Eval::Add(fit.coeffs[0]),
        0 => Eval::Mult(fit.coeffs[0]),
        _ => Eval::Poly(&fit.cheb),
    };
    residuals_of(x, y, model, fit.center, 1.0 / fit.half_width, out);
}

/// Integer key of `v` in IEEE total order, with `-0.0` first made `+0.0`, so
/// that for non-NaN values `key(a) <= key(b)` exactly when `a <= b`.
/// Selecting and comparing integer keys is cheaper than comparing floats.
#[inline]
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn total_key(v: f64) -> i64 {
    let b = (v + 0.0).to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The value of a key made by [`total_key`].
#[inline]
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn from_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// Mean and standard deviation (`ddof = 0`, two passes like `numpy.std`) of
/// the values of `keys`, with lane sums so that both passes vectorise.
#[allow(clippy::cast_precision_loss)]
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn mean_std(keys: &[i64]) -> (f64, f64) {
    let n = keys.len() as f64;
    let chunks = keys.chunks_exact(8);
    let rest = chunks.remainder();
    let mut acc = [0.0_f64; 8];
    for c in chunks.clone() {
        for k in 0..8 {
            acc[k] += from_key(c[k]);
        }
    }
    let tail: f64 = rest.iter().map(|&k| from_key(k)).sum();
    let mean =
        (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail)
            / n;
    let mut acc = [0.0_f64; 8];
    for c in chunks {
        for k in 0..8 {
            let d = from_key(c[k]) - mean;
            acc[k] += d * d;
        }
    }
    let tail: f64 = rest
        .iter()
        .map(|&k| {
            let d = from_key(k) - mean;
            d * d
        })
        .sum();
    let var =
        (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail)
            / n;
    (mean, var.sqrt())
}

/// Replace `out` with the values of `a` whose `mask` is false.  Few pixels
/// are clipped, so the filter's branch is predictable.
fn keep_unmasked(a: &[f64], mask: &[bool], out: &mut Vec<f64>) {
    out.clear();
    out.extend(a.iter().zip(mask).filter(|(_, &m)| !m).map(|(&v, _)| v));
}

/// Keep the keys within `[klo, khi]` (in order); returns where the key at
/// `pivot` went, if it was kept.
fn retain_within(keys: &mut Vec<i64>, klo: i64, khi: i64, pivot: usize) -> Option<usize> {
    let inside = |v: &i64| *v >= klo && *v <= khi;
    let at = inside(&keys[pivot]).then(|| keys[..pivot].iter().filter(|v| inside(v)).count());
    keys.retain(inside);
    at
}

/// `sigma_clip` of `r` given the incoming `mask` (True = out), which it
/// extends in place with the residuals outside the final bounds.
///
/// Each inner iteration needs the median of the values still in: after the
/// first selection the keys stay partitioned around the selected one (an
/// in-order compaction keeps that), so later selections search only the side
/// that holds the new middle.
fn sigma_clip(r: &[f64], mask: &mut [bool], sigma: f64, keys: &mut Vec<i64>) {
    keys.clear();
    keys.extend(
        r.iter()
            .zip(mask.iter())
            .filter(|(_, &m)| !m)
            .map(|(&v, _)| total_key(v)),
    );
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut pivot: Option<usize> = None;
    for _ in 0..SIGMA_CLIP_MAXITERS {
        let m = keys.len();
        if m == 0 {
            break;
        }
        let k = m / 2;
        match pivot {
            Some(p) if p < k => {
                keys[p + 1..].select_nth_unstable(k - p - 1);
            }
            Some(p) if p > k => {
                keys[..p].select_nth_unstable(k);
            }
            Some(_) => {}
            None => {
                keys.select_nth_unstable(k);
            }
        }
        let upper = from_key(keys[k]);
        let center = if m % 2 == 1 {
            upper
        } else {
            let lower = from_key(keys[..k].iter().copied().max().unwrap_or(keys[k]));
            lower + (upper - lower) / 2.0
        };
        let (_, std) = mean_std(keys);
        lo = center - sigma * std;
        hi = center + sigma * std;
        pivot = retain_within(keys, total_key(lo), total_key(hi), k);
        if keys.len() == m {
            break;
        }
    }
    for (m, &v) in mask.iter_mut().zip(r) {
        *m = *m || v < lo || v > hi;
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(shape_err)`
fn shape_err(e: ndarray::ShapeError) -> CoreError {
    CoreError::InvalidParameter(e.to_string())
}

/// Fit one rank with iterative sigma clipping (see the module docs).
///
/// # Errors
/// Invalid `sigma` or `niter`, and every error of [`fit_all`] (for example
/// too few pixels left after clipping).
pub fn fit_clipped(
    input: &PairInput<'_>,
    rank: i64,
    sigma: f64,
    niter: usize,
    weights: Option<&Frame<'_>>,
) -> CoreResult<ClippedFit> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CoreError::InvalidParameter(format!(
            "clip must be finite and positive, got {sigma}"
        )));
    }
    if niter == 0 {
        return Err(CoreError::InvalidParameter(
            "clip_iter must be at least 1".into(),
        ));
    }
    let g = gather(input, weights)?;
    let n = g.x.len();
    let weighted = weights.is_some();
    // the kept pixels, compacted for each refit
    let (mut kx, mut ky) = (scratch::take_f64(n), scratch::take_f64(n));
    let mut kw = scratch::take_f64(if weighted { n } else { 0 });
    let mut fit_on = |mask: &[bool]| -> CoreResult<FitResult> {
        keep_unmasked(&g.x, mask, &mut kx);
        keep_unmasked(&g.y, mask, &mut ky);
        if weighted {
            keep_unmasked(&g.w, mask, &mut kw);
        }
        let k = kx.len();
        if k == 0 {
            return Err(CoreError::TooFewPixels {
                model: crate::fit::model_name(rank),
                needed: 1,
                n_used: 0,
                n_excluded: g.counts.n_total,
                n_nonfinite: g.counts.n_nonfinite,
            });
        }
        let shape = [k];
        let sub = PairInput {
            dark_in: Frame::from(
                ArrayViewD::from_shape(IxDyn(&shape), &kx[..k]).map_err(shape_err)?,
            ),
            dark_out: Frame::from(
                ArrayViewD::from_shape(IxDyn(&shape), &ky[..k]).map_err(shape_err)?,
            ),
            mask: None,
            exclusion: Exclusion {
                hot_threshold: None,
                all_usable: true,
            },
        };
        if weighted {
            // the residuals are clipped unweighted; the refit uses the weights
            // (astropy passes its weights to the fitter, not to sigma_clip)
            let w =
                Frame::from(ArrayViewD::from_shape(IxDyn(&shape), &kw[..k]).map_err(shape_err)?);
            return Ok(fit_weighted(&sub, &w, &[rank])?.remove(0));
        }
        Ok(fit_all(&sub, &[rank])?.remove(0))
    };
    let mut mask = vec![false; n];
    let mut fit = fit_on(&mask)?;
    let (mut r, mut keys) = (scratch::take_f64(n), scratch::take_i64(n));
    let mut last = 0;
    let mut iterations = 0;
    for it in 1..=niter {
        iterations = it;
        residuals(&fit, &g.x, &g.y, &mut r);
        sigma_clip(&r, &mut mask, sigma, &mut keys);
        fit = fit_on(&mask)?;
        let n_clipped = mask.iter().filter(|&&m| m).count();
        if n_clipped == last {
            break;
        }
        last = n_clipped;
    }
    let mut clipped: Vec<usize> = mask
        .iter()
        .enumerate()
        .filter(|(_, &m)| m)
        .map(|(i, _)| g.logical(i))
        .collect();
    clipped.sort_unstable();
    let n_clipped = clipped.len();
    fit.counts = Counts {
        n_total: g.counts.n_total,
        n_used: n - n_clipped,
        n_nonfinite: g.counts.n_nonfinite,
        n_masked: g.counts.n_masked,
        n_hot: g.counts.n_hot,
        n_clipped,
    };
    for v in [kx, ky, kw, r] {
        scratch::give_f64(v);
    }
    scratch::give_i64(keys);
    g.recycle();
    Ok(ClippedFit {
        fit,
        iterations,
        clipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_are_clipped_and_the_line_recovered() {
        let xs: Vec<f64> = (0..400).map(f64::from).collect();
        let mut ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 2.0 * x + 1.0 + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        for &i in &[7_usize, 100, 333] {
            ys[i] += 500.0;
        }
        let x = ArrayD::from_shape_vec(IxDyn(&[20, 20]), xs).unwrap();
        let y = ArrayD::from_shape_vec(IxDyn(&[20, 20]), ys).unwrap();
        let input = PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: None,
            exclusion: Exclusion::default(),
        };
        let c = fit_clipped(&input, 1, 3.0, 3, None).unwrap();
        assert_eq!(c.clipped, vec![7, 100, 333]);
        assert!((c.fit.coeffs[0] - 2.0).abs() < 1e-3 && (c.fit.coeffs[1] - 1.0).abs() < 0.1);
        assert_eq!(c.fit.counts.n_used, 397);
        assert_eq!(c.fit.counts.n_excluded(), 3);
        assert!(c.iterations >= 2);
    }

    #[test]
    fn keys_order_like_floats_and_round_trip() {
        let vals = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE / 4.0,
            -0.0,
            0.0,
            f64::MIN_POSITIVE / 4.0,
            1.0,
            3.5e10,
            f64::INFINITY,
        ];
        for &a in &vals {
            assert_eq!(from_key(total_key(a)), a + 0.0);
            for &b in &vals {
                assert_eq!(total_key(a) <= total_key(b), a <= b, "{a} {b}");
                assert_eq!(total_key(a) < total_key(b), a < b, "{a} {b}");
            }
        }
    }

    #[test]
    fn sigma_clip_matches_a_sorting_reference() {
        // a reference sigma_clip written with sorted copies (median of the
        // kept values by sorting, two-pass std), against the selection one
        let mut state = 12_345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            f64::from(u32::try_from(state >> 33).unwrap()) / f64::from(u32::MAX)
        };
        for n in [1_usize, 2, 7, 64, 1001] {
            let r: Vec<f64> = (0..n)
                .map(|i| {
                    let v = next() - 0.5;
                    if i % 13 == 0 {
                        v * 40.0
                    } else {
                        v
                    }
                })
                .collect();
            let mut mask = vec![false; n];
            mask[0] = n > 2;
            let mut want = mask.clone();
            let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
            let mut kept: Vec<f64> = r
                .iter()
                .zip(&mask)
                .filter(|(_, &m)| !m)
                .map(|(&v, _)| v)
                .collect();
            for _ in 0..SIGMA_CLIP_MAXITERS {
                if kept.is_empty() {
                    break;
                }
                let mut sorted = kept.clone();
                sorted.sort_by(f64::total_cmp);
                let m = sorted.len();
                let center = if m % 2 == 1 {
                    sorted[m / 2]
                } else {
                    sorted[m / 2 - 1] + (sorted[m / 2] - sorted[m / 2 - 1]) / 2.0
                };
                let keys: Vec<i64> = kept.iter().map(|&v| total_key(v)).collect();
                let (_, std) = mean_std(&keys);
                lo = center - 3.0 * std;
                hi = center + 3.0 * std;
                let before = kept.len();
                kept.retain(|&v| v >= lo && v <= hi);
                if kept.len() == before {
                    break;
                }
            }
            for (w, &v) in want.iter_mut().zip(&r) {
                *w = *w || v < lo || v > hi;
            }
            let mut keys = Vec::new();
            sigma_clip(&r, &mut mask, 3.0, &mut keys);
            assert_eq!(mask, want, "n = {n}");
        }
    }

    #[test]
    fn bad_parameters() {
        let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, 2.0, 3.0]).unwrap();
        let input = PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(x.view()),
            mask: None,
            exclusion: Exclusion::default(),
        };
        assert!(fit_clipped(&input, 1, 0.0, 3, None).is_err());
        assert!(fit_clipped(&input, 1, f64::NAN, 3, None).is_err());
        assert!(fit_clipped(&input, 1, 3.0, 0, None).is_err());
    }
}
