//! Parts of one pass on the calling thread and the threads of iuvs's own
//! rayon pool, as a guest in someone else's process.
//!
//! - **One pool, built once.**  iuvs never uses rayon's global pool (which
//!   would be shared with, and sized by, whatever else in the process uses
//!   rayon).  Its own pool is built on first use with [`threads`] threads
//!   (`RAYON_NUM_THREADS`, else the number of CPUs), rebuilt only when the
//!   user asks for another size ([`set_threads`]).  Pools asked for by size
//!   (`fit_batch(n_threads=...)`) are built once per size and kept.
//! - **Fork-safe.**  A child made by `fork()` has none of its parent's
//!   threads, so a pool inherited from the parent would wait forever for
//!   them.  Every pool remembers the process that built it; in a child the
//!   inherited pools are forgotten (never touched: their threads do not
//!   exist there) and new ones are built on first use.
//! - **No CPU between calls.**  No thread of our own: the pool's threads are
//!   rayon's, which sleep when there is no work (after a few dozen yields).
//! - **The caller never waits for a thread that has not started.**  The
//!   calling thread takes parts from a shared counter from the start; each
//!   helper job posted to the pool takes parts from the same counter when it
//!   runs.  When the caller finds no part left it withdraws the job and waits
//!   only for helpers already inside it (each finishing at most the part it
//!   holds); a helper that starts later finds the job withdrawn and returns.
//!   On a busy machine, where a pool thread may not get a CPU for
//!   milliseconds, the caller simply does all the work.
//!
//! Each result goes to the slot of its part, so the results (and whatever is
//! merged from them in part order) never depend on which thread computed
//! which part or on the number of threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{CoreError, CoreResult};

// ---- part sizes: a function of the shape only --------------------------

/// Pixels per part (at most) when a large pair is walked by several threads.
/// Parts this small (16 for a 1024 x 1024 pair) keep both threads busy to the
/// end of a pass when one of them is slow: a virtual CPU that has been idle
/// runs slowly for a while after it wakes (measured after 20 ms of work on
/// the calling thread alone: 1024 x 1024 fits 0.60x the time of 8 parts).
pub const PARALLEL_CHUNK: usize = 1 << 16;

/// Walks of more than this many pixels (and at most [`PARALLEL_CHUNK`]) are
/// split into parts of at most [`SMALL_PART`] for
/// [`map_parts_small`]: two parts up to 32768 pixels (a
/// 62 x 341 pair), four up to 65536.
pub const SMALL_SPLIT: usize = 1 << 14;

/// See [`SMALL_SPLIT`].
pub const SMALL_PART: usize = 1 << 14;

/// The part size `Walk::split` is given for a pair's walk of `len` pixels:
/// [`PARALLEL_CHUNK`] for the pool, [`SMALL_PART`] for a small frame's parts, or
/// the whole walk.  A function of the shape only, so that the sums (merged in
/// part order) never depend on the threads.
#[must_use]
pub fn part_target(len: usize) -> usize {
    if len > PARALLEL_CHUNK {
        PARALLEL_CHUNK
    } else if len >= SMALL_SPLIT {
        SMALL_PART
    } else {
        PARALLEL_CHUNK
    }
}

/// A pool and the process that built it.
struct Owned {
    pid: u32,
    pool: Arc<ThreadPool>,
}

/// The default pool and its requested size (0: rayon's default).
struct Default {
    requested: usize,
    pool: Option<Owned>,
}

static DEFAULT: Mutex<Default> = Mutex::new(Default {
    requested: 0,
    pool: None,
});

/// Pools asked for by size, `(n_threads, pool)`.
static SIZED: Mutex<Vec<(usize, Owned)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // the guarded data are plain values that a panic cannot leave half-written
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forget (never drop) a pool inherited through `fork()`: dropping would
/// signal threads that exist only in the parent.
fn forget_if_inherited(slot: &mut Option<Owned>, pid: u32) {
    if slot.as_ref().is_some_and(|o| o.pid != pid) {
        if let Some(o) = slot.take() {
            std::mem::forget(o.pool);
        }
    }
}

fn build(n: usize) -> CoreResult<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("iuvs-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| {
            CoreError::InvalidParameter(format!(
                "cannot start a pool of {n} threads ({e}); try fewer threads"
            ))
        })
}

/// The default pool, built on first use (and anew in a forked child).
///
/// # Errors
/// If the operating system refuses to start its threads.
pub fn pool() -> CoreResult<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut d = lock(&DEFAULT);
    forget_if_inherited(&mut d.pool, pid);
    if let Some(o) = &d.pool {
        return Ok(Arc::clone(&o.pool));
    }
    let pool = build(d.requested)?;
    d.pool = Some(Owned {
        pid,
        pool: Arc::clone(&pool),
    });
    Ok(pool)
}

