//! The chat example over TLS against a real browser: headless Chromium
//! (told to accept the self-signed certificate made at start) loads the
//! page from `https://` and runs its self-test (`/?selftest=1`) over
//! `wss://`, through `chat::serve_on` with `chat::tls_transport`.
//!
//! Needs `/usr/bin/chromium`; `bash .ci/install-peers.sh` installs it.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

#[path = "support/chromium.rs"]
mod chromium;

use chromium::Browser;

#[test]
fn chromium_runs_the_selftest_over_wss() {
    let (port, mut reports, runtime) = chromium::start_server(|listener, reports, stop| {
        let transport = chat::tls_transport(listener.local_addr().expect("address"))
            .expect("TLS with a self-signed certificate");
        chat::serve_on(listener, Some(reports), stop, transport)
    });
    let browser = Browser::launch_with(
        &format!("https://127.0.0.1:{port}/?selftest=1"),
        &["--ignore-certificate-errors"],
    );
    let report = browser.wait_for_report(&runtime, &mut reports);
    drop(browser);
    chromium::assert_selftest_passed(&report);
}
