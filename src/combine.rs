//! Combining a stack of frames along its first axis: the mean or the median
//! of each pixel's values, optionally after sigma clipping, with the number
//! of values used and their scatter.
//!
//! The stack is never copied or widened as a whole: a block of a few hundred
//! to a few thousand pixels is gathered from every frame into a small buffer
//! (byte-swapped on the fly for big-endian data, through strided views), and
//! each pixel is combined on its own.  Blocks are the parts of
//! [`crate::parallel::map_parts`]; a pixel's result does not depend on the
//! block it falls in, so results are bit-identical on any thread count.
//!
//! Two ways to a pixel's order statistics:
//!
//! - **Integer stacks** (int16, uint16, int32; at most 4096
//!   frames) are gathered as `i32` into groups of 32 pixels and each
//!   group is sorted once by a sorting network (Batcher's odd-even merge
//!   sort), the pixels side by side in vector lanes: a comparator is one
//!   vector minimum and maximum.  A group whose values span less than 2^16
//!   (darks with cosmic rays do) is sorted as `i16` offsets, twice the lanes
//!   per instruction.  Sorted, a median is a lookup and the kept values of
//!   every clipping iteration are a range of the sorted values: an iteration
//!   moves the range's ends and updates exact integer sums (`i64`, `i128`
//!   for pixels whose values lie far apart), so the mean is the exact sum
//!   rounded once and the variance is `(c * sum(x^2) - sum(x)^2) / c^2`
//!   computed exactly before its one rounding.
//! - **Other stacks** (float32, float64, uint32, int64; or more frames)
//!   gather `f64` values, drop NaN and masked values, and select among
//!   integer keys of the values (`select_nth_unstable`), remembering the
//!   ranks already selected: an iteration is one vectorised pass over the
//!   pixel's values (count, rank and shifted moments of those within the
//!   bounds) and a selection among the few keys between selected ranks.
//!
//! Sigma clipping rejects the values astropy's
//! `sigma_clip(stack, sigma=k, maxiters=clip_iter, axis=0, cenfunc="median",
//! stdfunc="std")` rejects.  Astropy (its C path, `compute_bounds.c`)
//! iterates on the kept values: `median - k * std <= x <= median + k * std`
//! with `std` the population standard deviation (ddof 0) of the values still
//! kept; it stops when an iteration keeps every value, keeps none, or after
//! `clip_iter` iterations; the values finally kept are all usable values
//! within the last bounds.  The kept values are always those between two
//! bounds (the intersection of the bounds so far), which both ways use.
//! The means and standard deviations are summed in another order than
//! astropy's, so the bounds agree to a few units in the last place: a value
//! lying within that of a bound is the only one that could be judged
//! differently (the unit tests compare with a line-for-line port of
//! astropy's C code).

use std::sync::Mutex;

use multiversion::multiversion;
use ndarray::{s, ArrayView2, ArrayView3, ArrayViewD, Axis, Ix2, Ix3};

use crate::error::{CoreError, CoreResult};
use crate::parallel::map_parts;
use crate::scratch::{give_f64, take_f64_len};
use crate::view::{Frame, Pixel, PixelArray};

/// Values (pixels x frames) gathered per block: 512 KiB of `f64`, so that a
/// block stays in the L2 cache while its pixels are combined one by one.
const BLOCK_VALUES: usize = 1 << 16;

/// Fewest and most pixels per block (a block reads this many consecutive
/// pixels of every frame).
const MIN_BLOCK: usize = 64;
const MAX_BLOCK: usize = 4096;

/// How each pixel's kept values are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Arithmetic mean (summed in frame order, as `numpy.mean(axis=0)`).
    Mean,
    /// Median; for an even count the mean of the two middle values (in
    /// float32 arithmetic when every frame is float32, as numpy does).
    Median,
}

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Mean or median.
    pub method: Method,
    /// Sigma-clipping threshold (`median +- clip * std`), or no clipping.
    pub clip: Option<f64>,
    /// Most clipping iterations (at least one).
    pub clip_iter: usize,
}

/// The combined frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// Shape of one frame (spatial, spectral).
    pub shape: [usize; 2],
    /// Combined value per pixel (NaN where no value was kept), C order.
    pub data: Vec<f64>,
    /// Values used per pixel (after masks, non-finite values and clipping).
    pub n_used: Vec<i32>,
    /// Population standard deviation (ddof 0) of the values used (NaN where none).
    pub scatter: Vec<f64>,
    /// Values left out because the mask says so.
    pub n_masked: usize,
    /// Unmasked values left out because they are NaN or infinite.
    pub n_nonfinite: usize,
}

/// Combine the frames (all 2-D, of one shape) along the stack axis.
///
/// `mask`, when given, has the stack's shape `(n, spatial, spectral)`;
/// `true` leaves a value out.  A pixel without any usable value gets NaN and
/// `n_used` 0 (not an error).
///
/// # Errors
/// [`CoreError::Empty`] for no frames or frames without pixels,
/// [`CoreError::ShapeMismatch`] for frames of different shapes or a mask not
/// of the stack's shape, [`CoreError::InvalidParameter`] for frames that are
/// not 2-D, a `clip` that is not finite and positive or `clip_iter` 0.
pub fn combine(
    frames: &[Frame<'_>],
    mask: Option<&ArrayViewD<'_, bool>>,
    opts: &Options,
) -> CoreResult<Combined> {
    let shape = check(frames, mask, opts)?;
    let n = frames.len();
    let mask3: Option<ArrayView3<'_, bool>> = match mask {
        Some(m) => Some(
            m.view()
                .into_dimensionality::<Ix3>()
                .map_err(|e| CoreError::InvalidParameter(format!("mask: {e}")))?,
        ),
        None => None,
    };
    let n_pix = shape[0] * shape[1];
    // whole groups of sorted pixels per block
    let block = (BLOCK_VALUES / n)
        .clamp(MIN_BLOCK, MAX_BLOCK)
        .next_multiple_of(GROUP)
        .min(n_pix);
    let n_blocks = n_pix.div_ceil(block);
    let f32_median = frames.iter().all(|f| matches!(f.data, PixelArray::F32(_)));
    let mut data = vec![0.0; n_pix];
    let mut n_used = vec![0_i32; n_pix];
    let mut scatter = vec![0.0; n_pix];
    // each block writes its own chunks of the outputs
    let slots: Vec<Mutex<Option<Out<'_>>>> = data
        .chunks_mut(block)
        .zip(n_used.chunks_mut(block))
        .zip(scatter.chunks_mut(block))
        .map(|((data, n_used), scatter)| {
            Mutex::new(Some(Out {
                data,
                n_used,
                scatter,
            }))
        })
        .collect();
    let kernel = Kernel {
        method: opts.method,
        clip: opts.clip.map(|k| (k, opts.clip_iter)),
        f32_median,
    };
    let net = sorted_path(frames).then(|| Network::new(n));
    let counts = map_parts(n_blocks, |b| {
        let out = slots[b].lock().ok().and_then(|mut s| s.take());
        let Some(mut out) = out else {
            unreachable!("every block is computed once");
        };
        match &net {
            Some(net) => {
                combine_block_sorted(frames, mask3.as_ref(), b * block, &kernel, net, &mut out)
            }
            None => combine_block(frames, mask3.as_ref(), b * block, &kernel, &mut out),
        }
    });
    drop(slots);
    let (n_masked, n_nonfinite) = counts.iter().fold((0, 0), |(a, b), &(m, f)| (a + m, b + f));
    Ok(Combined {
        shape,
        data,
        n_used,
        scatter,
        n_masked,
        n_nonfinite,
    })
}

