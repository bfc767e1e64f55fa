//! Which pixels enter a fit: the user's mask (True = excluded, as in
//! `numpy.ma`), an optional hot-pixel threshold on `dark_in`, and non-finite
//! values in either input, which are always excluded and counted.

use multiversion::multiversion;

use crate::error::{CoreError, CoreResult};
use crate::view::{Block, BLOCK};

/// Exclusion rules of one fit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Exclusion {
    /// Pixels whose `dark_in` is above this value are excluded.
    pub hot_threshold: Option<f64>,
    /// The caller guarantees every pixel is finite (internal refits), so no check is needed.
    pub all_usable: bool,
}

impl Exclusion {
    /// Build and validate the rules.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for a NaN or infinite threshold.
    pub fn new(hot_threshold: Option<f64>) -> CoreResult<Exclusion> {
        if let Some(t) = hot_threshold {
            if !t.is_finite() {
                return Err(CoreError::InvalidParameter(format!(
                    "hot_threshold must be finite, got {t}"
                )));
            }
        }
        Ok(Exclusion {
            hot_threshold,
            all_usable: false,
        })
    }

    /// True when every pixel of a two-column block is usable (checked without branches).
    #[must_use]
    pub fn all_usable(&self, block: &Block) -> bool {
        let n = block.len;
        let thr = self.hot_threshold.unwrap_or(f64::INFINITY);
        count_unusable(
            &block.cols[0][..n],
            &block.cols[1][..n],
            &block.mask[..n],
            thr,
        ) == 0
    }

    /// Whether every pixel of two unmasked columns is usable.
    #[must_use]
    pub fn all_usable_slices(&self, xs: &[f64], ys: &[f64]) -> bool {
        const NONE: [bool; BLOCK] = [false; BLOCK];
        let thr = self.hot_threshold.unwrap_or(f64::INFINITY);
        xs.chunks(BLOCK)
            .zip(ys.chunks(BLOCK))
            .all(|(x, y)| count_unusable(x, y, &NONE[..x.len()], thr) == 0)
    }

    /// Copy the usable `(x, y)` pairs of a two-column block to the front of
    /// `xs`/`ys` (each at least as long as the block), count what was
    /// excluded and why, and return how many are usable.
    pub fn compact(
        &self,
        block: &Block,
        xs: &mut [f64],
        ys: &mut [f64],
        counts: &mut Counts,
    ) -> usize {
        let n = block.len;
        let (bx, by, bm) = (&block.cols[0][..n], &block.cols[1][..n], &block.mask[..n]);
        let thr = self.hot_threshold.unwrap_or(f64::INFINITY);
        let [nonfinite, masked, hot] = count_excluded(bx, by, bm, thr);
        let used = crate::compact::compact_usable_pairs(bx, by, bm, thr, xs, ys);
        counts.n_nonfinite += nonfinite;
        counts.n_masked += masked;
        counts.n_hot += hot;
        counts.n_total += n;
        counts.n_used += used;
        used
    }
}

/// Pixels excluded as non-finite (either column), masked (finite) and hot
/// (finite, unmasked, above `thr`): integer sums the loop vectoriser handles.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw",
    "x86_64+avx2+fma",
    "x86_64+avx"
))]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn count_excluded(xs: &[f64], ys: &[f64], mask: &[bool], thr: f64) -> [usize; 3] {
    let (mut nonfinite, mut masked, mut hot) = (0_usize, 0_usize, 0_usize);
    for ((&x, &y), &m) in xs.iter().zip(ys).zip(mask) {
        let finite = x.is_finite() & y.is_finite();
        nonfinite += usize::from(!finite);
        masked += usize::from(finite & m);
        hot += usize::from(finite & !m & (x > thr));
    }
    [nonfinite, masked, hot]
}

/// Pixels that are non-finite in either column, masked, or above the threshold.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw",
    "x86_64+avx2+fma",
    "x86_64+avx"
))]
#[allow(clippy::nonminimal_bool, clippy::needless_bitwise_bool)] // branch-free on purpose
fn count_unusable(xs: &[f64], ys: &[f64], mask: &[bool], thr: f64) -> usize {
    let mut bad = 0_usize;
    for ((&x, &y), &m) in xs.iter().zip(ys).zip(mask) {
        let ok = x.is_finite() & y.is_finite() & !m & (x <= thr);
        bad += usize::from(!ok);
    }
    bad
}

/// Pixel counts of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pixels seen.
    pub n_total: usize,
    /// Pixels used.
    pub n_used: usize,
    /// Excluded because a value was NaN or infinite.
    pub n_nonfinite: usize,
    /// Excluded by the user's mask (and finite).
    pub n_masked: usize,
    /// Excluded by the hot-pixel threshold (finite, not masked).
    pub n_hot: usize,
    /// Excluded by sigma clipping (robust fits only).
    pub n_clipped: usize,
}

