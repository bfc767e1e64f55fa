//! Outlier-resistant fits: fit, sigma-clip the residuals, refit on the rest,
//! repeat — the procedure of astropy's `FittingWithOutlierRemoval(fitter,
//! sigma_clip, niter, sigma=k)`:
//!
//! * each outer iteration clips the residuals of the current model with
//!   `sigma_clip` semantics (`cenfunc='median'`, `stdfunc='std'`, up to five
//!   inner iterations on the shrinking set, and the final mask = the incoming
//!   mask OR the residuals outside the final bounds); residuals that are
//!   not finite are masked, as astropy masks invalid values;
//! * the model is refitted on the pixels left; the loop stops after `niter`
//!   iterations or when the number of clipped pixels stops changing.
//!
//! A refit that only decides the next clipping is solved from the normal
//! sums of the first fit with the clipped pixels' terms subtracted (see
//! [`Downdated`]); the model returned is always a full fit of the pixels
//! left, the same as [`fit_all`] (or the weighted fit) with the final mask.
//!
//! The passes over the residuals use `&` between comparisons on purpose:
//! branch-free, they compile to vector compares.
//!
//! The usable pixels are gathered once (values and their logical indices), so
//! this path copies the pixels it fits; the plain fits never do.

#![allow(clippy::needless_bitwise_bool)] // see the module docs

use multiversion::multiversion;
use ndarray::{ArrayViewD, IxDyn};

use crate::compact::chunk;
use crate::compact::{compact_unmasked, compact_within, for_each_outside, retain_within};
use crate::error::{CoreError, CoreResult};
use crate::fit::kernels::{
    add_mult_sums, gradient_of, lane_total, range_block, residuals_of, v_add, Eval, MomentSums, V,
};
use crate::fit::{
    fit_all_local, scalable, scaling, solve_model, validate_ranks, FitResult, Model, NormalSums,
    PairInput, QR_CONDITION,
};
use crate::gather::{gather, Gathered};
use crate::mask::{Counts, Exclusion};
use crate::scratch;
use crate::sum::Neumaier;
use crate::view::{Frame, BLOCK};
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

/// A model as the clipping loop evaluates it: the Chebyshev series in
/// `t = (x - center) * inv_half_width` of a polynomial, or `[a]` of ranks -1
/// and 0.
struct Current {
    rank: i64,
    coeffs: Vec<f64>,
    center: f64,
    inv_half_width: f64,
}

impl Current {
    fn of_fit(f: &FitResult) -> Current {
        if f.rank <= 0 {
            Current {
                rank: f.rank,
                coeffs: f.coeffs.clone(),
                center: 0.0,
                inv_half_width: 1.0,
            }
        } else {
            Current {
                rank: f.rank,
                coeffs: f.cheb.clone(),
                center: f.center,
                inv_half_width: 1.0 / f.half_width,
            }
        }
    }

    /// `y - model(x)` into `out`, with the arithmetic of the statistics pass.
    fn residuals(&self, x: &[f64], y: &[f64], out: &mut Vec<f64>) {
        out.resize(x.len(), 0.0);
        let model = match self.rank {
            -1 => Eval::Add(self.coeffs[0]),
            0 => Eval::Mult(self.coeffs[0]),
            _ => Eval::Poly(&self.coeffs),
        };
        residuals_of(x, y, model, self.center, self.inv_half_width, out);
    }
}

/// Largest 1-norm condition number of the scaled normal matrix for which an
/// intermediate refit (one that only decides the next clipping) is used
/// without a step of iterative refinement: its fitted values are then good
/// to about `1e5 * 2^-53`, ~1e-11 relative.  Worse-conditioned solutions
/// take the step, as every solution of [`fit_all`] does.
const UNREFINED_CONDITION: f64 = 1e5;

/// The normal-equation sums of the pixels still kept, in the one scaling of
/// the range of every gathered `dark_in`.  Clipping removes few pixels per
/// iteration, so an intermediate refit subtracts their terms (compensated
/// sums, exact to rounding) and solves, instead of passing over the pixels.
struct Downdated {
    rank: i64,
    sums: MomentSums,
    diff: Neumaier,
    xx: Neumaier,
    xy: Neumaier,
    lo: f64,
    hi: f64,
    center: f64,
    inv_half_width: f64,
    counts: Counts,
}

