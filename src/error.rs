//! What can go wrong, split by whose fault it is.
//!
//! [`Error`] is the peer's fault (or the network's): the connection has failed,
//! the machine has queued the right Close frame or HTTP response, and the error
//! stays. [`SendError`] is the caller's: a call that made no sense in the
//! current state; the connection is unaffected.

use crate::close::CloseCode;
use core::fmt;

/// Why a connection failed. Each value knows the close code or HTTP status the
/// machine sent (or would have sent) for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- opening handshake, server side ---
    /// The request head is not valid HTTP/1.1.
    MalformedRequest,
    /// The request head or one header line is over `Config::max_handshake_bytes`.
    RequestHeadTooLarge,
    /// More header lines than `Config::max_headers`.
    TooManyHeaders,
    /// The method is not GET.
    MethodNotGet,
    /// The request is not HTTP/1.1 or later.
    UnsupportedHttpVersion,
    /// No Host header.
    MissingHost,
    /// `Upgrade: websocket` or `Connection: Upgrade` is missing.
    NotAnUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes in base64.
    InvalidKey,
    /// `Sec-WebSocket-Version` is not 13.
    UnsupportedWebSocketVersion,
    /// An HTTP/2 extended CONNECT (RFC 8441) for another protocol than
    /// `websocket`.
    UnsupportedConnectProtocol,
    /// A browser page whose `Origin` the configured
    /// [`OriginPolicy`](crate::OriginPolicy) refuses.
    OriginNotAllowed,

    // --- opening handshake, client side ---
    /// The response head is not valid HTTP/1.1.
    MalformedResponse,
    /// The response head is over `Config::max_handshake_bytes`.
    ResponseHeadTooLarge,
    /// A 101 response without `Upgrade: websocket` and `Connection: Upgrade`.
    ResponseNotAnUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match our key.
    InvalidAccept,
    /// The server chose a subprotocol we did not offer, or several.
    UnofferedProtocol,
    /// The server answered with an extension we did not offer.
    UnofferedExtension,
    /// The server's extension parameters break the extension's rules.
    InvalidExtensionResponse,

    // --- frames and messages ---
    /// An opcode RFC 6455 reserves (0x3–0x7, 0xB–0xF).
    ReservedOpcode,
    /// An RSV bit set that no negotiated extension defines.
    ReservedBitsSet,
    /// A control frame with a payload over 125 bytes.
    ControlFrameTooLong,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A length not in its shortest encoding.
    NonMinimalLength,
    /// A 64-bit length with its most significant bit set.
    LengthTooLarge,
    /// A server received a frame without a mask.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message was in progress.
    ExpectedContinuation,
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A Close frame whose payload is one byte long.
    InvalidClosePayload,
    /// A Close frame with a code that may not appear on the wire.
    InvalidCloseCode,
    /// A Close frame whose reason is not UTF-8.
    InvalidCloseReason,
    /// Compressed data that does not inflate.
    InvalidCompressedData,
    /// A frame over `Config::max_frame_size`.
    FrameTooLarge,
    /// A message over `Config::max_message_size`.
    MessageTooLarge,

    // --- transport and time ---
    /// The transport ended before the closing handshake did.
    AbnormalClosure,
    /// The opening handshake took longer than `Config::handshake_timeout`.
    HandshakeTimeout,
    /// Nothing arrived within `Config::pong_timeout` of a keepalive Ping.
    KeepaliveTimeout,
    /// The peer did not answer our Close within `Config::close_timeout`.
    CloseTimeout,
    /// A fragmented message took longer than `Config::message_timeout`.
    MessageTimeout,
}

impl Error {
    /// The close code the machine sent the peer for this error, if any.
    ///
    /// Handshake errors have none (they get an HTTP status instead), nor does
    /// an abnormal closure (there is no one left to tell).
    pub fn close_code(self) -> Option<CloseCode> {
        use Error::*;
        Some(match self {
            InvalidUtf8 | InvalidCloseReason | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge | MessageTooLarge => CloseCode::MESSAGE_TOO_BIG,
            ReservedOpcode
            | ReservedBitsSet
            | ControlFrameTooLong
            | FragmentedControlFrame
            | NonMinimalLength
            | LengthTooLarge
            | UnmaskedFrame
            | MaskedFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | InvalidClosePayload
            | InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
            KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            MessageTimeout => CloseCode::POLICY_VIOLATION,
            _ => return None,
        })
    }

