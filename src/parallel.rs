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
//!
//! Frames too small for the pool (a (62, 341) dark pair takes ~90 µs; handing
//! work to a pool thread and waiting for it costs 20-45 µs on this kind of
//! machine) use [`map_parts_small`] instead: one helper thread of our own that
//! spins for [`SPIN`] after each job, so that calls in a loop find it awake,
//! and otherwise parks.  The caller never waits for it to wake: it takes parts
//! itself from the start, and withdraws the job when none are left.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

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
    let parts = Parts::new(n);
    let work = || parts.work(&f);
    let helpers = rayon::current_num_threads().saturating_sub(1).min(n - 1);
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
    parts.results()
}

/// Parts taken from a shared counter, each result in the slot of its part.
struct Parts<T> {
    next: AtomicUsize,
    slots: Vec<Mutex<Option<T>>>,
}

impl<T> Parts<T> {
    fn new(n: usize) -> Self {
        Parts {
            next: AtomicUsize::new(0),
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Compute parts until none is left.
    fn work<F: Fn(usize) -> T>(&self, f: &F) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.slots.len() {
                break;
            }
            let value = f(i);
            if let Ok(mut slot) = self.slots[i].lock() {
                *slot = Some(value);
            }
        }
    }

    /// The results in part order.
    fn results(self) -> Vec<T> {
        self.slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .ok()
                    .flatten()
                    .expect("every part is computed once")
            })
            .collect()
    }
}

/// How long the helper of [`map_parts_small`] keeps looking for work after
/// its last job before it parks (OpenMP runtimes spin for 200 ms by default;
/// this is enough for the next call of a loop).
pub const SPIN: Duration = Duration::from_micros(300);

/// A job as the helper sees it: the caller's work loop, type-erased.
type Job<'a> = &'a (dyn Fn() + Sync);

/// The one helper thread of [`map_parts_small`] and its job slot.
struct Spinner {
    /// A caller holds the slot (other callers run alone meanwhile).
    busy: AtomicBool,
    /// The published job: a `*const Job` on the caller's stack, or null.
    job: AtomicPtr<()>,
    /// Helpers inside the published job.
    active: AtomicUsize,
    /// Jobs published so far (a new job may sit at the address of the last).
    seq: AtomicUsize,
    /// The helper, to unpark.
    thread: Thread,
}

impl Spinner {
    /// The helper's loop: run whatever job is published, spin for [`SPIN`]
    /// after the last one, then park until a caller unparks it.
    fn serve(&self) {
        let mut idle_since = Instant::now();
        loop {
            if self.job.load(Ordering::SeqCst).is_null() {
                if idle_since.elapsed() < SPIN {
                    // gives the CPU to any other thread that wants it (a syscall
                    // of well under a microsecond when none does)
                    std::thread::yield_now();
                } else {
                    // a caller unparks it after publishing a job
                    std::thread::park_timeout(Duration::from_secs(1));
                    // the job that woke us is under way on its caller's warm
                    // CPU, while ours has been idle: leave it, take the next
                    let woken_by = self.seq.load(Ordering::SeqCst);
                    while !self.job.load(Ordering::SeqCst).is_null()
                        && self.seq.load(Ordering::SeqCst) == woken_by
                    {
                        std::thread::yield_now();
                    }
                    idle_since = Instant::now();
                }
                continue;
            }
            // claim first, then read the job again: a caller withdraws its
            // job (stores null) before it waits for `active` to reach zero, so
            // a job read after our claim stays valid until we release it
            self.active.fetch_add(1, Ordering::SeqCst);
            let seq = self.seq.load(Ordering::SeqCst);
            let p = self.job.load(Ordering::SeqCst);
            if !p.is_null() {
                #[allow(unsafe_code)]
                // SAFETY: `p` was published by `map_parts_small` as a pointer to
                // a `Job` on its stack, and read here after our claim; the caller
                // withdraws it and then waits for `active` to drop to zero before
                // that stack frame ends (also when it unwinds: `Withdraw`), so
                // the `Job` and everything it borrows outlive this call.
                let job: Job<'_> = unsafe { *p.cast::<Job<'_>>() };
                // a panic is the caller's to see (its part stays empty); this
                // thread must live on and release its claim
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            self.active.fetch_sub(1, Ordering::SeqCst);
            // do not claim the finished job again and again while its caller
            // collects the results (until it is withdrawn or another published)
            while !self.job.load(Ordering::SeqCst).is_null()
                && self.seq.load(Ordering::SeqCst) == seq
            {
                std::hint::spin_loop();
            }
            idle_since = Instant::now();
        }
    }
}

