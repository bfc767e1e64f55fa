//! Hot pixels from a dark frame: a fixed DN threshold, or `median + sigma *
//! MAD_TO_STD * MAD` (`MAD_TO_STD = 1 / Phi^-1(3/4) = 1.482602218505602`,
//! `astropy.stats.mad_std`'s constant) estimated iteratively without the
//! pixels already flagged.  NaN and infinite pixels are never hot.
//! Medians are found by selection (`select_nth_unstable`), never by sorting
//! the frame.

use ndarray::{ArrayD, ArrayViewD, Zip};

use crate::error::{CoreError, CoreResult};
use crate::view::{Frame, Pixel, PixelArray, Walk};

/// `1 / Phi^-1(3/4)`: MAD to standard deviation for normal data (as `astropy.stats.mad_std`).
pub const MAD_TO_STD: f64 = 1.482_602_218_505_602;

/// The outcome of an iterative hot-pixel search.
#[derive(Debug, Clone, PartialEq)]
pub struct HotEstimate {
    /// Pixels above this value are hot.
    pub threshold: f64,
    /// Median of the pixels kept in the last iteration.
    pub median: f64,
    /// MAD-based standard deviation of the same.
    pub std: f64,
    /// Iterations run.
    pub n_iter: usize,
    /// Finite pixels considered.
    pub n_finite: usize,
}

/// Median of `v` by selection (the mean of the two middle values for an even
/// count, like `numpy.median`); reorders `v`.  NaN for an empty slice.
#[must_use]
pub fn median_select(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = n / 2;
    let (lower, mid, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    let hi = *mid;
    if n % 2 == 1 {
        hi
    } else {
        let lo = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lo + (hi - lo) / 2.0
    }
}

/// Iterate `threshold = median + sigma * MAD_TO_STD * MAD` over the finite
/// values of `frame`, each time without the values above the previous
/// threshold, until the set of hot pixels no longer changes or `max_iter`.
///
/// # Errors
/// Invalid `sigma` or `max_iter`, or a frame without finite pixels.
pub fn sigma_threshold(frame: &Frame<'_>, sigma: f64, max_iter: usize) -> CoreResult<HotEstimate> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CoreError::InvalidParameter(format!(
            "sigma must be finite and positive, got {sigma}"
        )));
    }
    if max_iter == 0 {
        return Err(CoreError::InvalidParameter(
            "max_iter must be at least 1".into(),
        ));
    }
    let mut values: Vec<f64> = Vec::with_capacity(frame.len());
    if !frame.is_empty() {
        let walk = Walk::new(std::slice::from_ref(frame), None)?;
        walk.for_each_block(&mut |b| {
            values.extend(b.cols[0][..b.len].iter().copied().filter(|v| v.is_finite()));
        });
    }
    let n_finite = values.len();
    if n_finite == 0 {
        return Err(CoreError::TooFewPixels {
            model: "the hot-pixel estimate".into(),
            needed: 1,
            n_used: 0,
            n_excluded: frame.len(),
            n_nonfinite: frame.len(),
            n_clipped: 0,
        });
    }
    let mut dev = Vec::with_capacity(n_finite);
    let mut threshold = f64::INFINITY;
    let mut last_hot = 0;
    let (mut median, mut std) = (f64::NAN, f64::NAN);
    let mut n_iter = 0;
    while n_iter < max_iter {
        n_iter += 1;
        values.retain(|&v| v <= threshold);
        median = median_select(&mut values);
        dev.clear();
        dev.extend(values.iter().map(|v| (v - median).abs()));
        std = MAD_TO_STD * median_select(&mut dev);
        threshold = median + sigma * std;
        let n_hot = n_finite - values.iter().filter(|&&v| v <= threshold).count();
        if n_hot == last_hot {
            break;
        }
        last_hot = n_hot;
    }
    Ok(HotEstimate {
        threshold,
        median,
        std,
        n_iter,
        n_finite,
    })
}

fn above<T: Pixel>(v: &ArrayViewD<'_, T>, swapped: bool, threshold: f64) -> ArrayD<bool> {
    let mut out = ArrayD::from_elem(v.raw_dim(), false);
    Zip::from(&mut out).and(v).for_each(|o, &p| {
        let x = if swapped { p.swap() } else { p }.to_f64();
        // NaN compares false; +inf is above every threshold but is no DN value
        *o = x > threshold && x < f64::INFINITY;
    });
    out
}

/// Boolean mask (logical order, C layout) of the finite pixels above
/// `threshold` (NaN and infinite pixels are never hot).
#[must_use]
pub fn mask_above(frame: &Frame<'_>, threshold: f64) -> ArrayD<bool> {
    let s = frame.swapped;
    match &frame.data {
        PixelArray::I16(v) => above(v, s, threshold),
        PixelArray::U16(v) => above(v, s, threshold),
        PixelArray::I32(v) => above(v, s, threshold),
        PixelArray::U32(v) => above(v, s, threshold),
        PixelArray::I64(v) => above(v, s, threshold),
        PixelArray::F32(v) => above(v, s, threshold),
        PixelArray::F64(v) => above(v, s, threshold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn median_matches_sorting() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median_select(&mut v), 3.0);
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median_select(&mut v), 2.5);
        assert!(median_select(&mut []).is_nan());
    }

    #[test]
    fn finds_planted_hot_pixels() {
        // a flat background 100 +- small ramp and three hot pixels
        let mut v: Vec<f64> = (0..1000).map(|i| 100.0 + f64::from(i % 7)).collect();
        v[10] = 5000.0;
        v[500] = 3000.0;
        v[999] = f64::NAN;
        let a = ArrayD::from_shape_vec(IxDyn(&[10, 100]), v).unwrap();
        let f = Frame::from(a.view());
        let est = sigma_threshold(&f, 5.0, 10).unwrap();
        assert_eq!(est.n_finite, 999);
        assert!(est.threshold > 106.0 && est.threshold < 3000.0, "{est:?}");
        let m = mask_above(&f, est.threshold);
        assert_eq!(m.iter().filter(|&&b| b).count(), 2);
        assert!(m[[0, 10]] && m[[5, 0]]);
    }

    #[test]
    fn infinite_pixels_are_never_hot() {
        let v = vec![1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 5.0];
        let a = ArrayD::from_shape_vec(IxDyn(&[5]), v).unwrap();
        let m = mask_above(&Frame::from(a.view()), 2.0);
        assert_eq!(
            m.iter().copied().collect::<Vec<_>>(),
            [false, false, false, false, true]
        );
        let est = sigma_threshold(&Frame::from(a.view()), 3.0, 10).unwrap();
        assert_eq!(est.n_finite, 2);
    }

    #[test]
    fn bad_parameters_and_empty_frames() {
        let a = ArrayD::from_elem(IxDyn(&[3]), f64::NAN);
        let f = Frame::from(a.view());
        assert!(sigma_threshold(&f, 5.0, 10).is_err());
        let b = ArrayD::from_elem(IxDyn(&[3]), 1.0);
        let g = Frame::from(b.view());
        assert!(sigma_threshold(&g, 0.0, 10).is_err());
        assert!(sigma_threshold(&g, f64::NAN, 10).is_err());
        assert!(sigma_threshold(&g, 3.0, 0).is_err());
        // a constant frame: MAD 0, threshold = the value, nothing above it
        let est = sigma_threshold(&g, 3.0, 10).unwrap();
        assert_eq!(est.threshold, 1.0);
    }
}
