//! Limits and switches, each with a default a public server can run with.

use core::time::Duration;

/// How received data messages are handed to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    /// Whole messages: [`Event::Text`](crate::Event::Text) and
    /// [`Event::Binary`](crate::Event::Binary), reassembled from fragments and
    /// limited by [`Config::max_message_size`].
    #[default]
    Message,
    /// Pieces as they arrive: [`Event::TextChunk`](crate::Event::TextChunk) and
    /// [`Event::BinaryChunk`](crate::Event::BinaryChunk), so a message of any
    /// size passes through without being buffered whole. Text chunks always end
    /// on a character boundary. [`Config::max_message_size`] does not apply;
    /// [`Config::max_frame_size`] still does.
    Stream,
}

/// Which browser pages may open a WebSocket (RFC 6455 §10.2): the check of
/// the `Origin` header a browser sends. A request without one (not from a
/// browser) passes every policy; one that fails gets 403 before the caller
/// sees it.
///
/// ```
/// use wsmachine::{Config, OriginPolicy};
/// let config = Config::default().with_origin_policy(OriginPolicy::List(vec![
///     "https://example.com".into(),
///     "https://app.example.com".into(),
/// ]));
/// # let _ = config;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Every origin (the default: decide yourself, from
    /// [`HandshakeRequest::origin`](crate::HandshakeRequest::origin)).
    #[default]
    Any,
    /// Pages from the host the request was sent to: the Origin's host and
    /// port equal the `Host` header (default ports omitted on either side).
    SameHost,
    /// Pages from these origins (`scheme://host[:port]`, compared without
    /// regard to case).
    List(alloc::vec::Vec<alloc::string::String>),
}

impl OriginPolicy {
    /// Whether a request with this `Origin` (if any) to this `Host` passes.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::List(allowed) => allowed.iter().any(|entry| {
                entry
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(origin.trim())
            }),
            OriginPolicy::SameHost => same_host(origin, host),
        }
    }
}

/// The Origin names the host and port the request went to.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let (Some((scheme, authority)), Some(host)) = (origin.split_once("://"), host) else {
        return false;
    };
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        ":80"
    } else if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        return false;
    };
    let normalize = |s: &str| {
        let s = s.trim();
        let s = s.strip_suffix(default_port).unwrap_or(s);
        alloc::string::String::from(s).to_ascii_lowercase()
    };
    !authority.contains('/') && normalize(authority) == normalize(host)
}

