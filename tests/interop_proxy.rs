//! Clients through proxies, hermetic: an HTTP CONNECT proxy and a SOCKS5
//! proxy written here (each with and without credentials), `ws://` and
//! `wss://` targets behind them, both front-ends; refused credentials,
//! unreachable targets, garbage and silence from the proxy; and which proxy
//! the environment names (`ProxyEnv`, and the builder's own reading of the
//! variables in a child process, so this process's environment stays as
//! it is for the tests running beside it).

mod support;
mod tlskit;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tlskit::{spawn_tokio_tls_echo, Identity};
use wsmachine::proxy::{Proxy, ProxyEnv, ProxyError};
use wsmachine::tls::rustls::pki_types::CertificateDer;
use wsmachine::tls::rustls::ClientConfig;
use wsmachine::{CloseCode, Config, WsError};

/// Longest one connection attempt may take before the test calls it a hang.
const LIMIT: Duration = Duration::from_secs(10);

const USER: &str = "tester";
/// Needs percent-encoding in a proxy URL.
const PASSWORD: &str = "p@ss:word";
const PASSWORD_IN_URL: &str = "p%40ss%3Aword";

// ------------------------------------------------------------------ proxies

/// A proxy running on its own threads; `targets` lists the tunnels it
/// opened (`host:port` as the client asked for them).
struct ProxyServer {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ProxyServer {
    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }

    /// The proxy URL, with our credentials if `with_credentials`.
    fn url(&self, scheme: &str, with_credentials: bool) -> String {
        if with_credentials {
            format!("{scheme}://{USER}:{PASSWORD_IN_URL}@{}", self.addr)
        } else {
            format!("{scheme}://{}", self.addr)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Http,
    Socks5,
}

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Socks5 => "socks5",
        }
    }
}

/// Starts a proxy of `kind`; with `auth` it insists on our credentials.
fn spawn_proxy(kind: Kind, auth: bool) -> ProxyServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let log = targets.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = client.set_read_timeout(Some(LIMIT));
                let _ = match kind {
                    Kind::Http => http_connect(client, auth, &log),
                    Kind::Socks5 => socks5(client, auth, &log),
                };
            });
        }
    });
    ProxyServer { addr, targets }
}

/// Reads an HTTP head byte by byte, so nothing past it is taken.
fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("head too long"));
        }
    }
    Ok(head)
}

fn http_connect(mut client: TcpStream, auth: bool, log: &Mutex<Vec<String>>) -> io::Result<()> {
    let head = read_head(&mut client)?;
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut slots);
    request.parse(&head).map_err(io::Error::other)?;
    let authority = request.path.unwrap_or_default().to_owned();
    if request.method != Some("CONNECT") {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let given = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|h| h.value.to_vec());
    if auth && given.as_deref() != Some(expected.as_bytes()) {
        return client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
        );
    }
    log.lock().unwrap().push(authority.clone());
    let Ok(target) = TcpStream::connect(&authority) else {
        return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n")?;
    relay(client, target)
}

fn socks5(mut client: TcpStream, auth: bool, log: &Mutex<Vec<String>>) -> io::Result<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting)?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods)?;
    let wanted = if auth { 2 } else { 0 };
    if greeting[0] != 5 || !methods.contains(&wanted) {
        return client.write_all(&[5, 0xFF]);
    }
    client.write_all(&[5, wanted])?;
    if auth {
        let mut version_len = [0u8; 2];
        client.read_exact(&mut version_len)?;
        let mut user = vec![0u8; usize::from(version_len[1])];
        client.read_exact(&mut user)?;
        let mut len = [0u8];
        client.read_exact(&mut len)?;
        let mut password = vec![0u8; usize::from(len[0])];
        client.read_exact(&mut password)?;
        if user != USER.as_bytes() || password != PASSWORD.as_bytes() {
            return client.write_all(&[1, 1]);
        }
        client.write_all(&[1, 0])?;
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request)?;
    let host = match request[3] {
        1 => {
            let mut octets = [0u8; 4];
            client.read_exact(&mut octets)?;
            std::net::Ipv4Addr::from(octets).to_string()
        }
        3 => {
            let mut len = [0u8];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name)?;
            String::from_utf8(name).map_err(io::Error::other)?
        }
        4 => {
            let mut octets = [0u8; 16];
            client.read_exact(&mut octets)?;
            format!("[{}]", std::net::Ipv6Addr::from(octets))
        }
        _ => return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let authority = format!("{host}:{}", u16::from_be_bytes(port));
    log.lock().unwrap().push(authority.clone());
    let Ok(target) = TcpStream::connect(&authority) else {
        return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90])?;
    relay(client, target)
}

