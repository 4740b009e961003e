//! Deadlines with virtual time: nothing fires early, nothing fires twice,
//! and every deadline ends the connection the way the config says.

use core::time::Duration;
use wsmachine::{CloseCode, Config, Connection, Error, Event, ReadyState, Role};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn quiet() -> Config {
    Config {
        handshake_timeout: None,
        ping_interval: None,
        close_timeout: None,
        ..Config::default()
    }
}

fn pair(server_config: Config, client_config: Config) -> (Connection, Connection) {
    let server = Connection::upgraded(Role::Server, server_config).unwrap();
    let client = Connection::upgraded(
        Role::Client,
        Config {
            mask_seed: Some(1),
            ..client_config
        },
    )
    .unwrap();
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
    let config = Config {
        ping_interval: Some(secs(5)),
        pong_timeout: secs(3),
        ..quiet()
    };
    let (mut server, mut client) = pair(config, quiet());
    assert_eq!(server.poll_timeout(), Some(Duration::ZERO));
    server.handle_timeout(secs(10));
    assert_eq!(server.poll_timeout(), Some(secs(15)));

    // Traffic at t=12 pushes the ping back to t=17.
    client.send_text("hi").unwrap();
    pump(&mut client, &mut server);
    server.handle_timeout(secs(12));
    assert_eq!(events(&mut server), ["Text(\"hi\")"]);
    assert_eq!(server.poll_timeout(), Some(secs(17)));
    server.handle_timeout(secs(17) - ms(1));
    assert!(server.pending_output().is_empty(), "nothing early");

    server.handle_timeout(secs(17));
    assert_eq!(server.pending_output(), b"\x89\x00");
    server.handle_timeout(secs(17));
    assert_eq!(server.pending_output(), b"\x89\x00", "nothing twice");
    assert_eq!(server.poll_timeout(), Some(secs(20)), "pong deadline");

    // The client answers; the server is satisfied and re-arms the keepalive.
    pump(&mut server, &mut client);
    assert_eq!(events(&mut client), ["Ping([])"]);
    pump(&mut client, &mut server);
    server.handle_timeout(secs(18));
    assert_eq!(events(&mut server), ["Pong([])"]);
    assert_eq!(server.poll_timeout(), Some(secs(23)));
    server.handle_timeout(secs(30));
    assert_eq!(server.ready_state(), ReadyState::Open);
}

#[test]
fn a_silent_peer_is_dropped_at_the_pong_deadline_with_1011() {
    let config = Config {
        ping_interval: Some(secs(5)),
        pong_timeout: secs(3),
        ..quiet()
    };
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(secs(0));
    server.handle_timeout(secs(5));
    server.consume_output(2);
    server.handle_timeout(secs(8) - ms(1));
    assert_eq!(server.ready_state(), ReadyState::Open);
    server.handle_timeout(secs(8));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::KeepaliveTimeout))
    );
    assert_eq!(server.next_event(), None);
    assert_eq!(&server.pending_output()[..4], &[0x88, 29, 0x03, 0xF3]);
    assert_eq!(server.ready_state(), ReadyState::Closed);
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn abort_on_keepalive_timeout_sends_nothing() {
    let config = Config {
        ping_interval: Some(secs(5)),
        pong_timeout: secs(3),
        abort_on_keepalive_timeout: true,
        ..quiet()
    };
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(secs(0));
    server.handle_timeout(secs(5));
    server.consume_output(2);
    server.handle_timeout(secs(8));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::KeepaliveTimeout))
    );
    assert!(server.should_close_transport());
}

