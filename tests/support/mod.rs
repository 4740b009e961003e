//! Shared pieces of the socket tests: the example echo server run in-process,
//! a small blocking client on top of `Connection`, and peer-process plumbing.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wsmachine::{ClientRequest, CloseCode, Config, Connection, Error, Event, MessageKind};

#[path = "../../examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;

#[path = "../../examples/echo_server_tokio.rs"]
#[allow(dead_code)]
mod echo_server_tokio;

/// Sends FIN and reads what the peer still had in flight, so the kernel does
/// not answer unread bytes with a reset that could destroy our last words
/// (a Close frame or an HTTP error) before the peer reads them.
pub fn close_gracefully(stream: TcpStream, buf: &mut [u8]) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut stream = stream;
    let mut drained = 0usize;
    while drained < 16 << 20 {
        match stream.read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Every socket read in the tests gives up after this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts the `echo_server` example's connection handler on an ephemeral
/// loopback port, a thread per connection, for the life of the test process.
pub fn spawn_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = echo_server::serve(stream);
            });
        }
    });
    addr
}

/// Starts the `echo_server_tokio` example's connection handler on an
/// ephemeral loopback port, on a runtime of its own, for the life of the
/// test process.
pub fn spawn_tokio_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let config = std::sync::Arc::new(Config::default());
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(echo_server_tokio::serve(stream, config.clone()));
            }
        });
    });
    addr
}

/// An owned copy of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Connected(Option<String>),
    Rejected(u16),
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Failed(Error),
    Other,
}

impl Msg {
    fn from_event(event: Event<'_>) -> Msg {
        match event {
            Event::Connected(r) => Msg::Connected(r.protocol().map(str::to_owned)),
            Event::HandshakeRejected(r) => Msg::Rejected(r.status()),
            Event::Text(t) => Msg::Text(t.to_owned()),
            Event::Binary(b) => Msg::Binary(b.to_vec()),
            Event::Ping(p) => Msg::Ping(p.to_vec()),
            Event::Pong { payload: p, .. } => Msg::Pong(p.to_vec()),
            Event::Close { code, reason } => Msg::Close(code.map(|c| c.0), reason.to_owned()),
            Event::Failed(e) => Msg::Failed(e),
            _ => Msg::Other,
        }
    }
}

/// A blocking WebSocket client: our `Connection` over a `TcpStream`. Also
/// drives a server-side connection ([`Client::over`]).
pub struct Client {
    pub stream: TcpStream,
    pub conn: Connection,
    read_buf: Vec<u8>,
    eof: bool,
    /// The frames that crossed the socket, for a connection that started
    /// open ([`Client::over`]): what the peer really sent, RSV1 included.
    pub wire: Option<outside::Wire>,
}

impl Client {
    /// Connects and completes the opening handshake.
    pub fn connect(url: &str, protocols: &[&str]) -> io::Result<(Client, Msg)> {
        Client::connect_with(url, protocols, Config::default())
    }

    /// Connects with a given configuration.
    pub fn connect_with(
        url: &str,
        protocols: &[&str],
        config: Config,
    ) -> io::Result<(Client, Msg)> {
        let mut request = ClientRequest::from_url(url).map_err(io::Error::other)?;
        for p in protocols {
            request = request.protocol(p);
        }
        let stream = TcpStream::connect(request.address())?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let conn = Connection::client(request, config).map_err(io::Error::other)?;
        let mut client = Client {
            stream,
            conn,
            read_buf: vec![0; 64 * 1024],
            eof: false,
            wire: None,
        };
        client.flush()?;
        let first = client.next()?;
        Ok((client, first))
    }

