//! Out of file descriptors: the server runs with a low `RLIMIT_NOFILE`.
//! More clients come than it has descriptors for; those past the limit
//! must get an answer (503) rather than hang or crash it, the connections
//! it holds must go on echoing, its CPU must stay low while clients keep
//! knocking, and once some connections close it must accept again.

use super::churn::SPIN_PERCENT;
use super::{connect_many, Attempts, Params, Report};
use crate::client::{connect, Target};
use crate::hold::Holder;
use crate::ledger::Totals;
use crate::server::Server;
use std::time::Duration;
use tokio::task::JoinSet;

/// Every attempt here gets this long: an answer takes milliseconds.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);

pub async fn run(server: &Server, params: &Params, report: &mut Report) {
    let target = Target {
        sources: 1,
        ..params.target(server)
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Ok(base) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let room = (params.fd_limit as usize).saturating_sub(base.fds);
    let asked = room + params.fd_extra;
    report.row("server RLIMIT_NOFILE", params.fd_limit);
    report.row("server fds at start", base.fds);
    report.row("connections attempted", asked);
    let mut held = Vec::new();
    let first = connect_many(&target, 0, asked, 16, ATTEMPT_LIMIT, |i, ws| {
        held.push(Holder::new(ws, i as u32));
    })
    .await;
    report.row("attempts", &first);
    report.check(first.open > 0 && first.open < asked, || {
        format!("the limit was not reached: {first}")
    });
    report.check(first.timed_out + first.failed == 0, || {
        format!("attempts past the limit were not answered: {first}")
    });
    report.check(first.refused.keys().all(|&status| status == 503), || {
        format!("refusals other than 503: {first}")
    });

    // Out of descriptors, with a client knocking every 20 ms.
    let Ok(from) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let knocks = knock(&target, params.quiet_window).await;
    let Ok(to) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let busy = from.cpu_percent_until(&to);
    report.row("knocks while out of fds", &knocks);
    report.row(
        "server CPU while out of fds (% of one CPU)",
        format!("{busy:.2} over {} s", params.quiet_window.as_secs()),
    );
    report.check(busy < SPIN_PERCENT, || {
        format!("server busy ({busy:.1}% of a CPU) while out of fds: spinning?")
    });
    report.check(
        knocks.open == 0 && knocks.timed_out + knocks.failed == 0,
        || format!("knocks while out of fds: {knocks}"),
    );

    // The connections it holds are still served.
    let totals = echo_each(&held).await;
    report.row("echo on every held connection", totals);
    report.check(
        totals.faults() == 0 && totals.sent == held.len() as u64,
        || format!("held connections: {totals}"),
    );

    // Half of them close; it accepts again.
    let half = held.len() / 2;
    let mut closing: JoinSet<_> = held.drain(..half).map(Holder::close).collect();
    while closing.join_next().await.is_some() {}
    let Ok(now) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let _ = server
        .settle_fds(now.fds.saturating_sub(half), ATTEMPT_LIMIT)
        .await;
    let mut again = Vec::new();
    let second = connect_many(&target, 10_000, half, 16, ATTEMPT_LIMIT, |i, ws| {
        again.push(Holder::new(ws, i as u32));
    })
    .await;
    report.row("after closing half of them", &second);
    report.check(second.open > 0, || {
        format!("never accepted again: {second}")
    });
    let totals = echo_each(&again).await;
    report.row("echo on the new connections", totals);
    report.check(totals.faults() == 0, || {
        format!("new connections: {totals}")
    });

    // Everything closes; every descriptor comes back.
    for holder in held.into_iter().chain(again) {
        holder.reset().await;
    }
    let settled = server.settle_fds(base.fds, Duration::from_secs(30)).await;
    let fds_after = settled.unwrap_or(usize::MAX);
    report.row("server fds at the end", fds_after);
    report.check(fds_after <= base.fds, || {
        format!("fd leak: {} at start, {fds_after} at the end", base.fds)
    });
}

/// One connection attempt every 20 ms for `window`.
async fn knock(target: &Target, window: Duration) -> Attempts {
    let mut knocking = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = tokio::time::Instant::now() + window;
    let mut index = 20_000;
    while tokio::time::Instant::now() < end {
        tick.tick().await;
        let target = target.clone();
        index += 1;
        knocking.spawn(async move { connect(&target, index, ATTEMPT_LIMIT).await });
    }
    let mut attempts = Attempts::default();
    while let Some(done) = knocking.join_next().await {
        attempts.count(&done.expect("knock panicked"));
    }
    attempts
}

/// One checked echo on each connection, all at once.
async fn echo_each(held: &[Holder]) -> Totals {
    let mut echoing: JoinSet<_> = held.iter().map(Holder::echo).collect();
    let mut totals = Totals::default();
    while let Some(done) = echoing.join_next().await {
        totals.add_ledger(&done.expect("echo panicked").0);
    }
    totals
}