/// Validate the inputs; the frame shape.
fn check(
    frames: &[Frame<'_>],
    mask: Option<&ArrayViewD<'_, bool>>,
    opts: &Options,
) -> CoreResult<[usize; 2]> {
    let Some(first) = frames.first() else {
        return Err(CoreError::Empty {
            what: "the stack (no frames)",
            shape: vec![0],
        });
    };
    let &[ny, nx] = first.shape() else {
        return Err(CoreError::InvalidParameter(format!(
            "frames must be 2-D (spatial, spectral) and the stack 3-D; a frame has shape {:?}",
            first.shape()
        )));
    };
    for f in &frames[1..] {
        if f.shape() != first.shape() {
            return Err(CoreError::ShapeMismatch {
                what_a: "the first frame",
                a: first.shape().to_vec(),
                what_b: "another frame",
                b: f.shape().to_vec(),
            });
        }
    }
    if ny * nx == 0 {
        return Err(CoreError::Empty {
            what: "the stack",
            shape: vec![frames.len(), ny, nx],
        });
    }
    if let Some(m) = mask {
        if m.shape() != [frames.len(), ny, nx] {
            return Err(CoreError::ShapeMismatch {
                what_a: "the stack",
                a: vec![frames.len(), ny, nx],
                what_b: "mask",
                b: m.shape().to_vec(),
            });
        }
    }
    if let Some(k) = opts.clip {
        if !(k.is_finite() && k > 0.0) {
            return Err(CoreError::InvalidParameter(format!(
                "clip must be a finite positive number of standard deviations, got {k}"
            )));
        }
        if opts.clip_iter == 0 {
            return Err(CoreError::InvalidParameter(
                "clip_iter must be at least 1, got 0".into(),
            ));
        }
    }
    Ok([ny, nx])
}

/// The output chunks of one block.
struct Out<'a> {
    data: &'a mut [f64],
    n_used: &'a mut [i32],
    scatter: &'a mut [f64],
}

/// How one pixel's values are combined.
struct Kernel {
    method: Method,
    clip: Option<(f64, usize)>,
    f32_median: bool,
}

/// Combine the pixels `start..start + out.len()`; (masked, non-finite) counts.
fn combine_block(
    frames: &[Frame<'_>],
    mask: Option<&ArrayView3<'_, bool>>,
    start: usize,
    kernel: &Kernel,
    out: &mut Out<'_>,
) -> (usize, usize) {
    let len = out.data.len();
    let n = frames.len();
    let all_usable = mask.is_none()
        && frames
            .iter()
            .all(|f| !matches!(f.data, PixelArray::F32(_) | PixelArray::F64(_)));
    // frame-major: buf[i * len + j] is frame i at pixel start + j (masked
    // values replaced by NaN)
    let mut buf = take_f64_len(n * len);
    for (i, f) in frames.iter().enumerate() {
        gather_frame(f, start, &mut buf[i * len..(i + 1) * len]);
    }
    let mut n_masked = 0;
    if let Some(m) = mask {
        let mut row = vec![false; len];
        for i in 0..n {
            gather_mask(&m.index_axis(Axis(0), i), start, &mut row);
            for (x, &masked) in buf[i * len..(i + 1) * len].iter_mut().zip(&row) {
                n_masked += usize::from(masked);
                if masked {
                    *x = f64::NAN;
                }
            }
        }
    }
    // pixel-major tiles: tile[k * n + i] is frame i at pixel t0 + k (the
    // frame-major rows lie a page or more apart: read a tile's worth of
    // each at once, not one value per row and pixel)
    let mut tile = take_f64_len(n * TILE);
    let mut keys = vec![0_i64; n];
    let mut pivots = Vec::new();
    let mut n_unusable = 0;
    for t0 in (0..len).step_by(TILE) {
        let tl = TILE.min(len - t0);
        for i in 0..n {
            let row = &buf[i * len + t0..i * len + t0 + tl];
            for (k, &x) in row.iter().enumerate() {
                tile[k * n + i] = x;
            }
        }
        for k in 0..tl {
            let vals = &mut tile[k * n..(k + 1) * n];
            // keep the usable values in front, in frame order (integers
            // without a mask are all usable)
            let mut used = n;
            if !all_usable {
                used = 0;
                for i in 0..n {
                    let x = vals[i];
                    vals[used] = x;
                    used += usize::from(x.is_finite());
                }
                n_unusable += n - used;
            }
            let (value, used, sd) = kernel.pixel(&vals[..used], &mut keys, &mut pivots);
            let j = t0 + k;
            out.data[j] = value;
            out.n_used[j] = i32::try_from(used).unwrap_or(i32::MAX);
            out.scatter[j] = sd;
        }
    }
    give_f64(tile);
    give_f64(buf);
    (n_masked, n_unusable - n_masked)
}

/// Pixels per tile of the transposition (16 cache lines of 8 values).
const TILE: usize = 16;

impl Kernel {
    /// (combined value, values used, scatter) of one pixel's usable values
    /// `vals` (in frame order, left unchanged); `keys` is scratch of at least
    /// `vals.len()`.
    fn pixel(&self, vals: &[f64], keys: &mut [i64], pivots: &mut Vec<usize>) -> (f64, usize, f64) {
        let m = vals.len();
        if m == 0 {
            return (f64::NAN, 0, f64::NAN);
        }
        let Some((sigma, max_iter)) = self.clip else {
            let (mean, sd) = mean_std(vals);
            let value = match self.method {
                Method::Mean => mean,
                Method::Median => Ranks::new(vals, keys, pivots).median(0, m, self.f32_median),
            };
            return (value, m, sd);
        };
        let mut ranks = Ranks::new(vals, keys, pivots);
        let (lo, hi, center) = clip_bounds(vals, &mut ranks, sigma, max_iter);
        let kept = if lo <= hi {
            Sums::within(vals, lo, hi, center)
        } else {
            return (f64::NAN, 0, f64::NAN); // nothing kept (or NaN bounds)
        };
        if kept.count == 0 {
            return (f64::NAN, 0, f64::NAN);
        }
        let value = match self.method {
            Method::Mean => kept.mean(),
            Method::Median => ranks.median(kept.below, kept.count, self.f32_median),
        };
        (value, kept.count, kept.std())
    }
}

/// Mean and population standard deviation (two passes).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mut s = [0.0; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            s[k] += c[k];
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        s[k] += x;
    }
    let mean = lanes_total(s) / n;
    let mut ss = [0.0; LANES];
    for c in v.chunks_exact(LANES) {
        for k in 0..LANES {
            ss[k] += (c[k] - mean) * (c[k] - mean);
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        ss[k] += (x - mean) * (x - mean);
    }
    (mean, (lanes_total(ss) / n).sqrt())
}

/// Independent running sums: a pass is not one chain of dependent additions.
const LANES: usize = 4;

fn lanes_total(s: [f64; LANES]) -> f64 {
    (s[0] + s[1]) + (s[2] + s[3])
}

/// Count, rank and shifted moments of the values within `[lo, hi]`.
///
/// One pass gives the mean and the population variance through sums of
/// `x - center`: with `center` a median of about these values, the variance
/// `E[(x - c)^2] - E[x - c]^2` loses no precision, since a median is never
/// more than one standard deviation from the mean.
#[derive(Debug, Clone, Copy)]
struct Sums {
    /// Values within the bounds.
    count: usize,
    /// Values below `lo` (the rank of the first value within).
    below: usize,
    center: f64,
    /// Sum of `x - center` and of its square over the values within.
    s1: f64,
    s2: f64,
}

impl Sums {
    fn within(v: &[f64], lo: f64, hi: f64, center: f64) -> Sums {
        let [below, count, s1, s2] = within_sums(v, lo, hi, center);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Sums {
            count: count as usize,
            below: below as usize,
            center,
            s1,
            s2,
        }
    }

    fn mean(&self) -> f64 {
        self.center + self.s1 / self.count as f64
    }

    /// Population standard deviation (ddof 0).
    fn std(&self) -> f64 {
        let n = self.count as f64;
        let d = self.s1 / n;
        (self.s2 / n - d * d).max(0.0).sqrt()
    }
}

