//! What the receive and send paths both read and change: where the
//! connection stands, the closing handshake, the sticky error, and the
//! latest time and ping. The two halves of `Connection::split_mut` share it
//! through plain references.

use crate::timers::Timestamp;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

/// A time in nanoseconds: atomic where the target has 64-bit atomics (the
/// connection is then `Sync`), a `Cell` elsewhere.
#[cfg(target_has_atomic = "64")]
type Nanos = core::sync::atomic::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
#[derive(Debug)]
struct Nanos(core::cell::Cell<u64>);

#[cfg(not(target_has_atomic = "64"))]
impl Nanos {
    const fn new(value: u64) -> Self {
        Nanos(core::cell::Cell::new(value))
    }

    fn load(&self, _: Ordering) -> u64 {
        self.0.get()
    }

    fn store(&self, value: u64, _: Ordering) {
        self.0.set(value);
    }
}
use core::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Handshaking = 0,
    Open = 1,
    Closed = 2,
}

/// `u64::MAX` marks an unset time in the `AtomicU64`s below: half the size
/// of an `Option`, and the link is in every connection.
const UNSET: u64 = u64::MAX;

/// Relaxed is enough: the link is only ever changed through `&mut` of the
/// connection or its halves, never from two threads at once; atomics keep
/// the connection `Sync` where `Cell`s would not.
const ORDER: Ordering = Ordering::Relaxed;

#[derive(Debug)]
pub(crate) struct Link {
    phase: AtomicU8,
    close_sent: AtomicBool,
    close_received: AtomicBool,
    /// The peer is presumed gone: drop what is queued, close the transport.
    aborted: AtomicBool,
    /// Output above the high-water mark, as last computed.
    backpressured: AtomicBool,
    /// The latest time the caller gave, in nanoseconds.
    now: Nanos,
    /// When our latest unanswered Ping went out, and what it carried.
    ping_at: Nanos,
    ping_fingerprint: AtomicU32,
    /// The latest round-trip time, in nanoseconds.
    latency: Nanos,
}

impl Link {
    pub(crate) fn new(phase: Phase) -> Self {
        Link {
            phase: AtomicU8::new(phase as u8),
            close_sent: AtomicBool::new(false),
            close_received: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            backpressured: AtomicBool::new(false),
            now: Nanos::new(UNSET),
            ping_at: Nanos::new(UNSET),
            ping_fingerprint: AtomicU32::new(0),
            latency: Nanos::new(UNSET),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(ORDER) {
            0 => Phase::Handshaking,
            1 => Phase::Open,
            _ => Phase::Closed,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, ORDER);
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
        self.close_sent.load(ORDER)
    }

    pub(crate) fn set_close_sent(&self) {
        self.close_sent.store(true, ORDER);
    }

    pub(crate) fn close_received(&self) -> bool {
        self.close_received.load(ORDER)
    }

    pub(crate) fn set_close_received(&self) {
        self.close_received.store(true, ORDER);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.aborted.load(ORDER)
    }

    pub(crate) fn set_aborted(&self) {
        self.aborted.store(true, ORDER);
    }

    /// The latest time the caller gave.
    pub(crate) fn now(&self) -> Option<Timestamp> {
        let now = self.now.load(ORDER);
        (now != UNSET).then_some(Timestamp::from_nanos(now))
    }

    pub(crate) fn set_now(&self, now: Timestamp) {
        self.now.store(now.as_nanos().min(UNSET - 1), ORDER);
    }

    /// Records a Ping sent now, replacing an unanswered one.
    pub(crate) fn ping_sent(&self, payload: &[u8]) {
        if let Some(now) = self.now() {
            self.ping_at.store(now.as_nanos(), ORDER);
            self.ping_fingerprint.store(fingerprint(payload), ORDER);
        }
    }

    /// A Pong arrived: if it answers our latest Ping, its round-trip time.
    pub(crate) fn pong_received(&self, payload: &[u8]) -> Option<Duration> {
        let sent = self.ping_at.load(ORDER);
        if sent == UNSET || self.ping_fingerprint.load(ORDER) != fingerprint(payload) {
            return None;
        }
        self.ping_at.store(UNSET, ORDER);
        let rtt = self
            .now()?
            .saturating_duration_since(Timestamp::from_nanos(sent));
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(UNSET - 1);
        self.latency.store(nanos, ORDER);
        Some(rtt)
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        let latency = self.latency.load(ORDER);
        (latency != UNSET).then(|| Duration::from_nanos(latency))
    }

    pub(crate) fn backpressured(&self) -> bool {
        self.backpressured.load(ORDER)
    }

    pub(crate) fn set_backpressured(&self, high: bool) {
        self.backpressured.store(high, ORDER);
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
