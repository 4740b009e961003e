//! Garbage on a real socket: the `echo_server` example must answer each with
//! the right HTTP status or close code, and keep serving new connections.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use support::{spawn_echo_server, Client, Msg, IO_TIMEOUT};

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn http_status(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect(addr);
    // The server may answer and close before reading everything.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let response = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_owned()
}

/// Opens a WebSocket with a raw handshake, sends `frame`, and returns the close
/// code of the server's Close frame.
fn close_code_for(addr: SocketAddr, frame: &[u8]) -> u16 {
    let mut stream = connect(addr);
    stream.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "server closed during handshake"
        );
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    stream.write_all(frame).unwrap();
    let reply = read_to_close(&mut stream);
    assert!(reply.len() >= 4, "no close frame: {reply:?}");
    assert_eq!(reply[0], 0x88, "not a close frame: {reply:?}");
    u16::from_be_bytes([reply[2], reply[3]])
}

fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let key = [1u8, 2, 3, 4];
    let mut out = vec![first_byte, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn assert_still_serving(addr: SocketAddr) {
    let (mut client, first) = Client::connect(&format!("ws://{addr}/"), &[]).unwrap();
    assert_eq!(first, Msg::Connected(None));
    client.send_text("still here").unwrap();
    assert_eq!(
        client.next_message().unwrap(),
        Msg::Text("still here".into())
    );
}

#[test]
fn bad_handshakes_get_http_errors() {
    let addr = spawn_echo_server();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
            "HTTP/1.1 400 Bad Request",
        ),
        (b"hello there\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request"),
        (
            UPGRADE
                .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
                .into_bytes(),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            UPGRADE.replace("Version: 13", "Version: 12").into_bytes(),
            "HTTP/1.1 426 Upgrade Required",
        ),
        (
            UPGRADE.replace("GET", "POST").into_bytes(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            {
                let mut big = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
                while big.len() < 1 << 20 {
                    big.extend_from_slice(
                        b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                    );
                }
                big
            },
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ];
    for (request, status) in cases {
        assert_eq!(http_status(addr, &request), status);
    }
    let mut wrong_version = connect(addr);
    wrong_version
        .write_all(UPGRADE.replace("Version: 13", "Version: 8").as_bytes())
        .unwrap();
    let response = String::from_utf8(read_to_close(&mut wrong_version)).unwrap();
    assert!(
        response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
    assert_still_serving(addr);
}

#[test]
fn bad_frames_get_the_right_close_code() {
    let addr = spawn_echo_server();
    let mut too_long_ping = vec![0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4];
    too_long_ping.extend(vec![0u8; 126]);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (vec![0x81, 0x02, b'h', b'i'], 1002, "unmasked client frame"),
        (masked(0x83, b""), 1002, "reserved opcode 3"),
        (masked(0x8C, b""), 1002, "reserved opcode 0xC"),
        (masked(0xC1, b"x"), 1002, "RSV1 without an extension"),
        (
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            1002,
            "64-bit length with top bit",
        ),
        (
            masked(0x88, &1005u16.to_be_bytes()),
            1002,
            "close code 1005 on the wire",
        ),
        (masked(0x88, &[0x03]), 1002, "one-byte close payload"),
        (
            masked(
                0x81,
                &[
                    0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0,
                    0x80,
                ],
            ),
            1007,
            "invalid UTF-8 text",
        ),
        (
            masked(0x88, &[0x03, 0xE8, 0xFF, 0xFE]),
            1007,
            "invalid UTF-8 close reason",
        ),
        (too_long_ping, 1002, "126-byte ping"),
        (masked(0x09, b"frag"), 1002, "fragmented ping"),
        (masked(0x80, b"x"), 1002, "continuation without start"),
        (
            [masked(0x01, b"a"), masked(0x82, b"b")].concat(),
            1002,
            "new message inside a fragmented one",
        ),
    ];
    for (frame, code, what) in cases {
        assert_eq!(close_code_for(addr, &frame), code, "{what}");
    }
    assert_still_serving(addr);
}

#[test]
fn a_client_that_vanishes_does_not_stop_the_server() {
    let addr = spawn_echo_server();
    for _ in 0..5 {
        let (client, _) = Client::connect(&format!("ws://{addr}/"), &[]).unwrap();
        client.stream.shutdown(Shutdown::Both).unwrap();
        // Half a frame, then gone.
        let mut stream = connect(addr);
        stream.write_all(UPGRADE.as_bytes()).unwrap();
        stream.write_all(&[0x81, 0xFE, 0x10]).unwrap();
        drop(stream);
    }
    assert_still_serving(addr);
}

#[test]
fn echo_sizes_and_close_over_a_socket() {
    let addr = spawn_echo_server();
    let (mut client, _) = Client::connect(&format!("ws://{addr}/chat?x=1"), &[]).unwrap();
    for size in [0usize, 125, 126, 65535, 65536, 1 << 20] {
        let text: String = "aé€😀".chars().cycle().take(size / 3).collect();
        client.send_text(&text).unwrap();
        assert_eq!(client.next_message().unwrap(), Msg::Text(text));
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        client.send_binary(&data).unwrap();
        assert_eq!(client.next_message().unwrap(), Msg::Binary(data));
    }
    client.ping(b"are you there").unwrap();
    assert_eq!(client.next().unwrap(), Msg::Pong(b"are you there".to_vec()));
    client.close(4001, "done").unwrap();
    // The echo carries the code and the reason.
    assert_eq!(
        client.next().unwrap(),
        Msg::Close(Some(4001), "done".into())
    );
    client.expect_tcp_close().unwrap();
}
