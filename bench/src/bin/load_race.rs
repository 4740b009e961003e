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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

const SERVER_CPU: &str = "0";
const GENERATOR_CPU: &str = "1";
/// /proc reports CPU times in USER_HZ, 100 on Linux whatever the kernel's HZ.
const USER_HZ: f64 = 100.0;
/// load_test's reporting period (LIBUS_TIMEOUT_GRANULARITY).
const LOAD_TEST_PERIOD: f64 = 4.0;
const UWS: &str = "uWebSockets";
const WSMACHINE: &str = "wsmachine";

type Result<T> = std::result::Result<T, String>;

#[derive(Clone)]
struct Server {
    name: &'static str,
    program: PathBuf,
}

#[derive(Clone, Copy)]
struct Case {
    connections: usize,
    payload: usize,
}

impl Case {
    fn label(self) -> String {
        let size = match self.payload {
            p if p >= 1024 && p % 1024 == 0 => format!("{} KiB", p / 1024),
            p => format!("{p} B"),
        };
        format!("{} connections × {size}", self.connections)
    }
}

struct Options {
    bins: PathBuf,
    uws_echo: Option<PathBuf>,
    load_test: Option<PathBuf>,
    port: u16,
    reps: usize,
    warmup: f64,
    measure: f64,
    lat_reps: usize,
    lat_warmup: f64,
    lat_measure: f64,
    idle_conns: usize,
    idle_reps: usize,
    quiet_wait: Duration,
    cases: Vec<Case>,
    servers: Option<Vec<String>>,
    logs: PathBuf,
    out: Option<PathBuf>,
    raw: Option<PathBuf>,
}

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

// ------------------------------------------------------------------ /proc

/// (utime, stime) of a process, all threads, in USER_HZ ticks.
fn proc_cpu(pid: u32) -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')').ok_or("odd /proc/pid/stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields[n - 3].parse::<u64>().map_err(|e| e.to_string());
    Ok((field(14)?, field(15)?))
}

/// (busy, softirq, steal) ticks of one CPU from /proc/stat; busy excludes
/// idle, iowait and steal, and includes softirq.
fn cpu_ticks(cpu: &str) -> Result<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| e.to_string())?;
    let label = format!("cpu{cpu} ");
    let line = stat
        .lines()
        .find(|l| l.starts_with(&label))
        .ok_or(format!("no {label} in /proc/stat"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest counted in user)
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    Ok((busy, v[6], v.get(7).copied().unwrap_or(0)))
}

fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS".into())
}

/// True when something listens on `port` (IPv4 or IPv6) in this network
/// namespace.
fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|file| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&needle) && f[3] == "0A"
            })
    })
}

#[derive(Clone, Copy, Default)]
struct Snapshot {
    utime: u64,
    stime: u64,
    generator: u64,
    cpu0_busy: u64,
    cpu0_softirq: u64,
    cpu0_steal: u64,
    cpu1_busy: u64,
}

/// The server's and the generator's CPU times and both CPUs' counters.
fn snapshot(server: u32, generator: u32) -> Result<Snapshot> {
    let (utime, stime) = proc_cpu(server)?;
    let (gu, gs) = proc_cpu(generator)?;
    let (cpu0_busy, cpu0_softirq, cpu0_steal) = cpu_ticks(SERVER_CPU)?;
    let (cpu1_busy, _, _) = cpu_ticks(GENERATOR_CPU)?;
    Ok(Snapshot {
        utime,
        stime,
        generator: gu + gs,
        cpu0_busy,
        cpu0_softirq,
        cpu0_steal,
        cpu1_busy,
    })
}

