//! Good clients through a relay that delays, splits and coalesces TCP
//! segments at random (both ways, the handshake included), with messages
//! whose sizes straddle every frame-length form: nothing may be lost,
//! duplicated, reordered or corrupted.

use super::{Params, Report};
use crate::client::{gather, session, Exchange, Rng, Session, Target};
use crate::relay::{Relay, RelayStats};
use crate::server::Server;
use crate::wire::OVERHEAD;
use std::time::Duration;
use tokio::task::JoinSet;

/// Whole message sizes: the smallest, around the 7-bit/16-bit and
/// 16-bit/64-bit length boundaries, and larger.
const SIZES: [usize; 9] = [
    OVERHEAD, 125, 126, 127, 1000, 65_535, 65_536, 65_537, 100_000,
];
/// The relay's longest pause.
const MAX_DELAY: Duration = Duration::from_millis(5);

pub async fn run(server: &Server, params: &Params, report: &mut Report) {
    let relay = match Relay::start(server.addr, params.seed, MAX_DELAY).await {
        Ok(relay) => relay,
        Err(e) => return report.fail(format!("relay: {e}")),
    };
    let target = Target {
        addr: relay.addr,
        ..params.target(server)
    };
    let mut clients = JoinSet::new();
    for i in 0..params.relay_clients {
        let target = target.clone();
        let (messages, seed) = (params.relay_messages, params.seed ^ i as u64);
        clients.spawn(async move { client(&target, i, messages, seed).await });
    }
    let (totals, mut latencies, failures) = gather(clients).await;
    let stats = &relay.stats;
    let get = RelayStats::get;
    report.row(
        "clients × messages",
        format!("{} × {}", params.relay_clients, params.relay_messages),
    );
    report.row("echoes", totals);
    report.row("echo latency", latencies.summary());
    report.row(
        "relay: bytes, reads, writes",
        format!(
            "{}, {}, {}",
            get(&stats.bytes),
            get(&stats.reads),
            get(&stats.writes)
        ),
    );
    report.row(
        "relay: coalesced reads, pauses",
        format!("{}, {}", get(&stats.coalesced), get(&stats.delays)),
    );
    report.check(failures.is_empty(), || {
        format!("clients failed: {failures:?}")
    });
    report.check(
        totals.faults() == 0 && totals.sent == params.relay_clients as u64 * params.relay_messages,
        || format!("echoes: {totals}"),
    );
    report.check(get(&stats.writes) > get(&stats.reads), || {
        "the relay never split a read"
    });
}

/// `messages` checked messages of random sizes from [`SIZES`], four in
/// flight, then a closing handshake.
async fn client(target: &Target, index: usize, messages: u64, seed: u64) -> Session {
    let mut rng = Rng::new(seed);
    let plan = Exchange {
        count: Some(messages),
        window: 4,
        size: &mut || SIZES[rng.below(SIZES.len() as u64) as usize] - OVERHEAD,
        stop: None,
        patience: Duration::from_secs(30),
    };
    session(target, index, plan).await
}
