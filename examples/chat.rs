//! A chat room in the browser: one port serves the page and the WebSocket.
//!
//! ```text
//! cargo run --release --example chat [ADDR]   # default 127.0.0.1:8080
//! ```
//!
//! Open the printed URL in a few tabs. Each TCP connection is one tokio task
//! driving a [`Connection`]: `tokio::select!` waits for the socket to be
//! readable or writable, for the room's broadcast channel, and for the
//! machine's next deadline (keepalive Pings, handshake and closing timeouts).
//!
//! Routes, all on the same port:
//!
//! - `GET /`: the page (plain HTTP, thanks to [`Config::allow_plain_http`]);
//!   any other plain request gets 404.
//! - `/ws`: the chat. Client → server text: `join:<name>`, then `msg:<text>`.
//!   Server → client JSON: `{"type":"welcome","name":…}` (the name you got),
//!   `{"type":"join","name":…}`, `{"type":"leave","name":…}`,
//!   `{"type":"msg","name":…,"text":…}`, `{"type":"users","names":[…]}` and
//!   `{"type":"error","text":…}`.
//! - `/echo`: echoes every message; the text `close-me` makes the server close
//!   with 4001 "server says bye". `/report`: the first text received is printed
//!   as `SELFTEST <text>`. Both serve the page's self-test (`/?selftest=1`),
//!   which `tests/interop_chromium.rs` runs in headless Chromium.
//!
//! Upgrades are accepted only without an `Origin` header or when the Origin's
//! host and port equal the `Host` header, so other sites cannot open sockets
//! with a visitor's cookies (RFC 6455 §10.2). Dead peers are found with Pings
//! (every 10 s of silence, 10 s to answer), so a vanished browser leaves the
//! room within about 20 s. Nobody can hold the others back: a member may send
//! 5 messages a second (bursts of 10), and a client that leaves over 1 MiB of
//! our output unread for 10 s, or falls 256 room messages behind, is closed
//! with 1008 instead of being waited for.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use wsmachine::{
    Accept, CloseCode, Config, Connection, Event, HandshakeRequest, ReadyState, Timestamp,
};

/// The page: HTML, CSS and JavaScript in one file, no external resources.
const PAGE: &str = include_str!("chat.html");
/// Longest name, in characters.
const MAX_NAME_CHARS: usize = 24;
/// Longest chat message, in characters.
const MAX_TEXT_CHARS: usize = 2000;
/// Chat messages a member may send per second, sustained ...
const RATE_PER_SEC: f64 = 5.0;
/// ... and in a burst.
const BURST: f64 = 10.0;
/// Room messages a member may fall behind by before it is closed as too slow.
const ROOM_BACKLOG: usize = 256;
/// How long a peer may leave more than `Config::output_high_water` bytes of
/// our output unread before it is closed as too slow.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// How long a closed connection may take to write its last bytes.
const LINGER: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("chat: open http://{}/ in a browser", listener.local_addr()?);
    serve(listener, None).await
}

/// Serves the page, the chat room and the self-test endpoints on `listener`
/// until accepting fails for good. Self-test reports are printed and, if
/// `reports` is given, sent there too.
pub async fn serve(
    listener: TcpListener,
    reports: Option<mpsc::UnboundedSender<String>>,
) -> io::Result<()> {
    let room = Arc::new(Room::new());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                eprintln!("chat: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let room = Arc::clone(&room);
        let reports = reports.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, peer, &room, reports).await {
                eprintln!("chat: {peer}: {e}");
            }
        });
    }
}

/// The machine's settings for every connection on this port.
fn config() -> Config {
    Config::default()
        // `GET /` for the page arrives as a HandshakeRequest we answer ourselves.
        .with_allow_plain_http(true)
        // Room for the self-test's 1 MiB messages and their echoes.
        .with_max_frame_size(2 << 20)
        .with_max_message_size(2 << 20)
        .with_max_output_buffer(8 << 20)
        .with_ping_interval(Some(Duration::from_secs(10)))
        .with_pong_timeout(Duration::from_secs(10))
        // A peer that does not answer Pings is gone: do not wait for its Close.
        .with_abort_on_keepalive_timeout(true)
}

// ------------------------------------------------------------------- room

/// Who is in the room, and the channel every member's task listens to.
struct Room {
    names: Mutex<BTreeSet<String>>,
    tx: broadcast::Sender<Arc<str>>,
}

/// A joined connection.
struct Member {
    name: String,
    rx: broadcast::Receiver<Arc<str>>,
    /// Rate limit: messages it may send now (a token bucket).
    tokens: f64,
    refilled: Instant,
    /// Told to slow down since it last had a token.
    warned: bool,
}

