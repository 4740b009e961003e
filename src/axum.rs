//! An axum extractor (feature `axum`): a WebSocket with wsmachine's
//! compression, over HTTP/1.1 and HTTP/2.
//!
//! Declare the route with `any(...)`, not `get(...)`: an HTTP/1.1 upgrade is
//! a GET, but a WebSocket over HTTP/2 (RFC 8441) is a CONNECT, and serve
//! with `enable_connect_protocol()` on hyper's HTTP/2 builder for browsers
//! to use it.
//!
//! ```no_run
//! use axum::{response::Response, routing::any, Router};
//! use wsmachine::axum::WebSocketUpgrade;
//!
//! async fn handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat"]).on_upgrade(|mut socket| async move {
//!         while let Some(Ok(message)) = socket.recv().await {
//!             if socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! let app: Router = Router::new().route("/ws", any(handler));
//! # let _ = app;
//! ```

use crate::http::error_response;
use crate::hyper::Upgraded;
use crate::tokio::WebSocket;
use crate::ws_error::WsError;
use crate::{Accept, Config, Connection, HandshakeRequest, Role};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use core::future::Future;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Extracts a WebSocket upgrade request (HTTP/1.1 Upgrade or HTTP/2
/// extended CONNECT); answer it with [`on_upgrade`](Self::on_upgrade).
pub struct WebSocketUpgrade<F = IgnoreFailedUpgrade> {
    request: HandshakeRequest,
    on_upgrade: OnUpgrade,
    config: Arc<Config>,
    accept: Accept,
    on_failed_upgrade: F,
}

impl<F> core::fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .field("accept", &self.accept)
            .finish_non_exhaustive()
    }
}

/// Why a request is not a WebSocket upgrade this extractor can take; as a
/// response: the status the checks call for (400, 405, 426 with
/// `Sec-WebSocket-Version: 13`, 501), or 426 when the connection cannot be
/// upgraded at all.
#[derive(Debug)]
pub struct WebSocketUpgradeRejection {
    error: Option<crate::Error>,
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        match self.error {
            Some(error) => error_response(error).map(axum::body::Body::from),
            None => (
                axum::http::StatusCode::UPGRADE_REQUIRED,
                [("sec-websocket-version", "13")],
                "this connection cannot be upgraded",
            )
                .into_response(),
        }
    }
}

impl core::fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.error {
            Some(error) => write!(f, "not a WebSocket upgrade: {error}"),
            None => f.write_str("the connection cannot be upgraded"),
        }
    }
}

impl std::error::Error for WebSocketUpgradeRejection {}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let checked = if parts.method == Method::CONNECT {
            let protocol = parts
                .extensions
                .get::<hyper::ext::Protocol>()
                .map(|protocol| protocol.as_str().to_owned())
                .unwrap_or_default();
            HandshakeRequest::from_extended_connect_parts(parts, &protocol)
        } else {
            HandshakeRequest::try_from(&*parts)
        };
        let request = checked.map_err(|error| WebSocketUpgradeRejection { error: Some(error) })?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(WebSocketUpgradeRejection { error: None })?;
        Ok(WebSocketUpgrade {
            request,
            on_upgrade,
            config: Arc::new(Config::default()),
            accept: Accept::new(),
            on_failed_upgrade: IgnoreFailedUpgrade,
        })
    }
}

/// What to do when the upgrade fails after the response went out.
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the error.
    fn call(self, error: WsError);
}

impl<F: FnOnce(WsError) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: WsError) {
        self(error)
    }
}

/// The default: a failed upgrade is dropped silently.
#[derive(Clone, Copy, Debug, Default)]
pub struct IgnoreFailedUpgrade;

impl OnFailedUpgrade for IgnoreFailedUpgrade {
    fn call(self, _: WsError) {}
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// The request: path, Origin, offered protocols and extensions, headers.
    pub fn request(&self) -> &HandshakeRequest {
        &self.request
    }

    /// Chooses the first of `supported` (in this order of preference) that
    /// the client offered, if any.
    pub fn protocols<I>(mut self, supported: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let offered: Vec<&str> = self.request.protocols().collect();
        if let Some(chosen) = supported
            .into_iter()
            .find(|protocol| offered.contains(&protocol.as_ref()))
        {
            self.accept = self.accept.protocol(chosen.as_ref());
        }
        self
    }

    /// The configuration of the connection (limits, keepalive, compression).
    pub fn config(mut self, config: impl Into<Arc<Config>>) -> Self {
        self.config = config.into();
        self
    }

    /// Adds a header to the upgrade response.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.accept = self.accept.header(name, value);
        self
    }

    /// Calls `callback` if the upgrade fails after the response was sent.
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            request: self.request,
            on_upgrade: self.on_upgrade,
            config: self.config,
            accept: self.accept,
            on_failed_upgrade: callback,
        }
    }

    /// Answers the request (101 over HTTP/1.1, 200 over HTTP/2) and, once
    /// the connection is handed over, runs `callback` with the socket on a
    /// task of its own.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket<Upgraded>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let policy = &self.config.origin_policy;
        if !policy.allows(self.request.origin(), self.request.host()) {
            return error_response(crate::Error::OriginNotAllowed).map(axum::body::Body::from);
        }
        let answer = match self.request.accept_with(&self.accept, &self.config) {
            Ok(answer) => answer,
            Err(error) => {
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the upgrade cannot be answered as asked: {error}"),
                )
                    .into_response()
            }
        };
        let response = answer.to_response();
        let negotiated = answer.into_negotiated();
        let (config, on_upgrade, on_failed) =
            (self.config, self.on_upgrade, self.on_failed_upgrade);
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => return on_failed.call(WsError::Io(std::io::Error::other(error))),
            };
            match Connection::upgraded_with(Role::Server, config, negotiated) {
                Ok(conn) => {
                    callback(WebSocket::from_connection(TokioIo::new(upgraded), conn)).await
                }
                Err(error) => on_failed.call(error.into()),
            }
        });
        response.map(|()| axum::body::Body::empty())
    }
}
