//! Size limits mean what the application receives, with and without
//! permessage-deflate: real peers send incompressible messages at, under and
//! over `max_frame_size` and `max_message_size` to a `wsmachine` echo
//! server. At and under a limit the echo comes back intact; over it the
//! server closes with 1009. Every run is held to the same table of
//! outcomes, so they are the same whether or not the messages were
//! compressed (random data grows slightly when deflated) and however the
//! peer's compressor is tuned.

mod support;

use std::path::PathBuf;
use support::outside::{End, OutsideServer};
use support::{node, python, run_peer_client};
use wsmachine::{Config, DeflateConfig, Error};

const FRAME_LIMIT: usize = 256 << 10;
const MESSAGE_LIMIT: usize = 1 << 20;

/// A client program that sends the cases (`SIZExFRAMES`) and reports
/// `RESULT <case> echo|closed <code>|error ...` (see tests/peers/README.md).
struct LimitsPeer {
    program: fn() -> PathBuf,
    script: &'static str,
}

const PYTHON: LimitsPeer = LimitsPeer {
    program: python,
    script: "tests/peers/py_limits.py",
};

const NODE: LimitsPeer = LimitsPeer {
    program: node,
    script: "tests/peers/node/limits.js",
};

/// One message to send and what must come of it.
struct Case {
    size: usize,
    frames: usize,
    /// `None`: echoed intact; `Some(error)`: the server fails with this
    /// error and the peer sees Close 1009.
    refused: Option<Error>,
}

impl Case {
    fn name(&self) -> String {
        format!("{}x{}", self.size, self.frames)
    }
}

/// Single frames around the frame limit, fragmented messages (each
/// fragment within the frame limit) around the message limit.
fn cases() -> Vec<Case> {
    let case = |size, frames, refused| Case {
        size,
        frames,
        refused,
    };
    vec![
        case(FRAME_LIMIT - 1, 1, None),
        case(FRAME_LIMIT, 1, None),
        case(FRAME_LIMIT + 1, 1, Some(Error::FrameTooLarge)),
        case(MESSAGE_LIMIT - 1, 5, None),
        // Four fragments of exactly the frame limit make exactly the message limit.
        case(MESSAGE_LIMIT, 4, None),
        case(MESSAGE_LIMIT + 1, 5, Some(Error::MessageTooLarge)),
    ]
}

/// Runs every case from `peer` against a fresh limited server (accepting
/// compression as `server_deflate` says) and checks both ends: what the peer
/// saw and how our server ended each connection.
fn check_limits_with(
    peer: &LimitsPeer,
    server_deflate: DeflateConfig,
    deflate: bool,
    extra: &[&str],
) {
    let config = Config::default()
        .with_max_frame_size(FRAME_LIMIT)
        .with_max_message_size(MESSAGE_LIMIT)
        .with_deflate(Some(server_deflate));
    let server = OutsideServer::start(config);
    let cases = cases();
    let names: Vec<String> = cases.iter().map(Case::name).collect();
    let base = server.url("");
    let mut args = vec![base.as_str()];
    if deflate {
        args.push("--deflate");
    }
    args.extend_from_slice(extra);
    args.extend(names.iter().map(String::as_str));
    let (ok, output) = run_peer_client((peer.program)(), peer.script, &args);
    assert!(ok, "limits peer failed:\n{output}");
    let served = server.reports_by_target(cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.name();
        let outcome = output
            .lines()
            .find_map(|line| line.strip_prefix(&format!("RESULT {name} ")))
            .unwrap_or("missing");
        let want = match case.refused {
            None => "echo",
            Some(_) => "closed 1009",
        };
        if outcome != want {
            failures.push(format!("{name}: peer saw `{outcome}`, want `{want}`"));
        }
        let report = &served[&format!("/{name}")];
        let want_end = match case.refused {
            None => End::PeerClosed(Some(1000)),
            Some(error) => End::Failed(error),
        };
        if report.end != want_end {
            failures.push(format!(
                "{name}: server ended with {:?}, want {want_end:?}",
                report.end
            ));
        }
        // Compression must really have happened (or not): RSV1 on the
        // message's first frame as it crossed the socket.
        let first = report.wire.received.data_frames().first().copied();
        if first.map(|f| f.rsv1) != Some(deflate) {
            failures.push(format!(
                "{name}: first data frame on the wire {first:?}, want RSV1 {deflate}"
            ));
        }
        assert_eq!(report.negotiated.deflate().is_some(), deflate, "{name}");
    }
    assert!(
        failures.is_empty(),
        "limits (frame {FRAME_LIMIT}, message {MESSAGE_LIMIT}, deflate {deflate}):\n  {}\npeer output:\n{output}",
        failures.join("\n  ")
    );
}

fn check_limits(peer: &LimitsPeer, deflate: bool, extra: &[&str]) {
    check_limits_with(peer, DeflateConfig::default(), deflate, extra);
}

#[test]
fn python_limits_uncompressed() {
    check_limits(&PYTHON, false, &[]);
}

#[test]
fn python_limits_compressed() {
    check_limits(&PYTHON, true, &[]);
}

/// zlib with `memLevel=1` (a valid choice, websockets' `compress_settings`)
/// flushes a deflate block every 127 symbols; incompressible data then goes
/// in stored blocks of 127 bytes plus 5 of framing, about 4% more on the
/// wire. The content is still within the limits.
///
/// Fails for now: frames and messages at and just under the limits are
/// refused with 1009 before they are inflated, as their wire length passes
/// `compressed_bound(limit)` = limit + limit/32 + 64 (receive/frames.rs).
#[test]
fn python_limits_compressed_small_deflate_blocks() {
    check_limits(&PYTHON, true, &["--mem-level", "1"]);
}

/// Our `DeflateConfig::low_memory()` asks the client for a 512-byte window;
/// websockets' documentation suggests `memLevel: 4` to save memory. zlib
/// then cannot store blocks (they have left the window) and codes random
/// bytes with Huffman codes, about 5% more on the wire.
///
/// Fails for now, like the test above.
#[test]
fn python_limits_compressed_low_memory_server_mem_level_4_client() {
    check_limits_with(
        &PYTHON,
        DeflateConfig::low_memory(),
        true,
        &["--mem-level", "4"],
    );
}

#[test]
fn node_limits_uncompressed() {
    check_limits(&NODE, false, &[]);
}

#[test]
fn node_limits_compressed() {
    check_limits(&NODE, true, &[]);
}
