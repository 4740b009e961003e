//! Deadlines with virtual time: nothing fires early, nothing fires twice,
//! and every deadline ends the connection the way the config says.

use core::time::Duration;
use wsmachine::{CloseCode, Config, Connection, Error, Event, ReadyState, Role, Timestamp};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn quiet() -> Config {
    Config::default()
        .with_handshake_timeout(None)
        .with_ping_interval(None)
        .with_close_timeout(None)
}

fn pair(server_config: Config, client_config: Config) -> (Connection, Connection) {
    let server = Connection::upgraded(Role::Server, server_config).unwrap();
    let client = Connection::upgraded(Role::Client, client_config.with_mask_seed(Some(1))).unwrap();
    (server, client)
}

/// Moves all pending output of `from` into `to`, and returns the bytes.
fn pump(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
    let bytes = from.pending_output().to_vec();
    from.consume_output(bytes.len());
    to.receive(&bytes);
    bytes
}

fn events(conn: &mut Connection) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(event) = conn.next_event() {
        out.push(format!("{event:?}"));
    }
    out
}

#[test]
fn keepalive_ping_goes_out_exactly_after_the_idle_interval() {
    let config = quiet()
        .with_ping_interval(Some(secs(5)))
        .with_pong_timeout(secs(3));
    let (mut server, mut client) = pair(config, quiet());
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(Duration::ZERO)
    );
    server.handle_timeout(Timestamp::from_duration(secs(10)));
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(15))
    );

    // Traffic at t=12 pushes the ping back to t=17.
    client.send_text("hi").unwrap();
    pump(&mut client, &mut server);
    server.handle_timeout(Timestamp::from_duration(secs(12)));
    assert_eq!(events(&mut server), ["Text(\"hi\")"]);
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(17))
    );
    server.handle_timeout(Timestamp::from_duration(secs(17) - ms(1)));
    assert!(server.pending_output().is_empty(), "nothing early");

    server.handle_timeout(Timestamp::from_duration(secs(17)));
    assert_eq!(server.pending_output(), b"\x89\x04\x00\x00\x00\x01");
    server.handle_timeout(Timestamp::from_duration(secs(17)));
    assert_eq!(
        server.pending_output(),
        b"\x89\x04\x00\x00\x00\x01",
        "nothing twice"
    );
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(20)),
        "pong deadline"
    );

    // The client answers; the server is satisfied and re-arms the keepalive.
    pump(&mut server, &mut client);
    assert_eq!(events(&mut client), ["Ping([0, 0, 0, 1])"]);
    pump(&mut client, &mut server);
    server.handle_timeout(Timestamp::from_duration(secs(18)));
    assert_eq!(
        events(&mut server),
        ["Pong { payload: [0, 0, 0, 1], rtt: Some(1s) }"]
    );
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(23))
    );
    server.handle_timeout(Timestamp::from_duration(secs(30)));
    assert_eq!(server.ready_state(), ReadyState::Open);
}

#[test]
fn a_silent_peer_is_dropped_at_the_pong_deadline_with_1011() {
    let config = quiet()
        .with_ping_interval(Some(secs(5)))
        .with_pong_timeout(secs(3));
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    server.handle_timeout(Timestamp::from_duration(secs(5)));
    server.consume_output(6);
    server.handle_timeout(Timestamp::from_duration(secs(8) - ms(1)));
    assert_eq!(server.ready_state(), ReadyState::Open);
    server.handle_timeout(Timestamp::from_duration(secs(8)));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::KeepaliveTimeout))
    );
    assert_eq!(server.next_event(), None);
    assert_eq!(&server.pending_output()[..4], &[0x88, 29, 0x03, 0xF3]);
    assert_eq!(server.ready_state(), ReadyState::Closed);
    assert_eq!(server.poll_timeout().map(Timestamp::since_origin), None);
}

#[test]
fn abort_on_keepalive_timeout_sends_nothing() {
    let config = quiet()
        .with_ping_interval(Some(secs(5)))
        .with_pong_timeout(secs(3))
        .with_abort_on_keepalive_timeout(true);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    server.handle_timeout(Timestamp::from_duration(secs(5)));
    server.consume_output(6);
    server.handle_timeout(Timestamp::from_duration(secs(8)));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::KeepaliveTimeout))
    );
    assert!(server.should_close_transport());
}

#[test]
fn slowloris_handshake_gets_408_at_the_deadline() {
    let config = quiet().with_handshake_timeout(Some(secs(10)));
    let mut server = Connection::server(config);
    server.handle_timeout(Timestamp::from_duration(secs(100)));
    let dribble = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (i, byte) in dribble.iter().enumerate() {
        server.receive(&[*byte]);
        assert_eq!(server.next_event(), None);
        let now = secs(100) + ms(300 * i as u64);
        server.handle_timeout(Timestamp::from_duration(now));
        assert_eq!(
            server.ready_state() == ReadyState::Closed,
            now >= secs(110),
            "at {now:?}"
        );
        if now >= secs(110) {
            break;
        }
    }
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::HandshakeTimeout))
    );
    assert!(server
        .pending_output()
        .starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn unanswered_close_ends_at_the_close_deadline() {
    let config = quiet().with_close_timeout(Some(secs(4)));
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(1)));
    server.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(1)),
        "due at the last time given: asks for the time to arm"
    );
    server.handle_timeout(Timestamp::from_duration(secs(2)));
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(6))
    );
    server.consume_output(4);
    server.handle_timeout(Timestamp::from_duration(secs(6) - ms(1)));
    assert_eq!(server.ready_state(), ReadyState::Closing);
    server.handle_timeout(Timestamp::from_duration(secs(6)));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::CloseTimeout))
    );
    assert!(server.should_close_transport());
}

