//! The proxy steps byte by byte: HTTP CONNECT and SOCKS5 exchanges as RFC
//! 9110 §9.3.6, RFC 1928 and RFC 1929 write them, refusals, garbage, and
//! which proxy the environment names for which host.

use wsmachine::proxy::{Proxy, ProxyEnv, ProxyError, ProxyKind, Tunnel, TunnelStatus};

/// Takes all the pending output, as if written.
fn take(tunnel: &mut Tunnel) -> Vec<u8> {
    let out = tunnel.pending_output().to_vec();
    tunnel.consume_output(out.len());
    out
}

#[test]
fn http_connect_with_basic_auth_and_leftover() {
    let proxy = Proxy::from_url("http://al%69ce:s3cret@127.0.0.1:3128").unwrap();
    assert_eq!((proxy.kind(), proxy.port()), (ProxyKind::HttpConnect, 3128));
    let mut tunnel = Tunnel::new(&proxy, "example.com", 443);
    assert_eq!(
        take(&mut tunnel),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
          Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"
            .to_vec()
    );
    // The answer in pieces, and the target's first bytes behind it.
    assert_eq!(
        tunnel.receive(b"HTTP/1.1 200 Con"),
        Ok(TunnelStatus::NeedInput)
    );
    assert_eq!(
        tunnel.receive(b"nection established\r\nVia: x\r\n\r\nHTTP/1.1 101"),
        Ok(TunnelStatus::Open)
    );
    assert_eq!(tunnel.leftover(), b"HTTP/1.1 101");
}

#[test]
fn http_connect_refusals_and_garbage() {
    let proxy = Proxy::from_url("proxy.example:8080").unwrap();
    assert_eq!(proxy.address(), "proxy.example:8080");
    let mut tunnel = Tunnel::new(&proxy, "::1", 9000);
    assert!(take(&mut tunnel).starts_with(b"CONNECT [::1]:9000 HTTP/1.1\r\n"));
    assert_eq!(
        tunnel.receive(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
        Err(ProxyError::HttpStatus(407))
    );
    let mut tunnel = Tunnel::new(&proxy, "example.com", 80);
    take(&mut tunnel);
    assert_eq!(
        tunnel.receive(b"SSH-2.0-OpenSSH\r\n\r\n"),
        Err(ProxyError::Malformed)
    );
    let mut tunnel = Tunnel::new(&proxy, "example.com", 80);
    take(&mut tunnel);
    assert_eq!(
        tunnel.receive(&[b'x'; 20 * 1024]),
        Err(ProxyError::TooLarge)
    );
    let mut tunnel = Tunnel::new(&proxy, "evil\r\nHost: x", 80);
    assert!(tunnel.pending_output().is_empty());
    assert_eq!(tunnel.receive(b""), Err(ProxyError::Unsendable));
}

#[test]
fn socks5_without_auth_to_a_name() {
    let proxy = Proxy::from_url("socks5://127.0.0.1").unwrap();
    assert_eq!((proxy.kind(), proxy.port()), (ProxyKind::Socks5, 1080));
    let mut tunnel = Tunnel::new(&proxy, "example.com", 443);
    assert_eq!(take(&mut tunnel), [5, 1, 0]);
    assert_eq!(tunnel.receive(&[5]), Ok(TunnelStatus::NeedInput));
    assert_eq!(tunnel.receive(&[0]), Ok(TunnelStatus::NeedInput));
    let mut connect = vec![5, 1, 0, 3, 11];
    connect.extend_from_slice(b"example.com");
    connect.extend_from_slice(&443u16.to_be_bytes());
    assert_eq!(take(&mut tunnel), connect);
    // Bound to a name, then the target's first bytes.
    let mut reply = vec![5, 0, 0, 3, 4];
    reply.extend_from_slice(b"host");
    reply.extend_from_slice(&[0x1f, 0x90]);
    reply.extend_from_slice(b"HTTP");
    assert_eq!(tunnel.receive(&reply[..7]), Ok(TunnelStatus::NeedInput));
    assert_eq!(tunnel.receive(&reply[7..]), Ok(TunnelStatus::Open));
    assert_eq!(tunnel.leftover(), b"HTTP");
}

#[test]
fn socks5_with_credentials_to_addresses() {
    let proxy = Proxy::new(ProxyKind::Socks5, "10.0.0.1", 1080).with_credentials("u", "pw");
    let mut tunnel = Tunnel::new(&proxy, "192.168.1.2", 80);
    assert_eq!(take(&mut tunnel), [5, 2, 0, 2]);
    assert_eq!(tunnel.receive(&[5, 2]), Ok(TunnelStatus::NeedInput));
    assert_eq!(take(&mut tunnel), [1, 1, b'u', 2, b'p', b'w']);
    assert_eq!(tunnel.receive(&[1, 0]), Ok(TunnelStatus::NeedInput));
    assert_eq!(take(&mut tunnel), [5, 1, 0, 1, 192, 168, 1, 2, 0, 80]);
    assert_eq!(
        tunnel.receive(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 1]),
        Ok(TunnelStatus::Open)
    );

    let mut tunnel = Tunnel::new(&proxy, "::1", 80);
    take(&mut tunnel);
    tunnel.receive(&[5, 2]).unwrap();
    take(&mut tunnel);
    tunnel.receive(&[1, 0]).unwrap();
    let connect = take(&mut tunnel);
    assert_eq!(&connect[..4], &[5, 1, 0, 4]);
    assert_eq!(connect.len(), 4 + 16 + 2);
}

