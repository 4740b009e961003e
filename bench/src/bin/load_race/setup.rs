//! What all the modules share: options, servers, cases, the two CPUs, the error type.

use std::path::PathBuf;
use std::time::Duration;

pub(crate) const SERVER_CPU: &str = "0";
pub(crate) const GENERATOR_CPU: &str = "1";
pub(crate) const UWS: &str = "uWebSockets";

pub(crate) type Result<T> = std::result::Result<T, String>;

#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) program: PathBuf,
}

#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) connections: usize,
    pub(crate) payload: usize,
}

impl Case {
    pub(crate) fn label(self) -> String {
        let size = match self.payload {
            p if p >= 1024 && p % 1024 == 0 => format!("{} KiB", p / 1024),
            p => format!("{p} B"),
        };
        format!("{} connections × {size}", self.connections)
    }
}

pub(crate) struct Options {
    pub(crate) bins: PathBuf,
    pub(crate) uws_echo: Option<PathBuf>,
    pub(crate) load_test: Option<PathBuf>,
    pub(crate) port: u16,
    pub(crate) reps: usize,
    pub(crate) warmup: f64,
    pub(crate) measure: f64,
    pub(crate) lat_reps: usize,
    pub(crate) lat_warmup: f64,
    pub(crate) lat_measure: f64,
    pub(crate) idle_conns: usize,
    pub(crate) idle_reps: usize,
    pub(crate) quiet_wait: Duration,
    pub(crate) cases: Vec<Case>,
    pub(crate) servers: Option<Vec<String>>,
    pub(crate) logs: PathBuf,
    pub(crate) out: Option<PathBuf>,
    pub(crate) raw: Option<PathBuf>,
}
