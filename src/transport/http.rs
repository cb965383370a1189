//! HTTP(S) transport for webhook sinks: one pooled client per sink (keep-alive, HTTP/2 when
//! the server offers it over TLS), no redirects, every connection's addresses checked by the
//! egress policy before connecting.
//!
//! Webhook URLs often carry their credential in the path (Slack, Teams), so a URL is only ever
//! shown as scheme, host and port; error texts from the client are stripped of the URL.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Url;

use super::egress::{Denied, EgressPolicy};
use super::tls::TlsClient;

/// The longest response body kept (for delivery history); the rest is read and discarded so
/// the connection can be reused.
pub const RESPONSE_PREFIX_BYTES: usize = 1024;
/// Read at most this much of a response body before giving up on reusing the connection.
const RESPONSE_READ_LIMIT: usize = 64 * 1024;

/// A webhook URL, displayed without its path and query.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Parses an `http://` or `https://` URL with a host.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|error| format!("not a valid URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("unsupported scheme {:?} for a webhook", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("missing host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials in the URL are not supported: use headers or a token".to_owned());
        }
        Ok(WebhookUrl(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The host as written (an IP literal without brackets, or a DNS name).
    pub fn host(&self) -> &str {
        self.0.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']')).unwrap_or_default()
    }

    /// The host when it is an IP address literal (checked directly, no resolution happens).
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        }
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.0.scheme(), self.0.host_str().unwrap_or_default())?;
        if let Some(port) = self.0.port() {
            write!(f, ":{port}")?;
        }
        if self.0.path() != "/" || self.0.query().is_some() {
            f.write_str("/…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `Retry-After`, as seconds or an HTTP date, when present and readable.
    pub retry_after: Option<Duration>,
    /// The first [`RESPONSE_PREFIX_BYTES`] of the body.
    pub body_prefix: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("egress policy: {0}")]
    Egress(Denied),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
}

/// A pooled client for one webhook URL.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    url: WebhookUrl,
    egress: Arc<EgressPolicy>,
}

/// Resolves names and keeps only the addresses the egress policy allows, so the client connects
/// to exactly what was checked (no second lookup, no DNS-rebinding window), on every new
/// connection.
struct CheckedResolver {
    egress: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.egress.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed = egress
                .filter(found)
                .map_err(|denied| Box::new(EgressDenied(denied)) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Carries a denial through the client's error chain, so it can be told apart from other
/// connection failures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EgressDenied(Denied);

impl HttpClient {
    /// Builds the client. `tls` is required for `https://` (its trust store, client certificate
    /// and pins apply); `max_idle` connections are kept for reuse.
    pub fn new(
        url: WebhookUrl,
        tls: Option<&TlsClient>,
        egress: Arc<EgressPolicy>,
        timeout: Duration,
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Result<Self, String> {
        let mut tls_config = match tls {
            Some(tls) => (*tls.config).clone(),
            // Never used for http:// (the client needs a TLS backend all the same).
            None => rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        tls_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("siem-relay/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver { egress: egress.clone() }))
            .no_proxy()
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {}", error.without_url()))?;
        Ok(HttpClient { client, url, egress })
    }

    pub fn url(&self) -> &WebhookUrl {
        &self.url
    }

    /// POSTs `body` with `headers`.
    pub async fn post(&self, headers: HeaderMap, body: Bytes) -> Result<Response, HttpError> {
        if let Some(ip) = self.url.literal_ip() {
            // An IP literal is never resolved, so the resolver's check does not apply: check here.
            self.egress.check(ip).map_err(HttpError::Egress)?;
        }
        let sent = self.client.post(self.url.as_url().clone()).headers(headers).body(body).send().await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return Err(classify(error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let mut body_prefix = Vec::new();
        let mut read = 0;
        while read < RESPONSE_READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = RESPONSE_PREFIX_BYTES.saturating_sub(body_prefix.len());
                    body_prefix.extend_from_slice(&chunk[..room.min(chunk.len())]);
                }
                // The status is what counts; a body cut short does not change it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Response { status, retry_after, body_prefix })
    }
}

fn classify(error: reqwest::Error) -> HttpError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(denied) = current.downcast_ref::<EgressDenied>() {
            return HttpError::Egress(denied.0.clone());
        }
        source = current.source();
    }
    let error = error.without_url();
    if error.is_timeout() {
        HttpError::Timeout
    } else if error.is_connect() {
        HttpError::Connect(error_chain(&error))
    } else {
        HttpError::Request(error_chain(&error))
    }
}

/// The error and its causes on one line (the client's own message is often just "error sending
/// request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` is delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate_to_unix(value)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// Parses the IMF-fixdate form `Sun, 06 Nov 1994 08:49:37 GMT` into Unix seconds.
fn httpdate_to_unix(text: &str) -> Option<u64> {
    let rest = text.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == month_name)? as u32
        + 1;
    let year: u32 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next() != Some("GMT") {
        return None;
    }
    let stamp = format!("{year:04}-{month:02}-{day:02}T{time}Z");
    let millis = crate::timestamp::Timestamp::parse_rfc3339(&stamp).ok()?.unix_millis();
    u64::try_from(millis / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_secret_path() {
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T000/B000/XXXX").expect("valid");
        assert_eq!(url.to_string(), "https://hooks.slack.com/…");
        assert_eq!(format!("{url:?}"), "WebhookUrl(https://hooks.slack.com/…)");
        let url = WebhookUrl::parse("http://127.0.0.1:8080/").expect("valid");
        assert_eq!(url.to_string(), "http://127.0.0.1:8080");
        assert_eq!(url.literal_ip(), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(WebhookUrl::parse("http://[::1]:9/x").expect("valid").host(), "::1");
    }

    #[test]
    fn rejects_urls_a_webhook_cannot_use() {
        for (url, reason) in [
            ("ftp://x/", "unsupported scheme"),
            ("https://user:pw@x/", "credentials"),
            ("not a url", "not a valid URL"),
        ] {
            let error = WebhookUrl::parse(url).expect_err(url);
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }
}
