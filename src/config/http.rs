//! Building a webhook sink's delivery settings: timeouts, retries, breaker, headers, signing
//! secrets and tokens (read from their files here, so a missing file is a config error).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use super::build::Context;
use super::file::{BatchFile, RateLimitFile};
use super::ConfigError;
use crate::sink::http::breaker::BreakerSettings;
use crate::sink::http::sign::{self, Secret, SigningScheme};
use crate::sink::http::{Batching, HttpSettings};
use crate::transport::egress::EgressPolicy;
use crate::transport::http::{HttpClient, WebhookUrl};
use crate::transport::tls::TlsClient;

/// The keys of a sink that only webhooks read.
#[derive(Debug)]
pub struct HttpKeys {
    pub timeout_ms: Option<u64>,
    pub retry_count: Option<u32>,
    pub retry_after_max_ms: Option<u64>,
    pub concurrency: Option<usize>,
    pub rate_limit: Option<RateLimitFile>,
    pub failure_threshold: Option<u32>,
    pub cooldown_ms: Option<u64>,
    pub cooldown_max_ms: Option<u64>,
    pub deactivate_after_ms: Option<u64>,
    pub history_size: Option<usize>,
    pub dead_letter_max: Option<usize>,
    pub headers: Option<BTreeMap<String, String>>,
    pub event_header: Option<String>,
    pub delivery_id_header: Option<String>,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub signature: Option<String>,
    pub signature_header: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub gzip: Option<bool>,
    pub batch: Option<BatchFile>,
}

impl HttpKeys {
    /// The names of the keys that are set (to reject them on sinks that are not webhooks).
    pub fn set_keys(&self) -> Vec<&'static str> {
        let HttpKeys {
            timeout_ms,
            retry_count,
            retry_after_max_ms,
            concurrency,
            rate_limit,
            failure_threshold,
            cooldown_ms,
            cooldown_max_ms,
            deactivate_after_ms,
            history_size,
            dead_letter_max,
            headers,
            event_header,
            delivery_id_header,
            secret,
            secret_file,
            signature,
            signature_header,
            token,
            token_file,
            gzip,
            batch,
        } = self;
        [
            ("timeout_ms", timeout_ms.is_some()),
            ("retry_count", retry_count.is_some()),
            ("retry_after_max_ms", retry_after_max_ms.is_some()),
            ("concurrency", concurrency.is_some()),
            ("rate_limit", rate_limit.is_some()),
            ("failure_threshold", failure_threshold.is_some()),
            ("cooldown_ms", cooldown_ms.is_some()),
            ("cooldown_max_ms", cooldown_max_ms.is_some()),
            ("deactivate_after_ms", deactivate_after_ms.is_some()),
            ("history_size", history_size.is_some()),
            ("dead_letter_max", dead_letter_max.is_some()),
            ("headers", headers.is_some()),
            ("event_header", event_header.is_some()),
            ("delivery_id_header", delivery_id_header.is_some()),
            ("secret", secret.is_some()),
            ("secret_file", secret_file.is_some()),
            ("signature", signature.is_some()),
            ("signature_header", signature_header.is_some()),
            ("token", token.is_some()),
            ("token_file", token_file.is_some()),
            ("gzip", gzip.is_some()),
            ("batch", batch.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Defaults that differ by format: chat webhooks are rate-limited and keep their order.
pub struct FormatDefaults {
    pub content_type: &'static str,
    pub concurrency: usize,
    pub rate_limit: Option<(f64, u32)>,
    /// Splunk HEC batches (always) and authenticates with a token.
    pub hec: bool,
    /// With `batch` set, requests carry a JSON array of events (`json`); without, one event.
    pub array_batches: bool,
}

#[allow(clippy::too_many_arguments)]
pub fn build_http(
    cx: &Context<'_>,
    sink: &str,
    url: WebhookUrl,
    keys: HttpKeys,
    defaults: FormatDefaults,
    tls: Option<&TlsClient>,
    egress: Arc<EgressPolicy>,
    connect_timeout: Duration,
) -> Result<HttpSettings, ConfigError> {
    let HttpKeys {
        timeout_ms,
        retry_count,
        retry_after_max_ms,
        concurrency,
        rate_limit,
        failure_threshold,
        cooldown_ms,
        cooldown_max_ms,
        deactivate_after_ms,
        history_size,
        dead_letter_max,
        headers,
        event_header,
        delivery_id_header,
        secret,
        secret_file,
        signature,
        signature_header,
        token,
        token_file,
        gzip,
        batch,
    } = keys;
    let key = |field: &str| format!("sinks.{sink}.{field}");
    let in_range = |field: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(cx.error(key(field), format!("expected {} to {}, found {value}", range.start(), range.end())))
        }
    };
    let timeout = Duration::from_millis(in_range("timeout_ms", timeout_ms.unwrap_or(5000), 1000..=30_000)?);
    let retry_count = in_range("retry_count", u64::from(retry_count.unwrap_or(3)), 0..=10)? as u32;
    let retry_after_max = Duration::from_millis(retry_after_max_ms.unwrap_or(60_000));
    let concurrency = in_range("concurrency", concurrency.unwrap_or(defaults.concurrency) as u64, 1..=64)? as usize;
    let rate_limit = match rate_limit {
        None => defaults.rate_limit,
        Some(RateLimitFile { per_second, burst }) => {
            if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
                return Err(cx.error(key("rate_limit"), "expected per_second > 0 and burst >= 1"));
            }
            Some((per_second, burst))
        }
    };
    let breaker = BreakerSettings {
        failure_threshold: in_range("failure_threshold", u64::from(failure_threshold.unwrap_or(5)), 1..=1000)? as u32,
        cooldown: Duration::from_millis(in_range("cooldown_ms", cooldown_ms.unwrap_or(10_000), 1..=86_400_000)?),
        cooldown_max: Duration::from_millis(in_range(
            "cooldown_max_ms",
            cooldown_max_ms.unwrap_or(300_000),
            cooldown_ms.unwrap_or(10_000)..=86_400_000,
        )?),
        deactivate_after: Duration::from_millis(in_range(
            "deactivate_after_ms",
            deactivate_after_ms.unwrap_or(86_400_000),
            1000..=30 * 86_400_000,
        )?),
    };

