//! The proxy for a URL from the environment, as curl reads it.

use super::Proxy;
use alloc::string::String;
use alloc::vec::Vec;

/// The proxy settings of the environment: `HTTPS_PROXY` for `wss://`,
/// `HTTP_PROXY` for `ws://`, `ALL_PROXY` for both (lowercase names first,
/// like curl; uppercase `HTTP_PROXY` is ignored, as curl does, because CGI
/// sets it from a request header), and `NO_PROXY` (comma-separated hosts or
/// domain suffixes, `*` for all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    https: Option<String>,
    http: Option<String>,
    all: Option<String>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        };
        ProxyEnv::from_values(
            var(&["https_proxy", "HTTPS_PROXY"]),
            var(&["http_proxy"]),
            var(&["all_proxy", "ALL_PROXY"]),
            var(&["no_proxy", "NO_PROXY"]),
        )
    }

    /// Settings given explicitly (`None` for an unset variable).
    pub fn from_values(
        https: Option<String>,
        http: Option<String>,
        all: Option<String>,
        no_proxy: Option<String>,
    ) -> Self {
        ProxyEnv {
            https,
            http,
            all,
            no_proxy: no_proxy
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
                        .filter(|entry| !entry.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The proxy to reach `host` through, for a `wss://` (`secure`) or
    /// `ws://` URL; `None` to connect directly. An unparsable proxy URL is
    /// ignored.
    pub fn proxy_for(&self, host: &str, secure: bool) -> Option<Proxy> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let excluded = self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == *entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        });
        if excluded {
            return None;
        }
        let chosen = if secure { &self.https } else { &self.http };
        chosen
            .as_ref()
            .or(self.all.as_ref())
            .and_then(|url| Proxy::from_url(url).ok())
    }
}

impl Proxy {
    /// The proxy the process environment names for `host` (see [`ProxyEnv`]).
    pub fn from_env(host: &str, secure: bool) -> Option<Proxy> {
        ProxyEnv::from_process().proxy_for(host, secure)
    }
}
