//! CPU-heavy work (path and signature verification, preparing, assembling and checking
//! signed documents) run off the async workers, on at most as many blocking threads at once
//! as the machine has cores.
//!
//! Tokio's blocking pool grows to 512 threads when work queues up. CPU-bound work gains
//! nothing from more threads than cores, while every extra thread costs its stack and its
//! allocator's heaps, and the pool keeps idle threads for seconds: under a burst the
//! process's memory grew with the queue. Work beyond the cores now waits here, as a future,
//! in arrival order; the blocking pool stays free for what blocks on I/O (name lookups).

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;

/// One slot per core: the most CPU-bound tasks running at once.
static CPU_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Arc::new(Semaphore::new(cores))
});

/// The work stopped before it finished (it panicked, or the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("CPU-bound work stopped before it finished")]
pub(crate) struct WorkStopped;

/// Runs `work` on a blocking thread once a core's slot is free, and gives its result.
pub(crate) async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WorkStopped> {
    let slot = CPU_SLOTS
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| WorkStopped)?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(slot);
        result
    })
    .await
    .map_err(|_| WorkStopped)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_tasks_run_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..(cores * 8) {
            let (running, most) = (running.clone(), most.clone());
            tasks.spawn(run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), cores);
    }
}
