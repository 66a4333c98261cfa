//! The OpenID Connect relying party: discovery, authorization code flow with PKCE (S256),
//! strict ID token validation, userinfo as JSON or signed JWT, RP-initiated logout.
//!
//! The provider's metadata and keys are fetched at the first login, not at start-up, so
//! Guichet starts even when the provider is down; they are fetched again once when an ID
//! token names a key the cached set does not have (the provider rotated its keys).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreGenderClaim, CoreIdTokenClaims, CoreTokenResponse};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndSessionUrl, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::OidcConfig;
use crate::service::accounts::VerifiedIdentity;

/// Why a login at the provider failed. Each has its own page; none creates anything.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the identity provider cannot be reached: {0}")]
    ProviderUnavailable(String),
    #[error("the login was cancelled at the provider: {0}")]
    Cancelled(String),
    #[error("the provider refused the login: {0}")]
    ProviderError(String),
    #[error("unknown or expired login state")]
    UnknownState,
    #[error("the clocks of this server and of the provider disagree: {0}")]
    ClockSkew(String),
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    #[error("the provider gave no e-mail address")]
    NoEmail,
    #[error("the provider has not verified the e-mail address")]
    EmailNotVerified,
    #[error("the login did not reach the required level ({0})")]
    WeakLogin(String),
}

/// Claims beyond the standard ones (ProConnect's `usual_name`, `uid`, `siret`...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraClaims(HashMap<String, serde_json::Value>);

impl AdditionalClaims for ExtraClaims {}

