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

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{CoreError, CoreResult};
use crate::fit::kernels::eval_cheb;
use crate::fit::{fit_all, FitResult, PairInput};
use crate::hot::median_select;
use crate::mask::{Counts, Exclusion};
use crate::sum::lane_sum;
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
    pub(crate) index: Vec<usize>,
    pub(crate) counts: Counts,
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
        x: Vec::with_capacity(n),
        y: Vec::with_capacity(n),
        w: Vec::with_capacity(if weighted { n } else { 0 }),
        index: Vec::with_capacity(n),
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
            g.index.extend(position..position + n);
            g.counts.n_total += n;
            position += n;
            return;
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
    out.clear();
    out.resize(x.len(), 0.0);
    match fit.rank {
        -1 => {
            for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
                *o = b - (a + fit.coeffs[0]);
            }
        }
        0 => {
            for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
                *o = b - fit.coeffs[0] * a;
            }
        }
        _ => {
            eval_cheb(x, &fit.cheb, fit.center, 1.0 / fit.half_width, out);
            for (o, &b) in out.iter_mut().zip(y) {
                *o = b - *o;
            }
        }
    }
}

/// Mean and standard deviation (`ddof = 0`, two passes like `numpy.std`),
/// with lane sums so that both passes vectorise.
#[allow(clippy::cast_precision_loss)]
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = lane_sum(v) / n;
    let mut acc = [0.0_f64; 8];
    let chunks = v.chunks_exact(8);
    let mut tail = 0.0;
    for &a in chunks.remainder() {
        tail += (a - mean) * (a - mean);
    }
    for c in chunks {
        for k in 0..8 {
            acc[k] += (c[k] - mean) * (c[k] - mean);
        }
    }
    let var =
        (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail)
            / n;
    (mean, var.sqrt())
}

/// `sigma_clip` of `r` given the incoming mask: returns the new mask.
fn sigma_clip(r: &[f64], mask: &[bool], sigma: f64, scratch: &mut Vec<f64>) -> Vec<bool> {
    scratch.clear();
    scratch.extend(r.iter().zip(mask).filter(|(_, &m)| !m).map(|(&v, _)| v));
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..SIGMA_CLIP_MAXITERS {
        if scratch.is_empty() {
            break;
        }
        // the order of the kept values does not matter: select in place
        let center = median_select(scratch);
        let (_, std) = mean_std(scratch);
        lo = center - sigma * std;
        hi = center + sigma * std;
        let before = scratch.len();
        scratch.retain(|&v| v >= lo && v <= hi);
        if scratch.len() == before {
            break;
        }
    }
    r.iter()
        .zip(mask)
        .map(|(&v, &m)| m || v < lo || v > hi)
        .collect()
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
    let (mut kx, mut ky) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut kw = Vec::with_capacity(if weighted { n } else { 0 });
    let mut fit_on = |mask: &[bool]| -> CoreResult<FitResult> {
        // refit on the kept pixels, gathered contiguously and known to be usable
        kx.clear();
        ky.clear();
        kw.clear();
        for (i, ((&a, &b), &m)) in g.x.iter().zip(&g.y).zip(mask).enumerate() {
            if !m {
                kx.push(a);
                ky.push(b);
                if weighted {
                    kw.push(g.w[i]);
                }
            }
        }
        if kx.is_empty() {
            return Err(CoreError::TooFewPixels {
                model: crate::fit::model_name(rank),
                needed: 1,
                n_used: 0,
                n_excluded: g.counts.n_total,
                n_nonfinite: g.counts.n_nonfinite,
            });
        }
        let k = [kx.len()];
        let sub = PairInput {
            dark_in: Frame::from(ArrayViewD::from_shape(IxDyn(&k), &kx[..]).map_err(shape_err)?),
            dark_out: Frame::from(ArrayViewD::from_shape(IxDyn(&k), &ky[..]).map_err(shape_err)?),
            mask: None,
            exclusion: Exclusion {
                hot_threshold: None,
                all_usable: true,
            },
        };
        if weighted {
            // the residuals are clipped unweighted; the refit uses the weights
            // (astropy passes its weights to the fitter, not to sigma_clip)
            let w = Frame::from(ArrayViewD::from_shape(IxDyn(&k), &kw[..]).map_err(shape_err)?);
            return Ok(fit_weighted(&sub, &w, &[rank])?.remove(0));
        }
        Ok(fit_all(&sub, &[rank])?.remove(0))
    };
    let mut mask = vec![false; n];
    let mut fit = fit_on(&mask)?;
    let (mut r, mut scratch) = (Vec::new(), Vec::new());
    let mut last = 0;
    let mut iterations = 0;
    for it in 1..=niter {
        iterations = it;
        residuals(&fit, &g.x, &g.y, &mut r);
        mask = sigma_clip(&r, &mask, sigma, &mut scratch);
        fit = fit_on(&mask)?;
        let n_clipped = mask.iter().filter(|&&m| m).count();
        if n_clipped == last {
            break;
        }
        last = n_clipped;
    }
    let mut clipped: Vec<usize> = g
        .index
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(&i, _)| i)
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
