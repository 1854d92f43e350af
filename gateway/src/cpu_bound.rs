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

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Which waiting work runs first when a core frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// Finishes a transaction under way: runs before any [`Urgency::Starting`] work waiting.
    Finishing,
    /// Starts something new (a request's own work).
    Starting,
}

/// The work stopped before it finished (it panicked, or the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("CPU-bound work stopped before it finished")]
pub(crate) struct WorkStopped;

/// The process's cores, one slot each.
static CPU_SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    Slots::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Runs `work` on a blocking thread once a core's slot is free for it (by `urgency`), and
/// gives its result.
pub(crate) async fn run<T: Send + 'static>(
    urgency: Urgency,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WorkStopped> {
    run_on(&CPU_SLOTS, urgency, work).await
}

async fn run_on<T: Send + 'static>(
    slots: &'static Slots,
    urgency: Urgency,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WorkStopped> {
    let slot = slots.acquire(urgency).await?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(slot);
        result
    })
    .await
    .map_err(|_| WorkStopped)
}

/// A fixed number of slots, handed to waiters finishing-first, each class in arrival order.
struct Slots {
    state: Mutex<SlotState>,
}

struct SlotState {
    free: usize,
    finishing: VecDeque<oneshot::Sender<Slot>>,
    starting: VecDeque<oneshot::Sender<Slot>>,
}

/// A held slot; dropping it hands it to the next waiter, or frees it.
struct Slot {
    slots: &'static Slots,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.hand_over();
    }
}

impl Slots {
    fn new(count: usize) -> Self {
        Self {
            state: Mutex::new(SlotState {
                free: count.max(1),
                finishing: VecDeque::new(),
                starting: VecDeque::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn acquire(&'static self, urgency: Urgency) -> Result<Slot, WorkStopped> {
        let handed = {
            let mut state = self.state();
            if state.free > 0 {
                state.free -= 1;
                return Ok(Slot { slots: self });
            }
            let (sender, receiver) = oneshot::channel();
            match urgency {
                Urgency::Finishing => state.finishing.push_back(sender),
                Urgency::Starting => state.starting.push_back(sender),
            }
            receiver
        };
        // A slot handed to a waiter that went away is dropped with its channel, which hands
        // it on in turn.
        handed.await.map_err(|_| WorkStopped)
    }

    /// Gives a released slot to the most urgent waiter still waiting, or frees it.
    fn hand_over(&'static self) {
        let mut state = self.state();
        loop {
            let next = match state.finishing.pop_front() {
                Some(waiter) => Some(waiter),
                None => state.starting.pop_front(),
            };
            let Some(waiter) = next else {
                state.free += 1;
                return;
            };
            match waiter.send(Slot { slots: self }) {
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
}
