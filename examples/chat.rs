//! A chat room in the browser: one port serves the page and the WebSocket,
//! on the tokio front-end.
//!
//! ```text
//! cargo run --release --example chat [ADDR]   # default 127.0.0.1:8080
//! cargo run --release --example chat --features self-signed -- [ADDR] --tls
//! ```
//!
//! With `--tls` the page and the WebSocket are served over TLS (https://,
//! wss://) with a self-signed certificate for `localhost` and the address,
//! made at start: tell the browser to trust it once, or start Chromium with
//! `--ignore-certificate-errors` for a test.
//!
//! Open the printed URL in a few tabs. Each TCP connection is one tokio task
//! around a [`WebSocket`]: it waits in `tokio::select!` for the member's next
//! message, the room's next broadcast, or the server's shutdown. Keepalive
//! Pings, the handshake deadline and the closing handshake are the
//! front-end's. Ctrl-C (SIGINT) closes every member with 1001 "server shutting
//! down" and exits 0 (`tests/example_chat.rs` checks this).
//!
//! Routes, all on the same port:
//!
//! - `GET /`: the page (plain HTTP, thanks to [`Config::allow_plain_http`]);
//!   any other plain request gets 404.
//! - `/ws`: the chat. Client → server text: `join:<name>`, then `msg:<text>`.
//!   Server → client JSON: `{"type":"welcome","name":…}` (the name you got),
//!   `{"type":"join","name":…}`, `{"type":"leave","name":…}`,
//!   `{"type":"msg","name":…,"text":…}`, `{"type":"users","names":[…]}` and
//!   `{"type":"error","text":…}`. Room messages are encoded (and
//!   compressed, where the member's negotiation allows) once for everyone:
//!   a [`PreparedMessage`].
//! - `/echo`: echoes every message; the text `close-me` makes the server close
//!   with 4001 "server says bye". `/report`: the first text received is printed
//!   as `SELFTEST <text>`. Both serve the page's self-test (`/?selftest=1`),
//!   which `tests/interop_chromium.rs` runs in headless Chromium.
//!
//! Upgrades are accepted only without an `Origin` header or when the Origin's
//! host and port equal the `Host` header (`OriginPolicy::SameHost`: the
//! machine answers others with 403), so other sites cannot open sockets
//! with a visitor's cookies (RFC 6455 §10.2). At most 10,000 connections
//! are served at once; more get 503. Dead peers are found with Pings
//! (every 10 s of silence, 10 s to answer), so a vanished browser leaves the
//! room within about 20 s. Nobody can hold the others back: a member may send
//! 5 messages a second (bursts of 10), and a client that does not take a room
//! message within 10 s, or falls 256 room messages behind, is closed with 1008
//! instead of being waited for.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wsmachine::tokio::{accept_with, Listener, Reject, WebSocket};
use wsmachine::{
    Accept, CloseCode, Config, ConnectionLimit, HandshakeRequest, Message, OriginPolicy,
    PreparedMessage, WsError,
};

/// The page: HTML, CSS and JavaScript in one file, no external resources.
pub(crate) const PAGE: &str = include_str!("chat.html");
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
/// How long a member may take to accept one room message before it is
/// closed as too slow (its output is above the high-water mark meanwhile).
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Connections served at once; more are answered 503.
const MAX_CONNECTIONS: usize = 10_000;
/// How long the server waits, on shutdown, for members to close.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tls = args.iter().any(|arg| arg == "--tls");
    let addr = args
        .iter()
        .find(|arg| !arg.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let transport = if tls {
        tls_transport(local)?
    } else {
        Transport::Plain
    };
    let scheme = if tls { "https" } else { "http" };
    println!("chat: open {scheme}://{local}/ in a browser");
    let (shutdown, stop) = watch::channel(false);
    let server = tokio::spawn(serve_on(listener, None, stop, transport));
    let _ = tokio::signal::ctrl_c().await;
    println!("chat: shutting down");
    let _ = shutdown.send(true);
    let _ = server.await;
    Ok(())
}

