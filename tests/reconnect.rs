//! `wsmachine::tokio::reconnecting` against servers that misbehave on
//! purpose, hermetic and in real time with millisecond delays (tokio's
//! paused clock jumps ahead whenever the runtime waits for real sockets, so
//! it would fire the handshake and keepalive deadlines early): drops after
//! a few messages, 503s, a 403 at the end; a peer that stops answering
//! Pings; proxies and TLS that refuse.
//!
//! The client resends what the server has not acknowledged after each
//! reconnect, so everything it was told was delivered is in the server's
//! log, and everything it sent ends up there.

mod tlskit;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};
use wsmachine::proxy::ProxyError;
use wsmachine::tokio::{ClientBuilder, ReconnectPolicy, Reconnecting, Reject};
use wsmachine::{CloseCode, Config, Error, WsError};

/// What the server does with its n-th connection.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Answer the upgrade with this status.
    Status(u16),
    /// Acknowledge this many messages, then drop TCP without a Close.
    AckThenDrop(usize),
    /// Acknowledge everything; once no message came for this long, close
    /// with 1001.
    AckUntilQuiet(Duration),
    /// Accept, then neither read nor answer anything for this long.
    Mute(Duration),
}

/// The server's record: when each connection arrived and which message
/// ids it acknowledged, in order (resent ones may appear twice).
#[derive(Default)]
struct Log {
    accepted: Vec<Instant>,
    delivered: Vec<u32>,
}

/// Serves `script`, one step a connection, on the current runtime; past
/// the script's end every connection is refused with 410.
async fn spawn_server(script: Vec<Step>) -> (String, Arc<Mutex<Log>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/feed", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let server_log = log.clone();
    tokio::spawn(async move {
        let mut steps = script.into_iter();
        while let Ok((tcp, _)) = listener.accept().await {
            server_log.lock().unwrap().accepted.push(Instant::now());
            let step = steps.next().unwrap_or(Step::Status(410));
            tokio::spawn(serve(tcp, step, server_log.clone()));
        }
    });
    (url, log)
}

async fn serve(tcp: tokio::net::TcpStream, step: Step, log: Arc<Mutex<Log>>) {
    let config = Config::default().with_deflate(None);
    let (ack_limit, quiet) = match step {
        Step::Status(status) => {
            let reject = |_: &_| Err(Reject::new(status, "scripted refusal"));
            let _ = wsmachine::tokio::accept_with(tcp, config, reject).await;
            return;
        }
        Step::Mute(length) => {
            let ws = wsmachine::tokio::accept(tcp, config).await;
            tokio::time::sleep(length).await;
            drop(ws);
            return;
        }
        Step::AckThenDrop(n) => (n, Duration::from_secs(30)),
        Step::AckUntilQuiet(quiet) => (usize::MAX, quiet),
    };
    let Ok(mut ws) = wsmachine::tokio::accept(tcp, config).await else {
        return;
    };
    let mut acked = 0;
    while acked < ack_limit {
        let message = match timeout(quiet, ws.recv()).await {
            Ok(Some(Ok(message))) => message,
            Ok(_) => return,
            Err(_) => {
                let _ = ws.close(CloseCode::GOING_AWAY, "restarting").await;
                return;
            }
        };
        let Some(id) = message.as_text().and_then(|t| t.strip_prefix("msg:")) else {
            continue;
        };
        log.lock().unwrap().delivered.push(id.parse().unwrap());
        if ws.send(format!("ack:{id}")).await.is_err() {
            return;
        }
        acked += 1;
    }
    // Dropped here: TCP ends without a Close frame.
}

/// Messages the client sends, and how many may await their ack at once.
const TOTAL: u32 = 30;
const WINDOW: usize = 4;

/// What the client saw.
#[derive(Debug, Default)]
struct Outcome {
    connections: usize,
    acked: BTreeSet<u32>,
    unacked: BTreeSet<u32>,
    sent: u32,
}

/// Sends `TOTAL` numbered messages over whatever connection `connections`
/// hands out, at most `WINDOW` unacknowledged, resending the
/// unacknowledged ones on each new connection; until `next` gives up.
async fn send_everything(connections: &mut Reconnecting) -> Outcome {
    let mut outcome = Outcome::default();
    'connections: while let Some(mut ws) = connections.next().await {
        outcome.connections += 1;
        for id in outcome.unacked.clone() {
            if ws.send(format!("msg:{id}")).await.is_err() {
                continue 'connections;
            }
        }
        loop {
            while outcome.unacked.len() < WINDOW && outcome.sent < TOTAL {
                let id = outcome.sent;
                outcome.unacked.insert(id);
                outcome.sent += 1;
                if ws.send(format!("msg:{id}")).await.is_err() {
                    continue 'connections;
                }
            }
            let received = timeout(Duration::from_secs(5), ws.recv())
                .await
                .expect("the server answers or goes within 5 s");
            let Some(Ok(message)) = received else {
                continue 'connections;
            };
            let id: u32 = message
                .as_text()
                .and_then(|t| t.strip_prefix("ack:"))
                .and_then(|id| id.parse().ok())
                .expect("an ack");
            outcome.unacked.remove(&id);
            outcome.acked.insert(id);
        }
    }
    outcome
}

