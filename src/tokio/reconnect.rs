//! A client that connects again by itself when its connection ends (断线重连):
//! backoff as RFC 6455 §7.2.3 asks, and a say in which failures are final.

use super::client::ClientBuilder;
use super::stream::MaybeTlsStream;
use super::WebSocket;
use crate::proxy::ProxyError;
use crate::ws_error::WsError;
use core::time::Duration;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use tokio::time::Instant;

/// Decides, for an error, whether to try again: `Some(true)`, `Some(false)`,
/// or `None` for the policy's default.
type RetryHook = Arc<dyn Fn(&WsError) -> Option<bool> + Send + Sync>;

/// When and whether a client connects again.
///
/// The first attempt after a connection ends (or fails) waits a random time
/// between zero and [`first_delay_max`](Self::first_delay_max) (5 s by
/// default, RFC 6455 §7.2.3), so that clients dropped together do not come
/// back together; each further attempt waits 1.618 times longer, up to
/// [`max_delay`](Self::max_delay). A connection that stayed up for
/// [`healthy_after`](Self::healthy_after) starts the backoff afresh.
///
/// I/O errors, timeouts, connections that failed or were closed, and 5xx
/// answers are retried; any other refusal (a 4xx: forbidden, not found,
/// unauthorized, from the server or a proxy; a proxy that refuses our
/// credentials), a bad URL or a TLS failure is final; a hook decides
/// otherwise where it says so.
#[derive(Clone)]
pub struct ReconnectPolicy {
    first_delay_max: Duration,
    factor: f64,
    max_delay: Duration,
    healthy_after: Duration,
    max_attempts: Option<u32>,
    hook: Option<RetryHook>,
}

impl core::fmt::Debug for ReconnectPolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReconnectPolicy")
            .field("first_delay_max", &self.first_delay_max)
            .field("factor", &self.factor)
            .field("max_delay", &self.max_delay)
            .field("healthy_after", &self.healthy_after)
            .field("max_attempts", &self.max_attempts)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            first_delay_max: Duration::from_secs(5),
            factor: 1.618,
            max_delay: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            max_attempts: None,
            hook: None,
        }
    }
}

impl ReconnectPolicy {
    /// The first wait is random between zero and this. Default 5 s.
    pub fn first_delay_max(mut self, limit: Duration) -> Self {
        self.first_delay_max = limit;
        self
    }

    /// Each further wait is this many times the last. Default 1.618.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor.max(1.0);
        self
    }

    /// The longest wait. Default 60 s.
    pub fn max_delay(mut self, limit: Duration) -> Self {
        self.max_delay = limit;
        self
    }

    /// A connection that stayed up this long resets the backoff. Default 60 s.
    pub fn healthy_after(mut self, length: Duration) -> Self {
        self.healthy_after = length;
        self
    }

    /// Gives up after this many attempts in a row. Default: never.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Lets `hook` decide whether an error is worth another attempt:
    /// `Some(true)` retry, `Some(false)` stop, `None` the default.
    pub fn retry_if(
        mut self,
        hook: impl Fn(&WsError) -> Option<bool> + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Whether `error` is worth another attempt.
    pub fn should_retry(&self, error: &WsError) -> bool {
        if let Some(decided) = self.hook.as_ref().and_then(|hook| hook(error)) {
            return decided;
        }
        match error {
            WsError::Io(_) | WsError::Timeout | WsError::Protocol(_) | WsError::Closed => true,
            WsError::Rejected(response) => (500..600).contains(&response.status()),
            // The proxy refused us (credentials, or a 4xx): final, as from
            // the server; a 5xx, a SOCKS failure reply or garbled answer
            // may pass.
            WsError::Proxy(proxy) => match proxy {
                ProxyError::HttpStatus(status) => (500..600).contains(status),
                ProxyError::SocksAuthFailed
                | ProxyError::SocksNoAcceptableMethod
                | ProxyError::Unsendable => false,
                _ => true,
            },
            _ => false,
        }
    }
}

