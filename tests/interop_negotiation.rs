//! The opening handshake done outside the machine (as hyper or axum would
//! do it), then compressed traffic with Python `websockets`, in both roles:
//! `HandshakeRequest::from_parts` + `accept_with` + `Upgrade::write_response`
//! for our server, `ClientHandshake` + `HandshakeResponse::from_parts` +
//! `verify` for our client, and `Connection::upgraded_with` after either.
//! That compression really happened is read off the socket (RSV1 on the
//! frames), not taken from either side's word.

mod support;

use support::outside::{connect_outside, End, OutsideServer, Served};
use support::peer_suite::{echo_every_size, sample_binary, sample_text};
use support::{python, run_peer_client, start_peer_server, Client, Msg, Peer};
use wsmachine::{Config, DeflateConfig, DeflateParams};

/// Messages the `compressible` scenario of py_client.py sends, in order:
/// random 16 KiB twice, compressible 64 KiB text, text and zeros of five
/// sizes, random 100000 bytes, a fragmented 64 KiB text.
const COMPRESSIBLE_MESSAGES: usize = 2 + 1 + 2 * 5 + 1 + 1;

fn params(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    }
}

/// Runs py_client.py's `compressible` scenario against an outside-handshake
/// server; checks the peer passed and the common ground of the report.
fn python_client_compressible(extra: &[&str]) -> (Served, String) {
    let server = OutsideServer::start(Config::default());
    let url = server.url("/negotiation");
    let mut args = vec![url.as_str(), "compressible"];
    args.extend_from_slice(extra);
    let (ok, output) = run_peer_client(python(), "tests/peers/py_client.py", &args);
    assert!(ok, "py_client compressible failed:\n{output}");
    let served = server.next_report();
    assert_eq!(served.target, "/negotiation");
    assert_eq!(served.end, End::PeerClosed(Some(1000)), "{output}");
    assert_eq!(served.echoed, COMPRESSIBLE_MESSAGES);
    let agreed = served.negotiated.deflate();
    assert!(
        agreed.is_some(),
        "permessage-deflate not agreed: {served:?}"
    );
    assert_eq!(
        served.deflate_params, agreed,
        "upgraded_with kept the parameters"
    );
    // websockets compresses every message; RSV1 on each first frame.
    assert_eq!(
        served.wire.received.compressed_messages(),
        COMPRESSIBLE_MESSAGES,
        "{:?}",
        served.wire.received.frames
    );
    // We compress all but the messages under the 32-byte threshold (the
    // 1-byte text and zeros).
    assert_eq!(
        served.wire.sent.compressed_messages(),
        COMPRESSIBLE_MESSAGES - 2,
        "{:?}",
        served.wire.sent.frames
    );
    // The 64 KiB text went out in a small fraction of its size.
    let compressible = served.wire.sent.data_frames()[2];
    assert!(
        compressible.rsv1 && compressible.len < 4096,
        "{compressible:?}"
    );
    (served, output)
}

/// Lengths on the wire of the first two data messages (the same random 16 KiB twice).
fn first_two(frames: &[support::outside::WireFrame]) -> (u64, u64) {
    (frames[0].len, frames[1].len)
}

#[test]
fn python_client_default_offer_through_outside_handshake() {
    let (served, output) = python_client_compressible(&["--deflate"]);
    assert_eq!(
        served.offers,
        ["permessage-deflate; client_max_window_bits"],
        "websockets' default offer"
    );
    assert_eq!(served.deflate_params, Some(params(false, false, 15, 15)));
    assert!(
        output.contains("permessage-deflate negotiated (permessage-deflate)"),
        "{output}"
    );
    // Context takeover both ways: the repeated random 16 KiB is a
    // back-reference the second time, in each direction.
    for (direction, frames) in [
        ("received", served.wire.received.data_frames()),
        ("sent", served.wire.sent.data_frames()),
    ] {
        let (first, second) = first_two(&frames);
        assert!(
            first > 16384 && second < 1024,
            "{direction}: random 16 KiB twice took {first} then {second} bytes"
        );
    }
}