/// A pool of exactly `n` threads, built once per size and process.
///
/// # Errors
/// `n == 0`, or the operating system refuses to start the threads.
pub fn pool_of(n: usize) -> CoreResult<Arc<ThreadPool>> {
    if n == 0 {
        return Err(CoreError::InvalidParameter(
            "n_threads must be at least 1".into(),
        ));
    }
    let pid = std::process::id();
    let mut sized = lock(&SIZED);
    if sized.iter().any(|(_, o)| o.pid != pid) {
        for (_, o) in sized.drain(..) {
            std::mem::forget(o.pool);
        }
    }
    if let Some((_, o)) = sized.iter().find(|(k, _)| *k == n) {
        return Ok(Arc::clone(&o.pool));
    }
    let pool = build(n)?;
    sized.push((
        n,
        Owned {
            pid,
            pool: Arc::clone(&pool),
        },
    ));
    Ok(pool)
}

/// Set the size of the default pool: `n` threads, or rayon's default
/// (`RAYON_NUM_THREADS`, else one per CPU) for `None`.  The old pool is
/// released once no call uses it any more; the new one is built on first use.
///
/// # Errors
/// `Some(0)`.
pub fn set_threads(n: Option<usize>) -> CoreResult<()> {
    if n == Some(0) {
        return Err(CoreError::InvalidParameter(
            "the number of threads must be at least 1 (or None for the default)".into(),
        ));
    }
    let pid = std::process::id();
    let mut d = lock(&DEFAULT);
    forget_if_inherited(&mut d.pool, pid);
    let requested = n.unwrap_or(0);
    if requested != d.requested {
        d.requested = requested;
        d.pool = None;
    }
    Ok(())
}

/// Threads of the default pool (building it if need be); 1 if it cannot be built.
#[must_use]
pub fn threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
}

/// `f(0), f(1), ..., f(n - 1)`, in part order, computed by the calling
/// thread and up to one helper per other thread of iuvs's pool (inside a
/// rayon pool's thread, a batch: by that pool's threads, nested).
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
    if rayon::current_thread_index().is_some() {
        // a thread of a pool (a batch, parallel over pairs): its own pool
        // takes the other parts, and it steals them back while it waits
        let parts = Parts::new(n);
        let work = || parts.work(&f);
        let helpers = rayon::current_num_threads().saturating_sub(1).min(n - 1);
        rayon::in_place_scope(|s| {
            for _ in 0..helpers {
                s.spawn(|_| work());
            }
            work();
        });
        return parts.results();
    }
    match pool() {
        Ok(pool) => map_parts_on(&pool, n, f),
        Err(_) => (0..n).map(&f).collect(),
    }
}

/// A small frame's parts are shared with the pool only inside a run of
/// small passes, each starting less than [`WARM`] after the last ended, that
/// has lasted [`STREAK`] already: a loop of calls, during which the pool's
/// threads stay awake (rayon's idle threads yield a few dozen times before
/// they sleep).  After a pause they sleep, and waking one costs more CPU (its
/// wake-up and idle rounds) than its share of a small frame saves: with one
/// fit per millisecond, sharing every pass burned 1.8x the CPU the fits need.
pub const WARM: Duration = Duration::from_micros(WARM_US);

/// See [`WARM`].
pub const STREAK: Duration = Duration::from_micros(STREAK_US);

const WARM_US: u64 = 100;
const STREAK_US: u64 = 2000;

/// When the last small pass ended and when its run began, in nanoseconds
/// after [`epoch`] (0: never).  Racy across threads, and harmless: they only
/// choose who computes the parts, never the parts.
static LAST_SMALL_END: AtomicU64 = AtomicU64::new(0);
static RUN_START: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// [`map_parts`] for the parts of one small frame (a (62, 341) dark pair
/// takes ~90 µs): shared with the pool in a loop of calls (see [`WARM`]),
/// computed by the calling thread alone otherwise and inside a pool thread
/// (a batch, parallel over pairs already).  The parts are the same either
/// way, so the results are too.
///
/// # Panics
/// If `f` panics.
pub fn map_parts_small<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    if n <= 1 || rayon::current_thread_index().is_some() {
        return (0..n).map(&f).collect();
    }
    let start = now_ns();
    let last = LAST_SMALL_END.load(Ordering::Relaxed);
    let in_run = last != 0 && start.saturating_sub(last) < WARM_US * 1000;
    let shared = if in_run {
        start.saturating_sub(RUN_START.load(Ordering::Relaxed)) >= STREAK_US * 1000
    } else {
        RUN_START.store(start, Ordering::Relaxed);
        false
    };
    let out = if shared {
        map_parts(n, f)
    } else {
        (0..n).map(&f).collect()
    };
    LAST_SMALL_END.store(now_ns(), Ordering::Relaxed);
    out
}

/// The calling thread and `pool`'s threads take parts from one counter.
fn map_parts_on<T, F>(pool: &ThreadPool, n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    // the caller is one of the threads the user allowed
    let helpers = pool.current_num_threads().saturating_sub(1).min(n - 1);
    if helpers == 0 {
        return (0..n).map(&f).collect();
    }
    let parts = Parts::new(n);
    let work = || parts.work(&f);
    let job: Job<'_> = &work;
    let post = Arc::new(Post {
        job: AtomicPtr::new(std::ptr::from_ref(&job).cast_mut().cast()),
        active: AtomicUsize::new(0),
    });
    {
        // withdraws the job when the caller is done, also while unwinding
        let _withdraw = Withdraw(&post);
        for _ in 0..helpers {
            let post = Arc::clone(&post);
            pool.spawn(move || post.help());
        }
        work();
    }
    parts.results()
}