/// The helper, started on first use; `None` if no thread could be started
/// (then every caller runs alone).
fn spinner() -> Option<&'static Spinner> {
    static SPINNER: OnceLock<Option<&'static Spinner>> = OnceLock::new();
    *SPINNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<&'static Spinner>();
        let handle = std::thread::Builder::new()
            .name("iuvs-helper".into())
            .spawn(move || {
                if let Ok(s) = rx.recv() {
                    s.serve();
                }
            })
            .ok()?;
        let s: &'static Spinner = Box::leak(Box::new(Spinner {
            busy: AtomicBool::new(false),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            seq: AtomicUsize::new(0),
            thread: handle.thread().clone(),
        }));
        tx.send(s).ok()?;
        Some(s)
    })
}

/// Withdraws a published job when dropped (also while unwinding) and waits
/// until no helper is inside it, then frees the slot.
struct Withdraw<'s>(&'s Spinner);

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.0.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        while self.0.active.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// [`map_parts`] for work too small for the rayon pool: the calling thread
/// and the helper thread take parts from a shared counter.  Inside a rayon
/// worker (a batch, which is parallel over pairs already), when the global
/// pool has a single thread (`RAYON_NUM_THREADS=1`), when the helper is busy
/// with another caller, or when it cannot be started, the caller computes
/// every part alone, in order.  The results never depend on who
/// computed which part.
///
/// # Panics
/// If `f` panics (on the caller, or on the helper: then its part is missing).
pub fn map_parts_small<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let alone = || (0..n).map(&f).collect();
    // the thread budget is the rayon pool's: `RAYON_NUM_THREADS=1` (one
    // process per core, say) means one thread here too
    if n <= 1 || rayon::current_thread_index().is_some() || rayon::current_num_threads() < 2 {
        return alone();
    }
    let Some(spinner) = spinner() else {
        return alone();
    };
    if spinner
        .busy
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return alone();
    }
    let parts = Parts::new(n);
    let work = || parts.work(&f);
    {
        let job: Job<'_> = &work;
        let withdraw = Withdraw(spinner);
        spinner.seq.fetch_add(1, Ordering::SeqCst);
        spinner
            .job
            .store(std::ptr::from_ref(&job).cast_mut().cast(), Ordering::SeqCst);
        spinner.thread.unpark();
        work();
        drop(withdraw);
    }
    parts.results()
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
    fn small_parts_every_part_once_in_order_from_any_thread() {
        for n in [0, 1, 2, 4, 7, 64] {
            let calls = AtomicUsize::new(0);
            let got = map_parts_small(n, |i| {
                calls.fetch_add(1, Ordering::Relaxed);
                std::hint::black_box(i * 3)
            });
            assert_eq!(got, (0..n).map(|i| i * 3).collect::<Vec<_>>());
            assert_eq!(calls.load(Ordering::Relaxed), n);
        }
        // several callers at once (the helper serves one, the others run alone),
        // each borrowing its own data, many times over
        let data: Vec<Vec<u64>> = (0..4).map(|k| (0..1000).map(|i| i * k).collect()).collect();
        std::thread::scope(|sc| {
            for d in &data {
                sc.spawn(move || {
                    for _ in 0..200 {
                        let sums =
                            map_parts_small(8, |i| d[i * 125..(i + 1) * 125].iter().sum::<u64>());
                        assert_eq!(sums.iter().sum::<u64>(), d.iter().sum::<u64>());
                    }
                });
            }
        });
        // inside a rayon worker: the caller alone
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| map_parts_small(3, |i| i)), vec![0, 1, 2]);
    }

    #[test]
    fn the_helper_really_takes_parts() {
        // parts slow enough that the spinning helper joins: some part is computed
        // off the calling thread (the helper is started, then given time to spin)
        let _ = map_parts_small(2, |i| i);
        let me = std::thread::current().id();
        let mut helped = false;
        // (other tests may be using the helper meanwhile: then this caller runs alone)
        for _ in 0..2000 {
            let ids = map_parts_small(8, |_| {
                std::thread::sleep(Duration::from_micros(200));
                std::thread::current().id()
            });
            if ids.iter().any(|&id| id != me) {
                helped = true;
                break;
            }
        }
        assert!(helped);
    }

    #[test]
    fn a_panicking_small_part_reaches_the_caller_and_the_helper_lives_on() {
        for _ in 0..20 {
            let r = std::panic::catch_unwind(|| {
                map_parts_small(8, |i| {
                    std::thread::sleep(Duration::from_micros(50));
                    assert!(i != 5, "part 5");
                })
            });
            assert!(r.is_err());
        }
        assert_eq!(map_parts_small(4, |i| i + 1), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| map_parts(8, |i| assert!(i != 5, "part 5")));
        assert!(r.is_err());
    }
}
