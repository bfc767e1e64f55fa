//! 2-D median filter equal to `scipy.ndimage.median_filter(image, size,
//! mode, cval)` bit for bit, for every supported dtype, by a sliding
//! histogram instead of a selection per pixel.
//!
//! What scipy computes (its `NI_RankFilter`, checked against scipy 1.17):
//! every value is converted to `double` (`int64` beyond 2^53 rounds), `cval`
//! is first cast to the input type (C casts, as x86-64 performs them:
//! out-of-range or NaN to an integer type gives the "integer indefinite"
//! pattern), the element of rank `rows * cols / 2` (0-based, so the upper of
//! the two middle ones for an even count) of the window is selected and cast
//! back to the input type.  A window of `k` along an axis covers offsets
//! `-(k / 2) ..= k - 1 - k / 2`.  Windows of one pixel are a copy of the
//! input, and windows of two pixels are scipy's maximum filter (in `double`,
//! with `cval` not cast first), both reproduced here.
//!
//! How: the values of a frame (and `cval`) are replaced by their rank among
//! the sorted distinct values, so that any dtype has a histogram of bounded
//! size; the frame is padded with the ranks of the extended border, and each
//! band of output rows is swept in a snake by a window whose histogram (fine
//! bins plus coarse blocks) is updated by one column (or one row) per step,
//! the median bin found by moving from the previous one (Huang's method).
//! The sweep runs along the shorter side of the window.  Windows holding a
//! NaN (or both signed zeros where the median is zero), whose result in
//! scipy depends on the order its selection meets the values, are computed
//! by scipy's own selection (`NI_Select`) over the window in scipy's order.
//!
//! One known difference: in `reflect` mode scipy reads outside the array
//! (a scipy bug) when the window reaches `4 * len` or more beyond an edge of
//! an axis of length `len >= 2` (windows of at least `8 * len + 1`); the
//! symmetric extension is used here there.

use std::ops::Range;

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, Ix2, IxDyn};

use crate::error::{CoreError, CoreResult};
use crate::parallel::map_parts;
use crate::view::{Frame, Pixel, PixelArray};

/// How the window is extended beyond the edges (scipy's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `a a a | a b c d | d d d`.
    Nearest,
    /// `c b a | a b c d | d c b` (symmetric about the edge).
    Reflect,
    /// `k k k | a b c d | k k k` with `k = cval`.
    Constant,
}

impl Mode {
    /// The mode named `name` (`"nearest"`, `"reflect"` or `"constant"`).
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(name: &str) -> CoreResult<Mode> {
        match name {
            "nearest" => Ok(Mode::Nearest),
            "reflect" => Ok(Mode::Reflect),
            "constant" => Ok(Mode::Constant),
            _ => Err(CoreError::InvalidParameter(format!(
                "mode {name:?} is not supported; use \"nearest\", \"reflect\" or \"constant\""
            ))),
        }
    }

    /// The input index read for index `cc` of an axis of length `len`
    /// (`None`: the constant).
    fn map(self, cc: isize, len: usize) -> Option<usize> {
        let n = isize::try_from(len).ok()?;
        if (0..n).contains(&cc) {
            return usize::try_from(cc).ok();
        }
        let mapped = match self {
            Mode::Constant => return None,
            Mode::Nearest => cc.clamp(0, n - 1),
            Mode::Reflect => {
                if n == 1 {
                    0
                } else {
                    let period = 2 * n;
                    let c = cc.rem_euclid(period);
                    if c < n {
                        c
                    } else {
                        period - 1 - c
                    }
                }
            }
        };
        usize::try_from(mapped).ok()
    }
}

/// The filter's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Window rows.
    pub rows: usize,
    /// Window columns.
    pub cols: usize,
    /// Border extension.
    pub mode: Mode,
    /// The value beyond the edges in [`Mode::Constant`].
    pub cval: f64,
}

/// Most pixels of a window (counts are `u32`).
const MAX_WINDOW: usize = 1 << 31;

impl Spec {
    fn check(&self) -> CoreResult<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(CoreError::InvalidParameter(format!(
                "the window must be at least 1 x 1 pixel, got {} x {}",
                self.rows, self.cols
            )));
        }
        if self
            .rows
            .checked_mul(self.cols)
            .is_none_or(|n| n > MAX_WINDOW)
        {
            return Err(CoreError::InvalidParameter(format!(
                "a window of {} x {} pixels is too large (at most {MAX_WINDOW} pixels)",
                self.rows, self.cols
            )));
        }
        Ok(())
    }
}

/// `(i32)x` as C on x86-64 computes it (`cvttsd2si`): the truncated value,
/// or `i32::MIN` when it is out of range or NaN.
#[allow(clippy::cast_possible_truncation)]
fn c_i32(x: f64) -> i32 {
    if x > -2_147_483_649.0 && x < 2_147_483_648.0 {
        x as i32
    } else {
        i32::MIN
    }
}

