//! The SOCKS5 negotiation (RFC 1928), with username/password (RFC 1929):
//! greeting, maybe authentication, then CONNECT, one answer each.

use super::{ProxyError, TunnelStatus};
use alloc::vec::Vec;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NONE_ACCEPTABLE: u8 = 0xFF;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the method the proxy chose.
    Method,
    /// Waiting for the verdict on the credentials.
    Auth,
    /// Waiting for the answer to CONNECT.
    Connect,
    Open,
    Failed,
}

#[derive(Debug)]
pub(super) struct Socks5 {
    stage: Stage,
    output: Vec<u8>,
    sent: usize,
    input: Vec<u8>,
    /// The CONNECT request, sent once the method (and auth) is settled.
    connect: Vec<u8>,
    auth: Option<Vec<u8>>,
    /// Bytes of `input` that were the proxy's answers.
    used: usize,
    error: Option<ProxyError>,
}

impl Socks5 {
    pub(super) fn new(host: &str, port: u16, credentials: Option<(&str, &str)>) -> Self {
        let mut error = None;
        let mut connect = alloc::vec![VERSION, 0x01, 0x00];
        if let Ok(v4) = host.parse::<core::net::Ipv4Addr>() {
            connect.push(0x01);
            connect.extend_from_slice(&v4.octets());
        } else if let Ok(v6) = host.parse::<core::net::Ipv6Addr>() {
            connect.push(0x04);
            connect.extend_from_slice(&v6.octets());
        } else if host.is_empty() || host.len() > 255 {
            error = Some(ProxyError::Unsendable);
        } else {
            connect.push(0x03);
            connect.push(host.len() as u8);
            connect.extend_from_slice(host.as_bytes());
        }
        connect.extend_from_slice(&port.to_be_bytes());
        let auth = credentials.map(|(user, password)| {
            if user.len() > 255 || password.len() > 255 {
                error = Some(ProxyError::Unsendable);
            }
            let mut auth = alloc::vec![0x01, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(password.len() as u8);
            auth.extend_from_slice(password.as_bytes());
            auth
        });
        let output = match auth {
            Some(_) => alloc::vec![VERSION, 2, NO_AUTH, USER_PASSWORD],
            None => alloc::vec![VERSION, 1, NO_AUTH],
        };
        Socks5 {
            stage: if error.is_some() {
                Stage::Failed
            } else {
                Stage::Method
            },
            output,
            sent: 0,
            input: Vec::new(),
            connect,
            auth,
            used: 0,
            error,
        }
    }

    pub(super) fn pending_output(&self) -> &[u8] {
        if self.stage == Stage::Failed {
            return &[];
        }
        &self.output[self.sent..]
    }

    pub(super) fn consume_output(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.output.len());
    }

    fn send(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    fn fail(&mut self, error: ProxyError) -> ProxyError {
        self.stage = Stage::Failed;
        self.error = Some(error.clone());
        error
    }

    pub(super) fn receive(&mut self, bytes: &[u8]) -> Result<TunnelStatus, ProxyError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        self.input.extend_from_slice(bytes);
        loop {
            let answer = &self.input[self.used..];
            match self.stage {
                Stage::Open => return Ok(TunnelStatus::Open),
                Stage::Failed => return Err(self.error.clone().unwrap_or(ProxyError::Malformed)),
                Stage::Method => {
                    let Some(&[version, method]) = answer.first_chunk::<2>() else {
                        return Ok(TunnelStatus::NeedInput);
                    };
                    self.used += 2;
                    if version != VERSION {
                        return Err(self.fail(ProxyError::Malformed));
                    }
                    match (method, self.auth.take()) {
                        (NO_AUTH, _) => {
                            let connect = core::mem::take(&mut self.connect);
                            self.send(&connect);
                            self.stage = Stage::Connect;
                        }
                        (USER_PASSWORD, Some(auth)) => {
                            self.send(&auth);
                            self.stage = Stage::Auth;
                        }
                        (NONE_ACCEPTABLE, _) => {
                            return Err(self.fail(ProxyError::SocksNoAcceptableMethod))
                        }
                        _ => return Err(self.fail(ProxyError::Malformed)),
                    }
                }
                Stage::Auth => {
                    let Some(&[version, status]) = answer.first_chunk::<2>() else {
                        return Ok(TunnelStatus::NeedInput);
                    };
                    self.used += 2;
                    if version != 0x01 {
                        return Err(self.fail(ProxyError::Malformed));
                    }
                    if status != 0 {
                        return Err(self.fail(ProxyError::SocksAuthFailed));
                    }
                    let connect = core::mem::take(&mut self.connect);
                    self.send(&connect);
                    self.stage = Stage::Connect;
                }
                Stage::Connect => {
                    let Some(&[version, reply, _, address_type]) = answer.first_chunk::<4>() else {
                        return Ok(TunnelStatus::NeedInput);
                    };
                    if version != VERSION {
                        return Err(self.fail(ProxyError::Malformed));
                    }
                    if reply != 0 {
                        return Err(self.fail(ProxyError::SocksReply(reply)));
                    }
                    let address_len = match address_type {
                        0x01 => 4,
                        0x04 => 16,
                        0x03 => match answer.get(4) {
                            Some(&len) => 1 + len as usize,
                            None => return Ok(TunnelStatus::NeedInput),
                        },
                        _ => return Err(self.fail(ProxyError::Malformed)),
                    };
                    let total = 4 + address_len + 2;
                    if answer.len() < total {
                        return Ok(TunnelStatus::NeedInput);
                    }
                    self.used += total;
                    self.stage = Stage::Open;
                }
            }
        }
    }

    pub(super) fn leftover(&self) -> &[u8] {
        match self.stage {
            Stage::Open => &self.input[self.used..],
            _ => &[],
        }
    }
}
