//! The chat example keeps its word on Ctrl-C: the binary, run as a child
//! process on an ephemeral port, closes every member with 1001 "server
//! shutting down" and exits with status 0.
//!
//! `cargo test` builds the examples next to the test binaries
//! (`target/debug/examples/chat`); this test runs that binary and fails,
//! naming the command to run, when it is missing or older than its source.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wsmachine::blocking::{connect, WebSocket};
use wsmachine::{CloseCode, Message};

/// Every wait in this test gives up after this long.
const LIMIT: Duration = Duration::from_secs(20);

/// The chat example's binary, built by `cargo test` beside this test's.
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/example_chat-HASH -> target/<profile>/examples/chat
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&binary).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{} is missing: run this test through plain `cargo test` (which builds \
             the examples) or `cargo build --example chat` first",
            binary.display()
        );
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in ["examples/chat.rs", "examples/chat.html"] {
        let changed = std::fs::metadata(manifest.join(source))
            .and_then(|m| m.modified())
            .unwrap();
        assert!(
            built >= changed,
            "{} is older than {source}: run `cargo test` or `cargo build --example chat`",
            binary.display()
        );
    }
    binary
}

/// The chat server, killed if the test ends before it exits by itself.
struct ChatProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChatProcess {
    fn start() -> ChatProcess {
        let mut child = Command::new(chat_binary())
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the chat example");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        ChatProcess { child, lines }
    }

    /// Reads stdout until a line satisfies `find`; returns what it gave.
    fn wait_for<T>(&self, what: &str, mut find: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = find(&line) {
                        return found;
                    }
                }
                Err(_) => panic!("the chat example printed no {what} within {LIMIT:?}"),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed: {status}");
    }
}

impl Drop for ChatProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Joins the room as `name` and waits for the welcome.
fn join(addr: &str, name: &str) -> WebSocket<wsmachine::blocking::MaybeTlsStream> {
    let (mut ws, _) = connect(&format!("ws://{addr}/ws")).expect("connect to the chat");
    ws.send(format!("join:{name}")).unwrap();
    let welcome = format!("{{\"type\":\"welcome\",\"name\":\"{name}\"}}");
    loop {
        match ws.recv() {
            Some(Ok(Message::Text(text))) if *text == welcome => return ws,
            Some(Ok(_)) => {}
            other => panic!("{name} was not welcomed: {other:?}"),
        }
    }
}

/// Reads until the connection ends (on another thread, so the test can
/// bound the wait); returns the server's Close and whether the end was clean.
fn until_closed(
    mut ws: WebSocket<wsmachine::blocking::MaybeTlsStream>,
) -> mpsc::Receiver<(Option<(u16, String)>, bool)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let clean = loop {
            match ws.recv() {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("client: {e}");
                    break false;
                }
                None => break true,
            }
        };
        let close = ws
            .close_frame()
            .map(|frame| (frame.code.0, frame.reason.to_string()));
        let _ = tx.send((close, clean));
    });
    rx
}

#[test]
fn ctrl_c_closes_every_member_with_1001_and_exits_0() {
    let mut chat = ChatProcess::start();
    let addr = chat.wait_for("URL line", |line| {
        line.strip_prefix("chat: open http://")?
            .strip_suffix("/ in a browser")
            .map(str::to_owned)
    });

    let members = [join(&addr, "ann"), join(&addr, "bob")];
    let endings: Vec<_> = members.into_iter().map(until_closed).collect();

    chat.interrupt();
    for (name, ending) in ["ann", "bob"].into_iter().zip(endings) {
        let (close, clean) = ending
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("{name}'s connection was not closed within {LIMIT:?}"));
        assert_eq!(
            close,
            Some((CloseCode::GOING_AWAY.0, "server shutting down".to_owned())),
            "{name}"
        );
        assert!(clean, "{name}: the closing handshake completed");
    }
    chat.wait_for("shutdown line", |line| {
        (line == "chat: shutting down").then_some(())
    });

    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = chat.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the chat example did not exit within {LIMIT:?} of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit status after Ctrl-C: {status}");
}