    let header_name = |field: &str, value: Option<String>, default: &str| {
        let text = value.unwrap_or_else(|| default.to_owned());
        HeaderName::from_bytes(text.as_bytes())
            .map_err(|_| cx.error(key(field), format!("expected an HTTP header name, found {text:?}")))
    };
    let event_header = header_name("event_header", event_header, "X-Event-Type")?;
    let delivery_id_header = header_name("delivery_id_header", delivery_id_header, "X-Delivery-Id")?;
    let mut static_headers = HeaderMap::new();
    for (name, value) in headers.unwrap_or_default() {
        let field = format!("headers.{name}");
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| cx.error(key(&field), "expected an HTTP header name"))?;
        // Values may hold credentials: never echo them.
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| cx.error(key(&field), "expected a header value of visible ASCII"))?;
        value.set_sensitive(true);
        static_headers.insert(name, value);
    }

    let signing = build_signing(cx, sink, secret, secret_file, signature, signature_header)?;
    let token = match (token, token_file) {
        (Some(_), Some(_)) => return Err(cx.error(key("token"), "set token or token_file, not both")),
        (Some(token), None) => Some(token),
        (None, Some(path)) => Some(super::build::read_private_text(cx, &key("token_file"), &path)?),
        (None, None) => None,
    };
    match (&token, defaults.hec) {
        (Some(token), true) => {
            let mut value = HeaderValue::from_str(&format!("Splunk {token}"))
                .map_err(|_| cx.error(key("token"), "expected a token of visible ASCII"))?;
            value.set_sensitive(true);
            static_headers.insert(AUTHORIZATION, value);
        }
        (None, true) => return Err(cx.error(key("token_file"), "Splunk HEC needs a token: set token_file (or token)")),
        (Some(_), false) => {
            return Err(cx.error(key("token"), "token applies to format = \"splunk_hec\"; use headers for others"))
        }
        (None, false) => {}
    }
    // Splunk HEC always batches (these defaults); `json` batches when `batch` is set; no other
    // format can.
    let batch = match batch {
        Some(_) if !(defaults.hec || defaults.array_batches) => {
            return Err(cx.error(key("batch"), "batching applies to format = \"splunk_hec\" and \"json\" only"))
        }
        None if defaults.hec => Some(BatchFile { max_events: None, max_bytes: None, max_linger_ms: None }),
        batch => batch,
    };
    let batching = match batch {
        None => None,
        Some(BatchFile { max_events, max_bytes, max_linger_ms }) => Some(Batching {
            max_events: in_range("batch.max_events", max_events.unwrap_or(100) as u64, 1..=100_000)? as usize,
            max_bytes: in_range("batch.max_bytes", max_bytes.unwrap_or(1 << 20) as u64, 1024..=64 << 20)? as usize,
            max_linger: Duration::from_millis(in_range(
                "batch.max_linger_ms",
                max_linger_ms.unwrap_or(1000),
                0..=60_000,
            )?),
            json_array: defaults.array_batches,
        }),
    };
    let client = HttpClient::new(url, tls, egress, timeout, connect_timeout, concurrency)
        .map_err(|message| cx.error(key("url"), message))?;
    Ok(HttpSettings {
        client,
        content_type: defaults.content_type,
        event_header,
        delivery_id_header,
        static_headers,
        signing,
        timeout,
        retry_count,
        retry_after_max,
        concurrency,
        rate_limit,
        breaker,
        history_size: history_size.unwrap_or(100),
        dead_letter_max: dead_letter_max.unwrap_or(1000),
        batching,
        gzip: gzip.unwrap_or(false),
    })
}

