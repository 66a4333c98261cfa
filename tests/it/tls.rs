//! HTTPS served by Guichet itself, with the certificate it is configured with.

use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

async fn start_https() -> Server {
    let cert = format!("http.tls_cert={FIXTURES}/cert.pem");
    let key = format!("http.tls_key={FIXTURES}/key.pem");
    Server::start(&["--set", &cert, "--set", &key]).await
}

#[tokio::test]
async fn https_with_the_configured_certificate_and_no_plain_http() {
    let s = start_https().await;
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    // `s.http` trusts the fixture certificate, and only it (plus the system's roots).
    let response = s.http.get(s.at("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "HTTP/2 negotiated by ALPN");
    assert_eq!(response.text().await.unwrap(), "ok");
    let localhost = s.url.replace("127.0.0.1", "localhost");
    assert_eq!(s.http.get(format!("{localhost}/healthz")).send().await.unwrap().status(), 200);
    let created = s.submit("par HTTPS").await;
    let url = created["acknowledgement"]["tracking_url"].as_str().unwrap();
    assert!(url.starts_with(&s.url), "links given to citizens use https: {url}");

    // The certificate is really checked: a client that does not trust it refuses it.
    let untrusting = reqwest::Client::builder().tls_built_in_root_certs(true).build().unwrap();
    let refused = untrusting.get(s.at("/healthz")).send().await;
    assert!(refused.is_err(), "an untrusted certificate was accepted: {refused:?}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new().get(s.url.replace("https://", "http://") + "/healthz").send().await;
    assert!(plain.is_err(), "plain HTTP answered on the TLS port: {plain:?}");
    // And the server is still fine afterwards.
    assert_eq!(s.get("/healthz", None).await.0, 200);
}

#[test]
fn a_missing_certificate_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(BIN);
    command.args(["serve", "--bind", "127.0.0.1:0", "--set", "http.tls_cert=/nonexistent/cert.pem"]);
    command.arg("--set").arg(format!("http.tls_key={FIXTURES}/key.pem")).arg("--data-dir").arg(dir.path());
    let run = run(command);
    assert_eq!(run.status.code(), Some(2), "{}", run.text());
    assert!(run.stderr.contains("/nonexistent/cert.pem"), "{}", run.text());
}

#[tokio::test]
async fn session_cookies_over_https_are_secure_and_bound_to_the_origin() {
    let s = start_https().await;
    let log = s.log();
    let line = log.lines().find(|l| l.contains("no administrator yet")).expect("first-admin link logged");
    let start = line.find("https://").expect("the link uses the public https address");
    let link = line[start..].split_whitespace().next().unwrap().to_owned();
    let form = [("email", "dgs@mairie.example"), ("given_name", "Anne"), ("family_name", "Roux")];
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(format!("{FIXTURES}/cert.pem")).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let response = no_redirects.post(&link).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-guichet_session="), "{cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let me = no_redirects.get(s.at("/api/v1/me")).header("cookie", session).send().await.unwrap();
    assert_eq!(me.status(), 200);
}