/// `(int64)x` as C on x86-64 computes it.
#[allow(clippy::cast_possible_truncation)]
fn c_i64(x: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// A pixel type with scipy's cast from `double`.
pub trait Filterable: Pixel + Default {
    /// `(type)x` as scipy's C code computes it on x86-64 (`int16` and
    /// `uint16` through a 32-bit conversion, `uint32` through a 64-bit one).
    fn from_c_double(x: f64) -> Self;
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
mod casts {
    use super::{c_i32, c_i64, Filterable};

    impl Filterable for i16 {
        fn from_c_double(x: f64) -> Self {
            c_i32(x) as i16
        }
    }
    impl Filterable for u16 {
        fn from_c_double(x: f64) -> Self {
            c_i32(x) as u16
        }
    }
    impl Filterable for i32 {
        fn from_c_double(x: f64) -> Self {
            c_i32(x)
        }
    }
    impl Filterable for u32 {
        fn from_c_double(x: f64) -> Self {
            c_i64(x) as u32
        }
    }
    impl Filterable for i64 {
        fn from_c_double(x: f64) -> Self {
            c_i64(x)
        }
    }
    impl Filterable for f32 {
        fn from_c_double(x: f64) -> Self {
            x as f32
        }
    }
    impl Filterable for f64 {
        fn from_c_double(x: f64) -> Self {
            x
        }
    }
}

/// The filtered array, of the input's dtype and shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Filtered {
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    I32(ArrayD<i32>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// Filter a frame `(rows, cols)`, or each frame of a stack `(n, rows, cols)`,
/// as `scipy.ndimage.median_filter(frame, size=(spec.rows, spec.cols),
/// mode, cval)` does.  Frames of a stack, and row bands of large frames,
/// are filtered in parallel; the result does not depend on the thread count.
///
/// # Errors
/// A window of zero pixels or of more than 2^31, an input that is neither
/// 2-D nor 3-D.
pub fn median_filter(frame: &Frame<'_>, spec: &Spec) -> CoreResult<Filtered> {
    spec.check()?;
    let shape = frame.shape();
    if !(2..=3).contains(&shape.len()) {
        return Err(CoreError::InvalidParameter(format!(
            "the image must be a frame (rows, cols) or a stack of frames (n, rows, cols), \
             got shape {shape:?}"
        )));
    }
    let s = frame.swapped;
    Ok(match &frame.data {
        PixelArray::I16(v) => Filtered::I16(filter_typed(v, s, spec)),
        PixelArray::U16(v) => Filtered::U16(filter_typed(v, s, spec)),
        PixelArray::I32(v) => Filtered::I32(filter_typed(v, s, spec)),
        PixelArray::U32(v) => Filtered::U32(filter_typed(v, s, spec)),
        PixelArray::I64(v) => Filtered::I64(filter_typed(v, s, spec)),
        PixelArray::F32(v) => Filtered::F32(filter_typed(v, s, spec)),
        PixelArray::F64(v) => Filtered::F64(filter_typed(v, s, spec)),
    })
}

/// The 2-D frames of a 2-D or 3-D view.
fn frames_of<'a, T>(v: &'a ArrayViewD<'_, T>) -> Vec<ArrayView2<'a, T>> {
    let to2 = |f: ArrayViewD<'a, T>| {
        f.into_dimensionality::<Ix2>()
            .expect("frames are 2-D by construction")
    };
    if v.ndim() == 2 {
        vec![to2(v.view())]
    } else {
        v.outer_iter().map(to2).collect()
    }
}

fn filter_typed<T: Filterable>(v: &ArrayViewD<'_, T>, swapped: bool, spec: &Spec) -> ArrayD<T> {
    let frames = frames_of(v);
    let load = |x: T| if swapped { x.swap() } else { x };
    let total = spec.rows * spec.cols;
    let results: Vec<Array2<T>> = if v.is_empty() {
        // no pixels: scipy returns an empty array of the same shape
        frames.iter().map(|f| Array2::default(f.dim())).collect()
    } else if total == 1 {
        // scipy's minimum filter of one pixel: a copy
        frames.iter().map(|f| f.mapv(load)).collect()
    } else if total == 2 {
        map_parts(frames.len(), |i| max_of_two(&frames[i], swapped, spec))
    } else {
        let prepared: Vec<Prepared> =
            map_parts(frames.len(), |i| Prepared::new(&frames[i], swapped, spec));
        let jobs: Vec<(usize, Range<usize>)> = prepared
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.bands(frames.len()).into_iter().map(move |b| (i, b)))
            .collect();
        let parts: Vec<Vec<T>> = map_parts(jobs.len(), |k| {
            let (i, band) = &jobs[k];
            prepared[*i].filter_band::<T>(band.clone())
        });
        let mut parts = parts.into_iter();
        prepared
            .iter()
            .zip(&jobs_per_frame(&jobs, prepared.len()))
            .map(|(p, &n)| p.assemble(&parts.by_ref().take(n).collect::<Vec<_>>()))
            .collect()
    };
    let mut shape = v.shape().to_vec();
    if shape.len() == 3 {
        let mut out = ndarray::Array3::<T>::default((shape[0], shape[1], shape[2]));
        for (mut dst, src) in out.outer_iter_mut().zip(&results) {
            dst.assign(src);
        }
        out.into_dyn()
    } else {
        shape.truncate(2);
        results
            .into_iter()
            .next()
            .map_or_else(|| ArrayD::default(IxDyn(&shape)), Array2::into_dyn)
    }
}

fn jobs_per_frame(jobs: &[(usize, Range<usize>)], n: usize) -> Vec<usize> {
    let mut counts = vec![0; n];
    for (i, _) in jobs {
        counts[*i] += 1;
    }
    counts
}

/// A window of two pixels: scipy's 1-D maximum filter along the axis of
/// length 2, in `double` (window `[k - 1, k]`, the later value taken only
/// when it is greater, `cval` not cast to the input type).
fn max_of_two<T: Filterable>(f: &ArrayView2<'_, T>, swapped: bool, spec: &Spec) -> Array2<T> {
    let (rows, cols) = f.dim();
    let value = |i: isize, j: isize| -> f64 {
        match (spec.mode.map(i, rows), spec.mode.map(j, cols)) {
            (Some(r), Some(c)) => {
                let x = f[(r, c)];
                if swapped { x.swap() } else { x }.to_f64()
            }
            _ => spec.cval,
        }
    };
    let vertical = spec.rows == 2;
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        let (i, j) = (to_isize(i), to_isize(j));
        let (first, second) = if vertical {
            (value(i - 1, j), value(i, j))
        } else {
            (value(i, j - 1), value(i, j))
        };
        T::from_c_double(if second > first { second } else { first })
    })
}

