//! Histograms with equal-width bins whose counts are identical to
//! `numpy.histogram(a, bins, range)`: the same edges (`numpy.linspace`), the
//! same range test, the same first guess of the bin index and the same
//! one-step corrections at the edges, the last bin closed on the right, values
//! outside the range and NaN dropped.
//!
//! numpy does each of these steps in a precision set by the dtypes of the
//! data and of the range's two numbers (NEP 50: a Python float adapts to the
//! array, a numpy scalar does not): float32 data with a range of Python
//! floats are tested and offset in float32 and scaled in float64; with
//! `numpy.float32` numbers (or no range, which is `(a.min(), a.max())`)
//! everything is float32, edges included; with `numpy.float64` numbers
//! everything is float64.  A [`Rule`] records those precisions; the Python
//! layer derives it from numpy's own type promotion.

use crate::error::{CoreError, CoreResult};
use multiversion::multiversion;

use crate::parallel::{map_parts, PARALLEL_CHUNK};
use crate::view::{Frame, PixelArray, Walk, BLOCK};

/// Precision of one step of numpy's binning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// float32.
    F32,
    /// float64 (and the exact integer comparisons of integer data with an
    /// integer range, which float64 reproduces below 2^53).
    F64,
}

impl Precision {
    /// Relative rounding unit.
    #[must_use]
    pub fn eps(self) -> f64 {
        match self {
            Precision::F32 => f64::from(f32::EPSILON),
            Precision::F64 => f64::EPSILON,
        }
    }

    /// Smallest positive (subnormal) number: the absolute rounding unit of
    /// values below the normal range, where `eps` no longer bounds the error.
    #[must_use]
    pub fn tiny(self) -> f64 {
        match self {
            Precision::F32 => f64::from(f32::from_bits(1)),
            Precision::F64 => f64::from_bits(1),
        }
    }
}

/// How numpy bins one value `a` of the data (the steps of its uniform-bin
/// branch, each in its precision).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// The range test `lo_keep <= a <= hi_keep`, bounds already rounded to the
    /// precision of the comparison (in which the data are exact).
    pub lo_keep: f64,
    /// See `lo_keep`.
    pub hi_keep: f64,
    /// Precision of `a - first` ...
    pub sub: Precision,
    /// ... with `first` rounded to it.
    pub first: f64,
    /// Precision of `(a - first) / denom * n` ...
    pub div: Precision,
    /// ... with numpy's `last - first` rounded to it.
    pub denom: f64,
}

/// Bins, range and rule of a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// Number of bins.
    pub n: usize,
    /// Lower edge of the range (after numpy's expansion of an empty range).
    pub first: f64,
    /// Upper edge of the range.
    pub last: f64,
    /// The `n + 1` edges, as numpy computes them (each exact in the
    /// precision of the edges, in which the data are exact too).
    pub edges: Vec<f64>,
    /// The binning steps.
    pub rule: Rule,
    /// The coarsest precision among the steps and the edges.
    pub coarsest: Precision,
}

/// The linspace numpy computes: `i * ((last - first) / n) + first`, the last
/// edge `last` itself.
#[allow(clippy::cast_precision_loss)]
fn linspace(first: f64, last: f64, n: usize) -> Vec<f64> {
    let step = (last - first) / n as f64;
    let mut e: Vec<f64> = (0..=n).map(|i| i as f64 * step + first).collect();
    e[n] = last;
    e
}

/// A number as `%g`-like text for messages: the shortest exact decimal form
/// between 1e-4 and 1e16, scientific notation outside (`1e300`, not 301
/// digits; `1e-39`, not 40 zeros), so the digits that tell two nearby ends
/// apart are all there.
struct Readable(f64);

impl std::fmt::Display for Readable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        let a = x.abs();
        if x == 0.0 || !x.is_finite() || (1e-4..1e16).contains(&a) {
            write!(f, "{x}")
        } else {
            write!(f, "{x:e}")
        }
    }
}

