//! Least-squares models of `dark_out` against `dark_in`: additive (`y = x + a`,
//! rank -1), multiplicative through the origin (`y = a x`, rank 0) and
//! polynomials of degree 1..=12 (rank = degree).
//!
//! Every requested rank is served by the same two passes over the pixels:
//! 1. Chebyshev moments `sum T_k(t)` (k <= 2n) and `sum y T_k(t)` (k <= n) of
//!    the scaled variable `t = (x - c) / h` in `[-1, 1]`, plus the sums the
//!    additive and multiplicative models need, in blocks with compensated
//!    totals.  The scaling follows the range of the usable `dark_in` seen so
//!    far: when a block widens it, the sums are re-expressed in the wider
//!    scaling, so the range costs no pass of its own;
//! 2. residual statistics of every model at once, residuals computed directly,
//!    with the gradient for one step of iterative refinement.
//!
//! Badly conditioned polynomials cost more passes, only for themselves: when
//! a refinement step moved the fitted values beyond the rounding level, the
//! statistics are computed again with the gradient of a further step (at most
//! `REFINE_EXTRA_PASSES`); when the normal equations are beyond what
//! refinement recovers (condition above `QR_CONDITION`, e.g. every pixel
//! but a hot one crowded at the low end of the range), the coefficients come
//! from a QR factorisation streamed over the pixels in one more pass
//! ([`qr::RowQr`]), as accurate as `numpy.polyfit`'s SVD.
//!
//! Coefficients are returned highest power first, like `numpy.polyfit`; the
//! covariance is `inv(A^T A) * SSR / (N - p)` as `scipy.optimize.curve_fit`
//! gives it with `absolute_sigma=False`.

pub mod chebyshev;
pub mod kernels;
pub mod qr;
pub mod solve;

use std::sync::Mutex;

use ndarray::ArrayViewD;

use crate::error::{CoreError, CoreResult};
use crate::mask::{Counts, Exclusion};
pub use crate::parallel::{part_target, PARALLEL_CHUNK, SMALL_PART, SMALL_SPLIT};
use crate::prefetch::Prefetch;
use crate::scratch::Aligned;
use crate::stats::{ResidualStats, StatsAccumulator};
use crate::sum::{lane_sum, Neumaier};
use crate::view::{Block, Frame, Walk, BLOCK};
use chebyshev::{power_coeffs, power_covariance};
use kernels::{add_mult_sums, model_stats, prepare_block, range_block, Eval, MomentSums};

/// Lowest accepted rank (additive).
pub const MIN_RANK: i64 = -1;
/// Highest accepted rank (polynomial degree).
pub const MAX_RANK: i64 = 12;

/// Human name of a rank.
#[must_use]
pub fn model_name(rank: i64) -> String {
    match rank {
        -1 => "additive model (rank -1)".to_string(),
        0 => "multiplicative model (rank 0)".to_string(),
        n => format!("polynomial of degree {n}"),
    }
}

fn n_params(rank: i64) -> usize {
    if rank <= 0 {
        1
    } else {
        usize::try_from(rank).unwrap_or(0) + 1
    }
}

/// One fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct FitResult {
    /// -1 additive, 0 multiplicative, n polynomial degree.
    pub rank: i64,
    /// Coefficients, highest power first (`[a]` for ranks -1 and 0).
    pub coeffs: Vec<f64>,
    /// Covariance of `coeffs`, row-major `p x p`, same order as `coeffs`.
    pub cov: Vec<f64>,
    /// Chebyshev coefficients in `t`, lowest first (polynomials only).
    pub cheb: Vec<f64>,
    /// `c` of `t = (x - c) / h` (0 for ranks -1 and 0).
    pub center: f64,
    /// `h` of `t = (x - c) / h` (1 for ranks -1 and 0).
    pub half_width: f64,
    /// 1-norm condition number of the scaled normal matrix (1 for ranks -1 and 0).
    pub condition: f64,
    /// Residual statistics over the used pixels.
    pub stats: ResidualStats,
    /// Pixel counts (used, and excluded by each rule).
    pub counts: Counts,
}

impl FitResult {
    /// The values of [`crate::stats::RESIDUAL_FIELDS`], in its order (counts
    /// as exact floats: they never approach 2^53).
    #[must_use]
    pub fn residual_values(&self) -> [f64; crate::stats::RESIDUAL_FIELDS.len()] {
        let (s, c) = (&self.stats, &self.counts);
        [
            c.n_used as f64,
            c.n_excluded() as f64,
            c.n_nonfinite as f64,
            c.n_masked as f64,
            c.n_hot as f64,
            c.n_clipped as f64,
            s.mean,
            s.std,
            s.min,
            s.max,
            s.rms,
            s.frac_mean,
            s.frac_std,
            s.n_fractional as f64,
            s.n_zero_denominator as f64,
        ]
    }
}

/// The inputs of one pair fit.
#[derive(Debug, Clone)]
pub struct PairInput<'a> {
    /// `dark_in` (x).
    pub dark_in: Frame<'a>,
    /// `dark_out` (y).
    pub dark_out: Frame<'a>,
    /// Optional mask, True = excluded.
    pub mask: Option<ArrayViewD<'a, bool>>,
    /// Exclusion rules.
    pub exclusion: Exclusion,
}

impl<'a> PairInput<'a> {
    /// Check shapes and emptiness and prepare the walk.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] or [`CoreError::Empty`].
    pub fn walk(&self) -> CoreResult<Walk<'a>> {
        let (sx, sy) = (self.dark_in.shape(), self.dark_out.shape());
        if sx != sy {
            return Err(CoreError::ShapeMismatch {
                what_a: "dark_in",
                a: sx.to_vec(),
                what_b: "dark_out",
                b: sy.to_vec(),
            });
        }
        if let Some(m) = &self.mask {
            if m.shape() != sx {
                return Err(CoreError::ShapeMismatch {
                    what_a: "dark_in",
                    a: sx.to_vec(),
                    what_b: "mask",
                    b: m.shape().to_vec(),
                });
            }
        }
        if self.dark_in.is_empty() {
            return Err(CoreError::Empty {
                what: "dark_in",
                shape: sx.to_vec(),
            });
        }
        Walk::new(
            &[self.dark_in.clone(), self.dark_out.clone()],
            self.mask.as_ref(),
        )
    }
}

/// Run one pass: hand every block of usable `(x, y)` pairs to `f`.  Blocks in
/// which every pixel is usable (the common case) are handed over without copying.
fn pass(walk: &Walk<'_>, exclusion: &Exclusion, f: &mut dyn FnMut(&[f64], &[f64])) -> Counts {
    let mut counts = Counts::default();
    // compaction buffers, allocated on the first block that needs them
    let mut kept = None;
    // integers without a mask or threshold: every pixel is usable, nothing to check
    let unchecked = (walk.all_integer() || exclusion.all_usable)
        && !walk.has_mask()
        && exclusion.hot_threshold.is_none();
    if let Some(cols) = walk.contiguous_f64() {
        // native contiguous float64: blocks are slices of the arrays themselves
        let (x, y) = (cols[0], cols[1]);
        let mut block: Option<Block> = None;
        for (cx, cy) in x.chunks(BLOCK).zip(y.chunks(BLOCK)) {
            let n = cx.len();
            if unchecked || exclusion.all_usable_slices(cx, cy) {
                counts.n_total += n;
                counts.n_used += n;
                f(cx, cy);
                continue;
            }
            // a block with unusable pixels (rare): copy it and compact as usual
            let b = block.get_or_insert_with(|| Block {
                cols: vec![Aligned::take(BLOCK), Aligned::take(BLOCK)],
                mask: vec![false; BLOCK],
                len: 0,
            });
            b.cols[0][..n].copy_from_slice(cx);
            b.cols[1][..n].copy_from_slice(cy);
            b.len = n;
            compacted(b, exclusion, &mut kept, &mut counts, f);
        }
        for col in block.into_iter().flat_map(|b| b.cols) {
            col.give();
        }
    } else {
        walk.for_each_block(&mut |b| {
            if unchecked || exclusion.all_usable(b) {
                counts.n_total += b.len;
                counts.n_used += b.len;
                f(&b.cols[0][..b.len], &b.cols[1][..b.len]);
                return;
            }
            compacted(b, exclusion, &mut kept, &mut counts, f);
        });
    }
    if let Some((xs, ys)) = kept {
        xs.give();
        ys.give();
    }
    counts
}

