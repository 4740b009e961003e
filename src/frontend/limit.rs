//! A cap on live connections, for accept loops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many connections may be live at once. An accept loop takes a
/// [`ConnectionPermit`] for each connection it serves and answers the rest
/// with 503 (e.g. `accept_with(stream, config, |_| Err(Reject::new(503, "busy")))`);
/// the permit is given back when dropped.
///
/// ```
/// use wsmachine::ConnectionLimit;
/// let limit = ConnectionLimit::new(2);
/// let first = limit.try_acquire().unwrap();
/// let _second = limit.try_acquire().unwrap();
/// assert!(limit.try_acquire().is_none(), "full");
/// drop(first);
/// assert!(limit.try_acquire().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct ConnectionLimit {
    live: Arc<AtomicUsize>,
    max: usize,
}

/// A live connection's place under a [`ConnectionLimit`].
#[derive(Debug)]
pub struct ConnectionPermit {
    live: Arc<AtomicUsize>,
}

impl ConnectionLimit {
    /// At most `max` live connections.
    pub fn new(max: usize) -> Self {
        ConnectionLimit {
            live: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A place for one more connection, or `None` when all are taken.
    pub fn try_acquire(&self) -> Option<ConnectionPermit> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.max).then_some(live + 1)
            })
            .ok()?;
        Some(ConnectionPermit {
            live: self.live.clone(),
        })
    }

    /// Connections live now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}
