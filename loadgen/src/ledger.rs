//! Counting what came back: per connection a [`Ledger`] of the sequence
//! numbers sent and seen, summed into [`Totals`]; latencies into
//! [`Latencies`].

use crate::wire::Stamp;
use std::time::Duration;

/// One connection's account: what it sent, what came back.
#[derive(Debug)]
pub struct Ledger {
    id: u32,
    /// Sequence numbers `0..sent` were sent.
    sent: u64,
    /// Bit `seq` set once `seq` came back.
    seen: Vec<u64>,
    distinct: u64,
    highest: Option<u64>,
    duplicated: u64,
    reordered: u64,
    corrupted: u64,
    foreign: u64,
}

impl Ledger {
    pub fn new(id: u32) -> Ledger {
        Ledger {
            id,
            sent: 0,
            seen: Vec::new(),
            distinct: 0,
            highest: None,
            duplicated: 0,
            reordered: 0,
            corrupted: 0,
            foreign: 0,
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The next sequence number, counted as sent.
    pub fn next_seq(&mut self) -> u64 {
        self.sent += 1;
        self.sent - 1
    }

    /// Messages sent and not yet back.
    pub fn in_flight(&self) -> u64 {
        self.sent - self.distinct
    }

    /// Accounts for a received message (`None`: it failed its checksum).
    pub fn receive(&mut self, stamp: Option<Stamp>) {
        let Some(stamp) = stamp else {
            self.corrupted += 1;
            return;
        };
        if stamp.id != self.id || stamp.seq >= self.sent {
            // Another connection's message, or one never sent.
            self.foreign += 1;
            return;
        }
        let (word, bit) = ((stamp.seq / 64) as usize, stamp.seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        self.distinct += 1;
        match self.highest {
            Some(highest) if stamp.seq < highest => self.reordered += 1,
            _ => self.highest = Some(stamp.seq),
        }
    }
}

/// The sum over connections. `lost` counts messages sent whose echo never
/// came (including those in flight when a connection failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    /// Messages of another connection, or with a number never sent.
    pub foreign: u64,
}

impl Totals {
    pub fn add_ledger(&mut self, ledger: &Ledger) {
        self.sent += ledger.sent;
        self.received += ledger.distinct;
        self.lost += ledger.sent - ledger.distinct;
        self.duplicated += ledger.duplicated;
        self.reordered += ledger.reordered;
        self.corrupted += ledger.corrupted;
        self.foreign += ledger.foreign;
    }

    pub fn add(&mut self, other: &Totals) {
        self.sent += other.sent;
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.corrupted += other.corrupted;
        self.foreign += other.foreign;
    }

    /// Everything that should be zero.
    pub fn faults(&self) -> u64 {
        self.lost + self.duplicated + self.reordered + self.corrupted + self.foreign
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} received {} lost {} duplicated {} reordered {} corrupted {} foreign {}",
            self.sent,
            self.received,
            self.lost,
            self.duplicated,
            self.reordered,
            self.corrupted,
            self.foreign
        )
    }
}

/// Round-trip times, kept whole (microseconds) for exact percentiles.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, age: Duration) {
        self.micros
            .push(age.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// "p50 …, p99 …, max … µs" (nearest rank).
    pub fn summary(&mut self) -> String {
        let mut at = |p| self.percentile(p).unwrap_or(0);
        let (p50, p99, max) = (at(50.0), at(99.0), at(100.0));
        format!("p50 {p50}, p99 {p99}, max {max} µs")
    }

    /// The `p`-th percentile (nearest rank), in microseconds.
    pub fn percentile(&mut self, p: f64) -> Option<u32> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        Some(self.micros[rank.clamp(1, self.micros.len()) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(id: u32, seq: u64) -> Option<Stamp> {
        Some(Stamp {
            id,
            seq,
            age: Duration::ZERO,
        })
    }

    #[test]
    fn each_fault_is_counted_as_what_it_is() {
        let mut ledger = Ledger::new(3);
        for _ in 0..6 {
            ledger.next_seq();
        }
        ledger.receive(stamp(3, 0));
        ledger.receive(stamp(3, 2)); // 1 skipped ...
        ledger.receive(stamp(3, 1)); // ... comes late: reordered
        ledger.receive(stamp(3, 2)); // duplicated
        ledger.receive(stamp(4, 3)); // another connection's
        ledger.receive(stamp(3, 9)); // never sent
        ledger.receive(None); // failed its checksum
        ledger.receive(stamp(3, 4)); // 3 and 5 never come: lost
        let mut totals = Totals::default();
        totals.add_ledger(&ledger);
        let expected = Totals {
            sent: 6,
            received: 4,
            lost: 2,
            duplicated: 1,
            reordered: 1,
            corrupted: 1,
            foreign: 2,
        };
        assert_eq!(totals, expected);
        assert_eq!(totals.faults(), 7);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut latencies = Latencies::default();
        for us in (1..=100).rev() {
            latencies.record(Duration::from_micros(us));
        }
        assert_eq!(latencies.percentile(50.0), Some(50));
        assert_eq!(latencies.percentile(99.0), Some(99));
        assert_eq!(latencies.percentile(100.0), Some(100));
    }
}
