//! Logins through a real OpenID provider (node `oidc-provider`), driven by an HTTP client
//! that follows redirects and fills the provider's login form.

use serde_json::{Value, json};

use crate::browser::{Browser, Provider};
use crate::support::*;

async fn guichet_with(provider: &Provider, client: &str, extra: &[&str]) -> Server {
    let mut args: Vec<String> = provider.settings(client);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args).await
}

async fn accounts(s: &Server, admin: &str) -> Vec<Value> {
    let (status, body) = s.get("/api/v1/accounts", Some(admin)).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

async fn me(s: &Server, browser: &Browser) -> (u16, Value) {
    let mut request = s.http.get(s.at("/api/v1/me"));
    if let Some(cookie) = browser.session_cookie() {
        request = request.header("cookie", format!("guichet_session={cookie}"));
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_first_login_waits_for_approval_then_signs_in() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &[]).await;
    let admin = s.token("admin");
    // The sign-in form leads to the provider through a redirect, which browsers check
    // against the policy's form-action: the provider's origin is allowed there, only it.
    let connexion = s.http.get(s.at("/connexion")).send().await.unwrap();
    let csp = connexion.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let provider_origin = reqwest::Url::parse(&provider.issuer).unwrap().origin().ascii_serialization();
    assert!(csp.contains(&format!("form-action 'self' {provider_origin};")), "{csp}");

    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "marie.durand@mairie.example").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("attend la validation"), "{}", page.body);
    assert!(browser.session_cookie().is_none());
    // The authorize request carried PKCE S256, a state and a nonce of at least 32 characters.
    let authorize = page.visited.iter().find(|u| u.contains("/auth?")).expect("went to the provider");
    let query: Vec<(String, String)> =
        reqwest::Url::parse(authorize).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(param("code_challenge_method"), "S256");
    assert!(param("state").len() >= 32 && param("nonce").len() >= 32, "{query:?}");
    assert_eq!(param("redirect_uri"), format!("{}/auth/callback", s.url));

    let pending = accounts(&s, &admin).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["email"], "marie.durand@mairie.example");
    assert_eq!(pending[0]["identities"][0]["issuer"], provider.issuer.as_str());
    let id = pending[0]["id"].as_str().unwrap().to_owned();

    let change = json!({"status": "active", "role": "manager", "scope": {"kind": "departments", "ids": ["technique"]}});
    let request = s.http.patch(s.at(&format!("/api/v1/accounts/{id}"))).bearer_auth(&admin).json(&change);
    let (status, body) = read(request.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login?return_to=/espace", "marie.durand@mairie.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.url, s.at("/espace"));
    assert!(page.body.contains("Responsable"), "{}", page.body);
    let (status, me) = me(&s, &browser).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["role"], "manager");
    assert_eq!(me["authentication"], "session");
    assert_eq!(me["scope"], json!({"kind": "departments", "ids": ["technique"]}));
    assert_eq!(accounts(&s, &admin).await.len(), 1, "the second login found the same account");

    let journal = s.cli(&["audit", "verify"]);
    journal.assert_ok();
}

#[tokio::test]
async fn accounts_are_linked_by_verified_email_and_rules_approve_known_domains() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &["--set", "auth.auto_approve_domains=mairie.example"]).await;
    let admin = s.token("admin");
    // An agent invited before their first login gets the same account from the provider.
    let invited = s.cli(&["admin", "invite", "--email", "Paul.Martin@Other.example", "--role", "agent"]);
    invited.assert_ok();
    let before = accounts(&s, &admin).await;
    assert_eq!(before.len(), 1);

    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "paul.martin@other.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let after = accounts(&s, &admin).await;
    assert_eq!(after.len(), 1, "linked, not duplicated");
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(after[0]["identities"].as_array().unwrap().len(), 1);

    // A matching domain is approved at once.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "jeanne@mairie.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(me(&s, &browser).await.1["role"], "agent");

    // An address the provider has not verified links nothing and creates nothing.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "unverified.paul.martin@other.example").await;
    assert_eq!(page.status, 401);
    assert_eq!(page.error_code(), Some("email_not_verified"));
    assert!(browser.session_cookie().is_none());
    // Nor does a provider that gives no address.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "noemail").await;
    assert_eq!(page.error_code(), Some("no_email"));
    assert_eq!(accounts(&s, &admin).await.len(), 2);
}

