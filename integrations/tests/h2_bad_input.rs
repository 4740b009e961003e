//! Bad input over HTTP/2: each request gets its status or stream error,
//! and a WebSocket echoing on the same connection all along survives every
//! one of them. Seen with the raw `h2` client, which sends what it is told.

mod support;

use bytes::Bytes;
use h2::Reason;
use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use wsmachine::{
    ClientRequest, CloseCode, Config, Connection, Message, Negotiated, OwnedEvent, Role,
};

/// The answer to `request` sent with its stream left open: the status,
/// headers and body, or the stream error it got instead.
async fn answer(
    sender: &mut h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
) -> Result<(http::StatusCode, http::HeaderMap, String), h2::Error> {
    let (response, _send) = sender.send_request(request, false).unwrap();
    let response = within("an answer", response).await?;
    let (parts, body) = response.into_parts();
    let (body, _) = read_body(body).await;
    Ok((
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// The WebSocket that must outlive every bad request on its connection.
async fn still_echoes(ws: &mut H2WebSocket, after: &str) {
    let text = format!("still here after {after}");
    ws.send(text.as_str());
    assert_eq!(
        ws.next_message().await,
        Message::text(text),
        "after {after}"
    );
}

fn version_13() -> Vec<(&'static str, String)> {
    vec![("sec-websocket-version", "13".into())]
}

async fn open_survivor(
    sender: &mut h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
) -> H2WebSocket {
    let request = ClientRequest::from_url(&format!("ws://{addr}/echo?survivor")).unwrap();
    H2WebSocket::open(sender, addr, request, Config::default())
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn refused_extended_connects_get_their_status_and_the_connection_goes_on() {
    let addr = start(wsmachine_integrations::echo_app()).await;
    let mut sender = h2_connect(addr).await;
    let mut survivor = open_survivor(&mut sender, addr).await;

    // An unknown :protocol: 501 (RFC 8441 §4).
    let request = extended_connect(addr, "/echo", "webtransport", &version_13());
    let (status, _, body) = answer(&mut sender, request).await.unwrap();
    assert_eq!(status, 501, "{body}");
    still_echoes(&mut survivor, "an unknown :protocol").await;

    // No Sec-WebSocket-Version, then an old one: 426 naming version 13.
    for (what, headers) in [
        ("no version", vec![]),
        ("version 8", vec![("sec-websocket-version", "8".to_owned())]),
    ] {
        let request = extended_connect(addr, "/echo", "websocket", &headers);
        let (status, headers, body) = answer(&mut sender, request).await.unwrap();
        assert_eq!(status, 426, "{what}: {body}");
        assert_eq!(headers["sec-websocket-version"], "13", "{what}");
        still_echoes(&mut survivor, what).await;
    }

    // A subprotocol the route does not choose is declined, not refused;
    // `/proto` chooses `chat` when offered.
    for (path, chosen) in [("/echo", None), ("/proto", Some("chat"))] {
        let request = ClientRequest::from_url(&format!("ws://{addr}{path}"))
            .unwrap()
            .protocol("chat");
        let (mut ws, response) = H2WebSocket::open(&mut sender, addr, request, Config::default())
            .await
            .unwrap();
        assert_eq!(response.protocol(), chosen, "{path}");
        assert_eq!(ws.connection().protocol(), chosen, "{path}");
        ws.send("with a protocol");
        assert_eq!(ws.next_message().await, Message::text("with a protocol"));
        ws.close(CloseCode::NORMAL, "");
        while let Ok(Some(_)) = ws.next().await {}
    }
    still_echoes(&mut survivor, "subprotocols").await;

    // A plain GET to the WebSocket's path over HTTP/2 is no upgrade.
    let (status, _, body) = answer(&mut sender, plain_get(addr, "/echo")).await.unwrap();
    eprintln!("plain GET /echo over HTTP/2: {status} {body:?}");
    assert!(status.is_client_error(), "{status} {body}");
    still_echoes(&mut survivor, "a plain GET").await;

    // A classic CONNECT (no :protocol, only :authority) is no WebSocket.
    let classic = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(addr.to_string())
        .body(())
        .unwrap();
    match answer(&mut sender, classic).await {
        Ok((status, _, body)) => {
            eprintln!("classic CONNECT: {status} {body:?}");
            assert!(!status.is_success(), "{status} {body}");
        }
        Err(e) => eprintln!("classic CONNECT: stream error {e}"),
    }
    still_echoes(&mut survivor, "a classic CONNECT").await;

    survivor.close(CloseCode(4000), "survived");
    match survivor.next().await {
        Ok(Some(OwnedEvent::Message(Message::Close(Some(frame))))) => {
            assert_eq!(frame.code, CloseCode(4000))
        }
        other => panic!("expected the Close, got {other:?}"),
    }
}

/// An extended CONNECT that announces a body (`content-length: 5`): hyper
/// resets its stream with INTERNAL_ERROR, but it does so by returning from
/// its connection's accept loop (hyper 1.12 src/proto/h2/server.rs:286-289,
/// `return Poll::Ready(Ok(()))` where `continue` was meant), which ends the
/// whole HTTP/2 connection: every other stream on it, the WebSocket
/// included, is cut off. Nothing in wsmachine or axum runs before that. The
/// server goes on accepting new connections. This test pins hyper's
/// behaviour: when it fails, hyper has been fixed and the survivor should
/// be expected to survive.
#[tokio::test]
async fn hyper_ends_the_whole_connection_for_a_connect_with_content_length() {
    let addr = start(wsmachine_integrations::echo_app()).await;
    let mut sender = h2_connect(addr).await;
    let mut survivor = open_survivor(&mut sender, addr).await;
    let mut headers = version_13();
    headers.push(("content-length", "5".into()));
    let request = extended_connect(addr, "/echo", "websocket", &headers);
    let error = answer(&mut sender, request).await.unwrap_err();
    // The stream's RST_STREAM and the connection's end arrive together;
    // h2 reports whichever it sees first.
    assert!(
        error.reason() == Some(Reason::INTERNAL_ERROR) || error.is_io(),
        "{error:?}"
    );
    survivor.send("anyone there?");
    let after = survivor.next().await;
    assert!(
        after.is_err(),
        "the survivor survived: hyper fixed? {after:?}"
    );
    // A new connection is served as before.
    let mut sender = h2_connect(addr).await;
    let mut fresh = open_survivor(&mut sender, addr).await;
    still_echoes(&mut fresh, "a new connection").await;
}

/// One masked text frame (a client's), of fewer than 126 bytes.
fn masked_text_frame(text: &str) -> Bytes {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    Bytes::from(frame)
}

/// An app whose `/slow` answers a WebSocket request only after 300 ms, so
/// that DATA the client sends right after its HEADERS is surely there
/// before the 2xx.
fn slow_app() -> axum::Router {
    async fn slow(ws: wsmachine::axum::WebSocketUpgrade) -> axum::response::Response {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ws.on_upgrade(wsmachine_integrations::echo_messages)
    }
    wsmachine_integrations::echo_app().route("/slow", axum::routing::any(slow))
}

/// DATA on the CONNECT's stream before the server's 2xx. RFC 6455 §4.1
/// lets a client send frames only after the server's answer; RFC 9113
/// §8.5 makes every DATA frame after the CONNECT's HEADERS tunnel data.
/// What happens: hyper keeps such DATA in the stream and hands it to the
/// upgraded connection after the 2xx, so wsmachine reads it as the first
/// bytes of the WebSocket (never before the upgrade: the handler decides
/// without it). Refused, the DATA goes with the stream.
#[tokio::test]
async fn data_before_the_2xx_reaches_the_websocket_only_after_the_upgrade() {
    let addr = start(slow_app()).await;
    let mut sender = h2_connect(addr).await;
    let mut survivor = open_survivor(&mut sender, addr).await;

    // A valid frame: echoed once the WebSocket is open.
    let request = extended_connect(addr, "/slow", "websocket", &version_13());
    let (response, mut send) = sender.send_request(request, false).unwrap();
    send.send_data(masked_text_frame("early"), false).unwrap();
    let response = within("the 2xx", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let conn =
        Connection::upgraded_with(Role::Client, Config::default(), Negotiated::new()).unwrap();
    let mut early = H2WebSocket::from_parts(send, response.into_body(), conn);
    assert_eq!(early.next_message().await, Message::text("early"));
    early.send("after");
    assert_eq!(early.next_message().await, Message::text("after"));
    still_echoes(&mut survivor, "a frame before the 2xx").await;

    // Bytes that are no frame (RSV2 and RSV3 set, opcode 8): the WebSocket
    // fails with 1002 once open, and its stream ends.
    let request = extended_connect(addr, "/slow", "websocket", &version_13());
    let (response, mut send) = sender.send_request(request, false).unwrap();
    send.send_data(Bytes::from_static(b"hello"), false).unwrap();
    let response = within("the 2xx", response).await.unwrap();
    assert_eq!(response.status(), 200);
    let conn =
        Connection::upgraded_with(Role::Client, Config::default(), Negotiated::new()).unwrap();
    let mut garbage = H2WebSocket::from_parts(send, response.into_body(), conn);
    match garbage.next().await {
        Ok(Some(OwnedEvent::Message(Message::Close(Some(frame))))) => {
            assert_eq!(frame.code, CloseCode::PROTOCOL_ERROR)
        }
        other => panic!("expected a Close 1002, got {other:?}"),
    }
    let ended = garbage.next().await;
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    still_echoes(&mut survivor, "garbage before the 2xx").await;

    // Refused (no version): 426, and the DATA never reaches a WebSocket.
    let request = extended_connect(addr, "/slow", "websocket", &[]);
    let (response, mut send) = sender.send_request(request, false).unwrap();
    send.send_data(masked_text_frame("never"), false).unwrap();
    let response = within("the 426", response).await.unwrap();
    assert_eq!(response.status(), 426);
    let (body, _) = read_body(response.into_body()).await;
    assert!(!String::from_utf8_lossy(&body).contains("never"));
    still_echoes(&mut survivor, "DATA before a refusal").await;
}

/// A server that does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL: the
/// client can see it, an extended CONNECT sent anyway is reset (h2 treats
/// `:protocol` as malformed then), hyper's `connect_h2` fails instead of
/// hanging, and the connection goes on serving plain requests.
#[tokio::test]
async fn without_the_setting_an_extended_connect_fails_fast() {
    let options = wsmachine_integrations::Options {
        connect_protocol: false,
        ..Default::default()
    };
    let addr = start_with(wsmachine_integrations::echo_app(), options).await;
    let mut sender = h2_connect(addr).await;
    assert!(!sender.is_extended_connect_protocol_enabled());

    let request = extended_connect(addr, "/echo", "websocket", &version_13());
    let error = answer(&mut sender, request).await.unwrap_err();
    assert_eq!(error.reason(), Some(Reason::PROTOCOL_ERROR), "{error}");
    let (status, _, body) = answer(&mut sender, plain_get(addr, "/hello"))
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello over HTTP/2.0\n")
    );

    // wsmachine's handshake waits for the setting, and gives up.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let waited = std::time::Instant::now();
    let result = within(
        "handshake_h2 with a server without the setting",
        wsmachine::hyper::handshake_h2(stream, Duration::from_millis(300)),
    )
    .await;
    assert!(
        matches!(result, Err(wsmachine::WsError::Timeout)),
        "{:?}",
        result.err()
    );
    assert!(waited.elapsed() >= Duration::from_millis(300));
}
