//! RFC 6455's own examples, the handshake rules of §4, and one test per
//! protocol violation of §5–§7 with the exact close code it must produce.

use wsmachine::frame::{FrameHeader, OpCode};
use wsmachine::handshake::accept_key;
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Error, Event, MessageKind, ReadyState,
    ReceiveMode, Role, SendError,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a client sends it: masked with `KEY`.
fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

fn open_server() -> Connection {
    Connection::upgraded(Role::Server, Config::default()).unwrap()
}

fn open_client() -> Connection {
    let config = Config::default().with_mask_seed(Some(7));
    Connection::upgraded(Role::Client, config).unwrap()
}

/// Owned copy of an event, so tests can collect several.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Failed(Error),
    Other,
}

fn drain(conn: &mut Connection) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some(event) = conn.next_event() {
        seen.push(match event {
            Event::Text(t) => Seen::Text(t.to_owned()),
            Event::Binary(b) => Seen::Binary(b.to_vec()),
            Event::Ping(p) => Seen::Ping(p.to_vec()),
            Event::Pong { payload: p, .. } => Seen::Pong(p.to_vec()),
            Event::Close { code, reason } => Seen::Close(code.map(|c| c.0), reason.to_owned()),
            Event::Failed(e) => Seen::Failed(e),
            _ => Seen::Other,
        });
    }
    seen
}

/// The close code of the (unmasked, server-sent) Close frame in the output.
fn sent_close_code(conn: &mut Connection) -> Option<u16> {
    let out = conn.pending_output();
    let mut at = 0;
    while at < out.len() {
        let (header, used) = FrameHeader::decode(&out[at..], false).unwrap().unwrap();
        let payload = &out[at + used..at + used + header.payload_len as usize];
        if header.opcode == OpCode::Close {
            return Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
        at += used + header.payload_len as usize;
    }
    None
}

/// Feeds `bytes` to an open server and checks it fails with `error` and sends `code`.
fn assert_server_fails(bytes: &[u8], error: Error, code: CloseCode) {
    let mut conn = open_server();
    conn.receive(bytes);
    let seen = drain(&mut conn);
    assert_eq!(seen.last(), Some(&Seen::Failed(error)), "events: {seen:?}");
    assert_eq!(conn.error(), Some(error));
    assert_eq!(sent_close_code(&mut conn), Some(code.0));
    assert_eq!(conn.ready_state(), ReadyState::Closed);
    // Sticky: nothing more comes out, whatever arrives.
    conn.receive(&client_frame(0x81, b"after"));
    assert_eq!(drain(&mut conn), vec![]);
}

// ---------------------------------------------------------------- §1.3, §4

#[test]
fn accept_key_from_section_1_3() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

const REQUEST: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn server_handshake_from_section_1_3_byte_by_byte() {
    let mut server = Connection::server(Config::default());
    let mut events = 0;
    for byte in REQUEST.as_bytes() {
        server.receive(std::slice::from_ref(byte));
        while let Some(event) = server.next_event() {
            let Event::HandshakeRequest(request) = event else {
                panic!("{event:?}")
            };
            assert_eq!(request.target(), "/chat?room=1");
            assert_eq!(request.path(), "/chat");
            assert_eq!(request.query(), Some("room=1"));
            assert_eq!(request.host(), Some("server.example.com"));
            assert_eq!(request.origin(), Some("http://example.com"));
            assert_eq!(
                request.protocols().collect::<Vec<_>>(),
                ["chat", "superchat"]
            );
            events += 1;
        }
    }
    assert_eq!(events, 1);
    assert_eq!(server.ready_state(), ReadyState::Connecting);
    server.accept(Accept::new().protocol("chat")).unwrap();
    let response = String::from_utf8(server.pending_output().to_vec()).unwrap();
    assert_eq!(
        response,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    assert_eq!(server.ready_state(), ReadyState::Open);
    assert_eq!(server.protocol(), Some("chat"));
}

#[test]
fn frames_in_the_same_read_as_the_request_are_kept() {
    let mut server = Connection::server(Config::default());
    let mut bytes = REQUEST.as_bytes().to_vec();
    bytes.extend(client_frame(0x81, b"Hello"));
    server.receive(&bytes);
    assert!(matches!(
        server.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
    assert_eq!(server.next_event(), None, "no frames before accept");
    server.accept(Accept::new()).unwrap();
    assert_eq!(drain(&mut server), vec![Seen::Text("Hello".into())]);
}

fn handshake_status(request: &str) -> (Error, String) {
    let mut server = Connection::server(Config::default());
    server.receive(request.as_bytes());
    let seen = drain(&mut server);
    let Some(Seen::Failed(error)) = seen.last().cloned() else {
        panic!("{seen:?}")
    };
    let response = String::from_utf8_lossy(server.pending_output()).into_owned();
    assert!(server.ready_state() == ReadyState::Closed);
    (error, response)
}

#[test]
fn bad_requests_get_the_right_http_status() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 8\r\n",
            "HTTP/1.1 426 ",
        ),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "",
            "HTTP/1.1 400 ",
        ),
        ("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", "HTTP/1.1 400 "),
        ("Upgrade: websocket\r\n", "", "HTTP/1.1 400 "),
        (
            "Connection: Upgrade\r\n",
            "Connection: keep-alive\r\n",
            "HTTP/1.1 400 ",
        ),
        ("Host: server.example.com\r\n", "", "HTTP/1.1 400 "),
        ("GET ", "POST ", "HTTP/1.1 405 "),
        ("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost", "HTTP/1.1 505 "),
    ];
    for (from, to, status) in cases {
        let (error, response) = handshake_status(&REQUEST.replacen(from, to, 1));
        assert!(
            response.starts_with(status),
            "{from:?} -> {to:?}: {error:?} {response}"
        );
        assert_eq!(Some(status[9..12].parse().unwrap()), error.http_status());
    }
    let (_, response) = handshake_status(&REQUEST.replacen(
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version: 8",
        1,
    ));
    assert!(response.contains("Sec-WebSocket-Version: 13\r\n"));
}

