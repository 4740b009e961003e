//! A second, independent HTTP/2 WebSocket client: Python `h2` for HTTP/2 and
//! `wsproto` for the WebSocket (tests/peers/py_h2_client.py), against the
//! axum echo app over cleartext HTTP/2. It checks the server's SETTINGS,
//! opens an extended CONNECT, echoes text and binary messages up to 1 MiB,
//! reads RSV1 from the raw DATA, and closes; the server must end its side
//! of the stream with END_STREAM. Installed by `bash .ci/install-peers.sh`.

mod support;

use support::*;

async fn py_h2_client(args: &[&str]) -> String {
    let addr = start(wsmachine_integrations::echo_app()).await;
    let url = format!("ws://{addr}{}", args[0]);
    let mut all = vec![url.as_str()];
    all.extend_from_slice(&args[1..]);
    let (ok, output) = run_peer(python(), "tests/peers/py_h2_client.py", &all).await;
    assert!(ok, "py_h2_client.py {args:?} failed:\n{output}");
    for check in [
        "ok   the server's SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1",
        "ok   extended CONNECT answered 200",
        "ok   echoed a text message of 1048576 bytes",
        "ok   echoed a binary message of 1048576 bytes",
        "ok   the server answered the Close with CloseConnection(code=4000, reason='bye from h2')",
        "ok   the server ended its side of the stream with END_STREAM, no RST_STREAM",
    ] {
        assert!(output.contains(check), "missing {check:?}:\n{output}");
    }
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_and_wsproto_compressed_with_a_subprotocol() {
    let output = py_h2_client(&[
        "/proto",
        "--deflate",
        "--protocol",
        "chat",
        "--get",
        "/hello",
    ])
    .await;
    for check in [
        "ok   agreed extensions: permessage-deflate",
        "ok   subprotocol chosen: chat",
        "ok   GET /hello on the same connection: 200",
        "ok   the server compressed messages on the wire",
    ] {
        assert!(output.contains(check), "missing {check:?}:\n{output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_and_wsproto_uncompressed() {
    let output = py_h2_client(&["/echo"]).await;
    assert!(output.contains("ok   subprotocol chosen: None"), "{output}");
    assert!(
        output.contains("ok   nothing compressed without the extension"),
        "{output}"
    );
}
