//! Interop with Node `ws` (installed by `.ci/install-peers.sh`).

mod support;

use support::node;
use support::peer_suite::*;

const NODE: PeerKind = PeerKind {
    program: node,
    client_script: "tests/peers/node/client.js",
    server_script: "tests/peers/node/server.js",
};

#[test]
fn node_client_sizes() {
    peer_client_scenario(&NODE, "sizes");
}

#[test]
fn node_client_fragmented() {
    peer_client_scenario(&NODE, "fragmented");
}

#[test]
fn node_client_ping() {
    peer_client_scenario(&NODE, "ping");
}

#[test]
fn node_client_close() {
    peer_client_scenario(&NODE, "close");
}

#[test]
fn node_client_many() {
    peer_client_scenario(&NODE, "many");
}

#[test]
fn node_client_vanish() {
    peer_client_scenario(&NODE, "vanish");
}

#[test]
fn our_client_node_server_sizes() {
    our_client_sizes(&NODE);
}

#[test]
fn our_client_node_server_fragments_pings_and_commands() {
    our_client_fragments_pings_and_commands(&NODE);
}

#[test]
fn our_client_node_server_vanishes() {
    our_client_sees_a_vanishing_server(&NODE);
}

#[cfg(feature = "deflate")]
#[test]
fn node_client_compressed_all_scenarios() {
    peer_client_scenario_with(&NODE, "all", &["--deflate"]);
}

#[cfg(feature = "deflate")]
#[test]
fn our_client_node_server_compressed_with_context_takeover() {
    our_client_compressed(&NODE, true);
}

#[cfg(feature = "deflate")]
#[test]
fn our_client_node_server_compressed_without_context_takeover() {
    our_client_compressed(&NODE, false);
}
