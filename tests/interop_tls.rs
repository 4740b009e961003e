//! wss:// against Python `websockets` in both roles, with certificates
//! made per run (`wsmachine::tls::self_signed`, handed to Python as PEM
//! files), and the TLS failures a client must name: a certificate for
//! another name, an expired one, an unknown issuer, an alert or a cut in
//! the middle of a message, a server that does not speak TLS.
//!
//! Needs the Python peers (`bash .ci/install-peers.sh`); see
//! tests/peers/README.md for `--cert`/`--key` and `--ca`.

mod support;
mod tlskit;

#[path = "../examples/wss_sansio.rs"]
#[allow(dead_code)]
mod wss_sansio;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::peer_suite::{sample_binary, sample_text};
use support::{python, run_peer_client, start_peer_server, Peer};
use tlskit::{spawn_blocking_tls_echo, spawn_threads, spawn_tokio_tls_echo, Identity, TestCa};
use wsmachine::tls::rustls::{self, ClientConfig};
use wsmachine::{CloseCode, Config, Message, WsError};

/// Sizes echoed through the Python server: every header length, up to
/// 16 MiB (our default `max_frame_size`, which a single frame may reach).
const SIZES: [usize; 8] = [0, 125, 126, 65535, 65536, 1 << 20, (1 << 20) + 1, 16 << 20];

/// Longest any single test may take.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Longest a failing connection attempt may take before the test calls it a hang.
const FAIL_LIMIT: Duration = Duration::from_secs(10);

fn config(deflate: bool) -> Config {
    if deflate {
        Config::default()
    } else {
        Config::default().with_deflate(None)
    }
}

/// Runs `f` on a thread of its own and fails the test if it takes longer
/// than `limit` (the thread is left behind; the peers it talks to die with
/// the test).
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("hung: no result within {limit:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A Python `websockets` echo server speaking TLS with a certificate made now.
struct PythonTlsServer {
    peer: Peer,
    identity: Identity,
}

fn python_tls_server(deflate: bool) -> PythonTlsServer {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let files = identity.pem_files();
    let mut args = vec!["--cert", files.cert.path(), "--key", files.key.path()];
    if deflate {
        args.push("--deflate");
    }
    let peer = start_peer_server(python(), "tests/peers/py_server.py", &args);
    PythonTlsServer { peer, identity }
}

// ------------------------------------------------ our clients, Python's server

async fn tokio_client_checks(url: &str, tls: Arc<ClientConfig>, deflate: bool) {
    use wsmachine::tokio::{ClientBuilder, MaybeTlsStream};
    let connect = || {
        ClientBuilder::new(url)
            .no_proxy()
            .tls_config(tls.clone())
            .config(config(deflate))
            .connect()
    };
    let (mut ws, response) = connect().await.expect("wss:// connect");
    assert_eq!(response.status(), 101);
    assert!(matches!(ws.get_ref(), MaybeTlsStream::Rustls(_)));
    assert_eq!(ws.connection().deflate_params().is_some(), deflate);

    for size in SIZES {
        let text = sample_text(size);
        ws.send(text.as_str()).await.unwrap();
        let echo = ws.recv().await.expect("text echo").unwrap();
        assert!(
            echo.as_text() == Some(text.as_str()),
            "text of {size} bytes"
        );
        let data = sample_binary(size);
        ws.send(data.clone()).await.unwrap();
        let echo = ws.recv().await.expect("binary echo").unwrap();
        assert!(
            matches!(&echo, Message::Binary(b) if b[..] == data[..]),
            "binary of {size} bytes"
        );
    }
    // The server's fragmented message (code points cut between frames).
    let long = sample_text(100_000);
    ws.send(format!("cmd:fragments:7:{long}")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap().as_text(), Some(&*long));
    // Our pings and their round-trip times; their ping, our automatic pong.
    for payload in [&b""[..], b"rtt", &[7u8; 125]] {
        let rtt = ws.ping(payload).await.expect("pong");
        assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
    }
    assert!(ws.latency().is_some());
    ws.send("cmd:ping:are-you-there").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap().as_text(),
        Some("pong:are-you-there")
    );
    // We close with a code and reason; they answer with the code.
    ws.close(CloseCode(4000), "client bye")
        .await
        .expect("close");
    let frame = ws.close_frame().expect("their Close");
    assert_eq!(frame.code, CloseCode(4000));
    assert!(["", "client bye"].contains(&&*frame.reason), "{frame:?}");

    // They close with a code and reason.
    let (mut ws, _) = connect().await.expect("second connect");
    ws.send("cmd:close:4002:server bye").await.unwrap();
    assert!(ws.recv().await.is_none(), "a clean close");
    let frame = ws.close_frame().expect("their Close");
    assert_eq!(
        (frame.code, &*frame.reason),
        (CloseCode(4002), "server bye")
    );
}