/// Waits (up to `max`) until neither CPU is more than 25% busy over 0.5 s,
/// so that runs start on a quiet machine when the machine allows it.
fn wait_quiet(max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        let sample = || -> Option<(u64, u64, Instant)> {
            let a = cpu_ticks(SERVER_CPU).ok()?.0;
            let b = cpu_ticks(GENERATOR_CPU).ok()?.0;
            Some((a, b, Instant::now()))
        };
        let Some((a0, b0, t0)) = sample() else { return };
        thread::sleep(Duration::from_millis(500));
        let Some((a1, b1, t1)) = sample() else { return };
        let secs = (t1 - t0).as_secs_f64();
        let busiest = (a1 - a0).max(b1 - b0) as f64 / USER_HZ / secs * 100.0;
        if busiest <= 25.0 || Instant::now() >= deadline {
            return;
        }
    }
}

// -------------------------------------------------------------- processes

/// A child process killed (SIGKILL) and reaped on drop.
struct Proc {
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinned(cpu: &str, program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(cpu).arg(program);
    command
}

fn log_file(logs: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::File::create(logs.join(name))
        .map_err(|e| format!("{}: {e}", logs.join(name).display()))
}

fn start_server(o: &Options, server: &Server, tag: &str) -> Result<Proc> {
    if listening(o.port) {
        return Err(format!(
            "port {} is already in use (run.sh runs the race in a private network namespace)",
            o.port
        ));
    }
    let log = log_file(&o.logs, &format!("{tag}.server.log"))?;
    let mut command = pinned(SERVER_CPU, &server.program);
    command
        .arg(o.port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let mut proc = Proc {
        child: command
            .spawn()
            .map_err(|e| format!("{}: {e}", server.program.display()))?,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(o.port) {
        if proc.exited() {
            return Err(format!(
                "{} exited before listening (see {tag}.server.log)",
                server.name
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not listen within 10 s", server.name));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(proc)
}

/// Starts a generator with its stdout read line by line on a thread (each
/// line with the instant it arrived); stderr goes to the log.
fn start_generator(
    command: &mut Command,
    log: std::fs::File,
) -> Result<(Proc, Receiver<(Instant, String)>)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("generator: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            let text = String::from_utf8_lossy(&line).trim().to_string();
            if tx.send((Instant::now(), text)).is_err() {
                break;
            }
            line.clear();
        }
    });
    Ok((Proc { child }, rx))
}

fn next_line(
    rx: &Receiver<(Instant, String)>,
    timeout: Duration,
    what: &str,
) -> Result<(Instant, String)> {
    rx.recv_timeout(timeout).map_err(|e| match e {
        RecvTimeoutError::Timeout => {
            format!("no output from the generator for {timeout:?} ({what})")
        }
        RecvTimeoutError::Disconnected => format!("the generator exited ({what})"),
    })
}

// ------------------------------------------------------------------- runs

/// One measurement window of one run.
#[derive(Clone, Default)]
struct Window {
    msgs: f64,
    secs: f64,
    user_ticks: u64,
    sys_ticks: u64,
    /// The generator's own CPU time.
    generator_ticks: u64,
    /// CPU 0's softirq time (the kernel's network work; what ran in the
    /// server's context is in its stime too).
    cpu0_softirq_ticks: u64,
    /// CPU 0 busy time that was not the server's (other processes, softirq
    /// work outside the server's context), and its steal time, in ticks.
    cpu0_other_ticks: i64,
    cpu0_steal_ticks: u64,
    /// CPU 1 busy time that was not the generator's.
    cpu1_other_ticks: i64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
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
    fn msg_per_s(&self) -> f64 {
        self.msgs / self.secs
    }
    fn user_us(&self) -> f64 {
        self.user_ticks as f64 / USER_HZ * 1e6 / self.msgs
    }
    fn sys_us(&self) -> f64 {
        self.sys_ticks as f64 / USER_HZ * 1e6 / self.msgs
    }
    fn busy_pct(&self) -> f64 {
        (self.user_ticks + self.sys_ticks) as f64 / USER_HZ / self.secs * 100.0
    }
    fn pct(&self, ticks: f64) -> f64 {
        ticks / USER_HZ / self.secs * 100.0
    }
    fn gen_pct(&self) -> f64 {
        self.pct(self.generator_ticks as f64)
    }
    fn softirq_pct(&self) -> f64 {
        self.pct(self.cpu0_softirq_ticks as f64)
    }
    /// Other processes' share of the two CPUs (the larger of the two).
    fn other_pct(&self) -> f64 {
        self.pct(self.cpu0_other_ticks.max(self.cpu1_other_ticks).max(0) as f64)
    }
}

fn run_load_test(o: &Options, server: &Server, case: Case, tag: &str) -> Result<Window> {
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

fn run_ws_load(
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

struct Idle {
    before_kib: u64,
    after_kib: u64,
    connected: usize,
}

fn run_idle(o: &Options, server: &Server, tag: &str) -> Result<Idle> {
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

// ---------------------------------------------------------------- results

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn median(windows: &[Window], f: impl Fn(&Window) -> f64) -> f64 {
    stats(&mut windows.iter().map(f).collect::<Vec<_>>()).0
}

fn fmt_rate(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

type Results = BTreeMap<(usize, &'static str), Vec<Window>>;

/// What the load phases share: each runs every case `reps` times over every
/// server, interleaved, and records each run.
struct Phase<'a> {
    o: &'a Options,
    servers: &'a [Server],
    began: Instant,
    raw: &'a mut String,
}

impl Phase<'_> {
    fn run(
        &mut self,
        phase: &str,
        reps: usize,
        one: impl Fn(&Server, Case, &str) -> Result<Window>,
    ) -> Results {
        let mut results = Results::new();
        for (c, &case) in self.o.cases.iter().enumerate() {
            for rep in 1..=reps {
                for server in self.servers {
                    let tag = format!(
                        "{phase}-{}x{}-{}-{rep}",
                        case.connections, case.payload, server.name
                    );
                    let result = one(server, case, &tag);
                    record(self.raw, phase, case, server, rep, &result);
                    let elapsed = self.began.elapsed().as_secs_f64();
                    match result {
                        Ok(w) => {
                            eprintln!(
                                "[{elapsed:>4.0}s] {tag}: {:.0} msg/s, {:.2}+{:.2} µs/msg, server busy {:.0}%, other processes {:.0}%{}",
                                w.msg_per_s(),
                                w.user_us(),
                                w.sys_us(),
                                w.busy_pct(),
                                w.other_pct(),
                                // load_test times nothing: no latency then.
                                if w.p99_us > 0.0 { format!(", p99 {:.0} µs", w.p99_us) } else { String::new() },
                            );
                            results.entry((c, server.name)).or_default().push(w);
                        }
                        Err(e) => {
                            eprintln!("[{elapsed:>4.0}s] {tag}: FAILED: {e}");
                            results.entry((c, server.name)).or_default();
                        }
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        results
    }
}

/// The best median of `f` among the Rust servers other than `name`.
fn best_peer(
    results: &Results,
    servers: &[Server],
    c: usize,
    name: &str,
    f: &dyn Fn(&Window) -> f64,
    higher_better: bool,
) -> Option<f64> {
    servers
        .iter()
        .filter(|s| s.name != name && s.name != UWS)
        .filter_map(|s| results.get(&(c, s.name)).filter(|w| !w.is_empty()))
        .map(|w| median(w, f))
        .reduce(|a, b| if (a > b) == higher_better { a } else { b })
}

fn throughput_table(
    md: &mut String,
    o: &Options,
    servers: &[Server],
    results: &Results,
    generator: &str,
) {
    for (c, case) in o.cases.iter().enumerate() {
        let _ = writeln!(md, "\n#### {} ({generator})\n", case.label());
        let _ = writeln!(
            md,
            "| server | msg/s median (min–max) | vs uWS | vs best other Rust | server CPU busy | user µs/msg | sys µs/msg | user+sys µs/msg (min–max) | CPU/msg vs uWS | CPU/msg vs best other Rust | generator CPU | CPU 0 softirq | other processes |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let rate = |w: &Window| w.msg_per_s();
        let cpu = |w: &Window| w.user_us() + w.sys_us();
        let uws = results.get(&(c, UWS)).filter(|w| !w.is_empty());
        for server in servers {
            let Some(w) = results.get(&(c, server.name)).filter(|w| !w.is_empty()) else {
                let _ = writeln!(
                    md,
                    "| {} | failed (see the log) | | | | | | | | | | | |",
                    server.name
                );
                continue;
            };
            let (r, rmin, rmax) = stats(&mut w.iter().map(rate).collect::<Vec<_>>());
            let (t, tmin, tmax) = stats(&mut w.iter().map(cpu).collect::<Vec<_>>());
            let _ = writeln!(
                md,
                "| {} | {} ({}–{}) | {} | {} | {:.0}% | {:.2} | {:.2} | {:.2} ({:.2}–{:.2}) | {} | {} | {:.0}% | {:.0}% | {:.0}% |",
                server.name,
                fmt_rate(r),
                fmt_rate(rmin),
                fmt_rate(rmax),
                ratio(r, uws.map(|u| median(u, rate))),
                ratio(r, best_peer(results, servers, c, server.name, &rate, true)),
                median(w, Window::busy_pct),
                median(w, Window::user_us),
                median(w, Window::sys_us),
                t,
                tmin,
                tmax,
                ratio(t, uws.map(|u| median(u, cpu))),
                ratio(t, best_peer(results, servers, c, server.name, &cpu, false)),
                median(w, Window::gen_pct),
                median(w, Window::softirq_pct),
                median(w, Window::other_pct),
            );
        }
    }
}

fn latency_table(md: &mut String, o: &Options, servers: &[Server], results: &Results) {
    for (c, case) in o.cases.iter().enumerate() {
        let _ = writeln!(md, "\n#### {} (ws_load)\n", case.label());
        let _ = writeln!(md, "| server | msg/s | p50 µs | p99 µs (min–max) | p99.9 µs | p99 vs uWS | user+sys µs/msg | server CPU busy |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        let uws = results.get(&(c, UWS)).filter(|w| !w.is_empty());
        for server in servers {
            let Some(w) = results.get(&(c, server.name)).filter(|w| !w.is_empty()) else {
                let _ = writeln!(md, "| {} | failed (see the log) | | | | | | |", server.name);
                continue;
            };
            let (p99, lo, hi) = stats(&mut w.iter().map(|w| w.p99_us).collect::<Vec<_>>());
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.0} ({:.0}–{:.0}) | {:.0} | {} | {:.2} | {:.0}% |",
                server.name,
                fmt_rate(median(w, Window::msg_per_s)),
                median(w, |w| w.p50_us),
                p99,
                lo,
                hi,
                median(w, |w| w.p999_us),
                ratio(p99, uws.map(|u| median(u, |w| w.p99_us))),
                median(w, |w| w.user_us() + w.sys_us()),
                median(w, Window::busy_pct),
            );
        }
    }
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

fn record(
    raw: &mut String,
    phase: &str,
    case: Case,
    server: &Server,
    rep: usize,
    result: &Result<Window>,
) {
    let head = format!(
        "{phase},{}x{},{},{rep}",
        case.connections, case.payload, server.name
    );
    let _ = match result {
        Ok(w) => writeln!(
            raw,
            "{head},{},{:.3},{:.0},{},{},{:.3},{:.3},{:.1},{:.1},{:.1},{:.1},{},{:.1},{:.1},{:.1},,,",
            w.msgs,
            w.secs,
            w.msg_per_s(),
            w.user_ticks,
            w.sys_ticks,
            w.user_us(),
            w.sys_us(),
            w.busy_pct(),
            w.gen_pct(),
            w.softirq_pct(),
            w.other_pct(),
            w.cpu0_steal_ticks,
            w.p50_us,
            w.p99_us,
            w.p999_us
        ),
        Err(e) => writeln!(raw, "{head},,,,,,,,,,,,,,,,,,{}", e.replace(',', ";")),
    };
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
