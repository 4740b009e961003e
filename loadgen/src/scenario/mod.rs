//! The scenarios, their sizes in the short (CI) and long mode, and the
//! report each gives: named numbers and the checks that failed.

mod churn;
mod fd_limit;
mod hostile;
mod idle;
mod relay;

use crate::client::{connect, Outcome, Target, Ws};
use crate::server::{Server, Spec};
use crate::sys;
use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::time::Duration;
use tokio::task::JoinSet;

/// The scenarios, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Idle,
    Churn,
    Hostile,
    FdLimit,
    Relay,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Idle,
        Scenario::Churn,
        Scenario::Hostile,
        Scenario::FdLimit,
        Scenario::Relay,
    ];

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Churn => "churn",
            Scenario::Hostile => "hostile",
            Scenario::FdLimit => "fd-limit",
            Scenario::Relay => "relay",
        }
    }

    /// Runs it against a server started from `spec`.
    pub async fn run(self, spec: &Spec, params: &Params) -> Report {
        let mut report = Report::new(self, spec, params);
        let spec = match self {
            Scenario::FdLimit => Spec {
                nofile: Some(params.fd_limit),
                ..spec.clone()
            },
            _ => spec.clone(),
        };
        let mut server = match Server::start(&spec) {
            Ok(server) => server,
            Err(e) => {
                report.fail(format!("server did not start: {e}"));
                return report;
            }
        };
        match self {
            Scenario::Idle => idle::run(&server, params, &mut report).await,
            Scenario::Churn => churn::run(&server, params, &mut report).await,
            Scenario::Hostile => hostile::run(&server, params, &mut report).await,
            Scenario::FdLimit => fd_limit::run(&server, params, &mut report).await,
            Scenario::Relay => relay::run(&server, params, &mut report).await,
        }
        if let Some(status) = server.exited() {
            report.fail(format!(
                "server exited during the run ({status}): {}",
                server.stderr_tail()
            ));
        }
        let panics = server.panics();
        report.check(panics.is_empty(), || format!("server panicked: {panics:?}"));
        report.row("server stderr lines", server.stderr_lines());
        report
    }
}

/// Sizes and durations. [`Params::short`] is what CI runs,
/// [`Params::long`] the measurement in `loadgen/README.md`.
#[derive(Clone, Debug)]
pub struct Params {
    pub long: bool,
    /// Loopback source addresses the clients use (see [`Target::sources`]).
    pub sources: u8,
    /// The good clients offer permessage-deflate.
    pub deflate: bool,
    pub idle_connections: usize,
    pub idle_hold: Duration,
    pub churn_rate: u64,
    pub churn_seconds: u64,
    /// Churn connections under way at once, at most.
    pub churn_in_flight: usize,
    pub slowloris: usize,
    pub never_readers: usize,
    pub stallers: usize,
    pub resets: usize,
    pub good_clients: usize,
    /// The server's `RLIMIT_NOFILE` in the fd-limit scenario.
    pub fd_limit: u64,
    /// Connections attempted past what that limit leaves room for.
    pub fd_extra: usize,
    pub relay_clients: usize,
    pub relay_messages: u64,
    /// How long the server's CPU is watched while it should be idle.
    pub quiet_window: Duration,
    pub seed: u64,
}

impl Params {
    pub fn short() -> Params {
        Params {
            long: false,
            sources: 1,
            deflate: false,
            idle_connections: 2_000,
            idle_hold: Duration::from_secs(3),
            churn_rate: 500,
            churn_seconds: 4,
            churn_in_flight: 256,
            slowloris: 100,
            never_readers: 20,
            stallers: 50,
            resets: 200,
            good_clients: 10,
            fd_limit: 128,
            fd_extra: 64,
            relay_clients: 20,
            relay_messages: 200,
            quiet_window: Duration::from_secs(2),
            seed: 1,
        }
    }

    pub fn long() -> Params {
        Params {
            long: true,
            sources: 8,
            deflate: false,
            idle_connections: 50_000,
            idle_hold: Duration::from_secs(70),
            churn_rate: 2_000,
            churn_seconds: 60,
            churn_in_flight: 2_000,
            slowloris: 1_000,
            never_readers: 1_000,
            stallers: 1_000,
            resets: 5_000,
            good_clients: 100,
            fd_limit: 1024,
            fd_extra: 256,
            relay_clients: 200,
            relay_messages: 500,
            quiet_window: Duration::from_secs(5),
            seed: 1,
        }
    }

