//! WebSocket over HTTP/2 cleartext (RFC 8441) against the axum echo app:
//! the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, 1,000 messages of mixed
//! sizes and types through `wsmachine::hyper::connect_h2` with compression,
//! the closing handshake ending the stream with END_STREAM (seen with the
//! raw `h2` crate), and several WebSockets plus plain requests multiplexed
//! on one connection.

mod support;

use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Instant;
use support::*;
use wsmachine::{ClientRequest, CloseCode, Config, Message, OwnedEvent};

/// `GET /hello` on `sender`'s connection; returns the body.
async fn hello(sender: &mut HyperSender, addr: SocketAddr) -> String {
    let request = hyper::Request::get(format!("http://{addr}/hello"))
        .body(Empty::new())
        .unwrap();
    let response = within("GET /hello", sender.send_request(request))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// A small xorshift generator: the same messages on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The `i`th of the mixed messages: every tenth one of the frame header's
/// boundary sizes (0, 125, 126, 65535, 65536, 1 MiB), the rest of a size
/// spread evenly over the orders of magnitude up to 64 KiB; text with 1- to
/// 4-byte characters or binary, compressible or not.
fn mixed_message(rng: &mut Rng, i: usize) -> Message {
    const EDGES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];
    let size = if i.is_multiple_of(10) {
        EDGES[(i / 10) % EDGES.len()]
    } else {
        let bits = rng.below(17) as u32;
        (1usize << bits) + rng.below(1 << bits) as usize - 1
    };
    let compressible = rng.below(2) == 0;
    if rng.below(2) == 0 {
        let alphabet: Vec<char> = if compressible {
            "aaaa bbbb é".chars().collect()
        } else {
            "wsmachine é € 😀 ✓ 漢字 h2".chars().collect()
        };
        let mut text = String::with_capacity(size + 4);
        while text.len() < size {
            let c = alphabet[rng.below(alphabet.len() as u64) as usize];
            if text.len() + c.len_utf8() > size {
                text.push('x');
            } else {
                text.push(c);
            }
        }
        Message::text(text)
    } else {
        let bytes: Vec<u8> = (0..size)
            .map(|n| {
                if compressible {
                    (n / 64) as u8
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        Message::binary(bytes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_client_echoes_1000_mixed_messages_compressed_and_closes() {
    let addr = start(wsmachine_integrations::echo_app()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, mut connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    // The server's SETTINGS arrive before its first answer: drive the
    // connection here until then, and ask it what the server announced.
    tokio::select! {
        body = hello(&mut sender, addr) => assert_eq!(body, "hello over HTTP/2.0\n"),
        ended = &mut connection => panic!("the connection ended: {ended:?}"),
    }
    assert!(
        connection.is_extended_connect_protocol_enabled(),
        "the server did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL"
    );
    tokio::spawn(connection);

    let url = format!("ws://{addr}/echo");
    let (mut ws, response) = within(
        "connect_h2",
        wsmachine::hyper::connect_h2(&mut sender, &url, Config::default()),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .extensions()
            .any(|offer| offer.starts_with("permessage-deflate")),
        "{response:?}"
    );
    assert!(ws.connection().deflate_params().is_some());

    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut texts, mut binaries, mut bytes) = (0, 0, 0);
    for i in 0..1000 {
        let message = mixed_message(&mut rng, i);
        match &message {
            Message::Text(_) => texts += 1,
            _ => binaries += 1,
        }
        bytes += message.len();
        ws.send(message.clone()).await.unwrap();
        let echo = within("an echo", ws.recv()).await.unwrap().unwrap();
        assert!(
            echo == message,
            "message {i} ({} bytes) came back changed",
            message.len()
        );
    }
    eprintln!(
        "echoed {texts} text and {binaries} binary messages, {bytes} bytes, in {:?}",
        started.elapsed()
    );
    assert!(texts > 300 && binaries > 300);

    ws.close(CloseCode(4000), "bye over HTTP/2").await.unwrap();
    let close = ws.close_frame().expect("the server's Close");
    assert_eq!(close.code, CloseCode(4000));
    assert_eq!(close.reason, "bye over HTTP/2");
    // The connection goes on after the WebSocket's stream ended.
    assert_eq!(hello(&mut sender, addr).await, "hello over HTTP/2.0\n");
}

/// Opens a WebSocket with the raw `h2` client, echoes, and runs the closing
/// handshake: each side ends its half of the stream with END_STREAM (RFC
/// 8441 §6), and nothing is reset.
#[tokio::test]
async fn the_closing_handshake_ends_the_stream_with_end_stream() {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (chat, _) = wsmachine_integrations::chat::app(None, stop);
    // The echo app for a close we start, the chat app's /echo (`close-me`)
    // for one the server starts.
    let apps = [
        (wsmachine_integrations::echo_app(), false, "/hello"),
        (chat, true, "/stats"),
    ];
    for (app, server_closes, plain_path) in apps {
        let addr = start(app).await;
        let mut sender = h2_connect(addr).await;
        assert!(sender.is_extended_connect_protocol_enabled());
        let request = ClientRequest::from_url(&format!("ws://{addr}/echo")).unwrap();
        let (mut ws, _) = H2WebSocket::open(&mut sender, addr, request, Config::default())
            .await
            .unwrap();
        assert!(ws.connection().deflate_params().is_some());
        for text in ["one", "two", &"three".repeat(1000)] {
            ws.send(text);
            assert_eq!(ws.next_message().await, Message::text(text));
        }
        let expected = if server_closes {
            ws.send("close-me");
            (CloseCode(4001), "server says bye")
        } else {
            ws.close(CloseCode(4000), "client says bye");
            (CloseCode(4000), "client says bye")
        };
        match ws.next().await {
            Ok(Some(OwnedEvent::Message(Message::Close(Some(frame))))) => {
                assert_eq!((frame.code, frame.reason.as_ref()), expected);
            }
            other => panic!("expected the Close, got {other:?}"),
        }
        // Then the server's END_STREAM, no RST_STREAM.
        match ws.next().await {
            Ok(None) => {}
            other => panic!("expected the stream's end, got {other:?}"),
        }
        assert!(ws.end_stream && ws.is_end_stream());
        assert!(ws.sent_end_stream, "our side did not end the stream");
        // The connection is still good for more.
        let (response, _) = sender
            .send_request(plain_get(addr, plain_path), true)
            .unwrap();
        assert_eq!(within("GET", response).await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_websockets_and_plain_requests_share_one_connection() {
    let server = start(wsmachine_integrations::echo_app()).await;
    let (addr, recording) = relay(server).await;
    let sender = hyper_h2(addr).await;
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..4u64 {
        let (mut sender, done) = (sender.clone(), done.clone());
        tokio::spawn(async move {
            let url = format!("ws://{addr}/echo?socket={n}");
            let (mut ws, _) = wsmachine::hyper::connect_h2(&mut sender, &url, Config::default())
                .await
                .unwrap();
            let mut rng = Rng(n + 1);
            for i in 1..=100 {
                let message = mixed_message(&mut rng, i);
                ws.send(message.clone()).await.unwrap();
                assert!(ws.recv().await.unwrap().unwrap() == message);
                if i.is_multiple_of(25) {
                    let _ = done.send(format!("socket {n}: {i} echoed"));
                }
            }
            ws.close(CloseCode(4000 + n as u16), "done").await.unwrap();
            assert_eq!(
                ws.close_frame().map(|f| f.code),
                Some(CloseCode(4000 + n as u16))
            );
            let _ = done.send(format!("socket {n}: closed"));
        });
    }
    drop(done);
    // Plain requests on the same connection while the sockets echo.
    let mut plain = sender.clone();
    let mut events = Vec::new();
    let mut answered = 0;
    loop {
        tokio::select! {
            event = finished.recv() => match event {
                Some(event) => events.push(event),
                None => break,
            },
            body = hello(&mut plain, addr), if answered < 20 => {
                assert_eq!(body, "hello over HTTP/2.0\n");
                answered += 1;
                events.push(format!("GET /hello {answered}"));
            }
        }
    }
    let closed = events.iter().filter(|e| e.ends_with("closed")).count();
    assert_eq!(closed, 4, "a socket's task failed: {events:?}");
    // The plain requests were answered between the sockets' echoes.
    let first_close = events.iter().position(|e| e.ends_with("closed")).unwrap();
    assert!(
        events[..first_close]
            .iter()
            .any(|e| e.starts_with("GET /hello")),
        "{events:?}"
    );
    assert_eq!(
        recording.lock().unwrap().len(),
        1,
        "everything should share one TCP connection"
    );
}
