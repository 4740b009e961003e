//! Reading the opening handshake's head: the request (server) or the
//! response (client).

use super::state::{Handshake, Ready, Receiver, Step};
use crate::connection::link::Phase;
use crate::error::Error;
use crate::extensions;
use crate::handshake::{find_head_end, parse_request, parse_response};
use alloc::boxed::Box;

impl Receiver<'_> {
    pub(crate) fn step_handshake(&mut self) -> Step {
        let max_head = self.config.max_handshake_bytes;
        let Some(handshake) = self.state.handshake.as_deref_mut() else {
            return Step::NeedInput;
        };
        let live = self.input.live();
        let (scanned, is_server) = match handshake {
            Handshake::ReadingRequest { scanned } => (scanned, true),
            Handshake::ReadingResponse { scanned, .. } => (scanned, false),
            // Waiting for the caller (server) or for the event to be taken (client).
            Handshake::AwaitingDecision(_) | Handshake::Answered(_) => return Step::NeedInput,
        };
        let Some(end) = find_head_end(live, *scanned) else {
            *scanned = live.len();
            let too_large = live.len() > max_head;
            let error = if is_server {
                if too_large {
                    Some(Error::RequestHeadTooLarge)
                } else if !plausible_request_start(live) {
                    Some(Error::MalformedRequest)
                } else {
                    None
                }
            } else {
                too_large.then_some(Error::ResponseHeadTooLarge)
            };
            return match error {
                Some(error) => Step::Event(self.fail(error)),
                None => Step::NeedInput,
            };
        };
        if end > max_head {
            let error = if is_server {
                Error::RequestHeadTooLarge
            } else {
                Error::ResponseHeadTooLarge
            };
            return Step::Event(self.fail(error));
        }
        let head = &live[..end];
        let max_headers = self.config.max_headers;
        let outcome = if is_server {
            let policy = &self.config.origin_policy;
            parse_request(head, max_headers, self.config.allow_plain_http)
                .and_then(|request| {
                    let allowed = !request.is_websocket_upgrade()
                        || policy.allows(request.origin(), request.host());
                    if allowed {
                        Ok(request)
                    } else {
                        Err(Error::OriginNotAllowed)
                    }
                })
                .map(Handshake::AwaitingDecision)
        } else {
            parse_response(head, max_headers).map(Handshake::Answered)
        };
        self.input.consume(end);
        let next = match outcome {
            Ok(next) => next,
            Err(error) => return Step::Event(self.fail(error)),
        };
        let previous = core::mem::replace(handshake, next);
        match (&*handshake, previous) {
            (Handshake::AwaitingDecision(_), _) => Step::Event(Ready::HandshakeRequest),
            (
                Handshake::Answered(response),
                Handshake::ReadingResponse {
                    handshake: client, ..
                },
            ) => {
                let accepted = response.status() == 101;
                if accepted {
                    let negotiated = match client.verify(response, self.config) {
                        Ok(negotiated) => negotiated,
                        Err(error) => return Step::Event(self.fail(error)),
                    };
                    let params = negotiated.extensions;
                    let (receive, _) = extensions::build(&params, false, self.config);
                    self.state.extensions = receive;
                    self.state.agreed = Some(Box::new((negotiated.into_protocol(), params)));
                    self.link.set_phase(Phase::Open);
                } else {
                    self.link.set_phase(Phase::Closed);
                }
                self.state.release.drop_handshake = true;
                Step::Event(Ready::HandshakeAnswered { accepted })
            }
            // A response is read only in `ReadingResponse`.
            _ => Step::Event(self.fail(Error::MalformedResponse)),
        }
    }
}

/// A request line starts with a method token; anything else (TLS, binary
/// noise) is rejected before the head is complete.
fn plausible_request_start(live: &[u8]) -> bool {
    let token_end = live.iter().position(|&b| b == b' ').unwrap_or(live.len());
    token_end <= 16
        && live[..token_end]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