    /// The HTTP status a server answers a bad handshake request with.
    pub fn http_status(self) -> Option<u16> {
        use Error::*;
        Some(match self {
            MalformedRequest | MissingHost | NotAnUpgrade | InvalidKey => 400,
            MethodNotGet => 405,
            UnsupportedHttpVersion => 505,
            RequestHeadTooLarge | TooManyHeaders => 431,
            UnsupportedWebSocketVersion => 426,
            UnsupportedConnectProtocol => 501,
            OriginNotAllowed => 403,
            HandshakeTimeout => 408,
            _ => return None,
        })
    }

    /// A short human-readable description, also used as the close reason.
    pub fn description(self) -> &'static str {
        use Error::*;
        match self {
            MalformedRequest => "malformed HTTP request",
            RequestHeadTooLarge => "request head too large",
            TooManyHeaders => "too many request headers",
            MethodNotGet => "method is not GET",
            UnsupportedHttpVersion => "HTTP version is not 1.1",
            MissingHost => "missing Host header",
            NotAnUpgrade => "not a WebSocket upgrade request",
            InvalidKey => "missing or invalid Sec-WebSocket-Key",
            UnsupportedWebSocketVersion => "unsupported Sec-WebSocket-Version",
            UnsupportedConnectProtocol => "extended CONNECT for a protocol other than websocket",
            OriginNotAllowed => "origin not allowed",
            MalformedResponse => "malformed HTTP response",
            ResponseHeadTooLarge => "response head too large",
            ResponseNotAnUpgrade => "101 response is not a WebSocket upgrade",
            InvalidAccept => "missing or wrong Sec-WebSocket-Accept",
            UnofferedProtocol => "server chose a subprotocol that was not offered",
            UnofferedExtension => "server chose an extension that was not offered",
            InvalidExtensionResponse => "invalid extension parameters in the response",
            InvalidCompressedData => "compressed data does not inflate",
            ReservedOpcode => "reserved opcode",
            ReservedBitsSet => "reserved bits set",
            ControlFrameTooLong => "control frame longer than 125 bytes",
            FragmentedControlFrame => "fragmented control frame",
            NonMinimalLength => "length not minimally encoded",
            LengthTooLarge => "64-bit length with the top bit set",
            UnmaskedFrame => "unmasked frame from client",
            MaskedFrame => "masked frame from server",
            UnexpectedContinuation => "continuation frame without a message in progress",
            ExpectedContinuation => "new data frame inside a fragmented message",
            InvalidUtf8 => "invalid UTF-8 in text message",
            InvalidClosePayload => "close payload of one byte",
            InvalidCloseCode => "invalid close code",
            InvalidCloseReason => "invalid UTF-8 in close reason",
            FrameTooLarge => "frame too large",
            MessageTooLarge => "message too large",
            AbnormalClosure => "transport closed without a closing handshake",
            HandshakeTimeout => "opening handshake timed out",
            KeepaliveTimeout => "no answer to keepalive ping",
            CloseTimeout => "closing handshake timed out",
            MessageTimeout => "fragmented message timed out",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// A call the connection cannot carry out in its current state. The
/// connection itself is unaffected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The opening handshake has not completed yet.
    NotOpen,
    /// A Close frame was already sent or the connection has failed or closed.
    Closed,
    /// The call does not fit the handshake state (e.g. `accept` on a client).
    WrongState,
    /// Queuing this would take the output buffer over `Config::max_output_buffer`.
    OutputFull,
    /// A close code that may not be sent (e.g. 1005, 1006, 999).
    InvalidCloseCode,
    /// A Ping, Pong or Close payload over 125 bytes (a close reason over 123).
    ControlPayloadTooLong,
    /// A fragment continuation with no fragmented message started, or a new
    /// message while a fragmented one is still open.
    FragmentOrder,
    /// An HTTP status or header that cannot be written as given.
    InvalidHttp,
    /// Text fragments whose bytes are not UTF-8.
    InvalidUtf8,
    /// A client without the `std` feature needs `Config::mask_seed`.
    NoRandomness,
    /// `send_vectored` needs the output queue written out first.
    OutputPending,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NotOpen => "the opening handshake has not completed",
            SendError::Closed => "the connection is closing or closed",
            SendError::WrongState => "not possible in this handshake state",
            SendError::OutputFull => "output buffer limit reached",
            SendError::InvalidCloseCode => "close code may not be sent",
            SendError::ControlPayloadTooLong => "control frame payload too long",
            SendError::FragmentOrder => "fragments sent out of order",
            SendError::InvalidHttp => "invalid HTTP status or header",
            SendError::InvalidUtf8 => "text is not UTF-8",
            SendError::NoRandomness => "no randomness for masking keys: set Config::mask_seed",
            SendError::OutputPending => "write the pending output before a vectored send",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}
