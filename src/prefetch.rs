//! Fetching the next pair of a batch into the cache while this one is fitted.
//!
//! A batch of small pairs is read from main memory: the first pass of each
//! pair waits for its pixels, while the second pass (from cache) leaves the
//! memory bus idle.  [`Prefetch`] spreads prefetch hints for the next pair's
//! bytes over the second pass of the current one, so that the next first pass
//! reads from the cache.  A hint never changes a result: it only moves data
//! between memory and cache.

/// Cache line size assumed for the hints (64 bytes on every current `x86_64` and
/// most ARM cores; a wrong guess only makes the hints denser or sparser).
pub(crate) const LINE: usize = 64;

/// Frames whose memory span is more than this many times their pixel bytes
/// (strided views over a much larger array) are not fetched: most of the span
/// would be bytes the fit never reads.
const MAX_SPAN_RATIO: usize = 2;

/// The memory of one frame as the hints see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Lowest address of the frame's pixels.
    pub start: usize,
    /// Bytes from the lowest to the highest addressed pixel, inclusive.
    pub bytes: usize,
    /// Bytes of the pixels themselves (less than `bytes` for strided views).
    pub data: usize,
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
    /// Hints for the memory of some frames (see `Frame::region`; frames that
    /// are empty or mostly gaps are left out).
    #[must_use]
    pub fn new(regions: &[Option<Region>]) -> Prefetch {
        let spans: Vec<(usize, usize)> = regions
            .iter()
            .flatten()
            .filter(|r| r.bytes <= MAX_SPAN_RATIO * r.data)
            .map(|r| (r.start, r.bytes))
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

    #[test]
    fn sparse_regions_are_not_fetched_and_progress_is_monotone() {
        let a: Vec<i32> = (0..4096).collect();
        let start = a.as_ptr() as usize;
        let dense = Region {
            start,
            bytes: 4096 * 4,
            data: 4096 * 4,
        };
        // every 8th element of every 8th row: a span 57 times its data
        let sparse = Region {
            start,
            bytes: 4096 * 4 - 7 * 64 * 4 - 7 * 4,
            data: 64 * 4,
        };
        let mut p = Prefetch::new(&[Some(dense), Some(sparse), None]);
        assert_eq!(p.total(), 4096 * 4);
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
        let a: Vec<i32> = (0..100).collect();
        let before = a.clone();
        let r = Region {
            start: a.as_ptr() as usize,
            bytes: 400,
            data: 400,
        };
        let mut p = Prefetch::new(&[Some(r)]);
        p.advance(1.0);
        // addresses the process does not map: a hint must not fault
        for address in [0, 8, usize::MAX - 63, 0x10, 1 << 47] {
            hint(address);
        }
        assert_eq!(a, before);
    }
}
