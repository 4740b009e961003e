//! Child processes pinned to a CPU: logs, starting servers and generators, their lines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::procfs::listening;
use crate::setup::{Options, Result, Server, SERVER_CPU};

/// A child process killed (SIGKILL) and reaped on drop.
pub(crate) struct Proc {
    child: Child,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
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

pub(crate) fn pinned(cpu: &str, program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(cpu).arg(program);
    command
}

pub(crate) fn log_file(logs: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::File::create(logs.join(name))
        .map_err(|e| format!("{}: {e}", logs.join(name).display()))
}

pub(crate) fn start_server(o: &Options, server: &Server, tag: &str) -> Result<Proc> {
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
pub(crate) fn start_generator(
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

pub(crate) fn next_line(
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
