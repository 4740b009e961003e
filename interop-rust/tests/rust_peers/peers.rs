//! The peers: tokio-tungstenite and tokio-websockets, each as a client and
//! as a server, both running one script ([`script`]): echo every text and
//! binary message, and obey the commands our side sends as text.
//!
//! Commands (text messages starting with [`COMMAND`]; the sample payloads
//! never contain `!`):
//! - `fragment text LEN` / `fragment binary LEN`: send [`sample_text`] or
//!   [`sample_binary`] of LEN bytes as a fragmented message, in frames of
//!   [`PeerSetup::frame_size`] bytes.
//! - `ping PAYLOAD`: send a Ping; once its Pong arrives, send the text
//!   `!pong PAYLOAD` ([`PONG`]).
//! - `close CODE REASON`: start the closing handshake.
//!
//! The script keeps reading until the connection ends and reports what it
//! saw ([`PeerReport`]).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// Prefix of a command to the peer.
pub const COMMAND: &str = "!cmd ";
/// Prefix of the peer's report of a Pong.
pub const PONG: &str = "!pong ";

/// Which library plays the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    Tungstenite,
    TokioWebsockets,
}

/// How the peer is set up for one connection.
#[derive(Clone, Copy, Debug)]
pub struct PeerSetup {
    /// The largest frame the peer sends: tokio-websockets splits every
    /// longer message at this size (its `Config::frame_size`, default 4 MiB);
    /// tungstenite sends whole messages unless told to fragment.
    pub frame_size: usize,
}

impl Default for PeerSetup {
    fn default() -> Self {
        PeerSetup {
            frame_size: 4 << 20,
        }
    }
}

/// What the peer saw.
#[derive(Debug, Default)]
pub struct PeerReport {
    /// The Close it received: `Some(None)` for a Close without a code.
    pub close: Option<Option<(u16, String)>>,
    /// The `Sec-WebSocket-Extensions` header it got from us: our client's
    /// offer (peer server) or our server's 101 (peer client).
    pub extensions: Option<String>,
    /// The error that ended it, if any (handshake, protocol, transport).
    pub error: Option<String>,
}

/// A message as both libraries see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMsg {
    Text(String),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<(u16, String)>),
}

/// Text of exactly `len` bytes with 1- to 4-byte characters (so fragment
/// boundaries fall inside characters) and no `!`.
pub fn sample_text(len: usize) -> String {
    let mut text = String::with_capacity(len);
    let mut chars = "interop é ∑ 🦀 ".chars().cycle();
    while text.len() < len {
        let c = chars.next().unwrap_or('.');
        text.push(if text.len() + c.len_utf8() <= len {
            c
        } else {
            '.'
        });
    }
    text
}

/// `len` bytes of every value, in no short period.
pub fn sample_binary(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// One library's connection, as the script uses it.
pub trait PeerConn {
    /// The next message; `None` once the connection ended.
    async fn next(&mut self) -> Option<Result<PeerMsg, String>>;
    async fn send(&mut self, message: PeerMsg) -> Result<(), String>;
    /// Sends a text or binary message in frames of the setup's frame size.
    async fn send_fragmented(&mut self, message: PeerMsg) -> Result<(), String>;
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), String>;
}

/// The peer's side of every scenario: see the module's documentation.
pub async fn script(mut conn: impl PeerConn, mut report: PeerReport) -> PeerReport {
    while let Some(item) = conn.next().await {
        let outcome = match item {
            Err(error) => Err(error),
            Ok(PeerMsg::Text(text)) if text.starts_with(COMMAND) => {
                obey(&mut conn, &text[COMMAND.len()..]).await
            }
            Ok(message @ (PeerMsg::Text(_) | PeerMsg::Binary(_))) => conn.send(message).await,
            // The library answers Pings itself.
            Ok(PeerMsg::Ping(_)) => Ok(()),
            Ok(PeerMsg::Pong(payload)) => {
                let payload = String::from_utf8_lossy(&payload);
                conn.send(PeerMsg::Text(format!("{PONG}{payload}"))).await
            }
            // The library answers a Close itself; the stream ends after it.
            Ok(PeerMsg::Close(frame)) => {
                report.close = Some(frame);
                Ok(())
            }
        };
        if let Err(error) = outcome {
            report.error = Some(error);
            break;
        }
    }
    report
}

