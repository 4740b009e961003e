//! The load-race driver (run by `bench/load-race/run.sh`; see the README
//! there): starts each echo server pinned to one CPU, drives it with a load
//! generator pinned to the other, samples the server's CPU time from /proc
//! over a fixed window, and prints Markdown tables of medians.
//!
//! ```text
//! load_race --bins DIR [--uws-echo PATH] [--load-test PATH] [options]
//! ```
//!
//! Options (defaults in brackets): `--port N` [9001; uWS' EchoServer
//! listens on 9001 and nowhere else], `--reps N` [3] throughput runs per
//! (server, case), `--warmup S` [3] and `--measure S` [8] for them,
//! `--lat-reps N` [1], `--lat-warmup S` [1], `--lat-measure S` [4] for the
//! latency runs, `--idle-conns N` [10000] and `--idle-reps N` [1] for the
//! idle-memory runs (0 skips them), `--quiet-wait S` [3] (before each
//! load run, wait up to S s for both CPUs to be under 25% busy: other work
//! on the machine distorts every number; the tables show how much of it
//! there was), `--cases 100x20,500x1024,200x16384`,
//! `--servers a,b` (a subset, by name), `--logs DIR` [the current
//! directory's `load-race-logs`], `--out FILE` (the Markdown also goes
//! there), `--raw FILE` (one CSV line per run).
//!
//! The phases, servers interleaved within each (A B C D E, A B C D E, ...):
//! 1. Throughput and CPU: `load_test` (uWebSockets' generator) for
//!    `--warmup` + `--measure` seconds per run; without `--load-test`, the
//!    Rust `ws_load` stands in. load_test prints `Msg/sec: X` every 4 s
//!    (uSockets' timer granularity), X being the echoes of the last period
//!    divided by 4: the window starts at the first such line at least
//!    `--warmup` s after `Running benchmark now...` and spans the next
//!    round(`--measure`/4) lines. The server's utime and stime are read from
//!    `/proc/<pid>/stat` as each bounding line arrives, and the messages are
//!    4 × the X of the lines inside, over the wall time between the two
//!    lines as measured here. The same window also gives the generator's
//!    own CPU (from its /proc stat), CPU 0's softirq time (the kernel's
//!    network work; with tick-based accounting, what of it ran in the
//!    server's context is also in the server's stime), and what other
//!    processes used of either CPU (busy time that was not the pinned
//!    process's).
//! 2. Latency: `ws_load` (Rust, same traffic pattern, every message timed),
//!    `--lat-warmup` + `--lat-measure` s per run; p50/p99/p99.9 from its
//!    own measurement window, with the server's CPU over it too.
//! 3. Idle memory: `ws_idle` opens `--idle-conns` connections, upgrades
//!    them and holds them; the server's `VmRSS` (/proc/<pid>/status) is read
//!    before the first connection and 1 s after the last upgrade.

mod phase;
mod processes;
mod procfs;
mod runs;
mod setup;
mod tables;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use phase::Phase;
use runs::{run_idle, run_load_test, run_ws_load, Idle};
use setup::{Case, Options, Result, Server, UWS};
use tables::{latency_table, ratio, stats, throughput_table};

const WSMACHINE: &str = "wsmachine";

