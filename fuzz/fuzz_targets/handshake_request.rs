#![no_main]
//! A server fed arbitrary bytes in arbitrary chunks: it buffers no more than
//! the configured head limit, and a request it accepts gets the right
//! Sec-WebSocket-Accept.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::{handshake::accept_key, Accept, Config, Connection, Event, ReadyState};

#[derive(Arbitrary, Debug)]
struct Input {
    chunks: Vec<Vec<u8>>,
    plain_http: bool,
}

fuzz_target!(|input: Input| {
    let config = Config::default().with_max_handshake_bytes(1024).with_max_headers(8).with_allow_plain_http(input.plain_http);
    let mut server = Connection::server(config);
    for chunk in &input.chunks {
        if !server.wants_read() {
            break;
        }
        server.receive(chunk);
        while let Some(event) = server.next_event() {
            if let Event::HandshakeRequest(request) = event {
                if !request.is_websocket_upgrade() {
                    assert!(input.plain_http);
                    server.reject(404, &[], b"").unwrap();
                    continue;
                }
                let key = request.headers().get("sec-websocket-key").expect("validated").trim().to_owned();
                server.accept(Accept::new()).unwrap();
                let response = String::from_utf8(server.pending_output().to_vec()).unwrap();
                let expected = format!("\r\nSec-WebSocket-Accept: {}\r\n", accept_key(key.as_bytes()));
                assert!(response.starts_with("HTTP/1.1 101 "));
                assert!(response.contains(&expected), "{response}");
            }
        }
        if server.ready_state() == ReadyState::Connecting {
            assert!(server.buffered_input() <= 1024);
        }
    }
});