fn blocking_client_checks(url: &str, tls: Arc<ClientConfig>, deflate: bool) {
    use wsmachine::blocking::{ClientBuilder, MaybeTlsStream};
    let connect = || {
        ClientBuilder::new(url)
            .no_proxy()
            .tls_config(tls.clone())
            .config(config(deflate))
            .connect()
    };
    let (mut ws, response) = connect().expect("wss:// connect");
    assert_eq!(response.status(), 101);
    assert!(matches!(ws.get_ref(), MaybeTlsStream::Rustls(_)));
    assert_eq!(ws.connection().deflate_params().is_some(), deflate);

    for size in SIZES {
        let text = sample_text(size);
        ws.send(text.as_str()).unwrap();
        let echo = ws.recv().expect("text echo").unwrap();
        assert!(
            echo.as_text() == Some(text.as_str()),
            "text of {size} bytes"
        );
        let data = sample_binary(size);
        ws.send(data.clone()).unwrap();
        let echo = ws.recv().expect("binary echo").unwrap();
        assert!(
            matches!(&echo, Message::Binary(b) if b[..] == data[..]),
            "binary of {size} bytes"
        );
    }
    let long = sample_text(100_000);
    ws.send(format!("cmd:fragments:7:{long}")).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap().as_text(), Some(&*long));
    for payload in [&b""[..], b"rtt", &[7u8; 125]] {
        let rtt = ws.ping(payload).expect("pong");
        assert!(rtt < Duration::from_secs(5), "rtt {rtt:?}");
    }
    assert!(ws.latency().is_some());
    ws.send("cmd:ping:are-you-there").unwrap();
    assert_eq!(
        ws.recv().unwrap().unwrap().as_text(),
        Some("pong:are-you-there")
    );
    ws.close(CloseCode(4000), "client bye").expect("close");
    let frame = ws.close_frame().expect("their Close");
    assert_eq!(frame.code, CloseCode(4000));
    assert!(["", "client bye"].contains(&&*frame.reason), "{frame:?}");

    let (mut ws, _) = connect().expect("second connect");
    ws.send("cmd:close:4002:server bye").unwrap();
    assert!(ws.recv().is_none(), "a clean close");
    let frame = ws.close_frame().expect("their Close");
    assert_eq!(
        (frame.code, &*frame.reason),
        (CloseCode(4002), "server bye")
    );
}

fn tokio_client_against_python(deflate: bool) {
    let server = python_tls_server(deflate);
    let url = format!("wss://localhost:{}/", server.peer.port);
    let tls = server.identity.client_config();
    runtime().block_on(async {
        tokio::time::timeout(TEST_LIMIT, tokio_client_checks(&url, tls, deflate))
            .await
            .expect("within the limit")
    });
}

fn blocking_client_against_python(deflate: bool) {
    let server = python_tls_server(deflate);
    let url = format!("wss://127.0.0.1:{}/", server.peer.port);
    let tls = server.identity.client_config();
    bounded(TEST_LIMIT, move || {
        blocking_client_checks(&url, tls, deflate)
    });
    drop(server);
}

