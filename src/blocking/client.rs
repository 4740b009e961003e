//! Connecting from a blocking thread.

use super::engine::Engine;
use super::socket::WebSocket;
use super::stream::MaybeTlsStream;
use super::Transport;
use crate::frontend::{client_builder_setters, ClientOptions, Route};
use crate::message::OwnedEvent;
use crate::proxy::{Tunnel, TunnelStatus};
use crate::ws_error::WsError;
use crate::{ClientRequest, Config, Connection, HandshakeResponse};
use std::io;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

/// Connects to a `ws://` or `wss://` URL (through the proxy the
/// environment names, if any) with the default [`Config`] and runs the
/// opening handshake; returns the socket and the server's 101 response.
///
/// ```no_run
/// let (mut ws, _) = wsmachine::blocking::connect("ws://127.0.0.1:9001/")?;
/// ws.send("hello")?;
/// # Ok::<(), wsmachine::WsError>(())
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), WsError> {
    ClientBuilder::new(url).connect()
}

/// Runs the client's opening handshake over a stream the caller opened.
pub fn connect_on<S: Transport>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
    handshake(stream, request, config, &[])
}

/// A client connection with options: headers, subprotocols, Origin, the
/// [`Config`] and timeouts.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    options: ClientOptions,
}

impl ClientBuilder {
    /// A client for `url` (`ws://host[:port]/path?query`).
    pub fn new(url: &str) -> Self {
        ClientBuilder {
            options: ClientOptions::new(url),
        }
    }

    client_builder_setters!();

    /// Connects (over TCP; through the proxy; then TLS for `wss://`) and
    /// runs the handshake. The connect timeout bounds each step up to the
    /// WebSocket handshake, which the handshake timeout bounds.
    pub fn connect(self) -> Result<(WebSocket<MaybeTlsStream>, HandshakeResponse), WsError> {
        let mut options = self.options;
        let route = options.route()?;
        let (stream, leftover) = open(&route, &options)?;
        handshake(stream, route.request, options.config, &leftover)
    }

    /// Runs the handshake over a stream the caller opened.
    pub fn connect_on<S: Transport>(
        self,
        stream: S,
    ) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
        handshake(stream, self.options.request?, self.options.config, &[])
    }
}

/// Tries each address the name resolves to, each within `limit`.
fn tcp_connect(address: &str, limit: Option<std::time::Duration>) -> Result<TcpStream, WsError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolves to no address");
    for addr in address.to_socket_addrs()? {
        let attempt = match limit {
            Some(limit) => TcpStream::connect_timeout(&addr, limit),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = e,
            Err(e) => last = e,
        }
    }
    Err(match last.kind() {
        io::ErrorKind::TimedOut => WsError::Timeout,
        _ => WsError::Io(last),
    })
}

/// TCP to the proxy or the target, the proxy's tunnel, TLS for `wss://`,
/// each within the connect timeout. Returns the stream and any bytes the
/// tunnel read past its answer.
fn open(route: &Route, options: &ClientOptions) -> Result<(MaybeTlsStream, Vec<u8>), WsError> {
    let limit = options.connect_timeout;
    let mut tcp = tcp_connect(&route.address, limit)?;
    tcp.set_nodelay(true)?;
    let mut leftover = Vec::new();
    if let Some(proxy) = &route.proxy {
        let request = &route.request;
        let mut tunnel = Tunnel::new(proxy, request.hostname(), request.port());
        let mut buf = [0u8; 4096];
        let step = Step::start(limit);
        loop {
            let out = tunnel.pending_output().to_vec();
            step.bound(&tcp)?;
            tcp.write_all(&out).map_err(timed_out)?;
            tunnel.consume_output(out.len());
            step.bound(&tcp)?;
            let n = tcp.read(&mut buf).map_err(timed_out)?;
            if n == 0 {
                return Err(WsError::Proxy(crate::proxy::ProxyError::Malformed));
            }
            if tunnel.receive(&buf[..n])? == TunnelStatus::Open {
                leftover.extend_from_slice(tunnel.leftover());
                break;
            }
        }
    }
    let stream = if route.request.is_secure() {
        tls_connect(tcp, route, options, &leftover)?
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    stream.tcp().set_write_timeout(None)?;
    // The handshake that follows has its own deadline.
    stream.tcp().set_read_timeout(limit)?;
    Ok((stream, leftover))
}

/// One step of opening a connection (the proxy's tunnel, TLS), bounded as
/// a whole by the connect timeout, not read by read: a peer that dribbles
/// a byte now and then runs out of time too.
struct Step(Option<std::time::Instant>);

impl Step {
    fn start(limit: Option<std::time::Duration>) -> Step {
        Step(limit.map(|limit| std::time::Instant::now() + limit))
    }

    /// Sets the socket's timeouts to the time left, or gives `Timeout`.
    fn bound(&self, tcp: &TcpStream) -> Result<(), WsError> {
        let Some(deadline) = self.0 else {
            tcp.set_read_timeout(None)?;
            tcp.set_write_timeout(None)?;
            return Ok(());
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(WsError::Timeout);
        }
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        Ok(())
    }
}

/// A read or write that ran into the connect timeout.
fn timed_out(error: io::Error) -> WsError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WsError::Timeout,
        _ => WsError::Io(error),
    }
}

#[cfg(feature = "rustls")]
fn tls_connect(
    tcp: TcpStream,
    route: &Route,
    options: &ClientOptions,
    leftover: &[u8],
) -> Result<MaybeTlsStream, WsError> {
    if !leftover.is_empty() {
        // A TLS server speaks only after the client: these bytes are not TLS.
        return Err(WsError::Proxy(crate::proxy::ProxyError::Malformed));
    }
    let config = options
        .tls
        .clone()
        .unwrap_or_else(crate::tls::default_client_config);
    let name = crate::tls::server_name(route.request.hostname())?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| WsError::Tls(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let step = Step::start(options.connect_timeout);
    while stream.conn.is_handshaking() {
        step.bound(&stream.sock)?;
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WsError::Timeout,
                _ => WsError::Tls(e),
            })?;
    }
    Ok(MaybeTlsStream::Rustls(Box::new(stream)))
}

#[cfg(not(feature = "rustls"))]
fn tls_connect(
    _: TcpStream,
    _: &Route,
    _: &ClientOptions,
    _: &[u8],
) -> Result<MaybeTlsStream, WsError> {
    Err(WsError::TlsUnavailable)
}

fn handshake<S: Transport>(
    stream: S,
    request: ClientRequest,
    config: Config,
    leftover: &[u8],
) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
    let mut conn = Connection::client(request, config)?;
    conn.receive(leftover);
    let mut engine = Engine::new(conn, stream);
    loop {
        match engine.next_event() {
            Some(OwnedEvent::Connected(response)) => {
                return Ok((WebSocket::from_engine(engine), response))
            }
            Some(OwnedEvent::HandshakeRejected(response)) => {
                return Err(WsError::Rejected(Box::new(response)))
            }
            // Nothing to wait for: the server is not told why.
            Some(OwnedEvent::Failed(error)) => {
                return Err(engine.take_failure().unwrap_or(WsError::Protocol(error)))
            }
            Some(_) => {}
            None => return Err(engine.take_failure().unwrap_or(WsError::Closed)),
        }
    }
}
