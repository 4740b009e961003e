//! Opening handshakes done outside the machine, as an HTTP layer would do
//! them, over real sockets: the head read and parsed here (`httparse`), the
//! decision made with `HandshakeRequest::accept_with` or
//! `ClientHandshake::verify`, and the connection started open with
//! `Connection::upgraded_with`. Plus a log of the frames that cross the
//! socket, read from the raw bytes, to see what a peer really sent.

use super::*;
use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use wsmachine::{
    Accept, ClientHandshake, HandshakeRequest, HandshakeResponse, Headers, Negotiated, Role,
};

/// Longest handshake head either side reads.
const MAX_HEAD: usize = 16 * 1024;

/// One frame header as it crossed the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub opcode: u8,
    pub fin: bool,
    pub rsv1: bool,
    pub len: u64,
}

impl WireFrame {
    pub fn is_data(&self) -> bool {
        self.opcode <= 2
    }
}

/// The frame headers in a byte stream, parsed independently of the machine.
#[derive(Clone, Debug, Default)]
pub struct FrameLog {
    head: Vec<u8>,
    skip: u64,
    pub frames: Vec<WireFrame>,
}

impl FrameLog {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() as u64) as usize;
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.head.push(byte);
            bytes = rest;
            if let Some(frame) = self.complete_head() {
                self.skip = frame.len;
                self.frames.push(frame);
                self.head.clear();
            }
        }
    }

    fn complete_head(&self) -> Option<WireFrame> {
        let head = &self.head;
        let second = *head.get(1)?;
        let (extended, short) = match second & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        if head.len() < 2 + extended + mask {
            return None;
        }
        let len = short.unwrap_or_else(|| {
            head[2..2 + extended]
                .iter()
                .fold(0, |len, &b| len << 8 | u64::from(b))
        });
        Some(WireFrame {
            opcode: head[0] & 0x0f,
            fin: head[0] & 0x80 != 0,
            rsv1: head[0] & 0x40 != 0,
            len,
        })
    }

    /// Text, binary and continuation frames, in order.
    pub fn data_frames(&self) -> Vec<WireFrame> {
        self.frames
            .iter()
            .copied()
            .filter(WireFrame::is_data)
            .collect()
    }

    /// Messages whose first frame had RSV1 set: compressed ones.
    pub fn compressed_messages(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.is_data() && f.opcode != 0 && f.rsv1)
            .count()
    }
}

/// What crossed the socket in each direction.
#[derive(Clone, Debug, Default)]
pub struct Wire {
    pub received: FrameLog,
    pub sent: FrameLog,
}

/// Reads up to the end of an HTTP head; returns the head and what was read
/// past it in the same reads.
pub fn read_head(stream: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("handshake head too long"));
        }
        match stream.read(&mut chunk)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Where an HTTP head ends (past its blank line), if it is all in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn headers_of(parsed: &[httparse::Header<'_>]) -> Headers {
    Headers::from_pairs(parsed.iter().map(|h| (h.name, h.value)))
}

/// How a connection served by [`OutsideServer`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The peer's Close frame, with its code.
    PeerClosed(Option<u16>),
    /// Our machine failed the connection (and sent the Close for it).
    Failed(Error),
    /// The socket failed or ended without a Close.
    Io(io::ErrorKind),
}

/// One connection an [`OutsideServer`] served.
#[derive(Clone, Debug)]
pub struct Served {
    /// The request target (path and query).
    pub target: String,
    /// The `Sec-WebSocket-Extensions` offers, as the client wrote them.
    pub offers: Vec<String>,
    /// What `accept_with` agreed on.
    pub negotiated: Negotiated,
    /// `deflate_params()` of the connection `upgraded_with` built.
    #[cfg(feature = "deflate")]
    pub deflate_params: Option<wsmachine::DeflateParams>,
    /// Data messages echoed.
    pub echoed: usize,
    pub end: End,
    pub wire: Wire,
}

/// An echo server on `wsmachine` whose opening handshake is done outside the
/// machine: it reads and parses the request head itself, decides with
/// `HandshakeRequest::accept_with(&Accept::new(), config)`, writes the 101
/// with `Upgrade::write_response`, then runs `Connection::upgraded_with`.
/// A thread per connection; each reports a [`Served`] when it ends.
pub struct OutsideServer {
    pub addr: SocketAddr,
    reports: Receiver<Result<Served, String>>,
}