/// Copies both ways until each side ends, passing the FINs on.
fn relay(client: TcpStream, target: TcpStream) -> io::Result<()> {
    client.set_read_timeout(None)?;
    let (mut client_in, mut target_out) = (client.try_clone()?, target.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut target_out);
        let _ = target_out.shutdown(std::net::Shutdown::Write);
    });
    let (mut target_in, mut client_out) = (target, client);
    let _ = io::copy(&mut target_in, &mut client_out);
    let _ = client_out.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}

/// A "proxy" that reads what comes, answers `reply` (if any), and then
/// holds the connection for `hold`; with no hold, it reads what the client
/// sends next (for a second at most) and hangs up, without a reset.
fn spawn_odd_proxy(reply: &'static [u8], hold: Duration) -> SocketAddr {
    tlskit::spawn_threads(move |mut tcp| {
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf);
        if !reply.is_empty() {
            let _ = tcp.write_all(reply);
        }
        if hold.is_zero() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = tcp.read(&mut buf);
        }
        std::thread::sleep(hold);
    })
}

// ------------------------------------------------------------------ clients

/// Where a test client goes: the URL and, for wss://, whom to trust.
#[derive(Clone)]
struct Target {
    url: String,
    tls: Option<Arc<ClientConfig>>,
    /// The `host:port` a proxy is asked for.
    authority: String,
    /// The wss:// server's certificate.
    cert: Option<CertificateDer<'static>>,
}

/// A plain echo server (`ws://127.0.0.1:port`) and a TLS one
/// (`wss://localhost:port`, so proxies are asked for a name).
fn targets() -> [Target; 2] {
    let plain = support::spawn_tokio_echo_server();
    let identity = Identity::self_signed(&tlskit::NAMES);
    let secure = spawn_tokio_tls_echo(identity.server_config(), Config::default());
    [
        Target {
            url: format!("ws://{plain}/plain"),
            tls: None,
            authority: plain.to_string(),
            cert: None,
        },
        Target {
            url: format!("wss://localhost:{}/secure", secure.port()),
            tls: Some(identity.client_config()),
            authority: format!("localhost:{}", secure.port()),
            cert: Some(identity.cert),
        },
    ]
}

/// How a client should reach its target.
#[derive(Clone, Debug)]
enum Via {
    Proxy(Proxy),
    Direct,
    /// The builder's default: the process environment.
    Environment,
}

/// A front-end's `ClientBuilder` for `target`, going `via` (both builders
/// have the same setters).
macro_rules! builder {
    ($builder:ty, $target:expr, $via:expr) => {{
        let (target, via): (&Target, &Via) = ($target, $via);
        let mut builder = <$builder>::new(&target.url)
            .connect_timeout(Duration::from_secs(3))
            .handshake_timeout(Duration::from_secs(3));
        if let Some(tls) = &target.tls {
            builder = builder.tls_config(tls.clone());
        }
        match via {
            Via::Proxy(proxy) => builder.proxy(proxy.clone()),
            Via::Direct => builder.no_proxy(),
            Via::Environment => builder,
        }
    }};
}

/// Connects with the tokio front-end, echoes a message, closes; or the error.
fn tokio_echo(target: &Target, via: &Via) -> Result<(), WsError> {
    let builder = builder!(wsmachine::tokio::ClientBuilder, target, via);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let work = async {
            let (mut ws, _) = builder.connect().await?;
            ws.send("through").await?;
            let echo = ws.recv().await.ok_or(WsError::Closed)??;
            assert_eq!(echo.as_text(), Some("through"));
            ws.close(CloseCode::NORMAL, "done").await
        };
        tokio::time::timeout(LIMIT, work)
            .await
            .unwrap_or_else(|_| panic!("tokio client hung via {via:?}"))
    })
}

/// The same with the blocking front-end, on a thread with a deadline.
fn blocking_echo(target: &Target, via: &Via) -> Result<(), WsError> {
    let builder = builder!(wsmachine::blocking::ClientBuilder, target, via);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let work = || {
            let (mut ws, _) = builder.connect()?;
            ws.send("through")?;
            let echo = ws.recv().ok_or(WsError::Closed)??;
            assert_eq!(echo.as_text(), Some("through"));
            ws.close(CloseCode::NORMAL, "done")
        };
        let _ = tx.send(work());
    });
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("blocking client hung via {via:?}"))
}