/// Validate `bins` and `(lo, hi)` the way `numpy.histogram` does.
fn check(n: usize, lo: f64, hi: f64) -> CoreResult<()> {
    if n == 0 {
        return Err(CoreError::InvalidParameter(
            "bins must be at least 1".into(),
        ));
    }
    if n >= MAX_BINS as usize {
        return Err(CoreError::InvalidParameter(format!(
            "bins must be below {MAX_BINS}, got {n}"
        )));
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(CoreError::InvalidParameter(format!(
            "histogram range [{}, {}] is not finite",
            Readable(lo),
            Readable(hi)
        )));
    }
    if lo > hi {
        return Err(CoreError::InvalidParameter(format!(
            "histogram range max ({}) must be larger than min ({})",
            Readable(hi),
            Readable(lo)
        )));
    }
    Ok(())
}

impl Bins {
    /// float64 bins of `(lo, hi)`: what `numpy.histogram` does for float64 or
    /// integer data with a range of Python floats.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for zero bins, a non-finite range or `lo > hi`.
    pub fn new(n: usize, lo: f64, hi: f64) -> CoreResult<Bins> {
        check(n, lo, hi)?;
        let (first, last) = if lo == hi {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        let rule = Rule {
            lo_keep: first,
            hi_keep: last,
            sub: Precision::F64,
            first,
            div: Precision::F64,
            denom: last - first,
        };
        Bins::with_rule(
            n,
            first,
            last,
            linspace(first, last, n),
            rule,
            Precision::F64,
        )
    }

    /// Bins with numpy's `edges` and `rule` given (by the Python layer, from
    /// numpy's own type promotion); `edge_precision` is the precision of the
    /// edges (numpy's `bin_type`).
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for zero bins, a range that is not
    /// finite or increasing, `n + 1` edges that are not, or a rule whose
    /// values are not finite.
    pub fn with_rule(
        n: usize,
        first: f64,
        last: f64,
        edges: Vec<f64>,
        rule: Rule,
        edge_precision: Precision,
    ) -> CoreResult<Bins> {
        check(n, first, last)?;
        if edges.len() != n + 1 {
            return Err(CoreError::InvalidParameter(format!(
                "{} bins need {} edges, got {}",
                n,
                n + 1,
                edges.len()
            )));
        }
        let precision_name = if edge_precision == Precision::F32 {
            "float32"
        } else {
            "float64"
        };
        if !edges.iter().all(|e| e.is_finite()) {
            return Err(CoreError::InvalidParameter(format!(
                "the width of the histogram range [{}, {}] overflows {precision_name}, so its \
                 edges are not finite; give the range as float64 numbers or narrow it",
                Readable(first),
                Readable(last),
            )));
        }
        if !edges.windows(2).all(|w| w[0] < w[1]) {
            return Err(CoreError::InvalidParameter(format!(
                "too many bins for the range [{}, {}]: {n} bins of finite width \
                 cannot be made in {}; use fewer bins or a wider range",
                Readable(first),
                Readable(last),
                precision_name
            )));
        }
        let finite = [rule.lo_keep, rule.hi_keep, rule.first, rule.denom]
            .iter()
            .all(|v| v.is_finite());
        if !finite || !(rule.denom > 0.0) {
            return Err(CoreError::InvalidParameter(format!(
                "histogram rule without a finite positive width: {rule:?}"
            )));
        }
        let coarsest = if [edge_precision, rule.sub, rule.div].contains(&Precision::F32) {
            Precision::F32
        } else {
            Precision::F64
        };
        Ok(Bins {
            n,
            first,
            last,
            edges,
            rule,
            coarsest,
        })
    }

    /// numpy's bin of `a`, a value inside the range (`lo_keep <= a <= hi_keep`):
    /// its first guess, then the one-step correction against the edges.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    fn numpy_bin(&self, a: f64) -> usize {
        let (n, r, e) = (self.n, &self.rule, &self.edges);
        let q = match (r.sub, r.div) {
            (Precision::F32, Precision::F32) => {
                f64::from(((a as f32 - r.first as f32) / r.denom as f32) * n as f32)
            }
            (Precision::F32, Precision::F64) => {
                f64::from(a as f32 - r.first as f32) / r.denom * n as f64
            }
            (Precision::F64, Precision::F32) => {
                f64::from(((a - r.first) as f32 / r.denom as f32) * n as f32)
            }
            (Precision::F64, Precision::F64) => (a - r.first) / r.denom * n as f64,
        };
        if !q.is_finite() {
            // `a - first` overflowed the precision (a float32 range wider than
            // float32's largest value): numpy's index is then meaningless (it
            // raises an IndexError); the edges still order `a`
            return e[1..n].partition_point(|&edge| edge <= a);
        }
        // astype(intp) truncates; numpy steps an index of n back to n - 1
        let mut b = (q as usize).min(n - 1);
        if a < e[b] {
            b = b.saturating_sub(1);
        } else if b != n - 1 && a >= e[b + 1] {
            b += 1;
        }
        b
    }
}

