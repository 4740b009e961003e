//! The throughput, latency and idle-memory runs, and their results (Window, Idle).

use std::collections::BTreeMap;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::processes::{log_file, next_line, pinned, start_generator, start_server};
use crate::procfs::{snapshot, vm_rss_kib, wait_quiet, Snapshot, USER_HZ};
use crate::setup::{Case, Options, Result, Server, GENERATOR_CPU};

/// load_test's reporting period (LIBUS_TIMEOUT_GRANULARITY).
const LOAD_TEST_PERIOD: f64 = 4.0;

/// One measurement window of one run.
#[derive(Clone, Default)]
pub(crate) struct Window {
    pub(crate) msgs: f64,
    pub(crate) secs: f64,
    pub(crate) user_ticks: u64,
    pub(crate) sys_ticks: u64,
    /// The generator's own CPU time.
    generator_ticks: u64,
    /// CPU 0's softirq time (the kernel's network work; what ran in the
    /// server's context is in its stime too).
    cpu0_softirq_ticks: u64,
    /// CPU 0 busy time that was not the server's (other processes, softirq
    /// work outside the server's context), and its steal time, in ticks.
    cpu0_other_ticks: i64,
    pub(crate) cpu0_steal_ticks: u64,
    /// CPU 1 busy time that was not the generator's.
    cpu1_other_ticks: i64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
}

impl Window {
    fn between(a: Snapshot, b: Snapshot, secs: f64, msgs: f64) -> Window {
        let user = b.utime - a.utime;
        let sys = b.stime - a.stime;
        Window {
            msgs,
            secs,
            user_ticks: user,
            sys_ticks: sys,
            generator_ticks: b.generator - a.generator,
            cpu0_softirq_ticks: b.cpu0_softirq - a.cpu0_softirq,
            cpu0_other_ticks: (b.cpu0_busy - a.cpu0_busy) as i64 - (user + sys) as i64,
            cpu0_steal_ticks: b.cpu0_steal - a.cpu0_steal,
            cpu1_other_ticks: (b.cpu1_busy - a.cpu1_busy) as i64
                - (b.generator - a.generator) as i64,
            ..Window::default()
        }
    }
    pub(crate) fn msg_per_s(&self) -> f64 {
        self.msgs / self.secs
    }
    pub(crate) fn user_us(&self) -> f64 {
        self.user_ticks as f64 / USER_HZ * 1e6 / self.msgs
    }
    pub(crate) fn sys_us(&self) -> f64 {
        self.sys_ticks as f64 / USER_HZ * 1e6 / self.msgs
    }
    pub(crate) fn busy_pct(&self) -> f64 {
        (self.user_ticks + self.sys_ticks) as f64 / USER_HZ / self.secs * 100.0
    }
    fn pct(&self, ticks: f64) -> f64 {
        ticks / USER_HZ / self.secs * 100.0
    }
    pub(crate) fn gen_pct(&self) -> f64 {
        self.pct(self.generator_ticks as f64)
    }
    pub(crate) fn softirq_pct(&self) -> f64 {
        self.pct(self.cpu0_softirq_ticks as f64)
    }
    /// Other processes' share of the two CPUs (the larger of the two).
    pub(crate) fn other_pct(&self) -> f64 {
        self.pct(self.cpu0_other_ticks.max(self.cpu1_other_ticks).max(0) as f64)
    }
}

