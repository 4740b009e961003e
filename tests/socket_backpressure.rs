//! A peer that stops reading: the `echo_server_tokio` example (the tokio
//! front-end) stops reading from it once its own output backs up (`feed`
//! waits above the high-water mark, and nothing reads meanwhile), so the
//! peer's sends stall after a bounded amount, and when the peer reads again
//! every echo arrives intact and in order.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wsmachine::{ClientRequest, Config, Connection, Event};

mod support;

const MESSAGE: usize = 64 * 1024;

/// Incompressible, so permessage-deflate (when built in) cannot shrink it.
fn message(i: usize) -> Vec<u8> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..MESSAGE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes what the connection has pending; false if the socket would block.
fn try_flush(stream: &mut TcpStream, conn: &mut Connection) -> bool {
    while !conn.pending_output().is_empty() {
        match stream.write(conn.pending_output()) {
            Ok(n) => conn.consume_output(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    true
}

#[test]
fn a_peer_that_stops_reading_is_throttled_and_loses_nothing() {
    let addr = support::spawn_tokio_echo_server();
    let mut stream = TcpStream::connect(addr).unwrap();
    let config = Config::default().with_max_output_buffer(256 << 20);
    let mut conn = Connection::client(ClientRequest::new(&addr.to_string(), "/"), config).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(try_flush(&mut stream, &mut conn));
    let mut buf = vec![0u8; 256 * 1024];
    while conn.ready_state() == wsmachine::ReadyState::Connecting {
        let n = stream.read(&mut buf).unwrap();
        conn.receive(&buf[..n]);
        while let Some(event) = conn.next_event() {
            assert!(matches!(event, Event::Connected(_)), "{event:?}");
        }
    }

    // Phase 1: send without ever reading, until our writes stall.
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        conn.send_binary(&message(sent)).unwrap();
        sent += 1;
        if !try_flush(&mut stream, &mut conn) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never stopped reading"
        );
        assert!(
            sent < 2048,
            "sent {} MiB and the server is still reading",
            sent / 16
        );
    }
    let sent_bytes = sent * MESSAGE;
    eprintln!("writes stalled after {} KiB", sent_bytes / 1024);
    // The server holds at most its high-water mark plus what the kernel buffers.
    assert!(
        sent_bytes < 32 << 20,
        "{sent_bytes} bytes accepted before stalling"
    );

    // Phase 2: read again; every echo must come back, in order, intact.
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < sent {
        assert!(
            Instant::now() < deadline,
            "only {received} of {sent} echoes came back"
        );
        try_flush(&mut stream, &mut conn);
        match stream.read(&mut buf) {
            Ok(0) => panic!("server closed after {received} echoes"),
            Ok(n) => conn.receive(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("read failed: {e}"),
        }
        while let Some(event) = conn.next_event() {
            match event {
                Event::Binary(data) => {
                    assert!(
                        data == message(received).as_slice(),
                        "echo {received} differs"
                    );
                    received += 1;
                }
                Event::Ping(_) | Event::Pong { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
