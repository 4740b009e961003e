//! TLS with rustls (feature `rustls`): client configurations for `wss://`,
//! and, with feature `self-signed`, a certificate for local development.
//!
//! The front-ends connect `wss://` URLs with
//! [`default_client_config`] unless given a `ClientConfig` of your own
//! (a private CA, client certificates). On the server side they accept any
//! stream: hand them a `tokio_rustls` server stream or a
//! `rustls::StreamOwned`.

pub use rustls;
/// For tokio servers that accept TLS themselves (`TlsAcceptor`).
pub use tokio_rustls;

use rustls::{ClientConfig, RootCertStore};
use std::sync::{Arc, OnceLock};

/// The roots the enabled features give: the `webpki-roots` bundle and/or
/// the platform's store (`native-roots`). Empty without either: then every
/// server certificate is refused, and a config of your own is needed.
pub fn default_roots() -> RootCertStore {
    #[allow(unused_mut)]
    let mut roots = RootCertStore::empty();
    #[cfg(feature = "webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(feature = "native-roots")]
    {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    roots
}

/// A client configuration trusting [`default_roots`], built once and shared.
pub fn default_client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(default_roots()))
        .clone()
}

/// A client configuration trusting exactly `roots` (a private CA).
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                ClientConfig::builder()
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            }),
    )
}

/// The name the server's certificate must carry: the URL's host (SNI).
#[cfg(any(feature = "tokio", feature = "blocking"))]
pub(crate) fn server_name(host: &str) -> std::io::Result<rustls::pki_types::ServerName<'static>> {
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// A self-signed certificate (and its key) for `names`, made now, for
/// local development and tests (feature `self-signed`).
///
/// ```
/// let (cert, key) = wsmachine::tls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
/// let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
///     rustls::crypto::ring::default_provider(),
/// ))
/// .with_safe_default_protocol_versions()
/// .unwrap()
/// .with_no_client_auth()
/// .with_single_cert(vec![cert], key)
/// .unwrap();
/// # let _ = config;
/// ```
#[cfg(feature = "self-signed")]
pub fn self_signed(
    names: &[&str],
) -> Result<
    (
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    rcgen::Error,
> {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    Ok((certified.cert.der().clone(), key.into()))
}