impl Counts {
    /// Add the counts of another part of the same arrays.
    pub fn merge(&mut self, o: &Counts) {
        self.n_total += o.n_total;
        self.n_used += o.n_used;
        self.n_nonfinite += o.n_nonfinite;
        self.n_masked += o.n_masked;
        self.n_hot += o.n_hot;
        self.n_clipped += o.n_clipped;
    }

    /// Every excluded pixel.
    #[must_use]
    pub fn n_excluded(&self) -> usize {
        self.n_total - self.n_used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Aligned;
    use crate::view::BLOCK;

    fn block(x: &[f64], y: &[f64], m: &[bool]) -> Block {
        let mut cols = vec![Aligned::take(BLOCK), Aligned::take(BLOCK)];
        cols[0][..x.len()].copy_from_slice(x);
        cols[1][..y.len()].copy_from_slice(y);
        let mut mask = vec![false; BLOCK];
        mask[..m.len()].copy_from_slice(m);
        Block {
            cols,
            mask,
            len: x.len(),
        }
    }

    #[test]
    fn every_rule_is_counted_once() {
        let b = block(
            &[1.0, f64::NAN, 3.0, 4000.0, 5.0, 6.0],
            &[1.0, 2.0, f64::INFINITY, 4.0, 5.0, 6.0],
            &[false, true, false, false, true, false],
        );
        let ex = Exclusion::new(Some(2500.0)).unwrap();
        let (mut xs, mut ys) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
        let mut c = Counts::default();
        let n = ex.compact(&b, &mut xs, &mut ys, &mut c);
        assert_eq!(n, 2);
        assert_eq!(&xs[..2], &[1.0, 6.0]);
        assert_eq!(
            c,
            Counts {
                n_total: 6,
                n_used: 2,
                n_nonfinite: 2,
                n_masked: 1,
                n_hot: 1,
                n_clipped: 0
            }
        );
        assert_eq!(c.n_excluded(), 4);
    }

    #[test]
    #[allow(clippy::cast_precision_loss)]
    fn compaction_matches_a_plain_filter_on_whole_chunks() {
        // whole chunks kept, none kept and mixed, then a tail
        let n = 8 * 20 + 5;
        let x: Vec<f64> = (0..n)
            .map(|i| match i % 37 {
                3 => f64::NAN,
                11 => 3000.0 + i as f64,
                _ => i as f64,
            })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                if i % 29 == 7 {
                    f64::NEG_INFINITY
                } else {
                    -(i as f64)
                }
            })
            .collect();
        let m: Vec<bool> = (0..n)
            .map(|i| (40..48).contains(&i) || i % 23 == 1)
            .collect();
        let b = block(&x, &y, &m);
        let ex = Exclusion::new(Some(2500.0)).unwrap();
        let (mut xs, mut ys) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
        let mut c = Counts::default();
        let k = ex.compact(&b, &mut xs, &mut ys, &mut c);
        let keep: Vec<usize> = (0..n)
            .filter(|&i| x[i].is_finite() && y[i].is_finite() && !m[i] && x[i] <= 2500.0)
            .collect();
        assert_eq!(k, keep.len());
        assert_eq!(xs[..k], keep.iter().map(|&i| x[i]).collect::<Vec<_>>()[..]);
        assert_eq!(ys[..k], keep.iter().map(|&i| y[i]).collect::<Vec<_>>()[..]);
        let nonfinite = (0..n)
            .filter(|&i| !(x[i].is_finite() && y[i].is_finite()))
            .count();
        assert_eq!(c.n_nonfinite, nonfinite);
        assert_eq!(c.n_used + c.n_excluded(), n);
        assert_eq!(
            c.n_hot,
            (0..n)
                .filter(|&i| i % 37 == 11 && !m[i] && y[i].is_finite())
                .count()
        );
    }

    #[test]
    fn threshold_is_strictly_above() {
        let b = block(&[2500.0, 2500.5], &[0.0, 0.0], &[]);
        let ex = Exclusion::new(Some(2500.0)).unwrap();
        let (mut xs, mut ys) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
        let mut c = Counts::default();
        assert_eq!(ex.compact(&b, &mut xs, &mut ys, &mut c), 1);
    }

    #[test]
    fn non_finite_threshold_is_refused() {
        assert!(Exclusion::new(Some(f64::NAN)).is_err());
        assert!(Exclusion::new(Some(f64::NEG_INFINITY)).is_err());
        assert!(Exclusion::new(None).is_ok());
    }
}