fn build_signing(
    cx: &Context<'_>,
    sink: &str,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    signature: Option<String>,
    signature_header: Option<String>,
) -> Result<Option<SigningScheme>, ConfigError> {
    let key = |field: &str| format!("sinks.{sink}.{field}");
    let scheme = signature.as_deref().unwrap_or("standard");
    if !matches!(scheme, "standard" | "hex") {
        return Err(cx.error(key("signature"), format!("expected \"standard\" or \"hex\", found {scheme:?}")));
    }
    if signature_header.is_some() && scheme != "hex" {
        return Err(cx.error(key("signature_header"), "applies to signature = \"hex\" only"));
    }
    let secrets: Vec<Secret> = match (secret, secret_file) {
        (None, None) => {
            if signature.is_some() {
                return Err(cx.error(key("signature"), "signing needs secret_file (or secret)"));
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => return Err(cx.error(key("secret"), "set secret or secret_file, not both")),
        // Errors below name what is wrong with a secret, never its content.
        (Some(text), None) => vec![match scheme {
            "standard" => Secret::parse_standard(&text),
            _ => Secret::from_raw(&text),
        }
        .map_err(|e| cx.error(key("secret"), e.to_string()))?],
        (None, Some(path)) => match (scheme, cx.path(path)) {
            ("standard", path) => sign::load_standard_secrets(&path),
            (_, path) => sign::load_raw_secret(&path).map(|secret| vec![secret]),
        }
        .map_err(|e| cx.error(key("secret_file"), e.to_string()))?,
    };
    let built = match scheme {
        "standard" => SigningScheme::standard(secrets),
        _ => match secrets.into_iter().next() {
            Some(secret) => SigningScheme::hex(secret, signature_header.as_deref()),
            None => return Err(cx.error(key("secret_file"), "no secret found")),
        },
    };
    built
        .map(Some)
        .map_err(|e| cx.error(key(if scheme == "hex" { "signature_header" } else { "secret" }), e.to_string()))
}