impl Member {
    /// Takes a token if one is left; one flooding member must not push the
    /// others out of the room's backlog.
    fn may_speak(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * RATE_PER_SEC;
        self.tokens = (self.tokens + earned).min(BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        self.warned = false;
        true
    }
}

impl Room {
    fn new() -> Room {
        Room {
            names: Mutex::new(BTreeSet::new()),
            tx: broadcast::channel(ROOM_BACKLOG).0,
        }
    }

    /// Adds a member under `wanted`, made unique ("ann (2)") if taken, and
    /// announces it. The member's receiver sees its own join.
    fn join(&self, wanted: &str) -> Result<Member, String> {
        let wanted = wanted.trim();
        if wanted.is_empty() {
            return Err("choose a name".into());
        }
        if wanted.chars().count() > MAX_NAME_CHARS {
            return Err(format!("names have at most {MAX_NAME_CHARS} characters"));
        }
        if wanted.chars().any(char::is_control) {
            return Err("names cannot contain control characters".into());
        }
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let name = (1..=1000)
            .map(|n| match n {
                1 => wanted.to_owned(),
                n => format!("{wanted} ({n})"),
            })
            .find(|name| !names.contains(name))
            .ok_or_else(|| String::from("that name is very popular; choose another"))?;
        names.insert(name.clone());
        // Subscribe and announce under the lock, so every member sees the
        // joins, leaves and user lists in one order.
        let rx = self.tx.subscribe();
        self.announce("join", &name, &names);
        Ok(Member {
            name,
            rx,
            tokens: BURST,
            refilled: Instant::now(),
            warned: false,
        })
    }

    fn leave(&self, name: &str) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        names.remove(name);
        self.announce("leave", name, &names);
    }

    fn announce(&self, kind: &str, name: &str, names: &BTreeSet<String>) {
        let mut event = format!("{{\"type\":\"{kind}\",\"name\":");
        push_json_string(&mut event, name);
        event.push('}');
        self.publish(event);
        let mut users = String::from("{\"type\":\"users\",\"names\":[");
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                users.push(',');
            }
            push_json_string(&mut users, name);
        }
        users.push_str("]}");
        self.publish(users);
    }

    fn say(&self, name: &str, text: &str) {
        let mut msg = String::from("{\"type\":\"msg\",\"name\":");
        push_json_string(&mut msg, name);
        msg.push_str(",\"text\":");
        push_json_string(&mut msg, text);
        msg.push('}');
        self.publish(msg);
    }

    fn publish(&self, json: String) {
        // Fails only when nobody listens, which is fine.
        let _ = self.tx.send(json.into());
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the two separators older
            // JavaScript parsers choke on.
            c if c < ' ' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn error_json(text: &str) -> String {
    let mut out = String::from("{\"type\":\"error\",\"text\":");
    push_json_string(&mut out, text);
    out.push('}');
    out
}

// ---------------------------------------------------------------- routing

/// What a connection turned out to be, decided by its request.
enum Endpoint {
    /// The opening handshake (or plain HTTP request) has not arrived yet.
    Undecided,
    /// The chat; `None` until the client sends `join:<name>`.
    Chat(Option<Member>),
    Echo,
    Report {
        received: bool,
    },
    /// A plain HTTP request, answered; the connection is closing.
    Http,
    /// A WebSocket that is closing: what it still sends is ignored.
    Closing,
}

/// The answer to a request, decided while the request is borrowed.
enum Route {
    Page,
    Status(u16, &'static str),
    Upgrade(Endpoint),
}

fn route(request: &HandshakeRequest) -> Route {
    if !request.is_websocket_upgrade() {
        return match request.path() {
            "/" => Route::Page,
            _ => Route::Status(404, "not found\n"),
        };
    }
    if !origin_allowed(request.origin(), request.host()) {
        return Route::Status(403, "origin not allowed\n");
    }
    match request.path() {
        "/ws" => Route::Upgrade(Endpoint::Chat(None)),
        "/echo" => Route::Upgrade(Endpoint::Echo),
        "/report" => Route::Upgrade(Endpoint::Report { received: false }),
        _ => Route::Status(404, "no WebSocket here\n"),
    }
}

/// Allows requests without an Origin (non-browser clients) and those whose
/// Origin names the host and port they were sent to.
fn origin_allowed(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let (Some((scheme, authority)), Some(host)) = (origin.split_once("://"), host) else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let normalize = |s: &str| {
        let s = s.trim();
        s.strip_suffix(default_port)
            .unwrap_or(s)
            .to_ascii_lowercase()
    };
    !authority.contains('/') && normalize(authority) == normalize(host)
}

// ------------------------------------------------------------- connection

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    room: &Room,
    reports: Option<mpsc::UnboundedSender<String>>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut session = Session {
        conn: Connection::server(config()),
        endpoint: Endpoint::Undecided,
        peer,
        room,
        reports,
        backpressured: false,
        ended: None,
    };
    let result = session.run(&mut stream).await;
    session.depart();
    if result.is_ok() {
        linger_close(&mut stream).await;
    }
    result
}

/// One connection's state around its machine.
struct Session<'a> {
    conn: Connection,
    endpoint: Endpoint,
    peer: SocketAddr,
    room: &'a Room,
    reports: Option<mpsc::UnboundedSender<String>>,
    /// The peer does not read fast enough: stop producing for it.
    backpressured: bool,
    /// How the connection ended, for the log.
    ended: Option<String>,
}