/// Connections to one URL, one after another: [`next`](Self::next) waits
/// as the policy says, connects, and hands over the socket; when the caller
/// is done with it (it closed or failed), `next` connects again.
///
/// ```no_run
/// use wsmachine::tokio::{reconnecting, ReconnectPolicy};
/// # async fn demo() {
/// let mut connections = reconnecting("ws://127.0.0.1:9001/feed", ReconnectPolicy::default());
/// while let Some(mut ws) = connections.next().await {
///     while let Some(Ok(message)) = ws.recv().await {
///         println!("{message:?}");
///     }
/// }
/// println!("gave up: {:?}", connections.last_error());
/// # }
/// ```
#[derive(Debug)]
pub struct Reconnecting {
    builder: ClientBuilder,
    policy: ReconnectPolicy,
    /// The last wait, for the next one to grow from; `None`: start afresh.
    backoff: Option<Duration>,
    /// When the connection handed out last came up.
    connected_at: Option<Instant>,
    started: bool,
    finished: bool,
    attempts: u32,
    last_error: Option<WsError>,
    waits: Vec<Duration>,
}

/// Connections to `url` with the default options, again and again as
/// `policy` says.
pub fn reconnecting(url: &str, policy: ReconnectPolicy) -> Reconnecting {
    ClientBuilder::new(url).reconnecting(policy)
}

impl ClientBuilder {
    /// Connections with these options, again and again as `policy` says.
    pub fn reconnecting(self, policy: ReconnectPolicy) -> Reconnecting {
        Reconnecting {
            builder: self,
            policy,
            backoff: None,
            connected_at: None,
            started: false,
            finished: false,
            attempts: 0,
            last_error: None,
            waits: Vec::new(),
        }
    }
}

impl Reconnecting {
    /// The next connection: at once the first time, then after the wait
    /// the policy gives; `None` once an error was final or the attempts ran
    /// out (see [`last_error`](Self::last_error)).
    ///
    /// Cancel safe: dropping it mid-wait or mid-connect loses nothing; the
    /// next call waits again.
    pub async fn next(&mut self) -> Option<WebSocket<MaybeTlsStream>> {
        if self.finished {
            return None;
        }
        if let Some(up_since) = self.connected_at.take() {
            if up_since.elapsed() >= self.policy.healthy_after {
                self.backoff = None;
            }
        }
        if self.started {
            self.wait().await;
        }
        self.started = true;
        loop {
            self.attempts += 1;
            match self.builder.clone().connect().await {
                Ok((ws, _)) => {
                    self.attempts = 0;
                    self.connected_at = Some(Instant::now());
                    return Some(ws);
                }
                Err(error) => {
                    let retry = self.policy.should_retry(&error)
                        && self
                            .policy
                            .max_attempts
                            .is_none_or(|max| self.attempts < max);
                    self.last_error = Some(error);
                    if !retry {
                        self.finished = true;
                        return None;
                    }
                    self.wait().await;
                }
            }
        }
    }

    /// Sleeps for the next wait of the backoff.
    async fn wait(&mut self) {
        let wait = match self.backoff {
            None => self.policy.first_delay_max.mul_f64(random_fraction()),
            Some(last) => last
                .max(Duration::from_millis(1))
                .mul_f64(self.policy.factor)
                .min(self.policy.max_delay),
        };
        self.backoff = Some(wait);
        self.waits.push(wait);
        tokio::time::sleep(wait).await;
    }

    /// Why the last attempt failed (and, once `next` returned `None`, why
    /// it gave up).
    pub fn last_error(&self) -> Option<&WsError> {
        self.last_error.as_ref()
    }

    /// Every wait so far, in order.
    pub fn waits(&self) -> &[Duration] {
        &self.waits
    }
}

/// A random number in [0, 1): the OS-seeded hasher's output.
fn random_fraction() -> f64 {
    let random = std::collections::hash_map::RandomState::new().hash_one(0x7265_636f_u64);
    (random >> 11) as f64 / (1u64 << 53) as f64
}