/// Configuration of a [`Connection`](crate::Connection).
///
/// Start from the defaults and change what you need, with the `with_*`
/// methods or by assigning fields (new fields may be added in minor
/// versions, so the struct cannot be written out whole):
///
/// ```
/// use core::time::Duration;
/// use wsmachine::Config;
/// let config = Config::default()
///     .with_max_message_size(1 << 20)
///     .with_ping_interval(Some(Duration::from_secs(20)));
/// assert_eq!(config.max_frame_size, 16 << 20);
///
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest opening-handshake head (request or response line plus headers),
    /// in bytes. A server answers a longer request with 431. Default 16 KiB.
    pub max_handshake_bytes: usize,
    /// Most header lines in a handshake head. Default 64.
    pub max_headers: usize,
    /// Largest frame payload accepted, in bytes; larger fails with 1009.
    /// For a compressed message it bounds what each frame inflates to,
    /// so compression never makes an acceptable frame unacceptable.
    /// Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted, counted across its fragments, in bytes;
    /// larger fails with 1009. For a compressed message it bounds the
    /// inflated size: what the application receives. Default 64 MiB.
    pub max_message_size: usize,
    /// Most bytes the output queue may hold: a `send_*` call that would pass
    /// it is refused with [`SendError::OutputFull`](crate::SendError::OutputFull).
    /// Default 64 MiB.
    pub max_output_buffer: usize,
    /// Whole messages or streamed pieces. Default [`ReceiveMode::Message`].
    pub receive_mode: ReceiveMode,
    /// Answer every Ping with a Pong automatically. Default true.
    pub auto_pong: bool,
    /// Server: hand well-formed HTTP GET requests that are not WebSocket
    /// upgrades to the caller (to serve a page on the same port) instead of
    /// answering them with 400. Default false.
    pub allow_plain_http: bool,
    /// Server: which browser pages may connect; others get 403 before the
    /// caller sees the request. Default [`OriginPolicy::Any`].
    pub origin_policy: OriginPolicy,
    /// Accept frame lengths that are not in their shortest encoding.
    /// Default false (RFC 6455 §5.2 says the minimal form MUST be used).
    pub allow_non_minimal_length: bool,
    /// Server: accept unmasked client frames. Default false (§5.1 says the
    /// server MUST close the connection).
    pub allow_unmasked_client_frames: bool,
    /// Seed for the client's masking keys and handshake key. `None` (the
    /// default) draws fresh randomness from the OS with the `std` feature; set
    /// it only in tests, since predictable keys weaken §10.3's protection.
    pub mask_seed: Option<u64>,

    /// Longest the opening handshake may take from the first
    /// [`handle_timeout`](crate::Connection::handle_timeout); a server answers
    /// a slow request (slowloris) with 408. Default 10 s.
    pub handshake_timeout: Option<Duration>,
    /// Send a Ping when nothing was received for this long. Default 30 s.
    pub ping_interval: Option<Duration>,
    /// After a keepalive Ping, fail the connection with
    /// [`Error::KeepaliveTimeout`](crate::Error::KeepaliveTimeout) if nothing
    /// (a Pong or anything else) arrives for this long. Default 30 s.
    pub pong_timeout: Duration,
    /// On a keepalive timeout, drop the transport without a Close frame
    /// (the peer is presumed gone) instead of sending Close 1011. Default false.
    pub abort_on_keepalive_timeout: bool,
    /// Longest we wait for the peer's Close after sending ours; then the
    /// transport should be dropped. Default 10 s.
    pub close_timeout: Option<Duration>,
    /// Longest a fragmented message may take from its first frame to its
    /// last; longer fails with 1008. Default none.
    pub message_timeout: Option<Duration>,
    /// Close (1001) a connection on which nothing was received for this long.
    /// Default none.
    pub idle_timeout: Option<Duration>,
    /// Queued output above which [`Event::WriteBackpressure`](crate::Event::WriteBackpressure)
    /// reports `true`. Default 1 MiB.
    pub output_high_water: usize,
    /// Queued output at or below which backpressure is reported as over
    /// (`false`) again. Default 256 KiB.
    pub output_low_water: usize,
    /// permessage-deflate: what to offer (client) or accept (server);
    /// `None` turns it off. Default: on, with full windows and context
    /// takeover, like browsers.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_handshake_bytes: 16 * 1024,
            max_headers: 64,
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_output_buffer: 64 << 20,
            receive_mode: ReceiveMode::Message,
            auto_pong: true,
            allow_plain_http: false,
            origin_policy: OriginPolicy::Any,
            allow_non_minimal_length: false,
            allow_unmasked_client_frames: false,
            mask_seed: None,
            handshake_timeout: Some(Duration::from_secs(10)),
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(30),
            abort_on_keepalive_timeout: false,
            close_timeout: Some(Duration::from_secs(10)),
            message_timeout: None,
            idle_timeout: None,
            output_high_water: 1 << 20,
            output_low_water: 256 << 10,
            #[cfg(feature = "deflate")]
            deflate: Some(crate::DeflateConfig::default()),
        }
    }
}

/// `with_*` setters: each returns the config with one field changed.
macro_rules! setters {
    ($($(#[$cfg:meta])* $setter:ident($field:ident: $ty:ty);)*) => {
        impl Config {
            $(
                $(#[$cfg])*
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $setter(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

setters! {
    with_max_handshake_bytes(max_handshake_bytes: usize);
    with_max_headers(max_headers: usize);
    with_max_frame_size(max_frame_size: usize);
    with_max_message_size(max_message_size: usize);
    with_max_output_buffer(max_output_buffer: usize);
    with_receive_mode(receive_mode: ReceiveMode);
    with_auto_pong(auto_pong: bool);
    with_allow_plain_http(allow_plain_http: bool);
    with_origin_policy(origin_policy: OriginPolicy);
    with_allow_non_minimal_length(allow_non_minimal_length: bool);
    with_allow_unmasked_client_frames(allow_unmasked_client_frames: bool);
    with_mask_seed(mask_seed: Option<u64>);
    with_handshake_timeout(handshake_timeout: Option<Duration>);
    with_ping_interval(ping_interval: Option<Duration>);
    with_pong_timeout(pong_timeout: Duration);
    with_abort_on_keepalive_timeout(abort_on_keepalive_timeout: bool);
    with_close_timeout(close_timeout: Option<Duration>);
    with_message_timeout(message_timeout: Option<Duration>);
    with_idle_timeout(idle_timeout: Option<Duration>);
    with_output_high_water(output_high_water: usize);
    with_output_low_water(output_low_water: usize);
    #[cfg(feature = "deflate")]
    with_deflate(deflate: Option<crate::DeflateConfig>);
}