#[tokio::test]
async fn forged_expired_and_misdirected_id_tokens_are_refused_and_create_nothing() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &["--set", "auth.auto_approve_domains=mairie.example"]).await;
    let admin = s.token("admin");
    let cases = [
        ("tamper", "invalid_token"),
        ("wrong_nonce", "invalid_token"),
        ("wrong_issuer", "invalid_token"),
        ("wrong_audience", "invalid_token"),
        ("unknown_key", "invalid_token"),
        ("alg_none", "invalid_token"),
        ("expired", "clock_skew"),
        ("future_iat", "clock_skew"),
    ];
    for (fault, expected) in cases {
        provider.control("fault", json!({"id_token": fault})).await;
        let mut browser = Browser::new();
        let page = browser.login(&s.url, "/auth/login", &format!("{fault}@mairie.example")).await;
        assert_eq!(page.error_code(), Some(expected), "{fault}: {}", page.body);
        assert_eq!(page.status, 401, "{fault}");
        assert!(page.body.contains("pas abouti"), "{fault}: {}", page.body);
        assert!(browser.session_cookie().is_none(), "{fault}");
        assert!(accounts(&s, &admin).await.is_empty(), "{fault}: nothing is half-created");
    }
    // The same callback cannot be replayed: its state is used up.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "ok@mairie.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let callback = page.visited.iter().find(|u| u.contains("/auth/callback?")).unwrap().clone();
    let replay = Browser::new().get(&callback).await;
    assert_eq!(replay.error_code(), Some("unknown_state"));
    assert_eq!(replay.status, 400);
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_followed() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &["--set", "auth.auto_approve_domains=mairie.example"]).await;
    let mut browser = Browser::new();
    assert_eq!(browser.login(&s.url, "/auth/login", "a@mairie.example").await.status, 200);
    provider.control("rotate", json!({})).await;
    // Keys are fetched again at most every two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "b@mairie.example").await;
    // Signed with a key the cached set did not have: the keys were fetched again.
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn userinfo_signed_as_a_jwt_is_verified_and_read() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet-jwt", &["--set", "auth.auto_approve_domains=mairie.example"]).await;
    let admin = s.token("admin");
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "claire.dupont@mairie.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let account = &accounts(&s, &admin).await[0];
    assert_eq!(account["email"], "claire.dupont@mairie.example");
    assert!(!account["given_name"].as_str().unwrap().is_empty(), "{account}");
}

#[tokio::test]
async fn logout_ends_the_session_here_and_at_the_provider() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &["--set", "auth.auto_approve_domains=mairie.example"]).await;
    let mut browser = Browser::new();
    let home = browser.login(&s.url, "/auth/login", "luc@mairie.example").await;
    assert_eq!(home.status, 200);
    let csrf = home.input("csrf_token").expect("the logout form carries its CSRF token");

    // Without the token, the form is refused and the session lives on.
    let refused = browser.post_form(&s.at("/auth/logout"), &[]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("csrf"));
    assert_eq!(me(&s, &browser).await.0, 200);
    let session = browser.session_cookie().unwrap().clone();

    let confirm = browser.post_form(&s.at("/auth/logout"), &[("csrf_token", &csrf)]).await;
    let end_session = confirm.visited.iter().find(|u| u.contains("/session/end")).expect("sent to the provider");
    for param in ["id_token_hint=", "post_logout_redirect_uri=", "state="] {
        assert!(end_session.contains(param), "{end_session}");
    }
    assert!(browser.session_cookie().is_none(), "the cookie is cleared");
    let xsrf = confirm.input("xsrf").expect("the provider asks to confirm");
    let done = browser.post_form(&confirm_url(&provider), &[("xsrf", &xsrf), ("logout", "yes")]).await;
    assert_eq!(done.url.split('?').next().unwrap(), s.at("/auth/logged-out"));
    assert_eq!(done.status, 200);
    let stale = s.http.get(s.at("/api/v1/me")).header("cookie", format!("guichet_session={session}"));
    assert_eq!(stale.send().await.unwrap().status(), 401, "the old session is gone server-side");
}

fn confirm_url(provider: &Provider) -> String {
    format!("{}/session/end/confirm", provider.issuer)
}

