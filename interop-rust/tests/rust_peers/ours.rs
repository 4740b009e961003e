//! Our side: wsmachine's tokio and blocking front-ends in both roles,
//! behind one synchronous interface ([`Ours`]) so that every scenario is
//! written once. The tokio front-end runs on the session's multi-threaded
//! runtime (each call bounded by [`STEP`]); the blocking one on the test's
//! own thread (the whole test is bounded by [`bounded`]).

use crate::peers::{self, PeerKind, PeerReport, PeerSetup, Plan};
use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use wsmachine::{tokio::Reject, WsError};
use wsmachine::{Accept, CloseCode, CloseFrame, Config, Connection, HandshakeRequest, Message};

/// The longest any single step may take.
pub const STEP: Duration = Duration::from_secs(30);

/// Which front-end, in which role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    TokioServer,
    TokioClient,
    BlockingServer,
    BlockingClient,
}

/// A wsmachine WebSocket of either front-end.
pub trait Ours {
    fn send(&mut self, message: Message) -> Result<(), WsError>;
    fn recv(&mut self) -> Option<Result<Message, WsError>>;
    fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError>;
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError>;
    fn close_frame(&self) -> Option<&CloseFrame>;
    fn connection(&self) -> &Connection;
    fn set_receive_control(&mut self, receive: bool);
}

struct TokioOurs<S> {
    ws: wsmachine::tokio::WebSocket<S>,
    rt: Handle,
}

