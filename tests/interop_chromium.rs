//! The chat example's server against a real browser: headless Chromium loads
//! the page's self-test (`/?selftest=1`), which echoes text and binary
//! messages of every length encoding through `/echo`, checks both closing
//! handshakes, and reports to `/report`.
//!
//! Needs `/usr/bin/chromium`; `bash .ci/install-peers.sh` installs it.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

#[path = "support/chromium.rs"]
mod chromium;

use chromium::Browser;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Starts the chat server on an ephemeral port in a runtime of its own, so
/// the tests' blocking code does not stall it. Returns its port and the
/// channel its self-test reports arrive on.
fn start_server() -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::runtime::Runtime,
) {
    chromium::start_server(|listener, reports, stop| chat::serve(listener, Some(reports), stop))
}

#[test]
fn chromium_runs_the_selftest_against_the_chat_server() {
    let (port, mut reports, runtime) = start_server();
    let browser = Browser::launch(&format!("http://127.0.0.1:{port}/?selftest=1"));
    let report = browser.wait_for_report(&runtime, &mut reports);
    drop(browser);

    chromium::assert_selftest_passed(&report);
}

/// Sends `request` on a fresh connection and returns the whole response.
fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    // The server closes after a plain HTTP answer; an upgrade stays open,
    // so read only its head.
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the response to {request:?}: {e}"),
        }
        if response.starts_with(b"HTTP/1.1 101 ") && response.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8(response).expect("UTF-8 response")
}

#[test]
fn plain_http_serves_the_page_and_404s_the_rest() {
    let (port, _reports, _runtime) = start_server();

    let page = http(port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("\r\ncontent-type: text/html; charset=utf-8\r\n"),
        "{page}"
    );
    let (_, body) = page.split_once("\r\n\r\n").expect("head and body");
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(body.contains("new WebSocket"), "{body}");

    let missing = http(port, "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
}

#[test]
fn upgrades_need_a_matching_origin() {
    let (port, _reports, _runtime) = start_server();
    let upgrade = |origin: &str| {
        http(
            port,
            &format!(
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n{origin}\r\n"
            ),
        )
    };
    let same = upgrade(&format!("Origin: http://127.0.0.1:{port}\r\n"));
    assert!(same.starts_with("HTTP/1.1 101 "), "{same}");
    let none = upgrade("");
    assert!(none.starts_with("HTTP/1.1 101 "), "{none}");
    let other = upgrade("Origin: http://evil.example\r\n");
    assert!(other.starts_with("HTTP/1.1 403 "), "{other}");
    let other_port = upgrade(&format!("Origin: http://127.0.0.1:{}\r\n", port ^ 1));
    assert!(other_port.starts_with("HTTP/1.1 403 "), "{other_port}");
}

/// Serves `page` to every GET on an ephemeral port (another origin than the
/// chat's) and sends the query string of each `GET /result?...` the page
/// makes to the returned channel.
fn page_server(page: String) -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (results, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut head = [0u8; 4096];
            let n = stream.read(&mut head).unwrap_or(0);
            let head = String::from_utf8_lossy(&head[..n]).into_owned();
            let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let body = match target.strip_prefix("/result?") {
                Some(result) => {
                    let _ = results.send(result.to_owned());
                    String::new()
                }
                None => page.clone(),
            };
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (port, received)
}

/// A page from another origin (another port of the same host) opens a
/// WebSocket to the chat in a real browser: the chat answers 403
/// (`OriginPolicy::SameHost`), so the socket never opens; the page reports
/// what it saw to its own server. The same page reaches the chat's own
/// page over plain HTTP, so the refusal is the Origin check's, not the
/// network's.
#[test]
fn chromium_on_a_page_of_another_origin_is_refused() {
    let (port, _reports, _runtime) = start_server();
    let page = format!(
        "<!doctype html><script>\n\
         const report = (what) => fetch('/result?' + what);\n\
         fetch('http://127.0.0.1:{port}/', {{mode: 'no-cors'}})\n\
             .then(() => report('reachable'), () => report('unreachable'));\n\
         const ws = new WebSocket('ws://127.0.0.1:{port}/ws');\n\
         ws.onopen = () => report('opened');\n\
         ws.onclose = (e) => report('closed-' + e.code);\n\
         </script>"
    );
    let (page_port, results) = page_server(page);
    let browser = Browser::launch(&format!("http://127.0.0.1:{page_port}/"));
    let mut outcomes: Vec<String> = (0..2)
        .map(|_| {
            results
                .recv_timeout(chromium::REPORT_TIMEOUT)
                .unwrap_or_else(|_| {
                    panic!(
                        "no result from the page; Chromium's log:\n{}",
                        browser.log_tail()
                    )
                })
        })
        .collect();
    drop(browser);
    outcomes.sort();
    // 1006: the handshake failed (the browser does not tell a page why).
    assert_eq!(outcomes, ["closed-1006", "reachable"]);
}
