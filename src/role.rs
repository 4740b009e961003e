//! Which end a connection is, and where it stands.

/// Which end of the connection this machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends masked frames and expects unmasked ones.
    Client,
    /// Sends unmasked frames and expects masked ones.
    Server,
}

/// The browser API's `readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// The opening handshake is under way.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame and wait for the peer's.
    Closing,
    /// The connection is over: closed cleanly, failed, or rejected. Write out
    /// what is still pending, then close the transport.
    Closed,
}

/// Text or binary, for fragmented sends and streamed receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}