/// Runs `future` on the runtime, failing the test if it takes over [`STEP`].
fn block<F: Future>(rt: &Handle, what: &str, future: F) -> F::Output {
    // The timer is made inside the runtime: it needs its time driver.
    rt.block_on(async { tokio::time::timeout(STEP, future).await })
        .unwrap_or_else(|_| panic!("{what}: nothing within {STEP:?}"))
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Ours for TokioOurs<S> {
    fn send(&mut self, message: Message) -> Result<(), WsError> {
        block(&self.rt, "send", self.ws.send(message))
    }
    fn recv(&mut self) -> Option<Result<Message, WsError>> {
        block(&self.rt, "recv", self.ws.recv())
    }
    fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError> {
        block(&self.rt, "ping", self.ws.ping(payload))
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        block(&self.rt, "close", self.ws.close(code, reason))
    }
    fn close_frame(&self) -> Option<&CloseFrame> {
        self.ws.close_frame()
    }
    fn connection(&self) -> &Connection {
        self.ws.connection()
    }
    fn set_receive_control(&mut self, receive: bool) {
        self.ws.set_receive_control(receive);
    }
}

type Blocking<S> = wsmachine::blocking::WebSocket<S>;

impl<S: wsmachine::blocking::Transport> Ours for Blocking<S> {
    fn send(&mut self, message: Message) -> Result<(), WsError> {
        Blocking::<S>::send(self, message)
    }
    fn recv(&mut self) -> Option<Result<Message, WsError>> {
        Blocking::<S>::recv(self)
    }
    fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError> {
        Blocking::<S>::ping(self, payload)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        Blocking::<S>::close(self, code, reason)
    }
    fn close_frame(&self) -> Option<&CloseFrame> {
        Blocking::<S>::close_frame(self)
    }
    fn connection(&self) -> &Connection {
        Blocking::<S>::connection(self)
    }
    fn set_receive_control(&mut self, receive: bool) {
        Blocking::<S>::set_receive_control(self, receive);
    }
}

/// One connection between our side and a peer running [`peers::script`].
pub struct Session {
    /// Declared first: dropped before the runtime its stream belongs to.
    pub ours: Box<dyn Ours>,
    pub peer: PeerKind,
    /// The extension tokens the peer sent us: its offer (we serve) or its
    /// 101's answer (we connect).
    pub peer_extensions: Vec<String>,
    report: tokio::task::JoinHandle<PeerReport>,
    rt: Runtime,
}

impl Session {
    /// Opens a connection with wsmachine's default [`Config`], which offers
    /// (client) and accepts (server) permessage-deflate.
    pub fn open(peer: PeerKind, side: Side, setup: PeerSetup) -> Session {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let handle = rt.handle().clone();
        let config = Config::default();
        assert!(config.deflate.is_some(), "the default offers compression");
        let mut peer_extensions = Vec::new();
        let (ours, report): (Box<dyn Ours>, _) = match side {
            Side::TokioServer => {
                let listener = block(&handle, "bind", tokio::net::TcpListener::bind(LOCAL));
                let listener = listener.expect("a local port");
                let url = url_of(listener.local_addr());
                let report = handle.spawn(peers::client(peer, url, setup, Plan::Obey));
                let accepted = block(&handle, "our tokio server's handshake", async {
                    let (stream, _) = listener.accept().await?;
                    stream.set_nodelay(true)?;
                    let decide = record_offer(&mut peer_extensions);
                    wsmachine::tokio::accept_with(stream, config, decide).await
                });
                let ws = accepted.expect("our tokio server's handshake");
                (
                    Box::new(TokioOurs {
                        ws,
                        rt: handle.clone(),
                    }),
                    report,
                )
            }
            Side::BlockingServer => {
                let listener = std::net::TcpListener::bind(LOCAL).expect("a local port");
                let url = url_of(listener.local_addr());
                let report = handle.spawn(peers::client(peer, url, setup, Plan::Obey));
                let (stream, _) = listener.accept().expect("the peer's connection");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                let decide = record_offer(&mut peer_extensions);
                let ws = wsmachine::blocking::accept_with(stream, config, decide)
                    .expect("our blocking server's handshake");
                (Box::new(ws), report)
            }
            Side::TokioClient | Side::BlockingClient => {
                let listener = block(&handle, "bind", tokio::net::TcpListener::bind(LOCAL));
                let listener = listener.expect("a local port");
                let url = url_of(listener.local_addr());
                let report = handle.spawn(peers::server(peer, listener, setup));
                let (ours, response): (Box<dyn Ours>, _) = if side == Side::TokioClient {
                    let builder = wsmachine::tokio::ClientBuilder::new(&url)
                        .config(config)
                        .connect_timeout(STEP);
                    let connected =
                        block(&handle, "our tokio client's handshake", builder.connect());
                    let (ws, response) = connected.expect("our tokio client's handshake");
                    (
                        Box::new(TokioOurs {
                            ws,
                            rt: handle.clone(),
                        }),
                        response,
                    )
                } else {
                    let (ws, response) = wsmachine::blocking::ClientBuilder::new(&url)
                        .config(config)
                        .connect_timeout(STEP)
                        .connect()
                        .expect("our blocking client's handshake");
                    (Box::new(ws), response)
                };
                peer_extensions = response.extensions().map(str::to_owned).collect();
                (ours, report)
            }
        };
        Session {
            ours,
            peer,
            peer_extensions,
            report,
            rt,
        }
    }

    /// Waits for the peer's script to end (the connection must be over for
    /// the peer: closed by both sides, with our side's TCP closed or shut
    /// down) and returns what it saw.
    pub fn peer_report(self) -> PeerReport {
        let Session {
            ours, report, rt, ..
        } = self;
        let report = block(rt.handle(), "the peer's end", report).expect("the peer's task");
        drop(ours);
        rt.shutdown_timeout(STEP);
        report
    }
}

const LOCAL: &str = "127.0.0.1:0";

fn url_of(address: std::io::Result<std::net::SocketAddr>) -> String {
    format!("ws://{}/interop", address.expect("a local address"))
}

/// Accepts the upgrade, noting the extensions the peer offered.
fn record_offer(
    offered: &mut Vec<String>,
) -> impl FnOnce(&HandshakeRequest) -> Result<Accept, Reject> + '_ {
    move |request| {
        *offered = request.extensions().map(str::to_owned).collect();
        Ok(Accept::new())
    }
}

/// Runs `test` on a thread of its own and fails if it has not finished
/// within `limit` (a blocking call that never returns cannot hang the suite).
pub fn bounded(limit: Duration, test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test took over {limit:?}"),
    }
}