#[test]
fn socks5_refusals() {
    let proxy = Proxy::new(ProxyKind::Socks5, "p", 1080).with_credentials("u", "bad");
    let mut tunnel = Tunnel::new(&proxy, "example.com", 80);
    take(&mut tunnel);
    tunnel.receive(&[5, 2]).unwrap();
    take(&mut tunnel);
    assert_eq!(tunnel.receive(&[1, 1]), Err(ProxyError::SocksAuthFailed));
    assert_eq!(
        tunnel.receive(&[]),
        Err(ProxyError::SocksAuthFailed),
        "sticky"
    );

    let mut tunnel = Tunnel::new(&proxy, "example.com", 80);
    take(&mut tunnel);
    assert_eq!(
        tunnel.receive(&[5, 0xFF]),
        Err(ProxyError::SocksNoAcceptableMethod)
    );

    let anonymous = Proxy::new(ProxyKind::Socks5, "p", 1080);
    let mut tunnel = Tunnel::new(&anonymous, "example.com", 80);
    take(&mut tunnel);
    tunnel.receive(&[5, 0]).unwrap();
    take(&mut tunnel);
    assert_eq!(
        tunnel.receive(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
        Err(ProxyError::SocksReply(5))
    );

    let mut tunnel = Tunnel::new(&anonymous, "example.com", 80);
    take(&mut tunnel);
    assert_eq!(tunnel.receive(b"HTTP/1.1 400"), Err(ProxyError::Malformed));

    let long = "a".repeat(256);
    let tunnel = Tunnel::new(&anonymous, &long, 80);
    assert!(tunnel.pending_output().is_empty());
}

#[test]
fn proxy_urls() {
    assert!(Proxy::from_url("https://proxy:443").is_err());
    assert!(Proxy::from_url("http://:80").is_err());
    assert!(Proxy::from_url("http://proxy:port").is_err());
    let v6 = Proxy::from_url("socks5h://[::1]:9050").unwrap();
    assert_eq!(
        (v6.host(), v6.port(), v6.address()),
        ("::1", 9050, "[::1]:9050".into())
    );
    let debug = format!("{:?}", Proxy::from_url("http://u:hunter2@p:1").unwrap());
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn environment_rules_like_curl() {
    let env = ProxyEnv::from_values(
        Some("http://secure-proxy:3128".into()),
        Some("http://plain-proxy:3128".into()),
        Some("socks5://all-proxy".into()),
        Some("localhost, .internal.example,10.0.0.1".into()),
    );
    let host_of = |proxy: Option<Proxy>| proxy.map(|p| p.host().to_owned());
    assert_eq!(
        host_of(env.proxy_for("example.com", true)),
        Some("secure-proxy".into())
    );
    assert_eq!(
        host_of(env.proxy_for("example.com", false)),
        Some("plain-proxy".into())
    );
    assert_eq!(env.proxy_for("localhost", true), None);
    assert_eq!(env.proxy_for("a.internal.example", true), None);
    assert_eq!(env.proxy_for("internal.example", true), None);
    assert_eq!(
        host_of(env.proxy_for("notinternal.example", true)),
        Some("secure-proxy".into())
    );
    assert_eq!(env.proxy_for("10.0.0.1", false), None);

    let only_all = ProxyEnv::from_values(None, None, Some("socks5://all-proxy".into()), None);
    assert_eq!(
        host_of(only_all.proxy_for("example.com", false)),
        Some("all-proxy".into())
    );
    let star = ProxyEnv::from_values(Some("http://p".into()), None, None, Some("*".into()));
    assert_eq!(star.proxy_for("example.com", true), None);
    assert_eq!(ProxyEnv::default().proxy_for("example.com", true), None);
}
