//! N idle connections after the handshake: the server's resident memory
//! per connection above its baseline, its CPU while they idle with
//! keepalive on, then one checked echo on every connection, then a reset of
//! all of them and the server's descriptors back to the baseline.

use super::{connect_many, fd_room, mib, per_item, Params, Report};
use crate::client::{connect_from, Outcome, Target};
use crate::hold::{HoldStats, Holder};
use crate::ledger::{Latencies, Totals};
use crate::server::Kind;
use crate::server::Server;
use crate::sys;
use std::time::Duration;
use tokio::task::JoinSet;

/// The server memory an idle upgraded connection may cost. Measured:
/// 1.6 to 1.7 KiB (echo_server_tokio), 3.7 to 3.8 KiB (chat), debug and
/// release (`loadgen/README.md`); a buffer of the size a busy connection
/// uses (64 KiB) kept per idle one would be far past it.
const IDLE_BOUND: i64 = 16 << 10;
/// Holding them idle (keepalive Pings and Pongs included) may move the
/// server's memory by allocator noise, not by a growth per connection:
/// 10% plus 4 MiB.
fn hold_bound(rss: u64) -> u64 {
    rss + rss / 10 + (4 << 20)
}

pub async fn run(server: &Server, params: &Params, report: &mut Report) {
    let target = params.target(server);
    let own = sys::nofile().map(|(soft, _)| soft).unwrap_or(1024);
    let room = fd_room(own);
    let n = params.idle_connections.min(room);
    report.row("connections asked for", params.idle_connections);
    if n < params.idle_connections {
        report.row(
            "connections (clamped)",
            format!("{n}: RLIMIT_NOFILE is {own} here, for the server and for this process"),
        );
    }
    who_gets_in(&target, server.kind, report).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Ok(before) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let mut holders = Vec::new();
    let attempts = connect_many(&target, 0, n, 64, Duration::from_secs(20), |i, ws| {
        holders.push(Holder::new(ws, i as u32));
    })
    .await;
    report.row("attempts", &attempts);
    let expected_open = server.kind.connection_cap().map_or(n, |cap| n.min(cap));
    report.check(attempts.open == expected_open, || {
        format!(
            "{} connections open, {expected_open} expected",
            attempts.open
        )
    });
    let refused_503 = attempts.refused.get(&503).copied().unwrap_or(0);
    report.check(
        attempts.refused_total() == refused_503 && refused_503 == n - expected_open,
        || {
            format!(
                "refusals {:?}: {} × 503 expected",
                attempts.refused,
                n - expected_open
            )
        },
    );
    report.check(attempts.failed + attempts.timed_out == 0, || {
        format!(
            "{} failed, {} timed out",
            attempts.failed, attempts.timed_out
        )
    });
    // Let the last handshakes' buffers go back before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Ok(held) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    tokio::time::sleep(params.idle_hold).await;
    let Ok(after_hold) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    report.row("server RSS before", mib(before.rss));
    report.row("server RSS with the connections", mib(held.rss));
    report.row(
        "server RSS per connection (bytes)",
        per_item(held.rss, before.rss, attempts.open),
    );
    report.row(
        "server RSS after holding",
        format!("{} ({} s)", mib(after_hold.rss), params.idle_hold.as_secs()),
    );
    report.row(
        "server CPU while idle (% of one CPU)",
        format!("{:.2}", held.cpu_percent_until(&after_hold)),
    );
    report.row(
        "server fds before / holding",
        format!("{} / {}", before.fds, held.fds),
    );
    let per_connection = per_item(held.rss, before.rss, attempts.open);
    report.check(per_connection <= IDLE_BOUND, || {
        format!("{per_connection} bytes per idle connection (bound {IDLE_BOUND})")
    });
    report.check(after_hold.rss <= hold_bound(held.rss), || {
        format!(
            "RSS grew from {} to {} while idle",
            mib(held.rss),
            mib(after_hold.rss)
        )
    });

    // One checked echo on every connection.
    let mut echoes: JoinSet<_> = holders.iter().map(Holder::echo).collect();
    let mut totals = Totals::default();
    let mut latencies = Latencies::default();
    while let Some(done) = echoes.join_next().await {
        let (ledger, lat) = done.expect("echo panicked");
        totals.add_ledger(&ledger);
        latencies.extend(lat);
    }
    report.row("echo after holding", totals);
    report.row("echo after holding, latency", latencies.summary());
    report.check(
        totals.faults() == 0 && totals.sent == attempts.open as u64,
        || format!("after holding, one echo each: {totals}"),
    );

    // Reset them all; the server must let every descriptor go.
    let mut sum = HoldStats::default();
    let mut ended_early = 0;
    for holder in holders {
        let done = holder.reset().await;
        sum.pings += done.pings;
        sum.unexpected += done.unexpected;
        ended_early += u64::from(done.ended_early);
    }
    report.row(
        "keepalive Pings answered (per connection)",
        format!(
            "{} ({:.1})",
            sum.pings,
            sum.pings as f64 / attempts.open.max(1) as f64
        ),
    );
    report.check(sum.unexpected == 0, || {
        format!("{} unexpected messages while idle", sum.unexpected)
    });
    report.check(ended_early == 0, || {
        format!("{ended_early} connections ended while idle")
    });
    let settled = server.settle_fds(before.fds, Duration::from_secs(30)).await;
    let fds_after = settled.unwrap_or(usize::MAX);
    report.row("server fds after the resets", fds_after);
    report.check(fds_after <= before.fds, || {
        format!(
            "server fds {fds_after} after the resets, {} before",
            before.fds
        )
    });
}

/// A page of the server's own origin gets in; one from elsewhere gets 403
/// from the chat (`OriginPolicy::SameHost`) and gets in on the echo server
/// (the default, `OriginPolicy::Any`).
async fn who_gets_in(target: &Target, kind: Kind, report: &mut Report) {
    let own = format!("http://{}", target.addr);
    let limit = Duration::from_secs(10);
    let same = connect_from(target, 0, limit, Some(&own)).await;
    let foreign = connect_from(target, 1, limit, Some("https://elsewhere.example")).await;
    let status = |outcome: &Outcome| match outcome {
        Outcome::Open(_) => 101,
        Outcome::Refused(status) => *status,
        _ => 0,
    };
    let (same, foreign) = (status(&same), status(&foreign));
    report.row(
        "Origin: own page / another site's",
        format!("{same} / {foreign}"),
    );
    let expected = match kind {
        Kind::Echo => (101, 101),
        Kind::Chat => (101, 403),
    };
    report.check((same, foreign) == expected, || {
        format!("Origin answered {same} / {foreign}, expected {expected:?}")
    });
}