#[test]
fn tokio_client_python_tls_server() {
    tokio_client_against_python(false);
}

#[test]
fn tokio_client_python_tls_server_compressed() {
    tokio_client_against_python(true);
}

#[test]
fn blocking_client_python_tls_server() {
    blocking_client_against_python(false);
}

#[test]
fn blocking_client_python_tls_server_compressed() {
    blocking_client_against_python(true);
}

/// The tokio front-end's split over TLS: one task sends 200 messages of
/// growing size (up to 100 KiB) and pings while the other reads the
/// echoes, then the send half closes and the receive half sees the answer.
#[test]
fn tokio_split_halves_over_wss() {
    let server = python_tls_server(true);
    let url = format!("wss://localhost:{}/", server.peer.port);
    let tls = server.identity.client_config();
    runtime().block_on(async move {
        let work = async {
            let (mut rx, tx) = tokio_connect(&url, tls).await.split();
            let sender = tokio::spawn(async move {
                for i in 0..200 {
                    tx.send(sample_binary(i * 512)).await.unwrap();
                    if i % 50 == 0 {
                        tx.ping(b"split").await.unwrap();
                    }
                }
                tx
            });
            for i in 0..200 {
                let echo = rx.recv().await.expect("an echo").unwrap();
                assert!(echo.as_bytes() == sample_binary(i * 512), "echo {i}");
            }
            let tx = sender.await.unwrap();
            tx.close(CloseCode(4000), "split bye").await.unwrap();
            assert!(rx.recv().await.is_none(), "a clean close");
            assert_eq!(rx.close_frame().expect("their Close").code, CloseCode(4000));
        };
        tokio::time::timeout(TEST_LIMIT, work)
            .await
            .expect("within the limit")
    });
}

// ------------------------------------------------ Python's client, our servers

/// Runs py_client.py's scenarios against `addr` over wss://, trusting only
/// `identity`; then a client that vanishes, after which the server must
/// still serve.
fn python_client_against(addr: SocketAddr, identity: &Identity) {
    let files = identity.pem_files();
    let url = format!("wss://localhost:{}/echo", addr.port());
    for extra in [&[][..], &["--deflate"]] {
        let mut args = vec![url.as_str(), "all", "--ca", files.cert.path()];
        args.extend_from_slice(extra);
        let (ok, output) = run_peer_client(python(), "tests/peers/py_client.py", &args);
        assert!(ok, "py_client {args:?} failed:\n{output}");
        if extra.is_empty() {
            assert!(!output.contains("permessage-deflate"), "{output}");
        } else {
            assert!(output.contains("permessage-deflate negotiated"), "{output}");
        }
    }
    let args = [url.as_str(), "vanish", "--ca", files.cert.path()];
    let (ok, output) = run_peer_client(python(), "tests/peers/py_client.py", &args);
    assert!(ok, "py_client vanish failed:\n{output}");
    // The server still serves.
    echo_once(&url, identity.client_config(), "after vanish");
}

/// A tokio wss:// connection trusting `tls`, directly.
async fn tokio_connect(
    url: &str,
    tls: Arc<ClientConfig>,
) -> wsmachine::tokio::WebSocket<wsmachine::tokio::MaybeTlsStream> {
    let connect = wsmachine::tokio::ClientBuilder::new(url)
        .no_proxy()
        .tls_config(tls)
        .connect();
    let (ws, _) = connect.await.unwrap_or_else(|e| panic!("{url}: {e}"));
    ws
}

/// One message echoed over a fresh blocking wss:// connection trusting `tls`.
fn echo_once(url: &str, tls: Arc<ClientConfig>, text: &'static str) {
    let url = url.to_owned();
    bounded(FAIL_LIMIT, move || {
        let (mut ws, _) = wsmachine::blocking::ClientBuilder::new(&url)
            .no_proxy()
            .tls_config(tls)
            .connect()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        ws.send(text).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap().as_text(), Some(text));
    });
}