/// A job as a helper sees it: the caller's work loop, type-erased.
type Job<'a> = &'a (dyn Fn() + Sync);

/// One call's job, shared with the helpers it posted.
struct Post {
    /// A `*const Job` on the caller's stack, or null once withdrawn.
    job: AtomicPtr<()>,
    /// Helpers inside the job.
    active: AtomicUsize,
}

impl Post {
    /// Run the job if it is still posted.
    fn help(&self) {
        // claim first, then read the job: the caller withdraws it (stores
        // null) before it waits for `active` to reach zero, so a job read
        // after our claim stays valid until we release the claim
        self.active.fetch_add(1, Ordering::SeqCst);
        let p = self.job.load(Ordering::SeqCst);
        if !p.is_null() {
            #[allow(unsafe_code)]
            // SAFETY: `p` points to a `Job` on the stack of `map_parts_on`,
            // read after our claim.  That frame withdraws it (`Withdraw`, also
            // on unwinding) and then waits until `active` is zero before it
            // ends, so the `Job` and everything it borrows outlive this call.
            // Tested by `helpers_run_on_pool_threads`, `a_panicking_part_...`
            // and `many_callers_at_once`.
            let job: Job<'_> = unsafe { *p.cast::<Job<'_>>() };
            // a panic is the caller's to see (its part stays empty); the
            // claim must be released in any case
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Withdraws a posted job when dropped and waits for the helpers inside it.
struct Withdraw<'p>(&'p Post);

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.0.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        let mut spins = 0_u32;
        while self.0.active.load(Ordering::SeqCst) != 0 {
            // a helper finishes the part it holds (microseconds)
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
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
            *lock(&self.slots[i]) = Some(value);
        }
    }

    /// The results in part order.
    fn results(self) -> Vec<T> {
        self.slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .expect("a part was not computed (a helper panicked)")
            })
            .collect()
    }
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
            let got = map_parts_small(n, |i| i + 7);
            assert_eq!(got, (0..n).map(|i| i + 7).collect::<Vec<_>>());
        }
    }

    #[test]
    fn inside_a_pool_and_with_one_thread() {
        let pool = ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(
            pool.install(|| map_parts(5, |i| i + 1)),
            vec![1, 2, 3, 4, 5]
        );
        let pool = ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        // nested: parts of parts, as a batch of large pairs does
        let got = pool.install(|| map_parts(4, |i| map_parts(3, |j| 10 * i + j)));
        assert_eq!(got[3], vec![30, 31, 32]);
        assert_eq!(pool.install(|| map_parts_small(3, |i| i)), vec![0, 1, 2]);
        // a one-thread pool of our own: the caller alone
        let one = pool_of(1).unwrap();
        assert_eq!(map_parts_on(&one, 4, |i| i * 2), vec![0, 2, 4, 6]);
    }

    #[test]
    fn helpers_run_on_pool_threads() {
        let pool = pool_of(3).unwrap();
        let me = std::thread::current().id();
        let mut helped = false;
        for _ in 0..200 {
            let ids = map_parts_on(&pool, 16, |_| {
                std::thread::sleep(Duration::from_micros(300));
                std::thread::current().id()
            });
            assert_eq!(ids.len(), 16);
            if ids.iter().any(|&id| id != me) {
                helped = true;
                break;
            }
        }
        assert!(helped);
    }

    #[test]
    fn many_callers_at_once() {
        let data: Vec<Vec<u64>> = (0..4).map(|k| (0..1000).map(|i| i * k).collect()).collect();
        let pool = pool_of(2).unwrap();
        std::thread::scope(|sc| {
            for d in &data {
                let pool = Arc::clone(&pool);
                sc.spawn(move || {
                    for _ in 0..300 {
                        let sums = map_parts_on(&pool, 8, |i| {
                            d[i * 125..(i + 1) * 125].iter().sum::<u64>()
                        });
                        assert_eq!(sums.iter().sum::<u64>(), d.iter().sum::<u64>());
                    }
                });
            }
        });
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_pool_lives_on() {
        let pool = pool_of(2).unwrap();
        for _ in 0..20 {
            let r = catch_unwind(AssertUnwindSafe(|| {
                map_parts_on(&pool, 8, |i| {
                    std::thread::sleep(Duration::from_micros(50));
                    assert!(i != 5, "part 5");
                })
            }));
            assert!(r.is_err());
        }
        assert_eq!(map_parts_on(&pool, 4, |i| i + 1), vec![1, 2, 3, 4]);
    }

    #[test]
    fn pools_are_built_once_per_size() {
        let a = pool_of(2).unwrap();
        let b = pool_of(2).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 2);
        assert!(pool_of(0).is_err());
        assert!(set_threads(Some(0)).is_err());
        let p1 = pool().unwrap();
        let p2 = pool().unwrap();
        assert!(Arc::ptr_eq(&p1, &p2));
    }
}
