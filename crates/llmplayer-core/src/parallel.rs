//! A small persistent thread pool: `pool.run(n_tasks, |task| ...)` runs every task index once,
//! spread over the pool's threads and the calling thread, and returns when all are done.
//!
//! Workers are spawned once and wait between jobs (a short spin, then a condvar), so the
//! per-call cost is a wake-up, not a spawn: decode calls `run` for every mat-vec. Tasks are
//! claimed from an atomic counter, so uneven tasks balance themselves. The caller waits only
//! for workers that joined the job, never for one that has not woken up yet: when other work
//! holds the cores, a descheduled worker would otherwise stall every call (measured before
//! this rule: 2-thread decode fell to a quarter of its speed with one of two cores taken).
//! A panic in a task is re-raised on the calling thread after all threads have stopped
//! touching the job.
//!
//! On wasm32 there are no threads: the pool runs every task inline on the caller.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The work of one `run` call, shared by reference with the workers.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n_tasks: usize,
    next: AtomicUsize,
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
impl Job<'_> {
    /// Claims and runs tasks until none are left; returns the first panic payload, if any.
    fn work(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let mut panic = None;
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n_tasks {
                return panic;
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.f)(i)));
            if let Err(p) = r {
                // Stop handing out tasks; keep the first payload.
                self.next.store(self.n_tasks, Ordering::Relaxed);
                panic.get_or_insert(p);
            }
        }
    }
}