    /// Runs an open connection (from `Connection::upgraded_with`, either
    /// role) over `stream`; `early` is what was read past the handshake
    /// head, already the peer's first frames.
    pub fn over(stream: TcpStream, conn: Connection, early: &[u8]) -> io::Result<Client> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut client = Client {
            stream,
            conn,
            read_buf: vec![0; 64 * 1024],
            eof: false,
            wire: Some(outside::Wire::default()),
        };
        client.take_in(early);
        Ok(client)
    }

    fn take_in(&mut self, bytes: &[u8]) {
        if let Some(wire) = &mut self.wire {
            wire.received.feed(bytes);
        }
        self.conn.receive(bytes);
    }

    pub fn flush(&mut self) -> io::Result<()> {
        while !self.conn.pending_output().is_empty() {
            let n = self.stream.write(self.conn.pending_output())?;
            if let Some(wire) = &mut self.wire {
                wire.sent.feed(&self.conn.pending_output()[..n]);
            }
            self.conn.consume_output(n);
        }
        Ok(())
    }

    /// The next event, reading as needed. Errors on timeout or when the
    /// connection has ended with no event left.
    pub fn next(&mut self) -> io::Result<Msg> {
        loop {
            if let Some(event) = self.conn.next_event() {
                let msg = Msg::from_event(event);
                self.flush()?;
                return Ok(msg);
            }
            self.flush()?;
            if self.eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = self.stream.read(&mut self.read_buf)?;
            if n == 0 {
                self.eof = true;
                self.conn.receive_eof();
            } else {
                let read_buf = std::mem::take(&mut self.read_buf);
                self.take_in(&read_buf[..n]);
                self.read_buf = read_buf;
            }
        }
    }

    /// The next data or close event, skipping pings and pongs.
    pub fn next_message(&mut self) -> io::Result<Msg> {
        loop {
            match self.next()? {
                Msg::Ping(_) | Msg::Pong(_) => continue,
                other => return Ok(other),
            }
        }
    }

    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.conn.send_text(text).map_err(io::Error::other)?;
        self.flush()
    }

    pub fn send_binary(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.send_binary(data).map_err(io::Error::other)?;
        self.flush()
    }

    pub fn send_fragments(&mut self, kind: MessageKind, parts: &[&[u8]]) -> io::Result<()> {
        for (i, part) in parts.iter().enumerate() {
            self.conn
                .send_fragment(kind, part, i + 1 == parts.len())
                .map_err(io::Error::other)?;
        }
        self.flush()
    }

    pub fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.conn.send_ping(payload).map_err(io::Error::other)?;
        self.flush()
    }

    pub fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        self.conn
            .close(CloseCode(code), reason)
            .map_err(io::Error::other)?;
        self.flush()
    }

    /// After the closing handshake, the server should close TCP (§7.1.1).
    pub fn expect_tcp_close(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while Instant::now() < deadline {
            if self.stream.read(&mut self.read_buf)? == 0 {
                return Ok(());
            }
        }
        Err(io::ErrorKind::TimedOut.into())
    }
}

/// A peer program (Python or Node) under test, killed when dropped.
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("WSM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wsmachine")
        })
}

/// The interpreter for the Python peers: the venv `.ci/install-peers.sh` makes.
/// A missing peer is a test failure, never a skip.
pub fn python() -> PathBuf {
    let python = cache_dir().join("py3-peers/bin/python");
    assert!(
        python.exists(),
        "{} missing: run `bash .ci/install-peers.sh`",
        python.display()
    );
    python
}

pub fn node() -> PathBuf {
    let modules = repo_path("tests/peers/node/node_modules/ws");
    assert!(
        modules.exists(),
        "{} missing: run `bash .ci/install-peers.sh`",
        modules.display()
    );
    PathBuf::from("node")
}

/// Starts a peer server and waits for its `LISTENING <port>` line.
pub fn start_peer_server(program: PathBuf, script: &str, args: &[&str]) -> Peer {
    let mut child = Command::new(program)
        .arg(repo_path(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start peer server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(IO_TIMEOUT)
        .expect("peer server did not start");
    Peer { child, port }
}

/// Runs a peer client to completion (with a deadline) and returns its
/// success and its output.
pub fn run_peer_client(program: PathBuf, script: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(program)
        .arg(repo_path(script))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start peer client");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (status.success(), out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, "peer client timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub mod outside;
pub mod peer_suite;
