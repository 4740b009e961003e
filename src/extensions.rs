//! Negotiated extensions behind one narrow interface.
//!
//! Negotiation happens once, in the handshake, and yields
//! [`ExtensionParams`]. From them the connection builds a receive side
//! (which RSV bits a message may carry, how to restore an incoming message)
//! and a send side (how to transform an outgoing one), owned by the receive
//! and send paths. permessage-deflate (feature `deflate`) is the only
//! extension so far; a second one would add a field to each and a module
//! beside `deflate`.

use crate::config::Config;
use crate::error::Error;
#[cfg(feature = "deflate")]
use crate::frame::RSV1;
use alloc::string::String;
use alloc::vec::Vec;

#[cfg(feature = "deflate")]
use crate::deflate::{self, DeflateParams, Deflater, Inflater};
#[cfg(feature = "deflate")]
use alloc::boxed::Box;

/// How much output one inflate step may produce in stream mode before the
/// caller gets it.
pub(crate) const INFLATE_STEP: usize = 64 * 1024;

/// Result of restoring (inflating) part of an incoming message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inflated {
    /// Input bytes consumed.
    pub(crate) used: usize,
    /// The output budget ran out; more output may be pending.
    pub(crate) full: bool,
}

/// The extension parameters agreed in a handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtensionParams {
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<DeflateParams>,
}

/// Server: chooses among the client's offers; returns the parameters and
/// the `Sec-WebSocket-Extensions` response value, if any.
#[allow(unused_variables)]
pub(crate) fn server_choose<'a>(
    offers: impl Iterator<Item = &'a str>,
    config: &Config,
) -> (ExtensionParams, Option<String>) {
    #[cfg(feature = "deflate")]
    if let Some(deflate_config) = &config.deflate {
        if let Some((params, header)) = deflate::server_negotiate(offers, deflate_config) {
            return (
                ExtensionParams {
                    deflate: Some(params),
                },
                Some(header),
            );
        }
    }
    (ExtensionParams::default(), None)
}

/// Client: the offers to add to the request.
#[allow(unused_variables)]
pub(crate) fn client_offers(config: &Config) -> Vec<String> {
    #[cfg(feature = "deflate")]
    if let Some(deflate_config) = &config.deflate {
        return alloc::vec![deflate::client_offer(deflate_config)];
    }
    Vec::new()
}

/// Client: checks the extensions a server accepted.
#[allow(unused_mut, unused_variables)]
// Without deflate every accepted extension is refused at once.
#[cfg_attr(not(feature = "deflate"), allow(clippy::never_loop))]
pub(crate) fn client_check<'a>(
    accepted: impl Iterator<Item = &'a str>,
    config: &Config,
) -> Result<ExtensionParams, Error> {
    let mut params = ExtensionParams::default();
    for element in accepted {
        #[cfg(feature = "deflate")]
        if let Some(deflate_config) = &config.deflate {
            let name = element.split(';').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("permessage-deflate") && params.deflate.is_none() {
                params.deflate = Some(deflate::client_accept(element, deflate_config)?);
                continue;
            }
        }
        return Err(Error::UnofferedExtension);
    }
    Ok(params)
}

/// Builds both sides of the negotiated extensions for one connection.
#[allow(unused_variables)]
pub(crate) fn build(
    params: &ExtensionParams,
    is_server: bool,
    config: &Config,
) -> (ReceiveExtensions, SendExtensions) {
    #[cfg(feature = "deflate")]
    if let Some(deflate) = &params.deflate {
        let (level, threshold) = config
            .deflate
            .as_ref()
            .map_or((6, 32), |c| (c.level, c.threshold));
        return (
            ReceiveExtensions {
                inflater: Some(Box::new(Inflater::new(deflate, is_server))),
            },
            SendExtensions {
                deflater: Some(Box::new(Deflater::new(
                    deflate, is_server, level, threshold,
                ))),
            },
        );
    }
    (ReceiveExtensions::default(), SendExtensions::default())
}

/// What the receive path asks of the extensions.
#[derive(Debug, Default)]
pub(crate) struct ReceiveExtensions {
    #[cfg(feature = "deflate")]
    inflater: Option<Box<Inflater>>,
}

impl ReceiveExtensions {
    /// RSV bits a message's first frame may carry.
    pub(crate) fn allowed_rsv(&self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.inflater.is_some() {
            return RSV1;
        }
        0
    }

    /// Restores part of an incoming transformed message.
    #[allow(unused_variables)]
    // The inflater grows `out`; without deflate nothing touches it.
    #[cfg_attr(not(feature = "deflate"), allow(clippy::ptr_arg))]
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Inflated, Error> {
        #[cfg(feature = "deflate")]
        if let Some(inflater) = &mut self.inflater {
            let progress = inflater.inflate(input, out, max_out)?;
            return Ok(Inflated {
                used: progress.used,
                full: progress.full,
            });
        }
        // Unreachable: RSV1 is refused when nothing was negotiated.
        Err(Error::ReservedBitsSet)
    }

    /// Completes an incoming transformed message; false while output is pending.
    #[allow(unused_variables)]
    #[cfg_attr(not(feature = "deflate"), allow(clippy::ptr_arg))]
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<bool, Error> {
        #[cfg(feature = "deflate")]
        if let Some(inflater) = &mut self.inflater {
            return inflater.finish_message(out, max_out);
        }
        Ok(true)
    }
}

/// What the send path asks of the extensions.
#[derive(Debug, Default)]
pub(crate) struct SendExtensions {
    #[cfg(feature = "deflate")]
    deflater: Option<Box<Deflater>>,
}

impl SendExtensions {
    /// Whether a whole message of `len` bytes is sent transformed (RSV1).
    #[allow(unused_variables)]
    pub(crate) fn compresses_message(&self, len: usize) -> bool {
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &self.deflater {
            return deflater.should_compress(len);
        }
        false
    }

    /// Whether a fragmented message is sent transformed.
    pub(crate) fn compresses_fragments(&self) -> bool {
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &self.deflater {
            return deflater.compresses_fragments();
        }
        false
    }

    /// Whether a message compressed alone, with a fresh context and a full
    /// window, may go out as it is (see `PreparedMessage`).
    #[cfg(all(feature = "bytes", feature = "deflate"))]
    pub(crate) fn accepts_standalone(&self) -> bool {
        self.deflater
            .as_ref()
            .is_some_and(|deflater| deflater.accepts_standalone())
    }

    /// The transformed `data`, in a buffer the extension reuses; `last`
    /// ends the message.
    #[allow(unused_variables)]
    pub(crate) fn compress<'a>(&'a mut self, data: &'a [u8], last: bool) -> &'a [u8] {
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &mut self.deflater {
            return deflater.compress_to_scratch(data, last);
        }
        data
    }
}
