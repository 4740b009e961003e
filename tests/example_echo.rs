//! The echo examples keep their word.
//!
//! - `echo_client URL`: a URL without a port means port 80 (443 for
//!   `wss://`), IPv6 hosts keep their brackets in the socket address, a bad
//!   port fails before any connection, and a URL naming `localhost` and a
//!   port reaches a server on 127.0.0.1 and ends with a clean close.
//! - `echo_server` (blocking) and `echo_server_tokio`: a client that closes
//!   with 4000 "bye" gets 4000 "bye" back, byte for byte, then the TCP close.

mod support;
mod testkit;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use support::{spawn_echo_server, spawn_tokio_echo_server, IO_TIMEOUT};
use testkit::wire::{encode_frame, parse_frames};
use wsmachine::blocking::{accept_with, Reject};
use wsmachine::{Accept, ClientRequest, CloseCode, Config, Message, WsError};

#[path = "../examples/echo_client.rs"]
#[allow(dead_code)]
mod echo_client;

// ------------------------------------------------------------ echo_client

#[test]
fn a_url_without_a_port_means_80_or_443() {
    let plain = ClientRequest::from_url("ws://localhost/").unwrap();
    assert_eq!(plain.hostname(), "localhost");
    assert_eq!(plain.port(), 80);
    assert_eq!(plain.address(), "localhost:80");
    assert_eq!(plain.host(), "localhost", "the Host header adds no port");
    assert_eq!(plain.target(), "/");
    assert!(!plain.is_secure());

    let secure = ClientRequest::from_url("wss://example.com/chat").unwrap();
    assert_eq!(secure.port(), 443);
    assert_eq!(secure.address(), "example.com:443");
    assert!(secure.is_secure());

    let with_port = ClientRequest::from_url("ws://localhost:9001/path?query=1").unwrap();
    assert_eq!(with_port.port(), 9001);
    assert_eq!(with_port.address(), "localhost:9001");
    assert_eq!(with_port.host(), "localhost:9001");
    assert_eq!(with_port.target(), "/path?query=1");
}

#[test]
fn an_ipv6_url_keeps_its_brackets_in_the_address() {
    let request = ClientRequest::from_url("ws://[::1]:9000/x").unwrap();
    assert_eq!(request.hostname(), "::1");
    assert_eq!(request.port(), 9000);
    assert_eq!(request.address(), "[::1]:9000");
    assert_eq!(request.host(), "[::1]:9000");
    assert_eq!(request.target(), "/x");

    let default_port = ClientRequest::from_url("ws://[::1]/").unwrap();
    assert_eq!(default_port.address(), "[::1]:80");
}

#[test]
fn a_bad_port_fails_before_connecting() {
    for url in [
        "ws://localhost:99999/",
        "ws://localhost:http/",
        "ws://localhost:/",
        "ws://[::1]:x/",
    ] {
        assert!(ClientRequest::from_url(url).is_err(), "{url} was accepted");
        match echo_client::run(url) {
            Err(WsError::InvalidUrl(_)) => {}
            other => panic!("echo_client::run({url}) gave {other:?}"),
        }
    }
}

/// The example's `run` with a URL naming `localhost` and an explicit port,
/// against a server on 127.0.0.1 scripted with the blocking front-end.
#[test]
fn echo_client_reaches_localhost_with_a_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("ws://localhost:{port}/echo?from=test");
    let client = std::thread::spawn(move || echo_client::run(&url).map_err(|e| e.to_string()));

    let (stream, _) = listener.accept().unwrap();
    let mut seen = None;
    let mut ws = accept_with(stream, Config::default(), |request| {
        seen = Some((
            request.target().to_owned(),
            request.host().map(str::to_owned),
        ));
        match request.path() {
            "/echo" => Ok(Accept::new()),
            _ => Err(Reject::new(404, "")),
        }
    })
    .unwrap();
    assert_eq!(
        seen,
        Some((
            "/echo?from=test".to_owned(),
            Some(format!("localhost:{port}"))
        )),
        "the target and the Host header as the URL gave them"
    );

    ws.send("hello").unwrap();
    ws.send(vec![0u8, 1, 2, 255]).unwrap();
    let echoes: Vec<Message> = (0..2).map(|_| ws.recv().unwrap().unwrap()).collect();
    assert_eq!(
        echoes,
        vec![
            Message::text("hello"),
            Message::binary(vec![0u8, 1, 2, 255])
        ]
    );
    ws.close(CloseCode(4003), "done").unwrap();
    let echoed = ws.close_frame().expect("the client answered the Close");
    assert_eq!((echoed.code, &*echoed.reason), (CloseCode(4003), "done"));
    drop(ws);
    assert_eq!(client.join().unwrap(), Ok(()), "a clean close");
}

// ------------------------------------------------- the Close echo, raw bytes

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A hand-written client: the upgrade, a text "hi", then Close 4000 "bye",
/// in one write. Returns every frame the server sent until it closed TCP.
fn close_with_4000_bye(addr: SocketAddr) -> Vec<(u8, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let key = Some([0x12, 0x34, 0x56, 0x78]);
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    let mut out = UPGRADE.to_vec();
    out.extend(encode_frame(0x81, b"hi", key));
    out.extend(encode_frame(0x88, &close, key));
    stream.write_all(&out).unwrap();

    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("the server closes TCP after the closing handshake");
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head")
        + 4;
    assert!(
        received.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&received[..head_end])
    );
    parse_frames(&received[head_end..])
        .into_iter()
        .map(|frame| {
            assert!(!frame.masked, "a server never masks");
            (frame.first, frame.payload.0)
        })
        .collect()
}

fn expected_echo() -> Vec<(u8, Vec<u8>)> {
    vec![
        (0x81, b"hi".to_vec()),
        (0x88, b"\x0f\xa0bye".to_vec()), // 4000 = 0x0fa0
    ]
}

#[test]
fn echo_server_echoes_the_close_code_and_reason() {
    let addr = spawn_echo_server();
    assert_eq!(close_with_4000_bye(addr), expected_echo());
}

#[test]
fn echo_server_tokio_echoes_the_close_code_and_reason() {
    let addr = spawn_tokio_echo_server();
    assert_eq!(close_with_4000_bye(addr), expected_echo());
}