fn to_isize(i: usize) -> isize {
    isize::try_from(i).expect("array indices fit in isize")
}

/// Order-preserving `u64` key of a non-NaN `f64` (`-0.0` below `0.0`).
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Fine bins per coarse block of the window histogram.
const COARSE_SHIFT: u32 = 6;
const COARSE: usize = 1 << COARSE_SHIFT;

/// The padded image of one frame, coded so that codes sort like values.
enum Padded {
    /// Small windows: order-preserving keys of the values ([`NAN_KEY`] for NaN).
    Keys(Vec<u64>),
    /// Histogram windows: ranks among the distinct values (NaN above all).
    Ranks(Vec<u32>),
}

/// The key of NaN, above every other key.
const NAN_KEY: u64 = u64::MAX;

fn key_or_nan(x: f64) -> u64 {
    if x.is_nan() {
        NAN_KEY
    } else {
        key(x)
    }
}

/// One frame made ready for filtering: its values as `double` and the
/// padded image of their codes, laid out so that the sweep runs along its rows.
struct Prepared {
    /// Frame rows and columns.
    rows: usize,
    cols: usize,
    /// The filter.
    spec: Spec,
    /// The values as `double`, row-major.
    values: Vec<f64>,
    /// `cval` cast to the input type and back to `double`.
    cval: f64,
    /// Distinct non-NaN values, ascending (total order), when coded by rank.
    distinct: Vec<f64>,
    /// Ranks of `-0.0` and `0.0` when both occur.
    zeros: Option<(u32, u32)>,
    /// Row (column) of the frame read for padded row (column) `k`.
    row_map: Vec<Option<usize>>,
    col_map: Vec<Option<usize>>,
    /// Padded codes, `(rows + wr - 1, cols + wc - 1)`, transposed when
    /// `transposed`; rows of `width`.
    padded: Padded,
    width: usize,
    /// The sweep runs down the frame's columns (the window is taller than wide).
    transposed: bool,
}

/// The padded image of `code(r, c)` (`border` beyond the edges), transposed
/// when `transposed`.
fn pad<K: Copy>(
    row_map: &[Option<usize>],
    col_map: &[Option<usize>],
    transposed: bool,
    border: K,
    code: impl Fn(usize, usize) -> K,
) -> Vec<K> {
    let (outer, inner) = if transposed {
        (col_map, row_map)
    } else {
        (row_map, col_map)
    };
    let mut padded = Vec::with_capacity(outer.len() * inner.len());
    for o in outer {
        for i in inner {
            let (r, c) = if transposed { (*i, *o) } else { (*o, *i) };
            padded.push(match (r, c) {
                (Some(r), Some(c)) => code(r, c),
                _ => border,
            });
        }
    }
    padded
}

impl Prepared {
    fn new<T: Filterable>(f: &ArrayView2<'_, T>, swapped: bool, spec: &Spec) -> Prepared {
        let (rows, cols) = f.dim();
        // values, row-major (frames are prepared in parallel by the caller:
        // no parallel pass is nested here)
        let mut values = Vec::with_capacity(rows * cols);
        for row in f.outer_iter() {
            values.extend(
                row.iter()
                    .map(|&x| if swapped { x.swap() } else { x }.to_f64()),
            );
        }
        let cval = T::from_c_double(spec.cval).to_f64();
        let axis_map = |len: usize, k: usize| -> Vec<Option<usize>> {
            let origin = to_isize(k / 2);
            (0..len + k - 1)
                .map(|p| spec.mode.map(to_isize(p) - origin, len))
                .collect()
        };
        let row_map = axis_map(rows, spec.rows);
        let col_map = axis_map(cols, spec.cols);
        let transposed = spec.rows > spec.cols;
        let (padded, distinct, zeros) = if spec.rows * spec.cols <= SORTED_MAX {
            let padded = pad(&row_map, &col_map, transposed, key_or_nan(cval), |r, c| {
                key_or_nan(values[r * cols + c])
            });
            (Padded::Keys(padded), Vec::new(), None)
        } else {
            let ranked = rank(&values, cval, spec.mode);
            let padded = pad(&row_map, &col_map, transposed, ranked.cval_rank, |r, c| {
                ranked.ranks[r * cols + c]
            });
            (Padded::Ranks(padded), ranked.distinct, ranked.zeros)
        };
        let width = if transposed {
            row_map.len()
        } else {
            col_map.len()
        };
        Prepared {
            rows,
            cols,
            spec: *spec,
            values,
            cval,
            distinct,
            zeros,
            row_map,
            col_map,
            padded,
            width,
            transposed,
        }
    }

