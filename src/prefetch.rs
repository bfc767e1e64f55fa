//! Fetching the next pair of a batch into the cache while this one is fitted.
//!
//! A batch of small pairs is read from main memory: the first pass of each
//! pair waits for its pixels, while the second pass (from cache) leaves the
//! memory bus idle.  [`Prefetch`] spreads prefetch hints for the next pair's
//! bytes over the second pass of the current one, so that the next first pass
//! reads from the cache.  A hint never changes a result: it only moves data
//! between memory and cache.

use crate::view::{Frame, PixelArray};

/// Cache line size assumed for the hints (64 bytes on every current `x86_64` and
/// most ARM cores; a wrong guess only makes the hints denser or sparser).
pub(crate) const LINE: usize = 64;

/// Frames whose memory span is more than this many times their pixel bytes
/// (strided views over a much larger array) are not fetched: most of the span
/// would be bytes the fit never reads.
const MAX_SPAN_RATIO: usize = 2;

/// The byte range `(start address, length)` a frame's pixels lie in, from the
/// lowest to the highest addressed element whatever the signs of the strides;
/// `None` for an empty frame.
#[must_use]
pub fn span(frame: &Frame<'_>) -> Option<(usize, usize)> {
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
    match &frame.data {
        PixelArray::I16(v) => of!(v),
        PixelArray::U16(v) => of!(v),
        PixelArray::I32(v) => of!(v),
        PixelArray::U32(v) => of!(v),
        PixelArray::I64(v) => of!(v),
        PixelArray::F32(v) => of!(v),
        PixelArray::F64(v) => of!(v),
    }
}

/// Bytes per pixel of a frame.
fn item_size(frame: &Frame<'_>) -> usize {
    match &frame.data {
        PixelArray::I16(_) | PixelArray::U16(_) => 2,
        PixelArray::I32(_) | PixelArray::U32(_) | PixelArray::F32(_) => 4,
        PixelArray::I64(_) | PixelArray::F64(_) => 8,
    }
}

/// Prefetch hints for a set of frames, issued a portion at a time.
#[derive(Debug, Clone, Default)]
pub struct Prefetch {
    /// `(start, bytes)` of every frame to fetch.
    spans: Vec<(usize, usize)>,
    /// Bytes of all spans together.
    total: usize,
    /// Bytes hinted so far (over the spans in order).
    done: usize,
}

impl Prefetch {
    /// Hints for `frames` (frames that are empty or mostly gaps are left out).
    #[must_use]
    pub fn new(frames: &[&Frame<'_>]) -> Prefetch {
        let spans: Vec<(usize, usize)> = frames
            .iter()
            .filter_map(|f| {
                let (start, bytes) = span(f)?;
                let data = f.len() * item_size(f);
                (bytes <= MAX_SPAN_RATIO * data).then_some((start, bytes))
            })
            .collect();
        let total = spans.iter().map(|s| s.1).sum();
        Prefetch {
            spans,
            total,
            done: 0,
        }
    }

    /// Bytes to hint in all.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Hint everything up to the fraction `progress` (0..=1) of the bytes.
    pub fn advance(&mut self, progress: f64) {
        let goal = if progress >= 1.0 {
            self.total
        } else if progress > 0.0 {
            // truncation is fine: a fraction of a line is hinted with the next call
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let g = (progress * self.total as f64) as usize;
            g.min(self.total)
        } else {
            0
        };
        let mut offset = 0;
        for &(start, bytes) in &self.spans {
            let (lo, hi) = (self.done.max(offset), goal.min(offset + bytes));
            let mut at = lo;
            while at < hi {
                hint(start.wrapping_add(at - offset));
                at += LINE;
            }
            offset += bytes;
        }
        self.done = self.done.max(goal);
    }
}

/// Ask the processor to bring the cache line at `address` into the L2 cache.
#[allow(unsafe_code)] // a prefetch hint; see SAFETY
#[inline]
pub(crate) fn hint(address: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        // SAFETY: PREFETCHT1 is a hint with no architectural effect: it does
        // not read memory as far as the program can observe, never faults
        // (not even for an unmapped or invalid address) and changes no
        // register.  SSE, which it needs, is part of the x86_64 baseline.
        // Tested by `hints_over_real_and_unmapped_addresses_are_harmless`.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(address as *const i8) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = address;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, ArrayD, IxDyn};

    fn frame(a: &ArrayD<i32>) -> Frame<'_> {
        Frame::native(PixelArray::I32(a.view()))
    }

    #[test]
    fn span_of_contiguous_strided_and_reversed_views() {
        let a = ArrayD::from_shape_vec(IxDyn(&[4, 10]), (0..40).collect()).unwrap();
        let base = a.as_ptr() as usize;
        assert_eq!(span(&frame(&a)), Some((base, 160)));
        // rows 0 and 2, columns 1..9: from element 1 to element 28 inclusive
        let v = a.slice(s![..;2, 1..9]).into_dyn();
        let f = Frame::native(PixelArray::I32(v));
        assert_eq!(span(&f), Some((base + 4, 28 * 4)));
        // a negative stride starts at the lowest address, not at the first element
        let r = a.slice(s![..;-1, ..]).into_dyn();
        let f = Frame::native(PixelArray::I32(r));
        assert_eq!(span(&f), Some((base, 160)));
        // Fortran order: the same bytes
        let t = Array2::from_shape_vec((4, 10), (0..40).collect::<Vec<i32>>()).unwrap();
        let ft = t.t().into_dyn();
        let f = Frame::native(PixelArray::I32(ft));
        assert_eq!(span(&f), Some((t.as_ptr() as usize, 160)));
        let e = ArrayD::<i32>::zeros(IxDyn(&[0, 3]));
        assert_eq!(span(&frame(&e)), None);
    }

    #[test]
    fn sparse_views_are_not_fetched_and_progress_is_monotone() {
        let a = ArrayD::from_shape_vec(IxDyn(&[64, 64]), (0..4096).collect()).unwrap();
        let sparse = a.slice(s![..;8, ..;8]).into_dyn();
        let fs = Frame::native(PixelArray::I32(sparse));
        let fa = frame(&a);
        let p = Prefetch::new(&[&fa, &fs]);
        assert_eq!(p.total(), 4096 * 4);
        let mut p = p;
        p.advance(0.5);
        assert_eq!(p.done, 8192);
        p.advance(0.25); // never goes back
        assert_eq!(p.done, 8192);
        p.advance(f64::NAN);
        assert_eq!(p.done, 8192);
        p.advance(2.0);
        assert_eq!(p.done, p.total());
    }

    #[test]
    fn hints_over_real_and_unmapped_addresses_are_harmless() {
        let a = ArrayD::from_shape_vec(IxDyn(&[100]), (0..100).collect()).unwrap();
        let before = a.clone();
        let mut p = Prefetch::new(&[&frame(&a)]);
        p.advance(1.0);
        // addresses the process does not map: a hint must not fault
        for address in [0, 8, usize::MAX - 63, 0x10, 1 << 47] {
            hint(address);
        }
        assert_eq!(a, before);
    }
}
