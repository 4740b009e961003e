//! Interop with Python `websockets` (installed by `.ci/install-peers.sh`).

mod support;

use support::peer_suite::*;
use support::python;

const PYTHON: PeerKind = PeerKind {
    program: python,
    client_script: "tests/peers/py_client.py",
    server_script: "tests/peers/py_server.py",
};

#[test]
fn python_client_sizes() {
    peer_client_scenario(&PYTHON, "sizes");
}

#[test]
fn python_client_fragmented() {
    peer_client_scenario(&PYTHON, "fragmented");
}

#[test]
fn python_client_ping() {
    peer_client_scenario(&PYTHON, "ping");
}

#[test]
fn python_client_close() {
    peer_client_scenario(&PYTHON, "close");
}

#[test]
fn python_client_many() {
    peer_client_scenario(&PYTHON, "many");
}

#[test]
fn python_client_vanish() {
    peer_client_scenario(&PYTHON, "vanish");
}

#[test]
fn our_client_python_server_sizes() {
    our_client_sizes(&PYTHON);
}

#[test]
fn our_client_python_server_fragments_pings_and_commands() {
    our_client_fragments_pings_and_commands(&PYTHON);
}

#[test]
fn our_client_python_server_vanishes() {
    our_client_sees_a_vanishing_server(&PYTHON);
}

#[cfg(feature = "deflate")]
#[test]
fn python_client_compressed_all_scenarios() {
    peer_client_scenario_with(&PYTHON, "all", &["--deflate"]);
}

#[cfg(feature = "deflate")]
#[test]
fn our_client_python_server_compressed_with_context_takeover() {
    our_client_compressed(&PYTHON, true);
}

#[cfg(feature = "deflate")]
#[test]
fn our_client_python_server_compressed_without_context_takeover() {
    our_client_compressed(&PYTHON, false);
}