fn run_inline(n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    (0..n_tasks).for_each(f);
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::Job;
    use std::any::Any;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread::JoinHandle;

    /// Spin iterations a worker polls for the next job before sleeping.
    const SPIN: u32 = 1 << 14;

    #[derive(Clone, Copy)]
    struct JobPtr(*const Job<'static>);
    // SAFETY: the pointee is Sync and outlives every use (see `Workers::run`).
    unsafe impl Send for JobPtr {}

    struct Ctl {
        job: Option<JobPtr>,
        epoch: u64,
        shutdown: bool,
        panic: Option<Box<dyn Any + Send>>,
    }

    struct Shared {
        ctl: Mutex<Ctl>,
        work_cv: Condvar,
        done_cv: Condvar,
        /// Mirror of `ctl.epoch` for lock-free polling.
        epoch: AtomicU64,
        /// Workers inside the current job. They join under `ctl`'s lock and only while
        /// `ctl.job` is set, so once the caller has cleared it the count can only fall.
        active: AtomicUsize,
    }

    pub(super) struct Workers {
        shared: Arc<Shared>,
        handles: Vec<JoinHandle<()>>,
    }

    impl Workers {
        pub(super) fn spawn(n: usize) -> Workers {
            let shared = Arc::new(Shared {
                ctl: Mutex::new(Ctl { job: None, epoch: 0, shutdown: false, panic: None }),
                work_cv: Condvar::new(),
                done_cv: Condvar::new(),
                epoch: AtomicU64::new(0),
                active: AtomicUsize::new(0),
            });
            let handles = (0..n)
                .map(|i| {
                    let s = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name(format!("llmplayer-pool-{i}"))
                        .spawn(move || worker(&s))
                        .expect("failed to spawn pool thread")
                })
                .collect();
            Workers { shared, handles }
        }

        pub(super) fn count(&self) -> usize {
            self.handles.len()
        }

        pub(super) fn run(&self, job: &Job<'_>) {
            let s = &*self.shared;
            {
                let mut ctl = s.ctl.lock().unwrap();
                // SAFETY (lifetime erasure): we do not return before the job is cleared and
                // `active` is 0, i.e. before every worker that took the pointer is done with it.
                ctl.job = Some(JobPtr((job as *const Job<'_>).cast::<Job<'static>>()));
                ctl.epoch += 1;
                s.epoch.store(ctl.epoch, Ordering::Release);
            }
            s.work_cv.notify_all();

            // Returns once every task is claimed; workers may still be running theirs.
            let mine = job.work();

            let mut spins = 0;
            while s.active.load(Ordering::Acquire) != 0 && spins < SPIN {
                std::hint::spin_loop();
                spins += 1;
            }
            let mut ctl = s.ctl.lock().unwrap();
            // No worker joins after this; those that joined are waited for.
            ctl.job = None;
            while s.active.load(Ordering::Acquire) != 0 {
                ctl = s.done_cv.wait(ctl).unwrap();
            }
            let theirs = ctl.panic.take();
            drop(ctl);
            if let Some(p) = mine.or(theirs) {
                std::panic::resume_unwind(p);
            }
        }
    }

    fn worker(s: &Shared) {
        let mut seen = 0u64;
        loop {
            let mut spins = 0;
            while s.epoch.load(Ordering::Acquire) == seen && spins < SPIN {
                std::hint::spin_loop();
                spins += 1;
            }
            let job = {
                let mut ctl = s.ctl.lock().unwrap();
                while ctl.epoch == seen && !ctl.shutdown {
                    ctl = s.work_cv.wait(ctl).unwrap();
                }
                if ctl.shutdown {
                    return;
                }
                seen = ctl.epoch;
                // The caller already finished this job (every task ran elsewhere): skip it.
                let Some(job) = ctl.job else { continue };
                s.active.fetch_add(1, Ordering::AcqRel);
                job
            };
            // SAFETY: the caller keeps the job alive until `active` is back to 0 below.
            let panic = unsafe { &*job.0 }.work();
            if let Some(p) = panic {
                s.ctl.lock().unwrap().panic.get_or_insert(p);
            }
            if s.active.fetch_sub(1, Ordering::AcqRel) == 1 {
                // Take the lock so the notification cannot slip between the caller's
                // check of `active` and its wait.
                let _ctl = s.ctl.lock().unwrap();
                s.done_cv.notify_all();
            }
        }
    }

    impl Drop for Workers {
        fn drop(&mut self) {
            self.shared.ctl.lock().unwrap().shutdown = true;
            self.shared.work_cv.notify_all();
            for h in self.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// A raw pointer shared by tasks that write disjoint ranges.
struct SendPtr<T>(*mut T);
// SAFETY: only used by `for_each_chunk_mut`, whose tasks touch disjoint elements.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// A persistent pool of `n_threads - 1` workers plus the calling thread.
pub struct ThreadPool {
    n_threads: usize,
    #[cfg(not(target_arch = "wasm32"))]
    workers: native::Workers,
    /// Set while a job is in flight; a nested or concurrent `run` executes inline instead.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    busy: AtomicBool,
}

impl ThreadPool {
    /// A pool that runs tasks on `n_threads` threads in total (the caller included).
    /// `n_threads` is clamped to at least 1; on wasm32 it is always 1.
    pub fn new(n_threads: usize) -> ThreadPool {
        let n_threads = if cfg!(target_arch = "wasm32") { 1 } else { n_threads.max(1) };
        ThreadPool {
            n_threads,
            #[cfg(not(target_arch = "wasm32"))]
            workers: native::Workers::spawn(n_threads - 1),
            busy: AtomicBool::new(false),
        }
    }

    /// A pool sized to the machine's available parallelism.
    pub fn with_available_parallelism() -> ThreadPool {
        ThreadPool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Total threads that execute tasks, the caller included.
    pub fn n_threads(&self) -> usize {
        self.n_threads
    }

    /// Runs `f(i)` for every `i` in `0..n_tasks`, in any order and on any pool thread, and
    /// returns when all have finished. A panicking task is re-raised here once all threads
    /// have stopped.
    pub fn run<F: Fn(usize) + Sync>(&self, n_tasks: usize, f: F) {
        self.run_dyn(n_tasks, &f)
    }

    /// Splits `data` into chunks of `chunk` elements (the last may be shorter) and runs
    /// `f(chunk_index, chunk)` for each on the pool: the safe way for tasks to write disjoint
    /// parts of one output.
    pub fn for_each_chunk_mut<T: Send, F: Fn(usize, &mut [T]) + Sync>(&self, data: &mut [T], chunk: usize, f: F) {
        assert!(chunk > 0, "chunk must be positive");
        let len = data.len();
        let base = SendPtr(data.as_mut_ptr());
        self.run(len.div_ceil(chunk), |i| {
            let start = i * chunk;
            let n = chunk.min(len - start);
            let base = &base;
            // SAFETY: task i is the only one touching [start, start + n), inside `data`,
            // which stays exclusively borrowed until `run` returns.
            let part = unsafe { std::slice::from_raw_parts_mut(base.0.add(start), n) };
            f(i, part)
        });
    }

    fn run_dyn(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        #[cfg(not(target_arch = "wasm32"))]
        if n_tasks > 1
            && self.workers.count() > 0
            && self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            struct Release<'a>(&'a AtomicBool);
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            let _release = Release(&self.busy);
            let job = Job { f, n_tasks, next: AtomicUsize::new(0) };
            self.workers.run(&job);
            return;
        }
        run_inline(n_tasks, f);
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool").field("n_threads", &self.n_threads).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn runs_every_task_exactly_once() {
        let pool = ThreadPool::new(3);
        for n in [0usize, 1, 2, 7, 100, 1000] {
            let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
            pool.run(n, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "n = {n}");
        }
    }

    #[test]
    fn many_small_jobs_and_nesting() {
        let pool = ThreadPool::new(2);
        let total = AtomicU64::new(0);
        for _ in 0..2000 {
            pool.run(4, |i| {
                // Nested runs execute inline instead of deadlocking.
                pool.run(2, |j| {
                    total.fetch_add((i * 2 + j) as u64, Ordering::Relaxed);
                });
            });
        }
        assert_eq!(total.load(Ordering::Relaxed), 2000 * (0..8).sum::<u64>());
    }

    /// More workers than cores: many wake after the caller has finished a job on its own
    /// and must skip it (not run a stale job, not miss the next one).
    #[test]
    fn oversubscribed_pool_runs_every_task_once() {
        let pool = ThreadPool::new(16);
        for round in 0..3000usize {
            let n = 1 + round % 40;
            let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
            pool.run(n, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "round {round}");
        }
    }

    #[test]
    fn chunks_are_disjoint_and_complete() {
        let pool = ThreadPool::new(2);
        let mut v = vec![0u32; 1003];
        pool.for_each_chunk_mut(&mut v, 100, |i, part| {
            for (k, x) in part.iter_mut().enumerate() {
                *x = (i * 100 + k) as u32;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    }

    #[test]
    fn panics_propagate_and_pool_survives() {
        let pool = ThreadPool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(16, |i| assert!(i != 5, "task five"));
        }));
        assert!(r.is_err());
        let count = AtomicU64::new(0);
        pool.run(16, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 16);
    }
}