/// (below, count, sum of `x - center`, sum of its square) over the values
/// within `[lo, hi]`, in lanes of counts and sums that compile to vector
/// compares and blends (counts as `f64`, exact below 2^53).
#[allow(clippy::needless_bitwise_bool)] // both compares, no branch: vector blends
#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn within_sums(v: &[f64], lo: f64, hi: f64, center: f64) -> [f64; 4] {
    const W: usize = 8;
    let (mut below, mut count) = ([0.0; W], [0.0; W]);
    let (mut s1, mut s2) = ([0.0; W], [0.0; W]);
    let chunks = v.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..W {
            let x = c[k];
            let inside = (x >= lo) & (x <= hi);
            below[k] += if x < lo { 1.0 } else { 0.0 };
            count[k] += if inside { 1.0 } else { 0.0 };
            let d = if inside { x - center } else { 0.0 };
            s1[k] += d;
            s2[k] += d * d;
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        let inside = (x >= lo) & (x <= hi);
        below[k] += if x < lo { 1.0 } else { 0.0 };
        count[k] += if inside { 1.0 } else { 0.0 };
        let d = if inside { x - center } else { 0.0 };
        s1[k] += d;
        s2[k] += d * d;
    }
    let total = |a: [f64; W]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    [total(below), total(count), total(s1), total(s2)]
}

/// Order-preserving integer key of a finite `f64` (the order of
/// `f64::total_cmp`): selection on integers is cheaper than on floats.
fn key(x: f64) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let b = x.to_bits() as i64;
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
    let flip = (((b >> 63) as u64) >> 1) as i64;
    b ^ flip
}

/// The `f64` of a [`key`].
fn unkey(k: i64) -> f64 {
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
    let flip = (((k >> 63) as u64) >> 1) as i64;
    #[allow(clippy::cast_sign_loss)]
    f64::from_bits((k ^ flip) as u64)
}

/// The keys of one pixel's values and the ranks already selected in them:
/// each selected rank `r` holds the `r`-th smallest key, with no larger key
/// before it and no smaller one after it, so the next selection only
/// reorders the keys between two selected ranks.
struct Ranks<'a> {
    keys: &'a mut [i64],
    /// Selected ranks, ascending.
    pivots: &'a mut Vec<usize>,
}

impl<'a> Ranks<'a> {
    fn new(vals: &[f64], keys: &'a mut [i64], pivots: &'a mut Vec<usize>) -> Self {
        let keys = &mut keys[..vals.len()];
        for (k, &x) in keys.iter_mut().zip(vals) {
            *k = key(x);
        }
        pivots.clear();
        Ranks { keys, pivots }
    }

    /// The `r`-th smallest value.
    fn at(&mut self, r: usize) -> f64 {
        let i = self.pivots.partition_point(|&p| p < r);
        if self.pivots.get(i) == Some(&r) {
            return unkey(self.keys[r]);
        }
        let lo = if i == 0 { 0 } else { self.pivots[i - 1] + 1 };
        let hi = self.pivots.get(i).copied().unwrap_or(self.keys.len());
        self.keys[lo..hi].select_nth_unstable(r - lo);
        self.pivots.insert(i, r);
        unkey(self.keys[r])
    }

    /// Median of the ranks `first..first + count` (`count >= 1`); the two
    /// middle values of an even count are averaged (in float32 when `f32`).
    #[allow(clippy::manual_midpoint)] // numpy's `(a + b) / 2`, overflow included
    fn median(&mut self, first: usize, count: usize, f32: bool) -> f64 {
        let upper = self.at(first + count / 2);
        if count % 2 == 1 {
            return upper;
        }
        let lower = self.at(first + count / 2 - 1);
        if f32 {
            // float32 values, averaged in float32 as numpy does for float32 input
            #[allow(clippy::cast_possible_truncation)]
            let (a, b) = (lower as f32, upper as f32);
            f64::from((a + b) / 2.0)
        } else {
            (lower + upper) / 2.0
        }
    }
}

/// astropy's sigma-clipping bounds (median and population std of the kept
/// values, `lo <= x <= hi` kept, until nothing changes, nothing is kept or
/// `max_iter` iterations) of `vals` (at least one), whose keys `ranks`
/// holds; also the last median.
///
/// The kept values are always those within an interval (the intersection of
/// the bounds so far), so an iteration is one pass over the values (count,
/// rank and shifted sums of those within) and a selection among the few
/// keys between already selected ranks.
fn clip_bounds(
    vals: &[f64],
    ranks: &mut Ranks<'_>,
    sigma: f64,
    max_iter: usize,
) -> (f64, f64, f64) {
    let (mut kept_lo, mut kept_hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut median = ranks.median(0, vals.len(), false);
    let mut kept = Sums::within(vals, kept_lo, kept_hi, median);
    let mut iteration = 0;
    loop {
        let std = kept.std();
        let lo = median - sigma * std;
        let hi = median + sigma * std;
        // the values kept by this iteration: the kept ones within [lo, hi]
        // (NaN bounds, from an overflowing std, keep the interval and stop)
        (kept_lo, kept_hi) = (kept_lo.max(lo), kept_hi.min(hi));
        let next = if kept_lo <= kept_hi {
            Sums::within(vals, kept_lo, kept_hi, median)
        } else {
            return (lo, hi, median); // nothing kept
        };
        iteration += 1;
        if next.count == kept.count || next.count == 0 || iteration >= max_iter {
            return (lo, hi, median);
        }
        kept = next;
        median = ranks.median(kept.below, kept.count, false);
    }
}

// ---- integer stacks: each pixel's values sorted once -------------------

/// Pixels sorted side by side, one per vector lane (the comparators of the
/// sorting network are vector minimums and maximums over a group): two
/// 256-bit registers of `i16` offsets, or four of `i32` values.
const GROUP: usize = 32;

/// Most frames for which integer stacks are sorted by network: beyond, the
/// network's `n log^2 n` comparators cost more than a few selections.
const NETWORK_MAX: usize = 4096;

/// Integer stacks whose values all fit an `i32` (int16, uint16, int32) and
/// of at most [`NETWORK_MAX`] frames take the sorted path: the values of a
/// group of [`GROUP`] pixels are sorted by one sorting network, after which
/// a median is a lookup and each clipping iteration moves the ends of the
/// kept range of sorted values, updating exact integer sums.
fn sorted_path(frames: &[Frame<'_>]) -> bool {
    frames.len() <= NETWORK_MAX
        && frames.iter().all(|f| {
            matches!(
                f.data,
                PixelArray::I16(_) | PixelArray::U16(_) | PixelArray::I32(_)
            )
        })
}

/// Batcher's odd-even merge sorting network for `n` keys: the comparators
/// `(i, j)`, `i < j`, of the network for the next power of two that touch
/// only the first `n` keys (the others would compare a key with padding
/// larger than any key, and leave it in place).
struct Network {
    n: usize,
    pairs: Vec<[u16; 2]>,
}

impl Network {
    fn new(n: usize) -> Network {
        let size = n.next_power_of_two();
        let mut pairs = Vec::new();
        let mut p = 1;
        while p < size {
            let mut k = p;
            while k >= 1 {
                for j in (k % p..size - k).step_by(2 * k) {
                    for i in 0..k.min(size - j - k) {
                        let (a, b) = (i + j, i + j + k);
                        if a / (2 * p) == b / (2 * p) && b < n {
                            #[allow(clippy::cast_possible_truncation)] // n <= NETWORK_MAX
                            pairs.push([a as u16, b as u16]);
                        }
                    }
                }
                k /= 2;
            }
            p *= 2;
        }
        Network { n, pairs }
    }
}

/// Sort every lane of `rows` (row `i` holds the `i`-th key of each of
/// [`GROUP`] pixels) through the network's comparators.
#[multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn sort_lanes<T: Copy + Ord + Default>(rows: &mut [[T; GROUP]], pairs: &[[u16; 2]]) {
    for &[i, j] in pairs {
        let (i, j) = (usize::from(i), usize::from(j));
        let (a, b) = (rows[i], rows[j]);
        let mut lo = [T::default(); GROUP];
        let mut hi = [T::default(); GROUP];
        for k in 0..GROUP {
            lo[k] = a[k].min(b[k]);
            hi[k] = a[k].max(b[k]);
        }
        rows[i] = lo;
        rows[j] = hi;
    }
}

/// Sort a group's lanes, as `i16` offsets from the group's smallest value
/// when its values (padding aside) span less than 2^16: twice the lanes per
/// vector instruction.  `narrow` is scratch.
fn sort_group(rows: &mut [[i32; GROUP]], pairs: &[[u16; 2]], narrow: &mut Vec<[i16; GROUP]>) {
    let (lo, hi) = span(rows);
    // offsets 0..=65534 map to i16::MIN..=i16::MAX - 1, the padding (and a
    // value equal to it, the largest possible) to i16::MAX
    if i64::from(hi) - i64::from(lo) > 65_534 {
        sort_lanes(rows, pairs);
        return;
    }
    narrow.clear();
    narrow.resize(rows.len(), [0; GROUP]);
    to_offsets(rows, lo, narrow);
    sort_lanes(narrow, pairs);
    from_offsets(narrow, lo, rows);
}

/// The smallest value of a group and its largest value that is not [`PAD`]
/// (`i32::MIN` if every value is).
#[multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn span(rows: &[[i32; GROUP]]) -> (i32, i32) {
    let mut lo = [PAD; GROUP];
    let mut hi = [i32::MIN; GROUP];
    for r in rows {
        for l in 0..GROUP {
            let x = r[l];
            lo[l] = lo[l].min(x);
            hi[l] = hi[l].max(if x == PAD { i32::MIN } else { x });
        }
    }
    (
        lo.into_iter().min().unwrap_or(PAD),
        hi.into_iter().max().unwrap_or(i32::MIN),
    )
}

