//! What the integration suites share: servers on ephemeral ports, a relay
//! that records the bytes between a client and the server (to read the
//! frames as they crossed), the outside peers (Python, Node, Chromium), and
//! a raw HTTP/2 WebSocket client: the `h2` crate's streams driven by
//! wsmachine's sans-IO `Connection`, so that SETTINGS, END_STREAM and
//! resets are seen as they are.
#![allow(dead_code)]

use bytes::Bytes;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsmachine::{
    ClientHandshake, ClientRequest, CloseCode, Config, Connection, HandshakeResponse, Message,
    OwnedEvent, Role,
};
use wsmachine_integrations::Options;

/// Every await on the network in these suites gives up after this long.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Fails the test if `future` takes longer than [`TIMEOUT`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {TIMEOUT:?}"))
}

/// Serves `app` on an ephemeral loopback port for the rest of the test.
pub async fn start(app: axum::Router) -> SocketAddr {
    start_with(app, Options::default()).await
}

/// [`start`] with options (no extended CONNECT, TLS).
pub async fn start_with(app: axum::Router, options: Options) -> SocketAddr {
    let (listener, addr) = wsmachine_integrations::bind(0).await.unwrap();
    tokio::spawn(wsmachine_integrations::serve_with(listener, app, options));
    addr
}

// ------------------------------------------------------------------ relay

/// The bytes of one relayed TCP connection, in each direction.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// Client to server.
    pub up: Vec<u8>,
    /// Server to client.
    pub down: Vec<u8>,
}

/// Every connection a relay carried, in the order they were accepted.
pub type Recording = Arc<Mutex<Vec<Recorded>>>;

/// A TCP relay on an ephemeral port that forwards every connection to
/// `target` and records both directions.
pub async fn relay(target: SocketAddr) -> (SocketAddr, Recording) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recording = Recording::default();
    let connections = recording.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let index = {
                let mut all = connections.lock().unwrap_or_else(PoisonError::into_inner);
                all.push(Recorded::default());
                all.len() - 1
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let up = connections.clone();
            tokio::spawn(pump(client_read, server_write, move |bytes| {
                up.lock().unwrap_or_else(PoisonError::into_inner)[index]
                    .up
                    .extend_from_slice(bytes)
            }));
            let down = connections.clone();
            tokio::spawn(pump(server_read, client_write, move |bytes| {
                down.lock().unwrap_or_else(PoisonError::into_inner)[index]
                    .down
                    .extend_from_slice(bytes)
            }));
        }
    });
    (addr, recording)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut record: impl FnMut(&[u8]),
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// One frame header as it crossed the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub masked: bool,
    pub len: usize,
}

impl WireFrame {
    /// The first frame of a text or binary message.
    pub fn starts_message(&self) -> bool {
        matches!(self.opcode, 1 | 2)
    }
}

/// The frame headers in `bytes`, a WebSocket byte stream from its start;
/// a frame cut off at the end is left out.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (first, second) = (bytes[0], bytes[1]);
        let (extra, len) = match second & 0x7f {
            126 if bytes.len() >= 4 => (2, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
            127 if bytes.len() >= 10 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (8, u64::from_be_bytes(len) as usize)
            }
            126 | 127 => break,
            n => (0, usize::from(n)),
        };
        let masked = second & 0x80 != 0;
        let head = 2 + extra + if masked { 4 } else { 0 };
        if bytes.len() < head + len {
            break;
        }
        frames.push(WireFrame {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            opcode: first & 0x0f,
            masked,
            len,
        });
        bytes = &bytes[head + len..];
    }
    frames
}

/// The frames of a recorded HTTP/1.1 WebSocket connection (one whose
/// answer was a 101): (client to server, server to client). `None` for
/// other connections (the page, a refusal).
pub fn websocket_frames(connection: &Recorded) -> Option<(Vec<WireFrame>, Vec<WireFrame>)> {
    if !connection.down.starts_with(b"HTTP/1.1 101 ") {
        return None;
    }
    let after_head = |bytes: &[u8]| {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        Some(parse_frames(&bytes[end + 4..]))
    };
    Some((after_head(&connection.up)?, after_head(&connection.down)?))
}

/// What the wire showed of compression on the relayed WebSockets.
#[derive(Debug, Default)]
pub struct CompressionSeen {
    pub websockets: usize,
    /// Messages each way, and how many of them had RSV1 on their first frame.
    pub client_messages: usize,
    pub client_compressed: usize,
    pub server_messages: usize,
    pub server_compressed: usize,
    /// Messages the server sent uncompressed although 32 bytes or longer
    /// (wsmachine's default threshold): there should be none.
    pub server_uncompressed_long: Vec<WireFrame>,
    /// Frames with RSV1 that do not start a message (control frames,
    /// continuations): there must be none.
    pub misplaced_rsv1: Vec<WireFrame>,
}