#[test]
fn python_tls_client_tokio_server() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let addr = spawn_tokio_tls_echo(identity.server_config(), Config::default());
    python_client_against(addr, &identity);
}

#[test]
fn python_tls_client_blocking_server() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let addr = spawn_blocking_tls_echo(identity.server_config(), Config::default());
    python_client_against(addr, &identity);
}

#[test]
fn python_tls_client_wss_sansio_example() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let tls = identity.server_config();
    let addr = spawn_threads(move |tcp| {
        let _ = wss_sansio::serve(tcp, tls.clone());
    });
    python_client_against(addr, &identity);
}

// ---------------------------------------------------------------- bad input

/// What each front-end's connect gives for `url`, trusting `tls`, within
/// `FAIL_LIMIT` (3 s connect timeout).
fn connect_errors(url: &str, tls: Arc<ClientConfig>) -> [WsError; 2] {
    let tokio_error = {
        let (url, tls) = (url.to_owned(), tls.clone());
        runtime().block_on(async move {
            let attempt = wsmachine::tokio::ClientBuilder::new(&url)
                .no_proxy()
                .tls_config(tls)
                .connect_timeout(Duration::from_secs(3))
                .handshake_timeout(Duration::from_secs(3))
                .connect();
            match tokio::time::timeout(FAIL_LIMIT, attempt).await {
                Ok(Ok(_)) => panic!("tokio: {url} connected"),
                Ok(Err(error)) => error,
                Err(_) => panic!("tokio: {url} hung"),
            }
        })
    };
    let url = url.to_owned();
    let blocking_error = bounded(
        FAIL_LIMIT,
        move || match wsmachine::blocking::ClientBuilder::new(&url)
            .no_proxy()
            .tls_config(tls)
            .connect_timeout(Duration::from_secs(3))
            .handshake_timeout(Duration::from_secs(3))
            .connect()
        {
            Ok(_) => panic!("blocking: {url} connected"),
            Err(error) => error,
        },
    );
    [tokio_error, blocking_error]
}

/// Both front-ends fail with `WsError::Tls` whose message has every one of `words`.
fn assert_tls_error(url: &str, tls: Arc<ClientConfig>, words: &[&str]) {
    for (side, error) in ["tokio", "blocking"].iter().zip(connect_errors(url, tls)) {
        let text = error.to_string();
        assert!(
            matches!(error, WsError::Tls(_)),
            "{side}: {url}: want WsError::Tls, got {error:?}"
        );
        for word in words {
            assert!(
                text.contains(word),
                "{side}: {url}: {word:?} not in {text:?}"
            );
        }
    }
}

#[test]
fn certificate_for_another_name_is_refused_naming_it() {
    let identity = Identity::self_signed(&["other.example"]);
    let addr = spawn_tokio_tls_echo(identity.server_config(), Config::default());
    let tls = identity.client_config();
    assert_tls_error(
        &format!("wss://localhost:{}/", addr.port()),
        tls.clone(),
        &["localhost", "other.example"],
    );
    assert_tls_error(
        &format!("wss://127.0.0.1:{}/", addr.port()),
        tls,
        &["127.0.0.1", "other.example"],
    );
}

#[test]
fn expired_certificate_is_refused() {
    let identity = Identity::expired(&tlskit::NAMES);
    let addr = spawn_blocking_tls_echo(identity.server_config(), Config::default());
    assert_tls_error(
        &format!("wss://localhost:{}/", addr.port()),
        identity.client_config(),
        &["expired"],
    );
}