/// An event copied out of the machine, so the connection can be used again.
enum Received {
    Request(Route),
    Text,
    Binary,
}

impl Session<'_> {
    /// Drives the connection until the transport should be closed.
    async fn run(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let (mut reader, mut writer) = stream.split();
        let origin = Instant::now();
        let mut read_buf = vec![0u8; 64 * 1024];
        let mut text = String::new();
        let mut binary = Vec::new();
        let mut closed_at = None;
        let mut stalled_at = None;
        loop {
            self.conn
                .handle_timeout(Timestamp::from_duration(origin.elapsed()));
            self.process_events(&mut text, &mut binary);
            if self.conn.ready_state() != ReadyState::Open {
                self.depart();
            }
            if self.conn.should_close_transport() {
                return Ok(());
            }
            let now = Instant::now();
            // Once closed, the last bytes (a Close frame, an HTTP response)
            // get a bounded time to go out to a peer that may not read.
            if self.conn.ready_state() == ReadyState::Closed
                && now >= *closed_at.get_or_insert(now + LINGER)
            {
                return Ok(());
            }
            // A peer that leaves our output piled up for too long is closed.
            if !self.backpressured {
                stalled_at = None;
            } else if now >= *stalled_at.get_or_insert(now + STALL_LIMIT)
                && self.conn.ready_state() == ReadyState::Open
            {
                self.ended = Some("too slow: not reading".into());
                let _ = self.conn.close(CloseCode::POLICY_VIOLATION, "too slow");
            }
            let machine = self
                .conn
                .poll_timeout()
                .map(Timestamp::since_origin)
                .map(|at| origin + at);
            let deadline = [machine, closed_at, stalled_at].into_iter().flatten().min();
            // A chat connection is read even while its output piles up (its
            // Pongs and Close must get through; what it sends does not add to
            // its own output), an echo connection is not.
            let reading = self.conn.wants_read()
                && !(self.backpressured && matches!(self.endpoint, Endpoint::Echo));
            // Room messages are pulled only while the peer keeps up; one that
            // falls ROOM_BACKLOG behind is closed (see `forward`).
            let pulling = matches!(self.endpoint, Endpoint::Chat(Some(_)))
                && self.conn.ready_state() == ReadyState::Open
                && !self.backpressured;
            let output = self.conn.pending_output();
            tokio::select! {
                read = reader.read(&mut read_buf), if reading => match read {
                    Ok(0) | Err(_) => self.conn.receive_eof(),
                    Ok(n) => self.conn.receive(&read_buf[..n]),
                },
                written = writer.write(output), if !output.is_empty() => match written {
                    Ok(n) if n > 0 => self.conn.consume_output(n),
                    _ => {
                        self.ended.get_or_insert_with(|| "write failed".into());
                        return Ok(());
                    }
                },
                message = next_room_message(&mut self.endpoint), if pulling => {
                    self.forward(message);
                }
                () = sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {}
                else => return Ok(()),
            }
        }
    }

    /// Once a WebSocket stops being open: a member leaves the room at once,
    /// not when the last bytes are written.
    fn depart(&mut self) {
        if matches!(self.endpoint, Endpoint::Undecided | Endpoint::Http) {
            return;
        }
        if let Endpoint::Chat(Some(member)) =
            std::mem::replace(&mut self.endpoint, Endpoint::Closing)
        {
            let why = self.ended.as_deref().unwrap_or("connection lost");
            println!("leave {:?} from {} ({why})", member.name, self.peer);
            self.room.leave(&member.name);
        }
    }

    /// Takes every event the machine has and acts on it.
    fn process_events(&mut self, text: &mut String, binary: &mut Vec<u8>) {
        loop {
            let received = match self.conn.next_event() {
                None => return,
                Some(Event::HandshakeRequest(request)) => Received::Request(route(request)),
                Some(Event::Text(t)) => {
                    text.clear();
                    text.push_str(t);
                    Received::Text
                }
                Some(Event::Binary(b)) => {
                    binary.clear();
                    binary.extend_from_slice(b);
                    Received::Binary
                }
                Some(Event::WriteBackpressure(high)) => {
                    self.backpressured = high;
                    continue;
                }
                Some(Event::Close { code, reason }) => {
                    let code = code.map_or(1005, |c| c.0);
                    self.ended
                        .get_or_insert_with(|| format!("closed {code} {reason:?}"));
                    continue;
                }
                Some(Event::Failed(error)) => {
                    self.ended.get_or_insert_with(|| error.to_string());
                    continue;
                }
                Some(_) => continue,
            };
            match received {
                Received::Request(route) => self.answer(route),
                Received::Text => self.on_text(text),
                Received::Binary => {
                    if let Endpoint::Echo = self.endpoint {
                        let _ = self.conn.send_binary(binary);
                    }
                }
            }
        }
    }

    fn answer(&mut self, route: Route) {
        let answered = match route {
            Route::Page => {
                self.endpoint = Endpoint::Http;
                self.conn.reject(
                    200,
                    &[
                        ("Content-Type", "text/html; charset=utf-8"),
                        ("Cache-Control", "no-cache"),
                    ],
                    PAGE.as_bytes(),
                )
            }
            Route::Status(status, body) => {
                self.endpoint = Endpoint::Http;
                self.conn.reject(
                    status,
                    &[("Content-Type", "text/plain; charset=utf-8")],
                    body.as_bytes(),
                )
            }
            Route::Upgrade(endpoint) => {
                self.endpoint = endpoint;
                self.conn.accept(Accept::new())
            }
        };
        if let Err(e) = answered {
            eprintln!("chat: {}: cannot answer the request: {e}", self.peer);
        }
    }

    fn on_text(&mut self, text: &str) {
        match &mut self.endpoint {
            Endpoint::Echo if text == "close-me" => {
                let _ = self.conn.close(CloseCode(4001), "server says bye");
            }
            Endpoint::Echo => {
                let _ = self.conn.send_text(text);
            }
            Endpoint::Report { received } if !*received => {
                *received = true;
                println!("SELFTEST {text}");
                if let Some(reports) = &self.reports {
                    let _ = reports.send(text.to_owned());
                }
                let _ = self.conn.close(CloseCode::NORMAL, "report received");
            }
            Endpoint::Chat(member) => {
                let reply = chat_text(self.room, member, text, self.peer);
                if let Some(reply) = reply {
                    let _ = self.conn.send_text(&reply);
                }
            }
            _ => {}
        }
    }

    /// Sends a room message to this member, or closes it if it fell behind.
    fn forward(&mut self, message: Result<Arc<str>, RecvError>) {
        match message {
            Ok(json) => {
                let _ = self.conn.send_text(&json);
            }
            Err(RecvError::Lagged(missed)) => {
                self.ended = Some(format!("too slow, missed {missed} messages"));
                let _ = self.conn.close(CloseCode::POLICY_VIOLATION, "too slow");
            }
            Err(RecvError::Closed) => {
                let _ = self.conn.close(CloseCode::GOING_AWAY, "room closed");
            }
        }
    }
}

