//! TLS pieces the wss:// suites share (feature `self-signed`): certificates
//! made per run (wsmachine's `self_signed`, or rcgen directly for a test CA
//! and an expired one), PEM files for the Python peers, rustls configs for
//! both sides, and echo servers on our tokio and blocking front-ends over
//! rustls.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use wsmachine::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsmachine::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig, ServerConnection};
use wsmachine::Config;

/// The names every test server's certificate carries.
pub const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate and its key.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// `wsmachine::tls::self_signed` for `names`.
    pub fn self_signed(names: &[&str]) -> Identity {
        let (cert, key) = wsmachine::tls::self_signed(names).expect("self-signed certificate");
        Identity { cert, key }
    }

    /// A self-signed certificate for `names` that expired in 2001.
    pub fn expired(names: &[&str]) -> Identity {
        let mut params = rcgen::CertificateParams::new(owned(names)).expect("params");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("expired certificate");
        Identity {
            cert: cert.der().clone(),
            key: pkcs8(&key),
        }
    }

    /// A server config presenting this certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            .expect("server config");
        Arc::new(config)
    }

    /// A client config trusting this certificate only (the library's own
    /// `tls::client_config`).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        trusting(&self.cert)
    }

    /// The certificate and the key as PEM files, removed when dropped.
    pub fn pem_files(&self) -> PemFiles {
        let cert = TempFile::new("cert.pem", &pem("CERTIFICATE", &self.cert));
        let key = TempFile::new("key.pem", &pem("PRIVATE KEY", self.key.secret_der()));
        PemFiles { cert, key }
    }
}

/// A client config trusting exactly `cert`.
pub fn trusting(cert: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("a root certificate");
    wsmachine::tls::client_config(roots)
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn pkcs8(key: &rcgen::KeyPair) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(key.serialize_der()).into()
}

/// A certificate authority made for this run; its leaves are signed by it.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub cert: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            cert: cert.der().clone(),
        }
    }

    /// A server certificate for `names`, signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Identity {
        let params = rcgen::CertificateParams::new(owned(names)).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Identity {
            cert: cert.der().clone(),
            key: pkcs8(&key),
        }
    }
}

/// `der` between BEGIN/END lines, 64 base64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A file under cargo's temp dir for integration tests, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("wsm-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub struct PemFiles {
    pub cert: TempFile,
    pub key: TempFile,
}

/// rustls' blocking server stream as a `wsmachine::blocking::Transport`:
/// timeouts go to the socket, the write direction ends with close_notify
/// and FIN.
pub struct TlsServerStream(pub rustls::StreamOwned<ServerConnection, TcpStream>);

impl TlsServerStream {
    pub fn new(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<TlsServerStream> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsServerStream(rustls::StreamOwned::new(conn, tcp)))
    }
}

impl Read for TlsServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsServerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl wsmachine::blocking::Transport for TlsServerStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.conn.send_close_notify();
        self.0.flush()?;
        self.0.sock.shutdown(std::net::Shutdown::Write)
    }
}

/// A thread-per-connection accept loop on an ephemeral loopback port, for
/// the life of the test process.
pub fn spawn_threads(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// An echo server on the blocking front-end over `rustls::StreamOwned`.
pub fn spawn_blocking_tls_echo(tls: Arc<ServerConfig>, config: Config) -> SocketAddr {
    let config = Arc::new(config);
    spawn_threads(move |tcp| {
        let _ = blocking_tls_echo(tcp, tls.clone(), config.clone());
    })
}

fn blocking_tls_echo(
    tcp: TcpStream,
    tls: Arc<ServerConfig>,
    config: Arc<Config>,
) -> Result<(), wsmachine::WsError> {
    tcp.set_nodelay(true)?;
    let mut ws = wsmachine::blocking::accept(TlsServerStream::new(tls, tcp)?, config)?;
    while let Some(message) = ws.recv() {
        ws.feed(message?)?;
    }
    Ok(())
}

/// An echo server on the tokio front-end over a `tokio_rustls` server
/// stream, on a runtime of its own.
pub fn spawn_tokio_tls_echo(tls: Arc<ServerConfig>, config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address");
    let config = Arc::new(config);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let acceptor = wsmachine::tls::tokio_rustls::TlsAcceptor::from(tls);
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, config) = (acceptor.clone(), config.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut ws) = wsmachine::tokio::accept(tls, config).await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.recv().await {
                        if ws.feed(message).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    addr
}
