//! What the receive and send paths both read and change: where the
//! connection stands, the closing handshake, the sticky error, and the
//! latest time and ping. Kept in `Cell`s so the two halves of
//! `Connection::split_mut` can share it through plain references.

use crate::error::Error;
use crate::timers::Timestamp;
use core::cell::Cell;
use core::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Handshaking,
    Open,
    Closed,
}

/// `u64::MAX` marks an unset time in the `Cell<u64>`s below: half the size
/// of an `Option`, and the link is in every connection.
const UNSET: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct Link {
    phase: Cell<Phase>,
    close_sent: Cell<bool>,
    close_received: Cell<bool>,
    /// The peer is presumed gone: drop what is queued, close the transport.
    aborted: Cell<bool>,
    /// Output above the high-water mark, as last computed.
    backpressured: Cell<bool>,
    error: Cell<Option<Error>>,
    /// The latest time the caller gave, in nanoseconds.
    now: Cell<u64>,
    /// When our latest unanswered Ping went out, and what it carried.
    ping_at: Cell<u64>,
    ping_fingerprint: Cell<u32>,
    /// The latest round-trip time, in nanoseconds.
    latency: Cell<u64>,
}

impl Link {
    pub(crate) fn new(phase: Phase) -> Self {
        Link {
            phase: Cell::new(phase),
            close_sent: Cell::new(false),
            close_received: Cell::new(false),
            aborted: Cell::new(false),
            backpressured: Cell::new(false),
            error: Cell::new(None),
            now: Cell::new(UNSET),
            ping_at: Cell::new(UNSET),
            ping_fingerprint: Cell::new(0),
            latency: Cell::new(UNSET),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase.get()
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.set(phase);
    }

    pub(crate) fn is_open(&self) -> bool {
        self.phase() == Phase::Open
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.phase() == Phase::Closed
    }

    /// Open and no Close sent: data may still be sent.
    pub(crate) fn can_send(&self) -> bool {
        self.is_open() && !self.close_sent()
    }

    pub(crate) fn close_sent(&self) -> bool {
        self.close_sent.get()
    }

    pub(crate) fn set_close_sent(&self) {
        self.close_sent.set(true);
    }

    pub(crate) fn close_received(&self) -> bool {
        self.close_received.get()
    }

    pub(crate) fn set_close_received(&self) {
        self.close_received.set(true);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.aborted.get()
    }

    pub(crate) fn set_aborted(&self) {
        self.aborted.set(true);
    }

    pub(crate) fn error(&self) -> Option<Error> {
        self.error.get()
    }

    pub(crate) fn set_error(&self, error: Error) {
        self.error.set(Some(error));
    }

    /// The latest time the caller gave.
    pub(crate) fn now(&self) -> Option<Timestamp> {
        let now = self.now.get();
        (now != UNSET).then_some(Timestamp::from_nanos(now))
    }

    pub(crate) fn set_now(&self, now: Timestamp) {
        self.now.set(now.as_nanos().min(UNSET - 1));
    }

    /// Records a Ping sent now, replacing an unanswered one.
    pub(crate) fn ping_sent(&self, payload: &[u8]) {
        if let Some(now) = self.now() {
            self.ping_at.set(now.as_nanos());
            self.ping_fingerprint.set(fingerprint(payload));
        }
    }

    /// A Pong arrived: if it answers our latest Ping, its round-trip time.
    pub(crate) fn pong_received(&self, payload: &[u8]) -> Option<Duration> {
        let sent = self.ping_at.get();
        if sent == UNSET || self.ping_fingerprint.get() != fingerprint(payload) {
            return None;
        }
        self.ping_at.set(UNSET);
        let rtt = self
            .now()?
            .saturating_duration_since(Timestamp::from_nanos(sent));
        self.latency
            .set(u64::try_from(rtt.as_nanos()).unwrap_or(UNSET - 1));
        Some(rtt)
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        let latency = self.latency.get();
        (latency != UNSET).then(|| Duration::from_nanos(latency))
    }

    pub(crate) fn backpressured(&self) -> bool {
        self.backpressured.get()
    }

    pub(crate) fn set_backpressured(&self, high: bool) {
        self.backpressured.set(high);
    }
}

/// FNV-1a over a Ping payload and its length: enough to tell our Ping's
/// answer from an unsolicited Pong.
fn fingerprint(payload: &[u8]) -> u32 {
    let mut hash = 0x811c_9dc5_u32 ^ payload.len() as u32;
    for &byte in payload {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash
}