/// `x - lo - 32768` as `i16` ([`PAD`] as `i16::MAX`), for values spanning
/// at most 65534 from `lo`.
#[multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn to_offsets(rows: &[[i32; GROUP]], lo: i32, out: &mut [[i16; GROUP]]) {
    let base = lo.wrapping_add(32_768);
    for (o, r) in out.iter_mut().zip(rows) {
        for l in 0..GROUP {
            #[allow(clippy::cast_possible_truncation)] // within i16 by the span
            let y = r[l].wrapping_sub(base) as i16;
            o[l] = if r[l] == PAD { i16::MAX } else { y };
        }
    }
}

/// The inverse of [`to_offsets`].
#[multiversion(targets("x86_64+avx2", "x86_64+sse4.1"))]
fn from_offsets(narrow: &[[i16; GROUP]], lo: i32, rows: &mut [[i32; GROUP]]) {
    let base = lo.wrapping_add(32_768);
    for (r, y) in rows.iter_mut().zip(narrow) {
        for l in 0..GROUP {
            let x = i32::from(y[l]).wrapping_add(base);
            r[l] = if y[l] == i16::MAX { PAD } else { x };
        }
    }
}

/// Integer pixels whose values all fit an `i32`.
trait SmallInt: Pixel {
    fn to_i32(self) -> i32;
}

impl SmallInt for i16 {
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
}

impl SmallInt for u16 {
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
}

impl SmallInt for i32 {
    fn to_i32(self) -> i32 {
        self
    }
}

/// Padding and masked values: sorted after every value (a value equal to
/// it sorts among the padding, which changes no value of the first `m`).
const PAD: i32 = i32::MAX;

thread_local! {
    /// The sorted path's block buffer, kept for the next block on this thread
    /// (at most 1 MiB: about `BLOCK_VALUES` values, or 64 pixels of 4096 frames).
    static SORT_BUF: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`combine_block`] for the sorted path: the block's values are gathered
/// as `i32` into groups of [`GROUP`] pixels (`buf[(g * n + i) * GROUP + l]`
/// is frame `i` at pixel `start + g * GROUP + l`), each group is sorted and
/// each pixel combined from its sorted values.
fn combine_block_sorted(
    frames: &[Frame<'_>],
    mask: Option<&ArrayView3<'_, bool>>,
    start: usize,
    kernel: &Kernel,
    net: &Network,
    out: &mut Out<'_>,
) -> (usize, usize) {
    let len = out.data.len();
    let n = frames.len();
    let groups = len.div_ceil(GROUP);
    let mut whole = SORT_BUF.with(std::cell::RefCell::take);
    if whole.len() < groups * n * GROUP {
        whole.resize(groups * n * GROUP, PAD);
    }
    // every value is written below
    let buf = &mut whole[..groups * n * GROUP];
    let mut row = vec![PAD; groups * GROUP];
    let mut used = vec![n; len];
    let mut mask_row = vec![false; if mask.is_some() { len } else { 0 }];
    let mut n_masked = 0;
    for (i, f) in frames.iter().enumerate() {
        gather_frame_i32(f, start, &mut row[..len]);
        if let Some(m) = mask {
            gather_mask(&m.index_axis(Axis(0), i), start, &mut mask_row);
            for ((x, u), &masked) in row.iter_mut().zip(&mut used).zip(&mask_row) {
                if masked {
                    *x = PAD;
                    *u -= 1;
                    n_masked += 1;
                }
            }
        }
        for (g, chunk) in row.chunks_exact(GROUP).enumerate() {
            let at = (g * n + i) * GROUP;
            buf[at..at + GROUP].copy_from_slice(chunk);
        }
    }
    let mut narrow = Vec::with_capacity(n);
    let (rows, _) = buf.as_chunks_mut::<GROUP>();
    for (g, group) in rows.chunks_exact_mut(n).enumerate() {
        sort_group(group, &net.pairs, &mut narrow);
        let lanes = GROUP.min(len - g * GROUP);
        let mut count = [0; GROUP];
        count[..lanes].copy_from_slice(&used[g * GROUP..g * GROUP + lanes]);
        // each lane's sums about its middle value, exact in f64 and i64 for
        // lanes whose offsets stay below 2^19 (at most 2^12 squares below
        // 2^38: count * sum below 2^62)
        let mut center = [0; GROUP];
        let mut small = [false; GROUP];
        for l in 0..lanes {
            let m = count[l];
            if m > 0 {
                let c = group[m / 2][l];
                center[l] = c;
                let spread = (i64::from(group[m - 1][l]) - i64::from(c))
                    .max(i64::from(c) - i64::from(group[0][l]));
                small[l] = spread < 1 << 19;
            }
        }
        let (s1, s2) = lane_sums(group, &center, &count);
        for l in 0..lanes {
            let j = g * GROUP + l;
            let sorted = Lane {
                rows: group,
                index: l,
                len: count[l],
            };
            let (value, used, sd) = if count[l] == 0 {
                (f64::NAN, 0, f64::NAN)
            } else if small[l] {
                #[allow(clippy::cast_possible_truncation)] // exact integers below 2^50
                Kept::<i64>::with_sums(sorted, i64::from(center[l]), s1[l] as i64, s2[l] as i64)
                    .combine(kernel)
            } else {
                Kept::<i128>::all(sorted, i64::from(center[l])).combine(kernel)
            };
            out.data[j] = value;
            out.n_used[j] = i32::try_from(used).unwrap_or(i32::MAX);
            out.scatter[j] = sd;
        }
    }
    debug_assert_eq!(net.n, n);
    SORT_BUF.with(|b| b.replace(whole));
    (n_masked, 0)
}

/// Sums of squares: `i64` when they cannot overflow it, else `i128`.
trait Wide:
    Copy
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + From<i64>
{
    fn to_f64(self) -> f64;
}

impl Wide for i64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Wide for i128 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// One pixel's sorted values: the first `len` of lane `index` of a sorted
/// group.
#[derive(Clone, Copy)]
struct Lane<'a> {
    rows: &'a [[i32; GROUP]],
    index: usize,
    len: usize,
}

