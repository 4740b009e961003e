//! HTTP/2 (RFC 8441) end to end: hyper's HTTP/2 client opens an extended
//! CONNECT to the axum echo server, with permessage-deflate offered.

use std::time::Duration;
use wsmachine::{CloseCode, Config, Message};

#[tokio::test]
async fn extended_connect_echoes_with_compression() {
    let (listener, addr) = wsmachine_integrations::bind(0).await.unwrap();
    tokio::spawn(wsmachine_integrations::serve(
        listener,
        wsmachine_integrations::echo_app(),
    ));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut sender = wsmachine::hyper::handshake_h2(stream, Duration::from_secs(10))
        .await
        .unwrap();
    let url = format!("ws://{addr}/chat");
    let (mut ws, response) = tokio::time::timeout(
        Duration::from_secs(10),
        wsmachine::hyper::connect_h2(&mut sender, &url, Config::default()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        ws.connection().deflate_params().is_some(),
        "compression negotiated"
    );
    for i in 0..1000usize {
        let text = "x".repeat(i % 3000);
        ws.send(text.clone()).await.unwrap();
        let echo = ws.recv().await.unwrap().unwrap();
        assert_eq!(echo, Message::text(text));
    }
    ws.close(CloseCode(4000), "bye").await.unwrap();
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode(4000)));
}
