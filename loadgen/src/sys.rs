//! The process side: file-descriptor limits, and what `/proc` says about a
//! process (resident memory, CPU time, open descriptors). Linux only.

use std::io;
use std::time::Instant;

/// The soft and hard `RLIMIT_NOFILE` of this process.
pub fn nofile() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on Linux.
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Raises this process's soft descriptor limit to its hard limit (an
/// unprivileged process may go no further); returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = nofile()?;
    if soft < hard {
        set_nofile(hard)?;
    }
    Ok(hard)
}

/// Sets the soft and hard descriptor limit to `limit`. Async-signal-safe
/// (one system call), so a child may call it between fork and exec.
pub fn set_nofile(limit: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One look at a process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// `VmRSS` from `/proc/<pid>/status`, bytes.
    pub rss: u64,
    /// User plus system time of all its threads, in clock ticks.
    pub cpu_ticks: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: usize,
}

impl Sample {
    pub fn take(pid: u32) -> io::Result<Sample> {
        Ok(Sample {
            at: Instant::now(),
            rss: rss(pid)?,
            cpu_ticks: cpu_ticks(pid)?,
            fds: fd_count(pid)?,
        })
    }

    /// The process's CPU time between `self` and `later`, in seconds.
    pub fn cpu_seconds_until(&self, later: &Sample) -> f64 {
        later.cpu_ticks.saturating_sub(self.cpu_ticks) as f64 / ticks_per_second() as f64
    }

    /// CPU time over wall time between the two samples, in percent of one
    /// CPU.
    pub fn cpu_percent_until(&self, later: &Sample) -> f64 {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * self.cpu_seconds_until(later) / wall
    }
}

/// Resident set size in bytes.
pub fn rss(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other(format!("no VmRSS for {pid}")))
}

/// utime + stime (fields 14 and 15 of `/proc/<pid>/stat`), in ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count from the last ')'. Field 3 is then the first after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("odd /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("odd /proc stat"))
    };
    Ok(field(14)? + field(15)?)
}

/// Open file descriptors.
pub fn fd_count(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 nearly everywhere).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The 1-minute load average, for the record.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