/// Handles a chat line; returns the reply for this client alone, if any.
fn chat_text(
    room: &Room,
    member: &mut Option<Member>,
    text: &str,
    peer: SocketAddr,
) -> Option<String> {
    match (member.as_ref(), text.split_once(':')) {
        (None, Some(("join", wanted))) => match room.join(wanted) {
            Ok(joined) => {
                println!("join {:?} from {peer}", joined.name);
                let mut welcome = String::from("{\"type\":\"welcome\",\"name\":");
                push_json_string(&mut welcome, &joined.name);
                welcome.push('}');
                *member = Some(joined);
                Some(welcome)
            }
            Err(why) => Some(error_json(&why)),
        },
        (None, _) => Some(error_json("send join:<name> first")),
        (Some(_), Some(("join", _))) => Some(error_json("you have already joined")),
        (Some(_), Some(("msg", said))) if said.chars().count() > MAX_TEXT_CHARS => {
            Some(error_json(&format!(
                "messages have at most {MAX_TEXT_CHARS} characters"
            )))
        }
        (Some(_), Some(("msg", said))) if said.trim().is_empty() => None,
        (Some(_), Some(("msg", said))) => {
            let joined = member.as_mut()?;
            if joined.may_speak() {
                room.say(&joined.name, said.trim());
                None
            } else if !joined.warned {
                // Dropped; say so once per burst.
                joined.warned = true;
                Some(error_json("slow down: messages are being dropped"))
            } else {
                None
            }
        }
        (Some(_), _) => Some(error_json("unknown command; send msg:<text>")),
    }
}

/// The next room message for a joined member; never ready otherwise.
async fn next_room_message(endpoint: &mut Endpoint) -> Result<Arc<str>, RecvError> {
    match endpoint {
        Endpoint::Chat(Some(member)) => member.rx.recv().await,
        _ => std::future::pending().await,
    }
}

/// Closes our side first (as RFC 6455 §7.1.1 asks of a server) and reads what
/// the peer still sends, briefly, so unread bytes do not make the kernel reset
/// the connection before the peer has read our last words.
async fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
