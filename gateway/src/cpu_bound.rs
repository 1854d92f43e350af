//! CPU-heavy work (path and signature verification, preparing, assembling and checking
//! signed documents) run off the async workers, on at most as many blocking threads at once
//! as the machine has cores, finishing work first.
//!
//! Tokio's blocking pool grows to 512 threads when work queues up. CPU-bound work gains
//! nothing from more threads than cores, while every extra thread costs its stack and its
//! allocator's heaps, and the pool keeps idle threads for seconds: under a burst the
//! process's memory grew with the queue. Work beyond the cores now waits here, as a future;
//! the blocking pool stays free for what blocks on I/O (name lookups).
//!
//! Waiting work is served by [`Urgency`]: what finishes a transaction already under way (a
//! CA's signature to verify, a signed document to assemble) before what starts a new one (a
//! document to prepare, a certificate to check before the CA is asked). With one queue, a
//! flood of new requests would keep the transactions they compete with from ever finishing:
//! measured, a PDF flow offered five times what it held completed a tenth of it.
//!
//! Starting work is also **shed** when the wait ahead of it is already longer than
//! [`STARTING_WAIT_BUDGET`]: the queue's length times the mean time a slot is held, over
//! the slots. It is refused at once ([`CpuWorkError::Busy`], answered `503 gateway_busy`
//! with `Retry-After`) instead of joining a queue that only grows. Without it, a documents
//! flow offered five times what it holds queued every request for seconds until clients
//! timed out, and completed a quarter of what it held (`benches/RESULTS.md`); with it, what
//! is admitted is served at the rate the cores allow and the rest is told to come back.
//! Finishing work is never shed: it completes transactions already accepted.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use prometheus::IntCounter;
use tokio::sync::oneshot;

use crate::domain::error::{ErrorCode, ServiceError};

/// Which waiting work runs first when a core frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// Finishes a transaction under way: runs before any [`Urgency::Starting`] work waiting.
    Finishing,
    /// Starts something new (a request's own work).
    Starting,
}

/// How long Starting work may expect to wait for a core before it is refused.
pub(crate) const STARTING_WAIT_BUDGET: Duration = Duration::from_millis(250);

/// Why CPU-bound work did not give a result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CpuWorkError {
    /// The work stopped before it finished (it panicked, or the runtime is shutting down).
    #[error("CPU-bound work stopped before it finished")]
    Stopped,
    /// Starting work refused: the wait ahead of it was estimated at `wait`.
    #[error("this instance's CPU-bound work would wait about {wait:?} for a core")]
    Busy {
        /// The estimated wait, a fair time to come back after.
        wait: Duration,
    },
}

impl CpuWorkError {
    /// The answer to a portal: `gateway_busy` with `Retry-After` for shed work, else an
    /// internal error saying `stopped`.
    pub(crate) fn into_service_error(self, stopped: &str) -> ServiceError {
        match self {
            Self::Busy { wait } => ServiceError::new(
                ErrorCode::GatewayBusy,
                "this gateway instance has more signature and document work queued than it can start soon; try again shortly",
            )
            .with_retry_after(wait.max(Duration::from_secs(1))),
            Self::Stopped => {
                tracing::error!("CPU-bound work stopped before it finished");
                ServiceError::new(ErrorCode::InternalError, stopped)
            }
        }
    }
}

/// Starting work shed by this process since it started, once [`shed_counter`] made it.
static SHED: OnceLock<IntCounter> = OnceLock::new();

/// The counter of Starting work shed (`kyso_cpu_work_shed_total`), one per process as the
/// cores are, for each registry to register.
///
/// # Errors
/// When the counter cannot be made (never, with its constant name).
pub(crate) fn shed_counter() -> Result<IntCounter, prometheus::Error> {
    if let Some(counter) = SHED.get() {
        return Ok(counter.clone());
    }
    let counter = IntCounter::new(
        "kyso_cpu_work_shed_total",
        "Requests refused (503 gateway_busy) because the CPU-bound work queued ahead of them would have kept them waiting past the budget",
    )?;
    Ok(SHED.get_or_init(|| counter).clone())
}

