//! The interop checks shared by every real peer (Python `websockets`, Node
//! `ws`): their client against our echo server, our client against their
//! server. See tests/peers/README.md for the peer programs' contract.

use super::*;

/// A peer implementation: how to run its client and server programs.
pub struct PeerKind {
    pub program: fn() -> PathBuf,
    pub client_script: &'static str,
    pub server_script: &'static str,
}

/// Runs the peer's client scenario against our `echo_server` and asserts it passed.
pub fn peer_client_scenario(peer: &PeerKind, scenario: &str) {
    peer_client_scenario_with(peer, scenario, &[]);
}

/// Same, with extra peer arguments (`--deflate`).
pub fn peer_client_scenario_with(peer: &PeerKind, scenario: &str, extra: &[&str]) {
    let addr = spawn_echo_server();
    let url = format!("ws://{addr}/echo?from=peer");
    let mut args = vec![url.as_str(), scenario];
    args.extend_from_slice(extra);
    let (ok, output) = run_peer_client((peer.program)(), peer.client_script, &args);
    assert!(ok, "peer client scenario {scenario} failed:\n{output}");
    if scenario == "vanish" {
        // The server must shrug it off and keep serving.
        let (mut client, _) = Client::connect(&format!("ws://{addr}/"), &[]).unwrap();
        client.send_text("after vanish").unwrap();
        assert_eq!(
            client.next_message().unwrap(),
            Msg::Text("after vanish".into())
        );
    }
}

fn connect_to(peer: &Peer, target: &str, protocols: &[&str]) -> (Client, Msg) {
    Client::connect(&format!("ws://127.0.0.1:{}{target}", peer.port), protocols).unwrap()
}

fn start_server(kind: &PeerKind) -> Peer {
    start_peer_server((kind.program)(), kind.server_script, &[])
}

/// Text with 1-, 2-, 3- and 4-byte characters, about `len` bytes long.
pub fn sample_text(len: usize) -> String {
    let mut text = String::with_capacity(len + 4);
    for c in "wsmachine é € 😀 ".chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    text
}

pub fn sample_binary(len: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub const SIZES: [usize; 7] = [0, 125, 126, 65535, 65536, 1 << 20, (1 << 20) + 1];

/// Sends text and binary of every size in `SIZES` (`repeats` times each)
/// and checks each echo.
pub fn echo_every_size(client: &mut Client, repeats: usize) {
    for size in SIZES {
        for _ in 0..repeats {
            let text = sample_text(size);
            client.send_text(&text).unwrap();
            assert_eq!(
                client.next_message().unwrap(),
                Msg::Text(text),
                "text of {size} bytes"
            );
            let data = sample_binary(size);
            client.send_binary(&data).unwrap();
            assert_eq!(
                client.next_message().unwrap(),
                Msg::Binary(data),
                "binary of {size} bytes"
            );
        }
    }
}

pub fn our_client_sizes(kind: &PeerKind) {
    let server = start_server(kind);
    let (mut client, connected) = connect_to(&server, "/", &[]);
    assert_eq!(connected, Msg::Connected(None));
    echo_every_size(&mut client, 1);
    client.close(1000, "done").unwrap();
    assert_eq!(
        client.next_message().unwrap().code_only(),
        Msg::Close(Some(1000), String::new())
    );
}

trait CodeOnly {
    fn code_only(self) -> Msg;
}

impl CodeOnly for Msg {
    /// Peers may or may not echo the reason; compare codes.
    fn code_only(self) -> Msg {
        match self {
            Msg::Close(code, _) => Msg::Close(code, String::new()),
            other => other,
        }
    }
}

pub fn our_client_fragments_pings_and_commands(kind: &PeerKind) {
    let server = start_server(kind);
    let (mut client, connected) = connect_to(&server, "/path/x?q=1&r=2", &["chat"]);
    assert_eq!(connected, Msg::Connected(Some("chat".into())));

    // Fragmented sends, text split inside a 4-byte character.
    let text = "fragments 😀 across frames";
    let bytes = text.as_bytes();
    let cut = text.find('😀').unwrap() + 2;
    client
        .send_fragments(
            MessageKind::Text,
            &[&bytes[..5], &bytes[5..cut], &bytes[cut..]],
        )
        .unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Text(text.into()));
    let data = sample_binary(70_000);
    client
        .send_fragments(
            MessageKind::Binary,
            &[&data[..1], &data[1..40_000], &data[40_000..], &[]],
        )
        .unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Binary(data));

    // Our ping, their pong.
    for payload in [&b""[..], b"hello-ping", &[7u8; 125]] {
        client.ping(payload).unwrap();
        assert_eq!(client.next().unwrap(), Msg::Pong(payload.to_vec()));
    }
    // Their ping, our automatic pong, their confirmation.
    client.send_text("cmd:ping:are-you-there").unwrap();
    assert_eq!(client.next().unwrap(), Msg::Ping(b"are-you-there".to_vec()));
    assert_eq!(
        client.next().unwrap(),
        Msg::Text("pong:are-you-there".into())
    );
    // Their fragmented message, reassembled by us.
    let long = sample_text(10_000);
    client
        .send_text(&format!("cmd:fragments:7:{long}"))
        .unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Text(long));
    // What they saw of our handshake.
    client.send_text("cmd:headers").unwrap();
    let Msg::Text(seen) = client.next_message().unwrap() else {
        panic!()
    };
    assert!(seen.contains("\"/path/x?q=1&r=2\""), "{seen}");
    assert!(seen.contains("\"sec-websocket-protocol\""), "{seen}");
    assert!(seen.contains("\"upgrade\""), "{seen}");

    // They close with a code and reason; we echo; they end TCP.
    client.send_text("cmd:close:4002:server bye").unwrap();
    assert_eq!(
        client.next_message().unwrap(),
        Msg::Close(Some(4002), "server bye".into())
    );
    assert_eq!(client.conn.ready_state(), wsmachine::ReadyState::Closed);
    client.expect_tcp_close().unwrap();
}

