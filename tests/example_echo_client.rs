//! The `echo_client` example against a scripted server: it echoes what it
//! gets (text and binary, path and query sent intact), answers the server's
//! Close, and reports a clean end — what `echo_client URL` exits 0 on.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use wsmachine::{Accept, CloseCode, Config, Connection, Event};

#[path = "../examples/echo_client.rs"]
#[allow(dead_code)]
mod echo_client;

#[test]
fn echo_client_echoes_and_ends_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/room?id=7", listener.local_addr().unwrap());
    let client = std::thread::spawn(move || echo_client::run(&url).map_err(|e| e.to_string()));

    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = Connection::server(Config::default());
    let mut buf = vec![0u8; 65536];
    let mut target = None;
    let mut echoes = Vec::new();
    let mut sent = false;
    for _ in 0..200 {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        conn.receive(&buf[..n]);
        while let Some(event) = conn.next_event() {
            match event {
                Event::HandshakeRequest(request) => {
                    target = Some(request.target().to_owned());
                    conn.accept(Accept::new()).unwrap();
                }
                Event::Text(t) => echoes.push(t.as_bytes().to_vec()),
                Event::Binary(b) => echoes.push(b.to_vec()),
                Event::Close { code, .. } => assert_eq!(code, Some(CloseCode(4003))),
                other => panic!("unexpected {other:?}"),
            }
        }
        if !sent && conn.ready_state() == wsmachine::ReadyState::Open {
            conn.send_text("hello, client").unwrap();
            conn.send_binary(&[0, 1, 2, 255]).unwrap();
            sent = true;
        }
        if echoes.len() == 2 && conn.ready_state() == wsmachine::ReadyState::Open {
            conn.close(CloseCode(4003), "done").unwrap();
        }
        stream.write_all(conn.pending_output()).unwrap();
        let written = conn.pending_output().len();
        conn.consume_output(written);
        if conn.should_close_transport() {
            break;
        }
    }
    drop(stream); // the server closes TCP first (§7.1.1)
    assert_eq!(target.as_deref(), Some("/room?id=7"));
    assert_eq!(echoes, vec![b"hello, client".to_vec(), vec![0, 1, 2, 255]]);
    assert_eq!(client.join().unwrap(), Ok(()), "a clean close");
}