/// Once our Close is out, only the close deadline runs: an unanswered
/// keepalive Ping and the idle timeout no longer end the connection
/// before the peer's Close can arrive.
#[test]
fn after_our_close_only_the_close_deadline_runs() {
    let config = quiet()
        .with_ping_interval(Some(secs(5)))
        .with_pong_timeout(secs(3))
        .with_idle_timeout(Some(secs(7)))
        .with_close_timeout(Some(secs(30)));
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    // The keepalive Ping at t=5 (its Pong would be due at t=8).
    server.handle_timeout(Timestamp::from_duration(secs(5)));
    assert_eq!(server.pending_output(), b"\x89\x04\x00\x00\x00\x01");
    server.consume_output(6);
    server.close(CloseCode::NORMAL, "").unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(6)));
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(secs(36))
    );
    // Past the Pong (t=8) and idle (t=7) deadlines: still waiting.
    server.handle_timeout(Timestamp::from_duration(secs(20)));
    assert_eq!(server.next_event(), None);
    assert_eq!(server.ready_state(), ReadyState::Closing);
    server.handle_timeout(Timestamp::from_duration(secs(36)));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::CloseTimeout))
    );
}

#[test]
fn answered_close_stops_the_close_deadline() {
    let config = quiet().with_close_timeout(Some(secs(4)));
    let (mut server, mut client) = pair(config, quiet());
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    server.close(CloseCode::NORMAL, "bye").unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(1)));
    pump(&mut server, &mut client);
    assert_eq!(
        events(&mut client),
        ["Close { code: Some(CloseCode(1000)), reason: \"bye\" }"]
    );
    pump(&mut client, &mut server);
    assert_eq!(
        events(&mut server),
        ["Close { code: Some(CloseCode(1000)), reason: \"bye\" }"]
    );
    assert_eq!(server.poll_timeout().map(Timestamp::since_origin), None);
    server.handle_timeout(Timestamp::from_duration(secs(60)));
    assert_eq!(server.error(), None);
}

#[test]
fn slow_fragmented_message_fails_with_1008() {
    let config = quiet().with_message_timeout(Some(secs(2)));
    let (mut server, mut client) = pair(config, quiet());
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    client
        .send_fragment(wsmachine::MessageKind::Text, b"part", false)
        .unwrap();
    pump(&mut client, &mut server);
    assert_eq!(events(&mut server), Vec::<String>::new());
    assert_eq!(
        server.poll_timeout().map(Timestamp::since_origin),
        Some(Duration::ZERO)
    );
    server.handle_timeout(Timestamp::from_duration(secs(1)));
    server.handle_timeout(Timestamp::from_duration(secs(3) - ms(1)));
    assert_eq!(server.ready_state(), ReadyState::Open);
    server.handle_timeout(Timestamp::from_duration(secs(3)));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::MessageTimeout))
    );
    assert_eq!(&server.pending_output()[2..4], &1008u16.to_be_bytes());
}

#[test]
fn idle_connection_is_closed_with_1001() {
    let config = quiet().with_idle_timeout(Some(secs(60)));
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(Timestamp::from_duration(secs(0)));
    server.handle_timeout(Timestamp::from_duration(secs(59)));
    assert!(server.pending_output().is_empty());
    server.handle_timeout(Timestamp::from_duration(secs(60)));
    assert_eq!(&server.pending_output()[2..4], &1001u16.to_be_bytes());
    assert_eq!(server.ready_state(), ReadyState::Closing);
}

#[test]
fn two_machines_with_keepalive_stay_up_while_both_answer() {
    let keepalive = quiet()
        .with_ping_interval(Some(secs(5)))
        .with_pong_timeout(secs(2));
    let (mut server, mut client) = pair(keepalive.clone(), keepalive);
    let mut pings = 0;
    for t in 0..120u64 {
        let now = secs(t);
        server.handle_timeout(Timestamp::from_duration(now));
        client.handle_timeout(Timestamp::from_duration(now));
        pings += pump(&mut server, &mut client).starts_with(&[0x89]) as usize;
        events(&mut client);
        client.handle_timeout(Timestamp::from_duration(now));
        pump(&mut client, &mut server);
        events(&mut server);
    }
    assert_eq!(server.ready_state(), ReadyState::Open);
    assert_eq!(client.ready_state(), ReadyState::Open);
    assert!(pings >= 10, "{pings} pings");
}

#[test]
fn backpressure_is_reported_at_high_and_low_water() {
    let config = quiet()
        .with_output_high_water(1000)
        .with_output_low_water(100);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.send_binary(&[0; 999]).unwrap();
    assert_eq!(server.next_event(), Some(Event::WriteBackpressure(true)));
    assert_eq!(server.next_event(), None);
    server.consume_output(900);
    assert_eq!(server.next_event(), None, "still above low water");
    server.consume_output(3);
    assert_eq!(server.next_event(), Some(Event::WriteBackpressure(false)));
}

#[test]
fn paused_events_lose_nothing() {
    let (mut server, mut client) = pair(quiet(), quiet());
    server.pause_events(true);
    assert!(!server.wants_read());
    client.send_text("one").unwrap();
    client.send_text("two").unwrap();
    pump(&mut client, &mut server);
    assert_eq!(server.next_event(), None);
    server.pause_events(false);
    assert!(server.wants_read());
    assert_eq!(events(&mut server), ["Text(\"one\")", "Text(\"two\")"]);
}
