//! Residual statistics in one pass: per block a two-pass mean and sum of
//! squared deviations (the block sits in cache), blocks merged with Chan et al.'s
//! parallel formula; sums are compensated.  `std` uses `ddof = 0`, like
//! `numpy.std`.

use crate::sum::{lane_dot, lane_sum, Neumaier};

/// Block totals of the residual statistics of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockStats {
    /// Pixels.
    pub n: usize,
    /// Sum of residuals.
    pub sum: f64,
    /// Sum of squared residuals.
    pub sumsq: f64,
    /// Smallest residual.
    pub min: f64,
    /// Largest residual.
    pub max: f64,
    /// Pixels with `dark_out != 0`.
    pub n_frac: usize,
    /// Sum of `residual / dark_out` over those.
    pub frac_sum: f64,
    /// Sum of its squares.
    pub frac_sumsq: f64,
}

/// Count, mean and sum of squared deviations of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub n: usize,
    /// Mean (0 when empty).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Moments of one block (two passes over data already in cache).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn from_block(v: &[f64]) -> Moments {
        if v.is_empty() {
            return Moments::default();
        }
        let n = v.len();
        let mean = lane_sum(v) / n as f64;
        let mut acc = [0.0_f64; 8];
        let chunks = v.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let d = c[k] - mean;
                acc[k] += d * d;
            }
        }
        let mut m2 = acc.iter().sum::<f64>();
        for r in rest {
            let d = r - mean;
            m2 += d * d;
        }
        Moments { n, mean, m2 }
    }

    /// Merge another set (Chan, Golub and `LeVeque`).
    #[allow(clippy::cast_precision_loss)]
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        let (na, nb, nf) = (self.n as f64, o.n as f64, n as f64);
        self.mean += delta * (nb / nf);
        self.m2 += o.m2 + delta * delta * (na * nb / nf);
        self.n = n;
    }

    /// Population variance (`ddof = 0`); NaN when empty.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn variance(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            non_negative(self.m2 / self.n as f64)
        }
    }
}

/// `v`, or 0 for a negative `v` (a sum of squares that rounding, or the
/// carried-over refinement of an exactly determined fit, took just below
/// zero); NaN stays NaN, so an overflow is not hidden as 0 (`f64::max` would).
fn non_negative(v: f64) -> f64 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

/// Residual statistics of one model over the used pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResidualStats {
    /// Pixels used.
    pub n_used: usize,
    /// Mean residual.
    pub mean: f64,
    /// Standard deviation (`ddof = 0`).
    pub std: f64,
    /// Smallest residual.
    pub min: f64,
    /// Largest residual.
    pub max: f64,
    /// Root mean square residual.
    pub rms: f64,
    /// Sum of squared residuals.
    pub ssr: f64,
    /// Mean of `residual / dark_out` over used pixels with `dark_out != 0`.
    pub frac_mean: f64,
    /// Standard deviation of the same.
    pub frac_std: f64,
    /// Pixels in the fractional statistics.
    pub n_fractional: usize,
    /// Used pixels with `dark_out == 0`, left out of the fractional statistics.
    pub n_zero_denominator: usize,
}

/// A residual statistic or pixel count is a float or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A float statistic (NaN where undefined).
    Float,
    /// A pixel count.
    Count,
}

/// One statistic or count of a fit's residuals: its name, its kind, and the
/// FITS card (keyword, comment) a product writes for it, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Name in `ResidualStats`, `fit_batch` columns and the survey table.
    pub name: &'static str,
    /// Float or count.
    pub kind: FieldKind,
    /// FITS keyword and comment in a product's model extension.
    pub card: Option<(&'static str, &'static str)>,
}

const fn float(name: &'static str, card: Option<(&'static str, &'static str)>) -> Field {
    Field {
        name,
        kind: FieldKind::Float,
        card,
    }
}

const fn count(name: &'static str, card: Option<(&'static str, &'static str)>) -> Field {
    Field {
        name,
        kind: FieldKind::Count,
        card,
    }
}