/// How connections arrive: plain TCP, or TLS on top of it.
#[derive(Clone)]
pub enum Transport {
    Plain,
    #[cfg(feature = "self-signed")]
    Tls(wsmachine::tls::tokio_rustls::TlsAcceptor),
}

/// TLS with a self-signed certificate for `localhost` and `local`'s address.
#[cfg(feature = "self-signed")]
pub fn tls_transport(local: SocketAddr) -> io::Result<Transport> {
    let ip = local.ip().to_string();
    let (cert, key) = wsmachine::tls::self_signed(&["localhost", &ip]).map_err(io::Error::other)?;
    let provider = Arc::new(wsmachine::tls::tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config =
        wsmachine::tls::tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(io::Error::other)?;
    // One port, HTTP/1.1: the page and the WebSocket upgrade.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Transport::Tls(
        wsmachine::tls::tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    ))
}

#[cfg(not(feature = "self-signed"))]
fn tls_transport(_: SocketAddr) -> io::Result<Transport> {
    eprintln!("chat: --tls needs a build with `--features self-signed`");
    std::process::exit(2);
}

/// Serves the page, the chat room and the self-test endpoints on `listener`
/// until `stop` turns true; then every connection is closed with 1001 and
/// given a few seconds to finish. Self-test reports are printed and, if
/// `reports` is given, sent there too.
pub async fn serve(
    listener: TcpListener,
    reports: Option<mpsc::UnboundedSender<String>>,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    serve_on(listener, reports, stop, Transport::Plain).await
}

