//! Read-only pixel views over every supported dtype, byte order and memory
//! layout, and the one block walker that every pixel loop goes through.
//!
//! Arrays are never copied: a block of at most [`BLOCK`] pixels is loaded into
//! a small `f64` buffer (byte-swapping on the fly for big-endian data) and the
//! numerical kernels work on those buffers, so they exist once, not once per
//! dtype.  Before walking, all arrays of a call get the same axis permutation,
//! axis inversion and axis merging (chosen from the first array's strides), so
//! Fortran-ordered, negatively strided or transposed inputs are walked in memory
//! order while pixels of different arrays stay paired by their logical index.

use multiversion::multiversion;
use ndarray::{s, ArrayView, ArrayViewD, Axis, Dimension, Ix2};

use crate::error::{CoreError, CoreResult};
use crate::prefetch::{hint, Region, LINE};
use crate::scratch::Aligned;

/// Pixels per block.  The columns of a block (and the statistics pass's
/// `1 / y` and `t` buffers) stay in L2; larger blocks amortise the per-block
/// work (dispatch, lane totals, accumulator merges): 8192 was 6-13 % faster
/// than 1024 from 62 x 341 to 1024 x 1024 pairs and in batches; 16384 was no
/// faster until frames of 16384 to 65536 pixels were split in two or four
/// parts (`fit::SMALL_SPLIT`), where a part of a 62 x 341 pair (10571 pixels)
/// is then one block instead of two (batches of such pairs 0.97-0.99x).
pub const BLOCK: usize = 16384;

/// A pixel type the core reads.
pub trait Pixel: Copy + Send + Sync + 'static {
    /// numpy name of the dtype.
    const DTYPE: &'static str;
    /// Widen to `f64` (exact for every type but `i64` beyond 2^53).
    fn to_f64(self) -> f64;
    /// Reverse the byte order (for big-endian FITS data read as native).
    #[must_use]
    fn swap(self) -> Self;
}

macro_rules! int_pixel {
    ($($t:ty => $name:literal),*) => {$(
        impl Pixel for $t {
            const DTYPE: &'static str = $name;
            #[inline]
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn swap(self) -> Self { self.swap_bytes() }
        }
    )*};
}
int_pixel!(i16 => "int16", u16 => "uint16", i32 => "int32", u32 => "uint32", i64 => "int64");

impl Pixel for f32 {
    const DTYPE: &'static str = "float32";
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn swap(self) -> Self {
        f32::from_bits(self.to_bits().swap_bytes())
    }
}

impl Pixel for f64 {
    const DTYPE: &'static str = "float64";
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn swap(self) -> Self {
        f64::from_bits(self.to_bits().swap_bytes())
    }
}

/// A typed read-only view of any supported dtype.
#[derive(Debug, Clone)]
pub enum PixelArray<'a> {
    I16(ArrayViewD<'a, i16>),
    U16(ArrayViewD<'a, u16>),
    I32(ArrayViewD<'a, i32>),
    U32(ArrayViewD<'a, u32>),
    I64(ArrayViewD<'a, i64>),
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
}

/// Apply `$body` to the typed view inside a [`PixelArray`], re-wrapping the
/// result in the same variant when `$wrap` is given.
macro_rules! dispatch {
    ($arr:expr, $v:ident => $body:expr) => {
        match $arr {
            PixelArray::I16($v) => $body,
            PixelArray::U16($v) => $body,
            PixelArray::I32($v) => $body,
            PixelArray::U32($v) => $body,
            PixelArray::I64($v) => $body,
            PixelArray::F32($v) => $body,
            PixelArray::F64($v) => $body,
        }
    };
    (wrap $arr:expr, $v:ident => $body:expr) => {
        match $arr {
            PixelArray::I16($v) => PixelArray::I16($body),
            PixelArray::U16($v) => PixelArray::U16($body),
            PixelArray::I32($v) => PixelArray::I32($body),
            PixelArray::U32($v) => PixelArray::U32($body),
            PixelArray::I64($v) => PixelArray::I64($body),
            PixelArray::F32($v) => PixelArray::F32($body),
            PixelArray::F64($v) => PixelArray::F64($body),
        }
    };
}

impl PixelArray<'_> {
    /// Shape of the view.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        dispatch!(self, v => v.shape())
    }

    /// Strides of the view, in elements.
    #[must_use]
    pub fn strides(&self) -> &[isize] {
        dispatch!(self, v => v.strides())
    }

    /// numpy dtype name.
    #[must_use]
    pub fn dtype(&self) -> &'static str {
        fn name<T: Pixel>(_: &ArrayViewD<'_, T>) -> &'static str {
            T::DTYPE
        }
        dispatch!(self, v => name(v))
    }
}

/// One input array and whether its bytes must be swapped on load.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The typed view.
    pub data: PixelArray<'a>,
    /// True when the data are in non-native byte order (read as native and swapped on load).
    pub swapped: bool,
}

impl<'a> Frame<'a> {
    /// A frame in native byte order.
    #[must_use]
    pub fn native(data: PixelArray<'a>) -> Self {
        Frame {
            data,
            swapped: false,
        }
    }

    /// The frames along the first axis (`frame[i]` for every `i`), as views
    /// of the same pixels: a stack of frames, split without copying.
    #[must_use]
    pub fn outer(&self) -> Vec<Frame<'a>> {
        let n = if self.shape().is_empty() {
            0
        } else {
            self.shape()[0]
        };
        (0..n)
            .map(|i| Frame {
                data: dispatch!(wrap self.data.clone(), v => v.index_axis_move(Axis(0), i)),
                swapped: self.swapped,
            })
            .collect()
    }

    /// Shape of the frame.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The same frame re-borrowed for a shorter lifetime (to sit beside local arrays).
    #[must_use]
    pub fn reborrow(&self) -> Frame<'_> {
        // ndarray views are invariant in their lifetime, so each variant re-views explicitly
        let data = match &self.data {
            PixelArray::I16(v) => PixelArray::I16(v.view()),
            PixelArray::U16(v) => PixelArray::U16(v.view()),
            PixelArray::I32(v) => PixelArray::I32(v.view()),
            PixelArray::U32(v) => PixelArray::U32(v.view()),
            PixelArray::I64(v) => PixelArray::I64(v.view()),
            PixelArray::F32(v) => PixelArray::F32(v.view()),
            PixelArray::F64(v) => PixelArray::F64(v.view()),
        };
        Frame {
            data,
            swapped: self.swapped,
        }
    }

    /// Number of pixels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True if the frame has no pixels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte range `(start address, length)` a frame's pixels lie in, from the
    /// lowest to the highest addressed element whatever the signs of the strides;
    /// `None` for an empty frame.
    #[must_use]
    pub fn span(&self) -> Option<(usize, usize)> {
        macro_rules! of {
            ($v:expr) => {{
                let v = $v;
                if v.is_empty() {
                    return None;
                }
                let item = std::mem::size_of_val(v.first()?);
                let mut low: isize = 0;
                let mut high: isize = 0;
                for (&n, &s) in v.shape().iter().zip(v.strides()) {
                    // n >= 1 here (the view is not empty)
                    let reach = isize::try_from(n - 1).ok()? * s;
                    if reach < 0 {
                        low += reach;
                    } else {
                        high += reach;
                    }
                }
                let start =
                    (v.as_ptr() as usize).wrapping_add_signed(low * isize::try_from(item).ok()?);
                let bytes = usize::try_from(high - low).ok()? * item + item;
                Some((start, bytes))
            }};
        }
        match &self.data {
            PixelArray::I16(v) => of!(v),
            PixelArray::U16(v) => of!(v),
            PixelArray::I32(v) => of!(v),
            PixelArray::U32(v) => of!(v),
            PixelArray::I64(v) => of!(v),
            PixelArray::F32(v) => of!(v),
            PixelArray::F64(v) => of!(v),
        }
    }

    /// The frame's memory for cache hints (`None` for an empty frame).
    #[must_use]
    pub fn region(&self) -> Option<Region> {
        let (start, bytes) = self.span()?;
        let item = match &self.data {
            PixelArray::I16(_) | PixelArray::U16(_) => 2,
            PixelArray::I32(_) | PixelArray::U32(_) | PixelArray::F32(_) => 4,
            PixelArray::I64(_) | PixelArray::F64(_) => 8,
        };
        Some(Region {
            start,
            bytes,
            data: self.len() * item,
        })
    }
}