/// Both front-ends' outcomes, the two run side by side.
fn both(target: &Target, via: &Via) -> [(&'static str, Result<(), WsError>); 2] {
    std::thread::scope(|scope| {
        let tokio = scope.spawn(|| tokio_echo(target, via));
        let blocking = blocking_echo(target, via);
        [("tokio", tokio.join().unwrap()), ("blocking", blocking)]
    })
}

// ------------------------------------------------------------------ tests

#[test]
fn both_front_ends_through_each_proxy_to_ws_and_wss() {
    let targets = targets();
    for kind in [Kind::Http, Kind::Socks5] {
        for auth in [false, true] {
            let proxy = spawn_proxy(kind, auth);
            let via = Via::Proxy(Proxy::from_url(&proxy.url(kind.scheme(), auth)).unwrap());
            for target in &targets {
                for (side, outcome) in both(target, &via) {
                    if let Err(error) = outcome {
                        panic!(
                            "{side} via {kind:?} (auth {auth}) to {}: {error}",
                            target.url
                        );
                    }
                }
                assert_eq!(
                    proxy.targets(),
                    vec![target.authority.clone(); 2],
                    "{kind:?} (auth {auth}) was asked for {}",
                    target.url
                );
                proxy.targets.lock().unwrap().clear();
            }
        }
    }
}

#[test]
fn socks5h_url_and_ipv4_target_through_socks5() {
    let [plain, _] = targets();
    let proxy = spawn_proxy(Kind::Socks5, false);
    let via = Via::Proxy(Proxy::from_url(&proxy.url("socks5h", false)).unwrap());
    for (side, outcome) in both(&plain, &via) {
        outcome.unwrap_or_else(|e| panic!("{side}: {e}"));
    }
    assert_eq!(proxy.targets(), vec![plain.authority.clone(); 2]);
}

#[test]
fn refused_credentials_are_named() {
    let [plain, secure] = targets();
    let http = spawn_proxy(Kind::Http, true);
    let socks = spawn_proxy(Kind::Socks5, true);
    let wrong = |proxy: &ProxyServer, scheme: &str| {
        let url = format!("{scheme}://{USER}:wrong@{}", proxy.addr);
        Via::Proxy(Proxy::from_url(&url).unwrap())
    };
    let none = |proxy: &ProxyServer, scheme: &str| {
        Via::Proxy(Proxy::from_url(&proxy.url(scheme, false)).unwrap())
    };
    let cases = [
        (wrong(&http, "http"), ProxyError::HttpStatus(407), "407"),
        (none(&http, "http"), ProxyError::HttpStatus(407), "407"),
        (
            wrong(&socks, "socks5"),
            ProxyError::SocksAuthFailed,
            "credentials",
        ),
        (
            none(&socks, "socks5"),
            ProxyError::SocksNoAcceptableMethod,
            "authentication methods",
        ),
    ];
    for (via, expected, words) in cases {
        for target in [&plain, &secure] {
            for (side, outcome) in both(target, &via) {
                match outcome {
                    Err(WsError::Proxy(error)) if error == expected => {
                        let text = WsError::Proxy(error).to_string();
                        assert!(text.contains(words), "{side}: {text}");
                    }
                    other => panic!("{side} via {via:?} to {}: {other:?}", target.url),
                }
            }
        }
    }
    assert!(http.targets().is_empty() && socks.targets().is_empty());
}

#[test]
fn unreachable_target_is_the_proxys_answer() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = Target {
        url: format!("ws://{closed}/"),
        tls: None,
        authority: closed.to_string(),
        cert: None,
    };
    let http = spawn_proxy(Kind::Http, false);
    let socks = spawn_proxy(Kind::Socks5, false);
    let cases = [
        (http.url("http", false), ProxyError::HttpStatus(502)),
        (socks.url("socks5", false), ProxyError::SocksReply(5)),
    ];
    for (url, expected) in cases {
        let via = Via::Proxy(Proxy::from_url(&url).unwrap());
        for (side, outcome) in both(&target, &via) {
            match outcome {
                Err(WsError::Proxy(error)) if error == expected => {}
                other => panic!("{side} via {url}: want {expected:?}, got {other:?}"),
            }
        }
    }
}