    /// Output rows and columns in sweep order, and window rows and columns.
    fn sweep_dims(&self) -> (usize, usize, usize, usize) {
        if self.transposed {
            (self.cols, self.rows, self.spec.cols, self.spec.rows)
        } else {
            (self.rows, self.cols, self.spec.rows, self.spec.cols)
        }
    }

    /// Bands of sweep rows: enough for the threads, each at least a few
    /// window heights (each band builds its histogram once); a fixed rule
    /// of the shapes, not of the thread count.
    fn bands(&self, n_frames: usize) -> Vec<Range<usize>> {
        let (n, _, wr, _) = self.sweep_dims();
        let wanted = 8usize.div_ceil(n_frames).max(1);
        let min_height = (2 * wr).max(16);
        let count = wanted.min(n / min_height).max(1);
        let per = n.div_ceil(count).max(1);
        (0..count)
            .map(|b| (b * per).min(n)..((b + 1) * per).min(n))
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Output values of sweep rows `band` (row-major in sweep order): a
    /// sorted window of keys for small windows, a histogram of ranks for
    /// larger ones.
    fn filter_band<T: Filterable>(&self, band: Range<usize>) -> Vec<T> {
        let (_, _, wr, wc) = self.sweep_dims();
        let total = wr * wc;
        let rank = u32::try_from(total / 2).expect("window fits in u32");
        let region = band.start * self.width..(band.end + wr - 1) * self.width;
        match &self.padded {
            Padded::Keys(p) => self.sweep(
                band,
                &p[region],
                SortedWindow::new(total, rank),
                unkey,
                NAN_KEY,
                Some((key(-0.0), key(0.0))),
            ),
            Padded::Ranks(p) => {
                let bins = self.distinct.len() + 1;
                let decode = |m: u32| self.distinct[m as usize];
                let nan = u32::try_from(self.distinct.len()).expect("bins fit in u32");
                let p = &p[region];
                if u16::try_from(total).is_ok() {
                    let h = Histogram::<u16>::new(bins, rank);
                    self.sweep(band, p, h, decode, nan, self.zeros)
                } else {
                    let h = Histogram::<u32>::new(bins, rank);
                    self.sweep(band, p, h, decode, nan, self.zeros)
                }
            }
        }
    }

    /// Sweep `window` in a snake over sweep rows `band`; `p` holds the
    /// padded codes from padded row `band.start` on, `decode` gives a code's
    /// value, `nan` is the code of NaN, `zeros` those of -0.0 and 0.0.
    #[allow(clippy::too_many_arguments)]
    fn sweep<T: Filterable, K: Copy + PartialEq, W: Window<K>>(
        &self,
        band: Range<usize>,
        p: &[K],
        mut window: W,
        decode: impl Fn(K) -> f64,
        nan: K,
        zeros: Option<(K, K)>,
    ) -> Vec<T> {
        let (_, n_cols, wr, wc) = self.sweep_dims();
        let w = self.width;
        let mut out = vec![T::default(); band.len() * n_cols];
        if band.is_empty() || n_cols == 0 {
            return out;
        }
        let first = band.start;
        for a in 0..wr {
            for &b in &p[a * w..a * w + wc] {
                window.add(b);
            }
        }
        // the median is a zero and both signed zeros are in the window
        let ambiguous_zero = |window: &W, m: K| {
            zeros.is_some_and(|(neg, pos)| {
                (m == neg || m == pos) && window.has(neg) && window.has(pos)
            })
        };
        let mut j = 0usize;
        let mut rightward = true;
        for i in band.clone() {
            if i > first {
                let (old, new) = ((i - 1 - first) * w + j, (i - 1 - first + wr) * w + j);
                for b in 0..wc {
                    window.remove(p[old + b]);
                    window.add(p[new + b]);
                }
            }
            let row_out = (i - first) * n_cols;
            for step in 0..n_cols {
                if step > 0 {
                    let (gone, come) = if rightward {
                        j += 1;
                        (j - 1, j + wc - 1)
                    } else {
                        j -= 1;
                        (j + wc, j)
                    };
                    for a in 0..wr {
                        let row = (i - first + a) * w;
                        window.remove(p[row + gone]);
                        window.add(p[row + come]);
                    }
                }
                let m = window.median();
                out[row_out + j] = if window.has(nan) || ambiguous_zero(&window, m) {
                    self.select_like_scipy(i, j)
                } else {
                    T::from_c_double(decode(m))
                };
            }
            rightward = !rightward;
        }
        out
    }

    /// The output at sweep position `(i, j)` as scipy computes it: the
    /// window's values in scipy's order (row-major over the window of the
    /// frame), selected by `NI_Select`.
    fn select_like_scipy<T: Filterable>(&self, i: usize, j: usize) -> T {
        let (r, c) = if self.transposed { (j, i) } else { (i, j) };
        let mut buffer = Vec::with_capacity(self.spec.rows * self.spec.cols);
        for a in 0..self.spec.rows {
            for b in 0..self.spec.cols {
                buffer.push(match (self.row_map[r + a], self.col_map[c + b]) {
                    (Some(y), Some(x)) => self.values[y * self.cols + x],
                    _ => self.cval,
                });
            }
        }
        let rank = buffer.len() / 2;
        T::from_c_double(ni_select(&mut buffer, rank))
    }

    /// The frame from its bands' outputs.
    fn assemble<T: Filterable>(&self, parts: &[Vec<T>]) -> Array2<T> {
        let (n, m, _, _) = self.sweep_dims();
        let flat: Vec<T> = parts.concat();
        let a = Array2::from_shape_vec((n, m), flat).expect("bands cover the frame");
        if self.transposed {
            a.reversed_axes().as_standard_layout().into_owned()
        } else {
            a
        }
    }
}

/// Ranks of `values` among their distinct non-NaN values (and `cval` in
/// constant mode), NaN ranked above all.  One radix sort of the
/// keys with their indices; each value's rank is then written in one pass.
fn rank(values: &[f64], cval: f64, mode: Mode) -> Ranked {
    let n = values.len();
    let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(n + 1);
    pairs.extend(
        values
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.is_nan())
            .map(|(i, &x)| (key(x), u32::try_from(i).expect("frames fit in u32"))),
    );
    let with_cval = mode == Mode::Constant && !cval.is_nan();
    if with_cval {
        pairs.push((key(cval), u32::MAX));
    }
    let pairs = radix_sort(pairs);
    let mut ranks = vec![0u32; n];
    let mut distinct = Vec::new();
    let mut cval_rank = 0u32;
    let mut last = None;
    for &(k, i) in &pairs {
        if last != Some(k) {
            distinct.push(unkey(k));
            last = Some(k);
        }
        let r = u32::try_from(distinct.len() - 1).expect("ranks fit in u32");
        if i == u32::MAX {
            cval_rank = r;
        } else {
            ranks[i as usize] = r;
        }
    }
    let nan_rank = u32::try_from(distinct.len()).expect("ranks fit in u32");
    for (r, x) in ranks.iter_mut().zip(values) {
        if x.is_nan() {
            *r = nan_rank;
        }
    }
    if !with_cval {
        cval_rank = if cval.is_nan() {
            nan_rank
        } else {
            // not used (no constant border); any valid bin
            0
        };
    }
    let find = |z: f64| {
        distinct
            .binary_search_by(|d| key(*d).cmp(&key(z)))
            .ok()
            .map(|r| u32::try_from(r).expect("ranks fit in u32"))
    };
    let zeros = find(-0.0).zip(find(0.0));
    Ranked {
        ranks,
        distinct,
        zeros,
        cval_rank,
    }
}