/// Reads every WebSocket the relay carried.
pub fn compression_seen(recording: &Recording) -> CompressionSeen {
    let mut seen = CompressionSeen::default();
    for connection in recording
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        let Some((up, down)) = websocket_frames(connection) else {
            continue;
        };
        seen.websockets += 1;
        for (frames, from_server) in [(up, false), (down, true)] {
            for frame in frames {
                if !frame.starts_message() {
                    if frame.rsv1 {
                        seen.misplaced_rsv1.push(frame);
                    }
                    continue;
                }
                let (messages, compressed) = if from_server {
                    (&mut seen.server_messages, &mut seen.server_compressed)
                } else {
                    (&mut seen.client_messages, &mut seen.client_compressed)
                };
                *messages += 1;
                *compressed += usize::from(frame.rsv1);
                if from_server && !frame.rsv1 && frame.len >= 32 {
                    seen.server_uncompressed_long.push(frame);
                }
            }
        }
    }
    seen
}

// ------------------------------------------------------------------ peers

/// A file of the repository (the workspace root, one above this member).
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The Python peers' interpreter: the venv `.ci/install-peers.sh` makes.
/// A missing peer fails the test; it is never skipped.
pub fn python() -> PathBuf {
    let cache = std::env::var_os("WSM_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wsmachine"),
        PathBuf::from,
    );
    let python = cache.join("py3-peers/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/install-peers.sh`",
        python.display()
    );
    python
}

/// Node, once `ws` is installed in tests/peers/node.
pub fn node() -> PathBuf {
    let ws = repo_path("tests/peers/node/node_modules/ws");
    assert!(
        ws.exists(),
        "{} is missing: run `bash .ci/install-peers.sh`",
        ws.display()
    );
    PathBuf::from("node")
}

/// Runs a peer script to its end (90 s at most); returns whether it exited
/// 0 and everything it printed.
pub async fn run_peer(program: PathBuf, script: &str, args: &[&str]) -> (bool, String) {
    let child = tokio::process::Command::new(program)
        .arg(repo_path(script))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(90), child).await {
        Err(_) => (false, format!("{script} timed out")),
        Ok(Err(e)) => panic!("cannot start {script}: {e}"),
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            (output.status.success(), text)
        }
    }
}

/// Headless Chromium, killed with its process group when dropped.
pub struct Chromium {
    child: std::process::Child,
    profile: PathBuf,
}

pub const CHROMIUM: &str = "/usr/bin/chromium";

impl Chromium {
    /// Opens `url` (https with any certificate accepted: the servers here
    /// use a self-signed one); stderr goes to a log beside the profile.
    pub fn open(url: &str) -> Chromium {
        use std::os::unix::process::CommandExt as _;
        assert!(
            std::path::Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run `bash .ci/install-peers.sh`"
        );
        let profile = std::env::temp_dir().join(format!(
            "wsmachine-integrations-chromium-{}-{}",
            std::process::id(),
            url.len()
                ^ std::time::UNIX_EPOCH
                    .elapsed()
                    .map_or(0, |d| d.as_nanos() as usize)
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let log = std::fs::File::create(profile.with_extension("log")).unwrap();
        let child = std::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--ignore-certificate-errors",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Chromium { child, profile }
    }

    /// The end of Chromium's stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Opens the chat page's self-test at `url` in Chromium and returns the
/// report it sent to `/report` (60 s at most), checked to be a success.
pub async fn chromium_selftest(
    url: &str,
    reports: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) -> String {
    let browser = Chromium::open(url);
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "no self-test report; Chromium's log:\n{}",
                browser.log_tail()
            )
        });
    drop(browser);
    assert!(
        report.starts_with("{\"ok\":true,"),
        "self-test failed: {report}"
    );
    report
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SIGTERM to the whole group (browser, renderers, zygotes), a moment
        // to exit, then SIGKILL.
        let group = format!("-{}", self.child.id());
        for (signal, wait) in [("-TERM", 50), ("-KILL", 0)] {
            let _ = std::process::Command::new("kill")
                .args([signal, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
            for _ in 0..wait {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(self.profile.with_extension("log"));
    }
}

// ----------------------------------------------------------------- HTTP/2

/// hyper's HTTP/2 client, as `wsmachine::hyper::connect_h2` takes it.
pub type HyperSender = hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>;

/// hyper's HTTP/2 client on a new connection to `addr`, through
/// wsmachine's handshake (which waits for the server's setting).
pub async fn hyper_h2(addr: SocketAddr) -> HyperSender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    wsmachine::hyper::handshake_h2(stream, std::time::Duration::from_secs(10))
        .await
        .unwrap()
}

/// An HTTP/2 connection of the `h2` crate to `addr` (prior knowledge),
/// driven on a task of its own, after the server's SETTINGS arrived (a
/// plain request's answer comes after them).
pub async fn h2_connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut sender = sender.ready().await.unwrap();
    let (response, _) = sender
        .send_request(plain_get(addr, "/hello"), true)
        .unwrap();
    within("GET /hello", response).await.unwrap();
    sender
}

/// `GET path` to `addr`, for the `h2` crate.
pub fn plain_get(addr: SocketAddr, path: &str) -> http::Request<()> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(())
        .unwrap()
}

