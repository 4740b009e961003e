//! Headless Chromium for the browser suites (`interop_chromium`,
//! `interop_chromium_tls`): launched on a URL with a fresh profile, killed
//! with its process group when dropped; and the checks on the chat page's
//! self-test report.
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(60);
const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

/// Starts a server (`serve(listener, reports, stop)`, the chat example's)
/// on an ephemeral port in a runtime of its own, so the tests' blocking
/// code does not stall it. Returns its port, the channel its self-test
/// reports arrive on, and the runtime.
pub fn start_server<F, Fut>(
    serve: F,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::runtime::Runtime,
)
where
    F: FnOnce(
        tokio::net::TcpListener,
        tokio::sync::mpsc::UnboundedSender<String>,
        tokio::sync::watch::Receiver<bool>,
    ) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
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
    runtime.spawn(serve(listener, reports, stop));
    (port, received, runtime)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
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
pub struct Browser {
    child: Child,
    log: PathBuf,
    // Dropped after the browser is dead (fields drop after `drop` runs).
    _profile: TempDir,
}

impl Browser {
    pub fn launch(url: &str) -> Browser {
        Browser::launch_with(url, &[])
    }

    /// With extra command-line flags (`--ignore-certificate-errors`).
    pub fn launch_with(url: &str, flags: &[&str]) -> Browser {
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
            .args(flags)
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

    /// The self-test's report, or a failure showing Chromium's log.
    pub fn wait_for_report(
        &self,
        runtime: &tokio::runtime::Runtime,
        reports: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> String {
        runtime
            .block_on(async { tokio::time::timeout(REPORT_TIMEOUT, reports.recv()).await })
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "no self-test report from Chromium within {REPORT_TIMEOUT:?}; its log:\n{}",
                    self.log_tail()
                )
            })
    }

    /// The last lines Chromium wrote to stderr, for failure messages.
    pub fn log_tail(&self) -> String {
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

/// The self-test's report says every check passed: text and binary at
/// every length encoding, both closing handshakes, no chat UI on screen,
/// and compression as built.
pub fn assert_selftest_passed(report: &str) {
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