/// The residual statistics and pixel counts of a fit, named and ordered
/// once: `iuvs.ResidualStats`, the columns of `fit_batch`, the survey table
/// and the product's cards all follow this list (exported to Python as
/// `_core.RESIDUAL_FIELDS`).  Values come from `FitResult::residual_values`.
pub const RESIDUAL_FIELDS: [Field; 15] = [
    count("n_used", Some(("NUSED", "pixels used in the fit"))),
    count(
        "n_excluded",
        Some(("NEXCL", "pixels excluded from the fit")),
    ),
    count(
        "n_nonfinite",
        Some(("NNONFIN", "excluded: NaN or inf in an input")),
    ),
    count("n_masked", Some(("NMASKED", "excluded: by the mask"))),
    count(
        "n_hot",
        Some(("NHOT", "excluded: above the hot-pixel threshold")),
    ),
    count(
        "n_clipped",
        Some(("NCLIPPED", "excluded: by sigma clipping")),
    ),
    float(
        "mean",
        Some(("FITMEAN", "residual mean over the pixels used")),
    ),
    float(
        "std",
        Some(("FITSTD", "residual std over the pixels used in the fit")),
    ),
    float("min", None),
    float("max", None),
    float("rms", Some(("FITRMS", "residual rms over the pixels used"))),
    float(
        "frac_mean",
        Some(("FRACMEAN", "mean residual/dark_out over used pixels")),
    ),
    float(
        "frac_std",
        Some(("FRACSTD", "std of residual/dark_out, used pixels")),
    ),
    count("n_fractional", None),
    count("n_zero_denominator", None),
];

/// Accumulates [`ResidualStats`] block by block.
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    sum: Neumaier,
    sumsq: Neumaier,
    moments: Moments,
    min: f64,
    max: f64,
    frac_sum: Neumaier,
    frac: Moments,
    n_zero: usize,
    scratch: Vec<f64>,
}

impl Default for StatsAccumulator {
    fn default() -> Self {
        StatsAccumulator {
            sum: Neumaier::default(),
            sumsq: Neumaier::default(),
            moments: Moments::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            frac_sum: Neumaier::default(),
            frac: Moments::default(),
            n_zero: 0,
            scratch: Vec::new(),
        }
    }
}

impl StatsAccumulator {
    /// Add a block of residuals and the matching `dark_out` values.
    pub fn add_block(&mut self, residual: &[f64], dark_out: &[f64]) {
        if residual.is_empty() {
            return;
        }
        self.sum.add(lane_sum(residual));
        self.sumsq.add(lane_dot(residual, residual));
        self.moments.merge(&Moments::from_block(residual));
        let (mut lo, mut hi) = (self.min, self.max);
        for &r in residual {
            lo = lo.min(r);
            hi = hi.max(r);
        }
        self.min = lo;
        self.max = hi;
        self.scratch.clear();
        for (&r, &y) in residual.iter().zip(dark_out) {
            if y == 0.0 {
                self.n_zero += 1;
            } else {
                self.scratch.push(r / y);
            }
        }
        self.frac_sum.add(lane_sum(&self.scratch));
        self.frac.merge(&Moments::from_block(&self.scratch));
    }

    /// Add the block totals of a fused kernel.  The block's sum of squared
    /// deviations is formed from its sums (the block is small and the residual
    /// mean is of the order of its spread, so little is lost) and merged exactly.
    pub fn add(&mut self, b: &BlockStats) {
        if b.n == 0 {
            return;
        }
        let nf = b.n as f64;
        self.sum.add(b.sum);
        self.sumsq.add(b.sumsq);
        let mean = b.sum / nf;
        self.moments.merge(&Moments {
            n: b.n,
            mean,
            m2: (b.sumsq - b.sum * mean).max(0.0),
        });
        self.min = self.min.min(b.min);
        self.max = self.max.max(b.max);
        self.n_zero += b.n - b.n_frac;
        if b.n_frac > 0 {
            let nq = b.n_frac as f64;
            let fm = b.frac_sum / nq;
            self.frac_sum.add(b.frac_sum);
            self.frac.merge(&Moments {
                n: b.n_frac,
                mean: fm,
                m2: (b.frac_sumsq - b.frac_sum * fm).max(0.0),
            });
        }
    }