impl Downdated {
    fn new(x: &[f64], y: &[f64], rank: i64, counts: Counts) -> Downdated {
        let degree = usize::try_from(rank.max(0)).unwrap_or(0);
        let (lo, hi) = range_block(x);
        let (center, inv_half_width) = if degree > 0 && scalable(lo, hi) {
            let (c, h) = scaling(lo, hi);
            (c, 1.0 / h)
        } else {
            (0.0, 1.0)
        };
        let mut d = Downdated {
            rank,
            sums: MomentSums::new(degree),
            diff: Neumaier::default(),
            xx: Neumaier::default(),
            xy: Neumaier::default(),
            lo,
            hi,
            center,
            inv_half_width,
            counts,
        };
        for (cx, cy) in x.chunks(BLOCK).zip(y.chunks(BLOCK)) {
            let (s_diff, s_xx, s_xy) = if degree == 0 {
                add_mult_sums(cx, cy)
            } else {
                d.sums.add_block(cx, cy, center, inv_half_width)
            };
            d.diff.add(s_diff);
            d.xx.add(s_xx);
            d.xy.add(s_xy);
        }
        d
    }

    /// Take the pixel `(x, y)` out of the sums.
    fn remove(&mut self, x: f64, y: f64) {
        self.diff.add(-(y - x));
        self.xx.add(-(x * x));
        self.xy.add(-(x * y));
        if self.rank > 0 {
            let t = (x - self.center) * self.inv_half_width;
            self.sums.add_constant(-1.0, -y, t);
        }
        self.counts.n_used -= 1;
    }

    /// The model of the kept pixels, with the inverse normal matrix when it
    /// should take a refinement step (see [`Downdated::refine`]); `None` for
    /// an error, which the full fit then reports with its own message, and
    /// for normal equations too badly conditioned for the sums (the full fit
    /// then solves them by QR).
    fn solve(&self) -> Option<(Current, Option<Vec<f64>>)> {
        let normal = NormalSums {
            m: &self.sums.m,
            b: &self.sums.b,
            diff: self.diff.value(),
            xx: self.xx.value(),
            xy: self.xy.value(),
            lo: self.lo,
            hi: self.hi,
        };
        let (coeffs, center, inv_half_width, inverse) =
            match solve_model(self.rank, &normal, &self.counts).ok()? {
                Model::Additive(a) | Model::Multiplicative { a, .. } => (vec![a], 0.0, 1.0, None),
                // beyond what refinement recovers: the full fit (by QR) instead
                Model::Poly { condition, .. } if !(condition <= QR_CONDITION) => return None,
                Model::Poly {
                    cheb,
                    inverse,
                    condition,
                    ..
                } => (
                    cheb,
                    self.center,
                    self.inv_half_width,
                    (condition > UNREFINED_CONDITION).then_some(inverse),
                ),
            };
        Some((
            Current {
                rank: self.rank,
                coeffs,
                center,
                inv_half_width,
            },
            inverse,
        ))
    }

    /// One step of iterative refinement of `model` on the pixels whose
    /// `mask` is false (as [`fit_all`] refines its solutions): the residuals
    /// of the model (into `r`, zero where masked) and the gradient `A^T r`
    /// give the correction `G^-1 A^T r`.
    fn refine(
        model: &mut Current,
        inverse: &[f64],
        (x, y): (&[f64], &[f64]),
        mask: &[bool],
        r: &mut Vec<f64>,
    ) {
        model.residuals(x, y, r);
        for (v, &m) in r.iter_mut().zip(mask) {
            if m {
                *v = 0.0;
            }
        }
        let p = model.coeffs.len();
        let g = gradient_of(x, r, p - 1, model.center, model.inv_half_width);
        if g.iter().all(|v| v.is_finite()) {
            for (j, c) in model.coeffs.iter_mut().enumerate() {
                *c += (0..p).map(|k| inverse[j * p + k] * g[k]).sum::<f64>();
            }
        }
    }
}

/// Sets at least this large find their median through a band chosen from a
/// sample.
const BAND_MIN: usize = 4096;
/// Values sampled to choose the band's bounds.
const SAMPLE: usize = 256;
/// Half-width of the band in sample ranks: three standard deviations of the
/// rank of the true median within the sample (`sqrt(SAMPLE) / 2 = 8`).
const BAND_HALF: usize = 24;

/// The values of the set around its median: `band[..len]` holds every value
/// of the set from `plo` up to some bound, and `below` values of the set are
/// smaller than `plo`.
#[derive(Clone, Copy)]
struct Band {
    plo: f64,
    below: usize,
    len: usize,
    /// `(l, r)` after a selection: `band[..l] <= band[l..r] <= band[r..len]`,
    /// with `band[l..r]` the selected value (or nothing, once cut away).
    split: Option<(usize, usize)>,
}

