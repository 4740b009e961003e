//! The connection's deadlines: a small fixed table, no clock.
//!
//! Time is whatever `Duration` since an origin the caller chooses (an
//! `Instant` at startup, a simulated clock, a tick counter), so the table works
//! the same in `no_std` and in tests with virtual time.

use core::time::Duration;

/// Every deadline a connection may care about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// The opening handshake must complete.
    Handshake,
    /// Nothing received for a while: time to send a keepalive Ping.
    Keepalive,
    /// A keepalive Ping is unanswered.
    Pong,
    /// Our Close is unanswered.
    Close,
    /// A fragmented message is still incomplete.
    Message,
    /// Nothing received at all for the idle timeout.
    Idle,
}

impl Deadline {
    pub(crate) const ALL: [Deadline; 6] = [
        Deadline::Handshake,
        Deadline::Keepalive,
        Deadline::Pong,
        Deadline::Close,
        Deadline::Message,
        Deadline::Idle,
    ];
}

/// Deadlines as nanoseconds, `NONE` for unset: half the size of
/// `Option<Duration>`, and a connection carries seven of them.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    at: [u64; 6],
    now: u64,
    /// Bytes arrived since the last `handle_timeout`.
    pub(crate) received: bool,
}

const NONE: u64 = u64::MAX;

fn to_nanos(time: Duration) -> u64 {
    // 2^64 ns is 584 years: saturating is exact for any real clock.
    u64::try_from(time.as_nanos()).unwrap_or(NONE - 1)
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            at: [NONE; 6],
            now: NONE,
            received: false,
        }
    }
}

impl Timers {
    pub(crate) fn get(&self, which: Deadline) -> Option<Duration> {
        let at = self.at[which as usize];
        (at != NONE).then(|| Duration::from_nanos(at))
    }

    pub(crate) fn set(&mut self, which: Deadline, at: Option<Duration>) {
        self.at[which as usize] = at.map_or(NONE, to_nanos);
    }

    /// The latest time the caller gave us.
    pub(crate) fn now(&self) -> Option<Duration> {
        (self.now != NONE).then(|| Duration::from_nanos(self.now))
    }

    pub(crate) fn set_now(&mut self, now: Duration) {
        self.now = to_nanos(now);
    }
}