#[tokio::test]
async fn provider_down_cancelled_or_unknown_state_get_clear_pages() {
    let provider = Provider::start();
    let s = guichet_with(&provider, "guichet", &[]).await;
    let admin = s.token("admin");
    provider.control("down", json!({"seconds": 30})).await;
    let page = Browser::new().get(&s.at("/auth/login")).await;
    assert_eq!(page.status, 503);
    assert_eq!(page.error_code(), Some("provider_unavailable"));
    assert!(page.body.contains("ne répond pas"));
    provider.control("down", json!({"seconds": 0})).await;

    // Cancelled at the provider: it comes back with an error and a valid state.
    let mut browser = Browser::new();
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let to_provider = no_redirects.get(s.at("/auth/login")).send().await.unwrap();
    let location = to_provider.headers()["location"].to_str().unwrap().to_owned();
    let state: String = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let page = browser.get(&s.at(&format!("/auth/callback?error=access_denied&state={state}"))).await;
    assert_eq!(page.error_code(), Some("cancelled"));
    let page = browser.get(&s.at("/auth/callback?code=abc&state=never-issued-never-issued-never-issued")).await;
    assert_eq!(page.error_code(), Some("unknown_state"));
    assert!(accounts(&s, &admin).await.is_empty());
}

#[tokio::test]
async fn a_login_started_before_a_restart_completes_after_it() {
    let provider = Provider::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("http.bind=127.0.0.1:{port}");
    let mut s =
        guichet_with(&provider, "guichet", &["--set", &bind, "--set", "auth.auto_approve_domains=mairie.example"])
            .await;
    let mut browser = Browser::new();
    let form = browser.get(&s.at("/auth/login")).await;
    assert!(form.url.contains("/interaction/"));
    s.stop();
    s.restart().await;
    let page =
        browser.post_form(&form.url, &[("prompt", "login"), ("login", "r@mairie.example"), ("password", "x")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.url, s.at("/espace"));
}

#[tokio::test]
async fn proconnect_profile_sends_only_documented_parameters_and_steps_up_for_admin_actions() {
    let provider = Provider::start();
    let s = guichet_with(
        &provider,
        "guichet-proconnect",
        &[
            "--set",
            "oidc.profile=proconnect",
            "--set",
            "oidc.admin_acr=eidas2",
            "--set",
            "auth.auto_approve_sirets=21670482500019",
        ],
    )
    .await;
    let cli_admin = s.token("admin");
    // Approved by the organisation's SIRET, named by given_name and usual_name.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login", "strong.admin@commune.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let authorize = page.visited.iter().find(|u| u.contains("/auth?")).unwrap();
    let documented = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "acr_values",
        "claims",
        "prompt",
    ];
    for (name, _) in reqwest::Url::parse(authorize).unwrap().query_pairs() {
        assert!(documented.contains(&name.as_ref()), "undocumented parameter {name}");
    }
    let account = accounts(&s, &cli_admin).await.into_iter().next().unwrap();
    assert_eq!(account["status"], "active");
    assert_eq!(account["siret"], "21670482500019");
    assert!(!account["family_name"].as_str().unwrap().is_empty(), "usual_name read: {account}");
    let id = account["id"].as_str().unwrap().to_owned();
    let promote =
        s.http.patch(s.at(&format!("/api/v1/accounts/{id}"))).bearer_auth(&cli_admin).json(&json!({"role": "admin"}));
    assert_eq!(promote.send().await.unwrap().status(), 200);

    // An admin action with a plain login asks for the stronger one.
    let cookie = format!("guichet_session={}", browser.session_cookie().unwrap());
    let (status, body) =
        read(s.http.get(s.at("/api/v1/accounts")).header("cookie", &cookie).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert_error(&body, "step_up_required");
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login?step_up=1", "strong.admin@commune.example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let authorize = page.visited.iter().find(|u| u.contains("/auth?")).unwrap();
    assert!(authorize.contains("acr_values=eidas2"), "{authorize}");
    let cookie = format!("guichet_session={}", browser.session_cookie().unwrap());
    assert_eq!(s.http.get(s.at("/api/v1/accounts")).header("cookie", &cookie).send().await.unwrap().status(), 200);

    // Someone who cannot reach that level is told so and gets no session.
    let mut browser = Browser::new();
    let page = browser.login(&s.url, "/auth/login?step_up=1", "weak@commune.example").await;
    assert_eq!(page.error_code(), Some("weak_login"));
    assert!(browser.session_cookie().is_none());
}