impl Band {
    /// `band[..t]` <= `band[t]` <= `band[t + 1..len]` for the rank `t`, selected
    /// within the part of the last split that holds `t` (the whole band the
    /// first time): each inner iteration's median moves little, so the next
    /// selection reads a part of the band, not all of it.
    fn select(&mut self, band: &mut [f64], t: usize) {
        let (from, to) = match self.split {
            Some((l, _)) if t < l => (0, l),
            Some((l, r)) if t < r => {
                // the value selected last time, still in place
                debug_assert!(t == l && r == l + 1);
                (t, t + 1)
            }
            Some((_, r)) => (r, self.len),
            None => (0, self.len),
        };
        band[from..to].select_nth_unstable_by(t - from, cmp_finite);
        self.split = Some((t, t + 1));
    }

    /// Keep the values within `[lo, hi]`, in order, each part of the split in
    /// its place (so the split stays true with the kept counts).
    fn retain(&mut self, band: &mut [f64], lo: f64, hi: f64) {
        match self.split {
            None => self.len = retain_within(band, 0..self.len, 0, lo, hi),
            Some((l, r)) => {
                let kl = retain_within(band, 0..l, 0, lo, hi);
                let km = retain_within(band, l..r, kl, lo, hi);
                let kr = retain_within(band, r..self.len, kl + km, lo, hi);
                self.split = Some((kl, kl + km));
                self.len = kl + km + kr;
            }
        }
    }

    /// Whether the middle value(s) of the set, of `m` values, are in the band.
    fn holds_median(&self, m: usize) -> bool {
        let k = m / 2;
        let first = if m % 2 == 1 { k } else { k - 1 };
        self.below <= first && k < self.below + self.len
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // the signature `sort_by` takes
fn cmp_finite(a: &f64, b: &f64) -> std::cmp::Ordering {
    a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
}

// The passes below work on chunks of 8 values (`V`, as in the fit kernels),
// written as whole-chunk operations with 0.0 / 1.0 lanes for "in the set" and
// one comparison per select, in functions that return their lanes (the totals
// are taken by the caller): in that form LLVM keeps each chunk in one vector
// register, where `bool` or integer lanes, or totals in the same function,
// made it split the chunk into 128-bit halves or stay scalar.

/// `x` where `lo <= v <= hi`, zero elsewhere (and where `v` is NaN).
#[inline(always)]
#[allow(clippy::inline_always)]
fn where_within(v: &V, lo: f64, hi: f64, x: &V) -> V {
    let a: V = std::array::from_fn(|l| if v[l] >= lo { x[l] } else { 0.0 });
    std::array::from_fn(|l| if v[l] <= hi { a[l] } else { 0.0 })
}

/// Mark (and list in `newly`) the pixels not yet masked whose residual is
/// not finite (astropy masks invalid values), then replace every masked value
/// of `r` by NaN: NaN fails every comparison, so it is outside every set below
/// and never "outside the bounds" either.
fn open_values(r: &mut [f64], mask: &mut [bool], newly: &mut Vec<usize>) {
    if !all_finite(r) {
        for (i, (v, m)) in r.iter().zip(mask.iter_mut()).enumerate() {
            if !*m && !v.is_finite() {
                *m = true;
                newly.push(i);
            }
        }
    }
    nan_where_masked(r, mask);
}

/// True when no value of `r` is infinite or NaN (`0 v` is zero for every
/// finite `v` and NaN otherwise).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn all_finite(r: &[f64]) -> bool {
    let whole = r.len() - r.len() % 8;
    let mut acc: V = [0.0; 8];
    for c in r[..whole].chunks_exact(8) {
        acc = std::array::from_fn(|l| acc[l] + c[l] * 0.0);
    }
    let tail: f64 = r[whole..].iter().map(|v| v * 0.0).sum();
    acc.iter().sum::<f64>() + tail == 0.0
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn nan_where_masked(r: &mut [f64], mask: &[bool]) {
    for (v, &m) in r.iter_mut().zip(mask) {
        if m {
            *v = f64::NAN;
        }
    }
}

/// Copy the values of `vals` within `[lo, hi]` to the front of `band` (as
/// long as `vals`); returns how many were copied.
fn collect_band(vals: &[f64], lo: f64, hi: f64, band: &mut [f64]) -> usize {
    compact_within(vals, lo, hi, band)
}

/// What one pass learns about the set (the values within `[lo, hi]`).
#[derive(Clone, Copy)]
struct SetSums {
    count: usize,
    sum: f64,
    /// `sum (v - shift)^2`.
    sq: f64,
    shift: f64,
    /// Values below the band's `plo`.
    below: usize,
}

impl SetSums {
    /// Standard deviation (`ddof = 0`) from the shifted sums.  The shift is
    /// the previous centre (a median), within about a standard deviation of
    /// the mean, so the correction `(mean - shift)^2` is at most of the order
    /// of the variance and cancels at most a bit or two of it (numpy's two
    /// passes subtract the mean itself).
    #[allow(clippy::cast_precision_loss)]
    fn std(&self) -> f64 {
        let m = self.count as f64;
        let d = self.sum / m - self.shift;
        (self.sq / m - d * d).max(0.0).sqrt()
    }
}

/// Lanes of [`set_sums`] over whole chunks.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn set_lanes(vals: &[f64], lo: f64, hi: f64, plo: f64, shift: f64) -> [V; 4] {
    #[inline(always)]
    #[allow(clippy::inline_always)]
    fn step(c: &V, lo: f64, hi: f64, plo: f64, shift: f64, acc: &mut [V; 4]) {
        let inside = where_within(c, lo, hi, &[1.0; 8]);
        acc[0] = v_add(&acc[0], &inside);
        acc[1] = v_add(&acc[1], &where_within(c, lo, hi, c));
        let sq: V = std::array::from_fn(|l| (c[l] - shift) * (c[l] - shift));
        acc[2] = v_add(&acc[2], &where_within(c, lo, hi, &sq));
        let under: V = std::array::from_fn(|l| if c[l] < plo { inside[l] } else { 0.0 });
        acc[3] = v_add(&acc[3], &under);
    }
    let mut acc = [[0.0; 8]; 4];
    for ch in vals.chunks_exact(8) {
        step(&chunk(ch), lo, hi, plo, shift, &mut acc);
    }
    acc
}

/// One pass over the set of the values within `[lo, hi]`: its size, sum,
/// squares about `shift`, and how many are below `plo`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn set_sums(vals: &[f64], lo: f64, hi: f64, plo: f64, shift: f64) -> SetSums {
    let whole = vals.len() - vals.len() % 8;
    let [count, sum, sq, below] = set_lanes(&vals[..whole], lo, hi, plo, shift);
    // 0.0 / 1.0 lanes: exact totals below 2^53
    let mut s = SetSums {
        count: lane_total(&count) as usize,
        sum: lane_total(&sum),
        sq: lane_total(&sq),
        shift,
        below: lane_total(&below) as usize,
    };
    for &v in &vals[whole..] {
        if v >= lo && v <= hi {
            s.count += 1;
            s.sum += v;
            s.sq += (v - shift) * (v - shift);
            s.below += usize::from(v < plo);
        }
    }
    s
}