/// Hand the usable pixels of a block that has unusable ones to `f`, compacted
/// into `kept` (taken from the pool on the first such block, written before
/// they are read: not zeroed, which for blocks of 8192 cost more than the
/// compaction of a small frame).
fn compacted(
    b: &Block,
    exclusion: &Exclusion,
    kept: &mut Option<(Aligned, Aligned)>,
    counts: &mut Counts,
    f: &mut dyn FnMut(&[f64], &[f64]),
) {
    let (xs, ys) = kept.get_or_insert_with(|| (Aligned::take(BLOCK), Aligned::take(BLOCK)));
    let n = exclusion.compact(b, xs, ys, counts);
    if n > 0 {
        f(&xs[..n], &ys[..n]);
    }
}

/// Relative move of the fitted values (`sum |delta_k| / sum |c_k|`) by the
/// refinement step above which the statistics are computed again from the
/// refined model instead of being carried over.  Well-conditioned dark fits
/// move by 1e-15..1e-12 (min, max and fractional statistics then off by less
/// than the rounding of numpy's own fit); badly conditioned ones (many pixels
/// low, a few hot ones, high degree) by far more.
const REFINE_SHIFT_TOLERANCE: f64 = 1e-10;

/// The fused statistics pass: the residual statistics of every model of
/// `evals` over the usable pixels, residuals computed directly, with the
/// refinement gradient `sum r T_k` (`grad_len[i]` terms; 0 for the additive
/// and multiplicative models).  `scale` is `(center, inv_half_width)` of the
/// polynomials' `t`; `ahead` the read-ahead hints of the caller's next pair.
fn stats_pass(
    parts: &[Walk<'_>],
    ex: &Exclusion,
    evals: &[Eval<'_>],
    grad_len: &[usize],
    scale: (f64, f64),
    ahead: Option<Prefetch>,
) -> (Vec<StatsAccumulator>, Vec<Vec<Neumaier>>) {
    let (center, inv_half_width) = scale;
    let block = parts.iter().map(Walk::len).max().unwrap_or(0).min(BLOCK);
    let fresh = || {
        (
            vec![StatsAccumulator::default(); evals.len()],
            grad_len
                .iter()
                .map(|&p| vec![Neumaier::default(); p])
                .collect::<Vec<_>>(),
        )
    };
    // the hints go with the first part only (one thread), paced by its pixels
    let ahead = Mutex::new(ahead.filter(|a| a.total() > 0));
    #[allow(clippy::cast_precision_loss)]
    let part_len = parts.first().map_or(1, Walk::len).max(1) as f64;
    let parts_done = fold_pass_finish(
        parts,
        ex,
        || {
            (
                fresh(),
                // 1 / y and t of a block, written before they are read: pooled, not zeroed
                (Aligned::take(block), Aligned::take(block)),
                ahead.lock().ok().and_then(|mut a| a.take()),
                0_usize,
            )
        },
        |((accs, grads), inv_y, hints, seen), xs, ys| {
            let n = xs.len();
            if let Some(h) = hints {
                // a little ahead of the pass, so that the last hints are not late
                *seen += n;
                #[allow(clippy::cast_precision_loss)]
                h.advance(1.25 * *seen as f64 / part_len);
            }
            let (inv_y, ts) = (&mut inv_y.0[..n], &mut inv_y.1[..n]);
            let n_frac = prepare_block(xs, ys, center, inv_half_width, inv_y, ts);
            for ((eval, acc), grad) in evals.iter().zip(accs.iter_mut()).zip(grads.iter_mut()) {
                let lane = model_stats(xs, ys, inv_y, ts, *eval);
                acc.add(&lane.totals(n, n_frac));
                for (k, g) in grad.iter_mut().enumerate() {
                    g.add(lane.gradient_term(k));
                }
            }
        },
        |(sums, (inv_y, ts), _, _)| {
            inv_y.give();
            ts.give();
            sums
        },
    );
    let (mut accs, mut grads) = fresh();
    for ((part_accs, part_grads), _) in parts_done {
        for (a, pa) in accs.iter_mut().zip(&part_accs) {
            a.merge(pa);
        }
        for (g, pg) in grads.iter_mut().zip(&part_grads) {
            for (x, y) in g.iter_mut().zip(pg) {
                x.merge(y);
            }
        }
    }
    (accs, grads)
}

/// Condition number of the normal equations above which a polynomial's
/// coefficients come from [`qr::RowQr`] instead of the moments.  Up to about
/// 1e12 the moments' solution with its refinement steps is within a few
/// 1e-14 of the data scale, like `numpy.polyfit` (degree 4 with one hot
/// pixel at 16 times the bulk: cond ~ 5e11, 2.5e-14..1.6e-13 against numpy's
/// 8e-15..5e-14, and QR would only halve that at 2.5 times the time); beyond,
/// refinement stops converging (degree 5 of the same data, cond ~ 5e15, was
/// off by up to 4e-7, and is 1e-12..1e-11 by QR, as numpy).
pub(crate) const QR_CONDITION: f64 = 1e12;

/// Re-solve the polynomials of `models` whose normal equations are worse
/// conditioned than [`QR_CONDITION`] by a QR factorisation of the design
/// matrix, streamed over the pixels in one more pass (one for all of them:
/// the factor of the highest degree holds those of the lower ones).  `scale`
/// is `(center, inv_half_width)` of `t`.
fn qr_refit(models: &mut [Model], parts: &[Walk<'_>], ex: &Exclusion, scale: (f64, f64)) {
    let ill = |m: &Model| match m {
        Model::Poly {
            cheb, condition, ..
        } if !(*condition <= QR_CONDITION) => Some(cheb.len()),
        _ => None,
    };
    let Some(p) = models.iter().filter_map(ill).max() else {
        return;
    };
    let (center, inv_half_width) = scale;
    let folded = fold_pass(
        parts,
        ex,
        || qr::RowQr::new(p),
        |qr, xs, ys| qr.add_points(xs, ys, center, inv_half_width),
    );
    let mut parts_qr = folded.into_iter().map(|(qr, _)| qr);
    let Some(mut all) = parts_qr.next() else {
        return;
    };
    for other in parts_qr {
        all.merge(other);
    }
    all.flush();
    for m in models.iter_mut() {
        if let (
            Some(p),
            Model::Poly {
                cheb,
                inverse,
                condition,
                by_qr,
            },
        ) = (ill(m), &mut *m)
        {
            // singular here (never after the moments' own checks): keep the moments' fit
            if let Some((c, inv, cond)) = all.solve(p) {
                *cheb = c;
                *inverse = inv;
                *condition = cond;
                *by_qr = true;
            }
        }
    }
}

/// Most passes after the statistics pass: each recomputes the statistics of
/// the polynomials whose last refinement step moved their fitted values
/// beyond [`REFINE_SHIFT_TOLERANCE`] and (except the last) refines them again.
const REFINE_EXTRA_PASSES: usize = 3;

/// One step of iterative refinement of the Chebyshev coefficients `cheb`
/// from the gradient `g = A^T r` of their residuals (`inverse` = G^-1, `m`
/// the moments), with the sum and the sum of squares of the residuals in
/// `acc` carried over to the refined model exactly (they are linear and
/// quadratic in the coefficients).  Returns whether the fitted values moved
/// beyond [`REFINE_SHIFT_TOLERANCE`] (min, max and the fractional statistics
/// then need a pass of their own).
fn refine(
    cheb: &mut [f64],
    inverse: &[f64],
    g: &[f64],
    m: &[Neumaier],
    acc: &mut StatsAccumulator,
) -> bool {
    let p = cheb.len();
    let delta: Vec<f64> = (0..p)
        .map(|j| (0..p).map(|k| inverse[j * p + k] * g[k]).sum::<f64>())
        .collect();
    // r' = r - A delta:  sum r' = sum r - delta . m,
    // sum r'^2 = sum r^2 - 2 delta . g + delta^T G delta
    let d_sum: f64 = -(0..p).map(|k| delta[k] * m[k].value()).sum::<f64>();
    // delta^T G delta from the moments: the sum over the pixels of the
    // squared moves of the fitted values
    let mut quad = 0.0;
    for j in 0..p {
        for k in 0..p {
            quad += delta[j] * 0.5 * (m[j + k].value() + m[j.abs_diff(k)].value()) * delta[k];
        }
    }
    let d_sumsq = -2.0 * (0..p).map(|k| delta[k] * g[k]).sum::<f64>() + quad;
    acc.shift(d_sum, d_sumsq);
    for (c, d) in cheb.iter_mut().zip(&delta) {
        *c += d;
    }
    // How far any pixel's fitted value moved: at most sum |delta_k| (|T_k| <= 1),
    // and at most the root of the sum over the pixels of the squared moves,
    // delta^T G delta, plus a generous bound of the moments' rounding (which
    // is ~5e-14 n per entry); along the ill-conditioned directions of a bad
    // fit the second is far smaller, and saves it passes
    let n = m[0].value().max(1.0);
    let abs_sum: f64 = delta.iter().map(|d| d.abs()).sum();
    let moved = abs_sum.min((quad.max(0.0) + 1e-12 * n * abs_sum * abs_sum).sqrt());
    let size: f64 = cheb.iter().map(|c| c.abs()).sum();
    !(moved <= REFINE_SHIFT_TOLERANCE * size)
}

/// Run one pass over every part with its own accumulator (parts in parallel
/// when there are several) and return the accumulators in part order.
fn fold_pass<A, I, F>(parts: &[Walk<'_>], ex: &Exclusion, init: I, f: F) -> Vec<(A, Counts)>
where
    A: Send,
    I: Fn() -> A + Sync,
    F: Fn(&mut A, &[f64], &[f64]) + Sync,
{
    fold_pass_finish(parts, ex, init, f, |a| a)
}

/// [`fold_pass`] whose accumulator goes through `finish` as soon as its part
/// is done: the place to return block-sized scratch buffers, so that a frame
/// of many parts never holds more than one set per thread.
fn fold_pass_finish<A, B, I, F, G>(
    parts: &[Walk<'_>],
    ex: &Exclusion,
    init: I,
    f: F,
    finish: G,
) -> Vec<(B, Counts)>
where
    B: Send,
    I: Fn() -> A + Sync,
    F: Fn(&mut A, &[f64], &[f64]) + Sync,
    G: Fn(A) -> B + Sync,
{
    let run = |w: &Walk<'_>| {
        let mut acc = init();
        let counts = pass(w, ex, &mut |xs, ys| f(&mut acc, xs, ys));
        (finish(acc), counts)
    };
    if parts.iter().map(Walk::len).sum::<usize>() <= PARALLEL_CHUNK {
        crate::parallel::map_parts_small(parts.len(), |i| run(&parts[i]))
    } else {
        crate::parallel::map_parts(parts.len(), |i| run(&parts[i]))
    }
}

/// The scaling `t = (x - c) / h` that maps `[lo, hi]` onto `[-1, 1]`.
pub(crate) fn scaling(lo: f64, hi: f64) -> (f64, f64) {
    (0.5 * (lo + hi), 0.5 * (hi - lo))
}

/// Whether `[lo, hi]` gives a usable scaling: a positive width whose centre,
/// half-width and inverse half-width are all finite (not a subnormal or an
/// overflowing width).
pub(crate) fn scalable(lo: f64, hi: f64) -> bool {
    let (c, h) = scaling(lo, hi);
    hi > lo && c.is_finite() && h.is_finite() && (1.0 / h).is_finite()
}

/// Sums of the moments pass.  The Chebyshev moments are kept in the scaling
/// of the range of `dark_in` seen so far; when a block widens that range the
/// sums are re-expressed in the wider scaling (a well-conditioned change of
/// basis, see [`MomentSums::rescale`]), so the range needs no pass of its own.
/// While every usable `dark_in` seen is one value (no scaling exists yet), the
/// pixels are counted instead.
struct MomentPass {
    moments: MomentSums,
    diff: Neumaier,
    xx: Neumaier,
    xy: Neumaier,
    /// Range of the usable `dark_in` seen so far (`lo > hi`: none yet).
    lo: f64,
    hi: f64,
    /// Pixels (and the sum of their `dark_out`) seen while `lo == hi`.
    flat_n: usize,
    flat_sy: Neumaier,
}

impl MomentPass {
    fn new(degree: usize) -> MomentPass {
        MomentPass {
            moments: MomentSums::new(degree),
            diff: Neumaier::default(),
            xx: Neumaier::default(),
            xy: Neumaier::default(),
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            flat_n: 0,
            flat_sy: Neumaier::default(),
        }
    }

    /// Widen the range to include `[lo, hi]`, re-expressing the sums.
    #[allow(clippy::cast_precision_loss)]
    fn extend(&mut self, lo: f64, hi: f64) {
        let (nl, nh) = (self.lo.min(lo), self.hi.max(hi));
        if nl == self.lo && nh == self.hi {
            return;
        }
        if scalable(self.lo, self.hi) {
            let (c0, h0) = scaling(self.lo, self.hi);
            let (c1, h1) = scaling(nl, nh);
            self.moments.rescale(h0 / h1, (c0 - c1) / h1);
        }
        let flat_x = self.lo;
        self.lo = nl;
        self.hi = nh;
        if scalable(self.lo, self.hi) && self.flat_n > 0 {
            let (c, h) = scaling(self.lo, self.hi);
            self.moments
                .add_constant(self.flat_n as f64, self.flat_sy.value(), (flat_x - c) / h);
            self.flat_n = 0;
            self.flat_sy = Neumaier::default();
        }
    }

    /// Add one block of usable pixels.
    fn add_block(&mut self, xs: &[f64], ys: &[f64], degree: usize) {
        let (d, xx, xy) = if degree == 0 || xs.is_empty() {
            add_mult_sums(xs, ys)
        } else {
            let (lo, hi) = range_block(xs);
            self.extend(lo, hi);
            if scalable(self.lo, self.hi) {
                let (c, h) = scaling(self.lo, self.hi);
                self.moments.add_block(xs, ys, c, 1.0 / h)
            } else {
                self.flat_n += xs.len();
                self.flat_sy.add(lane_sum(ys));
                add_mult_sums(xs, ys)
            }
        };
        self.diff.add(d);
        self.xx.add(xx);
        self.xy.add(xy);
    }

    /// Add the sums of another part of the same arrays.
    fn merge(&mut self, mut other: MomentPass) {
        self.extend(other.lo, other.hi);
        other.extend(self.lo, self.hi);
        self.moments.merge(&other.moments);
        self.diff.merge(&other.diff);
        self.xx.merge(&other.xx);
        self.xy.merge(&other.xy);
        self.flat_n += other.flat_n;
        self.flat_sy.merge(&other.flat_sy);
    }
}

pub(crate) fn validate_ranks(ranks: &[i64]) -> CoreResult<()> {
    if ranks.is_empty() {
        return Err(CoreError::InvalidParameter("no rank requested".into()));
    }
    if let Some(&r) = ranks.iter().find(|&&r| !(MIN_RANK..=MAX_RANK).contains(&r)) {
        return Err(CoreError::RankOutOfRange { rank: r });
    }
    Ok(())
}

/// A solved model before its residual statistics are known.
#[derive(Debug, Clone)]
pub(crate) enum Model {
    Additive(f64),
    Multiplicative {
        a: f64,
        sxx: f64,
    },
    Poly {
        cheb: Vec<f64>,
        inverse: Vec<f64>,
        condition: f64,
        /// Solved by QR ([`qr_refit`]): at the rounding level already, and
        /// too badly conditioned for a refinement step to help.
        by_qr: bool,
    },
}

/// The sums the normal equations of every rank are built from.
pub(crate) struct NormalSums<'s> {
    /// Chebyshev moments `sum T_k(t)`.
    pub m: &'s [Neumaier],
    /// `sum y T_k(t)`.
    pub b: &'s [Neumaier],
    /// `sum (y - x)`.
    pub diff: f64,
    /// `sum x^2`.
    pub xx: f64,
    /// `sum x y`.
    pub xy: f64,
    /// Range of the used `dark_in` (`t` maps it onto `[-1, 1]`).
    pub lo: f64,
    /// See `lo`.
    pub hi: f64,
}

/// `"|dark_in| up to 4.000e200, "` for an overflow message, or nothing when
/// the range of `dark_in` was not tracked (only polynomial passes track it).
fn largest_dark_in(lo: f64, hi: f64) -> String {
    let largest = lo.abs().max(hi.abs());
    if largest.is_finite() {
        format!("|dark_in| up to {largest:.3e}, ")
    } else {
        String::new()
    }
}

/// Solve one rank from the sums of the `counts.n_used` pixels.
///
/// # Errors
/// Too few pixels, or a rank-deficient system (with the reason).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn solve_model(rank: i64, s: &NormalSums<'_>, counts: &Counts) -> CoreResult<Model> {
    let (m, b, lo, hi) = (s.m, s.b, s.lo, s.hi);
    let n_used = counts.n_used;
    let p = n_params(rank);
    if n_used < p {
        return Err(CoreError::TooFewPixels {
            model: model_name(rank),
            needed: p,
            n_used,
            n_excluded: counts.n_excluded(),
            n_nonfinite: counts.n_nonfinite,
            n_clipped: counts.n_clipped,
        });
    }
    Ok(match rank {
        -1 => Model::Additive(s.diff / n_used as f64),
        0 => {
            let sxx = s.xx;
            if !(sxx.is_finite() && s.xy.is_finite()) {
                return Err(CoreError::Overflow {
                    model: model_name(rank),
                    what: "the sums of dark_in squared and of dark_in * dark_out",
                    detail: format!("{}at {n_used} used pixels", largest_dark_in(lo, hi)),
                });
            }
            if !(sxx > 0.0) {
                return Err(CoreError::Degenerate {
                    model: model_name(rank),
                    reason: format!(
                        "dark_in is zero at all {n_used} used pixels (sum of squares {sxx}), \
                         so no scale factor is defined"
                    ),
                });
            }
            Model::Multiplicative { a: s.xy / sxx, sxx }
        }
        deg => {
            if hi <= lo {
                return Err(CoreError::Degenerate {
                    model: model_name(rank),
                    reason: format!(
                        "dark_in is constant ({lo}) over all {n_used} used pixels; a polynomial \
                         needs at least {p} distinct dark_in values"
                    ),
                });
            }
            if !scalable(lo, hi) {
                return Err(CoreError::Degenerate {
                    model: model_name(rank),
                    reason: format!(
                        "the range of dark_in [{lo}, {hi}] is too narrow or too wide for a \
                         float64 polynomial basis"
                    ),
                });
            }
            let d = usize::try_from(deg).unwrap_or(0);
            let mut g = vec![0.0; p * p];
            for j in 0..p {
                for k in 0..p {
                    g[j * p + k] = 0.5 * (m[j + k].value() + m[j.abs_diff(k)].value());
                }
            }
            let rhs: Vec<f64> = b[..=d].iter().map(Neumaier::value).collect();
            let sol = solve::solve_spd(&g, &rhs, p).map_err(|s| CoreError::Degenerate {
                model: model_name(rank),
                reason: format!(
                    "the normal equations are singular (pivot {} is {:e}): dark_in has fewer \
                     than {p} distinct usable values or they are too close together",
                    s.pivot, s.value
                ),
            })?;
            Model::Poly {
                cheb: sol.beta,
                inverse: sol.inverse,
                condition: sol.condition,
                by_qr: false,
            }
        }
    })
}

/// Fit every rank in `ranks` (each in -1..=12) in the passes described in the module docs.
///
/// # Errors
/// Shape mismatch, empty input, a rank out of range, too few usable pixels for
/// a rank, or a rank-deficient system (constant or all-zero `dark_in`).
pub fn fit_all(input: &PairInput<'_>, ranks: &[i64]) -> CoreResult<Vec<FitResult>> {
    fit_all_prefetching(input, ranks, Prefetch::default())
}

/// [`fit_all`] of pixels the calling thread has just written (a clipped
/// fit's kept pixels): frames below [`PARALLEL_CHUNK`] are not shared with
/// a pool thread, whose core would have to fetch them from this one's
/// cache (a clipped degree-2 fit of a (62, 341) frame was 1.1-1.25x slower).
///
/// # Errors
/// As [`fit_all`].
pub fn fit_all_local(input: &PairInput<'_>, ranks: &[i64]) -> CoreResult<Vec<FitResult>> {
    fit_all_split(input, ranks, Prefetch::default(), false)
}

/// [`fit_all`], issuing the cache hints of `ahead` (typically the next pair of
/// a batch) over the statistics pass, whose pixels come from the cache while
/// the memory bus would otherwise be idle.  The results are those of
/// [`fit_all`]: a hint moves data between memory and cache, nothing else.
///
/// # Errors
/// As [`fit_all`].
pub fn fit_all_prefetching(
    input: &PairInput<'_>,
    ranks: &[i64],
    ahead: Prefetch,
) -> CoreResult<Vec<FitResult>> {
    fit_all_split(input, ranks, ahead, true)
}

/// [`fit_all_prefetching`]; `share_small` splits frames of [`SMALL_SPLIT`] to
/// [`PARALLEL_CHUNK`] pixels into parts that a pool thread may share.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
fn fit_all_split(
    input: &PairInput<'_>,
    ranks: &[i64],
    ahead: Prefetch,
    share_small: bool,
) -> CoreResult<Vec<FitResult>> {
    validate_ranks(ranks)?;
    let walk = input.walk()?;
    let ex = &input.exclusion;
    let max_deg = usize::try_from(ranks.iter().copied().max().unwrap_or(0).max(0)).unwrap_or(0);

    let parts = walk.split(if share_small {
        part_target(walk.len())
    } else {
        PARALLEL_CHUNK
    });

    // Pass 1: moments (and the range of the usable dark_in, on the way).
    let sums = fold_pass(
        &parts,
        ex,
        || MomentPass::new(max_deg),
        |acc, xs, ys| acc.add_block(xs, ys, max_deg),
    );
    let mut counts = Counts::default();
    let mut total: Option<MomentPass> = None;
    for (part, c) in sums {
        counts.merge(&c);
        match &mut total {
            None => total = Some(part),
            Some(t) => t.merge(part),
        }
    }
    let Some(MomentPass {
        moments,
        diff: s_diff,
        xx: s_xx,
        xy: s_xy,
        lo,
        hi,
        ..
    }) = total
    else {
        return Err(CoreError::InvalidParameter("no pixels to walk".into()));
    };
    let (center, half_width) = if max_deg > 0 && scalable(lo, hi) {
        scaling(lo, hi)
    } else {
        (0.0, 1.0)
    };
    // t = (x - center) * inv_half_width everywhere (Rust and Python alike)
    let inv_half_width = 1.0 / half_width;
    let (m, b) = (&moments.m, &moments.b);

    // Solve every rank.
    let normal = NormalSums {
        m,
        b,
        diff: s_diff.value(),
        xx: s_xx.value(),
        xy: s_xy.value(),
        lo,
        hi,
    };
    // a polynomial whose normal equations are singular in floating point may
    // still be well defined (hot pixels far above the rest: cond(G) beyond
    // 1e16): it goes to the QR path, and its error stands only if QR finds
    // the design matrix rank-deficient too
    let mut singular: Vec<(usize, CoreError)> = Vec::new();
    let mut models = Vec::with_capacity(ranks.len());
    for (i, &rank) in ranks.iter().enumerate() {
        models.push(match solve_model(rank, &normal, &counts) {
            Err(e @ CoreError::Degenerate { .. }) if rank > 0 => {
                singular.push((i, e));
                let p = n_params(rank);
                Model::Poly {
                    cheb: vec![0.0; p],
                    inverse: vec![0.0; p * p],
                    condition: f64::INFINITY,
                    by_qr: false,
                }
            }
            other => other?,
        });
    }
    let n_used = counts.n_used;
    qr_refit(&mut models, &parts, ex, (center, inv_half_width));
    if let Some((_, e)) = singular
        .into_iter()
        .find(|(i, _)| matches!(models[*i], Model::Poly { by_qr: false, .. }))
    {
        return Err(e);
    }

    // Pass 2: residual statistics of every model at once, residuals computed
    // directly.  The same pass accumulates the gradient A^T r of every
    // polynomial, from which one step of iterative refinement follows: the
    // corrected solution is accurate to the rounding of the residuals rather
    // than to cond(G) times the rounding of the moments.  The sum and the sum
    // of squares of the residuals are carried over to the refined model
    // exactly (they are linear and quadratic in the coefficients); min, max and
    // the fractional statistics move by at most sum |delta_k| DN, which is at
    // the rounding level of the fitted values.
    let evals: Vec<Eval<'_>> = models
        .iter()
        .map(|m| match m {
            Model::Additive(a) => Eval::Add(*a),
            Model::Multiplicative { a, .. } => Eval::Mult(*a),
            Model::Poly { cheb, .. } => Eval::Poly(cheb),
        })
        .collect();
    let grad_len: Vec<usize> = models
        .iter()
        .map(|m| match m {
            // no refinement gradient for the additive, multiplicative and QR-solved models
            Model::Poly {
                cheb, by_qr: false, ..
            } => cheb.len(),
            _ => 0,
        })
        .collect();
    let (mut accs, grads) = stats_pass(
        &parts,
        ex,
        &evals,
        &grad_len,
        (center, inv_half_width),
        Some(ahead),
    );
    drop(evals);
    let mut redo: Vec<usize> = Vec::new();
    for (index, ((model, acc), grad)) in models
        .iter_mut()
        .zip(accs.iter_mut())
        .zip(&grads)
        .enumerate()
    {
        if let Model::Poly {
            cheb,
            inverse,
            by_qr: false,
            ..
        } = model
        {
            let g: Vec<f64> = grad.iter().map(Neumaier::value).collect();
            if refine(cheb, inverse, &g, m, acc) {
                redo.push(index);
            }
        }
    }

    // Passes 3.., only for ill-conditioned polynomials whose refinement moved
    // the fitted values beyond the rounding level: the statistics again,
    // directly from the refined model (min, max and the fractional statistics
    // cannot be carried over exactly), with the gradient of a further
    // refinement step.  One step leaves an error of about cond * (the rounding
    // of the moments) times the one before, so a badly conditioned fit
    // (cond ~ 1e10: all pixels but a few hot ones at the low end of the range)
    // needs a second; the last allowed pass only recomputes the statistics.
    for extra in 0..REFINE_EXTRA_PASSES {
        if redo.is_empty() {
            break;
        }
        let evals: Vec<Eval<'_>> = redo
            .iter()
            .map(|&i| match &models[i] {
                Model::Poly { cheb, .. } => Eval::Poly(cheb),
                Model::Additive(a) => Eval::Add(*a),
                Model::Multiplicative { a, .. } => Eval::Mult(*a),
            })
            .collect();
        let redo_len: Vec<usize> = redo.iter().map(|&i| grad_len[i]).collect();
        let (fresh, fresh_grads) = stats_pass(
            &parts,
            ex,
            &evals,
            &redo_len,
            (center, inv_half_width),
            None,
        );
        drop(evals);
        let last = extra + 1 == REFINE_EXTRA_PASSES;
        let mut still = Vec::new();
        for ((&i, mut acc), grad) in redo.iter().zip(fresh).zip(&fresh_grads) {
            if let (false, Model::Poly { cheb, inverse, .. }) = (last, &mut models[i]) {
                let g: Vec<f64> = grad.iter().map(Neumaier::value).collect();
                if refine(cheb, inverse, &g, m, &mut acc) {
                    still.push(i);
                }
            }
            accs[i] = acc;
        }
        redo = still;
    }

    let mut out = Vec::with_capacity(models.len());
    for ((&rank, model), acc) in ranks.iter().zip(models).zip(accs) {
        let stats = acc.finish();
        let p = n_params(rank);
        let dof = n_used - p;
        let s2 = if dof == 0 {
            f64::INFINITY
        } else {
            stats.ssr / dof as f64
        };
        let (coeffs_ok, stats_ok) = (
            match &model {
                Model::Additive(a) | Model::Multiplicative { a, .. } => a.is_finite(),
                Model::Poly { cheb, .. } => cheb.iter().all(|c| c.is_finite()),
            },
            [
                stats.mean, stats.std, stats.min, stats.max, stats.rms, stats.ssr,
            ]
            .iter()
            .all(|v| v.is_finite()),
        );
        if !(coeffs_ok && stats_ok) {
            return Err(CoreError::Overflow {
                model: model_name(rank),
                what: "the residual statistics and the covariance",
                detail: format!(
                    "{}residuals from {:.3e} to {:.3e}, sum of squared residuals {:.3e}, at \
                     {n_used} used pixels",
                    largest_dark_in(lo, hi),
                    stats.min,
                    stats.max,
                    stats.ssr
                ),
            });
        }
        let result = match model {
            Model::Additive(a) => FitResult {
                rank,
                coeffs: vec![a],
                cov: vec![s2 / n_used as f64],
                cheb: Vec::new(),
                center: 0.0,
                half_width: 1.0,
                condition: 1.0,
                stats,
                counts,
            },
            Model::Multiplicative { a, sxx } => FitResult {
                rank,
                coeffs: vec![a],
                cov: vec![s2 / sxx],
                cheb: Vec::new(),
                center: 0.0,
                half_width: 1.0,
                condition: 1.0,
                stats,
                counts,
            },
            Model::Poly {
                cheb,
                inverse,
                condition,
                ..
            } => {
                let coeffs = power_coeffs(&cheb, center, half_width);
                // no degree of freedom left: every entry inf, as scipy's curve_fit
                // reports it (inf * the inverse would mix signs and NaN)
                let cov = if dof == 0 {
                    vec![f64::INFINITY; p * p]
                } else {
                    power_covariance(&inverse, p, center, half_width, s2)
                };
                FitResult {
                    rank,
                    coeffs,
                    cov,
                    cheb,
                    center,
                    half_width,
                    condition,
                    stats,
                    counts,
                }
            }
        };
        out.push(result);
    }
    Ok(out)
}

/// Histograms of the residuals `dark_out - model(dark_in)` of `fits` (the
/// results of [`fit_all`] on `input`) over the usable pixels: `bins`
/// equal-width bins over `range`, in one more pass, or, when `range` is
/// `None`, over each model's own smallest and largest residual
/// (`numpy.histogram`'s default), found by a pass before.  The residuals are
/// those of the statistics pass, bit for bit ([`kernels::residuals_of`]):
/// the refined model's, whose extremes can differ from the carried-over
/// `stats.min` and `stats.max` in the last digits, hence that pass.  The
/// counts are numpy's for these residuals ([`crate::histogram`]).  Returns
/// `(counts, edges)` per fit.
///
/// # Errors
/// [`CoreError::InvalidParameter`] for zero bins or a range that is not
/// finite and increasing; as [`fit_all`] for the input.
pub fn residual_histograms(
    input: &PairInput<'_>,
    fits: &[FitResult],
    bins: usize,
    range: Option<(f64, f64)>,
) -> CoreResult<Vec<(Vec<u64>, Vec<f64>)>> {
    let evals: Vec<(Eval<'_>, f64, f64)> = fits
        .iter()
        .map(|f| match f.rank {
            -1 => (Eval::Add(f.coeffs[0]), 0.0, 1.0),
            0 => (Eval::Mult(f.coeffs[0]), 0.0, 1.0),
            // t = (x - center) * inv_half_width, as in the statistics pass
            _ => (Eval::Poly(&f.cheb), f.center, 1.0 / f.half_width),
        })
        .collect();
    let walk = input.walk()?;
    let parts = walk.split(PARALLEL_CHUNK);
    let block = walk.len().min(BLOCK);
    let n_fits = fits.len();
    let ranges: Vec<(f64, f64)> = if let Some(r) = range {
        vec![r; n_fits]
    } else {
        let found = residual_pass(
            &parts,
            &input.exclusion,
            &evals,
            block,
            || vec![(f64::INFINITY, f64::NEG_INFINITY); n_fits],
            |extremes, j, r| {
                // the residuals of usable pixels are finite
                let (lo, hi) = range_block(r);
                let e = &mut extremes[j];
                *e = (e.0.min(lo), e.1.max(hi));
            },
            |extremes| extremes,
        );
        let mut ranges = vec![(f64::INFINITY, f64::NEG_INFINITY); n_fits];
        for part in found {
            for (all, (lo, hi)) in ranges.iter_mut().zip(part) {
                *all = (all.0.min(lo), all.1.max(hi));
            }
        }
        ranges
    };
    let specs = ranges
        .iter()
        .map(|&(lo, hi)| crate::histogram::Bins::new(bins, lo, hi))
        .collect::<CoreResult<Vec<_>>>()?;
    let counted = residual_pass(
        &parts,
        &input.exclusion,
        &evals,
        block,
        || {
            let rows: Vec<_> = specs
                .iter()
                .map(|b| crate::histogram::count_rows(b.n))
                .collect();
            (rows, vec![0_u32; block])
        },
        |(rows, idx), j, r| crate::histogram::bin_block(r, &specs[j], &mut rows[j], idx),
        |(rows, _)| rows,
    );
    let mut per_fit: Vec<Vec<Vec<[u64; 4]>>> = vec![Vec::new(); n_fits];
    for rows in counted {
        for (all, c) in per_fit.iter_mut().zip(rows) {
            all.push(c);
        }
    }
    Ok(per_fit
        .iter()
        .zip(specs)
        .map(|(parts, spec)| (crate::histogram::totals(parts, spec.n), spec.edges))
        .collect())
}

/// One pass over the usable pixels of `parts` that hands the residuals of
/// every model of `evals`, block by block, to `f(acc, model index,
/// residuals)`; one accumulator per part, in part order.
fn residual_pass<A, B, I, F, G>(
    parts: &[Walk<'_>],
    ex: &Exclusion,
    evals: &[(Eval<'_>, f64, f64)],
    block: usize,
    init: I,
    f: F,
    finish: G,
) -> Vec<B>
where
    B: Send,
    I: Fn() -> A + Sync,
    F: Fn(&mut A, usize, &[f64]) + Sync,
    G: Fn(A) -> B + Sync,
{
    fold_pass_finish(
        parts,
        ex,
        // written before it is read: pooled, not zeroed
        || (init(), crate::scratch::take_f64_len(block)),
        |(acc, r), xs, ys| {
            let n = xs.len();
            for (j, &(eval, center, ihw)) in evals.iter().enumerate() {
                kernels::residuals_of(xs, ys, eval, center, ihw, &mut r[..n]);
                f(acc, j, &r[..n]);
            }
        },
        |(acc, r)| {
            crate::scratch::give_f64(r);
            finish(acc)
        },
    )
    .into_iter()
    .map(|(acc, _)| acc)
    .collect()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
mod tests {
    use super::*;
    use crate::view::PixelArray;
    use ndarray::{ArrayD, IxDyn};

    fn input<'a>(x: &'a ArrayD<f64>, y: &'a ArrayD<f64>) -> PairInput<'a> {
        PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: None,
            exclusion: Exclusion::default(),
        }
    }

    fn arr(v: Vec<f64>) -> ArrayD<f64> {
        let n = v.len();
        ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap()
    }

    #[test]
    fn residual_histograms_hand_values() {
        // y = x + e, e = +-0.5 alternately: the additive fit is a = 0 and the
        // residuals are e itself
        let xs: Vec<f64> = (0..8).map(f64::from).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| x + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let (x, y) = (arr(xs), arr(ys));
        let inp = input(&x, &y);
        let fits = fit_all(&inp, &[-1]).unwrap();
        assert_eq!(fits[0].coeffs, vec![0.0]);
        // default range: the residuals' own (-0.5, 0.5); the last bin is closed
        let h = residual_histograms(&inp, &fits, 2, None).unwrap();
        assert_eq!(h[0], (vec![4, 4], vec![-0.5, 0.0, 0.5]));
        let h = residual_histograms(&inp, &fits, 4, Some((-1.0, 1.0))).unwrap();
        assert_eq!(h[0].0, vec![0, 4, 0, 4]);
        // nothing outside, nothing twice, over parallel parts and a mask
        let n = 3 * PARALLEL_CHUNK / 2;
        let xs: Vec<f64> = (0..n)
            .map(|i| f64::from(u32::try_from(i % 4001).unwrap()))
            .collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 1.4 * x + f64::from(u8::try_from(i % 7).unwrap()))
            .collect();
        let (x, y) = (
            ArrayD::from_shape_vec(IxDyn(&[3, n / 3]), xs).unwrap(),
            ArrayD::from_shape_vec(IxDyn(&[3, n / 3]), ys).unwrap(),
        );
        let mask = ArrayD::from_shape_fn(IxDyn(&[3, n / 3]), |i| (i[0] + i[1]) % 11 == 0);
        let mut inp = input(&x, &y);
        inp.mask = Some(mask.view());
        let fits = fit_all(&inp, &[-1, 0, 1, 3]).unwrap();
        for h in residual_histograms(&inp, &fits, 37, None).unwrap() {
            assert_eq!(h.0.iter().sum::<u64>(), fits[0].counts.n_used as u64);
        }
        assert!(residual_histograms(&inp, &fits, 0, None).is_err());
        assert!(residual_histograms(&inp, &fits, 3, Some((1.0, -1.0))).is_err());
        assert!(residual_histograms(&inp, &fits, 3, Some((0.0, f64::NAN))).is_err());
    }

    #[test]
    fn exact_polynomial_is_recovered() {
        let xs: Vec<f64> = (0..3000).map(|i| 60.0 + f64::from(i) * 1.37).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 2e-5 * x * x + 1.25 * x - 7.0).collect();
        let (x, y) = (arr(xs), arr(ys));
        let fits = fit_all(&input(&x, &y), &[2, 1, 0, -1]).unwrap();
        let c = &fits[0].coeffs;
        assert!(
            (c[0] - 2e-5).abs() < 1e-15 && (c[1] - 1.25).abs() < 1e-10 && (c[2] + 7.0).abs() < 1e-7
        );
        assert!(fits[0].stats.std < 1e-8);
        assert_eq!(fits[0].counts.n_used, 3000);
        assert_eq!(fits[1].coeffs.len(), 2);
        assert_eq!(fits[2].coeffs.len(), 1);
    }

    #[test]
    fn statistics_follow_the_refined_model_when_ill_conditioned() {
        // darks: most pixels low, a few hot ones far above; degree 12 makes the
        // normal matrix ill-conditioned, so refinement moves the fitted values
        let mut xs: Vec<f64> = (0..20000)
            .map(|i| 50.0 + f64::from(i % 977) * 0.9)
            .collect();
        xs.extend([
            4000.0, 4100.0, 4350.0, 4700.0, 5000.0, 3900.0, 4800.0, 4500.0,
        ]);
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 1.45 * x + 30.0 + f64::from(u32::try_from(i % 13).unwrap()) - 6.0)
            .collect();
        let (x, y) = (arr(xs.clone()), arr(ys.clone()));
        let f = fit_all(&input(&x, &y), &[12]).unwrap().remove(0);
        let mut fitted = vec![0.0; xs.len()];
        kernels::eval_cheb(&xs, &f.cheb, f.center, 1.0 / f.half_width, &mut fitted);
        let r: Vec<f64> = ys.iter().zip(&fitted).map(|(y, v)| y - v).collect();
        let min = r.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let frac: f64 = r.iter().zip(&ys).map(|(r, y)| r / y).sum::<f64>() / r.len() as f64;
        // the design's bound: statistics carried over a refinement step are off
        // by at most REFINE_SHIFT_TOLERANCE * sum |c_k| (7.5e-7 DN here)
        let bound = REFINE_SHIFT_TOLERANCE * f.cheb.iter().map(|c| c.abs()).sum::<f64>();
        assert!(
            (f.stats.min - min).abs() <= bound,
            "{} {}",
            f.stats.min,
            min
        );
        assert!(
            (f.stats.max - max).abs() <= bound,
            "{} {}",
            f.stats.max,
            max
        );
        assert!(
            (f.stats.frac_mean - frac).abs() < 1e-10 * frac.abs().max(1e-3),
            "{} {} {}",
            f.stats.frac_mean,
            frac,
            f.condition
        );
    }

    #[test]
    fn unscalable_ranges_are_errors_not_nan() {
        // a subnormal width, and a width that overflows float64
        for xs in [
            vec![0.0, 5e-324, 1e-323, 0.0, 5e-324],
            vec![-1.5e308, 1.5e308, 0.0, 1e308, -1e308],
        ] {
            let ys = vec![1.0, 2.0, 3.0, 4.0, 5.0];
            let (x, y) = (arr(xs), arr(ys));
            let err = fit_all(&input(&x, &y), &[1]).unwrap_err();
            assert!(matches!(err, CoreError::Degenerate { .. }), "{err}");
            // the additive model does not need a scaling; its residuals of
            // 1e308 square to inf, which is said (they were NaN statistics)
            match fit_all(&input(&x, &y), &[-1]) {
                Ok(f) => assert!(f[0].stats.ssr.is_finite() && x[1] < 1.0),
                Err(e) => assert!(matches!(e, CoreError::Overflow { .. }) && x[1] > 1.0),
            }
        }
        // a subnormal first block, then a normal range: the fit is exact
        let mut xs: Vec<f64> = (0..2500)
            .map(|i| if i % 2 == 0 { 0.0 } else { 5e-324 })
            .collect();
        xs.extend((0..3000).map(|i| f64::from(i) * 0.5));
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
        let (x, y) = (arr(xs), arr(ys));
        let f = fit_all(&input(&x, &y), &[1]).unwrap().remove(0);
        assert!((f.coeffs[0] - 2.0).abs() < 1e-12 && (f.coeffs[1] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn additive_and_multiplicative_hand_values() {
        // y = x + 2 exactly for x = 1..4, plus y2 = 3 x
        let (x, y) = (arr(vec![1.0, 2.0, 3.0, 4.0]), arr(vec![3.0, 4.0, 5.0, 6.0]));
        let f = fit_all(&input(&x, &y), &[-1]).unwrap().remove(0);
        assert!((f.coeffs[0] - 2.0).abs() < 1e-15);
        assert!(f.stats.ssr.abs() < 1e-20);
        // y = [2, 4, 7]: a = (2 + 8 + 21) / 14 = 31/14
        let (x, y) = (arr(vec![1.0, 2.0, 3.0]), arr(vec![2.0, 4.0, 7.0]));
        let f = fit_all(&input(&x, &y), &[0]).unwrap().remove(0);
        let a = 31.0 / 14.0;
        assert!((f.coeffs[0] - a).abs() < 1e-15);
        let ssr: f64 = [(2.0 - a), (4.0 - 2.0 * a), (7.0 - 3.0 * a)]
            .iter()
            .map(|r| r * r)
            .sum();
        assert!((f.cov[0] - ssr / 2.0 / 14.0).abs() < 1e-15);
    }

    #[test]
    fn linear_covariance_matches_closed_form() {
        // Straight-line fit: var(slope) = s2 / Sxx, var(icpt) = s2 (1/n + mean^2/Sxx)
        let xs: Vec<f64> = (0..50).map(f64::from).collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| 3.0 * x + 1.0 + if (*x as i64) % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let n = 50.0;
        let mean = 24.5;
        let sxx: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        let (x, y) = (arr(xs), arr(ys));
        let f = fit_all(&input(&x, &y), &[1]).unwrap().remove(0);
        let s2 = f.stats.ssr / (n - 2.0);
        assert!((f.cov[0] - s2 / sxx).abs() < 1e-12 * (s2 / sxx));
        let want = s2 * (1.0 / n + mean * mean / sxx);
        assert!((f.cov[3] - want).abs() < 1e-10 * want);
    }

    #[test]
    fn errors_carry_numbers() {
        let (x, y) = (arr(vec![5.0; 10]), arr((0..10).map(f64::from).collect()));
        let err = fit_all(&input(&x, &y), &[2]).unwrap_err();
        assert!(matches!(err, CoreError::Degenerate { .. }), "{err}");
        assert!(fit_all(&input(&x, &y), &[-1, 0]).is_ok());
        let err = fit_all(&input(&x, &y), &[13]).unwrap_err();
        assert_eq!(err, CoreError::RankOutOfRange { rank: 13 });
        let (x2, y2) = (arr(vec![1.0, 2.0]), arr(vec![1.0, 2.0]));
        let err = fit_all(&input(&x2, &y2), &[3]).unwrap_err();
        assert!(matches!(
            err,
            CoreError::TooFewPixels {
                needed: 4,
                n_used: 2,
                ..
            }
        ));
        let z = arr(vec![0.0; 4]);
        let err = fit_all(&input(&z, &z), &[0]).unwrap_err();
        assert!(matches!(err, CoreError::Degenerate { .. }));
        let e = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
        assert!(matches!(
            fit_all(&input(&e, &e), &[1]).unwrap_err(),
            CoreError::Empty { .. }
        ));
    }

    #[test]
    fn too_few_distinct_values_is_degenerate() {
        let xs: Vec<f64> = (0..100).map(|i| f64::from(i % 3)).collect();
        let ys: Vec<f64> = (0..100).map(f64::from).collect();
        let (x, y) = (arr(xs), arr(ys));
        assert!(fit_all(&input(&x, &y), &[2]).is_ok());
        let err = fit_all(&input(&x, &y), &[4]).unwrap_err();
        assert!(matches!(err, CoreError::Degenerate { .. }), "{err}");
    }

    #[test]
    fn singular_normal_equations_are_solved_by_qr() {
        // an exact degree-7 polynomial at x = 0..40 (many times) and one hot
        // pixel at 3000: cond(G) ~ 1e22, singular for the moments' Cholesky;
        // QR recovers the polynomial, whose residuals are then ~0
        let xs: Vec<f64> = (0..4001)
            .map(|i| if i == 4000 { 3000.0 } else { f64::from(i % 41) })
            .collect();
        let poly = |x: f64| 5.0 + 0.5 * x + 1e-3 * x * x + 1e-9 * x.powi(5) - 1e-14 * x.powi(7);
        let ys: Vec<f64> = xs.iter().map(|&x| poly(x)).collect();
        let (x, y) = (arr(xs), arr(ys.clone()));
        let fits = fit_all(&input(&x, &y), &[7]).unwrap();
        let scale = ys.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        assert!(fits[0].condition > 1e16, "{}", fits[0].condition);
        let worst = fits[0].stats.min.abs().max(fits[0].stats.max.abs());
        assert!(worst < 1e-9 * scale, "{worst} of {scale}");
    }

    #[test]
    fn integer_big_endian_input_matches_float() {
        let xs: Vec<i32> = (0..500).map(|i| 100 + i * 7 % 400).collect();
        let ys: Vec<i32> = xs.iter().map(|x| x * 3 / 2 + 11).collect();
        let xf = ArrayD::from_shape_vec(IxDyn(&[500]), xs.iter().map(|&v| f64::from(v)).collect())
            .unwrap();
        let yf = ArrayD::from_shape_vec(IxDyn(&[500]), ys.iter().map(|&v| f64::from(v)).collect())
            .unwrap();
        let xb = ArrayD::from_shape_vec(IxDyn(&[500]), xs.iter().map(|v| v.swap_bytes()).collect())
            .unwrap();
        let yb = ArrayD::from_shape_vec(IxDyn(&[500]), ys.iter().map(|v| v.swap_bytes()).collect())
            .unwrap();
        let a = fit_all(&input(&xf, &yf), &[-1, 0, 1, 3]).unwrap();
        let swapped = PairInput {
            dark_in: Frame {
                data: PixelArray::I32(xb.view()),
                swapped: true,
            },
            dark_out: Frame {
                data: PixelArray::I32(yb.view()),
                swapped: true,
            },
            mask: None,
            exclusion: Exclusion::default(),
        };
        let b = fit_all(&swapped, &[-1, 0, 1, 3]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn mask_and_threshold_exclude() {
        let xs: Vec<f64> = (0..100).map(f64::from).collect();
        let mut ys: Vec<f64> = xs.iter().map(|x| 2.0 * x).collect();
        ys[10] = 1e6; // masked outlier
        let (x, y) = (arr(xs), arr(ys));
        let mut m = ArrayD::from_elem(IxDyn(&[100]), false);
        m[[10]] = true;
        let inp = PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: Some(m.view()),
            exclusion: Exclusion::new(Some(89.5)).unwrap(),
        };
        let f = fit_all(&inp, &[0]).unwrap().remove(0);
        assert!((f.coeffs[0] - 2.0).abs() < 1e-14);
        assert_eq!(f.counts.n_used, 89);
        assert_eq!(f.counts.n_masked, 1);
        assert_eq!(f.counts.n_hot, 10);
    }

    #[test]
    fn no_degree_of_freedom_gives_an_all_inf_covariance() {
        // as scipy's curve_fit fills pcov with inf when N == p
        let (x, y) = (arr(vec![1.0, 2.0, 4.0]), arr(vec![3.0, 1.0, 7.0]));
        for f in fit_all(&input(&x, &y), &[2]).unwrap() {
            assert_eq!(f.cov, vec![f64::INFINITY; 9]);
            assert!(f.coeffs.iter().all(|c| c.is_finite()));
        }
        // the carried-over refinement can take the sum of squares of an exact
        // fit just below zero: it is 0 then, and rms and std are not NaN
        for xs in [[1.0, 7.0, 12.0, 25.0], [2.0, 5.0, 11.0, 30_000.0]] {
            let ys = [3.0, 1.0, 7.0, 29_000.0];
            let (x, y) = (arr(xs.to_vec()), arr(ys.to_vec()));
            let f = fit_all(&input(&x, &y), &[3]).unwrap().remove(0);
            assert!(
                f.stats.ssr >= 0.0 && f.stats.rms >= 0.0 && f.stats.std >= 0.0,
                "{f:?}"
            );
        }
        let (x1, y1) = (arr(vec![2.0]), arr(vec![5.0]));
        for f in fit_all(&input(&x1, &y1), &[-1, 0]).unwrap() {
            assert_eq!(f.cov, vec![f64::INFINITY]);
        }
    }

    #[test]
    fn overflowing_squares_are_reported_as_overflow() {
        let overflow = |x: &ArrayD<f64>, rank: i64| {
            let y = x.mapv(|v| 2.0 * v + 1.0);
            match fit_all(&input(x, &y), &[rank]).unwrap_err() {
                e @ CoreError::Overflow { .. } => e.to_string(),
                other => panic!("rank {rank}: {other}"),
            }
        };
        let big = arr(vec![1e160, 2e160, 3e160, 4e160]);
        // rank 0 used to say "dark_in is zero at all 4 used pixels"
        let text = overflow(&big, 0);
        assert!(
            text.contains("dark_in squared") && text.contains("divide"),
            "{text}"
        );
        assert!(!text.contains("zero"), "{text}");
        assert!(overflow(&big, -1).contains("residual statistics"));
        let huge = arr(vec![1e200, 2e200, 3e200, 4e200]);
        for rank in [1, 2] {
            let text = overflow(&huge, rank);
            assert!(text.contains("|dark_in| up to 4.000e200"), "{text}");
        }
        // below the overflow everything stays finite
        let fine = arr(vec![1e150, 2e150, 3e150, 5e150]);
        for f in fit_all(&input(&fine, &fine.mapv(|v| 2.0 * v)), &[-1, 0, 1, 2]).unwrap() {
            assert!(f.cov.iter().all(|c| c.is_finite()), "{f:?}");
            assert!(f.stats.ssr.is_finite() && f.stats.std.is_finite());
        }
    }
}
