//! Criterion benchmarks of the core kernels (`cargo bench`).

use std::hint::black_box;

use _core::fit::{fit_all, PairInput};
use _core::histogram::{histogram, Bins};
use _core::mask::Exclusion;
use _core::view::{Frame, PixelArray};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, IxDyn};

#[allow(clippy::cast_possible_truncation)] // synthetic DN are small positive values
fn darks(shape: &[usize]) -> (ArrayD<i32>, ArrayD<i32>) {
    // a deterministic lognormal-ish background with a gain and a little curvature
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1_u64 << 53) as f64
    };
    let x = ArrayD::from_shape_simple_fn(IxDyn(shape), || (60.0 + 400.0 * (-next().ln())) as i32);
    let y = x.mapv(|v| {
        let v = f64::from(v);
        (2e-5 * v * v + 1.45 * v + 10.0 + 20.0 * (next() - 0.5)) as i32
    });
    (x, y)
}

fn bench_fit_all(c: &mut Criterion) {
    for shape in [[62_usize, 341], [1024, 1024]] {
        let (x, y) = darks(&shape);
        let xb = x.mapv(i32::swap_bytes);
        let yb = y.mapv(i32::swap_bytes);
        let ranks = [-1, 0, 1, 2, 3, 4];
        let native = PairInput {
            dark_in: Frame::native(PixelArray::I32(x.view())),
            dark_out: Frame::native(PixelArray::I32(y.view())),
            mask: None,
            exclusion: Exclusion::default(),
        };
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
        c.bench_function(&format!("fit_all -1..4 {shape:?} native"), |b| {
            b.iter(|| fit_all(black_box(&native), &ranks).unwrap());
        });
        c.bench_function(&format!("fit_all -1..4 {shape:?} big-endian"), |b| {
            b.iter(|| fit_all(black_box(&swapped), &ranks).unwrap());
        });
        let r = x.mapv(|v| f64::from(v) - 400.0);
        let frame = Frame::from(r.view());
        let bins = Bins::new(100, -500.0, 500.0).unwrap();
        c.bench_function(&format!("histogram {shape:?}"), |b| {
            b.iter(|| histogram(black_box(&frame), &bins).unwrap());
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_fit_all
}
criterion_main!(benches);