#[test]
fn unknown_issuer_is_refused_and_the_right_ca_accepted() {
    let ca = TestCa::new("wsmachine test CA");
    let stranger = TestCa::new("another CA");
    let leaf = ca.leaf(&tlskit::NAMES);
    let addr = spawn_tokio_tls_echo(leaf.server_config(), Config::default());
    let url = format!("wss://localhost:{}/", addr.port());
    assert_tls_error(&url, tlskit::trusting(&stranger.cert), &["UnknownIssuer"]);
    // A self-signed leaf is no CA for others either.
    let other = Identity::self_signed(&tlskit::NAMES);
    assert_tls_error(&url, other.client_config(), &["UnknownIssuer"]);
    // The issuing CA is enough.
    echo_once(&url, tlskit::trusting(&ca.cert), "via CA");
}

/// A server config presenting `identity`, speaking only `version`, and
/// asking for a client certificate from `client_ca` if given.
fn strict_server(
    identity: &Identity,
    version: &'static rustls::SupportedProtocolVersion,
    client_ca: Option<&TestCa>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.cert.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .unwrap();
    Arc::new(config)
}

/// A TLS 1.2-only server works for both front-ends (rustls' `tls12`).
#[test]
fn tls12_only_server() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let tls = strict_server(&identity, &rustls::version::TLS12, None);
    let tokio_addr = spawn_tokio_tls_echo(tls.clone(), Config::default());
    let blocking_addr = spawn_blocking_tls_echo(tls, Config::default());
    for addr in [tokio_addr, blocking_addr] {
        let url = format!("wss://localhost:{}/", addr.port());
        echo_once(&url, identity.client_config(), "tls 1.2");
        let tls = identity.client_config();
        runtime().block_on(async move {
            let mut ws = tokio_connect(&url, tls).await;
            ws.send("tls 1.2").await.unwrap();
            let echo = ws.recv().await.unwrap().unwrap();
            assert_eq!(echo.as_text(), Some("tls 1.2"));
        });
    }
}

/// A client certificate from the CA the server asks for (through
/// `tls_config`, as its documentation offers) gets in; without one, the
/// client is told why: the server's `certificate_required` alert (TLS 1.3,
/// where it comes after the client's side of the handshake is done) or
/// handshake failure (TLS 1.2), as `WsError::Tls` like every other TLS
/// refusal.
#[test]
fn client_certificates() {
    let ca = TestCa::new("wsmachine client CA");
    let server_identity = Identity::self_signed(&tlskit::NAMES);
    let client_identity = ca.leaf(&["client.example"]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_identity.cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let with_cert = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![client_identity.cert.clone()],
                client_identity.key.clone_key(),
            )
            .unwrap(),
    );
    let mut wrong = Vec::new();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let tls = strict_server(&server_identity, version, Some(&ca));
        let addr = spawn_tokio_tls_echo(tls, Config::default());
        let url = format!("wss://localhost:{}/", addr.port());
        echo_once(&url, with_cert.clone(), "with a client certificate");
        for (side, error) in ["tokio", "blocking"]
            .iter()
            .zip(connect_errors(&url, server_identity.client_config()))
        {
            let named = ["CertificateRequired", "HandshakeFailure"]
                .iter()
                .any(|alert| error.to_string().contains(alert));
            if !(matches!(error, WsError::Tls(_)) && named) {
                wrong.push(format!("{side}, {:?}: {error:?}", version.version));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "want WsError::Tls naming the server's alert, got\n{}",
        wrong.join("\n")
    );
}