impl<'a> From<ArrayViewD<'a, f64>> for Frame<'a> {
    fn from(v: ArrayViewD<'a, f64>) -> Self {
        Frame::native(PixelArray::F64(v))
    }
}

/// The same re-arrangement of axes for every array of one call.
#[derive(Debug, Clone, Default)]
struct Layout {
    /// Axes of length one, removed (highest index first).
    drop: Vec<usize>,
    /// Axes (after dropping) to invert because the leading array's stride is negative.
    invert: Vec<usize>,
    /// Permutation putting the leading array's largest stride first.
    perm: Vec<usize>,
}

impl Layout {
    fn from_lead(shape: &[usize], strides: &[isize]) -> Layout {
        let mut drop: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == 1).collect();
        drop.reverse();
        let kept: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] != 1).collect();
        let kept_strides: Vec<isize> = kept.iter().map(|&i| strides[i]).collect();
        let invert: Vec<usize> = (0..kept.len()).filter(|&i| kept_strides[i] < 0).collect();
        let mut perm: Vec<usize> = (0..kept.len()).collect();
        perm.sort_by_key(|&i| std::cmp::Reverse(kept_strides[i].unsigned_abs()));
        Layout { drop, invert, perm }
    }

    fn apply<'a, T>(&self, mut v: ArrayViewD<'a, T>) -> ArrayViewD<'a, T> {
        for &ax in &self.drop {
            v = v.index_axis_move(Axis(ax), 0);
        }
        for &ax in &self.invert {
            v.invert_axis(Axis(ax));
        }
        let mut v = v.permuted_axes(self.perm.clone());
        if v.ndim() == 0 {
            v = v.insert_axis(Axis(0));
        }
        v
    }
}

/// Whether a walk led by an array of this shape and these strides visits the
/// pixels in logical (C) order, so that the k-th pixel walked is the k-th in
/// C order.
#[must_use]
pub(crate) fn walks_in_c_order(shape: &[usize], strides: &[isize]) -> bool {
    let l = Layout::from_lead(shape, strides);
    l.invert.is_empty() && l.perm.iter().enumerate().all(|(i, &p)| i == p)
}

fn can_merge(shape: &[usize], strides: &[isize], outer: usize) -> bool {
    isize::try_from(shape[outer + 1]).is_ok_and(|len| strides[outer] == strides[outer + 1] * len)
}

