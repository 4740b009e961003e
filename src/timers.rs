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

#[derive(Clone, Debug, Default)]
pub(crate) struct Timers {
    at: [Option<Duration>; 6],
    /// The latest time the caller gave us.
    pub(crate) now: Option<Duration>,
    /// Bytes arrived since the last `handle_timeout`.
    pub(crate) received: bool,
}

impl Timers {
    pub(crate) fn get(&self, which: Deadline) -> Option<Duration> {
        self.at[which as usize]
    }

    pub(crate) fn set(&mut self, which: Deadline, at: Option<Duration>) {
        self.at[which as usize] = at;
    }
}