    /// Sets a field by its command-line name (`--idle-connections 500`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let bad = |_| format!("--{name}: not a number: {value:?}");
        let n = || value.parse::<u64>().map_err(bad);
        let secs = || n().map(Duration::from_secs);
        match name {
            "sources" => self.sources = n()?.clamp(1, 250) as u8,
            "deflate" => self.deflate = n()? != 0,
            "idle-connections" => self.idle_connections = n()? as usize,
            "idle-hold" => self.idle_hold = secs()?,
            "churn-rate" => self.churn_rate = n()?.max(1),
            "churn-seconds" => self.churn_seconds = n()?,
            "churn-in-flight" => self.churn_in_flight = n()?.max(1) as usize,
            "slowloris" => self.slowloris = n()? as usize,
            "never-readers" => self.never_readers = n()? as usize,
            "stallers" => self.stallers = n()? as usize,
            "resets" => self.resets = n()? as usize,
            "good-clients" => self.good_clients = n()?.max(1) as usize,
            "fd-limit" => self.fd_limit = n()?.max(32),
            "fd-extra" => self.fd_extra = n()? as usize,
            "relay-clients" => self.relay_clients = n()?.max(1) as usize,
            "relay-messages" => self.relay_messages = n()?,
            "quiet-window" => self.quiet_window = secs()?.max(Duration::from_secs(1)),
            "seed" => self.seed = n()?,
            _ => return Err(format!("unknown option --{name}")),
        }
        Ok(())
    }

    fn target(&self, server: &Server) -> Target {
        Target {
            addr: server.addr,
            path: server.kind.echo_path(),
            sources: self.sources,
            deflate: self.deflate,
        }
    }
}

/// What a scenario measured, and which of its checks failed.
#[derive(Debug)]
pub struct Report {
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub failures: Vec<String>,
}

impl Report {
    fn new(scenario: Scenario, spec: &Spec, params: &Params) -> Report {
        let mode = if params.long { "long" } else { "short" };
        let mut report = Report {
            title: format!("{} against {} ({mode})", scenario.name(), spec.kind.name()),
            rows: Vec::new(),
            failures: Vec::new(),
        };
        report.row("load average (1 min) at start", sys::load_average());
        report
    }

    pub fn row(&mut self, name: &str, value: impl Display) {
        self.rows.push((name.to_owned(), value.to_string()));
    }

    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    /// Records a failure, described lazily, unless `ok`.
    pub fn check<S: Into<String>>(&mut self, ok: bool, what: impl FnOnce() -> S) {
        if !ok {
            self.fail(what());
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== {}", self.title)?;
        for (name, value) in &self.rows {
            writeln!(f, "  {name:.<44} {value}")?;
        }
        if self.failures.is_empty() {
            writeln!(f, "  RESULT pass")
        } else {
            for failure in &self.failures {
                writeln!(f, "  FAILED {failure}")?;
            }
            writeln!(f, "  RESULT FAIL ({} checks)", self.failures.len())
        }
    }
}

/// How a batch of connection attempts ended.
#[derive(Debug, Default)]
pub struct Attempts {
    pub open: usize,
    /// By HTTP status.
    pub refused: BTreeMap<u16, usize>,
    pub failed: usize,
    pub timed_out: usize,
    pub first_failure: Option<String>,
}

impl Attempts {
    pub fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Open(_) => self.open += 1,
            Outcome::Refused(status) => *self.refused.entry(*status).or_default() += 1,
            Outcome::Failed(why) => {
                self.failed += 1;
                self.first_failure.get_or_insert_with(|| why.clone());
            }
            Outcome::TimedOut => self.timed_out += 1,
        }
    }
}

impl Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "open {}", self.open)?;
        for (status, n) in &self.refused {
            write!(f, ", refused {status}: {n}")?;
        }
        write!(f, ", failed {}, timed out {}", self.failed, self.timed_out)?;
        if let Some(why) = &self.first_failure {
            write!(f, " (first failure: {why})")?;
        }
        Ok(())
    }
}

/// Connects clients `first..first + n`, `at_once` handshakes under way at
/// a time, each within `limit`; hands each open one (with its index) to
/// `opened`.
pub async fn connect_many(
    target: &Target,
    first: usize,
    n: usize,
    at_once: usize,
    limit: Duration,
    mut opened: impl FnMut(usize, Box<Ws>),
) -> Attempts {
    let mut attempts = Attempts::default();
    let mut connecting = JoinSet::new();
    let mut next = first;
    while next < first + n || !connecting.is_empty() {
        while next < first + n && connecting.len() < at_once {
            let target = target.clone();
            let index = next;
            connecting.spawn(async move { (index, connect(&target, index, limit).await) });
            next += 1;
        }
        let Some(joined) = connecting.join_next().await else {
            break;
        };
        let (index, outcome) = joined.expect("connect task panicked");
        attempts.count(&outcome);
        if let Outcome::Open(ws) = outcome {
            opened(index, ws);
        }
    }
    attempts
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// A signed difference of two byte counts, per item, as bytes.
pub fn per_item(after: u64, before: u64, items: usize) -> i64 {
    (after as i64 - before as i64) / items.max(1) as i64
}

/// The room for connections a descriptor limit leaves, after a reserve
/// for everything else in a process.
pub fn fd_room(limit: u64) -> usize {
    limit.saturating_sub(64) as usize
}