#[test]
fn python_client_offers_server_no_context_takeover_and_client_window_10() {
    let (served, output) = python_client_compressible(&[
        "--offer",
        "server_no_context_takeover; client_max_window_bits=10",
    ]);
    assert_eq!(
        served.offers,
        ["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"]
    );
    assert_eq!(served.deflate_params, Some(params(true, false, 15, 10)));
    assert!(
        output.contains(
            "permessage-deflate negotiated \
             (permessage-deflate; server_no_context_takeover; client_max_window_bits=10)"
        ),
        "{output}"
    );
    // websockets' view: it must not take over our context, it compresses
    // with a 1 KiB window.
    assert!(
        output.contains(
            "PerMessageDeflate(remote_no_context_takeover=True, local_no_context_takeover=False, \
             remote_max_window_bits=15, local_max_window_bits=10)"
        ),
        "{output}"
    );
    // We reset our context after each message: the same message compresses
    // to the same bytes twice.
    let (first, second) = first_two(&served.wire.sent.data_frames());
    assert!(
        first > 16384 && first == second,
        "sent {first} then {second}"
    );
    // Within a 1 KiB window the peer cannot refer back 16 KiB.
    let (first, second) = first_two(&served.wire.received.data_frames());
    assert!(
        first > 16384 && second > 16384,
        "received {first} then {second}"
    );
}

/// Sends `data` twice and checks both echoes; returns the wire lengths of
/// the two messages we sent.
fn send_twice(client: &mut Client, data: &[u8]) -> (u64, u64) {
    let before = client.wire.as_ref().unwrap().sent.data_frames().len();
    for _ in 0..2 {
        client.send_binary(data).unwrap();
        let echo = client.next_message().unwrap();
        assert!(echo == Msg::Binary(data.to_vec()), "not the echo");
    }
    first_two(&client.wire.as_ref().unwrap().sent.data_frames()[before..])
}

/// Connects our client through the outside handshake, with the server's
/// greeting read together with the 101 and fed to the connection; checks
/// the agreed parameters, then echoes of every size. The server lives as
/// long as the `Peer`.
fn our_client_against_python(config: Config, agreed: DeflateParams) -> (Client, Peer) {
    let server = start_peer_server(python(), "tests/peers/py_server.py", &["--deflate"]);
    let (mut client, response, negotiated, early) =
        connect_outside(server.port, "/?greet=early+hello", config, 2).unwrap();
    assert_eq!(response.status(), 101);
    assert!(early > 0, "the greeting came in the same read as the head");
    assert_eq!(negotiated.deflate(), Some(agreed));
    assert_eq!(client.conn.deflate_params(), Some(agreed));
    assert_eq!(
        client.next_message().unwrap(),
        Msg::Text("early hello".into())
    );

    echo_every_size(&mut client, 1);
    let text = sample_text(64 << 10);
    client.send_text(&text).unwrap();
    assert!(client.next_message().unwrap() == Msg::Text(text));
    (client, server)
}

fn close_and_check_wire(mut client: Client, messages: usize) {
    client.close(1000, "done").unwrap();
    assert!(matches!(
        client.next_message().unwrap(),
        Msg::Close(Some(1000), _)
    ));
    let wire = client.wire.take().unwrap();
    // websockets compresses every message it sends, the greeting included.
    assert_eq!(
        wire.received.compressed_messages(),
        messages + 1,
        "{:?}",
        wire.received.frames
    );
    // We compress all but the 0-byte messages (under the 32-byte threshold).
    assert_eq!(
        wire.sent.compressed_messages(),
        messages - 2,
        "{:?}",
        wire.sent.frames
    );
}

/// Messages `our_client_against_python` sends: text and binary of each of
/// the 7 sizes, then 64 KiB of text.
const ECHOED: usize = 2 * 7 + 1;

#[test]
fn our_client_outside_handshake_python_server_compressed() {
    // websockets' server answers with 12-bit windows both ways.
    let (mut client, _server) =
        our_client_against_python(Config::default(), params(false, false, 12, 12));
    let data = sample_binary(2048);
    let (first, second) = send_twice(&mut client, &data);
    assert!(
        first > 2048 && second < 256,
        "with context takeover {first} then {second}"
    );
    close_and_check_wire(client, ECHOED + 2);
}

#[test]
fn our_client_outside_handshake_offers_parameters() {
    let deflate = DeflateConfig {
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let config = Config::default().with_deflate(Some(deflate));
    let (mut client, _server) = our_client_against_python(config, params(false, true, 10, 12));
    let data = sample_binary(2048);
    let (first, second) = send_twice(&mut client, &data);
    assert!(
        first > 2048 && first == second,
        "without context takeover {first} then {second}"
    );
    close_and_check_wire(client, ECHOED + 2);
}