/// The process's cores, one slot each.
static CPU_SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    Slots::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Runs `work` on a blocking thread once a core's slot is free for it (by `urgency`), and
/// gives its result.
pub(crate) async fn run<T: Send + 'static>(
    urgency: Urgency,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CpuWorkError> {
    run_on(&CPU_SLOTS, urgency, work).await
}

async fn run_on<T: Send + 'static>(
    slots: &'static Slots,
    urgency: Urgency,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CpuWorkError> {
    let slot = slots.acquire(urgency).await?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(slot);
        result
    })
    .await
    .map_err(|_| CpuWorkError::Stopped)
}

/// A fixed number of slots, handed to waiters finishing-first, each class in arrival order.
struct Slots {
    state: Mutex<SlotState>,
}

struct SlotState {
    /// How many slots there are.
    count: usize,
    free: usize,
    finishing: VecDeque<oneshot::Sender<Slot>>,
    starting: VecDeque<oneshot::Sender<Slot>>,
    /// The mean time a slot is held (an exponentially weighted moving average, 1/16 for
    /// each new hold); zero until one was.
    mean_hold: Duration,
}

impl SlotState {
    /// How long new Starting work would wait for a slot: everything queued ahead of it
    /// served, [`SlotState::count`] at a time, each holding its slot the mean time.
    fn starting_wait(&mut self) -> Duration {
        // Waiters whose callers went away are not ahead of anyone.
        self.finishing.retain(|waiter| !waiter.is_closed());
        self.starting.retain(|waiter| !waiter.is_closed());
        let ahead = self.finishing.len() + self.starting.len() + 1;
        let rounds = u32::try_from(ahead.div_ceil(self.count)).unwrap_or(u32::MAX);
        self.mean_hold.saturating_mul(rounds)
    }

    fn observe_hold(&mut self, held: Duration) {
        self.mean_hold = if self.mean_hold.is_zero() {
            held
        } else {
            (self.mean_hold * 15 + held) / 16
        };
    }
}

/// A held slot; dropping it hands it to the next waiter, or frees it.
struct Slot {
    slots: &'static Slots,
    since: Instant,
}

