//! The HTTP/2 handshake's fine print: the client waits for the server's
//! SETTINGS_ENABLE_CONNECT_PROTOCOL before its extended CONNECT, and the
//! server reads the request's `:authority` as its host.

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use wsmachine::{ClientRequest, CloseCode, Config, Message};

/// RFC 8441 §3: a client may use the extended CONNECT only once it has
/// received SETTINGS_ENABLE_CONNECT_PROTOCOL = 1. A relay holds the
/// server's first bytes (its SETTINGS) back for a moment; `handshake_h2`
/// (hyper's own handshake returns before the server's settings are read)
/// must hand out its sender only once they came, so `connect_h2` sends no
/// HEADERS before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_h2_waits_for_the_servers_settings() {
    let server = start(wsmachine_integrations::echo_app()).await;
    let (addr, early_headers) = settings_delaying_relay(server, Duration::from_millis(500)).await;
    let mut sender = hyper_h2(addr).await;
    let url = format!("ws://{addr}/echo");
    let (mut ws, _) = within(
        "connect_h2",
        wsmachine::hyper::connect_h2(&mut sender, &url, Config::default()),
    )
    .await
    .unwrap();
    ws.send("hi").await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let early = *early_headers.lock().unwrap();
    assert_eq!(
        early, 0,
        "connect_h2 sent its extended CONNECT (a HEADERS frame) before the server's \
         SETTINGS had arrived"
    );
}

/// A relay that forwards the client's bytes at once but the server's only
/// after `delay`, and counts the HEADERS frames the client sent before the
/// first of the server's bytes went through.
async fn settings_delaying_relay(
    target: SocketAddr,
    delay: Duration,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let early = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let counted = early.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = tokio::net::TcpStream::connect(target).await.unwrap();
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen_release = released.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 << 10];
            let mut up = Vec::new();
            while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                if !seen_release.load(std::sync::atomic::Ordering::SeqCst) {
                    up.extend_from_slice(&buf[..n]);
                    *counted.lock().unwrap() = count_headers_frames(&up);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        tokio::time::sleep(delay).await;
        released.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    (addr, early)
}

/// HEADERS frames (type 1) in a client's byte stream, after the preface.
fn count_headers_frames(bytes: &[u8]) -> usize {
    const PREFACE: usize = 24;
    let mut rest = bytes.get(PREFACE..).unwrap_or_default();
    let mut headers = 0;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        headers += usize::from(rest[3] == 1);
        rest = rest.get(9 + len..).unwrap_or_default();
    }
    headers
}

/// RFC 9113 §8.3.1: an HTTP/2 request's `:authority` is what HTTP/1.1's
/// Host is, and hyper keeps it in the request's URI. The extractor's
/// `request().host()` gives it, as it gives Host over HTTP/1.1, so that an
/// Origin check against the host (RFC 6455 §10.2, `OriginPolicy::SameHost`)
/// works over both.
#[tokio::test]
async fn the_extractor_reads_the_authority_as_the_host() {
    async fn host(ws: wsmachine::axum::WebSocketUpgrade) -> axum::response::Response {
        let host = format!("{:?}", ws.request().host());
        ws.on_upgrade(move |mut socket| async move {
            let _ = socket.send(host).await;
            wsmachine_integrations::echo_messages(socket).await;
        })
    }
    let app = axum::Router::new().route("/host", axum::routing::any(host));
    let addr = start(app).await;
    let expected = format!("{:?}", Some(addr.to_string()));

    let (mut ws, _) = within(
        "an HTTP/1.1 upgrade",
        wsmachine::tokio::connect(&format!("ws://{addr}/host")),
    )
    .await
    .unwrap();
    let over_http1 = ws.recv().await.unwrap().unwrap();
    assert_eq!(
        over_http1.as_text(),
        Some(expected.as_str()),
        "over HTTP/1.1"
    );

    let mut sender = h2_connect(addr).await;
    let request = ClientRequest::from_url(&format!("ws://{addr}/host")).unwrap();
    let (mut ws, _) = H2WebSocket::open(&mut sender, addr, request, Config::default())
        .await
        .unwrap();
    let over_http2 = ws.next_message().await;
    assert_eq!(over_http2.as_text(), Some(expected.as_str()), "over HTTP/2");
}

/// A subprotocol offered over HTTP/2 through `connect_h2_request` is
/// agreed by a route that supports it, and not by one that does not.
#[tokio::test]
async fn connect_h2_request_offers_a_subprotocol() {
    let addr = start(wsmachine_integrations::echo_app()).await;
    let mut sender = hyper_h2(addr).await;
    for (path, agreed) in [("/proto", Some("chat")), ("/echo", None)] {
        let request = ClientRequest::from_url(&format!("ws://{addr}{path}"))
            .unwrap()
            .protocol("chat");
        let (mut ws, response) = within(
            "connect_h2_request",
            wsmachine::hyper::connect_h2_request(&mut sender, request, Config::default()),
        )
        .await
        .unwrap();
        assert_eq!(response.protocol(), agreed, "{path}");
        assert_eq!(ws.protocol(), agreed, "{path}");
        ws.send("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
}