/// A server that answers a TLS ClientHello with plain HTTP.
#[test]
fn plain_tcp_server_answering_a_tls_client() {
    let addr = spawn_threads(|mut tcp| {
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf);
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    let identity = Identity::self_signed(&tlskit::NAMES);
    assert_tls_error(
        &format!("wss://localhost:{}/", addr.port()),
        identity.client_config(),
        &["corrupt message"],
    );
}

/// A server that accepts TCP and hangs up without a word, and one that
/// says nothing at all: the first is a TLS failure, the second the connect
/// timeout; neither hangs.
#[test]
fn silent_servers_end_in_an_error() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let hangs_up = spawn_threads(drop);
    for (side, error) in ["tokio", "blocking"].iter().zip(connect_errors(
        &format!("wss://localhost:{}/", hangs_up.port()),
        identity.client_config(),
    )) {
        assert!(
            matches!(error, WsError::Tls(_) | WsError::Io(_)),
            "{side}: want a TLS or I/O failure, got {error:?}"
        );
    }
    let mute = spawn_threads(|_tcp| std::thread::sleep(Duration::from_secs(30)));
    let started = Instant::now();
    for (side, error) in ["tokio", "blocking"].iter().zip(connect_errors(
        &format!("wss://localhost:{}/", mute.port()),
        identity.client_config(),
    )) {
        assert!(
            matches!(error, WsError::Timeout),
            "{side}: want Timeout, got {error:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(9));
}

/// A wss:// server that completes TLS, reads the upgrade request and then
/// neither answers nor hangs up: `connect` must end with HandshakeTimeout
/// at the handshake timeout ("longest the opening handshake may take"),
/// not a close timeout (default 10 s) later.
#[test]
fn handshake_timeout_bounds_a_server_that_never_answers() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let tls = identity.server_config();
    let addr = spawn_threads(move |tcp| {
        let mut stream = tlskit::TlsServerStream::new(tls.clone(), tcp).unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        std::thread::sleep(Duration::from_secs(30));
    });
    let url = format!("wss://localhost:{}/", addr.port());
    let limit = Duration::from_secs(1);
    let tls = identity.client_config();
    let started = Instant::now();
    let tokio_result = {
        let (url, tls) = (url.clone(), tls.clone());
        runtime().block_on(async move {
            let attempt = wsmachine::tokio::ClientBuilder::new(&url)
                .no_proxy()
                .tls_config(tls)
                .handshake_timeout(limit)
                .connect();
            let outcome = tokio::time::timeout(Duration::from_secs(15), attempt).await;
            (outcome.map(|r| r.map(drop)), started.elapsed())
        })
    };
    let started = Instant::now();
    let blocking_result = bounded(Duration::from_secs(15), move || {
        let outcome = wsmachine::blocking::ClientBuilder::new(&url)
            .no_proxy()
            .tls_config(tls)
            .handshake_timeout(limit)
            .connect()
            .map(drop);
        (outcome, started.elapsed())
    });
    let tokio_ok = matches!(
        tokio_result,
        (Ok(Err(WsError::Protocol(wsmachine::Error::HandshakeTimeout))), took)
            if took < limit + Duration::from_millis(500)
    );
    let blocking_ok = matches!(
        blocking_result,
        (Err(WsError::Protocol(wsmachine::Error::HandshakeTimeout)), took)
            if took < limit + Duration::from_millis(500)
    );
    assert!(
        tokio_ok && blocking_ok,
        "want HandshakeTimeout within {limit:?} + 0.5 s; tokio: {tokio_result:?}, \
         blocking: {blocking_result:?}"
    );
}

/// How the raw TLS server ends a connection after its first half-message.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// A fatal alert (bad_record_mac: our server is fed a forged record).
    Alert,
    /// close_notify: TLS ends cleanly, the WebSocket message does not.
    CloseNotify,
    /// TCP FIN without close_notify: a truncation.
    Fin,
}