#[test]
fn token_lists_are_case_insensitive() {
    let request = REQUEST
        .replace("Upgrade: websocket", "UPGRADE: WebSocket")
        .replace("Connection: Upgrade", "Connection: keep-alive, upgrade");
    let mut server = Connection::server(Config::default());
    server.receive(request.as_bytes());
    assert!(matches!(
        server.next_event(),
        Some(Event::HandshakeRequest(_))
    ));
}

#[test]
fn garbage_and_oversized_heads_are_refused() {
    let (error, response) = handshake_status("\x16\x03\x01\x02\x00\x01\x00");
    assert_eq!(error, Error::MalformedRequest);
    assert!(response.starts_with("HTTP/1.1 400 "));

    let mut big = String::from("GET / HTTP/1.1\r\n");
    while big.len() < 20_000 {
        big.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let (error, response) = handshake_status(&big);
    assert_eq!(error, Error::RequestHeadTooLarge);
    assert!(response.starts_with("HTTP/1.1 431 "));
}

#[test]
fn plain_http_is_offered_to_the_caller_when_allowed() {
    let config = Config::default().with_allow_plain_http(true);
    let mut server = Connection::server(config);
    server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let Some(Event::HandshakeRequest(request)) = server.next_event() else {
        panic!()
    };
    assert!(!request.is_websocket_upgrade());
    assert_eq!(server.accept(Accept::new()), Err(SendError::WrongState));
    server
        .reject(200, &[("Content-Type", "text/html")], b"<p>hi</p>")
        .unwrap();
    let out = String::from_utf8(server.pending_output().to_vec()).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"));
    assert!(out.ends_with("\r\n\r\n<p>hi</p>"));
}

fn client_and_key() -> (Connection, String) {
    let request = ClientRequest::from_url("ws://server.example.com/chat?x=1#frag")
        .unwrap()
        .origin("http://example.com")
        .protocol("chat")
        .header("Authorization", "Bearer t");
    let mut client = Connection::client(request, Config::default()).unwrap();
    let head = String::from_utf8(client.pending_output().to_vec()).unwrap();
    assert!(
        head.starts_with("GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nOrigin: http://example.com\r\n"));
    assert!(head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    assert!(head.contains("\r\nAuthorization: Bearer t\r\n"));
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_owned();
    (client, key)
}

#[test]
fn client_validates_the_accept_key_and_keeps_following_frames() {
    let (mut client, key) = client_and_key();
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
        accept_key(key.as_bytes())
    )
    .into_bytes();
    response.extend_from_slice(b"\x81\x05Hello");
    client.receive(&response);
    let Some(Event::Connected(r)) = client.next_event() else {
        panic!()
    };
    assert_eq!(r.protocol(), Some("chat"));
    assert_eq!(client.next_event(), Some(Event::Text("Hello")));
    assert_eq!(client.protocol(), Some("chat"));
}

#[test]
fn client_handshake_errors() {
    let ok = |key: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.as_bytes())
        )
    };
    type Mutation = fn(String) -> String;
    let cases: [(Mutation, Error); 4] = [
        (
            |r| r.replace("Sec-WebSocket-Accept: ", "Sec-WebSocket-Accept: x"),
            Error::InvalidAccept,
        ),
        (
            |r| r.replace("Upgrade: websocket\r\n", ""),
            Error::ResponseNotAnUpgrade,
        ),
        (
            |r| r.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: other\r\n\r\n"),
            Error::UnofferedProtocol,
        ),
        (
            |r| r.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x-foo\r\n\r\n"),
            Error::UnofferedExtension,
        ),
    ];
    for (mutate, expected) in cases {
        let (mut client, key) = client_and_key();
        client.receive(mutate(ok(&key)).as_bytes());
        assert_eq!(client.next_event(), Some(Event::Failed(expected)));
        assert_eq!(client.ready_state(), ReadyState::Closed);
    }
}