impl Lane<'_> {
    fn at(&self, i: usize) -> i32 {
        self.rows[i][self.index]
    }

    /// The first index whose value is not `pred` (`pred` true, then false).
    fn partition_point(&self, pred: impl Fn(i32) -> bool) -> usize {
        let (mut a, mut b) = (0, self.len);
        while a < b {
            let mid = a + (b - a) / 2;
            if pred(self.at(mid)) {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        a
    }
}

/// Per lane, the sums of `x - center` and of its square over the first
/// `count` values (in `f64`: exact while they are integers below 2^53).
#[multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn lane_sums(
    rows: &[[i32; GROUP]],
    center: &[i32; GROUP],
    count: &[usize; GROUP],
) -> ([f64; GROUP], [f64; GROUP]) {
    let mut s1 = [0.0; GROUP];
    let mut s2 = [0.0; GROUP];
    for (r, row) in rows.iter().enumerate() {
        for l in 0..GROUP {
            let d = f64::from(row[l]) - f64::from(center[l]);
            let d = if r < count[l] { d } else { 0.0 };
            s1[l] += d;
            s2[l] += d * d;
        }
    }
    (s1, s2)
}

/// The kept range `sorted[b..e]` of a pixel's sorted values with the exact
/// sums of their offsets from `center` and of the squares of those.
struct Kept<'a, W> {
    sorted: Lane<'a>,
    center: i64,
    b: usize,
    e: usize,
    s1: i64,
    s2: W,
}

impl<'a, W: Wide> Kept<'a, W> {
    /// Every value kept (`sorted` not empty).
    fn all(sorted: Lane<'a>, center: i64) -> Self {
        let mut k = Self::with_sums(sorted, center, 0, W::from(0));
        for i in 0..sorted.len {
            k.add(sorted.at(i));
        }
        k
    }

    /// Every value kept, with the sums of their offsets from `center` and
    /// of the squares of those.
    fn with_sums(sorted: Lane<'a>, center: i64, s1: i64, s2: W) -> Self {
        Kept {
            sorted,
            center,
            b: 0,
            e: sorted.len,
            s1,
            s2,
        }
    }

    fn add(&mut self, x: i32) {
        let d = i64::from(x) - self.center;
        self.s1 += d;
        self.s2 += W::from(d) * W::from(d);
    }

    fn remove(&mut self, x: i32) {
        let d = i64::from(x) - self.center;
        self.s1 -= d;
        self.s2 -= W::from(d) * W::from(d);
    }

    /// Keep only the kept values within `[lo, hi]` (moving the ends inwards).
    fn shrink(&mut self, lo: f64, hi: f64) {
        let s = self.sorted;
        while self.b < self.e && f64::from(s.at(self.b)) < lo {
            self.remove(s.at(self.b));
            self.b += 1;
        }
        while self.e > self.b && f64::from(s.at(self.e - 1)) > hi {
            self.e -= 1;
            self.remove(s.at(self.e));
        }
    }

    /// Keep every value within `[lo, hi]`, kept before or not.
    fn within(&mut self, lo: f64, hi: f64) {
        let s = self.sorted;
        if self.b == self.e {
            // nothing kept (rare): find the range afresh
            let b = s.partition_point(|x| f64::from(x) < lo);
            let e = s.partition_point(|x| f64::from(x) <= hi).max(b);
            (self.b, self.e) = (b, b);
            for i in b..e {
                self.add(s.at(i));
            }
            self.e = e;
            return;
        }
        // the kept values lie within: move the ends outwards
        self.shrink(lo, hi);
        while self.b > 0 && f64::from(s.at(self.b - 1)) >= lo {
            self.b -= 1;
            self.add(s.at(self.b));
        }
        while self.e < s.len && f64::from(s.at(self.e)) <= hi {
            self.add(s.at(self.e));
            self.e += 1;
        }
    }

    fn count(&self) -> usize {
        self.e - self.b
    }

    #[allow(clippy::cast_possible_wrap)] // at most NETWORK_MAX
    fn count_i64(&self) -> i64 {
        self.count() as i64
    }

    /// Mean: the exact sum, rounded once, over the count.
    fn mean(&self) -> f64 {
        let c = self.count_i64();
        (self.center * c + self.s1) as f64 / c as f64
    }

    /// Population standard deviation (ddof 0) from the exact
    /// `count * sum(d^2) - sum(d)^2`.
    fn std(&self) -> f64 {
        let c = W::from(self.count_i64());
        let s1 = W::from(self.s1);
        let num = c * self.s2 - s1 * s1;
        (num.to_f64() / (c * c).to_f64()).sqrt()
    }

    /// Median of the kept values (at least one); the two middle values of
    /// an even count averaged as numpy does.
    #[allow(clippy::manual_midpoint)] // numpy's `(a + b) / 2`
    fn median(&self) -> f64 {
        let c = self.count();
        let upper = f64::from(self.sorted.at(self.b + c / 2));
        if c % 2 == 1 {
            upper
        } else {
            (f64::from(self.sorted.at(self.b + c / 2 - 1)) + upper) / 2.0
        }
    }

    /// (combined value, values used, scatter) after clipping as
    /// [`clip_bounds`] does: the kept values are a range of the sorted
    /// values, whose median is a lookup and whose sums move with its ends.
    fn combine(mut self, kernel: &Kernel) -> (f64, usize, f64) {
        if let Some((sigma, max_iter)) = kernel.clip {
            let mut median = self.median();
            let mut iteration = 0;
            let (lo, hi) = loop {
                let std = self.std();
                let lo = median - sigma * std;
                let hi = median + sigma * std;
                let count = self.count();
                self.shrink(lo, hi);
                iteration += 1;
                if self.count() == count || self.count() == 0 || iteration >= max_iter {
                    break (lo, hi);
                }
                median = self.median();
            };
            // the values kept in the end: every value within the last bounds
            self.within(lo, hi);
            if self.count() == 0 {
                return (f64::NAN, 0, f64::NAN);
            }
        }
        let value = match kernel.method {
            Method::Mean => self.mean(),
            Method::Median => self.median(),
        };
        (value, self.count(), self.std())
    }
}

/// Frame `f` (an int16, uint16 or int32 one) at pixels `start..start +
/// out.len()` (C order) as `i32`.
fn gather_frame_i32(f: &Frame<'_>, start: usize, out: &mut [i32]) {
    match &f.data {
        PixelArray::I16(v) => gather_i32(v, f.swapped, start, out),
        PixelArray::U16(v) => gather_i32(v, f.swapped, start, out),
        PixelArray::I32(v) => gather_i32(v, f.swapped, start, out),
        _ => unreachable!("the sorted path takes int16, uint16 and int32 frames only"),
    }
}

#[multiversion(targets("x86_64+avx2", "x86_64+ssse3"))]
fn gather_i32<T: SmallInt>(v: &ArrayViewD<'_, T>, swapped: bool, start: usize, out: &mut [i32]) {
    copy_runs(v, swapped, start, out, T::to_i32);
}

/// Frame `f`'s pixels `start..start + out.len()` (C order) as `f64`.
fn gather_frame(f: &Frame<'_>, start: usize, out: &mut [f64]) {
    match &f.data {
        PixelArray::I16(v) => gather(v, f.swapped, start, out),
        PixelArray::U16(v) => gather(v, f.swapped, start, out),
        PixelArray::I32(v) => gather(v, f.swapped, start, out),
        PixelArray::U32(v) => gather(v, f.swapped, start, out),
        PixelArray::I64(v) => gather(v, f.swapped, start, out),
        PixelArray::F32(v) => gather(v, f.swapped, start, out),
        PixelArray::F64(v) => gather(v, f.swapped, start, out),
    }
}

/// The runs `(row, first column, end column)` covering the C-order pixels
/// `start..start + len` of a frame with `nx` columns.
fn runs(start: usize, len: usize, nx: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut p = start;
    let end = start + len;
    std::iter::from_fn(move || {
        if p >= end {
            return None;
        }
        let (r, a) = (p / nx, p % nx);
        let b = (a + (end - p)).min(nx);
        p += b - a;
        Some((r, a, b))
    })
}

fn gather<T: Pixel>(v: &ArrayViewD<'_, T>, swapped: bool, start: usize, out: &mut [f64]) {
    copy_runs(v, swapped, start, out, T::to_f64);
}