/// The wait after `last` as the policy computes it: `last` (at least
/// 1 ms) times `factor`, at most `max`.
fn grown(last: Duration, factor: f64, max: Duration) -> Duration {
    last.max(Duration::from_millis(1)).mul_f64(factor).min(max)
}

#[tokio::test]
async fn reconnects_with_backoff_resends_and_stops_at_403() {
    let first_max = Duration::from_millis(50);
    let (factor, max_delay) = (4.0, Duration::from_millis(100));
    let healthy = Duration::from_millis(300);
    let (url, log) = spawn_server(vec![
        Step::AckThenDrop(5),
        Step::Status(503),
        Step::Status(503),
        Step::AckThenDrop(7),
        // Up at least 400 ms: healthy, so the backoff starts afresh.
        Step::AckUntilQuiet(Duration::from_millis(400)),
        Step::Status(403),
    ])
    .await;
    let policy = ReconnectPolicy::default()
        .first_delay_max(first_max)
        .factor(factor)
        .max_delay(max_delay)
        .healthy_after(healthy);
    let mut connections = ClientBuilder::new(&url)
        .config(Config::default().with_deflate(None))
        .reconnecting(policy);
    let outcome = timeout(Duration::from_secs(20), send_everything(&mut connections))
        .await
        .expect("done within 20 s");

    // Stopped at the 403, and says so.
    match connections.last_error() {
        Some(WsError::Rejected(response)) => assert_eq!(response.status(), 403),
        other => panic!("want Rejected(403), got {other:?}"),
    }
    assert!(connections.next().await.is_none(), "stays finished");
    assert_eq!(outcome.connections, 3, "{outcome:?}");

    // Nothing lost: everything acknowledged and sent is in the server's log.
    let log = log.lock().unwrap();
    let delivered: BTreeSet<u32> = log.delivered.iter().copied().collect();
    assert_eq!(outcome.sent, TOTAL);
    assert!(outcome.unacked.is_empty(), "{outcome:?}");
    assert!(outcome.acked.is_subset(&delivered));
    assert_eq!(delivered, (0..TOTAL).collect(), "{:?}", log.delivered);
    assert_eq!(log.accepted.len(), 6);

    // The waits: random up to first_max, then grown by the factor up to
    // max_delay across the 503s and the short-lived connection, then
    // afresh after the healthy one.
    let waits = connections.waits();
    assert_eq!(waits.len(), 5, "{waits:?}");
    assert!(waits[0] <= first_max, "{waits:?}");
    for i in 1..4 {
        assert_eq!(
            waits[i],
            grown(waits[i - 1], factor, max_delay),
            "wait {i} of {waits:?}"
        );
    }
    assert!(
        waits[4] <= first_max,
        "reset after a healthy connection: {waits:?}"
    );
    // And they were waited: each attempt came at least that long after the last.
    for (i, wait) in waits.iter().enumerate() {
        let gap = log.accepted[i + 1] - log.accepted[i];
        assert!(
            gap >= *wait,
            "attempt {} came {gap:?} after, wait {wait:?}",
            i + 1
        );
    }
}

