//! A counting gate whose waiters are served by priority, then in arrival
//! order: what lets a WindowPoSt take the GPU before the C2s queued for it.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Waiters by (higher priority first, then arrival).
type Key = (Reverse<u8>, u64);

#[derive(Debug, Default)]
struct State {
    free: usize,
    next: u64,
    waiters: BTreeMap<Key, oneshot::Sender<()>>,
}

/// `capacity` permits. A task that finds none waits; a released permit
/// goes to the waiter of the highest priority that has waited longest. A
/// holder is never preempted.
pub(super) struct Gate {
    capacity: usize,
    running: AtomicUsize,
    state: Mutex<State>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({}/{})", self.in_use(), self.capacity)
    }
}

impl Gate {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            running: AtomicUsize::new(0),
            state: Mutex::new(State {
                free: capacity,
                ..State::default()
            }),
        })
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Permits held now.
    pub(super) fn in_use(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Tasks waiting for a permit now.
    pub(super) fn waiting(&self) -> usize {
        self.state().waiters.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a permit, served before every waiter of a lower
    /// `priority`. Cancel-safe: a waiter dropped before (or just as) it is
    /// granted passes the permit on.
    pub(super) async fn hold(self: &Arc<Self>, priority: u8) -> Held {
        let (key, rx) = {
            let mut state = self.state();
            if state.free > 0 && state.waiters.is_empty() {
                state.free -= 1;
                return self.held();
            }
            let key = (Reverse(priority), state.next);
            state.next += 1;
            let (tx, rx) = oneshot::channel();
            state.waiters.insert(key, tx);
            (key, rx)
        };
        let mut waiting = Waiting {
            gate: self,
            key,
            rx: Some(rx),
        };
        let rx = waiting.rx.as_mut().expect("set above");
        rx.await
            .expect("a waiter's sender is only dropped after its grant is sent");
        waiting.rx = None;
        self.held()
    }

    fn held(self: &Arc<Self>) -> Held {
        self.running.fetch_add(1, Ordering::Relaxed);
        Held { gate: self.clone() }
    }

    /// Hands a permit to the first waiter, or frees it.
    fn release(&self) {
        let mut state = self.state();
        while let Some((_, tx)) = state.waiters.pop_first() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}

/// One permit held: released on drop.
#[derive(Debug)]
pub(super) struct Held {
    gate: Arc<Gate>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gate.running.fetch_sub(1, Ordering::Relaxed);
        self.gate.release();
    }
}

/// A queued waiter; dropped before its grant was taken, it leaves the
/// queue or passes the grant on.
struct Waiting<'a> {
    gate: &'a Gate,
    key: Key,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let granted = {
            let mut state = self.gate.state();
            // Still queued: leave. Gone: the grant was sent under the lock.
            state.waiters.remove(&self.key).is_none() && rx.try_recv().is_ok()
        };
        if granted {
            self.gate.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiters are served by priority, then in arrival order; a cancelled
    /// waiter neither blocks the queue nor loses a permit.
    #[tokio::test]
    async fn priority_then_arrival_and_cancel_safe() {
        let gate = Gate::new(1);
        let first = gate.hold(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [("a0", 0), ("b0", 0), ("cancelled", 1), ("c1", 1)] {
            let (waiter, order) = (gate.clone(), order.clone());
            tasks.push((
                name,
                tokio::spawn(async move {
                    let _held = waiter.hold(priority).await;
                    order.lock().unwrap().push(name);
                }),
            ));
            // Queued in this order: wait until the gate sees it.
            let queued = tasks.len();
            while gate.waiting() < queued {
                tokio::task::yield_now().await;
            }
        }
        let (_, cancelled) = tasks.remove(2);
        cancelled.abort();
        let _ = cancelled.await;
        assert_eq!(gate.waiting(), 3);
        drop(first);
        for (_, t) in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["c1", "a0", "b0"]);
        assert_eq!((gate.in_use(), gate.waiting()), (0, 0));
        let _again = gate.hold(0).await; // the permit came back
        assert_eq!(gate.in_use(), 1);
    }
}