/// A frame's values coded by rank (see [`rank`]).
struct Ranked {
    /// Rank of each value, row-major; NaN above all.
    ranks: Vec<u32>,
    /// Distinct non-NaN values (with `cval` in constant mode), ascending.
    distinct: Vec<f64>,
    /// Ranks of -0.0 and 0.0 when both occur.
    zeros: Option<(u32, u32)>,
    /// Rank of `cval`.
    cval_rank: u32,
}

/// `pairs` sorted by key: least-significant-digit radix sort, 8 bits a
/// pass, skipping the digits that all keys share.
fn radix_sort(mut pairs: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    let mut spare = vec![(0u64, 0u32); pairs.len()];
    for shift in (0..64).step_by(8) {
        let mut counts = [0usize; 256];
        for &(k, _) in &pairs {
            counts[((k >> shift) & 0xff) as usize] += 1;
        }
        if counts.contains(&pairs.len()) {
            continue;
        }
        let mut next = 0;
        for c in &mut counts {
            let here = *c;
            *c = next;
            next += here;
        }
        for &pair in &pairs {
            let d = ((pair.0 >> shift) & 0xff) as usize;
            spare[counts[d]] = pair;
            counts[d] += 1;
        }
        std::mem::swap(&mut pairs, &mut spare);
    }
    pairs
}

/// Windows up to this many pixels are kept as a sorted list of ranks
/// (insertion costs a short move), larger ones as a histogram (whose median
/// search is long when the window is small beside the number of distinct
/// values).
const SORTED_MAX: usize = 48;

/// A window of codes that finds its element of a fixed rank.
trait Window<K> {
    fn add(&mut self, b: K);
    fn remove(&mut self, b: K);
    /// The code of the element of the window's rank.
    fn median(&mut self) -> K;
    /// Whether code `b` is in the window.
    fn has(&self, b: K) -> bool;
}

/// A small window as its sorted codes.
struct SortedWindow<K> {
    sorted: Vec<K>,
    rank: usize,
}

impl<K> SortedWindow<K> {
    fn new(total: usize, rank: u32) -> SortedWindow<K> {
        SortedWindow {
            sorted: Vec::with_capacity(total),
            rank: rank as usize,
        }
    }
}