impl OutsideServer {
    pub fn start(config: Config) -> OutsideServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tx, config) = (tx.clone(), config.clone());
                std::thread::spawn(move || {
                    let _ = tx.send(serve_outside(stream, config).map_err(|e| e.to_string()));
                });
            }
        });
        OutsideServer { addr, reports }
    }

    pub fn url(&self, target: &str) -> String {
        format!("ws://{}{target}", self.addr)
    }

    /// The report of the next connection to end.
    pub fn next_report(&self) -> Served {
        match self.reports.recv_timeout(IO_TIMEOUT) {
            Ok(Ok(served)) => served,
            Ok(Err(error)) => panic!("server connection failed: {error}"),
            Err(_) => panic!("no server connection ended within {IO_TIMEOUT:?}"),
        }
    }

    /// The reports of the next `n` connections to end, by request target.
    pub fn reports_by_target(&self, n: usize) -> HashMap<String, Served> {
        (0..n)
            .map(|_| {
                let served = self.next_report();
                (served.target.clone(), served)
            })
            .collect()
    }
}

fn serve_outside(mut stream: TcpStream, config: Config) -> io::Result<Served> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let (head, early) = read_head(&mut stream)?;
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut slots);
    if !matches!(parsed.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(io::Error::other("malformed request head"));
    }
    let target = parsed.path.unwrap_or_default().to_owned();
    let request = HandshakeRequest::from_parts(
        parsed.method.unwrap_or_default(),
        &target,
        headers_of(parsed.headers),
    )
    .map_err(io::Error::other)?;
    let offers = request.extensions().map(str::to_owned).collect();
    let upgrade = request
        .accept_with(&Accept::new(), &config)
        .map_err(io::Error::other)?;
    let mut response = Vec::new();
    upgrade.write_response(&mut response);
    stream.write_all(&response)?;
    let negotiated = upgrade.into_negotiated();
    let conn = Connection::upgraded_with(Role::Server, config, negotiated.clone())
        .map_err(io::Error::other)?;
    #[cfg(feature = "deflate")]
    let deflate_params = conn.deflate_params();
    let mut server = Client::over(stream, conn, &early)?;
    let (echoed, end) = echo_until_closed(&mut server);
    let wire = server.wire.take().unwrap_or_default();
    close_gracefully(server.stream, &mut vec![0; 64 * 1024]);
    Ok(Served {
        target,
        offers,
        negotiated,
        #[cfg(feature = "deflate")]
        deflate_params,
        echoed,
        end,
        wire,
    })
}

/// Echoes every data message until the connection closes or fails.
fn echo_until_closed(server: &mut Client) -> (usize, End) {
    let mut echoed = 0;
    loop {
        let sent = match server.next() {
            Ok(Msg::Text(text)) => server.send_text(&text),
            Ok(Msg::Binary(data)) => server.send_binary(&data),
            Ok(Msg::Close(code, _)) => return (echoed, End::PeerClosed(code)),
            Ok(Msg::Failed(error)) => return (echoed, End::Failed(error)),
            Ok(_) => continue,
            Err(error) => return (echoed, End::Io(error.kind())),
        };
        if let Err(error) = sent {
            return (echoed, End::Io(error.kind()));
        }
        echoed += 1;
    }
}

/// Our client with the handshake done outside the machine: writes
/// `ClientHandshake::write_request`, reads and parses the response head
/// itself, `verify`s it and starts `Connection::upgraded_with`. Bytes read
/// past the head go to the connection.
///
/// With `early_bytes` > 0 it first waits (peeking) until the socket holds
/// the whole head and at least that many bytes after it, so that the one
/// read of the head also takes in the server's first frame.
pub fn connect_outside(
    port: u16,
    target: &str,
    config: Config,
    early_bytes: usize,
) -> io::Result<(Client, HandshakeResponse, Negotiated, usize)> {
    let host = format!("127.0.0.1:{port}");
    let handshake = ClientHandshake::new(ClientRequest::new(&host, target), &config)
        .map_err(io::Error::other)?;
    let mut request = Vec::new();
    handshake.write_request(&mut request);
    let mut stream = TcpStream::connect(&host)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&request)?;
    if early_bytes > 0 {
        wait_for_bytes_past_head(&stream, early_bytes)?;
    }
    let (head, early) = read_head(&mut stream)?;
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut slots);
    if !matches!(parsed.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(io::Error::other("malformed response head"));
    }
    let response =
        HandshakeResponse::from_parts(parsed.code.unwrap_or(0), headers_of(parsed.headers));
    let negotiated = handshake
        .verify(&response, &config)
        .map_err(io::Error::other)?;
    let conn = Connection::upgraded_with(Role::Client, config, negotiated.clone())
        .map_err(io::Error::other)?;
    let client = Client::over(stream, conn, &early)?;
    Ok((client, response, negotiated, early.len()))
}

fn wait_for_bytes_past_head(stream: &TcpStream, n: usize) -> io::Result<()> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut peeked = vec![0u8; MAX_HEAD + n];
    loop {
        let len = stream.peek(&mut peeked)?;
        if head_end(&peeked[..len]).is_some_and(|end| len >= end + n) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
