//! Wakers for tasks that share one socket: when it has room to write, every
//! task waiting for that is woken, not only the one that asked last.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// Tasks waiting for the shared socket to make progress.
#[derive(Debug, Default)]
pub(crate) struct WakerSet {
    wakers: Mutex<Vec<Waker>>,
}

impl WakerSet {
    /// Adds a waiting task (once).
    pub(crate) fn register(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|known| known.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Wakes every waiting task and forgets them: each registers again if
    /// it still waits.
    pub(crate) fn wake_all(&self) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for waker in wakers.drain(..) {
            waker.wake();
        }
    }
}

impl Wake for WakerSet {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
