//! wsmachine against real Rust peers, over 127.0.0.1: tokio-tungstenite and
//! tokio-websockets, each as the client of our tokio and blocking servers
//! and as the server of our tokio and blocking clients.
//!
//! Test names read `PEER::OUR_SIDE::SCENARIO`: `tungstenite::tokio_server::sizes`
//! is tokio-tungstenite's client against `wsmachine::tokio::accept_with`.
//! The scenarios are in `rust_peers/scenarios.rs`, the peers' script in
//! `rust_peers/peers.rs`, our side in `rust_peers/ours.rs`. Every wait is
//! bounded: each tokio call by `ours::STEP`, each test by `LIMIT`.
//!
//! Run from the repository root: `cargo test -p wsmachine-interop-rust`.

mod ours;
mod peers;
mod scenarios;

/// The example echo server, tested with both peers as its clients.
#[path = "../../../examples/echo_server_tokio.rs"]
#[allow(dead_code)]
mod echo_server_tokio;

use ours::{bounded, Side};
use peers::{PeerKind, PeerSetup, Plan};
use std::time::Duration;

/// The longest one test may take.
const LIMIT: Duration = Duration::from_secs(120);

/// A module per peer, in it a module per side of ours, in it a test per
/// scenario.
macro_rules! peer {
    ($name:ident, $peer:expr) => {
        peer!(@sides $name, $peer,
            tokio_server: TokioServer, tokio_client: TokioClient,
            blocking_server: BlockingServer, blocking_client: BlockingClient);
    };
    (@sides $name:ident, $peer:expr, $($module:ident: $side:ident),*) => {
        mod $name {
            use super::*;
            $(mod $module {
                use super::*;
                peer!(@tests $peer, Side::$side,
                    sizes fragmented ping pipelined close_by_us close_by_peer negotiation);
            })*
        }
    };
    (@tests $peer:expr, $side:expr, $($scenario:ident)*) => {$(
        #[test]
        fn $scenario() {
            bounded(LIMIT, || scenarios::$scenario($peer, $side));
        }
    )*};
}

peer!(tungstenite, PeerKind::Tungstenite);
peer!(tokio_websockets, PeerKind::TokioWebsockets);

/// The peer's client drives `examples/echo_server_tokio.rs`'s `serve`:
/// every size both ways, then its closing handshake.
fn peer_against_example_echo_server(peer: PeerKind) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/echo", listener.local_addr()?);
        let config = std::sync::Arc::new(wsmachine::Config::default());
        tokio::spawn(async move {
            if let Ok((stream, _)) = listener.accept().await {
                echo_server_tokio::serve(stream, config).await;
            }
        });
        let plan = Plan::SendSizes(&scenarios::SIZES);
        let client = peers::client(peer, url, PeerSetup::default(), plan);
        tokio::time::timeout(LIMIT, client)
            .await
            .map_err(std::io::Error::other)
    });
    let report = report.expect("the peer's run");
    assert_eq!(report.error, None);
    let close = report.close.flatten();
    assert_eq!(close, Some((1000, "done".to_owned())), "the server's Close");
}

#[test]
fn tungstenite_client_against_example_echo_server() {
    bounded(LIMIT, || {
        peer_against_example_echo_server(PeerKind::Tungstenite)
    });
}

#[test]
fn tokio_websockets_client_against_example_echo_server() {
    bounded(LIMIT, || {
        peer_against_example_echo_server(PeerKind::TokioWebsockets)
    });
}
