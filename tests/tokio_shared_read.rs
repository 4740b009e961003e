//! The tokio front-end reads every connection of a thread into one shared
//! buffer and hands large reads over in place: messages an application
//! keeps stay intact while later reads, on the same connection or another
//! one of the same thread, go into that buffer again; messages larger than
//! the buffer, small ones copied out of it, and text checked in place all
//! arrive as sent.
//!
//! Hermetic: both ends in this process over 127.0.0.1, every wait bounded.

mod testkit;

use std::future::Future;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use wsmachine::tokio::{accept, ClientBuilder, WebSocket};
use wsmachine::{Config, Message};

const TIMEOUT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {TIMEOUT:?}"))
}

/// `count` connections, each a server end accepted on this thread and the
/// client end that talks to it.
async fn pairs(count: usize) -> Vec<(WebSocket<TcpStream>, WebSocket<TcpStream>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut pairs = Vec::new();
    for _ in 0..count {
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            accept(stream, Config::default()).await.unwrap()
        };
        let client = async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let builder = ClientBuilder::new(&format!("ws://{addr}/"));
            builder.connect_on(stream).await.unwrap().0
        };
        pairs.push(within("handshake", async { tokio::join!(server, client) }).await);
    }
    pairs
}

/// The `seq`th message: sizes on both sides of the front-end's thresholds
/// (4 KiB handed over, 16 KiB least room, 64 KiB buffer), text and binary.
fn message(seq: usize) -> Message {
    const SIZES: [usize; 9] = [
        100,
        4095,
        4096,
        5000,
        16 * 1024,
        40_000,
        64 * 1024,
        70_000,
        200_000,
    ];
    let len = SIZES[seq % SIZES.len()];
    let bytes = testkit::filled(len, seq as u64);
    if seq.is_multiple_of(3) {
        let text: String = bytes.iter().map(|b| char::from(b'a' + b % 26)).collect();
        Message::text(text)
    } else {
        Message::binary(bytes)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn kept_messages_stay_intact_while_later_reads_reuse_the_shared_buffer() {
    let mut pairs = pairs(3).await;
    let rounds = 30;
    let mut kept = vec![Vec::new(); pairs.len()];
    for round in 0..rounds {
        // Every client sends before any server reads, so the reads of one
        // round follow each other in the thread's buffer.
        for (i, (_, client)) in pairs.iter_mut().enumerate() {
            within("send", client.send(message(round * 7 + i)))
                .await
                .unwrap();
        }
        for (i, (server, _)) in pairs.iter_mut().enumerate() {
            let got = within("recv", server.recv()).await.unwrap().unwrap();
            // Every other message is kept to the end; the rest are dropped
            // at once, so the buffer is sometimes free to start over.
            if round.is_multiple_of(2) {
                kept[i].push((round * 7 + i, got));
            } else {
                assert_eq!(got, message(round * 7 + i), "round {round}, connection {i}");
            }
        }
    }
    for (i, kept) in kept.iter().enumerate() {
        assert_eq!(kept.len(), rounds.div_ceil(2), "connection {i}");
        for (seq, got) in kept {
            assert_eq!(
                *got,
                message(*seq),
                "message {seq} changed while it was kept"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_echo_of_every_size_comes_back_as_sent() {
    let mut pairs = pairs(2).await;
    for seq in 0..40 {
        let (server, client) = &mut pairs[seq % 2];
        within("send", client.send(message(seq))).await.unwrap();
        let got = within("recv", server.recv()).await.unwrap().unwrap();
        within("echo", server.send(got)).await.unwrap();
        let echoed = within("recv echo", client.recv()).await.unwrap().unwrap();
        assert_eq!(echoed, message(seq), "message {seq}");
    }
}