pub(crate) fn run_load_test(o: &Options, server: &Server, case: Case, tag: &str) -> Result<Window> {
    let load_test = o.load_test.as_ref().expect("load_test given");
    let proc = start_server(o, server, tag)?;
    let pid = proc.pid();
    wait_quiet(o.quiet_wait);
    // stdbuf: load_test's printf is block-buffered into a pipe otherwise.
    let mut command = Command::new("taskset");
    command
        .args(["-c", GENERATOR_CPU, "stdbuf", "-oL"])
        .arg(load_test)
        .arg(case.connections.to_string())
        .arg("127.0.0.1")
        .arg(o.port.to_string())
        .args(["0", "0"])
        .arg(case.payload.to_string());
    let (generator, rx) = start_generator(
        &mut command,
        log_file(&o.logs, &format!("{tag}.generator.log"))?,
    )?;
    let periods = ((o.measure / LOAD_TEST_PERIOD).round() as usize).max(1);
    let mut running_at = None;
    let mut start: Option<(Instant, Snapshot)> = None;
    let (mut msgs, mut seen) = (0.0, 0);
    loop {
        let timeout = Duration::from_secs(if running_at.is_some() { 12 } else { 60 });
        let (at, line) = next_line(&rx, timeout, "load_test")?;
        if line.contains("ERROR") || line.contains("Closed!") {
            return Err(format!("load_test: {line}"));
        }
        if line.starts_with("Running benchmark now") {
            running_at = Some(at);
            continue;
        }
        let Some(rate) = line.strip_prefix("Msg/sec:") else {
            continue;
        };
        let snap = snapshot(pid, generator.pid())?;
        let Some(running_at) = running_at else {
            continue;
        };
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("odd line {line}"))?;
        match start {
            None if (at - running_at).as_secs_f64() >= o.warmup => start = Some((at, snap)),
            None => {}
            Some((t0, s0)) => {
                msgs += (rate * LOAD_TEST_PERIOD).round();
                seen += 1;
                if seen == periods {
                    return Ok(Window::between(s0, snap, (at - t0).as_secs_f64(), msgs));
                }
            }
        }
    }
}

pub(crate) fn run_ws_load(
    o: &Options,
    server: &Server,
    case: Case,
    tag: &str,
    warmup: f64,
    measure: f64,
) -> Result<Window> {
    let proc = start_server(o, server, tag)?;
    let pid = proc.pid();
    wait_quiet(o.quiet_wait);
    let mut command = pinned(GENERATOR_CPU, &o.bins.join("ws_load"));
    command
        .arg(case.connections.to_string())
        .arg("127.0.0.1")
        .arg(o.port.to_string())
        .arg(case.payload.to_string())
        .arg(warmup.to_string())
        .arg(measure.to_string());
    let (generator, rx) = start_generator(
        &mut command,
        log_file(&o.logs, &format!("{tag}.generator.log"))?,
    )?;
    let mut start = None;
    loop {
        let (at, line) = next_line(&rx, Duration::from_secs(60), "ws_load")?;
        if line.starts_with("Measuring") {
            start = Some((at, snapshot(pid, generator.pid())?));
        } else if let Some(result) = line.strip_prefix("RESULT ") {
            let snap = snapshot(pid, generator.pid())?;
            let (t0, s0) = start.ok_or("RESULT before Measuring")?;
            let kv: BTreeMap<&str, f64> = result
                .split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k, v.parse().unwrap_or(f64::NAN)))
                .collect();
            let get = |k: &str| kv.get(k).copied().ok_or(format!("no {k} in RESULT"));
            // ws_load's own count and clock for the rate; ours for the CPU.
            let mut w = Window::between(s0, snap, (at - t0).as_secs_f64(), get("msgs")?);
            w.secs = get("secs")?;
            w.p50_us = get("p50_us")?;
            w.p99_us = get("p99_us")?;
            w.p999_us = get("p999_us")?;
            return Ok(w);
        }
    }
}

pub(crate) struct Idle {
    pub(crate) before_kib: u64,
    pub(crate) after_kib: u64,
    pub(crate) connected: usize,
}

pub(crate) fn run_idle(o: &Options, server: &Server, tag: &str) -> Result<Idle> {
    let proc = start_server(o, server, tag)?;
    let pid = proc.pid();
    thread::sleep(Duration::from_millis(300));
    let before_kib = vm_rss_kib(pid)?;
    let mut command = pinned(GENERATOR_CPU, &o.bins.join("ws_idle"));
    command
        .arg(o.idle_conns.to_string())
        .arg("127.0.0.1")
        .arg(o.port.to_string())
        .arg("120");
    let (_client, rx) = start_generator(
        &mut command,
        log_file(&o.logs, &format!("{tag}.generator.log"))?,
    )?;
    loop {
        let (_, line) = next_line(&rx, Duration::from_secs(120), "ws_idle")?;
        if let Some(n) = line.strip_prefix("READY ") {
            let connected: usize = n.trim().parse().map_err(|_| format!("odd line {line}"))?;
            thread::sleep(Duration::from_secs(1));
            return Ok(Idle {
                before_kib,
                after_kib: vm_rss_kib(pid)?,
                connected,
            });
        }
    }
}
