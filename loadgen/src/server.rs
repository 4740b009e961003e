//! The server under test, as a child process: started on `127.0.0.1:0`,
//! watched through `/proc`, its output drained (and searched for panics),
//! stopped at the end.

use crate::sys::{self, Sample};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Which server, and so which URL path echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `examples/echo_server_tokio.rs`: echoes on every path.
    Echo,
    /// `examples/chat.rs`: `/echo` echoes; 10,000 connections, then 503.
    Chat,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "echo" => Some(Kind::Echo),
            "chat" => Some(Kind::Chat),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Chat => "chat",
        }
    }

    /// The binary's name in this package.
    pub fn binary_name(self) -> &'static str {
        match self {
            Kind::Echo => "echo_server_tokio",
            Kind::Chat => "chat",
        }
    }

    /// The path that echoes.
    pub fn echo_path(self) -> &'static str {
        match self {
            Kind::Echo => "/",
            Kind::Chat => "/echo",
        }
    }

    /// The server's own cap on connections, past which it answers 503.
    pub fn connection_cap(self) -> Option<usize> {
        match self {
            Kind::Echo => None,
            Kind::Chat => Some(10_000),
        }
    }
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub binary: PathBuf,
    /// `RLIMIT_NOFILE` (soft and hard) to start it with; else it inherits
    /// ours.
    pub nofile: Option<u64>,
}

impl Spec {
    /// The binary beside this executable (`target/<profile>/`), where cargo
    /// puts this package's binaries.
    pub fn beside_me(kind: Kind) -> Spec {
        let me = std::env::current_exe().expect("current_exe");
        let mut dir = me.parent().expect("exe dir").to_path_buf();
        // A test binary lives in target/<profile>/deps.
        if dir.ends_with("deps") {
            dir.pop();
        }
        Spec {
            kind,
            binary: dir.join(kind.binary_name()),
            nofile: None,
        }
    }
}

/// What the server wrote to stderr: counted, the last lines kept, panics
/// kept.
#[derive(Default)]
struct Stderr {
    lines: u64,
    last: VecDeque<String>,
    panics: Vec<String>,
}

/// A running server.
pub struct Server {
    child: Child,
    pub kind: Kind,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Stderr>>,
}

impl Server {
    /// Starts it on an ephemeral port and waits for the line that names it.
    pub fn start(spec: &Spec) -> io::Result<Server> {
        let mut command = Command::new(&spec.binary);
        command
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(limit) = spec.nofile {
            // SAFETY: the closure makes one async-signal-safe system call.
            unsafe {
                command.pre_exec(move || sys::set_nofile(limit));
            }
        }
        let mut child = command.spawn().map_err(|e| {
            let hint = "(`cargo build [--release] -p wsmachine-loadgen` builds the servers)";
            io::Error::new(e.kind(), format!("{}: {e} {hint}", spec.binary.display()))
        })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = Arc::new(Mutex::new(Stderr::default()));
        let drain = stderr.clone();
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut log = drain.lock().unwrap_or_else(PoisonError::into_inner);
                log.lines += 1;
                if line.contains("panicked") {
                    log.panics.push(line.clone());
                }
                if log.last.len() == 5 {
                    log.last.pop_front();
                }
                log.last.push_back(line);
            }
        });
        // The first line names the address; the rest (the chat's joins and
        // leaves) is drained so that the server never blocks on the pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(first) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let first = rx.recv_timeout(Duration::from_secs(20)).map_err(|_| {
            let _ = child.kill();
            io::Error::other(format!("{} printed no address", spec.binary.display()))
        })?;
        let addr = parse_address(&first)
            .ok_or_else(|| io::Error::other(format!("no address in {first:?}")))?;
        Ok(Server {
            child,
            kind: spec.kind,
            addr,
            stderr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sample(&self) -> io::Result<Sample> {
        Sample::take(self.pid())
    }

    /// The status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Lines that say a thread panicked.
    pub fn panics(&self) -> Vec<String> {
        self.log(|log| log.panics.clone())
    }

    /// Lines written to stderr so far.
    pub fn stderr_lines(&self) -> u64 {
        self.log(|log| log.lines)
    }

    /// The last few stderr lines, for a failure's message.
    pub fn stderr_tail(&self) -> String {
        self.log(|log| Vec::from(log.last.clone()).join(" | "))
    }

    fn log<T>(&self, read: impl FnOnce(&Stderr) -> T) -> T {
        read(&self.stderr.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits (polling every 50 ms, up to `limit`) until the server has at
    /// most `fds` descriptors open; returns the last count seen.
    pub async fn settle_fds(&self, fds: usize, limit: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let now = sys::fd_count(self.pid())?;
            if now <= fds || Instant::now() >= deadline {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGINT (the chat closes its members and exits 0), then SIGKILL
    /// after 10 s. Returns the status.
    pub fn stop(mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited() {
            return Ok(status);
        }
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The first `127.0.0.1:<port>` in a line.
fn parse_address(line: &str) -> Option<SocketAddr> {
    let at = line.find("127.0.0.1:")?;
    let rest = &line[at + "127.0.0.1:".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    format!("127.0.0.1:{digits}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn both_examples_first_lines_name_the_address() {
        let echo = "echo_server_tokio listening on ws://127.0.0.1:41234";
        let chat = "chat: open http://127.0.0.1:8080/ in a browser";
        assert_eq!(parse_address(echo), "127.0.0.1:41234".parse().ok());
        assert_eq!(parse_address(chat), "127.0.0.1:8080".parse().ok());
    }
}