async fn obey(conn: &mut impl PeerConn, command: &str) -> Result<(), String> {
    let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
    let (first, second) = rest.split_once(' ').unwrap_or((rest, ""));
    match verb {
        "fragment" => {
            let len: usize = second.parse().map_err(|_| format!("bad length {second}"))?;
            let message = match first {
                "text" => PeerMsg::Text(sample_text(len)),
                _ => PeerMsg::Binary(sample_binary(len)),
            };
            conn.send_fragmented(message).await
        }
        "ping" => conn.send(PeerMsg::Ping(rest.to_owned().into())).await,
        "close" => {
            let code = first.parse().map_err(|_| format!("bad code {first}"))?;
            conn.close(code, second).await
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

/// What a peer client does once connected.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// Runs [`script`]: our side drives.
    Obey,
    /// Sends text and binary of each size, checks each echo, then closes
    /// with 1000 "done" ([`send_sizes`]): for a plain echo server.
    SendSizes(&'static [usize]),
}

/// The peer as a client of `url`, following `plan`.
pub async fn client(kind: PeerKind, url: String, setup: PeerSetup, plan: Plan) -> PeerReport {
    let connected = async {
        let address = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or("");
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok::<_, String>(stream)
    };
    let stream = match connected.await {
        Ok(stream) => stream,
        Err(error) => return failed(error),
    };
    match kind {
        PeerKind::Tungstenite => {
            use tokio_tungstenite::client_async;
            match client_async(url.as_str(), stream).await {
                Ok((ws, response)) => {
                    let extensions = header(response.headers(), "sec-websocket-extensions");
                    let conn = Tungstenite::new(ws, setup);
                    follow(plan, conn, reported(extensions)).await
                }
                Err(error) => failed(error.to_string()),
            }
        }
        PeerKind::TokioWebsockets => {
            let builder = match tokio_websockets::ClientBuilder::new().uri(&url) {
                Ok(builder) => builder.config(websockets_config(setup)),
                Err(error) => return failed(error.to_string()),
            };
            match builder.connect_on(stream).await {
                Ok((ws, response)) => {
                    let extensions = header(response.headers(), "sec-websocket-extensions");
                    follow(plan, TokioWebsockets { ws }, reported(extensions)).await
                }
                Err(error) => failed(error.to_string()),
            }
        }
    }
}

async fn follow(plan: Plan, conn: impl PeerConn, report: PeerReport) -> PeerReport {
    match plan {
        Plan::Obey => script(conn, report).await,
        Plan::SendSizes(sizes) => send_sizes(conn, report, sizes).await,
    }
}

/// The peer drives: each size as text and as binary, each echo checked;
/// then the closing handshake, reading to the end.
pub async fn send_sizes(
    mut conn: impl PeerConn,
    mut report: PeerReport,
    sizes: &[usize],
) -> PeerReport {
    let mut outcome = async {
        for &size in sizes {
            for message in [
                PeerMsg::Text(sample_text(size)),
                PeerMsg::Binary(sample_binary(size)),
            ] {
                conn.send(message.clone()).await?;
                match conn.next().await {
                    Some(Ok(echo)) if echo == message => {}
                    Some(Ok(_)) => return Err(format!("a wrong echo of {size} bytes")),
                    Some(Err(error)) => return Err(error),
                    None => return Err(format!("the end instead of an echo of {size} bytes")),
                }
            }
        }
        conn.close(1000, "done").await
    }
    .await;
    while outcome.is_ok() {
        match conn.next().await {
            None => break,
            Some(Ok(PeerMsg::Close(frame))) => report.close = Some(frame),
            Some(Ok(other)) => outcome = Err(format!("after our Close: {other:?}")),
            Some(Err(error)) => outcome = Err(error),
        }
    }
    report.error = outcome.err();
    report
}

/// The peer as a server of one connection on `listener`, running the script.
pub async fn server(kind: PeerKind, listener: TcpListener, setup: PeerSetup) -> PeerReport {
    let stream = match listener.accept().await {
        Ok((stream, _)) => stream,
        Err(error) => return failed(error.to_string()),
    };
    let _ = stream.set_nodelay(true);
    match kind {
        PeerKind::Tungstenite => {
            use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
            let seen = Arc::new(Mutex::new(None));
            let offer = seen.clone();
            // tungstenite's `Callback` fixes the (large) error type.
            #[allow(clippy::result_large_err)]
            let callback = move |request: &Request, response: Response| {
                let extensions = header(request.headers(), "sec-websocket-extensions");
                *offer.lock().unwrap() = extensions;
                Ok(response)
            };
            match tokio_tungstenite::accept_hdr_async(stream, callback).await {
                Ok(ws) => {
                    let extensions = seen.lock().unwrap().take();
                    script(Tungstenite::new(ws, setup), reported(extensions)).await
                }
                Err(error) => failed(error.to_string()),
            }
        }
        PeerKind::TokioWebsockets => {
            let builder = tokio_websockets::ServerBuilder::new().config(websockets_config(setup));
            match builder.accept(stream).await {
                Ok((request, ws)) => {
                    let extensions = header(request.headers(), "sec-websocket-extensions");
                    script(TokioWebsockets { ws }, reported(extensions)).await
                }
                Err(error) => failed(error.to_string()),
            }
        }
    }
}

fn header(headers: &tokio_tungstenite::tungstenite::http::HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn reported(extensions: Option<String>) -> PeerReport {
    PeerReport {
        extensions,
        ..PeerReport::default()
    }
}

fn failed(error: String) -> PeerReport {
    PeerReport {
        error: Some(error),
        ..PeerReport::default()
    }
}

fn websockets_config(setup: PeerSetup) -> tokio_websockets::Config {
    tokio_websockets::Config::default().frame_size(setup.frame_size)
}

/// tokio-tungstenite's stream; fragments only when told to, as raw frames.
struct Tungstenite {
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    frame_size: usize,
}

impl Tungstenite {
    fn new(ws: tokio_tungstenite::WebSocketStream<TcpStream>, setup: PeerSetup) -> Self {
        Tungstenite {
            ws,
            frame_size: setup.frame_size,
        }
    }
}

impl PeerConn for Tungstenite {
    async fn next(&mut self) -> Option<Result<PeerMsg, String>> {
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = match self.ws.next().await? {
                Ok(message) => message,
                Err(error) => return Some(Err(error.to_string())),
            };
            return Some(Ok(match message {
                Message::Text(text) => PeerMsg::Text(text.as_str().to_owned()),
                Message::Binary(data) => PeerMsg::Binary(data),
                Message::Ping(data) => PeerMsg::Ping(data),
                Message::Pong(data) => PeerMsg::Pong(data),
                Message::Close(frame) => PeerMsg::Close(
                    frame.map(|frame| (frame.code.into(), frame.reason.as_str().to_owned())),
                ),
                // Raw frames come only from a reader that asks for them.
                Message::Frame(_) => continue,
            }));
        }
    }

    async fn send(&mut self, message: PeerMsg) -> Result<(), String> {
        use tokio_tungstenite::tungstenite::Message;
        let message = match message {
            PeerMsg::Text(text) => Message::text(text),
            PeerMsg::Binary(data) => Message::Binary(data),
            PeerMsg::Ping(data) => Message::Ping(data),
            PeerMsg::Pong(data) => Message::Pong(data),
            PeerMsg::Close(_) => return Err("send a Close with `close`".into()),
        };
        self.ws.send(message).await.map_err(|e| e.to_string())
    }

    async fn send_fragmented(&mut self, message: PeerMsg) -> Result<(), String> {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::Message;
        let (kind, payload) = match message {
            PeerMsg::Text(text) => (Data::Text, Bytes::from(text)),
            PeerMsg::Binary(data) => (Data::Binary, data),
            other => return Err(format!("cannot fragment {other:?}")),
        };
        let mut start = 0;
        loop {
            let end = payload.len().min(start + self.frame_size);
            let opcode = OpCode::Data(if start == 0 { kind } else { Data::Continue });
            let last = end == payload.len();
            let frame = Frame::message(payload.slice(start..end), opcode, last);
            self.ws
                .feed(Message::Frame(frame))
                .await
                .map_err(|e| e.to_string())?;
            if last {
                break;
            }
            start = end;
        }
        self.ws.flush().await.map_err(|e| e.to_string())
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), String> {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        };
        self.ws.close(Some(frame)).await.map_err(|e| e.to_string())
    }
}

/// tokio-websockets' stream; splits every message longer than its
/// configured frame size.
struct TokioWebsockets {
    ws: tokio_websockets::WebSocketStream<TcpStream>,
}

impl PeerConn for TokioWebsockets {
    async fn next(&mut self) -> Option<Result<PeerMsg, String>> {
        let message = match self.ws.next().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(error.to_string())),
        };
        Some(Ok(if let Some(text) = message.as_text() {
            PeerMsg::Text(text.to_owned())
        } else if message.is_close() {
            // `as_close` reports a Close without a code as 1005.
            let code = (!message.as_payload().is_empty())
                .then(|| message.as_close())
                .flatten();
            PeerMsg::Close(code.map(|(code, reason)| (code.into(), reason.to_owned())))
        } else {
            let ping = message.is_ping();
            let pong = message.is_pong();
            let data = Bytes::from(message.into_payload());
            match (ping, pong) {
                (true, _) => PeerMsg::Ping(data),
                (_, true) => PeerMsg::Pong(data),
                _ => PeerMsg::Binary(data),
            }
        }))
    }

    async fn send(&mut self, message: PeerMsg) -> Result<(), String> {
        use tokio_websockets::Message;
        let message = match message {
            PeerMsg::Text(text) => Message::text(text),
            PeerMsg::Binary(data) => Message::binary(data),
            PeerMsg::Ping(data) => Message::ping(data),
            PeerMsg::Pong(data) => Message::pong(data),
            PeerMsg::Close(_) => return Err("send a Close with `close`".into()),
        };
        self.ws.send(message).await.map_err(|e| e.to_string())
    }

    async fn send_fragmented(&mut self, message: PeerMsg) -> Result<(), String> {
        // The library splits it at the configured frame size.
        self.send(message).await
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), String> {
        use tokio_websockets::{CloseCode, Message};
        let code = CloseCode::try_from(code).map_err(|e| e.to_string())?;
        let close = Message::close(Some(code), reason);
        self.ws.send(close).await.map_err(|e| e.to_string())
    }
}
