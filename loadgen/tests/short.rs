//! The harness's short mode, as CI runs it: every scenario against both
//! example servers (`echo_server_tokio` and `chat`, built from the
//! examples' own sources as binaries of this package), with a few thousand
//! connections at most and seconds each. A test fails on any lost,
//! duplicated, reordered or corrupted message, a descriptor that does not
//! come back, memory past the bounds each scenario documents, a server
//! that panics or exits, or a client that hangs; the numbers are printed
//! (`cargo test -p wsmachine-loadgen -- --nocapture` shows them on
//! success too). No assertion is on a time or a rate.

use std::sync::{Mutex, PoisonError};
use wsmachine_loadgen::scenario::{Params, Scenario};
use wsmachine_loadgen::server::{Kind, Spec};

/// One scenario at a time: each watches its server's CPU and memory, and
/// the machine may have two CPUs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(scenario: Scenario, kind: Kind) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let binary = match kind {
        Kind::Echo => env!("CARGO_BIN_EXE_echo_server_tokio"),
        Kind::Chat => env!("CARGO_BIN_EXE_chat"),
    };
    let spec = Spec {
        kind,
        binary: binary.into(),
        nofile: None,
    };
    let runtime = wsmachine_loadgen::runtime().expect("runtime");
    let report = runtime.block_on(scenario.run(&spec, &Params::short()));
    println!("{report}");
    assert!(report.passed(), "{report}");
}

/// One test per scenario and server, so that a failure names both.
macro_rules! scenarios {
    ($($test:ident: $scenario:ident against $kind:ident;)*) => {
        $(
            #[test]
            fn $test() {
                run(Scenario::$scenario, Kind::$kind);
            }
        )*
    };
}

scenarios! {
    idle_echo: Idle against Echo;
    idle_chat: Idle against Chat;
    churn_echo: Churn against Echo;
    churn_chat: Churn against Chat;
    hostile_echo: Hostile against Echo;
    hostile_chat: Hostile against Chat;
    fd_limit_echo: FdLimit against Echo;
    fd_limit_chat: FdLimit against Chat;
    relay_echo: Relay against Echo;
    relay_chat: Relay against Chat;
}