/// A rustls server: TLS handshake, WebSocket handshake (our blocking
/// front-end), the first 10 bytes of a 1000-byte binary message, then `cut`;
/// the TCP connection stays open for 5 s after that unless the cut is a FIN.
fn spawn_cutting_server(identity: &Identity, cut: Cut) -> SocketAddr {
    let tls = identity.server_config();
    spawn_threads(move |tcp| {
        let mut stream = tlskit::TlsServerStream::new(tls.clone(), tcp).unwrap();
        let config = Config::default().with_deflate(None);
        drop(wsmachine::blocking::accept(&mut stream, config).expect("WebSocket handshake"));
        let stream = &mut stream.0;
        stream.write_all(&[0x82, 126, 0x03, 0xE8]).unwrap();
        stream.write_all(&[0x55; 10]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        match cut {
            Cut::Alert => {
                let forged = [[0x17, 0x03, 0x03, 0x00, 0x20].as_slice(), &[0xAB; 32]].concat();
                stream.conn.read_tls(&mut forged.as_slice()).unwrap();
                assert!(stream.conn.process_new_packets().is_err());
                while stream.conn.wants_write() {
                    stream.conn.write_tls(&mut stream.sock).unwrap();
                }
            }
            Cut::CloseNotify => {
                stream.conn.send_close_notify();
                stream.flush().unwrap();
            }
            Cut::Fin => {
                let _ = stream.sock.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    })
}

/// What `recv` gives on each front-end when the server cuts mid-message.
fn recv_after_cut(cut: Cut) -> [Option<Result<Message, WsError>>; 2] {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let addr = spawn_cutting_server(&identity, cut);
    let url = format!("wss://localhost:{}/", addr.port());
    let tls = identity.client_config();
    let tokio_result = {
        let (url, tls) = (url.clone(), tls.clone());
        runtime().block_on(async move {
            let mut ws = tokio_connect(&url, tls).await;
            tokio::time::timeout(Duration::from_secs(3), ws.recv())
                .await
                .unwrap_or_else(|_| panic!("tokio: recv hung after {cut:?}"))
        })
    };
    let blocking_result = bounded(Duration::from_secs(3), move || {
        let (mut ws, _) = wsmachine::blocking::ClientBuilder::new(&url)
            .no_proxy()
            .tls_config(tls)
            .connect()
            .expect("connect");
        ws.recv()
    });
    [tokio_result, blocking_result]
}

/// `WsError::Tls` is documented as "the TLS handshake or a TLS record
/// failed (...; an alert from the peer)": an alert after the handshake is
/// one too, and `ReconnectPolicy` treats Tls as final but Io as retryable.
#[test]
fn fatal_alert_mid_message_is_a_tls_error() {
    let mut wrong = Vec::new();
    for (side, result) in ["tokio", "blocking"].iter().zip(recv_after_cut(Cut::Alert)) {
        match result {
            Some(Err(WsError::Tls(e))) if e.to_string().contains("BadRecordMac") => {}
            other => wrong.push(format!("{side}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "want WsError::Tls naming the alert (BadRecordMac), got\n{}",
        wrong.join("\n")
    );
}

#[test]
fn close_notify_mid_message_is_not_a_clean_close() {
    for (side, result) in ["tokio", "blocking"]
        .iter()
        .zip(recv_after_cut(Cut::CloseNotify))
    {
        match result {
            Some(Err(WsError::Protocol(wsmachine::Error::AbnormalClosure))) => {}
            other => panic!("{side}: want an abnormal closure, got {other:?}"),
        }
    }
}

#[test]
fn truncation_mid_message_is_an_error() {
    for (side, result) in ["tokio", "blocking"].iter().zip(recv_after_cut(Cut::Fin)) {
        match result {
            Some(Err(
                WsError::Tls(_)
                | WsError::Io(_)
                | WsError::Protocol(wsmachine::Error::AbnormalClosure),
            )) => {}
            other => panic!("{side}: want an error, got {other:?}"),
        }
    }
}

/// A `ws://` client talking to a TLS port: the server's alert or silence
/// ends it with an error, not a hang.
#[test]
fn plain_client_at_a_tls_server_fails() {
    let identity = Identity::self_signed(&tlskit::NAMES);
    let addr = spawn_tokio_tls_echo(identity.server_config(), Config::default());
    let url = format!("ws://127.0.0.1:{}/", addr.port());
    let result = bounded(FAIL_LIMIT, move || {
        wsmachine::blocking::ClientBuilder::new(&url)
            .no_proxy()
            .handshake_timeout(Duration::from_secs(3))
            .connect()
            .map(drop)
    });
    assert!(result.is_err(), "{result:?}");
}
