//! The private-address guard, on addresses and on a real server on loopback.

use super::*;

#[test]
fn only_public_addresses_are_public() {
    for private in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.2.1",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2001:db8::1",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
        "::a00:1",
        "fec0::1",
        "2002:a00:1::1",
        "2001::1",
        "3fff::1:0:1",
    ] {
        assert!(!is_public(private.parse().unwrap()), "{private}");
    }
    for public in ["1.1.1.1", "193.51.24.1", "100.128.0.1", "2a01:e0a::1", "::ffff:193.51.24.1", "2002:c133:1801::1"] {
        assert!(is_public(public.parse().unwrap()), "{public}");
    }
}

#[tokio::test]
async fn loopback_is_reached_only_when_allowed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "pong" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let guarded = Client::new(false).unwrap();
    let get = |url: &str| guarded.request(reqwest::Method::GET, url);
    // A literal address, a name that resolves to loopback, plain http: refused, no request.
    assert!(matches!(get(&format!("https://127.0.0.1:{port}/")), Err(ClientError::NotPublic(_))));
    assert!(matches!(get(&format!("https://[::1]:{port}/")), Err(ClientError::NotPublic(_))));
    assert!(matches!(get(&format!("http://example.org:{port}/")), Err(ClientError::Scheme)));
    assert!(matches!(get("file:///etc/passwd"), Err(ClientError::Scheme)));
    let by_name = get(&format!("https://localhost:{port}/")).unwrap().send().await;
    let error = by_name.expect_err("localhost is loopback");
    assert!(format!("{error:?}").contains("NotPublic(\"localhost\")"), "the resolver refused it: {error:?}");

    // Allowed (tests and development): reached.
    let open = Client::new(true).unwrap();
    let answer =
        open.request(reqwest::Method::GET, &format!("http://localhost:{port}/")).unwrap().send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "pong");
    assert!(matches!(open.request(reqwest::Method::GET, "ftp://x/"), Err(ClientError::Scheme)));
}
