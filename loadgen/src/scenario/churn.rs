//! Churn: connections opened and closed at a steady rate, each echoing one
//! checked message; every other one closes with the closing handshake, the
//! rest reset (`SO_LINGER` 0). Afterwards the server's descriptors and
//! memory are back where they were, and its CPU is idle again (an accept
//! loop that spun would show here).

use super::{mib, Params, Report};
use crate::client::{connect, exchange, Exchange, Outcome, Target};
use crate::ledger::{Latencies, Ledger, Totals};
use crate::server::Server;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use wsmachine::CloseCode;

/// Allowed growth of the server's RSS over the measured churn, on top of
/// 10% of what it was: allocator caches and the runtime's high-water
/// marks move by a few MiB between runs (see `loadgen/README.md`); a leak
/// of one connection's buffers per connection would be far more.
const RSS_SLACK: u64 = 16 << 20;
/// The server's CPU, in % of one CPU, over a quiet window after the churn
/// above which it counts as spinning. An idle server uses ~0; a loop that
/// spins uses a whole CPU, or what the machine's other load leaves it
/// (never under ~40% on a 2-CPU machine at load 4).
pub const SPIN_PERCENT: f64 = 25.0;

#[derive(Default)]
struct Churned {
    attempted: usize,
    graceful: usize,
    reset: usize,
    refused: usize,
    failed: usize,
    timed_out: usize,
    first_failure: Option<String>,
    totals: Totals,
    latencies: Latencies,
}

enum Ending {
    Graceful,
    Reset,
}

