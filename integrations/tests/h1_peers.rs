//! HTTP/1.1 through axum: Python `websockets`, Node `ws` and headless
//! Chromium against the axum echo app (Chromium through the chat app's
//! `/echo`, which serves its page), with permessage-deflate negotiated and
//! checked on the wire: a relay between client and server records the bytes,
//! and the frames' RSV1 bits show which messages were compressed. Plus the
//! subprotocol a route selects with `.protocols(["chat"])`.
//!
//! The peers come from `bash .ci/install-peers.sh`; a missing one fails.

mod support;

use support::*;
use wsmachine::tokio::ClientBuilder;
use wsmachine::{CloseCode, Message};

/// Asserts that the relayed WebSockets were compressed both ways, and that
/// the server compressed every message its threshold (32 bytes) allows.
fn assert_compressed(recording: &Recording, at_least: usize) -> CompressionSeen {
    let seen = compression_seen(recording);
    assert!(
        seen.websockets >= at_least,
        "{} WebSockets relayed, expected {at_least} or more",
        seen.websockets
    );
    assert!(
        seen.client_compressed > 0,
        "no compressed client message: {seen:?}"
    );
    assert!(
        seen.server_compressed > 0,
        "no compressed server message: {seen:?}"
    );
    assert!(
        seen.server_uncompressed_long.is_empty(),
        "the server sent messages of 32 bytes or more uncompressed: {seen:?}"
    );
    assert!(
        seen.misplaced_rsv1.is_empty(),
        "RSV1 on a frame that does not start a message: {seen:?}"
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_compressed_through_axum() {
    let python = python();
    let server = start(wsmachine_integrations::echo_app()).await;
    let (relay, recording) = relay(server).await;
    let url = format!("ws://{relay}/echo");
    for scenario in ["all", "compressible"] {
        let (ok, output) = run_peer(
            python.clone(),
            "tests/peers/py_client.py",
            &[&url, scenario, "--deflate"],
        )
        .await;
        assert!(ok, "py_client.py {scenario} --deflate failed:\n{output}");
        // websockets says what it agreed to and put in force.
        assert!(
            output.contains("permessage-deflate") && output.contains("in force PerMessageDeflate"),
            "{scenario}: no deflate agreement reported:\n{output}"
        );
    }
    // sizes, fragmented, ping, close, many; compressible.
    let seen = assert_compressed(&recording, 6);
    eprintln!("python: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_compressed_through_axum() {
    let node = node();
    let server = start(wsmachine_integrations::echo_app()).await;
    let (relay, recording) = relay(server).await;
    let url = format!("ws://{relay}/echo");
    let (ok, output) = run_peer(
        node,
        "tests/peers/node/client.js",
        &[&url, "all", "--deflate"],
    )
    .await;
    assert!(ok, "node client.js all --deflate failed:\n{output}");
    let seen = assert_compressed(&recording, 5);
    eprintln!("node: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_selftest_over_http1_compressed() {
    let (reports_tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (app, arrivals) = wsmachine_integrations::chat::app(Some(reports_tx), stop);
    let server = start(app).await;
    let (relay, recording) = relay(server).await;
    // Chromium speaks HTTP/1.1 to a cleartext origin (no h2c): every
    // WebSocket is an Upgrade on a connection of its own.
    let report = chromium_selftest(&format!("http://{relay}/?selftest=1"), &mut reports).await;
    assert!(
        report.contains("\"extensions:permessage-deflate"),
        "{report}"
    );
    // The page, two /echo sockets and the /report one.
    let arrivals = arrivals.lock().unwrap().clone();
    let paths: Vec<&str> = arrivals.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["/", "/echo", "/echo", "/report"], "{arrivals:?}");
    for arrival in &arrivals {
        assert_eq!(arrival.version, http::Version::HTTP_11, "{arrivals:?}");
        assert!(!arrival.extended_connect, "{arrivals:?}");
    }
    let seen = assert_compressed(&recording, 3);
    eprintln!("chromium: {seen:?}");
}

#[tokio::test]
async fn the_proto_route_selects_chat_when_offered() {
    let server = start(wsmachine_integrations::echo_app()).await;
    let (relay, recording) = relay(server).await;
    let cases: [(&str, &[&str], Option<&str>); 4] = [
        ("/proto", &["chat"], Some("chat")),
        ("/proto", &["superchat", "chat"], Some("chat")),
        ("/proto", &["superchat"], None),
        // The fallback route selects nothing.
        ("/echo", &["chat"], None),
    ];
    for (path, offered, expected) in cases {
        let mut client = ClientBuilder::new(&format!("ws://{relay}{path}"));
        for protocol in offered {
            client = client.protocol(protocol);
        }
        let (mut ws, response) = within("connect", client.connect()).await.unwrap();
        assert_eq!(ws.protocol(), expected, "{path} offered {offered:?}");
        assert_eq!(response.protocol(), expected, "{path} offered {offered:?}");
        ws.send("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    // And on the wire: the 101 names the protocol once, and only where chosen.
    let recorded = recording.lock().unwrap().clone();
    let chosen: Vec<bool> = recorded
        .iter()
        .map(|c| {
            String::from_utf8_lossy(&c.down)
                .to_ascii_lowercase()
                .contains("\r\nsec-websocket-protocol: chat\r\n")
        })
        .collect();
    assert_eq!(chosen, [true, true, false, false]);
}