impl Slot {
    fn new(slots: &'static Slots) -> Self {
        Self {
            slots,
            since: Instant::now(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.hand_over(self.since.elapsed());
    }
}

impl Slots {
    fn new(count: usize) -> Self {
        Self {
            state: Mutex::new(SlotState {
                count: count.max(1),
                free: count.max(1),
                finishing: VecDeque::new(),
                starting: VecDeque::new(),
                mean_hold: Duration::ZERO,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn acquire(&'static self, urgency: Urgency) -> Result<Slot, CpuWorkError> {
        let handed = {
            let mut state = self.state();
            if state.free > 0 {
                state.free -= 1;
                return Ok(Slot::new(self));
            }
            let (sender, receiver) = oneshot::channel();
            match urgency {
                Urgency::Finishing => state.finishing.push_back(sender),
                Urgency::Starting => {
                    let wait = state.starting_wait();
                    if wait > STARTING_WAIT_BUDGET {
                        if let Some(counter) = SHED.get() {
                            counter.inc();
                        }
                        return Err(CpuWorkError::Busy { wait });
                    }
                    state.starting.push_back(sender);
                }
            }
            receiver
        };
        // A slot handed to a waiter that went away is dropped with its channel, which hands
        // it on in turn.
        handed.await.map_err(|_| CpuWorkError::Stopped)
    }

    /// Gives a slot released after being held for `held` to the most urgent waiter still
    /// waiting, or frees it.
    fn hand_over(&'static self, held: Duration) {
        let mut state = self.state();
        state.observe_hold(held);
        loop {
            let next = match state.finishing.pop_front() {
                Some(waiter) => Some(waiter),
                None => state.starting.pop_front(),
            };
            let Some(waiter) = next else {
                state.free += 1;
                return;
            };
            match waiter.send(Slot::new(self)) {
                Ok(()) => return,
                // That waiter went away: the slot is still this one, not a new one.
                Err(slot) => std::mem::forget(slot),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn leaked_slots(count: usize) -> &'static Slots {
        Box::leak(Box::new(Slots::new(count)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_tasks_run_at_once_than_there_are_slots() {
        let slots = leaked_slots(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..16 {
            let (running, most) = (running.clone(), most.clone());
            let urgency = if index % 2 == 0 {
                Urgency::Starting
            } else {
                Urgency::Finishing
            };
            tasks.spawn(run_on(slots, urgency, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(slots.state().free, 2, "every slot came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finishing_work_overtakes_starting_work_already_waiting() {
        let slots = leaked_slots(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let busy = slots.acquire(Urgency::Starting).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        let mut queue = |name: &'static str, urgency| {
            let order = order.clone();
            tasks.spawn(run_on(slots, urgency, move || {
                order.lock().unwrap().push(name);
            }));
        };
        queue("start 1", Urgency::Starting);
        queue("start 2", Urgency::Starting);
        tokio::time::sleep(Duration::from_millis(50)).await;
        queue("finish", Urgency::Finishing);
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(busy);
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["finish", "start 1", "start 2"]);
    }

    #[tokio::test]
    async fn a_waiter_that_went_away_does_not_keep_its_slot() {
        let slots = leaked_slots(1);
        let busy = slots.acquire(Urgency::Starting).await.unwrap();
        let abandoned =
            tokio::time::timeout(Duration::from_millis(20), slots.acquire(Urgency::Finishing))
                .await;
        assert!(abandoned.is_err(), "it waited, then its caller gave up");
        drop(busy);
        let again = tokio::time::timeout(Duration::from_secs(1), slots.acquire(Urgency::Starting))
            .await
            .expect("the slot is free again");
        assert!(again.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starting_work_is_shed_past_the_budget_and_finishing_work_never() {
        let slots = leaked_slots(1);
        // One hold of 100 ms: the mean hold is that.
        let first = slots.acquire(Urgency::Starting).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        let busy = slots.acquire(Urgency::Starting).await.unwrap();
        let mut waiting = tokio::task::JoinSet::new();
        // 100 ms, then 200 ms ahead: both within the 250 ms budget, so both wait.
        for _ in 0..2 {
            waiting.spawn(async move { slots.acquire(Urgency::Starting).await.map(drop) });
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 300 ms ahead: refused at once, with the wait it would have had.
        match slots.acquire(Urgency::Starting).await {
            Err(CpuWorkError::Busy { wait }) => {
                assert!(wait > STARTING_WAIT_BUDGET, "{wait:?}");
                assert!(wait < Duration::from_millis(400), "{wait:?}");
            }
            Err(other) => panic!("refused for {other}"),
            Ok(_) => panic!("admitted past the budget"),
        }
        // Finishing work waits, however long the queue.
        let finishing =
            tokio::spawn(async move { slots.acquire(Urgency::Finishing).await.map(drop) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !finishing.is_finished(),
            "finishing work waits, it is not refused"
        );
        // Callers that gave up are not ahead of anyone: both waiters leave...
        waiting.abort_all();
        while waiting.join_next().await.is_some() {}
        // ... and a new one is admitted behind the finishing one (200 ms ahead).
        let admitted =
            tokio::spawn(async move { slots.acquire(Urgency::Starting).await.map(drop) });
        drop(busy);
        finishing.await.unwrap().unwrap();
        admitted.await.unwrap().unwrap();
        assert_eq!(slots.state().free, 1, "every slot came back");
    }
}