/// Connects, meets a peer that answers nothing (no Pong, no Close), and
/// reconnects: `recv` must fail with KeepaliveTimeout after
/// `ping_interval + pong_timeout` (+ `close_timeout` when the client still
/// offers the peer a Close 1011 and waits for its answer).
async fn keepalive_notices_and_reconnects(abort: bool) {
    let (ping_interval, pong_timeout) = (Duration::from_millis(200), Duration::from_millis(200));
    let close_timeout = Duration::from_millis(300);
    let (url, log) = spawn_server(vec![
        Step::Mute(Duration::from_secs(10)),
        Step::AckUntilQuiet(Duration::from_secs(5)),
    ])
    .await;
    let config = Config::default()
        .with_deflate(None)
        .with_ping_interval(Some(ping_interval))
        .with_pong_timeout(pong_timeout)
        .with_close_timeout(Some(close_timeout))
        .with_abort_on_keepalive_timeout(abort);
    let policy = ReconnectPolicy::default().first_delay_max(Duration::from_millis(10));
    let mut connections = ClientBuilder::new(&url).config(config).reconnecting(policy);

    let mut ws = connections.next().await.expect("first connection");
    let started = Instant::now();
    let ended = timeout(Duration::from_secs(5), ws.recv())
        .await
        .expect("noticed within 5 s");
    let noticed = started.elapsed();
    match &ended {
        Some(Err(WsError::Protocol(Error::KeepaliveTimeout))) => {}
        other => panic!("want KeepaliveTimeout, got {other:?}"),
    }
    let limit = ping_interval + pong_timeout + if abort { Duration::ZERO } else { close_timeout };
    assert!(
        noticed >= limit - Duration::from_millis(20)
            && noticed < limit + Duration::from_millis(300),
        "noticed after {noticed:?}, want about {limit:?} (abort {abort})"
    );
    drop(ws);

    let mut ws = timeout(Duration::from_secs(5), connections.next())
        .await
        .expect("reconnects within 5 s")
        .expect("second connection");
    ws.send("msg:7").await.unwrap();
    let ack = timeout(Duration::from_secs(5), ws.recv()).await.unwrap();
    assert_eq!(ack.unwrap().unwrap().as_text(), Some("ack:7"));
    assert_eq!(log.lock().unwrap().accepted.len(), 2);
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped_and_replaced() {
    keepalive_notices_and_reconnects(true).await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_gets_a_close_timeout_then_replaced() {
    keepalive_notices_and_reconnects(false).await;
}

#[tokio::test]
async fn max_attempts_ends_with_the_last_failure() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let policy = ReconnectPolicy::default()
        .first_delay_max(Duration::from_millis(5))
        .max_attempts(3);
    let mut connections = wsmachine::tokio::reconnecting(&format!("ws://{closed}/"), policy);
    let next = timeout(Duration::from_secs(5), connections.next()).await;
    assert!(matches!(next, Ok(None)), "gave up");
    assert_eq!(connections.waits().len(), 2, "{:?}", connections.waits());
    match connections.last_error() {
        Some(WsError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("want the refused connection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tls_failure_is_final() {
    let identity = tlskit::Identity::self_signed(&["other.example"]);
    let addr = tlskit::spawn_tokio_tls_echo(identity.server_config(), Config::default());
    let policy = ReconnectPolicy::default().first_delay_max(Duration::from_millis(5));
    let mut connections = ClientBuilder::new(&format!("wss://localhost:{}/", addr.port()))
        .no_proxy()
        .tls_config(identity.client_config())
        .reconnecting(policy);
    let next = timeout(Duration::from_secs(5), connections.next()).await;
    assert!(matches!(next, Ok(None)), "gave up at once");
    assert!(connections.waits().is_empty(), "{:?}", connections.waits());
    assert!(
        matches!(connections.last_error(), Some(WsError::Tls(_))),
        "{:?}",
        connections.last_error()
    );
}

/// The policy's documentation: "any other refusal (a 4xx: forbidden, not
/// found, unauthorized) ... is final". A proxy's 407 and a SOCKS5 proxy
/// refusing the credentials are such refusals: retrying cannot succeed.
#[tokio::test]
async fn refused_proxy_credentials_are_final() {
    let refusals: [(&str, &'static [u8], ProxyError); 2] = [
        (
            "http",
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
            ProxyError::HttpStatus(407),
        ),
        ("socks5", &[1, 1], ProxyError::SocksAuthFailed),
    ];
    let mut wrong = Vec::new();
    for (scheme, answer, expected) in refusals {
        let proxy = tlskit::spawn_threads(move |mut tcp| {
            use std::io::{Read, Write};
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf);
            if scheme == "socks5" {
                // Username and password, please; then the verdict on them.
                let _ = tcp.write_all(&[5, 2]);
                let _ = tcp.read(&mut buf);
            }
            let _ = tcp.write_all(answer);
            std::thread::sleep(Duration::from_secs(2));
        });
        let url = format!("{scheme}://user:wrong@{proxy}");
        let policy = ReconnectPolicy::default()
            .first_delay_max(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20));
        let mut connections = ClientBuilder::new("ws://127.0.0.1:9/")
            .proxy(wsmachine::proxy::Proxy::from_url(&url).unwrap())
            .reconnecting(policy);
        let next = timeout(Duration::from_secs(2), connections.next()).await;
        let attempts = connections.waits().len() + 1;
        match (next, connections.last_error()) {
            (Ok(None), Some(WsError::Proxy(error))) if *error == expected => {}
            (next, last) => wrong.push(format!(
                "{scheme}: next() = {}, last_error {last:?}, {attempts} attempts in 2 s",
                match next {
                    Ok(Some(_)) => "a connection",
                    Ok(None) => "None",
                    Err(_) => "still retrying",
                }
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "want None at once with the refusal:\n{}",
        wrong.join("\n")
    );
}