#[test]
fn client_sees_a_non_101_answer_with_its_headers() {
    let (mut client, _) = client_and_key();
    client.receive(b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n");
    let Some(Event::HandshakeRejected(response)) = client.next_event() else {
        panic!()
    };
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers().get("location"), Some("ws://elsewhere/"));
    assert_eq!(client.ready_state(), ReadyState::Closed);
    assert_eq!(client.error(), None);
}

// ---------------------------------------------------------------------- §5.7

#[test]
fn section_5_7_single_frame_unmasked_text() {
    let mut client = open_client();
    client.receive(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(client.next_event(), Some(Event::Text("Hello")));
}

#[test]
fn section_5_7_single_frame_masked_text() {
    let mut server = open_server();
    server.receive(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(server.next_event(), Some(Event::Text("Hello")));
}

#[test]
fn section_5_7_fragmented_unmasked_text() {
    let mut client = open_client();
    client.receive(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert_eq!(client.next_event(), None);
    client.receive(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(client.next_event(), Some(Event::Text("Hello")));
}

#[test]
fn section_5_7_ping_and_pong() {
    let mut client = open_client();
    client.receive(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(client.next_event(), Some(Event::Ping(b"Hello")));
    // The automatic pong is masked: opcode 0xA, MASK bit, length 5.
    let out = client.pending_output();
    assert_eq!(&out[..2], &[0x8a, 0x85]);
    let key = [out[2], out[3], out[4], out[5]];
    let payload: Vec<u8> = out[6..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    assert_eq!(payload, b"Hello");

    let mut server = open_server();
    server.receive(&[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(
        server.next_event(),
        Some(Event::Pong {
            payload: b"Hello",
            rtt: None
        })
    );
}

#[test]
fn section_5_7_lengths_256_and_65536() {
    for (len, header) in [
        (256usize, vec![0x82, 0x7E, 0x01, 0x00]),
        (65536, vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let mut server = open_server();
        server.send_binary(&vec![7u8; len]).unwrap();
        assert_eq!(&server.pending_output()[..header.len()], &header[..]);
        assert_eq!(server.pending_output().len(), header.len() + len);

        let mut client = open_client();
        let mut frame = header.clone();
        frame.extend(vec![7u8; len]);
        client.receive(&frame);
        assert_eq!(
            client.next_event(),
            Some(Event::Binary(&vec![7u8; len][..]))
        );
    }
}

#[test]
fn control_frames_between_fragments() {
    let mut server = open_server();
    let mut bytes = client_frame(0x01, b"Hel");
    bytes.extend(client_frame(0x89, b"p"));
    bytes.extend(client_frame(0x80, b"lo"));
    server.receive(&bytes);
    assert_eq!(
        drain(&mut server),
        vec![Seen::Ping(b"p".to_vec()), Seen::Text("Hello".into())]
    );
}

// -------------------------------------------------------------------- §5, §7

#[test]
fn protocol_violations_fail_with_1002() {
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (client_frame(0x83, b""), Error::ReservedOpcode),
        (client_frame(0x8B, b""), Error::ReservedOpcode),
        (client_frame(0xC1, b"x"), Error::ReservedBitsSet),
        (client_frame(0xA1, b"x"), Error::ReservedBitsSet),
        (client_frame(0x91, b"x"), Error::ReservedBitsSet),
        (client_frame(0x89, &[0; 126]), Error::ControlFrameTooLong),
        (client_frame(0x09, b""), Error::FragmentedControlFrame),
        (client_frame(0x80, b"x"), Error::UnexpectedContinuation),
        (
            [client_frame(0x01, b"a"), client_frame(0x81, b"b")].concat(),
            Error::ExpectedContinuation,
        ),
        (
            vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
            Error::UnmaskedFrame,
        ),
        (
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            Error::LengthTooLarge,
        ),
        (
            vec![0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4],
            Error::NonMinimalLength,
        ),
        (client_frame(0x88, &[0x03]), Error::InvalidClosePayload),
        (
            client_frame(0x88, &1005u16.to_be_bytes()),
            Error::InvalidCloseCode,
        ),
        (
            client_frame(0x88, &999u16.to_be_bytes()),
            Error::InvalidCloseCode,
        ),
        (
            client_frame(0x88, &2000u16.to_be_bytes()),
            Error::InvalidCloseCode,
        ),
    ];
    for (bytes, error) in cases {
        assert_server_fails(&bytes, error, CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn client_rejects_masked_frames() {
    let mut client = open_client();
    client.receive(&client_frame(0x81, b"x"));
    assert_eq!(drain(&mut client), vec![Seen::Failed(Error::MaskedFrame)]);
}

#[test]
fn invalid_utf8_fails_with_1007_before_the_message_ends() {
    // The first fragment already holds a byte no continuation can fix.
    let mut server = open_server();
    server.receive(&client_frame(0x01, &[b'a', 0xC0, 0x80]));
    assert_eq!(drain(&mut server), vec![Seen::Failed(Error::InvalidUtf8)]);
    assert_eq!(sent_close_code(&mut server), Some(1007));

    // Same inside a single frame that has only partly arrived.
    let frame = client_frame(
        0x81,
        &[b'a'; 10]
            .iter()
            .copied()
            .chain([0xF5])
            .chain([b'b'; 100])
            .collect::<Vec<_>>(),
    );
    let mut server = open_server();
    server.receive(&frame[..2 + 4 + 11]);
    assert_eq!(drain(&mut server), vec![Seen::Failed(Error::InvalidUtf8)]);

    // Truncated at the end of the message.
    assert_server_fails(
        &client_frame(0x81, &[0xE2, 0x82]),
        Error::InvalidUtf8,
        CloseCode::INVALID_PAYLOAD,
    );
    // Close reason.
    assert_server_fails(
        &client_frame(0x88, &[0x03, 0xE8, 0xFF]),
        Error::InvalidCloseReason,
        CloseCode::INVALID_PAYLOAD,
    );
}

#[test]
fn utf8_split_across_fragments_is_fine() {
    let euro = "€".as_bytes();
    let mut server = open_server();
    let mut bytes = client_frame(0x01, &euro[..1]);
    bytes.extend(client_frame(0x00, &euro[1..2]));
    bytes.extend(client_frame(0x80, &euro[2..]));
    server.receive(&bytes);
    assert_eq!(drain(&mut server), vec![Seen::Text("€".into())]);
}

#[test]
fn limits_fail_with_1009() {
    let config = Config::default()
        .with_max_frame_size(100)
        .with_max_message_size(150);
    let mut server = Connection::upgraded(Role::Server, config.clone()).unwrap();
    server.receive(&client_frame(0x82, &[0; 101]));
    assert_eq!(drain(&mut server), vec![Seen::Failed(Error::FrameTooLarge)]);
    assert_eq!(sent_close_code(&mut server), Some(1009));

    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    server.receive(&[client_frame(0x02, &[0; 100]), client_frame(0x80, &[0; 51])].concat());
    assert_eq!(
        drain(&mut server),
        vec![Seen::Failed(Error::MessageTooLarge)]
    );
    assert_eq!(sent_close_code(&mut server), Some(1009));
}

#[test]
fn a_declared_huge_length_allocates_nothing() {
    let mut server = open_server();
    // 2^62 bytes declared, only the header sent.
    server.receive(&[0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(drain(&mut server), vec![Seen::Failed(Error::FrameTooLarge)]);
}

// ----------------------------------------------------------------------- §7

#[test]
fn peer_close_is_echoed_and_closes() {
    let mut server = open_server();
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    server.receive(&client_frame(0x88, &payload));
    assert_eq!(
        drain(&mut server),
        vec![Seen::Close(Some(4000), "bye".into())]
    );
    // The echo carries the same code and reason.
    assert_eq!(server.pending_output(), b"\x88\x05\x0F\xA0bye");
    assert_eq!(server.ready_state(), ReadyState::Closed);
    server.consume_output(7);
    assert!(server.should_close_transport());
    assert_eq!(server.send_text("late"), Err(SendError::Closed));
}

#[test]
fn empty_close_is_echoed_empty() {
    let mut server = open_server();
    server.receive(&client_frame(0x88, b""));
    assert_eq!(drain(&mut server), vec![Seen::Close(None, String::new())]);
    assert_eq!(server.pending_output(), &[0x88, 0x00]);
}

#[test]
fn our_close_waits_for_the_peers() {
    let mut server = open_server();
    server.close(CloseCode::GOING_AWAY, "restart").unwrap();
    assert_eq!(server.ready_state(), ReadyState::Closing);
    {
        let n = server.pending_output().len();
        server.consume_output(n);
    }
    // Data may still arrive until the peer's Close; no pong after our Close.
    server.receive(
        &[
            client_frame(0x81, b"late"),
            client_frame(0x89, b""),
            client_frame(0x88, &1001u16.to_be_bytes()),
        ]
        .concat(),
    );
    assert_eq!(
        drain(&mut server),
        vec![
            Seen::Text("late".into()),
            Seen::Ping(vec![]),
            Seen::Close(Some(1001), String::new())
        ]
    );
    assert_eq!(server.pending_output(), b"");
    assert!(server.should_close_transport());
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut server = open_server();
    server.receive(&client_frame(0x81, b"hi"));
    server.receive_eof();
    assert_eq!(
        drain(&mut server),
        vec![
            Seen::Text("hi".into()),
            Seen::Failed(Error::AbnormalClosure)
        ]
    );
    assert_eq!(server.pending_output(), b"");
}

#[test]
fn send_errors() {
    let mut server = Connection::server(Config::default());
    assert_eq!(server.send_text("x"), Err(SendError::NotOpen));
    let mut server = open_server();
    assert_eq!(
        server.close(CloseCode(1005), ""),
        Err(SendError::InvalidCloseCode)
    );
    assert_eq!(
        server.send_ping(&[0; 126]),
        Err(SendError::ControlPayloadTooLong)
    );
    server
        .send_fragment(MessageKind::Text, b"a", false)
        .unwrap();
    assert_eq!(server.send_text("b"), Err(SendError::FragmentOrder));
    assert_eq!(
        server.send_fragment(MessageKind::Binary, b"b", true),
        Err(SendError::FragmentOrder)
    );
    assert_eq!(
        server.send_fragment(MessageKind::Text, &[0xFF], true),
        Err(SendError::InvalidUtf8)
    );
    server.send_ping(b"between").unwrap();
    server.send_fragment(MessageKind::Text, b"b", true).unwrap();
    let small = Config::default().with_max_output_buffer(64);
    let mut server = Connection::upgraded(Role::Server, small).unwrap();
    assert_eq!(server.send_binary(&[0; 100]), Err(SendError::OutputFull));
}

#[test]
fn stream_mode_hands_out_pieces_on_character_boundaries() {
    let config = Config::default().with_receive_mode(ReceiveMode::Stream);
    let mut server = Connection::upgraded(Role::Server, config).unwrap();
    let text = "aé€😀z";
    let bytes = text.as_bytes();
    // Fragments split inside characters; the wire bytes arrive one at a time.
    let wire = [
        client_frame(0x01, &bytes[..2]),
        client_frame(0x00, &bytes[2..6]),
        client_frame(0x80, &bytes[6..]),
    ]
    .concat();
    let mut got = String::new();
    let mut lasts = 0;
    for byte in &wire {
        server.receive(std::slice::from_ref(byte));
        while let Some(event) = server.next_event() {
            let Event::TextChunk { data, last } = event else {
                panic!("{event:?}")
            };
            got.push_str(data);
            lasts += usize::from(last);
        }
    }
    assert_eq!(got, text);
    assert_eq!(lasts, 1);
}

#[test]
fn vectored_sends_arrive_like_queued_ones() {
    // Client: payload masked in place; the server decodes header + payload.
    let mut client = open_client();
    let mut server = open_server();
    let mut payload = b"Hello, vectored world".to_vec();
    let head = client
        .send_vectored(MessageKind::Text, &mut payload)
        .unwrap();
    assert_ne!(payload, b"Hello, vectored world", "masked in place");
    assert!(client.pending_output().is_empty());
    server.receive(&head);
    server.receive(&payload);
    client.consume_output(head.len() + payload.len());
    assert_eq!(
        drain(&mut server),
        vec![Seen::Text("Hello, vectored world".into())]
    );

    // Server: untouched payload, 64-bit length form.
    let mut big = vec![3u8; 70_000];
    let head = server.send_vectored(MessageKind::Binary, &mut big).unwrap();
    assert_eq!(&head[..2], &[0x82, 127]);
    assert!(big.iter().all(|&b| b == 3));
    // Until the frame is reported written, queued output waits behind it.
    server.send_ping(b"behind").unwrap();
    assert!(server.pending_output().is_empty());
    client.receive(&head);
    client.receive(&big);
    server.consume_output(head.len() + big.len() - 1);
    assert!(
        server.pending_output().is_empty(),
        "one byte of the frame is left"
    );
    server.consume_output(1);
    assert_eq!(server.pending_output(), b"\x89\x06behind");
    server.consume_output(8);
    assert_eq!(drain(&mut client), vec![Seen::Binary(vec![3u8; 70_000])]);

    // Order is kept: queued output first.
    server.send_text("queued").unwrap();
    assert_eq!(
        server.send_vectored(MessageKind::Binary, &mut [1]),
        Err(SendError::OutputPending)
    );
    assert_eq!(
        server.send_vectored(MessageKind::Text, &mut [0xFF]),
        Err(SendError::OutputPending)
    );
    {
        let n = server.pending_output().len();
        server.consume_output(n);
    }
    assert_eq!(
        server.send_vectored(MessageKind::Text, &mut [0xFF]),
        Err(SendError::InvalidUtf8)
    );
}
