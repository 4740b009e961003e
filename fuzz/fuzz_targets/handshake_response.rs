#![no_main]
//! A client fed an arbitrary response: it never accepts a wrong key or an
//! unoffered protocol, and buffers no more than the head limit.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::handshake::accept_key;
use wsmachine::{ClientRequest, Config, Connection, Event, ReadyState};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Prefix the response with a valid 101 head for our key, to get deeper.
    valid_head: bool,
    chunks: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let config = Config::default().with_max_handshake_bytes(1024).with_mask_seed(Some(9));
    let request = ClientRequest::new("h", "/").protocol("chat");
    let mut client = Connection::client(request, config).unwrap();
    let head = String::from_utf8(client.pending_output().to_vec()).unwrap();
    let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().to_owned();
    client.consume_output(head.len());
    if input.valid_head {
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            accept_key(key.as_bytes())
        );
        client.receive(ok.as_bytes());
    }
    for chunk in &input.chunks {
        client.receive(chunk);
        while let Some(event) = client.next_event() {
            if let Event::Connected(response) = event {
                assert_eq!(response.status(), 101);
                let accept = response.headers().get("sec-websocket-accept").unwrap().trim().to_owned();
                assert_eq!(accept, accept_key(key.as_bytes()));
                assert!(matches!(response.protocol(), None | Some("chat")));
            }
        }
        if client.ready_state() == ReadyState::Connecting {
            assert!(client.buffered_input() <= 1024);
        }
    }
});
