//! The chat example on axum (`wsmachine_integrations::chat`, the
//! `chat_axum` binary): headless Chromium loads its page over https, where
//! ALPN picks HTTP/2, and runs the page's self-test (`/?selftest=1`) over
//! `wss://` to the same origin; the server records that every WebSocket
//! arrived as an HTTP/2 extended CONNECT (RFC 8441), not an HTTP/1.1
//! Upgrade. And the room itself over HTTP/2: two members on one connection.

mod support;

use support::*;
use wsmachine::{ClientRequest, Config, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_selftest_over_http2_extended_connect() {
    let (reports_tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (listener, addr) = wsmachine_integrations::bind(0).await.unwrap();
    let arrivals = wsmachine_integrations::chat::serve_tls(listener, Some(reports_tx), stop)
        .await
        .unwrap();
    let report = chromium_selftest(&format!("https://{addr}/?selftest=1"), &mut reports).await;
    for check in [
        "text-1048576",
        "binary-1048576",
        "client-close-4000",
        "server-close-4001",
    ] {
        assert!(
            report.contains(&format!("\"{check}\"")),
            "{check}: {report}"
        );
    }
    // Compression over HTTP/2 too.
    assert!(
        report.contains("\"extensions:permessage-deflate\""),
        "{report}"
    );

    // The page came over HTTP/2, and so did every WebSocket: as extended
    // CONNECTs on that connection, none as an Upgrade.
    let arrivals = arrivals.lock().unwrap().clone();
    eprintln!("arrivals: {arrivals:?}");
    let paths: Vec<&str> = arrivals.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["/", "/echo", "/echo", "/report"], "{arrivals:?}");
    for arrival in &arrivals {
        assert_eq!(arrival.version, http::Version::HTTP_2, "{arrivals:?}");
        assert_eq!(
            arrival.extended_connect,
            arrival.path != "/",
            "{arrivals:?}"
        );
    }
}

/// Two members of the room on one cleartext HTTP/2 connection, with a
/// browser's Origin: the Origin rule compares it with the `:authority`.
#[tokio::test]
async fn two_members_chat_over_one_http2_connection() {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (app, arrivals) = wsmachine_integrations::chat::app(None, stop);
    let addr = start(app).await;
    let mut sender = h2_connect(addr).await;
    let member = |origin: String| {
        ClientRequest::from_url(&format!("ws://{addr}/ws"))
            .unwrap()
            .origin(&origin)
    };
    let same_origin = format!("http://{addr}");
    let (mut ann, _) = H2WebSocket::open(
        &mut sender,
        addr,
        member(same_origin.clone()),
        Config::default(),
    )
    .await
    .unwrap();
    let (mut bob, _) = H2WebSocket::open(&mut sender, addr, member(same_origin), Config::default())
        .await
        .unwrap();
    ann.send("join:ann");
    assert_eq!(
        ann.next_message().await,
        Message::text("{\"type\":\"welcome\",\"name\":\"ann\"}")
    );
    bob.send("join:bob");
    assert_eq!(
        bob.next_message().await,
        Message::text("{\"type\":\"welcome\",\"name\":\"bob\"}")
    );
    bob.send("msg:hello over HTTP/2");
    let said = Message::text("{\"type\":\"msg\",\"name\":\"bob\",\"text\":\"hello over HTTP/2\"}");
    for ws in [&mut ann, &mut bob] {
        loop {
            let message = ws.next_message().await;
            if message == said {
                break;
            }
            assert!(
                message
                    .as_text()
                    .is_some_and(|t| t.contains("\"join\"") || t.contains("\"users\"")),
                "{message:?}"
            );
        }
    }

    // Another site's page may not join.
    let (response, _) = sender
        .send_request(
            extended_connect(
                addr,
                "/ws",
                "websocket",
                &[
                    ("sec-websocket-version", "13".into()),
                    ("origin", "http://evil.example".into()),
                ],
            ),
            false,
        )
        .unwrap();
    assert_eq!(within("403", response).await.unwrap().status(), 403);
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(arrivals.iter().all(|a| a.extended_connect), "{arrivals:?}");
}
