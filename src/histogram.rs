//! Histograms with equal-width bins whose counts are identical to
//! `numpy.histogram(a, bins, range)`: the same edges (`numpy.linspace`), the
//! same first guess of the bin index and the same one-step corrections at the
//! edges, the last bin closed on the right, values outside the range and NaN
//! dropped.  float32 data are binned in float32, as numpy does.

use crate::error::{CoreError, CoreResult};
use multiversion::multiversion;
use rayon::prelude::*;

use crate::fit::PARALLEL_CHUNK;
use crate::view::{Frame, PixelArray, Walk, BLOCK};

/// Bins and range of a histogram, validated like numpy.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// Number of bins.
    pub n: usize,
    /// Lower edge of the range (after numpy's expansion of an empty range).
    pub first: f64,
    /// Upper edge of the range.
    pub last: f64,
}

impl Bins {
    /// Validate `bins` and `(lo, hi)` the way `numpy.histogram` does.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for zero bins, a non-finite range or `lo > hi`.
    pub fn new(n: usize, lo: f64, hi: f64) -> CoreResult<Bins> {
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
                "histogram range [{lo}, {hi}] is not finite"
            )));
        }
        if lo > hi {
            return Err(CoreError::InvalidParameter(format!(
                "histogram range max ({hi}) must be larger than min ({lo})"
            )));
        }
        let (first, last) = if lo == hi {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        Ok(Bins { n, first, last })
    }

    /// The edges as `numpy.linspace(first, last, n + 1)` computes them.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn edges(&self) -> Vec<f64> {
        let step = (self.last - self.first) / self.n as f64;
        let mut e: Vec<f64> = (0..=self.n).map(|i| i as f64 * step + self.first).collect();
        e[self.n] = self.last;
        e
    }
}

/// Bin counts must be below this: the `u32` index buffer also holds the two
/// marker rows `n` and `n + 1` (see the binning functions below).
const MAX_BINS: u32 = u32::MAX - 1;

