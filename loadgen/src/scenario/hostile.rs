//! Slow and hostile clients mixed with good ones. First peers that never
//! read (each sends until the server stops reading it) and peers that send
//! a frame header and stall, each group measured for the server memory it
//! costs; then, together, slowloris handshakes (answered 408 at the
//! handshake deadline), resets in the middle of a frame, and good clients
//! echoing checked messages throughout: their latency and loss.

use super::{mib, per_item, Params, Report};
use crate::client::{gather, session, Exchange, Rng, Session, Target};
use crate::hostile::{header_staller, never_reader, reset_mid_frame, slowloris, Slowloris};
use crate::server::Server;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// A never-reader's message: 64 KiB binary frames, echoed by the server.
const NEVER_READER_MESSAGE: usize = 64 << 10;
/// What a never-reader may send at most. The server stops reading it once
/// its output is above `output_high_water` (1 MiB by default), so a few
/// MiB get through (that, the socket buffers, one message); reaching this
/// cap means it never stopped.
const NEVER_READER_CAP: u64 = 64 << 20;
/// The server memory a never-reader may cost: its output up to the 1 MiB
/// high-water mark plus the messages read before that, and the receive
/// buffer. About twice the most measured (2.0 MiB, echo_server_tokio in
/// release; 1.4 MiB for the chat; `loadgen/README.md`).
const NEVER_READER_BOUND: i64 = 4 << 20;
/// A staller declares a 1 MiB frame and sends 100 bytes of it: the server
/// makes room for a frame only as it arrives, so such a peer costs a few
/// KiB (15 to 20 KiB measured, the task and socket included), not 1 MiB.
const STALLER_DECLARED: u64 = 1 << 20;
const STALLER_BOUND: i64 = 64 << 10;
/// Slowloris clients send a byte this often...
const TRICKLE: Duration = Duration::from_secs(1);
/// ... and give up (counted as never answered) after this long: three
/// times the servers' 10 s handshake deadline.
const SLOWLORIS_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(server: &Server, params: &Params, report: &mut Report) {
    let target = params.target(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Ok(base) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let mut held: Vec<TcpStream> = Vec::new();

    // Peers that never read.
    let mut readers = JoinSet::new();
    for i in 0..params.never_readers {
        let target = target.clone();
        readers.spawn(async move {
            let stall = Duration::from_millis(500);
            never_reader(&target, i, NEVER_READER_MESSAGE, stall, NEVER_READER_CAP).await
        });
    }
    let (mut sent_max, mut reader_failures) = (0u64, Vec::new());
    while let Some(done) = readers.join_next().await {
        match done.expect("never-reader panicked") {
            Ok((stream, sent)) => {
                sent_max = sent_max.max(sent);
                held.push(stream);
            }
            Err(e) => reader_failures.push(e.to_string()),
        }
    }
    let readers_held = held.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Ok(with_readers) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let per_reader = per_item(with_readers.rss, base.rss, readers_held);
    report.row("never-readers held", readers_held);
    report.row("never-reader: most bytes it got to send", mib(sent_max));
    report.row("server RSS per never-reader (bytes)", per_reader);
    report.check(reader_failures.is_empty(), || {
        format!("never-readers failed: {reader_failures:?}")
    });
    report.check(sent_max < NEVER_READER_CAP, || {
        format!("a never-reader sent {} unhindered", mib(sent_max))
    });
    report.check(
        readers_held == 0 || per_reader <= NEVER_READER_BOUND,
        || format!("{per_reader} bytes per never-reader (bound {NEVER_READER_BOUND})"),
    );

    // Peers that send a frame header and stall.
    let mut stallers = JoinSet::new();
    for i in 0..params.stallers {
        let target = target.clone();
        stallers.spawn(
            async move { header_staller(&target, 100_000 + i, STALLER_DECLARED, 100).await },
        );
    }
    let mut staller_failures = Vec::new();
    while let Some(done) = stallers.join_next().await {
        match done.expect("staller panicked") {
            Ok(stream) => held.push(stream),
            Err(e) => staller_failures.push(e.to_string()),
        }
    }
    let stallers_held = held.len() - readers_held;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Ok(with_stallers) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let per_staller = per_item(with_stallers.rss, with_readers.rss, stallers_held);
    report.row("header stallers held", stallers_held);
    report.row("server RSS per header staller (bytes)", per_staller);
    report.check(staller_failures.is_empty(), || {
        format!("stallers failed: {staller_failures:?}")
    });
    report.check(stallers_held == 0 || per_staller <= STALLER_BOUND, || {
        format!("{per_staller} bytes per staller (bound {STALLER_BOUND})")
    });

    // Slowloris, resets and good clients together.
    let stop = Arc::new(AtomicBool::new(false));
    let mut good = JoinSet::new();
    for i in 0..params.good_clients {
        let (target, stop) = (target.clone(), stop.clone());
        good.spawn(async move { good_client(&target, 200_000 + i, &stop, i as u64).await });
    }
    let mut resetters = JoinSet::new();
    let resets_done = Arc::new(AtomicUsize::new(0));
    // Reset number n is due n/resets of the way through the slowloris'
    // 10 s; all of them are done, however long that takes.
    let (started, spacing) = (
        tokio::time::Instant::now(),
        Duration::from_secs(10) / params.resets.max(1) as u32,
    );
    for w in 0..8 {
        let (target, done) = (target.clone(), resets_done.clone());
        let resets = params.resets;
        resetters.spawn(async move {
            let (mut failures, mut rng) = (Vec::new(), Rng::new(w));
            loop {
                let n = done.fetch_add(1, Ordering::Relaxed);
                if n >= resets {
                    return failures;
                }
                tokio::time::sleep_until(started + spacing * n as u32).await;
                let pause = Duration::from_millis(rng.below(5));
                if let Err(e) = reset_mid_frame(&target, 300_000 + n, pause).await {
                    failures.push(e.to_string());
                }
            }
        });
    }
    let Ok(mixed_from) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let mut lorises = JoinSet::new();
    for i in 0..params.slowloris {
        let target = target.clone();
        lorises
            .spawn(async move { slowloris(&target, 400_000 + i, TRICKLE, SLOWLORIS_LIMIT).await });
    }
    let mut endings: BTreeMap<String, usize> = BTreeMap::new();
    let (mut answered_408, mut first, mut last) = (0, Duration::MAX, Duration::ZERO);
    while let Some(done) = lorises.join_next().await {
        let (ending, after) = done.expect("slowloris panicked");
        if ending == Slowloris::Answered(408) {
            answered_408 += 1;
            first = first.min(after);
            last = last.max(after);
        }
        *endings.entry(format!("{ending:?}")).or_default() += 1;
    }
    let mut reset_failures = Vec::new();
    while let Some(done) = resetters.join_next().await {
        reset_failures.extend(done.expect("resetter panicked"));
    }
    stop.store(true, Ordering::Relaxed);
    let (totals, mut latencies, good_failures) = gather(good).await;
    let Ok(mixed_to) = server.sample() else {
        return report.fail("cannot read the server's /proc");
    };
    let resets = params.resets;
    report.row("slowloris endings", format!("{endings:?}"));
    if answered_408 > 0 {
        report.row(
            "slowloris answered 408 after (s)",
            format!("{:.1} to {:.1}", first.as_secs_f64(), last.as_secs_f64()),
        );
    }
    report.row(
        "resets mid-frame (failed)",
        format!("{resets} ({})", reset_failures.len()),
    );
    report.row("good clients", params.good_clients);
    report.row("good clients' echoes", totals);
    report.row("good clients' echo latency", latencies.summary());
    report.row(
        "server CPU, mixed phase (% of one CPU)",
        format!("{:.1}", mixed_from.cpu_percent_until(&mixed_to)),
    );
    report.row(
        "server RSS, base / peak phase",
        format!("{} / {}", mib(base.rss), mib(mixed_to.rss)),
    );
    report.check(answered_408 == params.slowloris, || {
        format!(
            "{answered_408} of {} slowloris answered 408: {endings:?}",
            params.slowloris
        )
    });
    report.check(reset_failures.is_empty(), || {
        format!(
            "resetters failed: {:?}",
            &reset_failures[..reset_failures.len().min(3)]
        )
    });
    report.check(good_failures.is_empty(), || {
        format!("good clients failed: {good_failures:?}")
    });
    report.check(totals.faults() == 0 && totals.sent > 0, || {
        format!("good clients: {totals}")
    });

    // Reset everything held; every descriptor must come back.
    for stream in held.drain(..) {
        let _ = stream.set_zero_linger();
    }
    let settled = server.settle_fds(base.fds, Duration::from_secs(30)).await;
    let fds_after = settled.unwrap_or(usize::MAX);
    report.row(
        "server fds before / after",
        format!("{} / {fds_after}", base.fds),
    );
    report.check(fds_after <= base.fds, || {
        format!("fd leak: {} before, {fds_after} after", base.fds)
    });
}

/// Echoes checked messages of 16 B to 1 KiB, one at a time, until `stop`.
async fn good_client(target: &Target, index: usize, stop: &AtomicBool, seed: u64) -> Session {
    let mut rng = Rng::new(seed);
    let plan = Exchange {
        count: None,
        window: 1,
        size: &mut || 16 + rng.below(1009) as usize,
        stop: Some(stop),
        patience: Duration::from_secs(30),
    };
    session(target, index, plan).await
}