fn parse_options() -> Result<Options> {
    let mut o = Options {
        bins: PathBuf::new(),
        uws_echo: None,
        load_test: None,
        port: 9001,
        reps: 3,
        warmup: 3.0,
        measure: 8.0,
        lat_reps: 1,
        lat_warmup: 1.0,
        lat_measure: 4.0,
        idle_conns: 10_000,
        idle_reps: 1,
        quiet_wait: Duration::from_secs(3),
        cases: Vec::new(),
        servers: None,
        logs: PathBuf::from("load-race-logs"),
        out: None,
        raw: None,
    };
    let mut cases = "100x20,500x1024,200x16384".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--bins" => o.bins = value.into(),
            "--uws-echo" => {
                o.uws_echo = Some(value.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "--load-test" => {
                o.load_test = Some(value.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "--port" => o.port = num(&value)? as u16,
            "--reps" => o.reps = num(&value)? as usize,
            "--warmup" => o.warmup = num(&value)?,
            "--measure" => o.measure = num(&value)?,
            "--lat-reps" => o.lat_reps = num(&value)? as usize,
            "--lat-warmup" => o.lat_warmup = num(&value)?,
            "--lat-measure" => o.lat_measure = num(&value)?,
            "--idle-conns" => o.idle_conns = num(&value)? as usize,
            "--idle-reps" => o.idle_reps = num(&value)? as usize,
            "--quiet-wait" => o.quiet_wait = Duration::from_secs_f64(num(&value)?),
            "--cases" => cases = value,
            "--servers" => o.servers = Some(value.split(',').map(str::to_string).collect()),
            "--logs" => o.logs = value.into(),
            "--out" => o.out = Some(value.into()),
            "--raw" => o.raw = Some(value.into()),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.bins.as_os_str().is_empty() {
        return Err("--bins DIR (the release binaries) is required".into());
    }
    for case in cases.split(',') {
        let (c, p) = case
            .split_once('x')
            .ok_or(format!("a case is CONNECTIONSxPAYLOAD, not {case}"))?;
        o.cases.push(Case {
            connections: c.parse().map_err(|_| format!("bad case {case}"))?,
            payload: p.parse().map_err(|_| format!("bad case {case}"))?,
        });
    }
    Ok(o)
}

fn servers(o: &Options) -> Result<Vec<Server>> {
    let mut all = Vec::new();
    if let Some(program) = &o.uws_echo {
        all.push(Server {
            name: UWS,
            program: program.clone(),
        });
    }
    for (name, bin) in [
        ("fastwebsockets", "echo_fastwebsockets"),
        ("tokio-websockets", "echo_tokio_websockets"),
        ("tokio-tungstenite", "echo_tokio_tungstenite"),
        (WSMACHINE, "echo_wsmachine"),
    ] {
        all.push(Server {
            name,
            program: o.bins.join(bin),
        });
    }
    if let Some(wanted) = &o.servers {
        all.retain(|s| wanted.iter().any(|w| w == s.name));
    }
    for s in &all {
        if !s.program.exists() {
            return Err(format!("{}: {} not found", s.name, s.program.display()));
        }
    }
    if all.iter().any(|s| s.name == UWS) && o.port != 9001 {
        return Err("uWS' EchoServer listens on 9001 only: --port 9001".into());
    }
    Ok(all)
}

fn run() -> Result<String> {
    let o = parse_options()?;
    let servers = servers(&o)?;
    std::fs::create_dir_all(&o.logs).map_err(|e| format!("{}: {e}", o.logs.display()))?;
    let mut raw = String::from(
        "phase,case,server,rep,msgs,secs,msg_per_s,user_ticks,sys_ticks,user_us_per_msg,sys_us_per_msg,busy_pct,gen_cpu_pct,cpu0_softirq_pct,other_pct,cpu0_steal_ticks,p50_us,p99_us,p999_us,rss_before_kib,rss_after_kib,error\n",
    );
    let began = Instant::now();
    let generator = if o.load_test.is_some() {
        "load_test"
    } else {
        "ws_load"
    };

    // Phase 1: throughput and CPU.
    let mut ctx = Phase {
        o: &o,
        servers: &servers,
        began,
        raw: &mut raw,
    };
    let throughput = ctx.run("tput", o.reps, |server, case, tag| {
        if o.load_test.is_some() {
            run_load_test(&o, server, case, tag)
        } else {
            run_ws_load(&o, server, case, tag, o.warmup, o.measure)
        }
    });
    // Phase 2: latency with the Rust generator; ws_load runs double as
    // latency runs when they did phase 1.
    let latency = if o.load_test.is_some() {
        ctx.run("lat", o.lat_reps, |server, case, tag| {
            run_ws_load(&o, server, case, tag, o.lat_warmup, o.lat_measure)
        })
    } else {
        throughput.clone()
    };

    // Phase 3: idle memory.
    let mut idle: BTreeMap<&str, Vec<Idle>> = BTreeMap::new();
    if o.idle_conns > 0 {
        for rep in 1..=o.idle_reps {
            for server in &servers {
                let tag = format!("idle-{}-{rep}", server.name);
                match run_idle(&o, server, &tag) {
                    Ok(i) => {
                        eprintln!(
                            "[{:>4.0}s] {tag}: {} connections, VmRSS {} -> {} KiB",
                            began.elapsed().as_secs_f64(),
                            i.connected,
                            i.before_kib,
                            i.after_kib
                        );
                        let _ = writeln!(
                            raw,
                            "idle,{},{},{rep},{},,,,,,,,,,,,,,,{},{},",
                            o.idle_conns, server.name, i.connected, i.before_kib, i.after_kib
                        );
                        idle.entry(server.name).or_default().push(i);
                    }
                    Err(e) => {
                        eprintln!(
                            "[{:>4.0}s] {tag}: FAILED: {e}",
                            began.elapsed().as_secs_f64()
                        );
                        let _ = writeln!(
                            raw,
                            "idle,{},{},{rep},,,,,,,,,,,,,,,,,,{}",
                            o.idle_conns,
                            server.name,
                            e.replace(',', ";")
                        );
                    }
                }
                // Let the reset connections drain out of the kernel.
                thread::sleep(Duration::from_millis(500));
            }
        }
    }

    // The report.
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### Throughput and server CPU ({} runs per cell, {} s warm-up, ~{} s window)",
        o.reps, o.warmup, o.measure
    );
    throughput_table(&mut md, &o, &servers, &throughput, generator);
    let _ = writeln!(
        md,
        "\n### Latency under the same load (ws_load, {} run(s) per cell, {} s window)",
        if o.load_test.is_some() {
            o.lat_reps
        } else {
            o.reps
        },
        if o.load_test.is_some() {
            o.lat_measure
        } else {
            o.measure
        },
    );
    latency_table(&mut md, &o, &servers, &latency);
    if o.idle_conns > 0 {
        let _ = writeln!(
            md,
            "\n### Memory per idle upgraded connection ({} connections)\n",
            o.idle_conns
        );
        let _ = writeln!(md, "| server | connected | VmRSS before | VmRSS after | KiB per connection (min–max) | vs uWS |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        let per = |i: &Idle| (i.after_kib as f64 - i.before_kib as f64) / i.connected.max(1) as f64;
        let uws = idle
            .get(UWS)
            .map(|v| stats(&mut v.iter().map(per).collect::<Vec<_>>()).0);
        for server in &servers {
            let Some(v) = idle.get(server.name) else {
                let _ = writeln!(md, "| {} | failed (see the log) | | | | |", server.name);
                continue;
            };
            let (m, lo, hi) = stats(&mut v.iter().map(per).collect::<Vec<_>>());
            let last = v.last().expect("one run at least");
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} MiB | {:.1} MiB | {:.2} ({:.2}–{:.2}) | {} |",
                server.name,
                last.connected,
                last.before_kib as f64 / 1024.0,
                last.after_kib as f64 / 1024.0,
                m,
                lo,
                hi,
                ratio(m, uws)
            );
        }
    }
    let _ = writeln!(md, "\nTotal time: {:.0} s.", began.elapsed().as_secs_f64());
    if let Some(path) = &o.raw {
        std::fs::write(path, raw).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &o.out {
        std::fs::write(path, &md).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(md)
}

fn main() -> ExitCode {
    match run() {
        Ok(md) => {
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("load_race: {e}");
            ExitCode::FAILURE
        }
    }
}
