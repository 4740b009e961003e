//! Connecting from a blocking thread.

use super::engine::Engine;
use super::socket::WebSocket;
use super::Transport;
use crate::frontend::{client_builder_setters, ClientOptions};
use crate::message::OwnedEvent;
use crate::ws_error::WsError;
use crate::{ClientRequest, Config, Connection, HandshakeResponse};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};

/// Connects to a `ws://` URL with the default [`Config`] and runs the
/// opening handshake; returns the socket and the server's 101 response.
///
/// ```no_run
/// let (mut ws, _) = wsmachine::blocking::connect("ws://127.0.0.1:9001/")?;
/// ws.send("hello")?;
/// # Ok::<(), wsmachine::WsError>(())
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<TcpStream>, HandshakeResponse), WsError> {
    ClientBuilder::new(url).connect()
}

/// Runs the client's opening handshake over a stream the caller opened.
pub fn connect_on<S: Transport>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
    handshake(stream, request, config)
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

    /// Connects over TCP and runs the handshake.
    pub fn connect(self) -> Result<(WebSocket<TcpStream>, HandshakeResponse), WsError> {
        let ClientOptions {
            request,
            config,
            connect_timeout,
        } = self.options;
        let request = request?;
        if request.is_secure() {
            return Err(WsError::TlsUnavailable);
        }
        let stream = tcp_connect(&request.address(), connect_timeout)?;
        stream.set_nodelay(true)?;
        handshake(stream, request, config)
    }

    /// Runs the handshake over a stream the caller opened.
    pub fn connect_on<S: Transport>(
        self,
        stream: S,
    ) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
        handshake(stream, self.options.request?, self.options.config)
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

fn handshake<S: Transport>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, HandshakeResponse), WsError> {
    let mut engine = Engine::new(Connection::client(request, config)?, stream);
    loop {
        match engine.next_event() {
            Some(OwnedEvent::Connected(response)) => {
                return Ok((WebSocket::from_engine(engine), response))
            }
            Some(OwnedEvent::HandshakeRejected(response)) => {
                return Err(WsError::Rejected(Box::new(response)))
            }
            Some(_) => {}
            None => return Err(engine.take_failure().unwrap_or(WsError::Closed)),
        }
    }
}