fn merge_into<T>(v: ArrayViewD<'_, T>, outer: usize) -> ArrayViewD<'_, T> {
    let mut v = v;
    let merged = v.merge_axes(Axis(outer), Axis(outer + 1));
    debug_assert!(merged, "merge_axes refused a merge that can_merge allowed");
    v.index_axis_move(Axis(outer), 0)
}

/// Arrays of one call, re-arranged identically and ready to walk.
#[derive(Debug, Clone)]
pub struct Walk<'a> {
    frames: Vec<Frame<'a>>,
    mask: Option<ArrayViewD<'a, bool>>,
    /// The pixels walked, `[start, end)` in walk order: the whole frames, or
    /// one part of a [`Walk::split`].
    range: (usize, usize),
}

/// Buffers handed to a block visitor: one `f64` column per frame and the mask.
#[derive(Debug)]
pub struct Block {
    /// One buffer per frame (64-byte aligned); only the first `len` entries
    /// are meaningful.
    pub cols: Vec<Aligned>,
    /// Mask values (True = excluded); all false when no mask was given.
    pub mask: Vec<bool>,
    /// Number of pixels in this block.
    pub len: usize,
}

impl<'a> Walk<'a> {
    /// Prepare a walk over `frames` (all of the same shape) and an optional mask.
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] if the shapes differ (callers normally check
    /// first, with the user's names for the arrays).
    pub fn new(frames: &[Frame<'a>], mask: Option<&ArrayViewD<'a, bool>>) -> CoreResult<Walk<'a>> {
        let Some(lead) = frames.first() else {
            return Err(CoreError::InvalidParameter("no array to walk".into()));
        };
        let shape = lead.shape().to_vec();
        for f in &frames[1..] {
            if f.shape() != shape.as_slice() {
                return Err(CoreError::ShapeMismatch {
                    what_a: "first array",
                    a: shape,
                    what_b: "second array",
                    b: f.shape().to_vec(),
                });
            }
        }
        if let Some(m) = mask {
            if m.shape() != shape.as_slice() {
                return Err(CoreError::ShapeMismatch {
                    what_a: "the data",
                    a: shape,
                    what_b: "mask",
                    b: m.shape().to_vec(),
                });
            }
        }
        let layout = Layout::from_lead(&shape, lead.data.strides());
        let mut frames: Vec<Frame<'a>> = frames
            .iter()
            .map(|f| Frame {
                data: dispatch!(wrap f.data.clone(), v => layout.apply(v)),
                swapped: f.swapped,
            })
            .collect();
        let mut mask = mask.map(|m| layout.apply(m.clone()));
        // Merge neighbouring axes wherever every array allows it (never for empty arrays).
        let mut outer = if shape.contains(&0) {
            0
        } else {
            frames[0].data.shape().len()
        };
        while outer >= 2 {
            outer -= 1;
            let ax = outer - 1;
            let ok = frames
                .iter()
                .all(|f| can_merge(f.data.shape(), f.data.strides(), ax))
                && mask
                    .as_ref()
                    .is_none_or(|m| can_merge(m.shape(), m.strides(), ax));
            if ok {
                for f in &mut frames {
                    f.data = dispatch!(wrap f.data.clone(), v => merge_into(v, ax));
                }
                mask = mask.map(|m| merge_into(m, ax));
            }
        }
        let total = frames[0].len();
        Ok(Walk {
            frames,
            mask,
            range: (0, total),
        })
    }

    /// Number of pixels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.range.1 - self.range.0
    }

    /// Whether the walk covers the whole frames (not one part of a split).
    fn whole(&self) -> bool {
        self.range == (0, self.frames[0].len())
    }

    /// True when a mask was given.
    #[must_use]
    pub fn has_mask(&self) -> bool {
        self.mask.is_some()
    }

    /// The frames' pixels as plain slices when every frame is native,
    /// contiguous `f64` (after the walk's re-arrangement) and there is no
    /// mask: those can be handed to a pass without copying into blocks.
    #[must_use]
    pub fn contiguous_f64(&self) -> Option<Vec<&'a [f64]>> {
        if self.mask.is_some() {
            return None;
        }
        let (lo, hi) = self.range;
        self.frames
            .iter()
            .map(|f| match &f.data {
                PixelArray::F64(v) if !f.swapped => v.clone().to_slice().map(|s| &s[lo..hi]),
                _ => None,
            })
            .collect()
    }

    /// True when every frame holds integers (which are never NaN or infinite).
    #[must_use]
    pub fn all_integer(&self) -> bool {
        self.frames
            .iter()
            .all(|f| !matches!(f.data, PixelArray::F32(_) | PixelArray::F64(_)))
    }

    /// True if there are no pixels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Split into consecutive parts of at most about `target` pixels, in walk
    /// order, as equal in size as pixels allow (a frame of 1.04 `target`
    /// becomes two halves, not a whole part and a sliver that leaves a thread
    /// idle).  The number of parts is a power of two, so that it divides
    /// evenly among 2, 4, 8, ... threads: 5 parts on 2 threads take as long
    /// as 6.  The split depends only on the number of pixels, never on the
    /// number of threads or the memory layout: a strided view and its
    /// contiguous copy are cut at the same pixels, and each part's blocks
    /// start where the part starts, so the two are summed in the same blocks.
    #[must_use]
    pub fn split(&self, target: usize) -> Vec<Walk<'a>> {
        let len = self.len();
        if len <= target.max(1) {
            return vec![self.clone()];
        }
        let n_parts = len.div_ceil(target.max(1)).next_power_of_two().min(len);
        // k * len / n_parts without overflow for any array that fits in memory
        #[allow(clippy::cast_possible_truncation)]
        let at = |k: usize| self.range.0 + (k as u128 * len as u128 / n_parts as u128) as usize;
        (0..n_parts)
            .map(|k| Walk {
                frames: self.frames.clone(),
                mask: self.mask.clone(),
                range: (at(k), at(k + 1)),
            })
            .collect()
    }

    /// Shape after re-arrangement (for tests).
    #[must_use]
    pub fn walk_shape(&self) -> Vec<usize> {
        self.frames[0].shape().to_vec()
    }

    /// Every pixel of frame `col`, as `f64` in walk order (the order of
    /// [`Walk::for_each_block`]), written to `out` (as long as the walk)
    /// without passing through blocks.
    ///
    /// # Panics
    /// If `col` is not a frame of the walk or `out` is shorter than the walk.
    pub fn fill(&self, col: usize, out: &mut [f64]) {
        assert!(out.len() >= self.len(), "fill buffer too short");
        if !self.whole() {
            // one part of a split: through its blocks
            let mut pos = 0;
            self.for_each_block(&mut |b| {
                out[pos..pos + b.len].copy_from_slice(&b.cols[col][..b.len]);
                pos += b.len;
            });
            return;
        }
        let f = &self.frames[col];
        let mut pos = 0;
        fill_rec(&f.data, f.swapped, out, &mut pos);
    }

    /// Visit every pixel in blocks of at most [`BLOCK`], in memory order of the first array.
    pub fn for_each_block(&self, visit: &mut dyn FnMut(&Block)) {
        let size = self.len().min(BLOCK);
        // the columns are written before they are read: pooled, not zeroed
        let mut block = Block {
            cols: (0..self.frames.len())
                .map(|_| Aligned::take(size))
                .collect(),
            mask: vec![false; size],
            len: 0,
        };
        let datas: Vec<(PixelArray<'_>, bool)> = self
            .frames
            .iter()
            .map(|f| (f.data.clone(), f.swapped))
            .collect();
        walk_rec(&datas, self.mask.as_ref(), self.range, &mut block, visit);
        if block.len > 0 {
            visit(&block);
        }
        for col in block.cols {
            col.give();
        }
    }
}

