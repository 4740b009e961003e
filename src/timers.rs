//! Time as input: the [`Timestamp`] type and the connection's deadline table.
//!
//! The machine never reads a clock. The caller passes the time in as a
//! [`Timestamp`]: a point on a clock whose origin the caller keeps fixed (an
//! `Instant` taken at startup, a simulated clock, a tick counter). A
//! `Timestamp` is a point, never a length, so a deadline cannot be mistaken
//! for a time to wait; [`Clock`] converts between it and `std::time::Instant`.

use core::time::Duration;

/// The latest representable point; `u64::MAX` marks "unset" inside.
const LATEST: u64 = u64::MAX - 1;

/// A point in the caller's time, in nanoseconds since an origin the caller
/// keeps fixed. Deadlines are `Timestamp`s; lengths are `Duration`s.
///
/// ```
/// use core::time::Duration;
/// use wsmachine::Timestamp;
/// let start = Timestamp::from_secs(100);
/// let later = start + Duration::from_millis(1500);
/// assert_eq!(later.saturating_duration_since(start), Duration::from_millis(1500));
/// assert_eq!(start.saturating_duration_since(later), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin of the caller's clock. A deadline at the origin has passed
    /// whatever the time is now.
    pub const ORIGIN: Timestamp = Timestamp(0);

    /// The point `since_origin` after the origin. 2^64 ns is 584 years, so
    /// saturating is exact for any real clock.
    pub fn from_duration(since_origin: Duration) -> Self {
        Timestamp(u64::try_from(since_origin.as_nanos()).unwrap_or(LATEST))
    }

    /// `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// How far after the origin this point is.
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Nanoseconds after the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, length: Duration) -> Timestamp {
        let length = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(length).min(LATEST))
    }
}

/// Converts between [`Timestamp`]s and `std::time::Instant`s, with the
/// origin at the clock's creation.
///
/// ```
/// use wsmachine::Clock;
/// let clock = Clock::new();
/// let now = clock.now();
/// assert!(clock.instant(now) <= std::time::Instant::now());
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

#[cfg(feature = "std")]
impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(feature = "std")]
impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.timestamp(std::time::Instant::now())
    }

    /// `instant` as a timestamp (the origin if it is earlier).
    pub fn timestamp(&self, instant: std::time::Instant) -> Timestamp {
        Timestamp::from_duration(instant.saturating_duration_since(self.origin))
    }

    /// The instant a timestamp stands for, e.g. to sleep until a deadline.
    pub fn instant(&self, at: Timestamp) -> std::time::Instant {
        self.origin + at.since_origin()
    }
}

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

/// How long each deadline runs in the connection's current state; `None`
/// where it does not apply now. Indexed by [`Deadline`].
pub(crate) type Lengths = [Option<Duration>; 6];

/// The armed deadlines, `NONE` for unarmed: half the size of
/// `Option<Timestamp>`.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    at: [u64; 6],
    /// Bytes arrived since the last `handle_timeout`.
    pub(crate) received: bool,
}

const NONE: u64 = u64::MAX;

impl Default for Timers {
    fn default() -> Self {
        Timers {
            at: [NONE; 6],
            received: false,
        }
    }
}

impl Timers {
    pub(crate) fn get(&self, which: Deadline) -> Option<Timestamp> {
        let at = self.at[which as usize];
        (at != NONE).then_some(Timestamp(at))
    }

    pub(crate) fn set(&mut self, which: Deadline, at: Option<Timestamp>) {
        self.at[which as usize] = at.map_or(NONE, |t| t.0);
    }

    /// The earliest deadline among those that apply. One that applies but
    /// is not armed yet is due at `last_now` (or the origin if no time was
    /// ever given): in the past, so the caller calls `handle_timeout` at once
    /// and it gets armed from the real time.
    pub(crate) fn earliest(
        &self,
        lengths: &Lengths,
        last_now: Option<Timestamp>,
    ) -> Option<Timestamp> {
        Deadline::ALL
            .into_iter()
            .filter(|&which| lengths[which as usize].is_some())
            .map(|which| {
                self.get(which)
                    .unwrap_or(last_now.unwrap_or(Timestamp::ORIGIN))
            })
            .min()
    }

    /// Disarms what no longer applies, arms what applies from `now`, and
    /// returns the first deadline that is due (disarming it). Call until
    /// `None` so several due deadlines are all handled.
    pub(crate) fn expire(&mut self, lengths: &Lengths, now: Timestamp) -> Option<Deadline> {
        for which in Deadline::ALL {
            let Some(length) = lengths[which as usize] else {
                self.set(which, None);
                continue;
            };
            match self.get(which) {
                None => self.set(which, Some(now + length)),
                Some(at) if at <= now => {
                    self.set(which, None);
                    return Some(which);
                }
                Some(_) => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_every_unit_agree() {
        let three = Timestamp::from_secs(3);
        assert_eq!(three, Timestamp::from_millis(3_000));
        assert_eq!(three, Timestamp::from_nanos(3_000_000_000));
        assert_eq!(three, Timestamp::from_duration(Duration::from_secs(3)));
        assert_eq!(three.as_nanos(), 3_000_000_000);
        assert_eq!(three.since_origin(), Duration::from_secs(3));
        assert_eq!(
            three + Duration::from_millis(1),
            Timestamp::from_nanos(3_001_000_000)
        );
        let one = Timestamp::from_secs(1);
        assert_eq!(three.saturating_duration_since(one), Duration::from_secs(2));
        assert_eq!(one.saturating_duration_since(three), Duration::ZERO);
    }

    /// The latest point stays a deadline: it is not the "unarmed" mark.
    #[test]
    fn the_latest_timestamp_is_still_an_armed_deadline() {
        let latest = Timestamp::from_secs(1) + Duration::MAX;
        assert_eq!(latest.as_nanos(), u64::MAX - 1);
        assert_eq!(Timestamp::from_duration(Duration::MAX), latest);
        let mut timers = Timers::default();
        timers.set(Deadline::Close, Some(latest));
        assert_eq!(timers.get(Deadline::Close), Some(latest));
        timers.set(Deadline::Close, None);
        assert_eq!(timers.get(Deadline::Close), None);
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_clock_converts_instants_both_ways() {
        let clock = Clock::new();
        let at = Timestamp::from_millis(1_500);
        let instant = clock.instant(at);
        assert_eq!(clock.timestamp(instant), at);
        assert_eq!(
            clock.instant(Timestamp::ORIGIN) + Duration::from_millis(1_500),
            instant
        );
        // `now` is measured from the same origin: not before an instant
        // read earlier (read until it is past the origin).
        let mut read = std::time::Instant::now();
        while clock.timestamp(read) == Timestamp::ORIGIN {
            read = std::time::Instant::now();
        }
        assert!(clock.now() >= clock.timestamp(read));
    }
}
