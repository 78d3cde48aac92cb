//! A bounded pool of threads for expensive work (password hashing).
//!
//! Hashing on the async runtime would stall every other request; hashing on an unbounded blocking pool would let a
//! password flood queue without end and starve memory. Here a fixed number of dedicated threads take jobs from a
//! queue of fixed capacity, and a job that finds the queue full is refused at once with an estimate of when to
//! retry, which the server turns into 429 + `Retry-After`.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

/// Refusal because the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hashing pool busy; retry after {retry_after_seconds} s")]
pub struct PoolBusy {
    /// Waiting jobs × recent job time ÷ threads, rounded up, at least 1.
    pub retry_after_seconds: u64,
}

/// Why [`HashPool::run`] returned no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The queue was full; nothing was queued.
    #[error(transparent)]
    Busy(#[from] PoolBusy),
    /// The job panicked. The worker thread caught it and carries on with the next job.
    #[error("hashing job panicked")]
    JobPanicked,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Queue {
    jobs: VecDeque<Job>,
    /// Workers blocked waiting for a job: each will take one queued job without it having to wait.
    idle: usize,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    available: Condvar,
    capacity: usize,
    threads: usize,
    /// Moving average of job run time, in microseconds (0 until the first job ends).
    avg_job_micros: AtomicU64,
}

impl Shared {
    /// The queue, even if a thread panicked while holding the lock: the queue's state stays consistent because
    /// jobs never run under the lock.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, micros: u64) {
        // Weight 1/8 per new sample: follows load changes within a few jobs without jumping on one outlier.
        let _ = self
            .avg_job_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(if avg == 0 {
                    micros.max(1)
                } else {
                    (avg * 7 + micros) / 8
                })
            });
    }

    fn busy(&self, waiting: usize) -> PoolBusy {
        let avg = self.avg_job_micros.load(Ordering::Relaxed);
        // The job being refused would have run after every waiting one.
        let ahead = (waiting as u64).saturating_add(1);
        let micros = ahead.saturating_mul(avg) / (self.threads as u64).max(1);
        PoolBusy {
            retry_after_seconds: micros.div_ceil(1_000_000).max(1),
        }
    }
}

/// Closes the queue when the last [`HashPool`] handle goes; workers finish queued jobs, then exit.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.available.notify_all();
    }
}

/// Handle to the pool; clones share it.
#[derive(Clone)]
pub struct HashPool {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.owner.shared;
        f.debug_struct("HashPool")
            .field("threads", &shared.threads)
            .field("queue_capacity", &shared.capacity)
            .finish()
    }
}