impl<K: Copy + Ord> Window<K> for SortedWindow<K> {
    #[inline]
    fn add(&mut self, b: K) {
        // a counting scan: no unpredictable branches on short windows
        let at = self.sorted.iter().filter(|&&x| x < b).count();
        self.sorted.insert(at, b);
    }

    #[inline]
    fn remove(&mut self, b: K) {
        let at = self.sorted.iter().filter(|&&x| x < b).count();
        self.sorted.remove(at);
    }

    #[inline]
    fn median(&mut self) -> K {
        self.sorted[self.rank]
    }

    fn has(&self, b: K) -> bool {
        self.sorted.binary_search(&b).is_ok()
    }
}

/// A fine bin's count: `u16` when the window has fewer than 65536 pixels
/// (half the memory, so the histogram of a frame of distinct values stays
/// in cache), else `u32`.
trait Count: Copy + Default {
    fn up(&mut self);
    fn down(&mut self);
    fn get(self) -> u32;
}

impl Count for u16 {
    #[inline]
    fn up(&mut self) {
        *self += 1;
    }
    #[inline]
    fn down(&mut self) {
        *self -= 1;
    }
    #[inline]
    fn get(self) -> u32 {
        u32::from(self)
    }
}

impl Count for u32 {
    #[inline]
    fn up(&mut self) {
        *self += 1;
    }
    #[inline]
    fn down(&mut self) {
        *self -= 1;
    }
    #[inline]
    fn get(self) -> u32 {
        self
    }
}

/// The histogram of a window's ranks (fine bins and coarse blocks) and the
/// bin `m` of the element of rank `rank`, with `below` elements in bins
/// below `m`.
struct Histogram<C> {
    fine: Vec<C>,
    coarse: Vec<u32>,
    m: usize,
    below: u32,
    rank: u32,
}

impl<C: Count> Histogram<C> {
    fn new(bins: usize, rank: u32) -> Histogram<C> {
        Histogram {
            fine: vec![C::default(); bins],
            coarse: vec![0; bins.div_ceil(COARSE)],
            m: 0,
            below: 0,
            rank,
        }
    }
}

impl<C: Count> Window<u32> for Histogram<C> {
    #[inline]
    fn add(&mut self, b: u32) {
        let b = b as usize;
        self.fine[b].up();
        self.coarse[b >> COARSE_SHIFT] += 1;
        self.below += u32::from(b < self.m);
    }

    #[inline]
    fn remove(&mut self, b: u32) {
        let b = b as usize;
        self.fine[b].down();
        self.coarse[b >> COARSE_SHIFT] -= 1;
        self.below -= u32::from(b < self.m);
    }

    /// Move `m` to the bin holding the element of rank `rank`.
    #[inline]
    fn median(&mut self) -> u32 {
        let r = self.rank;
        while self.below > r {
            if self.m.is_multiple_of(COARSE) {
                let block = self.coarse[(self.m >> COARSE_SHIFT) - 1];
                if self.below - block > r {
                    self.below -= block;
                    self.m -= COARSE;
                    continue;
                }
            }
            self.m -= 1;
            self.below -= self.fine[self.m].get();
        }
        while self.below + self.fine[self.m].get() <= r {
            if self.m.is_multiple_of(COARSE) {
                let block = self.coarse[self.m >> COARSE_SHIFT];
                if self.below + block <= r {
                    self.below += block;
                    self.m += COARSE;
                    continue;
                }
            }
            self.below += self.fine[self.m].get();
            self.m += 1;
        }
        u32::try_from(self.m).expect("bins fit in u32")
    }

    fn has(&self, b: u32) -> bool {
        self.fine[b as usize].get() > 0
    }
}