/// Bin counts must be below this: the `u32` index buffer also holds the two
/// marker rows `n` and `n + 1` (see [`bin_block`]).
const MAX_BINS: u32 = u32::MAX - 1;

/// First, vectorisable step: the bin of every value from its position
/// `(a - e_0) * scale`, or a marker row: `n` for values outside the range
/// (and NaN), `n + 1` for values within rounding distance of an edge.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_arguments
)]
fn guess(v: &[f64], lo: f64, hi: f64, e0: f64, scale: f64, n: usize, tol: f64, idx: &mut [u32]) {
    // positions are clamped to [0, n]: a value of the last bin, n - 1 <= f < n,
    // keeps its fraction (clamping it to n - 1 made all of them 'near an
    // edge' and sent their blocks to the scalar path), and the clamped
    // extremes 0 and n have none, so they go to numpy's own steps
    let top = n as f64;
    for (o, &a) in idx.iter_mut().zip(v) {
        let inside = a >= lo && a <= hi;
        let f0 = (a - e0) * scale;
        // the clamp as the two selects x86's max and min instructions are
        // (one instruction each; f64::max / min add NaN handling): a NaN or
        // a value outside the range gets some position here, and its index
        // is replaced below, so only its conversion must not trap (it does not)
        let g = if f0 < 0.0 { 0.0 } else { f0 };
        let f = if top < g { top } else { g };
        let fl = f.floor();
        let frac = f - fl;
        // a position farther than `tol` from an integer is in that bin
        // whatever the rounding (never, when `tol` is 0.5 or more)
        let clear = frac > tol && frac < 1.0 - tol;
        // 0 <= fl <= top < 2^32 is an integer: adding 2^52 puts it in the low
        // mantissa bits exactly
        let bin = (fl + 4_503_599_627_370_496.0).to_bits() as u32;
        *o = if !inside {
            n as u32
        } else if clear {
            bin
        } else {
            n as u32 + 1
        };
    }
}

/// Count the values of `v` with numpy's rule.  A value whose position is
/// farther than the rounding can reach from an edge is in that bin; a value
/// nearer an edge gets numpy's own first guess and its one-step correction
/// ([`Bins::numpy_bin`]).  Four sub-histograms keep consecutive increments
/// of one bin apart; `counts` has two more rows than bins, where the marked
/// values are counted without a branch (row `n`, outside, is left for the
/// caller to ignore; row `n + 1` is resolved here and emptied).
///
/// The values are binned in runs of [`HIST_RUN`]: each run's bin indices
/// are counted while they are still in the L1 cache (with the walk's blocks
/// of 8192 or more values, the indices of a whole block filled the L1 cache and
/// pushed out the values being read).
pub(crate) fn bin_block(v: &[f64], bins: &Bins, counts: &mut [[u64; 4]], idx: &mut [u32]) {
    for run in v.chunks(HIST_RUN) {
        bin_run(run, bins, counts, idx);
    }
}

/// Values binned per run of [`bin_block`].
const HIST_RUN: usize = 1024;