macro_rules! bin_fn {
    ($name:ident, $guess:ident, $t:ty) => {
        /// First, vectorisable step: the bin of every value from its scaled
        /// offset, or a marker row: `n` for values outside the range (and
        /// NaN), `n + 1` for values within rounding distance of an edge.
        #[multiversion(targets(
            "x86_64+avx512f+avx512vl+avx512dq",
            "x86_64+avx2+fma",
            "x86_64+avx"
        ))]
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        fn $guess(v: &[f64], first: $t, last: $t, scale: f64, n: usize, tol: f64, idx: &mut [u32]) {
            let top = (n - 1) as f64;
            for (o, &raw) in idx.iter_mut().zip(v) {
                let a = raw as $t;
                let inside = a >= first && a <= last;
                let f0 = f64::from(a - first) * scale;
                // selects, not f64::min and saturating casts, so the loop vectorises;
                // values outside (and NaN) are replaced before they are converted
                let f = if inside {
                    if f0 > top {
                        top
                    } else {
                        f0
                    }
                } else {
                    0.0
                };
                let fl = f.floor();
                let frac = f - fl;
                // a guess farther than `tol` from an integer is the right bin
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

        /// Count the values of `v` with numpy's rule in this precision.  A value
        /// whose guessed position (from a multiplication, where numpy divides)
        /// is farther than the rounding can reach from an edge is in that bin;
        /// a value nearer an edge gets numpy's own first guess and its one-step
        /// correction against the edges.  Four sub-histograms keep consecutive increments of one bin apart;
        /// `counts` has two more rows than bins, where the marked values are
        /// counted without a branch (row `n`, outside, is left for the caller
        /// to ignore; row `n + 1` is resolved here and emptied).
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        fn $name(v: &[f64], bins: &Bins, edges: &[$t], counts: &mut [[u64; 4]], idx: &mut [u32]) {
            let n = bins.n;
            let (first, last) = (edges[0], edges[n]);
            let scale = n as f64 / (bins.last - bins.first);
            // how far (in bins) the guess can be from the position against the
            // edges of this precision: the subtraction `a - first` rounds in
            // this precision (eps n bins at most) and so do the edges (eps
            // times their size, in bins)
            let reach = f64::from(first.abs().max(last.abs())) * scale;
            let tol = (2.0 * f64::from(<$t>::EPSILON) * (n as f64 + reach)).max(1e-6);
            let idx = &mut idx[..v.len()];
            $guess(v, first, last, scale, n, tol, idx);
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
            // values near an edge (rare): numpy's first guess, computed as
            // numpy 2 computes it (`a - first` in this precision, then
            // `/ (last - first) * n` in float64: the width is a float64 scalar),
            // then its one-step correction against the edges
            counts[n + 1] = [0; 4];
            let near = n as u32 + 1;
            let width = bins.last - bins.first;
            for (&i, &raw) in idx.iter().zip(v) {
                if i == near {
                    let a = raw as $t;
                    let mut b = ((f64::from(a - first) / width * n as f64) as usize).min(n - 1);
                    if a < edges[b] {
                        b -= 1;
                    } else if b != n - 1 && a >= edges[b + 1] {
                        b += 1;
                    }
                    counts[b][0] += 1;
                }
            }
        }
    };
}
bin_fn!(bin_f64, guess_f64, f64);
bin_fn!(bin_f32, guess_f32, f32);

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
    let edges = bins.edges();
    let e32: Vec<f32> = edges.iter().map(|&e| e as f32).collect();
    let is_f32 = matches!(values.data, PixelArray::F32(_));
    let distinct = if is_f32 {
        e32.windows(2).all(|w| w[0] < w[1])
    } else {
        edges.windows(2).all(|w| w[0] < w[1])
    };
    if !distinct {
        return Err(CoreError::InvalidParameter(format!(
            "too many bins for the range [{}, {}]: {} bins of finite width cannot be made in {}",
            bins.first,
            bins.last,
            bins.n,
            values.data.dtype()
        )));
    }
    let count_part = |w: &Walk<'_>| {
        let mut counts = vec![[0_u64; 4]; bins.n + 2];
        let mut idx = vec![0_u32; BLOCK];
        if is_f32 {
            w.for_each_block(&mut |b| {
                bin_f32(&b.cols[0][..b.len], bins, &e32, &mut counts, &mut idx);
            });
        } else {
            w.for_each_block(&mut |b| {
                bin_f64(&b.cols[0][..b.len], bins, &edges, &mut counts, &mut idx);
            });
        }
        counts
    };
    // native contiguous float64 (residual images): bin the memory itself, no copy
    let direct: Option<&[f64]> = match &values.data {
        PixelArray::F64(v) if !values.swapped => v.as_slice_memory_order(),
        _ => None,
    };
    let partial: Vec<Vec<[u64; 4]>> = if let Some(all) = direct {
        let count_slice = |chunk: &[f64]| {
            let mut counts = vec![[0_u64; 4]; bins.n + 2];
            let mut idx = vec![0_u32; BLOCK];
            for block in chunk.chunks(BLOCK) {
                bin_f64(block, bins, &edges, &mut counts, &mut idx);
            }
            counts
        };
        if all.len() <= PARALLEL_CHUNK {
            vec![count_slice(all)]
        } else {
            all.par_chunks(PARALLEL_CHUNK).map(count_slice).collect()
        }
    } else {
        let parts = walk.split(PARALLEL_CHUNK);
        if parts.len() == 1 {
            vec![count_part(&parts[0])]
        } else {
            parts.par_iter().map(count_part).collect()
        }
    };
    let mut total = vec![0_u64; bins.n];
    for part in &partial {
        for (t, c) in total.iter_mut().zip(part) {
            *t += c.iter().sum::<u64>();
        }
    }
    Ok(total)
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

    #[test]
    fn values_on_inner_edges_go_right() {
        let b = Bins::new(10, 0.0, 1.0).unwrap();
        let e = b.edges();
        let got = hist(e.clone(), 10, 0.0, 1.0);
        // each edge starts its bin; the last edge closes the last bin
        let mut want = vec![1_u64; 10];
        want[9] = 2;
        assert_eq!(got, want);
    }
}