/// scipy's `NI_Select`: Hoare's selection of the element of rank `rank`,
/// with its comparisons (so NaN goes where scipy's loop leaves it).
fn ni_select(buffer: &mut [f64], rank: usize) -> f64 {
    let (mut lo, mut hi, mut rank) = (0usize, buffer.len() - 1, rank);
    loop {
        if lo == hi {
            return buffer[lo];
        }
        let x = buffer[lo];
        // i and j as in scipy, offset by one so that they stay unsigned
        let mut i = lo;
        let mut j = hi + 2;
        loop {
            loop {
                j -= 1;
                if !(buffer[j - 1] > x) {
                    break;
                }
            }
            loop {
                i += 1;
                if !(buffer[i - 1] < x) {
                    break;
                }
            }
            if i < j {
                buffer.swap(i - 1, j - 1);
            } else {
                break;
            }
        }
        let jj = j - 1;
        let left = jj - lo + 1;
        if rank < left {
            hi = jj;
        } else {
            lo = jj + 1;
            rank -= left;
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
mod tests {
    use super::*;
    use ndarray::{Array3, Axis, ShapeBuilder};

    /// The reference: every window gathered and selected by sorting
    /// (no NaN), with scipy's window placement and border rules written
    /// out independently of `Mode::map`.
    fn brute(a: &Array2<f64>, wr: usize, wc: usize, mode: Mode, cval: f64) -> Array2<f64> {
        let (rows, cols) = a.dim();
        let get = |i: i64, j: i64| -> f64 {
            let fix = |c: i64, n: i64| -> Option<i64> {
                if (0..n).contains(&c) {
                    return Some(c);
                }
                match mode {
                    Mode::Constant => None,
                    Mode::Nearest => Some(c.max(0).min(n - 1)),
                    Mode::Reflect => {
                        // unfold the symmetric extension one reflection at a time
                        let mut c = c;
                        while !(0..n).contains(&c) {
                            c = if c < 0 { -c - 1 } else { 2 * n - 1 - c };
                        }
                        Some(c)
                    }
                }
            };
            match (fix(i, rows as i64), fix(j, cols as i64)) {
                (Some(r), Some(c)) => a[(r as usize, c as usize)],
                _ => cval,
            }
        };
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let mut w = Vec::new();
            for di in 0..wr as i64 {
                for dj in 0..wc as i64 {
                    w.push(get(
                        i as i64 - (wr / 2) as i64 + di,
                        j as i64 - (wc / 2) as i64 + dj,
                    ));
                }
            }
            w.sort_by(f64::total_cmp);
            w[w.len() / 2]
        })
    }

    fn noise(rows: usize, cols: usize, seed: u64, levels: u64) -> Array2<f64> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        Array2::from_shape_fn((rows, cols), |_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) % levels) as f64 - (levels / 3) as f64
        })
    }

    fn run_f64(a: &Array2<f64>, wr: usize, wc: usize, mode: Mode, cval: f64) -> Array2<f64> {
        let frame = Frame::native(PixelArray::F64(a.view().into_dyn()));
        let spec = Spec {
            rows: wr,
            cols: wc,
            mode,
            cval,
        };
        match median_filter(&frame, &spec).unwrap() {
            Filtered::F64(o) => o.into_dimensionality().unwrap(),
            other => panic!("wrong dtype {other:?}"),
        }
    }

    #[test]
    fn equals_brute_force_over_shapes_windows_and_modes() {
        let shapes = [(1, 1), (1, 7), (6, 1), (5, 9), (13, 4), (40, 37)];
        let windows = [
            (1, 3),
            (3, 1),
            (2, 2),
            (3, 3),
            (4, 5),
            (6, 3),
            (7, 12),
            (15, 15),
        ];
        for (k, &(rows, cols)) in shapes.iter().enumerate() {
            for levels in [5, 1000] {
                let a = noise(rows, cols, k as u64 + levels, levels);
                for &(wr, wc) in &windows {
                    for mode in [Mode::Nearest, Mode::Reflect, Mode::Constant] {
                        for cval in [0.0, 2.5, f64::INFINITY, -1e300] {
                            let got = run_f64(&a, wr, wc, mode, cval);
                            let want = brute(&a, wr, wc, mode, cval);
                            assert_eq!(
                                got, want,
                                "{rows}x{cols} window {wr}x{wc} {mode:?} cval {cval}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn windows_of_more_than_65535_pixels_count_in_u32() {
        let a = noise(6, 7, 4, 1 << 30);
        for mode in [Mode::Nearest, Mode::Reflect, Mode::Constant] {
            let got = run_f64(&a, 300, 251, mode, 1.0);
            assert_eq!(got, brute(&a, 300, 251, mode, 1.0), "{mode:?}");
        }
    }

    #[test]
    fn one_and_two_pixel_windows() {
        let a = noise(5, 6, 3, 50);
        assert_eq!(run_f64(&a, 1, 1, Mode::Constant, 9.0), a);
        let got = run_f64(&a, 1, 2, Mode::Constant, 1e9);
        for i in 0..5 {
            assert_eq!(got[(i, 0)], 1e9);
            for j in 1..6 {
                assert_eq!(got[(i, j)], a[(i, j - 1)].max(a[(i, j)]));
            }
        }
        let got = run_f64(&a, 2, 1, Mode::Nearest, 0.0);
        for j in 0..6 {
            assert_eq!(got[(0, j)], a[(0, j)]);
            for i in 1..5 {
                assert_eq!(got[(i, j)], a[(i - 1, j)].max(a[(i, j)]));
            }
        }
    }

    #[test]
    fn stacks_strides_byte_order_and_integer_types() {
        let a = noise(17, 23, 9, 40_000);
        let want = brute(&a, 5, 4, Mode::Reflect, 0.0);
        let spec = Spec {
            rows: 5,
            cols: 4,
            mode: Mode::Reflect,
            cval: 0.0,
        };
        // int32, Fortran order, byte-swapped, in a stack of three
        let mut stack = Array3::<i32>::zeros((3, 17, 23).f());
        for k in 0..3 {
            stack
                .index_axis_mut(Axis(0), k)
                .assign(&a.mapv(|x| (x as i32).swap_bytes()));
        }
        let frame = Frame {
            data: PixelArray::I32(stack.view().into_dyn()),
            swapped: true,
        };
        let Filtered::I32(out) = median_filter(&frame, &spec).unwrap() else {
            panic!("dtype")
        };
        assert_eq!(out.shape(), &[3, 17, 23]);
        for k in 0..3 {
            assert_eq!(
                out.index_axis(Axis(0), k)
                    .mapv(f64::from)
                    .into_dimensionality::<Ix2>()
                    .unwrap(),
                want,
                "frame {k}"
            );
        }
        // uint16 through a negatively strided view
        let u = a.mapv(|x| (x + 20_000.0) as u16);
        let flipped = u.slice(ndarray::s![..;-1, ..]);
        let frame = Frame::native(PixelArray::U16(flipped.into_dyn()));
        let Filtered::U16(out) = median_filter(&frame, &spec).unwrap() else {
            panic!("dtype")
        };
        let ref_in = flipped.mapv(f64::from);
        assert_eq!(
            out.mapv(f64::from).into_dimensionality::<Ix2>().unwrap(),
            brute(&ref_in, 5, 4, Mode::Reflect, 0.0)
        );
    }

    #[test]
    fn c_casts_match_x86_64() {
        // values observed from scipy 1.17 on x86-64 (cval cast to the type)
        assert_eq!(i16::from_c_double(1e5), -31072);
        assert_eq!(i16::from_c_double(f64::INFINITY), 0);
        assert_eq!(u16::from_c_double(-1.0), 65535);
        assert_eq!(i32::from_c_double(f64::NAN), i32::MIN);
        assert_eq!(u32::from_c_double(5e9), 705_032_704);
        assert_eq!(u32::from_c_double(1e20), 0);
        assert_eq!(i64::from_c_double(2f64.powi(63)), i64::MIN);
        assert_eq!(i64::from_c_double(-3.7), -3);
        assert!(f32::from_c_double(1e300).is_infinite());
    }

    #[test]
    fn ni_select_selects_and_keeps_scipy_nan_order() {
        let mut v: Vec<f64> = (0..50).map(|i| f64::from((i * 37) % 50)).collect();
        for r in 0..50 {
            let mut w = v.clone();
            assert_eq!(ni_select(&mut w, r), r as f64);
        }
        // pivot NaN, traced by hand through scipy's loop: the first pass
        // swaps NaN and 1 and splits [1, 3 | NaN]; the second splits [1 | 3]
        v = vec![f64::NAN, 3.0, 1.0];
        assert_eq!(ni_select(&mut v, 1), 3.0);
    }

    #[test]
    fn nan_windows_use_scipy_selection() {
        let mut a = noise(9, 11, 5, 30);
        a[(4, 5)] = f64::NAN;
        let got = run_f64(&a, 3, 3, Mode::Nearest, 0.0);
        // windows without the NaN are the plain median
        let want = brute(&a, 3, 3, Mode::Nearest, 0.0);
        for ((i, j), &g) in got.indexed_iter() {
            let touches = (i as i64 - 4).abs() <= 1 && (j as i64 - 5).abs() <= 1;
            if touches {
                // NI_Select over the window in row-major order
                let mut w = Vec::new();
                for di in 0..3 {
                    for dj in 0..3 {
                        let r = (i + di).saturating_sub(1).min(8);
                        let c = (j + dj).saturating_sub(1).min(10);
                        w.push(a[(r, c)]);
                    }
                }
                let s = ni_select(&mut w, 4);
                assert!(g == s || (g.is_nan() && s.is_nan()));
            } else {
                assert_eq!(g, want[(i, j)]);
            }
        }
    }

    #[test]
    fn radix_sort_and_ranks_match_sorting() {
        let values: Vec<f64> = noise(50, 40, 1, 1 << 40)
            .iter()
            .enumerate()
            .map(|(i, &x)| match i % 97 {
                0 => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => f64::NEG_INFINITY,
                _ => x * 1e-3,
            })
            .collect();
        let Ranked {
            ranks,
            distinct,
            zeros,
            cval_rank,
        } = rank(&values, 7.25, Mode::Constant);
        let mut want: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        want.push(7.25);
        want.sort_by(f64::total_cmp);
        want.dedup_by(|a, b| a.to_bits() == b.to_bits());
        assert_eq!(
            distinct.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        for (r, x) in ranks.iter().zip(&values) {
            if x.is_nan() {
                assert_eq!(*r as usize, distinct.len());
            } else {
                assert_eq!(distinct[*r as usize].to_bits(), x.to_bits());
            }
        }
        assert_eq!(distinct[cval_rank as usize], 7.25);
        let (neg, pos) = zeros.unwrap();
        assert_eq!(pos, neg + 1);
        assert!(distinct[neg as usize].is_sign_negative() && distinct[pos as usize] == 0.0);
    }

    #[test]
    fn reflect_mapping_is_periodic() {
        let m = Mode::Reflect;
        let got: Vec<usize> = (-7..10).map(|c| m.map(c, 3).unwrap()).collect();
        assert_eq!(got, vec![0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2]);
        assert_eq!(Mode::Constant.map(-1, 3), None);
        assert_eq!(Mode::Nearest.map(9, 3), Some(2));
    }

    #[test]
    fn bad_parameters() {
        let a = Array2::<f64>::zeros((3, 3));
        let frame = Frame::native(PixelArray::F64(a.view().into_dyn()));
        let spec = Spec {
            rows: 0,
            cols: 3,
            mode: Mode::Nearest,
            cval: 0.0,
        };
        assert!(matches!(
            median_filter(&frame, &spec),
            Err(CoreError::InvalidParameter(_))
        ));
        let v = ndarray::Array1::<f64>::zeros(4);
        let frame = Frame::native(PixelArray::F64(v.view().into_dyn()));
        let spec = Spec { rows: 3, ..spec };
        assert!(median_filter(&frame, &spec).is_err());
        assert!(Mode::parse("wrap").is_err());
    }
}