/// Frame `v`'s pixels `start..start + out.len()` (C order) into `out`, each
/// byte-swapped first when `swapped` and converted by `conv` (inlined into
/// each caller, so that the `i32` gather is vectorised in its own build).
#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn copy_runs<T: Pixel, O>(
    v: &ArrayViewD<'_, T>,
    swapped: bool,
    start: usize,
    out: &mut [O],
    conv: impl Fn(T) -> O,
) {
    let Ok(v) = v.view().into_dimensionality::<Ix2>() else {
        unreachable!("frames are checked to be 2-D");
    };
    let mut o = 0;
    for (r, a, b) in runs(start, out.len(), v.ncols()) {
        let row = v.slice(s![r, a..b]);
        let dst = &mut out[o..o + (b - a)];
        match (row.as_slice(), swapped) {
            (Some(src), false) => {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = conv(x);
                }
            }
            (Some(src), true) => {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = conv(x.swap());
                }
            }
            (None, _) => {
                for (d, &x) in dst.iter_mut().zip(row.iter()) {
                    *d = conv(if swapped { x.swap() } else { x });
                }
            }
        }
        o += b - a;
    }
}

fn gather_mask(m: &ArrayView2<'_, bool>, start: usize, out: &mut [bool]) {
    let mut o = 0;
    for (r, a, b) in runs(start, out.len(), m.ncols()) {
        for (d, &x) in out[o..o + (b - a)].iter_mut().zip(m.slice(s![r, a..b])) {
            *d = x;
        }
        o += b - a;
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::manual_midpoint, // the reference medians are numpy's (a + b) / 2
    clippy::manual_is_multiple_of // astropy's C, line for line
)]
mod tests {
    use super::*;
    use ndarray::{Array3, ArrayD, IxDyn, ShapeBuilder};

    /// astropy's `compute_sigma_clipped_bounds` (median and std branch), line
    /// for line: Wirth's selection reorders the buffer in place, the mean and
    /// the std are summed in that order, kept values are packed to the front.
    fn astropy_bounds(data: &[f64], sigma: f64, max_iter: usize) -> (f64, f64) {
        fn kth_smallest(a: &mut [f64], n: usize, k: usize) -> f64 {
            let (mut l, mut m) = (0_isize, n as isize - 1);
            let k = k as isize;
            while l < m {
                let x = a[k as usize];
                let (mut i, mut j) = (l, m);
                loop {
                    while a[i as usize] < x {
                        i += 1;
                    }
                    while x < a[j as usize] {
                        j -= 1;
                    }
                    if i <= j {
                        a.swap(i as usize, j as usize);
                        i += 1;
                        j -= 1;
                    }
                    if i > j {
                        break;
                    }
                }
                if j < k {
                    l = i;
                }
                if k < i {
                    m = j;
                }
            }
            a[k as usize]
        }
        let mut buf = data.to_vec();
        let mut count = buf.len();
        let mut iteration = 0;
        loop {
            let median = if count % 2 == 0 {
                0.5 * (kth_smallest(&mut buf, count, count / 2)
                    + kth_smallest(&mut buf, count, count / 2 - 1))
            } else {
                kth_smallest(&mut buf, count, (count - 1) / 2)
            };
            let mut mean = 0.0;
            for &x in &buf[..count] {
                mean += x;
            }
            mean /= count as f64;
            let mut std = 0.0;
            for &x in &buf[..count] {
                std += (x - mean) * (x - mean);
            }
            std = (std / count as f64).sqrt();
            let (lo, hi) = (median - sigma * std, median + sigma * std);
            let mut new_count = 0;
            for i in 0..count {
                if buf[i] >= lo && buf[i] <= hi {
                    buf[new_count] = buf[i];
                    new_count += 1;
                }
            }
            if new_count == count || new_count == 0 {
                return (lo, hi);
            }
            count = new_count;
            iteration += 1;
            if iteration >= max_iter {
                return (lo, hi);
            }
        }
    }

