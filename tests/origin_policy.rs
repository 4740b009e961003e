//! Who gets in: the Origin check the machine runs before the caller sees a
//! request (RFC 6455 §10.2), and the connection cap front-ends use.

use wsmachine::{Config, Connection, ConnectionLimit, Error, Event, OriginPolicy, ReadyState};

fn request(origin: Option<&str>, host: &str) -> Vec<u8> {
    let mut head = format!(
        "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(origin) = origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// What the server does with the request: `Ok` if the caller sees it,
/// `Err(status line)` if the machine answered it.
fn outcome(policy: OriginPolicy, origin: Option<&str>, host: &str) -> Result<(), String> {
    let mut server = Connection::server(Config::default().with_origin_policy(policy));
    server.receive(&request(origin, host));
    match server.next_event() {
        Some(Event::HandshakeRequest(_)) => Ok(()),
        Some(Event::Failed(Error::OriginNotAllowed)) => {
            assert_eq!(server.ready_state(), ReadyState::Closed);
            let response = String::from_utf8(server.pending_output().to_vec()).unwrap();
            Err(response.lines().next().unwrap_or_default().to_owned())
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn same_host_lets_in_pages_from_the_host_the_request_went_to() {
    let refused = Err("HTTP/1.1 403 Forbidden".to_owned());
    let same = OriginPolicy::SameHost;
    assert_eq!(
        outcome(
            same.clone(),
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        ),
        Ok(())
    );
    assert_eq!(
        outcome(same.clone(), Some("https://Example.COM"), "example.com:443"),
        Ok(())
    );
    assert_eq!(
        outcome(same.clone(), Some("http://example.com:80"), "example.com"),
        Ok(())
    );
    assert_eq!(
        outcome(same.clone(), None, "example.com"),
        Ok(()),
        "not a browser"
    );
    assert_eq!(
        outcome(same.clone(), Some("http://evil.example"), "example.com"),
        refused
    );
    assert_eq!(
        outcome(
            same.clone(),
            Some("http://example.com:8081"),
            "example.com:8080"
        ),
        refused
    );
    assert_eq!(outcome(same.clone(), Some("null"), "example.com"), refused);
    assert_eq!(
        outcome(same, Some("ftp://example.com"), "example.com"),
        refused
    );
}

#[test]
fn a_list_lets_in_exactly_its_origins() {
    let list = OriginPolicy::List(vec![
        "https://app.example.com".into(),
        "http://localhost:3000".into(),
    ]);
    assert_eq!(
        outcome(
            list.clone(),
            Some("https://app.example.com"),
            "api.example.com"
        ),
        Ok(())
    );
    assert_eq!(
        outcome(list.clone(), Some("HTTP://LOCALHOST:3000"), "x"),
        Ok(())
    );
    assert_eq!(outcome(list.clone(), None, "x"), Ok(()));
    assert!(outcome(list.clone(), Some("https://app.example.com.evil"), "x").is_err());
    assert!(outcome(list, Some("http://localhost:3001"), "x").is_err());
    assert_eq!(
        outcome(OriginPolicy::Any, Some("http://evil.example"), "x"),
        Ok(())
    );
}

#[test]
fn plain_http_requests_are_not_checked() {
    // A page request from any origin may still be served (allow_plain_http).
    let config = Config::default()
        .with_allow_plain_http(true)
        .with_origin_policy(OriginPolicy::SameHost);
    let mut server = Connection::server(config);
    server.receive(b"GET / HTTP/1.1\r\nHost: example.com\r\nOrigin: http://elsewhere\r\n\r\n");
    assert!(
        matches!(server.next_event(), Some(Event::HandshakeRequest(r)) if !r.is_websocket_upgrade())
    );
}

#[test]
fn the_cap_counts_live_connections() {
    let limit = ConnectionLimit::new(3);
    let permits: Vec<_> = (0..3).map(|_| limit.try_acquire().unwrap()).collect();
    assert_eq!((limit.live(), limit.max()), (3, 3));
    assert!(limit.try_acquire().is_none());
    let shared = limit.clone();
    drop(permits);
    assert_eq!(shared.live(), 0);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let limit = limit.clone();
            std::thread::spawn(move || (0..1000).filter(|_| limit.try_acquire().is_some()).count())
        })
        .collect();
    let taken: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(taken, 8000, "each permit is given back when dropped");
    assert_eq!(limit.live(), 0);
}