/// [`bin_block`] of one run (`idx` at least as long as `v`).
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
fn bin_run(v: &[f64], bins: &Bins, counts: &mut [[u64; 4]], idx: &mut [u32]) {
    let n = bins.n;
    let e = &bins.edges;
    let scale = n as f64 / (e[n] - e[0]);
    // how far (in bins) the position can be from numpy's guess and from the
    // edges: the subtraction, the scaling and the edges each round in their
    // precision, by at most eps (n + the size of the edges in bins); below the
    // normal range the rounding is absolute, up to `tiny` per step (the
    // linspace step's is multiplied by up to n), which a range of subnormal
    // width makes a sizeable part of a bin
    let reach = e[0].abs().max(e[n].abs()).max(bins.rule.first.abs()) * scale;
    let precision = bins.coarsest;
    let underflow = (n as f64 + 2.0) * precision.tiny() * scale;
    let tol = (4.0 * (precision.eps() * (n as f64 + reach) + underflow)).max(1e-6);
    let idx = &mut idx[..v.len()];
    let (lo, hi) = (bins.rule.lo_keep, bins.rule.hi_keep);
    guess(v, lo, hi, e[0], scale, n, tol, idx);
    let whole = idx.len() - idx.len() % 4;
    for q in idx[..whole].chunks_exact(4) {
        counts[q[0] as usize][0] += 1;
        counts[q[1] as usize][1] += 1;
        counts[q[2] as usize][2] += 1;
        counts[q[3] as usize][3] += 1;
    }
    for (lane, &i) in idx[whole..].iter().enumerate() {
        counts[i as usize][lane] += 1;
    }
    if counts[n + 1] == [0; 4] {
        return;
    }
    // values near an edge (rare): numpy's own steps
    counts[n + 1] = [0; 4];
    let near = n as u32 + 1;
    for (&i, &a) in idx.iter().zip(v) {
        if i == near {
            counts[bins.numpy_bin(a)][0] += 1;
        }
    }
}

/// Histogram of every pixel of `values` (NaN and out-of-range values dropped).
/// Large arrays are counted in parts on the rayon pool and the parts summed.
///
/// # Errors
/// Only from [`Walk::new`] (never for a single frame).
#[allow(clippy::cast_possible_truncation)]
pub fn histogram(values: &Frame<'_>, bins: &Bins) -> CoreResult<Vec<u64>> {
    if values.is_empty() {
        return Ok(vec![0; bins.n]);
    }
    let walk = Walk::new(std::slice::from_ref(values), None)?;
    let count_part = |w: &Walk<'_>| {
        let mut counts = count_rows(bins.n);
        let mut idx = vec![0_u32; BLOCK];
        w.for_each_block(&mut |b| {
            bin_block(&b.cols[0][..b.len], bins, &mut counts, &mut idx);
        });
        counts
    };
    // native contiguous float64 (residual images): bin the memory itself, no copy
    let direct: Option<&[f64]> = match &values.data {
        PixelArray::F64(v) if !values.swapped => v.as_slice_memory_order(),
        _ => None,
    };
    let partial: Vec<Vec<[u64; 4]>> = if let Some(all) = direct {
        let count_slice = |chunk: &[f64]| {
            let mut counts = count_rows(bins.n);
            let mut idx = vec![0_u32; BLOCK];
            for block in chunk.chunks(BLOCK) {
                bin_block(block, bins, &mut counts, &mut idx);
            }
            counts
        };
        let chunks: Vec<&[f64]> = all.chunks(PARALLEL_CHUNK).collect();
        map_parts(chunks.len(), |i| count_slice(chunks[i]))
    } else {
        let parts = walk.split(PARALLEL_CHUNK);
        map_parts(parts.len(), |i| count_part(&parts[i]))
    };
    Ok(totals(&partial, bins.n))
}

/// Fresh counting rows for [`bin_block`]: `n` bins and its two marker rows.
pub(crate) fn count_rows(n: usize) -> Vec<[u64; 4]> {
    vec![[0_u64; 4]; n + 2]
}

