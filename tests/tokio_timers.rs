//! The tokio front-end's deadlines on a paused clock (tokio's test clock:
//! time moves only when every task waits, straight to the next timer), so
//! the times asserted are exact and take no real time.
//!
//! The front-end lets its timer fire early when the keepalive deadline has
//! moved later (every message moves it) and sets it again then; these tests
//! pin down that nothing goes out early and nothing comes late.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{sleep, Instant};
use wsmachine::tokio::WebSocket;
use wsmachine::{Config, Connection, Event, Role};

const INTERVAL: Duration = Duration::from_secs(10);

/// A server `WebSocket` over one end of an in-memory pipe, echoing until
/// the connection ends; the other end for the test to drive.
fn echo_server(config: Config) -> DuplexStream {
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let conn = Connection::upgraded(Role::Server, config).unwrap();
        let mut ws = WebSocket::from_connection(server_io, conn);
        while let Some(Ok(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    });
    client_io
}

/// The client machine, with no keepalive of its own.
fn client() -> Connection {
    let config = Config::default().with_ping_interval(None);
    Connection::upgraded(Role::Client, config).unwrap()
}

async fn write_out(conn: &mut Connection, io: &mut DuplexStream) {
    let out = conn.pending_output().to_vec();
    io.write_all(&out).await.unwrap();
    conn.consume_output(out.len());
}

/// What the client saw next: a text, or a Ping (answered).
#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Ping,
    Closed,
}

async fn next_seen(conn: &mut Connection, io: &mut DuplexStream) -> Seen {
    let mut buf = [0u8; 4096];
    loop {
        let seen = match conn.next_event() {
            Some(Event::Text(text)) => Some(Seen::Text(text.to_owned())),
            Some(Event::Ping(_)) => Some(Seen::Ping),
            Some(Event::Close { .. }) | Some(Event::Failed(_)) => Some(Seen::Closed),
            Some(other) => panic!("unexpected {other:?}"),
            None => None,
        };
        if let Some(seen) = seen {
            // The automatic Pong goes out before anything else.
            write_out(conn, io).await;
            return seen;
        }
        // On the paused clock a deadline never met would hang: a bound.
        let read = tokio::time::timeout(Duration::from_secs(600), io.read(&mut buf));
        let n = read.await.expect("nothing within 600 s").unwrap();
        if n == 0 {
            return Seen::Closed;
        }
        conn.receive(&buf[..n]);
    }
}

/// Sends `count` texts, `gap` apart, each echoed before the next.
async fn echo_every(conn: &mut Connection, io: &mut DuplexStream, count: usize, gap: Duration) {
    for i in 0..count {
        sleep(gap).await;
        conn.send_text(&i.to_string()).unwrap();
        write_out(conn, io).await;
        assert_eq!(next_seen(conn, io).await, Seen::Text(i.to_string()));
    }
}

#[tokio::test(start_paused = true)]
async fn the_keepalive_ping_comes_one_interval_after_the_last_message_not_before() {
    let mut io = echo_server(Config::default().with_ping_interval(Some(INTERVAL)));
    let mut conn = client();
    // Messages 3 s apart move the deadline again and again: the timer set
    // for the first one fires early, more than once, and sends nothing.
    echo_every(&mut conn, &mut io, 8, Duration::from_secs(3)).await;
    let last = Instant::now();
    assert_eq!(next_seen(&mut conn, &mut io).await, Seen::Ping);
    assert_eq!(last.elapsed(), INTERVAL);
    // Answered: the next one comes a whole interval later.
    let answered = Instant::now();
    assert_eq!(next_seen(&mut conn, &mut io).await, Seen::Ping);
    assert_eq!(answered.elapsed(), INTERVAL);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_ping_fails_the_connection_at_the_pong_timeout() {
    let pong_timeout = Duration::from_secs(4);
    let config = Config::default()
        .with_ping_interval(Some(INTERVAL))
        .with_pong_timeout(pong_timeout);
    let mut io = echo_server(config);
    let mut conn = client();
    conn.send_text("hello").unwrap();
    write_out(&mut conn, &mut io).await;
    let start = Instant::now();
    assert_eq!(
        next_seen(&mut conn, &mut io).await,
        Seen::Text("hello".into())
    );
    // Read the Ping without answering it.
    let mut buf = [0u8; 64];
    let n = io.read(&mut buf).await.unwrap();
    assert_eq!(buf[0], 0x89, "a Ping");
    assert_eq!(start.elapsed(), INTERVAL);
    // Then the Close (1011) at the pong timeout.
    let n2 = io.read(&mut buf[n..]).await.unwrap();
    assert_eq!(buf[n], 0x88, "a Close");
    assert_eq!(&buf[n + 2..n + 4], &1011u16.to_be_bytes());
    assert!(n2 >= 4);
    assert_eq!(start.elapsed(), INTERVAL + pong_timeout);
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_closes_one_period_after_the_last_message() {
    let idle = Duration::from_secs(35);
    let config = Config::default()
        .with_ping_interval(None)
        .with_idle_timeout(Some(idle));
    let mut io = echo_server(config);
    let mut conn = client();
    echo_every(&mut conn, &mut io, 3, Duration::from_secs(20)).await;
    let last = Instant::now();
    assert_eq!(next_seen(&mut conn, &mut io).await, Seen::Closed);
    assert_eq!(last.elapsed(), idle);
}