/// A login started: where to send the browser, and what to keep until the callback.
pub struct Started {
    pub url: String,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

struct Discovered {
    metadata: ProviderMetadataWithLogout,
    fetched_at: Instant,
}

/// Metadata younger than this is not fetched again on an unknown key id (a token signed
/// with a forged key id must not make us hammer the provider).
const MIN_REFETCH: Duration = Duration::from_secs(2);
/// Metadata is refreshed at the next login after this long.
const MAX_AGE: Duration = Duration::from_secs(3600);

pub struct OidcClient {
    config: OidcConfig,
    client_secret: String,
    redirect_url: RedirectUrl,
    post_logout_url: String,
    http: reqwest::Client,
    discovered: Mutex<Option<Discovered>>,
}

impl OidcClient {
    /// `public_url` gives the redirect address `{public_url}/auth/callback`.
    pub fn new(config: &OidcConfig, client_secret: String, public_url: &str) -> anyhow::Result<OidcClient> {
        let http = reqwest::Client::builder()
            // The code flow's redirects are the browser's business, never the server's.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("Guichet/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OidcClient {
            config: config.clone(),
            client_secret,
            redirect_url: RedirectUrl::new(format!("{public_url}/auth/callback"))?,
            post_logout_url: format!("{public_url}/auth/logged-out"),
            http,
            discovered: Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// `scheme://host[:port]` of the issuer, where browsers are sent to sign in and out.
    pub fn origin(&self) -> String {
        reqwest::Url::parse(&self.config.issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }

    pub fn button_label(&self) -> &str {
        &self.config.button_label
    }

    fn proconnect(&self) -> bool {
        self.config.profile == "proconnect"
    }

    fn scopes(&self) -> Vec<String> {
        if !self.config.scopes.is_empty() {
            return self.config.scopes.clone();
        }
        let defaults: &[&str] = if self.proconnect() {
            &["openid", "email", "given_name", "usual_name", "uid", "siret"]
        } else {
            &["openid", "email", "profile"]
        };
        defaults.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The provider's metadata: cached, or fetched when absent, too old, or (`refresh`)
    /// when a token named an unknown key and the cache is not brand new.
    async fn metadata(&self, refresh: bool) -> Result<ProviderMetadataWithLogout, LoginError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref() {
            let age = d.fetched_at.elapsed();
            if age < MAX_AGE && !(refresh && age >= MIN_REFETCH) {
                return Ok(d.metadata.clone());
            }
        }
        let issuer =
            IssuerUrl::new(self.config.issuer.clone()).map_err(|e| LoginError::ProviderUnavailable(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| LoginError::ProviderUnavailable(describe(&e)))?;
        tracing::info!(issuer = %self.config.issuer, keys = metadata.jwks().keys().len(), "identity provider metadata fetched");
        *cached = Some(Discovered { metadata: metadata.clone(), fetched_at: Instant::now() });
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: ProviderMetadataWithLogout,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        openidconnect::core::CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }

    /// Starts a login: PKCE S256, and the caller's `state` and `nonce` (256-bit secrets, 43
    /// characters). `acr`: a level to ask for (step-up before administrative actions).
    pub async fn start(&self, state: String, nonce: String, acr: Option<&str>) -> Result<Started, LoginError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = Nonce::new(nonce);
        let nonce_value = nonce.secret().clone();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(state), move || nonce)
            .set_pkce_challenge(challenge);
        for scope in self.scopes().into_iter().filter(|s| s != "openid") {
            request = request.add_scope(Scope::new(scope));
        }
        if let Some(acr) = acr.filter(|a| !a.is_empty()) {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.to_owned()));
        }
        let (url, state, _) = request.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce_value,
        })
    }

    /// Ends a login: exchanges the code, validates the ID token (signature, issuer,
    /// audience, expiry, issue time, nonce, and `acr` when one was asked), reads userinfo.
    pub async fn finish(
        &self,
        code: String,
        pkce_verifier: String,
        nonce: String,
        required_acr: &str,
    ) -> Result<VerifiedIdentity, LoginError> {
        let client = self.client(self.metadata(false).await?);
        let token: CoreTokenResponse = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::ProviderUnavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => LoginError::ProviderError(r.to_string()),
                openidconnect::RequestTokenError::Parse(e, _) => {
                    LoginError::InvalidToken(format!("token response: {e}"))
                }
                other => LoginError::ProviderUnavailable(describe(&other)),
            })?;
        let id_token = token.id_token().ok_or_else(|| LoginError::InvalidToken("no ID token in the answer".into()))?;
        let nonce = Nonce::new(nonce);
        let skew = Duration::from_secs(self.config.clock_skew_seconds);
        let verify = |client: &openidconnect::core::CoreClient<_, _, _, _, _, _>| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            let verifier = client
                .id_token_verifier()
                // Tolerates a provider whose clock is ahead: the token counts as expired
                // only `skew` after its `exp`.
                .set_time_fn(move || chrono::Utc::now() - chrono::Duration::from_std(skew).unwrap_or_default())
                .set_issue_time_verifier_fn(move |iat| {
                    let latest = jiff::Timestamp::now().as_second() + skew.as_secs() as i64;
                    if iat.timestamp() > latest { Err(format!("issued in the future ({iat})")) } else { Ok(()) }
                });
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                tracing::info!("ID token signed with an unknown key: fetching the provider's keys again");
                let client = self.client(self.metadata(true).await?);
                verify(&client)
            }
            other => other,
        }
        .map_err(|e| match e {
            ClaimsVerificationError::Expired(why) => LoginError::ClockSkew(why),
            other => LoginError::InvalidToken(other.to_string()),
        })?;
        let acr = claims.auth_context_ref().map(|a| a.to_string()).unwrap_or_default();
        if !required_acr.is_empty() && acr != required_acr {
            return Err(LoginError::WeakLogin(required_acr.to_owned()));
        }
        let userinfo = self.userinfo(&client, token.access_token().clone(), claims.subject().clone()).await?;
        let read = |name: &str| -> Option<serde_json::Value> {
            userinfo
                .as_ref()
                .and_then(|u| u.get(name).cloned())
                .or_else(|| serde_json::to_value(&claims).ok().and_then(|v| v.get(name).cloned()))
        };
        let text = |name: &str| read(name).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let email = text(&self.config.claim_email);
        if email.is_empty() {
            return Err(LoginError::NoEmail);
        }
        // ProConnect only forwards addresses its identity providers vouch for; elsewhere the
        // provider must say the address is verified before accounts are linked by it.
        if !self.proconnect() && read("email_verified").and_then(|v| v.as_bool()) != Some(true) {
            return Err(LoginError::EmailNotVerified);
        }
        let family_claim = match (self.config.claim_family_name.as_str(), self.proconnect()) {
            ("", true) => "usual_name",
            ("", false) => "family_name",
            (name, _) => name,
        };
        Ok(VerifiedIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email,
            given_name: text(&self.config.claim_given_name),
            family_name: text(family_claim),
            siret: text(&self.config.claim_siret),
            acr,
            id_token: id_token.to_string(),
        })
    }

    /// Userinfo claims as JSON (whatever form the provider answered in), if it has the endpoint.
    async fn userinfo(
        &self,
        client: &openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        access_token: AccessToken,
        subject: openidconnect::SubjectIdentifier,
    ) -> Result<Option<serde_json::Value>, LoginError> {
        let Ok(request) = client.user_info(access_token, Some(subject)) else { return Ok(None) };
        let claims: UserInfoClaims<ExtraClaims, CoreGenderClaim> =
            request.request_async(&self.http).await.map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(e) => {
                    LoginError::InvalidToken(format!("userinfo: {e}"))
                }
                other => LoginError::ProviderUnavailable(format!("userinfo: {}", describe(&other))),
            })?;
        Ok(serde_json::to_value(&claims).ok())
    }

    /// Where to send the browser to log out at the provider too, if it supports it.
    pub async fn logout_url(&self, id_token: &str, state: &str) -> Option<String> {
        let metadata = self.metadata(false).await.ok()?;
        let end_session: EndSessionUrl = metadata.additional_metadata().end_session_endpoint.clone()?;
        let id_token: openidconnect::core::CoreIdToken =
            serde_json::from_value(serde_json::Value::String(id_token.to_owned())).ok()?;
        let url = LogoutRequest::from(end_session)
            .set_id_token_hint(&id_token)
            .set_client_id(ClientId::new(self.config.client_id.clone()))
            .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(self.post_logout_url.clone()).ok()?)
            .set_state(CsrfToken::new(state.to_owned()))
            .http_get_url();
        Some(url.to_string())
    }
}

/// An error and its causes on one line, for the log.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