/// The counts of `n` bins, summed over the sub-histograms of every part.
pub(crate) fn totals(parts: &[Vec<[u64; 4]>], n: usize) -> Vec<u64> {
    let mut total = vec![0_u64; n];
    for part in parts {
        for (t, c) in total.iter_mut().zip(part) {
            *t += c.iter().sum::<u64>();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn hist(v: Vec<f64>, n: usize, lo: f64, hi: f64) -> Vec<u64> {
        let len = v.len();
        let a = ArrayD::from_shape_vec(IxDyn(&[len]), v).unwrap();
        histogram(&Frame::from(a.view()), &Bins::new(n, lo, hi).unwrap()).unwrap()
    }

    #[test]
    fn edges_and_closed_last_bin() {
        // numpy.histogram([0, 0.5, 1, 1.5, 2, 2.5, nan, -1], 4, (0, 2)) -> [2, 1, 1, 1]? no:
        // bins [0,.5) [.5,1) [1,1.5) [1.5,2]: 0 | 0.5 | 1 | 1.5, 2 -> [1, 1, 1, 2]
        let got = hist(
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, f64::NAN, -1.0],
            4,
            0.0,
            2.0,
        );
        assert_eq!(got, vec![1, 1, 1, 2]);
    }

    #[test]
    fn only_values_near_an_edge_are_marked_for_numpy_steps() {
        // values well inside a bin, the last one included, get their bin in the
        // vector step; only the range's ends (and values a rounding away from an
        // edge) go to numpy's own steps (marker n + 1), the outside to marker n
        let v = [0.05, 0.55, 0.95, 0.999, 0.0, 1.0, 0.3, -0.5, f64::NAN];
        let mut idx = [0_u32; 9];
        guess(&v, 0.0, 1.0, 0.0, 10.0, 10, 1e-6, &mut idx);
        assert_eq!(idx, [0, 5, 9, 9, 11, 11, 11, 10, 10]);
        // and counted as numpy counts them (numpy puts 0.3 in [0.2, 0.30000000000000004))
        let got = hist(v.to_vec(), 10, 0.0, 1.0);
        assert_eq!(got, vec![2, 0, 1, 0, 0, 1, 0, 0, 0, 3]);
    }

    #[test]
    fn degenerate_range_is_widened() {
        // numpy: range (3, 3) becomes (2.5, 3.5)
        let got = hist(vec![3.0, 3.0, 2.6, 3.5, 4.0], 2, 3.0, 3.0);
        assert_eq!(got, vec![1, 3]);
    }

    #[test]
    fn bad_parameters() {
        assert!(Bins::new(0, 0.0, 1.0).is_err());
        assert!(Bins::new(3, 1.0, 0.0).is_err());
        assert!(Bins::new(3, f64::NAN, 1.0).is_err());
        assert!(Bins::new(3, 0.0, f64::INFINITY).is_err());
        assert!(Bins::new(MAX_BINS as usize, 0.0, 1.0).is_err());
    }

    fn f32_bins(n: usize, lo: f32, hi: f32) -> Bins {
        // numpy with numpy.float32 ends: linspace, test, offset and scaling in float32
        let step = (hi - lo) / n as f32;
        let mut edges: Vec<f64> = (0..=n).map(|i| f64::from(i as f32 * step + lo)).collect();
        edges[n] = f64::from(hi);
        let rule = Rule {
            lo_keep: f64::from(lo),
            hi_keep: f64::from(hi),
            sub: Precision::F32,
            first: f64::from(lo),
            div: Precision::F32,
            denom: f64::from(hi - lo),
        };
        Bins::with_rule(n, f64::from(lo), f64::from(hi), edges, rule, Precision::F32).unwrap()
    }

    fn hist_with(v: Vec<f64>, bins: &Bins) -> Vec<u64> {
        let len = v.len();
        let a = ArrayD::from_shape_vec(IxDyn(&[len]), v).unwrap();
        histogram(&Frame::from(a.view()), bins).unwrap()
    }

    #[test]
    fn float32_rule_on_and_next_to_edges() {
        // edges 0, 0.25, .., 1 are exact in float32: a value on an edge starts
        // its bin, the float32 just below it is in the bin before
        let b = f32_bins(4, 0.0, 1.0);
        let below = |e: f32| f64::from(f32::from_bits(e.to_bits() - 1));
        let v = vec![
            0.0,
            0.25,
            0.5,
            0.75,
            1.0,
            below(0.25),
            below(0.5),
            below(1.0),
            1.5,
            f64::NAN,
        ];
        assert_eq!(hist_with(v, &b), vec![2, 2, 1, 3]);
        // far from zero, where float32 edges are 1/1024 of a bin apart from
        // float64 ones: still each edge value in its own bin
        let b = f32_bins(1000, 1000.0, 1001.0);
        let counts = hist_with(b.edges.clone(), &b);
        assert_eq!(counts.iter().sum::<u64>(), 1001);
        assert!(counts[..999].iter().all(|&c| c == 1) && counts[999] == 2);
    }

    #[test]
    fn float32_subnormal_range_edges_in_their_own_bins() {
        // numpy.histogram(e, 10, (float32(0), float32(1e-39))) with e its own
        // edges (subnormal float32, rounded by 2^-149 = 1.4e-5 of a bin each):
        // [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]; the vector step had put the edge
        // 9.99995e-41 (position 0.999995, 'clear' of 1 by the relative
        // tolerance alone) in bin 0
        let b = f32_bins(10, 0.0, 1e-39);
        let mut want = vec![1_u64; 10];
        want[9] = 2;
        assert_eq!(hist_with(b.edges.clone(), &b), want);
        // float64 subnormals too (a width of 30 * 2^-1074, whose scale n / width
        // overflows: every value then goes to numpy's own steps)
        let tiny = f64::from_bits(1);
        let b = Bins::new(10, 0.0, 30.0 * tiny).unwrap();
        assert_eq!(hist_with(b.edges.clone(), &b), want);
    }

    #[test]
    fn messages_print_numbers_readably() {
        let text = |x: f64| Readable(x).to_string();
        assert_eq!(text(1e300), "1e300");
        assert_eq!(
            text(-1.000_000_000_000_000_2e300),
            "-1.0000000000000002e300"
        );
        assert_eq!(text(1e-39), "1e-39");
        assert_eq!(text(0.5), "0.5");
        assert_eq!(text(1234.25), "1234.25");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(f64::NEG_INFINITY), "-inf");
        let hi = 1e300_f64.next_up();
        let err = Bins::new(100, 1e300, hi).unwrap_err().to_string();
        assert!(err.contains("[1e300, 1.0000000000000002e300]"), "{err}");
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn rules_are_validated() {
        let good = Bins::new(4, 0.0, 1.0).unwrap();
        let r = good.rule;
        let e = good.edges.clone();
        let f64p = Precision::F64;
        assert!(Bins::with_rule(4, 0.0, 1.0, e[..4].to_vec(), r, f64p).is_err());
        let mut flat = e.clone();
        flat[2] = flat[1];
        assert!(Bins::with_rule(4, 0.0, 1.0, flat, r, f64p).is_err());
        let mut nan = e.clone();
        nan[3] = f64::NAN;
        assert!(Bins::with_rule(4, 0.0, 1.0, nan, r, f64p).is_err());
        let zero = Rule { denom: 0.0, ..r };
        assert!(Bins::with_rule(4, 0.0, 1.0, e.clone(), zero, f64p).is_err());
        let inf = Rule {
            first: f64::INFINITY,
            ..r
        };
        assert!(Bins::with_rule(4, 0.0, 1.0, e.clone(), inf, f64p).is_err());
        assert!(Bins::with_rule(4, 1.0, 0.0, e.clone(), r, f64p).is_err());
        assert_eq!(Bins::with_rule(4, 0.0, 1.0, e, r, f64p).unwrap(), good);
    }

    #[test]
    fn values_on_inner_edges_go_right() {
        let b = Bins::new(10, 0.0, 1.0).unwrap();
        let got = hist(b.edges.clone(), 10, 0.0, 1.0);
        // each edge starts its bin; the last edge closes the last bin
        let mut want = vec![1_u64; 10];
        want[9] = 2;
        assert_eq!(got, want);
    }
}
