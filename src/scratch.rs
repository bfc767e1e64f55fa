//! Reusable per-thread buffers: the block columns of a walk, and the
//! frame-sized buffers of the paths that gather pixels (robust and weighted
//! fits).  A fresh buffer of a frame's size is fresh memory from the
//! operating system on every call (the allocator returns large blocks when
//! they are freed), and touching it costs a page fault per 4 KiB, which for a
//! 62 x 341 frame is a large part of a clipped fit.  Buffers up to
//! [`MAX_POOLED`] elements are kept for the next call on the same thread;
//! larger frames allocate afresh (and pay the page faults), so that a thread
//! never keeps more than a few tens of MiB.

use std::cell::RefCell;

/// Largest buffer kept (elements): 2 MiB of `f64`, enough for a full IUVS
/// frame (133 x 1024) while bounding what a thread keeps (at most
/// `POOL_LEN` buffers, 16 MiB in the worst case).
pub const MAX_POOLED: usize = 1 << 18;

/// Buffers kept per thread.
const POOL_LEN: usize = 8;

thread_local! {
    static F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// An empty `f64` buffer with room for `cap` elements.
#[must_use]
pub fn take_f64(cap: usize) -> Vec<f64> {
    take(&F64, cap, true)
}

/// An `f64` buffer of `len` elements whose values are unspecified (left from
/// an earlier use, or zero): for buffers that are written before they are
/// read, without zeroing them on every call.
#[must_use]
pub fn take_f64_len(len: usize) -> Vec<f64> {
    let mut v = take(&F64, len, false);
    v.resize(len, 0.0);
    v
}

/// Return an `f64` buffer for reuse.
pub fn give_f64(v: Vec<f64>) {
    give(&F64, v);
}

fn take<T>(
    pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<T>>>>,
    cap: usize,
    clear: bool,
) -> Vec<T> {
    let found = pool.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|v| v.capacity() >= cap)?;
        Some(p.swap_remove(i))
    });
    let mut v = found.unwrap_or_else(|| Vec::with_capacity(cap));
    if clear {
        v.clear();
    }
    v
}

fn give<T>(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<T>>>>, v: Vec<T>) {
    if v.capacity() == 0 || v.capacity() > MAX_POOLED {
        return;
    }
    pool.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_LEN {
            p.push(v);
        }
    });
}

/// Slots an [`Aligned`] buffer may skip to reach a 64-byte boundary.
const ALIGN_SLACK: usize = 8;

/// A pooled `f64` buffer of `len` slots that starts on a 64-byte boundary:
/// whole-register (8-lane) loads and stores of it never straddle two cache
/// lines, which on this hardware made the kernels that read several such
/// buffers a few per cent slower.  Derefs to its `len` slots.
#[derive(Debug)]
pub struct Aligned {
    buf: Vec<f64>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// A buffer of `len` slots (their values are unspecified: write before reading).
    #[must_use]
    pub fn take(len: usize) -> Aligned {
        let buf = take_f64_len(len + ALIGN_SLACK);
        let start = buf.as_ptr().align_offset(64).min(ALIGN_SLACK);
        Aligned { buf, start, len }
    }

    /// Return the buffer to this thread's pool.
    pub fn give(self) {
        give_f64(self.buf);
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f64] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_start_on_64_bytes_and_have_their_length() {
        for len in [0, 1, 7, 8, 1000, 1025] {
            let mut a = Aligned::take(len);
            assert_eq!(a.len(), len);
            assert_eq!((a.as_ptr() as usize) % 64, 0, "len {len}");
            a.fill(2.5);
            assert!(a.iter().all(|&v| v == 2.5));
            a.give();
        }
    }

    #[test]
    fn buffers_are_reused_empty_and_large_ones_dropped() {
        let mut a = take_f64(1000);
        a.extend([1.0, 2.0]);
        let ptr = a.as_ptr();
        give_f64(a);
        let b = take_f64(500);
        assert!(b.is_empty() && b.capacity() >= 1000);
        assert_eq!(b.as_ptr(), ptr);
        give_f64(b);
        let big = take_f64(MAX_POOLED + 1);
        give_f64(big);
        let c = take_f64(MAX_POOLED + 1);
        assert!(c.capacity() > MAX_POOLED);
        let many: Vec<Vec<f64>> = (0..2 * POOL_LEN).map(|_| take_f64(10)).collect();
        for v in many {
            give_f64(v);
        }
        F64.with(|p| assert!(p.borrow().len() <= POOL_LEN));
        // a buffer taken by length keeps its values where it has them (on a
        // fresh thread, so that the pool holds only this buffer)
        std::thread::spawn(|| {
            let mut d = take_f64_len(8);
            d.copy_from_slice(&[7.0; 8]);
            give_f64(d);
            let e = take_f64_len(4);
            assert_eq!(e, vec![7.0; 4]);
            give_f64(e);
            let f = take_f64_len(12);
            assert_eq!(f.len(), 12);
        })
        .join()
        .unwrap();
    }
}
