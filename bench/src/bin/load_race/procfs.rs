//! /proc readers: CPU ticks of a process and of a CPU, RSS, listening ports, quiet-wait.

use std::thread;
use std::time::{Duration, Instant};

use crate::setup::{Result, GENERATOR_CPU, SERVER_CPU};

/// /proc reports CPU times in USER_HZ, 100 on Linux whatever the kernel's HZ.
pub(crate) const USER_HZ: f64 = 100.0;

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

pub(crate) fn vm_rss_kib(pid: u32) -> Result<u64> {
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
pub(crate) fn listening(port: u16) -> bool {
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
pub(crate) struct Snapshot {
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    pub(crate) generator: u64,
    pub(crate) cpu0_busy: u64,
    pub(crate) cpu0_softirq: u64,
    pub(crate) cpu0_steal: u64,
    pub(crate) cpu1_busy: u64,
}

/// The server's and the generator's CPU times and both CPUs' counters.
pub(crate) fn snapshot(server: u32, generator: u32) -> Result<Snapshot> {
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
pub(crate) fn wait_quiet(max: Duration) {
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