pub async fn run(server: &Server, params: &Params, report: &mut Report) {
    let target = params.target(server);
    // A warm-up second, so that the baseline includes what the allocator
    // and the runtime keep once they have served connections.
    let warm = churn(
        &target,
        params.churn_rate,
        1,
        params.churn_in_flight,
        1 << 30,
    )
    .await;
    report.check(warm.failed + warm.timed_out + warm.refused == 0, || {
        format!(
            "warm-up: {} failed",
            warm.failed + warm.timed_out + warm.refused
        )
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Ok(before) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let start = Instant::now();
    let run = churn(
        &target,
        params.churn_rate,
        params.churn_seconds,
        params.churn_in_flight,
        0,
    )
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    let Ok(during) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let Ok(fds_after) = server.settle_fds(before.fds, Duration::from_secs(30)).await else {
        return report.fail("cannot read the server's /proc");
    };
    let Ok(quiet_from) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    tokio::time::sleep(params.quiet_window).await;
    let Ok(quiet_to) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };

    report.row(
        "rate asked for",
        format!("{}/s for {} s", params.churn_rate, params.churn_seconds),
    );
    report.row("connections", run.attempted);
    report.row(
        "rate achieved (connections/s)",
        format!("{:.0}", run.attempted as f64 / elapsed),
    );
    report.row(
        "closed: handshake / reset",
        format!("{} / {}", run.graceful, run.reset),
    );
    report.row(
        "refused / failed / timed out",
        format!(
            "{} / {} / {}{}",
            run.refused,
            run.failed,
            run.timed_out,
            run.first_failure
                .as_ref()
                .map(|why| format!(" (first: {why})"))
                .unwrap_or_default()
        ),
    );
    report.row("echoes", run.totals);
    let mut latencies = run.latencies;
    report.row("echo latency", latencies.summary());
    let cpu = before.cpu_seconds_until(&during);
    report.row(
        "server CPU during churn",
        format!(
            "{:.0}% of one CPU, {:.0} µs per connection",
            before.cpu_percent_until(&during),
            cpu * 1e6 / run.attempted.max(1) as f64
        ),
    );
    report.row(
        "server fds before / after",
        format!("{} / {fds_after}", before.fds),
    );
    report.row(
        "server RSS before / after",
        format!("{} / {}", mib(before.rss), mib(quiet_to.rss)),
    );
    let quiet = quiet_from.cpu_percent_until(&quiet_to);
    report.row(
        "server CPU afterwards (% of one CPU)",
        format!("{quiet:.2} over {} s", params.quiet_window.as_secs()),
    );

    report.check(run.failed + run.timed_out + run.refused == 0, || {
        format!(
            "{} refused, {} failed, {} timed out",
            run.refused, run.failed, run.timed_out
        )
    });
    report.check(
        run.totals.faults() == 0 && run.totals.sent as usize == run.attempted,
        || format!("echoes: {}", run.totals),
    );
    report.check(fds_after <= before.fds, || {
        format!("fd leak: {} before, {fds_after} after", before.fds)
    });
    let bound = before.rss + before.rss / 10 + RSS_SLACK;
    report.check(quiet_to.rss <= bound, || {
        format!(
            "RSS grew from {} to {} (bound {})",
            mib(before.rss),
            mib(quiet_to.rss),
            mib(bound)
        )
    });
    report.check(quiet < SPIN_PERCENT, || {
        format!("server busy ({quiet:.1}% of a CPU) after the churn: spinning?")
    });
}

/// Opens `rate` connections a second for `seconds`, at most `in_flight`
/// under way (past that the rate falls behind, and the report shows it).
/// Client indices start at `first`.
async fn churn(
    target: &Target,
    rate: u64,
    seconds: u64,
    in_flight: usize,
    first: usize,
) -> Churned {
    let mut churned = Churned::default();
    let total = (rate * seconds) as usize;
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut running = JoinSet::new();
    while churned.attempted < total || !running.is_empty() {
        tokio::select! {
            _ = tick.tick(), if churned.attempted < total && running.len() < in_flight => {
                let due = (start.elapsed().as_secs_f64() * rate as f64) as usize;
                while churned.attempted < due.min(total) && running.len() < in_flight {
                    let index = first + churned.attempted;
                    let target = target.clone();
                    running.spawn(async move { once(&target, index).await });
                    churned.attempted += 1;
                }
            }
            Some(done) = running.join_next() => {
                let (outcome, ledger, latencies) = done.expect("churn task panicked");
                churned.totals.add_ledger(&ledger);
                churned.latencies.extend(latencies);
                match outcome {
                    Ok(Ending::Graceful) => churned.graceful += 1,
                    Ok(Ending::Reset) => churned.reset += 1,
                    Err(Outcome::Refused(_)) => churned.refused += 1,
                    Err(Outcome::TimedOut) => churned.timed_out += 1,
                    Err(Outcome::Failed(why)) => {
                        churned.failed += 1;
                        churned.first_failure.get_or_insert(why);
                    }
                    Err(Outcome::Open(_)) => unreachable!(),
                }
            }
        }
    }
    churned
}

/// One connection: open, one checked echo, then close (even `index`) or
/// reset (odd).
async fn once(target: &Target, index: usize) -> (Result<Ending, Outcome>, Ledger, Latencies) {
    let mut ledger = Ledger::new(index as u32);
    let mut latencies = Latencies::default();
    let mut ws = match connect(target, index, Duration::from_secs(10)).await {
        Outcome::Open(ws) => ws,
        other => {
            ledger.next_seq();
            return (Err(other), ledger, latencies);
        }
    };
    let plan = Exchange {
        count: Some(1),
        window: 1,
        size: &mut || 64,
        stop: None,
        patience: Duration::from_secs(10),
    };
    if let Err(e) = exchange(&mut ws, &mut ledger, &mut latencies, plan).await {
        return (Err(Outcome::Failed(e.to_string())), ledger, latencies);
    }
    if index % 2 == 1 {
        let _ = ws.get_ref().set_zero_linger();
        return (Ok(Ending::Reset), ledger, latencies);
    }
    let closing = ws.close(CloseCode::NORMAL, "churn");
    match tokio::time::timeout(Duration::from_secs(10), closing).await {
        Ok(Ok(())) => (Ok(Ending::Graceful), ledger, latencies),
        Ok(Err(e)) => (
            Err(Outcome::Failed(format!("close: {e}"))),
            ledger,
            latencies,
        ),
        Err(_) => (Err(Outcome::TimedOut), ledger, latencies),
    }
}
