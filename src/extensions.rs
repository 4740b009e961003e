//! Negotiated extensions behind one narrow interface.
//!
//! The connection asks three things of its extensions: which RSV bits a
//! message may carry, how to transform an outgoing message, and how to
//! restore an incoming one. Negotiation happens once, in the handshake.
//! permessage-deflate (feature `deflate`) is the only extension so far; a
//! second one would add a field here and a module beside `deflate`.

use crate::config::Config;
use crate::error::Error;
#[cfg(feature = "deflate")]
use crate::frame::RSV1;
use alloc::string::String;
use alloc::vec::Vec;

#[cfg(feature = "deflate")]
use crate::deflate::{self, Deflate, DeflateParams};
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

/// The extensions in force on one connection.
#[derive(Debug, Default)]
pub(crate) struct Extensions {
    #[cfg(feature = "deflate")]
    deflate: Option<Box<Deflate>>,
}

impl Extensions {
    /// RSV bits a message's first frame may carry.
    pub(crate) fn allowed_rsv(&self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return RSV1;
        }
        0
    }

    /// Server: chooses among the client's offers; returns the extensions
    /// and the `Sec-WebSocket-Extensions` response value, if any.
    #[allow(unused_variables)]
    pub(crate) fn server_accept<'a>(
        offers: impl Iterator<Item = &'a str>,
        config: &Config,
    ) -> (Self, Option<String>) {
        #[cfg(feature = "deflate")]
        if let Some(deflate_config) = &config.deflate {
            if let Some((params, header)) = deflate::server_negotiate(offers, deflate_config) {
                let deflate = Deflate::new(params, true, deflate_config);
                return (
                    Extensions {
                        deflate: Some(Box::new(deflate)),
                    },
                    Some(header),
                );
            }
        }
        (Extensions::default(), None)
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
    pub(crate) fn client_accept<'a>(
        accepted: impl Iterator<Item = &'a str>,
        config: &Config,
    ) -> Result<Self, Error> {
        let mut extensions = Extensions::default();
        for element in accepted {
            #[cfg(feature = "deflate")]
            if let Some(deflate_config) = &config.deflate {
                let name = element.split(';').next().unwrap_or("").trim();
                if name.eq_ignore_ascii_case("permessage-deflate") && extensions.deflate.is_none() {
                    let params = deflate::client_accept(element, deflate_config)?;
                    extensions.deflate =
                        Some(Box::new(Deflate::new(params, false, deflate_config)));
                    continue;
                }
            }
            return Err(Error::UnofferedExtension);
        }
        Ok(extensions)
    }

    /// The permessage-deflate parameters, when negotiated.
    #[cfg(feature = "deflate")]
    pub(crate) fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|d| d.params())
    }

    /// Whether a whole message of `len` bytes is sent transformed (RSV1).
    #[allow(unused_variables)]
    pub(crate) fn compresses_message(&self, len: usize) -> bool {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return deflate.should_compress(len);
        }
        false
    }

    /// Whether a fragmented message is sent transformed.
    pub(crate) fn compresses_fragments(&self) -> bool {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return deflate.compresses_fragments();
        }
        false
    }

    /// The transformed `data`, in a buffer the extension reuses; `last`
    /// ends the message.
    #[allow(unused_variables)]
    pub(crate) fn compress<'a>(&'a mut self, data: &'a [u8], last: bool) -> &'a [u8] {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &mut self.deflate {
            return deflate.compress_to_scratch(data, last);
        }
        data
    }

    /// Restores part of an incoming transformed message.
    #[allow(unused_variables)]
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Inflated, Error> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &mut self.deflate {
            return deflate.inflate(input, out, max_out);
        }
        // Unreachable: RSV1 is refused when nothing was negotiated.
        Err(Error::ReservedBitsSet)
    }

    /// Completes an incoming transformed message; false while output is pending.
    #[allow(unused_variables)]
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<bool, Error> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &mut self.deflate {
            return deflate.finish_message(out, max_out);
        }
        Ok(true)
    }
}