impl HashPool {
    /// Starts `threads` dedicated threads (at least one). Up to `queue_capacity` jobs may wait for a free thread.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread, as `std::thread::spawn` does; this happens at startup.
    pub fn new(threads: usize, queue_capacity: usize) -> Self {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::with_capacity(queue_capacity),
                idle: 0,
                shutdown: false,
            }),
            available: Condvar::new(),
            capacity: queue_capacity,
            threads,
            avg_job_micros: AtomicU64::new(0),
        });
        for i in 0..threads {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("vestibule-hash-{i}"))
                .spawn(move || worker(&shared));
            if let Err(e) = spawned {
                panic!("cannot start hashing thread: {e}");
            }
        }
        HashPool {
            owner: Arc::new(Owner { shared }),
        }
    }

    pub fn threads(&self) -> usize {
        self.owner.shared.threads
    }

    /// Runs `job` on a pool thread and returns its result. If `queue_capacity` jobs are already waiting for a
    /// thread, returns [`PoolError::Busy`] at once, without queueing. A job whose caller has gone away (the future
    /// was dropped) before a thread reaches it is skipped.
    pub async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::clone(&self.owner.shared);
        let task: Job = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(job)).map_err(|_| PoolError::JobPanicked);
            shared.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            let _ = tx.send(outcome);
        });
        {
            let shared = &self.owner.shared;
            let mut queue = shared.lock();
            // Each idle worker takes one queued job at once; only jobs beyond them wait. Refuse if this one would
            // make more than `capacity` wait.
            if queue.jobs.len() + 1 > shared.capacity.saturating_add(queue.idle) {
                let waiting = queue.jobs.len().saturating_sub(queue.idle);
                return Err(shared.busy(waiting).into());
            }
            queue.jobs.push_back(task);
        }
        self.owner.shared.available.notify_one();
        // The sender is dropped unsent only if the job was skipped, which needs this receiver gone first.
        rx.await.unwrap_or(Err(PoolError::JobPanicked))
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.shutdown {
                    return;
                }
                queue.idle += 1;
                queue = shared
                    .available
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                queue.idle -= 1;
            }
        };
        // Panics are caught inside the job wrapper, so this thread survives them.
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test]
    async fn results_come_back() {
        let pool = HashPool::new(2, 8);
        assert_eq!(pool.threads(), 2);
        // Eight at once fit: two threads, eight queue places.
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(move || i * i).await })
            })
            .collect();
        for (i, task) in (0..8u64).zip(tasks) {
            assert_eq!(task.await.unwrap(), Ok(i * i));
        }
    }

    #[tokio::test]
    async fn full_queue_is_refused_at_once() {
        let pool = HashPool::new(1, 2);
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));

        // A job that holds the only thread until released.
        let blocker = {
            let pool = pool.clone();
            let release_rx = Arc::clone(&release_rx);
            tokio::spawn(async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                    "blocker"
                })
                .await
            })
        };
        // The blocker runs only when this task yields (current-thread runtime); wait for it without blocking.
        while started_rx.try_recv().is_err() {
            assert!(!blocker.is_finished(), "blocker refused");
            tokio::task::yield_now().await;
        }

        // Two jobs fill the queue behind it.
        let queued: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(move || i).await })
            })
            .collect();
        // Let the spawned tasks enqueue (current-thread runtime: they run when this task yields).
        while pool.owner.shared.lock().jobs.len() < 2 {
            tokio::task::yield_now().await;
        }

        // The third is refused without waiting: polled once, it is already done.
        let refused = pool.run(|| 99).await;
        match refused {
            Err(PoolError::Busy(busy)) => assert!(busy.retry_after_seconds >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }

        release_tx.send(()).unwrap();
        assert_eq!(blocker.await.unwrap(), Ok("blocker"));
        for (i, job) in queued.into_iter().enumerate() {
            assert_eq!(job.await.unwrap(), Ok(i));
        }
        // With the queue drained, work is accepted again.
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn zero_capacity_accepts_only_when_a_thread_is_idle() {
        let pool = HashPool::new(1, 0);
        wait_until_idle(&pool);
        assert_eq!(pool.run(|| 1).await, Ok(1));
        wait_until_idle(&pool);

        // With the only thread busy, nothing may wait.
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
                .await
            })
        };
        while started_rx.try_recv().is_err() {
            assert!(!blocker.is_finished(), "blocker refused");
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|| 2).await, Err(PoolError::Busy(_))));
        release_tx.send(()).unwrap();
        assert_eq!(blocker.await.unwrap(), Ok(()));
    }

    /// Waits until every worker is parked, so a new job is not counted as waiting.
    fn wait_until_idle(pool: &HashPool) {
        while pool.owner.shared.lock().idle < pool.threads() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn run_future_is_send() {
        // Handlers on a multi-threaded runtime need it.
        fn assert_send<T: Send>(_: &T) {}
        let pool = HashPool::new(1, 1);
        let future = pool.run(|| 1);
        assert_send(&future);
    }

    #[tokio::test]
    async fn panicking_job_does_not_kill_the_pool() {
        let pool = HashPool::new(1, 1);
        let result: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert_eq!(result, Err(PoolError::JobPanicked));
        // The single thread is still alive and takes more work.
        assert_eq!(pool.run(|| 41 + 1).await, Ok(42));
    }

    #[test]
    fn retry_after_grows_with_the_queue_and_is_at_least_one() {
        let pool = HashPool::new(2, 8);
        let shared = &pool.owner.shared;
        assert_eq!(shared.busy(0).retry_after_seconds, 1);
        shared.avg_job_micros.store(500_000, Ordering::Relaxed);
        // (8 waiting + this one) × 0.5 s ÷ 2 threads = 2.25 s → 3.
        assert_eq!(shared.busy(8).retry_after_seconds, 3);
    }
}
