//! `cargo +nightly fuzz run fit_all` (or `RUSTC_BOOTSTRAP=1 cargo fuzz run fit_all` on
//! stable): random pixels (any bit pattern, so NaN,
//! inf and extremes), shapes, byte order, masks, thresholds and ranks into the
//! core's public functions.  Every call must return `Ok` or a `CoreError`;
//! a panic is a bug.
#![no_main]

use _core::batch::fit_batch;
use _core::clip::fit_clipped;
use _core::fit::{fit_all, PairInput};
use _core::hot::{mask_above, sigma_threshold};
use _core::weighted::fit_weighted;
use _core::histogram::{histogram, Bins};
use _core::mask::Exclusion;
use _core::view::{Frame, PixelArray};
use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, body) = data.split_at(8);
    let rows = usize::from(head[0] % 9);
    let cols = usize::from(head[1] % 9);
    let n = rows * cols;
    let swapped = head[2] & 1 == 1;
    let ranks: Vec<i64> = head[3..6].iter().map(|&r| i64::from(r % 16) - 2).collect();
    let threshold = match head[6] % 4 {
        0 => None,
        1 => Some(f64::from(head[7]) * 10.0),
        2 => Some(f64::NAN),
        _ => Some(-1.0),
    };
    let vals: Vec<f64> = body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    if vals.len() < 2 * n + 2 {
        return;
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[rows, cols]), vals[..n].to_vec()).unwrap();
    let y = ArrayD::from_shape_vec(IxDyn(&[rows, cols]), vals[n..2 * n].to_vec()).unwrap();
    let xi = x.mapv(|v| (v as i32).swap_bytes());
    let mask = x.mapv(|v| v.to_bits() & 1 == 1);
    let mut y_fortran = ArrayD::zeros(IxDyn(&[rows, cols]).f());
    y_fortran.assign(&y);
    let Ok(exclusion) = Exclusion::new(threshold) else { return };
    // every other row of a doubled frame, one column off: a strided 2-d walk
    let wide = ndarray::concatenate(ndarray::Axis(1), &[x.view(), x.view()]).unwrap();
    let tall = ndarray::concatenate(ndarray::Axis(0), &[wide.view(), wide.view()]).unwrap();
    let mask_tall = tall.mapv(|v| v.to_bits() & 2 == 2);
    let (strided, strided_mask) = if n == 0 {
        (x.view(), mask.view()) // nothing to slice
    } else {
        (
            tall.slice(ndarray::s![..;2, 1..cols + 1]).into_dyn(),
            mask_tall.slice(ndarray::s![1..;2, ..cols]).into_dyn(),
        )
    };
    let inputs = [
        PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: Some(mask.view()),
            exclusion,
        },
        PairInput {
            dark_in: Frame { data: PixelArray::I32(xi.view()), swapped },
            dark_out: Frame::from(y_fortran.view()),
            mask: None,
            exclusion,
        },
        PairInput {
            dark_in: Frame::from(strided.clone()),
            dark_out: Frame::from(y.view()),
            mask: Some(strided_mask.clone()),
            exclusion,
        },
    ];
    let sigma = f64::from(head[5] % 8) * 0.75 - 0.5; // includes 0 and a negative value
    let weights = y.mapv(f64::abs);
    for input in &inputs {
        let _ = fit_all(input, &ranks);
        let _ = fit_weighted(input, &Frame::from(weights.view()), &ranks);
        for &r in &ranks {
            let _ = fit_clipped(input, r, sigma, usize::from(head[7] % 4), None);
            let _ = fit_clipped(input, r, sigma, 2, Some(&Frame::from(weights.view())));
        }
    }
    let _ = fit_batch(&inputs, &ranks, None, Some((3.0, 2)), &[]);
    let _ = sigma_threshold(&Frame::from(x.view()), sigma, usize::from(head[7] % 5));
    let _ = mask_above(&Frame::from(x.view()), vals[0]);
    if let Ok(bins) = Bins::new(usize::from(head[4]), vals[0], vals[1]) {
        let _ = histogram(&Frame::from(y.view()), &bins);
        let _ = histogram(&Frame::from(strided.clone()), &bins);
    }
});
