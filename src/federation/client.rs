//! The one outbound HTTP client of federation: rustls, connect timeout 10 s, request timeout
//! 60 s, no redirects, and every address a host name resolves to checked before
//! connecting: private, loopback, link-local and other non-public ranges are refused (a
//! peer's URL must not make this server reach into its own network), unless an explicit
//! setting allows them for tests and development.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // 6to4 carries an IPv4 address: judged by it.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // Global unicast only (2000::/3), less its special blocks.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation (3fff::/20)
        && !(s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo, benchmarking…)
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0} is not a public address")]
    NotPublic(String),
    #[error("only https:// addresses are reached")]
    Scheme,
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Resolves names, then drops what is not public (all of it: a name with one private
/// address is refused whole, so that it cannot be raced).
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() || addresses.iter().any(|a| !is_public(a.ip())) {
                return Err(Box::new(ClientError::NotPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The outbound client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    allow_private: bool,
}

impl Client {
    /// `allow_private`: for tests and development only (instances on loopback), and then
    /// `http://` is allowed too.
    pub fn new(allow_private: bool) -> Result<Client, ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the target itself, out of the
            // guard's sight.
            .no_proxy()
            .user_agent(concat!("Guichet/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Client { http: builder.build()?, allow_private })
    }

    /// A request to `url`, once its scheme and (literal) address are acceptable; names are
    /// checked by the resolver when it connects.
    pub fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| ClientError::Scheme)?;
        if !self.allow_private {
            if parsed.scheme() != "https" {
                return Err(ClientError::Scheme);
            }
            // An address written in the URL is not resolved: it is checked here.
            let host = parsed.host_str().unwrap_or_default();
            let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>();
            if literal.is_ok_and(|ip| !is_public(ip)) {
                return Err(ClientError::NotPublic(host.to_owned()));
            }
        } else if !matches!(parsed.scheme(), "https" | "http") {
            return Err(ClientError::Scheme);
        }
        Ok(self.http.request(method, parsed))
    }
}

#[cfg(test)]
mod tests;
