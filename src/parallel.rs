//! Parts of one pass on several threads, the calling thread among them.
//!
//! `rayon`'s `par_iter` hands the whole job to the pool and parks the calling
//! thread until it is done.  On a virtual machine whose CPUs idle between
//! calls (a notebook, a script that reads a file between fits), the pool's
//! threads then start on CPUs that wake slowly, while the CPU that just ran
//! the caller sits idle.  Here the calling thread takes parts from a shared
//! counter from the start, and helpers on the pool take parts from the same
//! counter as soon as they run; a helper that starts after the last part is
//! taken has nothing to do.  Each result goes to the slot of its part, so
//! the results (and whatever is merged from them in order) do not depend on
//! which thread computed which part.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f(0), f(1), ..., f(n - 1)`, computed by the calling thread and up to
/// one helper per other thread of the current rayon pool, in part order.
///
/// # Panics
/// If `f` panics (the panic is resumed on the calling thread).
pub fn map_parts<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    if n <= 1 {
        return (0..n).map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let value = f(i);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some(value);
        }
    };
    let helpers = rayon::current_num_threads().saturating_sub(1).min(n - 1);
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .expect("every part is computed once")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_once_in_order() {
        for n in [0, 1, 2, 3, 16, 257] {
            let calls = AtomicUsize::new(0);
            let got = map_parts(n, |i| {
                calls.fetch_add(1, Ordering::Relaxed);
                i * i
            });
            assert_eq!(got, (0..n).map(|i| i * i).collect::<Vec<_>>());
            assert_eq!(calls.load(Ordering::Relaxed), n);
        }
    }

    #[test]
    fn inside_a_pool_and_with_one_thread() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| map_parts(5, |i| i + 1)),
            vec![1, 2, 3, 4, 5]
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // nested: parts of parts, as a batch of large pairs does
        let got = pool.install(|| map_parts(4, |i| map_parts(3, |j| 10 * i + j)));
        assert_eq!(got[3], vec![30, 31, 32]);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| map_parts(8, |i| assert!(i != 5, "part 5")));
        assert!(r.is_err());
    }
}