#[test]
fn garbage_from_the_proxy_is_malformed() {
    let [plain, secure] = targets();
    let cases = [
        (Kind::Http, &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..]),
        (Kind::Http, b"hello"),
        (Kind::Http, b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01"),
        (Kind::Socks5, b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        (Kind::Socks5, &[5, 0, 5, 0, 0, 9, 0, 0, 0, 0, 0, 0]),
    ];
    for (kind, reply) in cases {
        // Bytes past a 200 are the target's: not TLS for wss://, but for
        // ws:// they are the (bad) start of the handshake answer, and then
        // the tunnel ends.
        let leftover = reply.ends_with(b"\x16\x03\x01");
        let hold = if leftover {
            Duration::ZERO
        } else {
            Duration::from_secs(15)
        };
        let addr = spawn_odd_proxy(reply, hold);
        let via = Via::Proxy(Proxy::from_url(&format!("{}://{addr}", kind.scheme())).unwrap());
        // "hello" then nothing: the proxy says no more, the connect
        // timeout ends the wait.
        let silent_after = reply == b"hello";
        for target in [&plain, &secure] {
            for (side, outcome) in both(target, &via) {
                let ok = match &outcome {
                    Err(WsError::Timeout) => silent_after,
                    Err(WsError::Proxy(ProxyError::Malformed)) => !silent_after,
                    Err(WsError::Protocol(_)) => leftover && target.tls.is_none(),
                    _ => false,
                };
                assert!(
                    ok,
                    "{side} via {kind:?} answering {reply:?} to {}: {outcome:?}",
                    target.url
                );
            }
        }
    }
}

#[test]
fn a_proxy_that_hangs_up_or_says_nothing_does_not_hang_us() {
    let [plain, secure] = targets();
    let hangs_up = tlskit::spawn_threads(drop);
    let mute = spawn_odd_proxy(b"", Duration::from_secs(15));
    for kind in [Kind::Http, Kind::Socks5] {
        for (addr, want_timeout) in [(hangs_up, false), (mute, true)] {
            let via = Via::Proxy(Proxy::from_url(&format!("{}://{addr}", kind.scheme())).unwrap());
            for target in [&plain, &secure] {
                let started = Instant::now();
                for (side, outcome) in both(target, &via) {
                    let ok = match &outcome {
                        Err(WsError::Timeout) => want_timeout,
                        Err(WsError::Proxy(ProxyError::Malformed) | WsError::Io(_)) => {
                            !want_timeout
                        }
                        _ => false,
                    };
                    assert!(
                        ok,
                        "{side} via {kind:?} at {addr} to {}: {outcome:?}",
                        target.url
                    );
                }
                assert!(started.elapsed() < Duration::from_secs(8));
            }
        }
    }
}

#[test]
fn proxy_env_rules_pick_the_route() {
    let [plain, secure] = targets();
    let http = spawn_proxy(Kind::Http, false);
    let socks = spawn_proxy(Kind::Socks5, true);
    let env = ProxyEnv::from_values(
        Some(socks.url("socks5", true)),
        Some(http.url("http", false)),
        None,
        Some("example.invalid, .localhost".into()),
    );
    // "localhost" matches ".localhost" (leading dot stripped, like curl):
    // the wss:// target goes direct; 127.0.0.1 is not listed: ws:// goes
    // through http_proxy.
    for (target, host, secure_url) in [(&secure, "localhost", true), (&plain, "127.0.0.1", false)] {
        let via = env
            .proxy_for(host, secure_url)
            .map_or(Via::Direct, Via::Proxy);
        for (side, outcome) in both(target, &via) {
            outcome.unwrap_or_else(|e| panic!("{side} to {} via {via:?}: {e}", target.url));
        }
    }
    assert_eq!(http.targets(), vec![plain.authority.clone(); 2]);
    assert!(socks.targets().is_empty(), "{:?}", socks.targets());
    // Without the exception, wss:// to localhost takes HTTPS_PROXY (SOCKS5
    // with credentials).
    let env = ProxyEnv::from_values(Some(socks.url("socks5", true)), None, None, None);
    let via = Via::Proxy(env.proxy_for("localhost", true).expect("HTTPS_PROXY"));
    for (side, outcome) in both(&secure, &via) {
        outcome.unwrap_or_else(|e| panic!("{side}: {e}"));
    }
    assert_eq!(socks.targets(), vec![secure.authority.clone(); 2]);
}

// ------------------------------------------- the environment, in a child process

const CHILD_URL: &str = "WSM_PROXY_CHILD_URL";
const CHILD_CA: &str = "WSM_PROXY_CHILD_CA";
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Runs in a child process with proxy variables set: both front-ends
/// connect to `$WSM_PROXY_CHILD_URL` with the builder's default (the
/// environment's proxy), trusting the DER certificate in
/// `$WSM_PROXY_CHILD_CA` for wss://.
#[test]
#[ignore = "run by environment_variables_choose_the_proxy in a child process"]
fn child_connects_as_the_environment_says() {
    let url = std::env::var(CHILD_URL).expect("run by the parent test");
    let tls = std::env::var(CHILD_CA).ok().map(|path| {
        let der = std::fs::read(path).expect("CA file");
        tlskit::trusting(&der.into())
    });
    let target = Target {
        url,
        tls,
        authority: String::new(),
        cert: None,
    };
    for (side, outcome) in both(&target, &Via::Environment) {
        outcome.unwrap_or_else(|e| panic!("{side}: {e}"));
    }
}

/// Runs the child test with exactly `vars` as the proxy environment.
fn run_child(target: &Target, ca: Option<&str>, vars: &[(&str, String)]) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "child_connects_as_the_environment_says",
        ])
        .env(CHILD_URL, &target.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in PROXY_VARS {
        command.env_remove(name);
    }
    if let Some(ca) = ca {
        command.env(CHILD_CA, ca);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start the child test");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child with {vars:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut output);
    let _ = child.stderr.take().unwrap().read_to_string(&mut output);
    assert!(
        status.success() && output.contains("1 passed"),
        "child with {vars:?} to {} failed:\n{output}",
        target.url
    );
}

#[test]
fn environment_variables_choose_the_proxy() {
    let [plain, secure] = targets();
    // The wss:// target's certificate, as DER, for the child to trust.
    let ca_file = tlskit::TempFile::new("ca.der", "");
    std::fs::write(&ca_file.0, secure.cert.as_ref().unwrap()).unwrap();
    let http = spawn_proxy(Kind::Http, true);
    let socks = spawn_proxy(Kind::Socks5, false);
    let http_url = http.url("http", true);
    let socks_url = socks.url("socks5", false);

    // http_proxy for ws://, with credentials in the URL.
    run_child(&plain, None, &[("http_proxy", http_url.clone())]);
    assert_eq!(http.targets(), vec![plain.authority.clone(); 2]);
    // NO_PROXY names the host: direct.
    run_child(
        &plain,
        None,
        &[
            ("http_proxy", http_url.clone()),
            ("NO_PROXY", "localhost,127.0.0.1".into()),
        ],
    );
    assert_eq!(http.targets().len(), 2, "NO_PROXY ignored");
    // Uppercase HTTP_PROXY is ignored, as curl does.
    run_child(&plain, None, &[("HTTP_PROXY", http_url.clone())]);
    assert_eq!(http.targets().len(), 2, "HTTP_PROXY used");
    // HTTPS_PROXY for wss:// (the name goes to the SOCKS5 proxy).
    run_child(
        &secure,
        Some(ca_file.path()),
        &[("HTTPS_PROXY", socks_url.clone())],
    );
    assert_eq!(socks.targets(), vec![secure.authority.clone(); 2]);
    // ALL_PROXY when nothing more specific is set; no_proxy=* beats it.
    run_child(&plain, None, &[("ALL_PROXY", socks_url.clone())]);
    assert_eq!(socks.targets().len(), 4);
    run_child(
        &plain,
        None,
        &[("all_proxy", socks_url.clone()), ("no_proxy", "*".into())],
    );
    assert_eq!(socks.targets().len(), 4, "no_proxy=* ignored");
}

// ------------------------------------- pproxy, a second implementation (interop)

/// `pproxy` (from PyPI, in the peers' venv) serving HTTP CONNECT and SOCKS5
/// on one port, killed when dropped.
#[cfg(feature = "interop")]
struct Pproxy {
    child: std::process::Child,
    addr: SocketAddr,
}

#[cfg(feature = "interop")]
impl Pproxy {
    /// With `auth`, it wants our credentials (and checks them on every
    /// connection: `--auth 0`, no remembering of authorized addresses).
    fn start(auth: bool) -> Pproxy {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|free| free.local_addr())
            .unwrap();
        let credentials = if auth {
            format!("#{USER}:{PASSWORD}")
        } else {
            String::new()
        };
        let child = Command::new(support::python())
            .args(["-m", "pproxy", "--auth", "0", "-l"])
            .arg(format!("http+socks5://{addr}/{credentials}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pproxy");
        let proxy = Pproxy { child, addr };
        let deadline = Instant::now() + LIMIT;
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "pproxy did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    fn via(&self, scheme: &str, password: Option<&str>) -> Via {
        let url = match password {
            Some(password) => format!("{scheme}://{USER}:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        };
        Via::Proxy(Proxy::from_url(&url).unwrap())
    }
}

#[cfg(feature = "interop")]
impl Drop for Pproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "interop")]
#[test]
fn both_front_ends_through_pproxy() {
    let targets = targets();
    for auth in [false, true] {
        let pproxy = Pproxy::start(auth);
        let password = auth.then_some(PASSWORD_IN_URL);
        for scheme in ["http", "socks5"] {
            let via = pproxy.via(scheme, password);
            for target in &targets {
                for (side, outcome) in both(target, &via) {
                    if let Err(error) = outcome {
                        panic!(
                            "{side} via pproxy {scheme} (auth {auth}) to {}: {error}",
                            target.url
                        );
                    }
                }
            }
        }
    }
}

#[cfg(feature = "interop")]
#[test]
fn pproxy_refuses_wrong_credentials() {
    let [plain, secure] = targets();
    let pproxy = Pproxy::start(true);
    // pproxy hangs up on wrong SOCKS5 credentials without the RFC 1929
    // status byte, so all the client can say is that the answer broke off.
    let cases = [
        (
            pproxy.via("http", Some("wrong")),
            ProxyError::HttpStatus(407),
        ),
        (pproxy.via("http", None), ProxyError::HttpStatus(407)),
        (pproxy.via("socks5", Some("wrong")), ProxyError::Malformed),
    ];
    for (via, expected) in cases {
        for target in [&plain, &secure] {
            for (side, outcome) in both(target, &via) {
                match outcome {
                    Err(WsError::Proxy(error)) if error == expected => {}
                    other => panic!(
                        "{side} via {via:?} to {}: want {expected:?}, got {other:?}",
                        target.url
                    ),
                }
            }
        }
    }
}

/// A proxy that answers one byte every 400 ms: the connect timeout (1 s
/// here) bounds the whole way to the target ("TCP, the proxy's tunnel, TLS
/// for wss://, each within the connect timeout"), not each read.
#[test]
fn a_dribbling_proxy_is_bounded_by_the_connect_timeout() {
    let proxy = tlskit::spawn_threads(|mut tcp| {
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf);
        for byte in b"HTTP/1.1 200 OK\r\n\r\n" {
            std::thread::sleep(Duration::from_millis(400));
            if tcp.write_all(&[*byte]).is_err() {
                return;
            }
        }
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = tcp.read(&mut buf);
    });
    let [plain, _] = targets();
    let proxy = Proxy::from_url(&format!("http://{proxy}")).unwrap();
    let limit = Duration::from_secs(1);
    let tokio_attempt = {
        let builder = wsmachine::tokio::ClientBuilder::new(&plain.url)
            .proxy(proxy.clone())
            .connect_timeout(limit);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let started = Instant::now();
            let outcome = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), builder.connect()).await
            });
            (outcome.map(|r| r.map(drop)), started.elapsed())
        })
    };
    let blocking_attempt = {
        let builder = wsmachine::blocking::ClientBuilder::new(&plain.url)
            .proxy(proxy)
            .connect_timeout(limit);
        std::thread::spawn(move || {
            let started = Instant::now();
            (builder.connect().map(drop), started.elapsed())
        })
    };
    let tokio_result = tokio_attempt.join().unwrap();
    let blocking_result = blocking_attempt.join().unwrap();
    let bounded = |took: Duration| took < limit + Duration::from_millis(500);
    let tokio_ok = matches!(tokio_result, (Ok(Err(WsError::Timeout)), took) if bounded(took));
    let blocking_ok = matches!(blocking_result, (Err(WsError::Timeout), took) if bounded(took));
    assert!(
        tokio_ok && blocking_ok,
        "want Timeout within {limit:?} + 0.5 s; tokio: {tokio_result:?}, blocking: {blocking_result:?}"
    );
}
