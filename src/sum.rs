//! Accurate, vectorisable summation: blocks are summed with eight independent
//! accumulators (so the loop vectorises) and block totals are combined with
//! Neumaier's compensated summation (so the error does not grow with the
//! number of blocks).

/// Compensated (Neumaier) accumulator for block totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    /// Add one value.
    #[inline]
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.comp += (self.sum - t) + v;
        } else {
            self.comp += (v - t) + self.sum;
        }
        self.sum = t;
    }

    /// Merge another accumulator.
    #[inline]
    pub fn merge(&mut self, other: &Neumaier) {
        self.add(other.sum);
        self.add(other.comp);
    }

    /// The compensated total.
    #[must_use]
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

const LANES: usize = 8;

/// Sum of a slice with eight independent accumulators and a pairwise finish.
#[must_use]
#[inline]
pub fn lane_sum(v: &[f64]) -> f64 {
    let mut acc = [0.0_f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += c[k];
        }
    }
    let mut tail = 0.0;
    for &r in rest {
        tail += r;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// Dot product of two equally long slices, vectorised like [`lane_sum`].
#[must_use]
#[inline]
pub fn lane_dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0_f64; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neumaier_recovers_lost_low_bits() {
        let mut n = Neumaier::default();
        n.add(1.0);
        for _ in 0..10_000 {
            n.add(1e-16);
        }
        n.add(-1.0);
        assert!((n.value() - 1e-12).abs() < 1e-24);
    }

    #[test]
    fn lane_sum_matches_exact_integer_sum() {
        let v: Vec<f64> = (0..1003).map(f64::from).collect();
        assert_eq!(lane_sum(&v), 1002.0 * 1003.0 / 2.0);
        assert_eq!(lane_sum(&[]), 0.0);
    }

    #[test]
    fn lane_dot_matches_hand_value() {
        let a: Vec<f64> = (1..=10).map(f64::from).collect();
        // sum of squares 1..10 = 385
        assert_eq!(lane_dot(&a, &a), 385.0);
    }
}
