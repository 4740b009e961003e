//! The connection's time: when the next deadline is, and what happens when
//! one is due (the keepalive Ping, the timeouts, giving back memory after
//! a quiet interval).

use super::{deadlines, Connection};
use crate::close::CloseCode;
use crate::error::Error;
use crate::timers::{Deadline, Lengths, Timestamp};

impl Connection {
    /// When [`handle_timeout`](Self::handle_timeout) must be called next: a
    /// point in the caller's time, or `None` when no deadline is pending. A
    /// point already past (the origin, before any time was given) means
    /// "now": a deadline needs arming from the current time.
    ///
    /// ```
    /// use core::time::Duration;
    /// use wsmachine::{Config, Connection, Role, Timestamp};
    /// let mut config = Config::default();
    /// config.ping_interval = Some(Duration::from_secs(5));
    /// let mut server = Connection::upgraded(Role::Server, config).unwrap();
    /// assert_eq!(server.poll_timeout(), Some(Timestamp::ORIGIN)); // due now: arm the timers
    /// server.handle_timeout(Timestamp::from_secs(100));
    /// assert_eq!(server.poll_timeout(), Some(Timestamp::from_secs(105)));
    /// server.handle_timeout(Timestamp::from_secs(105));
    /// assert!(server.pending_output().starts_with(b"\x89\x04")); // keepalive Ping
    /// ```
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers
            .earliest(&self.deadline_lengths(), self.link.now())
    }

    /// Acts on the deadlines due at `now`: keepalive Pings, and the
    /// handshake, keepalive, closing, message and idle timeouts. Calling it
    /// early or twice does nothing; a time earlier than one given before
    /// counts as that one. Calling it after each read makes idle accounting
    /// and round-trip times exact (otherwise they are exact to the call).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.link.now().map_or(now, |before| before.max(now));
        self.link.set_now(now);
        if core::mem::take(&mut self.timers.received) {
            // Any traffic proves the peer is alive.
            self.timers.set(Deadline::Pong, None);
            self.timers.set(Deadline::Keepalive, None);
            self.timers.set(Deadline::Idle, None);
        }
        loop {
            let lengths = self.deadline_lengths();
            let Some(which) = self.timers.expire(&lengths, now) else {
                break;
            };
            if self.rx.timed_out.is_none() {
                self.fire(which, now);
            }
        }
        self.settle();
    }

    /// How long each deadline runs in the current state.
    fn deadline_lengths(&self) -> Lengths {
        deadlines::lengths(
            &self.config,
            &self.link,
            &self.timers,
            self.rx.incoming.kind.is_some(),
        )
    }

    fn fire(&mut self, which: Deadline, now: Timestamp) {
        match which {
            Deadline::Handshake => self.fail_later(Error::HandshakeTimeout),
            Deadline::Keepalive => {
                // Quiet for a whole ping interval: what grew for large
                // messages goes back now (not after each one).
                self.shrink_idle();
                self.tx.keepalive_ping(&self.link);
                self.tx.update_backpressure(&self.config, &self.link);
                self.timers
                    .set(Deadline::Pong, Some(now + self.config.pong_timeout));
            }
            Deadline::Pong => self.fail_later(Error::KeepaliveTimeout),
            Deadline::Close => self.fail_later(Error::CloseTimeout),
            Deadline::Message => self.fail_later(Error::MessageTimeout),
            Deadline::Idle => {
                let _ = self.close(CloseCode::GOING_AWAY, "idle timeout");
            }
        }
    }

    /// Gives back the memory of every empty buffer that grew past the
    /// retained size; small ones are kept, so a quiet connection that wakes
    /// up now and then does not allocate each time.
    fn shrink_idle(&mut self) {
        self.input.release_if_large();
        self.tx.output.release_if_large();
        if let Some(gathered) = &self.rx.gathered {
            let grown = gathered.message.capacity().max(gathered.text.capacity());
            let empty = gathered.message.is_empty() && gathered.text.is_empty();
            // An empty pair of buffers is not worth keeping either.
            if (grown > crate::buffer::RETAIN_CAPACITY || grown == 0)
                && empty
                && self.rx.frame.is_none()
            {
                self.rx.gathered = None;
            }
        }
    }

    /// Fails from outside `next_event`: the Close or HTTP response is queued
    /// now, the event is reported by the next `next_event`.
    fn fail_later(&mut self, error: Error) {
        self.receiver().fail(error);
        self.rx.timed_out = Some(error);
    }
}