pub fn our_client_sees_a_vanishing_server(kind: &PeerKind) {
    let server = start_server(kind);
    let (mut client, _) = connect_to(&server, "/", &[]);
    client.send_text("hello").unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Text("hello".into()));
    drop(server); // kills the process: no Close frame, the TCP connection just ends
    match client.next() {
        Ok(Msg::Failed(Error::AbnormalClosure)) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected an abnormal closure, got {other:?}"),
    }
}

/// Our client, compressing, against the peer's compressing server: every
/// size both ways, fragments, and a close; `takeover` toggles context
/// takeover in both directions.
#[cfg(feature = "deflate")]
pub fn our_client_compressed(kind: &PeerKind, takeover: bool) {
    let server = start_peer_server((kind.program)(), kind.server_script, &["--deflate"]);
    let deflate = wsmachine::DeflateConfig {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        ..wsmachine::DeflateConfig::default()
    };
    let config = Config::default().with_deflate(Some(deflate));
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let (mut client, connected) = Client::connect_with(&url, &[], config).unwrap();
    assert_eq!(connected, Msg::Connected(None));
    let params = client
        .conn
        .deflate_params()
        .expect("permessage-deflate negotiated");
    assert_eq!(params.server_no_context_takeover, !takeover);
    assert_eq!(params.client_no_context_takeover, !takeover);
    // Twice each, so the second message can use (or not) the first's context.
    echo_every_size(&mut client, 2);
    let text = "compressed fragments 😀 ".repeat(500);
    let bytes = text.as_bytes();
    client
        .send_fragments(
            MessageKind::Text,
            &[&bytes[..3], &bytes[3..5000], &bytes[5000..]],
        )
        .unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Text(text.clone()));
    client
        .send_text(&format!("cmd:fragments:5:{text}"))
        .unwrap();
    assert_eq!(client.next_message().unwrap(), Msg::Text(text));
    client.close(4000, "compressed bye").unwrap();
    assert_eq!(
        client.next_message().unwrap().code_only(),
        Msg::Close(Some(4000), String::new())
    );
}