    /// Carry the sums over to a slightly different model: the residual sum
    /// changes by `d_sum` and the sum of squares by `d_sumsq`.
    pub fn shift(&mut self, d_sum: f64, d_sumsq: f64) {
        let n = self.moments.n;
        if n == 0 {
            return;
        }
        let nf = n as f64;
        let old_mean = self.moments.mean;
        self.sum.add(d_sum);
        self.sumsq.add(d_sumsq);
        let new_mean = self.sum.value() / nf;
        self.moments.m2 = (self.moments.m2 + d_sumsq
            - nf * (new_mean - old_mean) * (new_mean + old_mean))
            .max(0.0);
        self.moments.mean = new_mean;
    }

    /// Merge another accumulator (for parallel walks).
    pub fn merge(&mut self, o: &StatsAccumulator) {
        self.sum.merge(&o.sum);
        self.sumsq.merge(&o.sumsq);
        self.moments.merge(&o.moments);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.frac_sum.merge(&o.frac_sum);
        self.frac.merge(&o.frac);
        self.n_zero += o.n_zero;
    }

    /// The statistics (NaN where a set is empty).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn finish(&self) -> ResidualStats {
        let n = self.moments.n;
        let nf = n as f64;
        let (mean, rms, min, max) = if n == 0 {
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        } else {
            (
                self.sum.value() / nf,
                (non_negative(self.sumsq.value()) / nf).sqrt(),
                self.min,
                self.max,
            )
        };
        let frac_mean = if self.frac.n == 0 {
            f64::NAN
        } else {
            self.frac_sum.value() / self.frac.n as f64
        };
        ResidualStats {
            n_used: n,
            mean,
            std: self.moments.variance().sqrt(),
            min,
            max,
            rms,
            ssr: non_negative(self.sumsq.value()),
            frac_mean,
            frac_std: self.frac.variance().sqrt(),
            n_fractional: self.frac.n,
            n_zero_denominator: self.n_zero,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // residuals 1, 2, 3, 4 with dark_out 1, 2, 0, 8
        let mut acc = StatsAccumulator::default();
        acc.add_block(&[1.0, 2.0], &[1.0, 2.0]);
        acc.add_block(&[3.0, 4.0], &[0.0, 8.0]);
        let s = acc.finish();
        assert_eq!(s.n_used, 4);
        assert!((s.mean - 2.5).abs() < 1e-15);
        assert!((s.std - 1.25_f64.sqrt()).abs() < 1e-15);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert!((s.rms - 7.5_f64.sqrt()).abs() < 1e-15);
        assert!((s.ssr - 30.0).abs() < 1e-12);
        // fractions 1, 1, 0.5 (the zero denominator is left out and counted)
        assert_eq!(s.n_zero_denominator, 1);
        assert_eq!(s.n_fractional, 3);
        assert!((s.frac_mean - 2.5 / 3.0).abs() < 1e-15);
        let fm: f64 = 2.5 / 3.0;
        let fvar = ((1.0 - fm).powi(2) * 2.0 + (0.5 - fm).powi(2)) / 3.0;
        assert!((s.frac_std - fvar.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn merge_equals_single_pass() {
        let v: Vec<f64> = (0..5000).map(|i| f64::from(i).sin() * 1e3 + 7.0).collect();
        let y = vec![2.0; 5000];
        let mut one = StatsAccumulator::default();
        one.add_block(&v, &y);
        let mut a = StatsAccumulator::default();
        let mut b = StatsAccumulator::default();
        a.add_block(&v[..1234], &y[..1234]);
        b.add_block(&v[1234..], &y[1234..]);
        a.merge(&b);
        let (s1, s2) = (one.finish(), a.finish());
        assert!((s1.std - s2.std).abs() <= 1e-12 * s1.std);
        assert!((s1.mean - s2.mean).abs() <= 1e-12);
    }

    #[test]
    fn empty_is_nan() {
        let s = StatsAccumulator::default().finish();
        assert_eq!(s.n_used, 0);
        assert!(s.mean.is_nan() && s.std.is_nan() && s.frac_mean.is_nan());
    }
}