/// [`serve`] over the given transport.
pub async fn serve_on(
    listener: TcpListener,
    reports: Option<mpsc::UnboundedSender<String>>,
    mut stop: watch::Receiver<bool>,
    transport: Transport,
) -> io::Result<()> {
    let room = Arc::new(Room::new());
    let limit = ConnectionLimit::new(MAX_CONNECTIONS);
    // Out of file descriptors, a client is answered 503 and the loop goes
    // on, neither spinning nor stopping.
    let mut listener = Listener::new(listener);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // The listener itself failed (out of descriptors is handled
                // inside): say so, wait, then try again.
                eprintln!("chat: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (room, reports, stop) = (Arc::clone(&room), reports.clone(), stop.clone());
        let transport = transport.clone();
        let permit = limit.try_acquire();
        connections.spawn(async move {
            let _ = stream.set_nodelay(true);
            let Some(_permit) = permit else {
                // Full: the request still gets an answer, 503.
                let busy = |_: &HandshakeRequest| Err(Reject::new(503, "too many connections\n"));
                let _ = accept_with(stream, config(), busy).await;
                return;
            };
            let handled = match transport {
                Transport::Plain => handle(stream, peer, &room, reports, stop).await,
                #[cfg(feature = "self-signed")]
                Transport::Tls(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => handle(tls, peer, &room, reports, stop).await,
                    Err(e) => Err(WsError::Tls(e)),
                },
            };
            if let Err(e) = handled {
                eprintln!("chat: {peer}: {e}");
            }
        });
    }
    // Every task saw `stop` and is closing with 1001; give them a moment.
    let _ = tokio::time::timeout(SHUTDOWN_LIMIT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// The machine's settings for every connection on this port.
pub(crate) fn config() -> Config {
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
        // Browser pages from other sites get 403 (RFC 6455 §10.2).
        .with_origin_policy(OriginPolicy::SameHost)
}

// ------------------------------------------------------------------- room

/// Who is in the room, and the channel every member's task listens to.
pub(crate) struct Room {
    names: Mutex<BTreeSet<String>>,
    tx: broadcast::Sender<PreparedMessage>,
}

/// A joined connection.
struct Member {
    name: String,
    rx: broadcast::Receiver<PreparedMessage>,
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
    pub(crate) fn new() -> Room {
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

    /// Encodes the message once for every member.
    fn publish(&self, json: String) {
        // Fails only when nobody listens, which is fine.
        let _ = self.tx.send(PreparedMessage::text(json));
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

// ------------------------------------------------------------- connection

/// What an upgraded connection is for.
enum Endpoint {
    Chat,
    Echo,
    Report,
}

/// The answer to a request.
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
    match request.path() {
        "/ws" => Route::Upgrade(Endpoint::Chat),
        "/echo" => Route::Upgrade(Endpoint::Echo),
        "/report" => Route::Upgrade(Endpoint::Report),
        _ => Route::Status(404, "no WebSocket here\n"),
    }
}

/// Answers the request (the page, a status, or the upgrade) and serves the
/// endpoint it asked for.
async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    room: &Room,
    reports: Option<mpsc::UnboundedSender<String>>,
    stop: watch::Receiver<bool>,
) -> Result<(), WsError> {
    let mut endpoint = None;
    let accepted = accept_with(stream, config(), |request| match route(request) {
        Route::Page => Err(Reject::new(200, PAGE)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-cache")),
        Route::Status(status, body) => {
            Err(Reject::new(status, body).header("Content-Type", "text/plain; charset=utf-8"))
        }
        Route::Upgrade(wanted) => {
            endpoint = Some(wanted);
            Ok(Accept::new())
        }
    })
    .await;
    let ws = match accepted {
        Ok(ws) => ws,
        // A page or a status was the answer.
        Err(WsError::Refused(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    match endpoint {
        Some(Endpoint::Chat) => chat(ws, peer, room, stop).await,
        Some(Endpoint::Echo) => echo(ws).await,
        Some(Endpoint::Report) => report(ws, reports).await,
        None => Ok(()),
    }
}

/// `/echo`: every message back; `close-me` asks the server to close.
pub(crate) async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<S>,
) -> Result<(), WsError> {
    while let Some(message) = ws.recv().await {
        match message? {
            Message::Text(text) if text == "close-me" => {
                return ws.close(CloseCode(4001), "server says bye").await;
            }
            message => ws.feed(message).await?,
        }
    }
    Ok(())
}

/// `/report`: the self-test's verdict, printed, then a normal close.
pub(crate) async fn report<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<S>,
    reports: Option<mpsc::UnboundedSender<String>>,
) -> Result<(), WsError> {
    while let Some(message) = ws.recv().await {
        if let Message::Text(text) = message? {
            println!("SELFTEST {text}");
            if let Some(reports) = &reports {
                let _ = reports.send(text.to_string());
            }
            return ws.close(CloseCode::NORMAL, "report received").await;
        }
    }
    Ok(())
}

/// `/ws`: a member of the room until it leaves, fails, or the server stops.
pub(crate) async fn chat<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<S>,
    peer: SocketAddr,
    room: &Room,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WsError> {
    let mut member: Option<Member> = None;
    let ended = loop {
        tokio::select! {
            message = ws.recv() => match message {
                None => break format!("closed {:?}", ws.close_frame()),
                Some(Err(e)) => break e.to_string(),
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = chat_text(room, &mut member, &text, peer) {
                        ws.send(reply).await?;
                    }
                }
                Some(Ok(_)) => {}
            },
            message = next_room_message(&mut member) => {
                let sent = match message {
                    Ok(prepared) => tokio::time::timeout(STALL_LIMIT, ws.send_prepared(&prepared)).await,
                    Err(RecvError::Lagged(missed)) => {
                        let _ = ws.close(CloseCode::POLICY_VIOLATION, "too slow").await;
                        break format!("too slow, missed {missed} messages");
                    }
                    Err(RecvError::Closed) => Ok(Ok(())),
                };
                if sent.is_err() {
                    let _ = ws.close(CloseCode::POLICY_VIOLATION, "too slow").await;
                    break "too slow: not reading".into();
                }
            }
            _ = stop.changed() => {
                let _ = ws.close(CloseCode::GOING_AWAY, "server shutting down").await;
                break "server shutting down".into();
            }
        }
    };
    if let Some(member) = member {
        println!("leave {:?} from {peer} ({ended})", member.name);
        room.leave(&member.name);
    }
    Ok(())
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
async fn next_room_message(member: &mut Option<Member>) -> Result<PreparedMessage, RecvError> {
    match member {
        Some(member) => member.rx.recv().await,
        None => std::future::pending().await,
    }
}
