//! A load and fault harness for wsmachine's tokio servers: the examples
//! `echo_server_tokio` and `chat`, run as child processes on 127.0.0.1.
//!
//! Five scenarios ([`scenario::Scenario`]): idle connections, churn, slow
//! and hostile clients among good ones, running out of file descriptors,
//! and a relay that mangles TCP segmentation. Every message a good client
//! sends carries its connection's id, a sequence number and a CRC-32
//! ([`wire`]), so loss, duplication, reordering and corruption are counted
//! ([`ledger`]). The server is watched through `/proc` ([`sys`]): resident
//! memory, CPU time, open descriptors.
//!
//! Each scenario is bounded in count and time ([`scenario::Params`]: a
//! short mode for CI, a long one for measurements) and returns a
//! [`scenario::Report`]: named numbers, and the checks that failed. The
//! `loadgen` binary runs them from the command line; `tests/short.rs` runs
//! the short mode of every one against both servers.

pub mod client;
pub mod hold;
pub mod hostile;
pub mod ledger;
pub mod relay;
pub mod scenario;
pub mod server;
pub mod sys;
pub mod wire;

/// A current-thread runtime for the harness (the server under test has the
/// machine's other CPU), with its descriptor limit raised to the hard limit.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    sys::raise_nofile()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