/// An extended CONNECT to `addr` with `:protocol` `protocol` and `headers`;
/// the stream stays open for DATA.
pub fn extended_connect(
    addr: SocketAddr,
    path: &str,
    protocol: &'static str,
    headers: &[(&str, String)],
) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let mut request = request.body(()).unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static(protocol));
    request
}

/// The whole body of a response, with how the stream ended.
pub async fn read_body(mut body: h2::RecvStream) -> (Vec<u8>, Result<(), h2::Error>) {
    let mut out = Vec::new();
    loop {
        match within("response body", body.data()).await {
            None => return (out, Ok(())),
            Some(Ok(chunk)) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                out.extend_from_slice(&chunk);
            }
            Some(Err(e)) => return (out, Err(e)),
        }
    }
}

/// A WebSocket client on one HTTP/2 stream: the `h2` crate's send and
/// receive halves, with wsmachine's sans-IO machine in between.
pub struct H2WebSocket {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    conn: Connection,
    /// The server ended its side of the stream (END_STREAM).
    pub end_stream: bool,
    /// We ended ours.
    pub sent_end_stream: bool,
    send_error: Option<h2::Error>,
}

impl H2WebSocket {
    /// Opens a WebSocket on `sender`'s connection with an extended CONNECT
    /// to `path`, offering what `config` and `request` say.
    pub async fn open(
        sender: &mut h2::client::SendRequest<Bytes>,
        addr: SocketAddr,
        request: ClientRequest,
        config: Config,
    ) -> Result<(H2WebSocket, HandshakeResponse), String> {
        let path = request.target().to_owned();
        let handshake = ClientHandshake::new(request, &config).unwrap();
        let headers = handshake.extended_connect_headers();
        let connect = extended_connect(addr, &path, "websocket", &headers);
        let (response, send) = sender
            .send_request(connect, false)
            .map_err(|e| format!("send_request: {e}"))?;
        let response = within("the CONNECT's answer", response)
            .await
            .map_err(|e| format!("response: {e}"))?;
        let answer = HandshakeResponse::from(&response);
        let negotiated = handshake
            .verify_extended_connect(&answer, &config)
            .map_err(|e| format!("{} {answer:?}: {e}", response.status()))?;
        let conn = Connection::upgraded_with(Role::Client, config, negotiated).unwrap();
        Ok((
            H2WebSocket::from_parts(send, response.into_body(), conn),
            answer,
        ))
    }

    /// A WebSocket on a stream whose CONNECT was answered with a 2xx.
    pub fn from_parts(
        send: h2::SendStream<Bytes>,
        recv: h2::RecvStream,
        conn: Connection,
    ) -> H2WebSocket {
        H2WebSocket {
            send,
            recv,
            conn,
            end_stream: false,
            sent_end_stream: false,
            send_error: None,
        }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Sends `message` (as DATA; h2 buffers what the window does not take).
    pub fn send(&mut self, message: impl Into<Message>) {
        self.conn.send(message.into()).unwrap();
        self.flush();
    }

    /// Starts the closing handshake.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.conn.close(code, reason).unwrap();
        self.flush();
    }

    fn flush(&mut self) {
        while !self.conn.pending_output().is_empty() {
            let out = Bytes::copy_from_slice(self.conn.pending_output());
            let n = out.len();
            if let Err(e) = self.send.send_data(out, false) {
                // A reset or lost stream: `next` reports it.
                self.send_error.get_or_insert(e);
                return;
            }
            self.conn.consume_output(n);
        }
        // RFC 8441 §6: the orderly end of the stream is where HTTP/1.1
        // closes TCP.
        if self.conn.should_close_transport() && !self.sent_end_stream {
            self.sent_end_stream = true;
            let _ = self.send.send_data(Bytes::new(), true);
        }
    }

    /// The next message, Ping, Pong or Close; `None` once the machine is
    /// done and the stream has ended. A stream reset is an error.
    pub async fn next(&mut self) -> Result<Option<OwnedEvent>, h2::Error> {
        loop {
            if let Some(event) = self.conn.next_owned_event() {
                self.flush();
                return Ok(Some(event));
            }
            self.flush();
            if let Some(e) = self.send_error.take() {
                return Err(e);
            }
            if self.end_stream {
                return Ok(None);
            }
            match within("DATA on the WebSocket's stream", self.recv.data()).await {
                Some(Ok(bytes)) => {
                    let _ = self.recv.flow_control().release_capacity(bytes.len());
                    self.conn.receive(&bytes);
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.end_stream = true;
                    self.conn.receive_eof();
                }
            }
        }
    }

    /// The next text or binary message (Pings and Pongs are skipped).
    pub async fn next_message(&mut self) -> Message {
        loop {
            match self.next().await {
                Ok(Some(OwnedEvent::Message(message))) if message.kind().is_some() => {
                    return message
                }
                Ok(Some(OwnedEvent::Message(_) | OwnedEvent::Pong { .. })) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Whether the server's side ended cleanly (END_STREAM, no reset).
    pub fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}