/// Walk the pixels `range` (in walk order) of `datas`.
fn walk_rec(
    datas: &[(PixelArray<'_>, bool)],
    mask: Option<&ArrayViewD<'_, bool>>,
    range: (usize, usize),
    block: &mut Block,
    visit: &mut dyn FnMut(&Block),
) {
    let shape = datas[0].0.shape();
    if range.1 <= range.0 {
        return;
    }
    if shape.len() == 1 {
        // a lane is a walk of one row
        let row: Vec<(PixelArray<'_>, bool)> = datas
            .iter()
            .map(|(d, s)| (dispatch!(wrap d, v => v.clone().insert_axis(Axis(0))), *s))
            .collect();
        let mask = mask.map(|m| m.clone().insert_axis(Axis(0)));
        walk_rows(&row, mask.as_ref(), range, block, visit);
        return;
    }
    if shape.len() == 2 {
        walk_rows(datas, mask, range, block, visit);
        return;
    }
    // the sub-arrays along the outer axis that hold pixels of the range
    let sub_len: usize = shape[1..].iter().product();
    if sub_len == 0 {
        return;
    }
    for i in range.0 / sub_len..range.1.div_ceil(sub_len).min(shape[0]) {
        let base = i * sub_len;
        let sub_range = (range.0.saturating_sub(base), (range.1 - base).min(sub_len));
        let sub: Vec<(PixelArray<'_>, bool)> = datas
            .iter()
            .map(|(d, s)| (dispatch!(wrap d, v => v.index_axis(Axis(0), i)), *s))
            .collect();
        let sub_mask = mask.map(|m| m.index_axis(Axis(0), i));
        walk_rec(&sub, sub_mask.as_ref(), sub_range, block, visit);
    }
}

/// The rows of a 2-d walk, packed into full blocks: the walk order is
/// unchanged and a strided view is summed in the same blocks as its
/// contiguous copy (one long row), so short rows do not multiply the
/// per-block work.  The row segments of a block are listed first, then each
/// frame is converted through one fixed-dimension view per block: a strided
/// frame (a slice of a cube) has many short rows, and a dynamic-dimension
/// sub-view per row and frame cost more than the conversion of the row.
fn walk_rows(
    datas: &[(PixelArray<'_>, bool)],
    mask: Option<&ArrayViewD<'_, bool>>,
    range: (usize, usize),
    block: &mut Block,
    visit: &mut dyn FnMut(&Block),
) {
    let shape = datas[0].0.shape();
    let (rows, n) = (shape[0], shape[1]);
    let stop = range.1.min(rows * n);
    if rows == 0 || n == 0 || stop <= range.0 {
        return; // no pixels (and blocks of length 0, which would never fill)
    }
    let full = block.mask.len();
    // the mask has the frames' shape (checked by `Walk::new`, laid out with them)
    let mask = mask.map(|m| {
        let Ok(m) = m.view().into_dimensionality::<Ix2>() else {
            unreachable!("a walk's mask has the shape of its frames");
        };
        m
    });
    // (row, start, end) of each run of the block being filled
    let mut segs: Vec<(usize, usize, usize)> = Vec::new();
    // from the first pixel of the range to its last: rows, then the pixels
    // within the first and the last row
    let (mut row, mut start) = (range.0 / n, range.0 % n);
    while row * n + start < stop {
        segs.clear();
        let base = block.len;
        let mut off = base;
        while off < full && row * n + start < stop {
            let end = (start + (full - off)).min(n).min(stop - row * n);
            segs.push((row, start, end));
            off += end - start;
            if end == n {
                row += 1;
                start = 0;
            } else {
                start = end;
            }
        }
        for ((data, swapped), col) in datas.iter().zip(block.cols.iter_mut()) {
            dispatch!(data, v => fill_segments(v, *swapped, &segs, &mut col[base..off]));
        }
        let dst = &mut block.mask[base..off];
        match &mask {
            Some(m) => {
                let mut o = 0;
                for &(r, a, b) in &segs {
                    copy_mask(&m.slice(s![r, a..b]), &mut dst[o..o + (b - a)]);
                    o += b - a;
                }
            }
            None => dst.fill(false),
        }
        block.len = off;
        if block.len == full {
            visit(block);
            block.len = 0;
        }
    }
}

/// Convert the `(row, start, end)` runs of a 2-d view, one after another, into `out`.
fn fill_segments<T: Pixel>(
    v: &ArrayViewD<'_, T>,
    swapped: bool,
    segs: &[(usize, usize, usize)],
    out: &mut [f64],
) {
    let Ok(v) = v.view().into_dimensionality::<Ix2>() else {
        unreachable!("walk_rows is called for 2-d frames only");
    };
    // rows apart in memory (a strided view: every other row of a cube, a
    // sub-rectangle) of a large frame: the hardware prefetchers, which stop
    // at page bounds, restart on every row, so hint the same run AHEAD rows
    // further down (small frames come from the cache, where hints only cost)
    let item = std::mem::size_of::<T>();
    let gap = v.strides()[0].unsigned_abs() * item > v.ncols() * item + LINE
        && v.len() * item > HINT_BYTES;
    let mut o = 0;
    for &(r, a, b) in segs {
        convert_view(&v.slice(s![r, a..b]), swapped, &mut out[o..o + (b - a)]);
        o += b - a;
        if gap && r + AHEAD < v.nrows() && b > a {
            let ahead = v.slice(s![r + AHEAD, a..b]);
            let first = ahead.as_ptr() as usize;
            let bytes = (b - a) * item;
            for at in (0..bytes).step_by(LINE) {
                hint(first.wrapping_add(at));
            }
        }
    }
}

/// Rows ahead of the one being converted whose bytes are hinted into the cache
/// in a walk over rows that lie apart in memory (about 32 KiB ahead for rows
/// of 1,000 int32 pixels).
const AHEAD: usize = 8;

/// Frames of at least this many bytes get the row hints of `fill_segments`
/// (the parts of a split walk are pixel ranges of the whole frame, so they
/// share its decision): frames from memory, but not a frame of a few tens of
/// KiB, which comes from the cache.
const HINT_BYTES: usize = 1 << 17;

/// Walk frames have at least one axis (`Layout::apply` adds one to a 0-d
/// array): rows are converted straight into `out`, in walk order.
fn fill_rec(data: &PixelArray<'_>, swapped: bool, out: &mut [f64], pos: &mut usize) {
    let shape = data.shape();
    if shape.len() == 1 {
        let n = shape[0];
        dispatch!(data, v => convert_view(v, swapped, &mut out[*pos..*pos + n]));
        *pos += n;
        return;
    }
    if shape.len() == 2 {
        // rows through one fixed-dimension view (see `walk_rows`)
        let n = shape[0] * shape[1];
        dispatch!(data, v => fill_rows(v, swapped, &mut out[*pos..*pos + n]));
        *pos += n;
        return;
    }
    for i in 0..shape[0] {
        let sub = dispatch!(wrap data, v => v.index_axis(Axis(0), i));
        fill_rec(&sub, swapped, out, pos);
    }
}

/// Convert the rows of a 2-d view, one after another, into `out`.
fn fill_rows<T: Pixel>(v: &ArrayViewD<'_, T>, swapped: bool, out: &mut [f64]) {
    let Ok(v) = v.view().into_dimensionality::<Ix2>() else {
        unreachable!("fill_rows is called for 2-d frames only");
    };
    let n = v.ncols();
    for (row, dst) in v.rows().into_iter().zip(out.chunks_exact_mut(n.max(1))) {
        convert_view(&row, swapped, dst);
    }
}

/// Widen (and byte-swap) a contiguous run; compiled for AVX2 too.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx512bw",
    "x86_64+avx2+fma",
    "x86_64+avx"
))]
fn convert<T: Pixel>(s: &[T], swapped: bool, out: &mut [f64]) {
    if swapped {
        for (o, &p) in out.iter_mut().zip(s) {
            *o = p.swap().to_f64();
        }
    } else {
        for (o, &p) in out.iter_mut().zip(s) {
            *o = p.to_f64();
        }
    }
}

/// Convert a 1-d view into `out`: a contiguous one with [`convert`], any
/// other element by element.
fn convert_view<T: Pixel, D: Dimension>(
    part: &ArrayView<'_, T, D>,
    swapped: bool,
    out: &mut [f64],
) {
    if let Some(s) = part.as_slice() {
        convert(s, swapped, out);
    } else if swapped {
        for (o, &p) in out.iter_mut().zip(part.iter()) {
            *o = p.swap().to_f64();
        }
    } else {
        for (o, &p) in out.iter_mut().zip(part.iter()) {
            *o = p.to_f64();
        }
    }
}

/// Copy a 1-d mask view into `dst`.
fn copy_mask<D: Dimension>(part: &ArrayView<'_, bool, D>, dst: &mut [bool]) {
    match part.as_slice() {
        Some(src) => dst.copy_from_slice(src),
        None => {
            for (d, &s) in dst.iter_mut().zip(part.iter()) {
                *d = s;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
mod tests {
    use super::*;
    use ndarray::{s, Array, ArrayD, IxDyn, ShapeBuilder};

    #[test]
    fn span_of_contiguous_strided_and_reversed_views() {
        let frame = |a: &ArrayD<i32>| Frame::native(PixelArray::I32(a.view())).span();
        let a = ArrayD::from_shape_vec(IxDyn(&[4, 10]), (0..40).collect()).unwrap();
        let base = a.as_ptr() as usize;
        assert_eq!(frame(&a), Some((base, 160)));
        // rows 0 and 2, columns 1..9: from element 1 to element 28 inclusive
        let v = a.slice(s![..;2, 1..9]).into_dyn();
        let f = Frame::native(PixelArray::I32(v));
        assert_eq!(f.span(), Some((base + 4, 28 * 4)));
        assert_eq!(f.region().map(|r| r.data), Some(16 * 4));
        // a negative stride starts at the lowest address, not at the first element
        let r = a.slice(s![..;-1, ..]).into_dyn();
        assert_eq!(Frame::native(PixelArray::I32(r)).span(), Some((base, 160)));
        // Fortran order: the same bytes
        let t = ndarray::Array2::from_shape_vec((4, 10), (0..40).collect::<Vec<i32>>()).unwrap();
        let ft = t.t().into_dyn();
        let f = Frame::native(PixelArray::I32(ft));
        assert_eq!(f.span(), Some((t.as_ptr() as usize, 160)));
        let e = ArrayD::<i32>::zeros(IxDyn(&[0, 3]));
        assert_eq!(frame(&e), None);
        assert_eq!(Frame::native(PixelArray::I32(e.view())).region(), None);
    }

    #[test]
    fn outer_splits_a_stack_into_views_of_its_frames() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3, 2, 4]), (0..24).collect::<Vec<i32>>()).unwrap();
        let f = Frame {
            data: PixelArray::I32(a.view()),
            swapped: true,
        };
        let frames = f.outer();
        assert_eq!(frames.len(), 3);
        for (i, g) in frames.iter().enumerate() {
            assert!(g.swapped);
            assert_eq!(g.shape(), &[2, 4]);
            let PixelArray::I32(v) = &g.data else {
                panic!("dtype changed")
            };
            // a view of the same pixels, not a copy
            assert_eq!(v.as_ptr(), a.as_ptr().wrapping_add(8 * i));
            let want: Vec<i32> = (0..8).map(|k| i32::try_from(8 * i + k).unwrap()).collect();
            assert_eq!(v.iter().copied().collect::<Vec<_>>(), want);
        }
        // a reversed stack: frames in the view's order
        let r = a.slice(s![..;-1, .., ..]).into_dyn();
        let fr = Frame::native(PixelArray::I32(r)).outer();
        let PixelArray::I32(v) = &fr[0].data else {
            panic!("dtype changed")
        };
        assert_eq!(v[[0, 0]], 16);
        // empty stacks and 0-d arrays have no frames
        let e = ArrayD::<i32>::zeros(IxDyn(&[0, 2, 2]));
        assert!(Frame::native(PixelArray::I32(e.view())).outer().is_empty());
        let z = ArrayD::<i32>::zeros(IxDyn(&[]));
        assert!(Frame::native(PixelArray::I32(z.view())).outer().is_empty());
    }

    fn collect(walk: &Walk<'_>) -> Vec<Vec<f64>> {
        let mut out = vec![Vec::new(); walk.frames.len()];
        walk.for_each_block(&mut |b: &Block| {
            for (o, c) in out.iter_mut().zip(&b.cols) {
                o.extend_from_slice(&c[..b.len]);
            }
        });
        out
    }

    #[test]
    fn fill_gives_the_walk_order_of_the_blocks() {
        let a: ArrayD<i32> = ArrayD::from_shape_fn(IxDyn(&[7, 300, 3]), |i| {
            i32::try_from(i[0] * 1000 + i[1] * 3 + i[2]).unwrap()
        });
        let swapped_bytes: ArrayD<i32> = a.mapv(i32::swap_bytes);
        let f = Array::from_shape_vec((7, 900).f(), (0..6300).map(f64::from).collect()).unwrap();
        // 2-d, rows longer than a block
        let long: ArrayD<i32> = ArrayD::from_shape_fn(IxDyn(&[9, 2 * BLOCK + 5]), |i| {
            i32::try_from(i[0] * 10_000 + i[1]).unwrap()
        });
        let views: Vec<Frame<'_>> = vec![
            Frame::native(PixelArray::I32(long.slice(s![..;2, 1..]).into_dyn())),
            Frame::native(PixelArray::I32(a.view())),
            Frame::native(PixelArray::I32(a.slice(s![.., ..;2, 1..]).into_dyn())),
            Frame::native(PixelArray::I32(a.slice(s![..;-1, .., ..]).into_dyn())),
            Frame {
                data: PixelArray::I32(swapped_bytes.view()),
                swapped: true,
            },
            Frame::from(f.view().into_dyn()),
        ];
        for (k, v) in views.iter().enumerate() {
            let w = Walk::new(std::slice::from_ref(v), None).unwrap();
            let mut out = vec![f64::NAN; w.len()];
            w.fill(0, &mut out);
            assert_eq!(out, collect(&w).remove(0), "view {k}");
        }
        // a 0-d array is walked as one value
        let z = ArrayD::from_elem(IxDyn(&[]), 7_i32);
        let w = Walk::new(&[Frame::native(PixelArray::I32(z.view()))], None).unwrap();
        let mut out = vec![f64::NAN; 1];
        w.fill(0, &mut out);
        assert_eq!(out, vec![7.0]);
    }

    #[test]
    fn swapped_values_are_restored() {
        let native: Vec<i32> = vec![1, -2, 70000, i32::MAX, i32::MIN];
        let raw: Vec<i32> = native.iter().map(|v| v.swap_bytes()).collect();
        let a = ArrayD::from_shape_vec(IxDyn(&[5]), raw).unwrap();
        let f = Frame {
            data: PixelArray::I32(a.view()),
            swapped: true,
        };
        let w = Walk::new(&[f], None).unwrap();
        let got = collect(&w);
        let want: Vec<f64> = native.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(got[0], want);

        let fl: Vec<f32> = vec![1.5, -0.25, f32::NAN];
        let raw: Vec<f32> = fl
            .iter()
            .map(|v| f32::from_bits(v.to_bits().swap_bytes()))
            .collect();
        let a = ArrayD::from_shape_vec(IxDyn(&[3]), raw).unwrap();
        let f = Frame {
            data: PixelArray::F32(a.view()),
            swapped: true,
        };
        let got = collect(&Walk::new(&[f], None).unwrap());
        assert_eq!(got[0][..2], [1.5, -0.25]);
        assert!(got[0][2].is_nan());
    }

    #[test]
    fn pairs_stay_paired_across_layouts() {
        // x in Fortran order, y in C order, same logical values: y = 10 * x.
        let c: Array<f64, _> =
            Array::from_shape_fn((7, 5, 3), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
        let f_order: Array<f64, _> =
            Array::from_shape_fn((7, 5, 3).f(), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
        let y = c.mapv(|v| v * 10.0).into_dyn();
        let x = f_order.into_dyn();
        let w = Walk::new(&[Frame::from(x.view()), Frame::from(y.view())], None).unwrap();
        let got = collect(&w);
        assert_eq!(got[0].len(), 105);
        for (a, b) in got[0].iter().zip(&got[1]) {
            assert_eq!(*b, a * 10.0);
        }
        // x Fortran order is walked in its memory order: first values vary along axis 0.
        assert_eq!(&got[0][..3], &[0.0, 100.0, 200.0]);
    }

    #[test]
    fn strided_negative_and_merged_views() {
        let base: Array<f64, _> =
            Array::from_shape_fn((4, 6, 10), |(i, j, k)| (i * 1000 + j * 10 + k) as f64);
        let view = base.slice(s![.., ..;2, 2..9;-1]).into_dyn();
        let want: Vec<f64> = view.iter().copied().collect();
        let w = Walk::new(&[Frame::from(view.clone())], None).unwrap();
        let mut got = collect(&w).remove(0);
        let mut want_sorted = want.clone();
        got.sort_by(f64::total_cmp);
        want_sorted.sort_by(f64::total_cmp);
        assert_eq!(got, want_sorted);
        // A contiguous 3-D array is merged into one lane.
        let cont = base.clone().into_dyn();
        let w = Walk::new(&[Frame::from(cont.view())], None).unwrap();
        assert_eq!(w.walk_shape(), vec![240]);
    }

    #[test]
    fn zero_d_and_unit_axes() {
        let a = ArrayD::from_elem(IxDyn(&[]), 3.0_f64);
        let w = Walk::new(&[Frame::from(a.view())], None).unwrap();
        assert_eq!(collect(&w)[0], vec![3.0]);
        let b = ArrayD::from_elem(IxDyn(&[1, 1, 5, 1]), 2.0_f64);
        let w = Walk::new(&[Frame::from(b.view())], None).unwrap();
        assert_eq!(w.walk_shape(), vec![5]);
    }

    #[test]
    fn mask_follows_its_pixel() {
        let x: Array<f64, _> = Array::from_shape_fn((3, 4).f(), |(i, j)| (i * 4 + j) as f64);
        let m: Array<bool, _> = Array::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) % 3 == 0);
        let (x, m) = (x.into_dyn(), m.into_dyn());
        let w = Walk::new(&[Frame::from(x.view())], Some(&m.view())).unwrap();
        let mut n = 0;
        w.for_each_block(&mut |b: &Block| {
            for i in 0..b.len {
                assert_eq!(b.mask[i], (b.cols[0][i] as usize).is_multiple_of(3));
                n += 1;
            }
        });
        assert_eq!(n, 12);
    }

    /// Every block of a walk: its length, columns and mask.
    fn blocks(walk: &Walk<'_>) -> Vec<(usize, Vec<Vec<f64>>, Vec<bool>)> {
        let mut out = Vec::new();
        walk.for_each_block(&mut |b: &Block| {
            let cols = b.cols.iter().map(|c| c[..b.len].to_vec()).collect();
            out.push((b.len, cols, b.mask[..b.len].to_vec()));
        });
        out
    }

    #[test]
    fn rows_of_strided_views_fill_the_blocks_of_their_contiguous_copies() {
        // rows shorter than, as long as and longer than a block, every other
        // row of a cube, a column off, two dtypes (one byte-swapped), a mask:
        // the same blocks, values and mask bits as the contiguous copies
        // (61, 341) and (120, 700) are large enough for `fill_segments`'s row hints
        for (rows, cols) in [
            (61, 341),
            (120, 700),
            (9, BLOCK),
            (5, 2 * BLOCK + 9),
            (300, 3),
            (3, 0),
        ] {
            let cube = Array::from_shape_fn((2 * rows, cols + 1), |(i, j)| {
                i16::try_from((i * 7 + j * 3) % 30_000).unwrap()
            });
            let sx = cube.slice(s![..;2, 1..]).into_dyn();
            let swapped = sx.mapv(i16::swap_bytes);
            let y = Array::from_shape_fn((2 * rows, cols + 1), |(i, j)| (i * j) as f64 * 0.5);
            let sy = y.slice(s![1..;2, ..cols]).into_dyn();
            let m = Array::from_shape_fn((2 * rows, cols + 3), |(i, j)| (i + 2 * j) % 5 == 0);
            let sm = m.slice(s![..;2, 3..]).into_dyn();
            let frames = [
                Frame {
                    data: PixelArray::I16(swapped.view()),
                    swapped: true,
                },
                Frame::from(sy.view()),
            ];
            let strided = Walk::new(&frames, Some(&sm)).unwrap();
            let (cx, cy) = (sx.as_standard_layout(), sy.as_standard_layout());
            let cm = sm.as_standard_layout();
            let copies = [
                Frame::native(PixelArray::I16(cx.view())),
                Frame::from(cy.view()),
            ];
            let contiguous = Walk::new(&copies, Some(&cm.view())).unwrap();
            assert_eq!(blocks(&strided), blocks(&contiguous), "{rows} x {cols}");
            assert_eq!(strided.len(), rows * cols);
        }
    }

    #[test]
    fn long_lanes_are_split_into_blocks() {
        let a: ArrayD<f64> = ArrayD::from_shape_fn(IxDyn(&[2 * BLOCK + 7]), |i| i[0] as f64);
        let w = Walk::new(&[Frame::from(a.view())], None).unwrap();
        let mut lens = Vec::new();
        w.for_each_block(&mut |b: &Block| lens.push(b.len));
        assert_eq!(lens, vec![BLOCK, BLOCK, 7]);
    }

    #[test]
    fn split_covers_every_pixel_once_in_order() {
        let a: ArrayD<f64> = ArrayD::from_shape_fn(IxDyn(&[10 * BLOCK + 3]), |i| i[0] as f64);
        let w = Walk::new(&[Frame::from(a.view())], None).unwrap();
        let parts = w.split(3 * BLOCK);
        assert_eq!(parts.len(), 4);
        let got: Vec<f64> = parts.iter().flat_map(|p| collect(p).remove(0)).collect();
        assert_eq!(got, collect(&w).remove(0));
        assert_eq!(w.split(usize::MAX).len(), 1);
        // balanced: 10 * BLOCK + 3 pixels in parts of at most ~3 * BLOCK are four
        // parts of 2.5 * BLOCK, not three of 3 * BLOCK and a sliver of BLOCK + 3
        let lens: Vec<usize> = parts.iter().map(Walk::len).collect();
        let n = 10 * BLOCK + 3;
        assert_eq!(
            lens,
            vec![n / 4, n / 2 - n / 4, 3 * n / 4 - n / 2, n - 3 * n / 4]
        );
        // a contiguous 133 x 1024 frame: two equal halves
        let b = ArrayD::<f64>::from_shape_fn(IxDyn(&[133, 1024]), |i| (i[0] * 1024 + i[1]) as f64);
        let w = Walk::new(&[Frame::from(b.view())], None).unwrap();
        let lens: Vec<usize> = w.split(1 << 17).iter().map(Walk::len).collect();
        assert_eq!(lens, vec![68096, 68096]);
        // a strided view (axes that cannot merge) is cut at the same pixels as its
        // contiguous copy, in the middle of a row: 133 rows of 511, parts of
        // about 1 << 14 pixels are 8 parts, the first of 8496 pixels (16 rows and
        // 320 pixels of the 17th)
        let v = b.slice(s![.., 1..512]).into_dyn();
        let copy = v.to_owned();
        let w = Walk::new(&[Frame::from(v.clone())], None).unwrap();
        let wc = Walk::new(&[Frame::from(copy.view())], None).unwrap();
        let (parts, copies) = (w.split(1 << 14), wc.split(1 << 14));
        assert_eq!(parts.len(), 8);
        assert_eq!(parts[0].len(), 133 * 511 / 8);
        for (p, c) in parts.iter().zip(&copies) {
            assert_eq!(collect(p), collect(c));
        }
        let got: Vec<f64> = parts.iter().flat_map(|p| collect(p).remove(0)).collect();
        assert_eq!(got, v.iter().copied().collect::<Vec<_>>());
        // the same for a 3-d cube's view (sub-arrays skipped and cut), parts of
        // parts, and `fill` of a part
        let cube = ArrayD::<f64>::from_shape_fn(IxDyn(&[3, 40, 30]), |i| {
            (i[0] * 1200 + i[1] * 30 + i[2]) as f64
        });
        let cv = cube.slice(s![.., ..;2, 1..]).into_dyn();
        let w = Walk::new(&[Frame::from(cv.clone())], None).unwrap();
        let want: Vec<f64> = cv.iter().copied().collect();
        for target in [1, 7, 29, 100, 1000] {
            let parts: Vec<Walk<'_>> = w
                .split(target)
                .iter()
                .flat_map(|p| p.split(target / 2 + 1))
                .collect();
            let got: Vec<f64> = parts.iter().flat_map(|p| collect(p).remove(0)).collect();
            assert_eq!(got, want, "target {target}");
            let mut filled = Vec::new();
            for p in &parts {
                let mut out = vec![f64::NAN; p.len()];
                p.fill(0, &mut out);
                filled.extend(out);
            }
            assert_eq!(filled, want, "target {target}");
        }
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
        let b = ArrayD::<f64>::zeros(IxDyn(&[3, 2]));
        let err = Walk::new(&[Frame::from(a.view()), Frame::from(b.view())], None).unwrap_err();
        assert!(matches!(err, CoreError::ShapeMismatch { .. }));
    }
}
