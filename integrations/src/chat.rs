//! The chat example (`examples/chat.rs`) behind axum: the same page, routes
//! (`/`, `/ws`, `/echo`, `/report`), room and Origin rule, with the
//! example's own code doing the work. Served by [`serve_with`](crate::serve_with)
//! it speaks HTTP/1.1 and HTTP/2 on one port, so a browser that loaded the
//! page over HTTP/2 opens its WebSockets with an extended CONNECT (RFC 8441).
//!
//! Each WebSocket's arrival is recorded ([`Arrival`]: its path, HTTP version
//! and whether it was an extended CONNECT), and so is each page load; `GET
//! /stats` lists them, one line each: `/echo HTTP/2.0 extended-connect`.

use crate::Options;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use wsmachine::axum::WebSocketUpgrade;

/// The example itself: its room, page, settings and endpoint loops. Its
/// `main` and its own accept loop go unused here.
#[path = "../../examples/chat.rs"]
#[allow(dead_code, unexpected_cfgs)]
mod example;

/// How one WebSocket (or the page) arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// `/ws`, `/echo` or `/report`; `/` for the page.
    pub path: String,
    /// The request's HTTP version.
    pub version: Version,
    /// An HTTP/2 extended CONNECT (RFC 8441), not an HTTP/1.1 Upgrade.
    pub extended_connect: bool,
}

/// Every WebSocket accepted and page served so far, in order.
pub type Arrivals = Arc<Mutex<Vec<Arrival>>>;

#[derive(Clone)]
struct Shared {
    room: Arc<example::Room>,
    reports: Option<mpsc::UnboundedSender<String>>,
    stop: watch::Receiver<bool>,
    arrivals: Arrivals,
}

/// The chat app: its router and the record of arrivals. Self-test reports
/// (the first text on `/report`) are printed as `SELFTEST <text>` and, if
/// `reports` is given, sent there too; when `stop` turns true every chat
/// member is closed with 1001.
pub fn app(
    reports: Option<mpsc::UnboundedSender<String>>,
    stop: watch::Receiver<bool>,
) -> (Router, Arrivals) {
    let arrivals = Arrivals::default();
    let shared = Shared {
        room: Arc::new(example::Room::new()),
        reports,
        stop,
        arrivals: arrivals.clone(),
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/stats", get(stats))
        .route("/ws", any(websocket))
        .route("/echo", any(websocket))
        .route("/report", any(websocket))
        .with_state(shared);
    (router, arrivals)
}

/// Serves the chat on `listener` over TLS (a self-signed certificate, ALPN
/// `h2` and `http/1.1`) until the process ends.
pub async fn serve_tls(
    listener: TcpListener,
    reports: Option<mpsc::UnboundedSender<String>>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Arrivals> {
    let tls = crate::self_signed_acceptor(listener.local_addr()?)?;
    let (router, arrivals) = app(reports, stop);
    let options = Options {
        tls: Some(tls),
        ..Options::default()
    };
    tokio::spawn(crate::serve_with(listener, router, options));
    Ok(arrivals)
}

async fn page(State(shared): State<Shared>, version: Version) -> Response {
    shared
        .arrivals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arrival {
            path: "/".into(),
            version,
            extended_connect: false,
        });
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        example::PAGE,
    )
        .into_response()
}

async fn stats(State(shared): State<Shared>) -> String {
    let arrivals = shared
        .arrivals
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    arrivals
        .iter()
        .map(|arrival| {
            let how = match (arrival.path.as_str(), arrival.extended_connect) {
                ("/", _) => "page",
                (_, true) => "extended-connect",
                (_, false) => "upgrade",
            };
            format!("{} {:?} {how}\n", arrival.path, arrival.version)
        })
        .collect()
}

async fn websocket(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    version: Version,
    ws: WebSocketUpgrade,
) -> Response {
    // A page of another origin is answered 403 by the upgrade itself: the
    // chat's config has `OriginPolicy::SameHost` (over HTTP/2 the host is
    // the request's :authority).
    let request = ws.request();
    let path = request.path().to_owned();
    let arrival = Arrival {
        path: path.clone(),
        version,
        extended_connect: request.is_extended_connect(),
    };
    let ws = ws
        .config(example::config())
        .on_failed_upgrade(move |e| eprintln!("chat: {peer}: upgrade failed: {e}"));
    ws.on_upgrade(move |socket| async move {
        // Counted once upgraded: refused requests are not arrivals.
        shared
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(arrival);
        let served = match path.as_str() {
            "/ws" => example::chat(socket, peer, &shared.room, shared.stop).await,
            "/echo" => example::echo(socket).await,
            _ => example::report(socket, shared.reports).await,
        };
        if let Err(e) = served {
            eprintln!("chat: {peer}: {e}");
        }
    })
}