#[test]
fn slowloris_handshake_gets_408_at_the_deadline() {
    let config = Config {
        handshake_timeout: Some(secs(10)),
        ..quiet()
    };
    let mut server = Connection::server(config);
    server.handle_timeout(secs(100));
    let dribble = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (i, byte) in dribble.iter().enumerate() {
        server.receive(&[*byte]);
        assert_eq!(server.next_event(), None);
        let now = secs(100) + ms(300 * i as u64);
        server.handle_timeout(now);
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
    let config = Config {
        close_timeout: Some(secs(4)),
        ..quiet()
    };
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(secs(1));
    server.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        server.poll_timeout(),
        Some(Duration::ZERO),
        "asks for the time to arm"
    );
    server.handle_timeout(secs(2));
    assert_eq!(server.poll_timeout(), Some(secs(6)));
    server.consume_output(4);
    server.handle_timeout(secs(6) - ms(1));
    assert_eq!(server.ready_state(), ReadyState::Closing);
    server.handle_timeout(secs(6));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::CloseTimeout))
    );
    assert!(server.should_close_transport());
}

#[test]
fn answered_close_stops_the_close_deadline() {
    let config = Config {
        close_timeout: Some(secs(4)),
        ..quiet()
    };
    let (mut server, mut client) = pair(config, quiet());
    server.handle_timeout(secs(0));
    server.close(CloseCode::NORMAL, "bye").unwrap();
    server.handle_timeout(secs(1));
    pump(&mut server, &mut client);
    assert_eq!(
        events(&mut client),
        ["Close { code: Some(CloseCode(1000)), reason: \"bye\" }"]
    );
    pump(&mut client, &mut server);
    assert_eq!(
        events(&mut server),
        ["Close { code: Some(CloseCode(1000)), reason: \"\" }"]
    );
    assert_eq!(server.poll_timeout(), None);
    server.handle_timeout(secs(60));
    assert_eq!(server.error(), None);
}

#[test]
fn slow_fragmented_message_fails_with_1008() {
    let config = Config {
        message_timeout: Some(secs(2)),
        ..quiet()
    };
    let (mut server, mut client) = pair(config, quiet());
    server.handle_timeout(secs(0));
    client
        .send_fragment(wsmachine::MessageKind::Text, b"part", false)
        .unwrap();
    pump(&mut client, &mut server);
    assert_eq!(events(&mut server), Vec::<String>::new());
    assert_eq!(server.poll_timeout(), Some(Duration::ZERO));
    server.handle_timeout(secs(1));
    server.handle_timeout(secs(3) - ms(1));
    assert_eq!(server.ready_state(), ReadyState::Open);
    server.handle_timeout(secs(3));
    assert_eq!(
        server.next_event(),
        Some(Event::Failed(Error::MessageTimeout))
    );
    assert_eq!(&server.pending_output()[2..4], &1008u16.to_be_bytes());
}

#[test]
fn idle_connection_is_closed_with_1001() {
    let config = Config {
        idle_timeout: Some(secs(60)),
        ..quiet()
    };
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.handle_timeout(secs(0));
    server.handle_timeout(secs(59));
    assert!(server.pending_output().is_empty());
    server.handle_timeout(secs(60));
    assert_eq!(&server.pending_output()[2..4], &1001u16.to_be_bytes());
    assert_eq!(server.ready_state(), ReadyState::Closing);
}

#[test]
fn two_machines_with_keepalive_stay_up_while_both_answer() {
    let keepalive = Config {
        ping_interval: Some(secs(5)),
        pong_timeout: secs(2),
        ..quiet()
    };
    let (mut server, mut client) = pair(keepalive.clone(), keepalive);
    let mut pings = 0;
    for t in 0..120u64 {
        let now = secs(t);
        server.handle_timeout(now);
        client.handle_timeout(now);
        pings += pump(&mut server, &mut client).starts_with(&[0x89]) as usize;
        events(&mut client);
        client.handle_timeout(now);
        pump(&mut client, &mut server);
        events(&mut server);
    }
    assert_eq!(server.ready_state(), ReadyState::Open);
    assert_eq!(client.ready_state(), ReadyState::Open);
    assert!(pings >= 10, "{pings} pings");
}

#[test]
fn backpressure_is_reported_at_high_and_low_water() {
    let config = Config {
        output_high_water: 1000,
        output_low_water: 100,
        ..quiet()
    };
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