    /// A small deterministic generator (xorshift) of values with outliers.
    fn values(seed: u64, n: usize, ints: bool) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1_u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                // sum of uniforms: roughly normal, sd ~ 10, around 1000
                let mut x = 1000.0 + 10.0 * ((0..12).map(|_| next()).sum::<f64>() - 6.0);
                let u = next();
                if u < 0.05 {
                    x += 300.0 * next();
                } else if u < 0.08 {
                    x -= 200.0 * next();
                }
                if ints {
                    x.round()
                } else {
                    x
                }
            })
            .collect()
    }

    fn sorted(v: &[f64]) -> Vec<f64> {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }

    #[test]
    fn clip_bounds_keep_what_astropy_keeps() {
        let mut pivots = Vec::new();
        for seed in 0..400_u64 {
            let n = 1 + (seed as usize * 7) % 120;
            let ints = seed % 3 == 0;
            let v = values(seed, n, ints);
            for &(sigma, iters) in &[(3.0, 5), (2.0, 10), (1.5, 1), (0.5, 3), (2.5, 2)] {
                let (alo, ahi) = astropy_bounds(&v, sigma, iters);
                let mut keys = vec![0; n];
                let mut ranks = Ranks::new(&v, &mut keys, &mut pivots);
                let (lo, hi, _) = clip_bounds(&v, &mut ranks, sigma, iters);
                let tol = 1e-12 * alo.abs().max(ahi.abs());
                assert!(
                    (lo - alo).abs() <= tol && (hi - ahi).abs() <= tol,
                    "seed {seed} n {n}: ({lo}, {hi}) vs astropy ({alo}, {ahi})"
                );
                let kept = |a: f64, b: f64| v.iter().filter(|&&x| x >= a && x <= b).count();
                assert_eq!(kept(lo, hi), kept(alo, ahi), "seed {seed} n {n}");
            }
        }
    }

    #[test]
    fn keys_order_like_total_cmp() {
        let xs = [
            -f64::MAX,
            -1e10,
            -1.5,
            -0.0,
            0.0,
            1e-300,
            2.5,
            1e300,
            f64::MAX,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn ranks_select_like_a_sort() {
        let mut pivots = Vec::new();
        for seed in 0..50 {
            let v = values(seed, 3 + seed as usize, seed % 2 == 0);
            let s = sorted(&v);
            let mut keys = vec![0; v.len()];
            let mut ranks = Ranks::new(&v, &mut keys, &mut pivots);
            for r in [v.len() / 2, 0, v.len() - 1, v.len() / 3, 1, v.len() / 2 + 1] {
                assert_eq!(ranks.at(r), s[r]);
            }
        }
    }

    #[test]
    fn median_of_even_counts_averages_the_middle_values() {
        let mut pivots = Vec::new();
        let mut keys = vec![0; 5];
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(
            Ranks::new(&v, &mut keys, &mut pivots).median(0, 4, false),
            2.5
        );
        let v = [5.0, 1.0, 3.0];
        assert_eq!(
            Ranks::new(&v, &mut keys, &mut pivots).median(0, 3, false),
            3.0
        );
        let v = [-0.5, -3.0, 2.0, -1e300, 0.0];
        assert_eq!(
            Ranks::new(&v, &mut keys, &mut pivots).median(0, 5, false),
            -0.5
        );
        // float32: (a + b) / 2 rounded to float32 (16777217 is not a float32)
        let (a, b) = (16_777_216.0_f32, 2.0_f32);
        let v = [f64::from(a), f64::from(b)];
        let m32 = Ranks::new(&v, &mut keys, &mut pivots).median(0, 2, true);
        assert_eq!(m32, f64::from((a + b) / 2.0_f32));
        assert_eq!(m32, 8_388_609.0);
    }

    fn stack_frames(a: &ArrayD<f64>) -> Vec<Frame<'_>> {
        Frame::native(PixelArray::F64(a.view())).outer()
    }

    fn opts(method: Method, clip: Option<f64>) -> Options {
        Options {
            method,
            clip,
            clip_iter: 5,
        }
    }

    /// A (n, 3, 7) stack of `values`, pixel by pixel.
    fn stack(n: usize, ints: bool) -> ArrayD<f64> {
        let mut a = Array3::<f64>::zeros((n, 3, 7));
        for p in 0..21 {
            let v = values(p as u64 + 1000, n, ints);
            for i in 0..n {
                a[[i, p / 7, p % 7]] = v[i];
            }
        }
        a.into_dyn()
    }

    #[test]
    fn mean_and_median_without_clipping_match_sorting() {
        for n in [1, 2, 5, 8, 31] {
            let a = stack(n, n % 2 == 0);
            let frames = stack_frames(&a);
            let mean = combine(&frames, None, &opts(Method::Mean, None)).unwrap();
            let median = combine(&frames, None, &opts(Method::Median, None)).unwrap();
            for p in 0..21 {
                let v: Vec<f64> = (0..n).map(|i| a[[i, p / 7, p % 7]]).collect();
                let s = sorted(&v);
                let want_median = if n % 2 == 1 {
                    s[n / 2]
                } else {
                    (s[n / 2 - 1] + s[n / 2]) / 2.0
                };
                assert_eq!(median.data[p], want_median);
                let m = v.iter().sum::<f64>() / n as f64;
                assert!((mean.data[p] - m).abs() <= 1e-13 * m.abs());
                let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
                assert!((mean.scatter[p] - var.sqrt()).abs() <= 1e-12 * var.sqrt().max(1.0));
                assert_eq!(mean.n_used[p], n as i32);
                assert_eq!(median.scatter[p], mean.scatter[p]);
            }
        }
    }

    #[test]
    fn clipped_results_use_the_values_astropy_keeps() {
        let n = 40;
        let a = stack(n, false);
        let frames = stack_frames(&a);
        let mean = combine(&frames, None, &opts(Method::Mean, Some(2.5))).unwrap();
        let median = combine(&frames, None, &opts(Method::Median, Some(2.5))).unwrap();
        let mut n_clipped = 0;
        for p in 0..21 {
            let v: Vec<f64> = (0..n).map(|i| a[[i, p / 7, p % 7]]).collect();
            let (lo, hi) = astropy_bounds(&v, 2.5, 5);
            let kept: Vec<f64> = v.iter().copied().filter(|&x| x >= lo && x <= hi).collect();
            n_clipped += n - kept.len();
            assert_eq!(mean.n_used[p], kept.len() as i32);
            let m = kept.iter().sum::<f64>() / kept.len() as f64;
            assert!((mean.data[p] - m).abs() <= 1e-13 * m.abs());
            let s = sorted(&kept);
            let k = s.len();
            let want = if k % 2 == 1 {
                s[k / 2]
            } else {
                (s[k / 2 - 1] + s[k / 2]) / 2.0
            };
            assert_eq!(median.data[p], want);
        }
        assert!(n_clipped > 21, "the test data have outliers");
    }

    #[test]
    fn nan_and_masked_values_are_left_out_and_counted() {
        let mut a = stack(6, true);
        a[[0, 0, 0]] = f64::NAN;
        a[[1, 0, 0]] = f64::INFINITY;
        let mut mask = ArrayD::from_elem(IxDyn(&[6, 3, 7]), false);
        mask[[2, 0, 0]] = true;
        for i in 0..6 {
            mask[[i, 1, 1]] = true;
        }
        let frames = stack_frames(&a);
        let r = combine(&frames, Some(&mask.view()), &opts(Method::Median, None)).unwrap();
        assert_eq!(r.n_used[0], 3);
        let s = sorted(&[a[[3, 0, 0]], a[[4, 0, 0]], a[[5, 0, 0]]]);
        assert_eq!(r.data[0], s[1]);
        assert_eq!(r.n_used[8], 0);
        assert!(r.data[8].is_nan() && r.scatter[8].is_nan());
        assert_eq!((r.n_masked, r.n_nonfinite), (7, 2));
    }

    #[test]
    fn every_dtype_byte_order_and_stride_gives_the_same_result() {
        let a = stack(9, true);
        let want = combine(&stack_frames(&a), None, &opts(Method::Median, Some(3.0))).unwrap();
        let i32s = a.mapv(|x| x as i32);
        let swapped = i32s.mapv(i32::swap_bytes);
        let u16s = a.mapv(|x| x as u16);
        let f32s = a.mapv(|x| x as f32);
        // a Fortran-ordered copy: the frames are strided views
        let mut fortran = ArrayD::<i64>::zeros(IxDyn(&[9, 3, 7]).f());
        fortran.assign(&a.mapv(|x| x as i64));
        let cases: Vec<Vec<Frame<'_>>> = vec![
            Frame::native(PixelArray::I32(i32s.view())).outer(),
            Frame {
                data: PixelArray::I32(swapped.view()),
                swapped: true,
            }
            .outer(),
            Frame::native(PixelArray::U16(u16s.view())).outer(),
            Frame::native(PixelArray::F32(f32s.view())).outer(),
            Frame::native(PixelArray::I64(fortran.view())).outer(),
        ];
        for frames in &cases {
            let got = combine(frames, None, &opts(Method::Median, Some(3.0))).unwrap();
            assert_eq!(got.data, want.data);
            assert_eq!(got.n_used, want.n_used);
        }
        // a reversed, sliced view against its copy
        let big = stack(9, false);
        let view = big.slice(s![..;-2, .., 1..;2]).into_dyn();
        let copy = view.to_owned();
        let r1 = combine(
            &Frame::native(PixelArray::F64(view.view())).outer(),
            None,
            &opts(Method::Mean, Some(2.0)),
        )
        .unwrap();
        let r2 = combine(&stack_frames(&copy), None, &opts(Method::Mean, Some(2.0))).unwrap();
        assert_eq!(r1, r2);
        assert_eq!(r1.shape, [3, 3]);
    }

    #[test]
    fn blocks_split_rows_without_changing_results() {
        // 70 frames of 17 x 301: blocks of 936 pixels start inside rows
        let n = 70;
        let mut a = Array3::<f64>::zeros((n, 17, 301));
        for p in 0..17 * 301 {
            let v = values(p as u64, n, false);
            for i in 0..n {
                a[[i, p / 301, p % 301]] = v[i];
            }
        }
        let a = a.into_dyn();
        let r = combine(&stack_frames(&a), None, &opts(Method::Mean, Some(3.0))).unwrap();
        for p in [0, 935, 936, 937, 17 * 301 - 1] {
            let v: Vec<f64> = (0..n).map(|i| a[[i, p / 301, p % 301]]).collect();
            let (lo, hi) = astropy_bounds(&v, 3.0, 5);
            let kept: Vec<f64> = v.iter().copied().filter(|&x| x >= lo && x <= hi).collect();
            assert_eq!(r.n_used[p], kept.len() as i32);
            let m = kept.iter().sum::<f64>() / kept.len() as f64;
            assert!((r.data[p] - m).abs() <= 1e-13 * m.abs());
        }
    }

    #[test]
    fn the_network_sorts_every_lane() {
        let mut s = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut narrow = Vec::new();
        for n in (1..=140).chain([255, 256, 257, 500, 1000, NETWORK_MAX]) {
            let net = Network::new(n);
            // wide groups (i32 lanes), narrow ones (i16 offsets) with padding,
            // narrow ones at the top of the i32 range (values equal to the
            // padding) and a group spanning 65535 (too wide by one)
            for kind in 0..4 {
                let mut rows = vec![[0_i32; GROUP]; n];
                for (i, r) in rows.iter_mut().enumerate() {
                    for (l, x) in r.iter_mut().enumerate() {
                        let u = next();
                        *x = match (kind, l) {
                            (0 | 1, 0) => (u % 5) as i32,
                            (0 | 1, 1) => (n - i) as i32,
                            (0, 2) => [i32::MIN, i32::MAX, 0][(u % 3) as usize],
                            (0, _) => u as i32,
                            (1, 2) if i % 3 == 0 => PAD,
                            (1, _) => -7000 + (u % 65_535) as i32,
                            (2, _) => i32::MAX - (u % 40_000) as i32,
                            _ => [-1000, 64_535, 7][(u % 3) as usize],
                        };
                    }
                }
                let mut want: Vec<Vec<i32>> = (0..GROUP)
                    .map(|l| rows.iter().map(|r| r[l]).collect())
                    .collect();
                for w in &mut want {
                    w.sort_unstable();
                }
                sort_group(&mut rows, &net.pairs, &mut narrow);
                for (l, w) in want.iter().enumerate() {
                    let got: Vec<i32> = rows.iter().map(|r| r[l]).collect();
                    assert_eq!(&got, w, "n {n} kind {kind} lane {l}");
                }
            }
        }
    }

    /// A (n, 5, 13) integer stack of `values` (65 pixels: a partial group).
    fn int_stack(n: usize, seed: u64) -> Array3<i32> {
        let mut a = Array3::<i32>::zeros((n, 5, 13));
        for p in 0..65 {
            let v = values(seed * 1000 + p as u64, n, true);
            for i in 0..n {
                a[[i, p / 13, p % 13]] = v[i] as i32;
            }
        }
        a
    }

    #[test]
    fn sorted_path_equals_the_selection_path() {
        // the same values as int32 (sorted path) and as float64 (selection)
        for (seed, n) in [1, 2, 3, 4, 7, 8, 9, 16, 33, 64, 100, 131]
            .iter()
            .enumerate()
        {
            let n = *n;
            let a = int_stack(n, seed as u64);
            let f = a.mapv(f64::from).into_dyn();
            let a = a.into_dyn();
            // a mask leaving out a varying number of values per pixel
            let mask =
                ArrayD::from_shape_fn(IxDyn(&[n, 5, 13]), |d| (d[0] * 7 + d[2] * 3) % 11 == 0);
            for m in [None, Some(&mask.view())] {
                for method in [Method::Mean, Method::Median] {
                    for (clip, iters) in [(None, 5), (Some(3.0), 5), (Some(1.5), 2), (Some(0.3), 9)]
                    {
                        let o = Options {
                            method,
                            clip,
                            clip_iter: iters,
                        };
                        let ints = Frame::native(PixelArray::I32(a.view())).outer();
                        assert!(sorted_path(&ints));
                        let got = combine(&ints, m, &o).unwrap();
                        let want = combine(&stack_frames(&f), m, &o).unwrap();
                        let what = format!("n {n} {o:?} mask {}", m.is_some());
                        assert_eq!(got.n_used, want.n_used, "{what}");
                        assert_eq!(
                            (got.n_masked, got.n_nonfinite),
                            (want.n_masked, want.n_nonfinite)
                        );
                        for p in 0..65 {
                            let (g, w) = (got.data[p], want.data[p]);
                            if method == Method::Median {
                                assert!(
                                    g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                                    "{what}"
                                );
                            } else {
                                assert!(
                                    (g - w).abs() <= 1e-13 * w.abs() || (g.is_nan() && w.is_nan()),
                                    "{what}"
                                );
                            }
                            let (g, w) = (got.scatter[p], want.scatter[p]);
                            assert!(
                                (g - w).abs() <= 1e-12 * w.abs().max(1.0)
                                    || (g.is_nan() && w.is_nan()),
                                "{what}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sorted_path_keeps_what_astropy_keeps() {
        for (seed, n) in [5, 12, 40, 99, 250].iter().enumerate() {
            let n = *n;
            let a = int_stack(n, 100 + seed as u64);
            let frames = Frame::native(PixelArray::I32(a.view().into_dyn())).outer();
            for &(sigma, iters) in &[(3.0, 5), (2.0, 10), (1.0, 1), (0.5, 3)] {
                let r = combine(
                    &frames,
                    None,
                    &Options {
                        method: Method::Mean,
                        clip: Some(sigma),
                        clip_iter: iters,
                    },
                )
                .unwrap();
                for p in 0..65 {
                    let v: Vec<f64> = (0..n).map(|i| f64::from(a[[i, p / 13, p % 13]])).collect();
                    let (lo, hi) = astropy_bounds(&v, sigma, iters);
                    let kept: Vec<f64> =
                        v.iter().copied().filter(|&x| x >= lo && x <= hi).collect();
                    assert_eq!(r.n_used[p], kept.len() as i32, "n {n} pixel {p}");
                    if !kept.is_empty() {
                        let m = kept.iter().sum::<f64>() / kept.len() as f64;
                        assert_eq!(r.data[p], m, "n {n} pixel {p}: exact integer sums");
                    }
                }
            }
        }
    }

    #[test]
    fn sorted_path_handles_extreme_integers() {
        // int32 extremes (squares near 2^62) and values equal to the padding
        let n = 9;
        let mut a = Array3::<i32>::zeros((n, 1, 3));
        for i in 0..n {
            a[[i, 0, 0]] = if i % 2 == 0 { i32::MAX } else { i32::MIN };
            a[[i, 0, 1]] = i32::MAX - i as i32 % 3;
            a[[i, 0, 2]] = i as i32 - 4;
        }
        let f = a.mapv(f64::from).into_dyn();
        let a = a.into_dyn();
        let mut mask = ArrayD::from_elem(IxDyn(&[n, 1, 3]), false);
        mask[[3, 0, 1]] = true;
        for method in [Method::Mean, Method::Median] {
            for clip in [None, Some(1.0)] {
                let o = opts(method, clip);
                let got = combine(
                    &Frame::native(PixelArray::I32(a.view())).outer(),
                    Some(&mask.view()),
                    &o,
                )
                .unwrap();
                let want = combine(&stack_frames(&f), Some(&mask.view()), &o).unwrap();
                assert_eq!(got.n_used, want.n_used);
                for p in 0..3 {
                    let (g, w) = (got.data[p], want.data[p]);
                    assert!(
                        (g - w).abs() <= 1e-13 * w.abs(),
                        "{method:?} {clip:?} pixel {p}: {g} {w}"
                    );
                }
            }
        }
        let m = combine(
            &Frame::native(PixelArray::I32(a.view())).outer(),
            Some(&mask.view()),
            &opts(Method::Median, None),
        )
        .unwrap();
        assert_eq!(m.data[1], f64::from(i32::MAX - 1));
        assert_eq!(m.data[0], f64::from(i32::MAX));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = stack(3, true);
        let frames = stack_frames(&a);
        assert!(matches!(
            combine(&[], None, &opts(Method::Mean, None)),
            Err(CoreError::Empty { .. })
        ));
        let other = ArrayD::<f64>::zeros(IxDyn(&[4, 7]));
        let mut mixed = frames.clone();
        mixed.push(Frame::native(PixelArray::F64(other.view())));
        assert!(matches!(
            combine(&mixed, None, &opts(Method::Mean, None)),
            Err(CoreError::ShapeMismatch { .. })
        ));
        let mask = ArrayD::from_elem(IxDyn(&[2, 3, 7]), false);
        assert!(matches!(
            combine(&frames, Some(&mask.view()), &opts(Method::Mean, None)),
            Err(CoreError::ShapeMismatch { .. })
        ));
        for k in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                combine(&frames, None, &opts(Method::Mean, Some(k))),
                Err(CoreError::InvalidParameter(_))
            ));
        }
        let zero_iter = Options {
            clip_iter: 0,
            ..opts(Method::Mean, Some(3.0))
        };
        assert!(matches!(
            combine(&frames, None, &zero_iter),
            Err(CoreError::InvalidParameter(_))
        ));
        let empty = ArrayD::<f64>::zeros(IxDyn(&[3, 0, 7]));
        assert!(matches!(
            combine(&stack_frames(&empty), None, &opts(Method::Mean, None)),
            Err(CoreError::Empty { .. })
        ));
        let flat = ArrayD::<f64>::zeros(IxDyn(&[3, 7]));
        assert!(matches!(
            combine(&stack_frames(&flat), None, &opts(Method::Mean, None)),
            Err(CoreError::InvalidParameter(_))
        ));
    }
}
