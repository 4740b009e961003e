//! The good clients: wsmachine's tokio client over a TCP connection opened
//! here (from one of the loopback source addresses), exchanging checked
//! messages ([`crate::wire`]) and accounting for every echo.

use crate::ledger::{Latencies, Ledger};
use crate::wire;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use wsmachine::tokio::{connect_on, WebSocket};
use wsmachine::{ClientRequest, CloseCode, Config, Message, WsError};

pub type Ws = WebSocket<TcpStream>;

/// Where the clients go, and from where.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: &'static str,
    /// Source addresses 127.0.0.1 to 127.0.0.`sources`, in turn: each has
    /// its own ~28,000 ephemeral ports. With 1, the kernel picks (and may
    /// reuse loopback ports in TIME_WAIT).
    pub sources: u8,
    /// Offer permessage-deflate (the servers accept it).
    pub deflate: bool,
}

impl Target {
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, self.path)
    }

    /// A TCP connection for client number `index`.
    pub async fn tcp(&self, index: usize) -> io::Result<TcpStream> {
        self.tcp_tuned(index, |_| Ok(())).await
    }

    /// [`tcp`](Self::tcp), with socket options set before connecting.
    pub async fn tcp_tuned(
        &self,
        index: usize,
        tune: impl FnOnce(&TcpSocket) -> io::Result<()>,
    ) -> io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        if self.sources > 1 {
            let last = 1 + (index % usize::from(self.sources)) as u8;
            socket.bind(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), 0).into())?;
        }
        tune(&socket)?;
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// The client's settings: no keepalive Pings of its own (the server's are
/// answered), limits as default, permessage-deflate offered or not.
pub fn client_config(deflate: bool) -> Config {
    let mut config = Config::default().with_ping_interval(None);
    if !deflate {
        config.deflate = None;
    }
    config
}

/// How an attempt to connect ended.
#[derive(Debug)]
pub enum Outcome {
    Open(Box<Ws>),
    /// The server answered the upgrade with this status.
    Refused(u16),
    /// Connecting or the handshake failed (reset, closed, refused by TCP).
    Failed(String),
    /// No answer within the limit.
    TimedOut,
}

/// Connects client `index` and runs the handshake, all within `limit`.
pub async fn connect(target: &Target, index: usize, limit: Duration) -> Outcome {
    connect_from(target, index, limit, None).await
}

/// [`connect`] as a browser page from `origin` would (its `Origin` header).
pub async fn connect_from(
    target: &Target,
    index: usize,
    limit: Duration,
    origin: Option<&str>,
) -> Outcome {
    let attempt = async {
        let tcp = target.tcp(index).await?;
        let mut request = ClientRequest::from_url(&target.url()).map_err(WsError::InvalidUrl)?;
        if let Some(origin) = origin {
            request = request.origin(origin);
        }
        connect_on(tcp, request, client_config(target.deflate)).await
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok((ws, _))) => Outcome::Open(Box::new(ws)),
        Ok(Err(WsError::Rejected(response))) => Outcome::Refused(response.status()),
        Ok(Err(WsError::Timeout)) | Err(_) => Outcome::TimedOut,
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
    }
}

/// A good client's whole life: its account, its latencies, and what went
/// wrong, if anything.
pub struct Session {
    pub ledger: Ledger,
    pub latencies: Latencies,
    pub failure: Option<String>,
}

/// Connects client `index`, runs `plan`, then closes with the closing
/// handshake.
pub async fn session(target: &Target, index: usize, plan: Exchange<'_>) -> Session {
    let mut session = Session {
        ledger: Ledger::new(index as u32),
        latencies: Latencies::default(),
        failure: None,
    };
    let mut ws = match connect(target, index, Duration::from_secs(20)).await {
        Outcome::Open(ws) => ws,
        Outcome::Refused(status) => {
            session.failure = Some(format!("refused {status}"));
            return session;
        }
        Outcome::Failed(why) => {
            session.failure = Some(why);
            return session;
        }
        Outcome::TimedOut => {
            session.failure = Some("timed out".into());
            return session;
        }
    };
    let exchanged = exchange(&mut ws, &mut session.ledger, &mut session.latencies, plan).await;
    session.failure = exchanged.err().map(|e| e.to_string());
    let closing = ws.close(CloseCode::NORMAL, "done");
    match tokio::time::timeout(Duration::from_secs(20), closing).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => session.failure = session.failure.or(Some(format!("close: {e}"))),
        Err(_) => session.failure = session.failure.or(Some("close timed out".into())),
    }
    session
}

/// Waits for every session in `set`; their sums, latencies and failures.
pub async fn gather(
    mut set: tokio::task::JoinSet<Session>,
) -> (crate::ledger::Totals, Latencies, Vec<String>) {
    let mut totals = crate::ledger::Totals::default();
    let (mut latencies, mut failures) = (Latencies::default(), Vec::new());
    while let Some(done) = set.join_next().await {
        let session = done.expect("client task panicked");
        totals.add_ledger(&session.ledger);
        latencies.extend(session.latencies);
        failures.extend(session.failure);
    }
    (totals, latencies, failures)
}

/// How many and how large the messages of an exchange are.
pub struct Exchange<'a> {
    /// Messages to send; `None`: until `stop` turns true.
    pub count: Option<u64>,
    /// Most messages sent and not yet echoed.
    pub window: u64,
    /// Filler bytes of each message.
    pub size: &'a mut (dyn FnMut() -> usize + Send),
    pub stop: Option<&'a AtomicBool>,
    /// Longest wait for any echo before the rest count as lost.
    pub patience: Duration,
}

/// Sends checked messages and accounts for their echoes, until `count` are
/// sent (or `stop`) and every echo is back. An error (or running out of
/// patience) leaves what was in flight counted as lost.
pub async fn exchange(
    ws: &mut Ws,
    ledger: &mut Ledger,
    latencies: &mut Latencies,
    plan: Exchange<'_>,
) -> Result<(), WsError> {
    let mut left = plan.count.unwrap_or(u64::MAX);
    let stopped = || plan.stop.is_some_and(|stop| stop.load(Ordering::Relaxed));
    loop {
        while left > 0 && !stopped() && ledger.in_flight() < plan.window {
            let seq = ledger.next_seq();
            let filler = (plan.size)();
            ws.feed(Message::binary(wire::encode(ledger.id(), seq, filler)))
                .await?;
            left -= 1;
        }
        if ledger.in_flight() == 0 {
            return Ok(());
        }
        // `recv` writes what was fed, then waits for the next echo.
        let message = tokio::time::timeout(plan.patience, ws.recv())
            .await
            .map_err(|_| WsError::Timeout)?;
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                let stamp = wire::decode(&bytes);
                if let Some(stamp) = stamp {
                    latencies.record(stamp.age);
                }
                ledger.receive(stamp);
            }
            Some(Ok(_)) => ledger.receive(None),
            Some(Err(e)) => return Err(e),
            None => return Err(WsError::Closed),
        }
    }
}

/// A small, fast, seeded generator (xorshift64*): the harness's randomness
/// only needs to vary, and to be reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
