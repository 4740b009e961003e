//! The chat example's server against a real browser: headless Chromium loads
//! the page's self-test (`/?selftest=1`), which echoes text and binary
//! messages of every length encoding through `/echo`, checks both closing
//! handshakes, and reports to `/report`.
//!
//! Needs `/usr/bin/chromium`; `bash .ci/install-peers.sh` installs it.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHROMIUM: &str = "/usr/bin/chromium";
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);
const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

/// Starts the chat server on an ephemeral port in a runtime of its own, so
/// the tests' blocking code does not stall it. Returns its port and the
/// channel its self-test reports arrive on.
fn start_server() -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::runtime::Runtime,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (reports, received) = tokio::sync::mpsc::unbounded_channel();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let (keep_running, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(keep_running);
    runtime.spawn(chat::serve(listener, Some(reports), stop));
    (port, received, runtime)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Chromium, killed with its whole process group (renderers, zygotes) when
/// dropped, also when the test fails.
struct Browser {
    child: Child,
    log: PathBuf,
    // Dropped after the browser is dead (fields drop after `drop` runs).
    _profile: TempDir,
}

impl Browser {
    fn launch(url: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run `bash .ci/install-peers.sh` to install \
             the browser this interop test needs"
        );
        let profile = TempDir::new("wsmachine-chromium");
        let log = profile.0.with_extension("log");
        let stderr = File::create(&log).expect("create chromium log");
        use std::os::unix::process::CommandExt as _;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Browser {
            child,
            log,
            _profile: profile,
        }
    }

    /// The last lines Chromium wrote to stderr, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The browser leads its own process group: end all of it, politely
        // first so it can reap its helpers, then for sure.
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn chromium_runs_the_selftest_against_the_chat_server() {
    let (port, mut reports, runtime) = start_server();
    let browser = Browser::launch(&format!("http://127.0.0.1:{port}/?selftest=1"));
    let report = runtime
        .block_on(async { tokio::time::timeout(REPORT_TIMEOUT, reports.recv()).await })
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "no self-test report from Chromium within {REPORT_TIMEOUT:?}; its log:\n{}",
                browser.log_tail()
            )
        });
    drop(browser);

    assert!(
        report.starts_with("{\"ok\":true,"),
        "the browser's self-test failed: {report}"
    );
    let expected = SIZES
        .iter()
        .flat_map(|n| [format!("text-{n}"), format!("binary-{n}")])
        .chain(["client-close-4000".into(), "server-close-4001".into()]);
    for check in expected {
        assert!(
            report.contains(&format!("\"{check}\"")),
            "check {check} missing from the report: {report}"
        );
    }
    // The self-test page shows its results only, none of the chat UI.
    assert!(
        report.contains("\"chat_ui_visible\":[]"),
        "chat UI on screen during the self-test: {report}"
    );
    // Chromium always offers permessage-deflate; built with it, we accept.
    let compressed = report.contains("\"extensions:permessage-deflate");
    assert_eq!(compressed, cfg!(feature = "deflate"), "{report}");
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