/// Bounds of the band (`plo`, `phi`) and a first centre, from a strided
/// sample of the finite values of `vals`; `None` for a small set.
fn sample_band(vals: &[f64]) -> Option<(f64, f64, f64)> {
    let n = vals.len();
    if n < BAND_MIN {
        return None;
    }
    let mut s = [0.0; SAMPLE];
    let mut k = 0;
    for i in 0..SAMPLE {
        let v = vals[i * n / SAMPLE];
        if !v.is_nan() {
            s[k] = v;
            k += 1;
        }
    }
    if k < SAMPLE / 2 {
        return None;
    }
    let s = &mut s[..k];
    s.sort_unstable_by(cmp_finite);
    let (mid, d) = (k / 2, BAND_HALF * k / SAMPLE);
    Some((s[mid - d], s[mid + d], s[mid]))
}

/// The band holding the whole set (the values within `[lo, hi]`).
fn whole_band(vals: &[f64], lo: f64, hi: f64, band: &mut [f64]) -> Band {
    Band {
        plo: f64::NEG_INFINITY,
        below: 0,
        len: collect_band(vals, lo, hi, band),
        split: None,
    }
}

/// The bounds `sigma_clip` ends with, on the values of `vals` that are not
/// NaN.
///
/// astropy drops the values outside each inner iteration's bounds, so the
/// set of an iteration is always `vals` cut to the intersection `[set_lo,
/// set_hi]` of every bound so far: each iteration is one pass that reads
/// `vals` with that cut (size, sum, squares about the previous centre, and
/// the count below the band) and nothing is rewritten.  The median is
/// selected from the band of values around it (chosen once from a sample,
/// then cut with the set), not from the whole set.
fn clip_bounds(vals: &[f64], band: &mut [f64], sigma: f64) -> (f64, f64) {
    let (mut set_lo, mut set_hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let sampled = sample_band(vals);
    let (plo, shift) = sampled.map_or((f64::NEG_INFINITY, 0.0), |(p, _, c)| (p, c));
    let mut set = set_sums(vals, set_lo, set_hi, plo, shift);
    let mut b = match sampled {
        Some((plo, phi, _)) => Band {
            plo,
            below: set.below,
            len: collect_band(vals, plo, phi, band),
            split: None,
        },
        None => whole_band(vals, set_lo, set_hi, band),
    };
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..SIGMA_CLIP_MAXITERS {
        let m = set.count;
        if m == 0 {
            break;
        }
        if !b.holds_median(m) {
            b = whole_band(vals, set_lo, set_hi, band);
            set.below = 0;
        }
        let t = m / 2 - set.below;
        b.select(band, t);
        let upper = band[t];
        let center = if m % 2 == 1 {
            upper
        } else {
            let lower = band[..t].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            lower + (upper - lower) / 2.0
        };
        let std = set.std();
        lo = center - sigma * std;
        hi = center + sigma * std;
        if !(lo <= hi) {
            break; // NaN bounds keep nothing; the final mask takes every value
        }
        set_lo = set_lo.max(lo);
        set_hi = set_hi.min(hi);
        let next = set_sums(vals, set_lo, set_hi, b.plo, center);
        if next.count == m {
            break;
        }
        set = next;
        b.retain(band, set_lo, set_hi);
        b.below = set.below;
    }
    (lo, hi)
}

/// Mark (and list in `newly`) the pixels not yet masked whose residual is
/// outside `[lo, hi]` (masked residuals are NaN: never outside).
fn extend_mask(r: &[f64], mask: &mut [bool], lo: f64, hi: f64, newly: &mut Vec<usize>) {
    for_each_outside(r, lo, hi, |i| {
        if !mask[i] {
            mask[i] = true;
            newly.push(i);
        }
    });
}

/// `sigma_clip` of the residuals `r` given the incoming `mask` (True = out),
/// which it extends in place with the residuals outside the final bounds,
/// listing the newly masked pixels in `newly`.  Non-finite residuals are
/// masked, as astropy masks invalid values.  `r` is used up: the masked and
/// non-finite values become NaN; `band` is scratch as long as `r`.
fn sigma_clip(
    r: &mut [f64],
    mask: &mut [bool],
    sigma: f64,
    band: &mut [f64],
    newly: &mut Vec<usize>,
) {
    let before = newly.len();
    open_values(r, mask, newly);
    let invalid = newly.len() > before;
    let (lo, hi) = clip_bounds(r, band, sigma);
    extend_mask(r, mask, lo, hi, newly);
    if invalid {
        // one list in pixel order, as if both kinds were found in one pass
        newly[before..].sort_unstable();
    }
}

/// The values of `a` whose `mask` is false, compacted to the front of `out`
/// (as long as `a`); returns how many.
fn keep_unmasked(a: &[f64], mask: &[bool], out: &mut [f64]) -> usize {
    compact_unmasked(a, mask, out)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(shape_err)`
fn shape_err(e: ndarray::ShapeError) -> CoreError {
    CoreError::InvalidParameter(e.to_string())
}

/// Buffers for the full fits of the kept pixels.
struct Kept {
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    weighted: bool,
}

impl Kept {
    fn new(n: usize, weighted: bool) -> Kept {
        Kept {
            x: scratch::take_f64_len(n),
            y: scratch::take_f64_len(n),
            w: scratch::take_f64_len(if weighted { n } else { 0 }),
            weighted,
        }
    }

    /// The full (refined, or weighted) fit of the gathered pixels whose
    /// `mask` is false (all of them unless `any_masked`).
    fn fit(
        &mut self,
        g: &Gathered,
        mask: &[bool],
        any_masked: bool,
        rank: i64,
    ) -> CoreResult<FitResult> {
        let weighted = self.weighted;
        let (x, y, w) = if any_masked {
            let k = keep_unmasked(&g.x, mask, &mut self.x);
            keep_unmasked(&g.y, mask, &mut self.y);
            if weighted {
                keep_unmasked(&g.w, mask, &mut self.w);
            }
            (
                &self.x[..k],
                &self.y[..k],
                &self.w[..if weighted { k } else { 0 }],
            )
        } else {
            (&g.x[..], &g.y[..], &g.w[..])
        };
        let k = x.len();
        // the fit of the kept pixels knows nothing of those excluded before
        // (mask, hot, non-finite) or clipped: its too-few-pixels error is
        // restated with the counts of the whole input
        let restate = |e: CoreError| match e {
            CoreError::TooFewPixels {
                model,
                needed,
                n_used,
                n_excluded,
                n_nonfinite,
                ..
            } => {
                let n_clipped = g.x.len() - k;
                CoreError::TooFewPixels {
                    model,
                    needed,
                    n_used,
                    n_excluded: g.counts.n_excluded() + n_clipped + n_excluded,
                    n_nonfinite: g.counts.n_nonfinite + n_nonfinite,
                    n_clipped,
                }
            }
            other => other,
        };
        if k == 0 {
            return Err(restate(CoreError::TooFewPixels {
                model: crate::fit::model_name(rank),
                needed: 1,
                n_used: 0,
                n_excluded: 0,
                n_nonfinite: 0,
                n_clipped: 0,
            }));
        }
        let shape = [k];
        let sub = PairInput {
            dark_in: Frame::from(ArrayViewD::from_shape(IxDyn(&shape), x).map_err(shape_err)?),
            dark_out: Frame::from(ArrayViewD::from_shape(IxDyn(&shape), y).map_err(shape_err)?),
            mask: None,
            exclusion: Exclusion {
                hot_threshold: None,
                all_usable: true,
            },
        };
        if weighted {
            // the residuals are clipped unweighted; the refit uses the weights
            // (astropy passes its weights to the fitter, not to sigma_clip)
            let w = Frame::from(ArrayViewD::from_shape(IxDyn(&shape), w).map_err(shape_err)?);
            return Ok(fit_weighted(&sub, &w, &[rank]).map_err(restate)?.remove(0));
        }
        Ok(fit_all_local(&sub, &[rank]).map_err(restate)?.remove(0))
    }
}

/// Fit one rank with iterative sigma clipping (see the module docs).
///
/// Refits that only decide the next clipping are solved from downdated sums
/// (see [`Downdated`]); the model returned is always a full fit of the kept
/// pixels, identical to [`fit_all`] (or the weighted fit) given the final mask.
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
    validate_ranks(&[rank])?;
    let g = gather(input, weights)?;
    let n = g.x.len();
    let weighted = weights.is_some();
    let mut kept = Kept::new(n, weighted);
    let mut fit_on = |mask: &[bool], any_masked: bool| kept.fit(&g, mask, any_masked, rank);
    let mut mask = vec![false; n];
    let mut sums = (!weighted).then(|| Downdated::new(&g.x, &g.y, rank, g.counts));
    let (mut r, mut band) = (scratch::take_f64_len(n), scratch::take_f64_len(n));
    // an intermediate model: from the downdated sums (refined when badly
    // conditioned), or a full fit when they cannot give one
    let mut refit = |sums: Option<&Downdated>, mask: &[bool], r: &mut Vec<f64>| match sums
        .and_then(Downdated::solve)
    {
        Some((mut m, inverse)) => {
            if let Some(inverse) = inverse {
                Downdated::refine(&mut m, &inverse, (&g.x, &g.y), mask, r);
            }
            Ok::<_, CoreError>(m)
        }
        None => Ok(Current::of_fit(&fit_on(mask, mask.iter().any(|&m| m))?)),
    };
    let mut model = refit(sums.as_ref(), &mask, &mut r)?;
    let mut newly = Vec::new();
    // every clipped pixel, in the order they were clipped
    let mut clipped: Vec<usize> = Vec::new();
    let (mut last, mut iterations) = (0, 0);
    let mut fit = loop {
        iterations += 1;
        model.residuals(&g.x, &g.y, &mut r);
        newly.clear();
        sigma_clip(&mut r, &mut mask, sigma, &mut band, &mut newly);
        clipped.extend_from_slice(&newly);
        let n_clipped = clipped.len();
        if n_clipped == last || iterations >= niter {
            break fit_on(&mask, n_clipped > 0)?;
        }
        last = n_clipped;
        if let Some(d) = sums.as_mut() {
            for &i in &newly {
                d.remove(g.x[i], g.y[i]);
            }
        }
        model = refit(sums.as_ref(), &mask, &mut r)?;
    };
    for i in &mut clipped {
        *i = g.logical(*i);
    }
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
    for v in [kept.x, kept.y, kept.w, r, band] {
        scratch::give_f64(v);
    }
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
    use crate::fit::fit_all;
    use ndarray::ArrayD;

    /// `sigma_clip` written plainly: the median by sorting a copy, a
    /// two-pass std, the kept values rewritten every iteration.
    #[allow(clippy::cast_precision_loss)]
    fn reference_sigma_clip(r: &[f64], mask: &mut [bool], sigma: f64) {
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut kept: Vec<f64> = r
            .iter()
            .zip(mask.iter())
            .filter(|(v, &m)| !m && v.is_finite())
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
            let mean = kept.iter().sum::<f64>() / m as f64;
            let var = kept.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m as f64;
            lo = center - sigma * var.sqrt();
            hi = center + sigma * var.sqrt();
            kept.retain(|&v| v >= lo && v <= hi);
            if kept.len() == m {
                break;
            }
        }
        for (w, &v) in mask.iter_mut().zip(r) {
            *w = *w || !v.is_finite() || v < lo || v > hi;
        }
    }

    /// Dark-like pairs: a skewed background with hot pixels, a gently
    /// curved gain, noise, and one-sided outliers.
    fn darks(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f64::from(u32::try_from(state >> 40).unwrap()) / f64::from(1_u32 << 24)
        };
        let mut xs = Vec::with_capacity(n);
        let mut ys = Vec::with_capacity(n);
        for i in 0..n {
            let hot = i % 311 == 5;
            let x = if hot {
                2500.0 + 2500.0 * next()
            } else {
                (60.0 + 400.0 * (-(next() + 1e-9).ln())).round()
            };
            let noise = 20.0 * (next() + next() + next() - 1.5);
            let mut y = (2e-5 * x * x + 1.45 * x + 10.0 + noise).round();
            if i % 97 == 0 {
                y -= 400.0;
            }
            xs.push(x);
            ys.push(y);
        }
        (xs, ys)
    }

    fn pair<'a>(x: &'a ArrayD<f64>, y: &'a ArrayD<f64>) -> PairInput<'a> {
        PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: None,
            exclusion: Exclusion::default(),
        }
    }

    /// Fitted values of a result at `xs`, from its power coefficients.
    fn horner(f: &FitResult, xs: &[f64]) -> Vec<f64> {
        xs.iter()
            .map(|&x| match f.rank {
                -1 => x + f.coeffs[0],
                0 => f.coeffs[0] * x,
                _ => f.coeffs.iter().fold(0.0, |acc, c| acc * x + c),
            })
            .collect()
    }

    #[test]
    fn clipped_fits_match_a_loop_of_full_fits() {
        // the reference: astropy's loop written with full fits of the kept
        // pixels (fit_all) and the plain sigma_clip above
        let n = 21_142;
        for (seed, rank, sigma, niter) in [
            (1, -1, 3.0, 3),
            (2, 0, 3.0, 3),
            (3, 1, 2.5, 5),
            (4, 2, 3.0, 3),
            (5, 3, 3.0, 4),
            (6, 6, 3.0, 3),
        ] {
            let (xs, ys) = darks(n, seed);
            let x = ArrayD::from_shape_vec(IxDyn(&[62, 341]), xs.clone()).unwrap();
            let y = ArrayD::from_shape_vec(IxDyn(&[62, 341]), ys.clone()).unwrap();
            let got = fit_clipped(&pair(&x, &y), rank, sigma, niter, None).unwrap();

            let kept_fit = |mask: &[bool]| {
                let kx: Vec<f64> = (0..n).filter(|&i| !mask[i]).map(|i| xs[i]).collect();
                let ky: Vec<f64> = (0..n).filter(|&i| !mask[i]).map(|i| ys[i]).collect();
                let k = kx.len();
                let kx = ArrayD::from_shape_vec(IxDyn(&[k]), kx).unwrap();
                let ky = ArrayD::from_shape_vec(IxDyn(&[k]), ky).unwrap();
                fit_all_local(&pair(&kx, &ky), &[rank]).unwrap().remove(0)
            };
            let mut mask = vec![false; n];
            let mut fit = kept_fit(&mask);
            let (mut last, mut iterations) = (0, 0);
            for it in 1..=niter {
                iterations = it;
                let r: Vec<f64> = ys
                    .iter()
                    .zip(horner(&fit, &xs))
                    .map(|(y, f)| y - f)
                    .collect();
                reference_sigma_clip(&r, &mut mask, sigma);
                fit = kept_fit(&mask);
                let clipped = mask.iter().filter(|&&m| m).count();
                if clipped == last {
                    break;
                }
                last = clipped;
            }
            let want: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
            assert!(!want.is_empty(), "rank {rank}");
            assert_eq!(got.clipped, want, "rank {rank}");
            assert_eq!(got.iterations, iterations, "rank {rank}");
            // the same full fit of the same pixels
            assert_eq!(got.fit.coeffs, fit.coeffs, "rank {rank}");
            assert_eq!(got.fit.stats.std, fit.stats.std, "rank {rank}");
        }
    }

    #[test]
    fn downdated_sums_solve_like_a_fit_of_the_kept_pixels() {
        let n = 5_000;
        let (xs, ys) = darks(n, 9);
        let g = Counts {
            n_total: n,
            n_used: n,
            ..Counts::default()
        };
        for rank in [-1, 0, 1, 2, 3] {
            let mut d = Downdated::new(&xs, &ys, rank, g);
            let gone: Vec<usize> = (0..n).filter(|i| i % 7 == 3 || i % 500 == 0).collect();
            for &i in &gone {
                d.remove(xs[i], ys[i]);
            }
            let (mut model, inverse) = d.solve().unwrap();
            let mask: Vec<bool> = (0..n).map(|i| gone.contains(&i)).collect();
            if let Some(inverse) = inverse {
                Downdated::refine(&mut model, &inverse, (&xs, &ys), &mask, &mut Vec::new());
            }
            let keep: Vec<usize> = (0..n).filter(|i| !gone.contains(i)).collect();
            let kx: Vec<f64> = keep.iter().map(|&i| xs[i]).collect();
            let ky: Vec<f64> = keep.iter().map(|&i| ys[i]).collect();
            let (ax, ay) = (
                ArrayD::from_shape_vec(IxDyn(&[kx.len()]), kx.clone()).unwrap(),
                ArrayD::from_shape_vec(IxDyn(&[ky.len()]), ky.clone()).unwrap(),
            );
            let full = fit_all(&pair(&ax, &ay), &[rank]).unwrap().remove(0);
            // fitted values of both at the kept pixels: -residuals of y = 0
            let mut r = Vec::new();
            model.residuals(&kx, &vec![0.0; kx.len()], &mut r);
            for (f, w) in r.iter().zip(horner(&full, &kx)) {
                assert!((-f - w).abs() <= 1e-10 * w.abs(), "rank {rank}: {} {w}", -f);
            }
        }
        // a badly conditioned system takes a refinement step
        let d = Downdated::new(&xs, &ys, 9, g);
        assert!(d.solve().unwrap().1.is_some());
        // and one that cannot be solved is left to the full fit
        let d = Downdated::new(&[5.0; 10], &ys[..10], 2, g);
        assert!(d.solve().is_none());
    }

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
        // sizes below and above BAND_MIN; the last has outliers exactly at the
        // sampled positions, so the band misses the median and is rebuilt
        for (n, at_sample) in [
            (1_usize, false),
            (2, false),
            (7, false),
            (64, false),
            (1001, false),
            (5000, false),
            (20_001, false),
            (8192, true),
        ] {
            let mut r: Vec<f64> = (0..n)
                .map(|i| {
                    let v = next() - 0.5;
                    if i % 13 == 0 {
                        v * 40.0
                    } else {
                        v
                    }
                })
                .collect();
            if at_sample {
                for i in 0..SAMPLE {
                    r[i * n / SAMPLE] = 100.0 + f64::from(u32::try_from(i).unwrap());
                }
            }
            if n > 100 {
                // non-finite residuals are masked and take no part in the bounds
                r[50] = f64::NAN;
                r[60] = f64::INFINITY;
            }
            let mut mask = vec![false; n];
            mask[0] = n > 2;
            let mut want = mask.clone();
            reference_sigma_clip(&r, &mut want, 3.0);
            let mut newly = Vec::new();
            let before = mask.clone();
            sigma_clip(
                &mut r.clone(),
                &mut mask,
                3.0,
                &mut vec![0.0; n],
                &mut newly,
            );
            assert_eq!(mask, want, "n = {n}");
            let changed: Vec<usize> = (0..n).filter(|&i| mask[i] != before[i]).collect();
            assert_eq!(newly, changed);
        }
    }

    #[test]
    fn too_few_pixels_after_clipping_counts_the_clipped() {
        // y = 2x + 1 + r with r = [1, -3, 0, 5, -3] orthogonal to 1 and x: the
        // line fits r exactly as residuals; median 0, std sqrt(8.8), so a
        // 0.2-sigma clip keeps only the middle pixel, one fewer than a line needs;
        // a NaN pixel is excluded before
        let r = [1.0, -3.0, 0.0, 5.0, -3.0, 0.0];
        let x =
            ArrayD::from_shape_vec(IxDyn(&[6]), vec![0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN]).unwrap();
        let y =
            x.mapv(|v| 2.0 * v + 1.0) + ArrayD::from_shape_vec(IxDyn(&[6]), r.to_vec()).unwrap();
        let err = fit_clipped(&pair(&x, &y), 1, 0.2, 3, None).unwrap_err();
        assert_eq!(
            err,
            CoreError::TooFewPixels {
                model: crate::fit::model_name(1),
                needed: 2,
                n_used: 1,
                n_excluded: 5,
                n_nonfinite: 1,
                n_clipped: 4,
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("5 excluded") && text.contains("4 clipped"),
            "{text}"
        );
        // the weighted refit says the same
        let w = ArrayD::from_elem(IxDyn(&[6]), 1.0);
        let err = fit_clipped(&pair(&x, &y), 1, 0.2, 3, Some(&Frame::from(w.view()))).unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::TooFewPixels {
                    n_clipped: 4,
                    n_excluded: 5,
                    ..
                }
            ),
            "{err}"
        );
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
        for rank in [-2, 13, i64::MAX, i64::MIN] {
            assert!(fit_clipped(&input, rank, 3.0, 3, None).is_err());
        }
    }
}
