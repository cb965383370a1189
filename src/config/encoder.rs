//! Building a sink's encoder from its format keys, with each key checked against the formats it
//! applies to.

use super::build::Context;
use super::file::{FacilityValue, HecFile, MappingValue, SdFieldValue};
use super::http::FormatDefaults;
use super::leef::{build_leef, LeefKeys};
use super::ConfigError;
use crate::encode::cef::dictionary::{self, ValueType};
use crate::encode::cef::{self, Cef, CefSettings, Mapping, SeverityForm, SyslogPrefix};
use crate::encode::hec::{self, HecSettings};
use crate::encode::json::{self, JsonSettings};
use crate::encode::rfc3164::{self, Rfc3164, Rfc3164Header};
use crate::encode::rfc5424::{self, Rfc5424, Rfc5424Header, Rfc5424Settings, SdField};
use crate::encode::slack::SlackSettings;
use crate::encode::syslog::{is_printusascii, FACILITIES};
use crate::encode::teams::{self, TeamsSettings};
use crate::encode::{Encoder, MessageSource};
use crate::transport::Endpoint;
use std::collections::BTreeMap;

/// The keys of a sink that shape its output.
#[derive(Debug)]
pub struct FormatKeys {
    pub format: String,
    pub facility: Option<FacilityValue>,
    pub app_name: Option<String>,
    pub sd_id: Option<String>,
    pub sd_fields: Vec<SdFieldValue>,
    pub sd_original_host: Option<bool>,
    pub message: Option<String>,
    pub cef_version: Option<i64>,
    pub device_vendor: Option<String>,
    pub device_product: Option<String>,
    pub device_version: Option<String>,
    pub cef_severity: Option<String>,
    pub syslog_header: Option<String>,
    pub mapping: Option<BTreeMap<String, MappingValue>>,
    pub default_mapping: Option<bool>,
    pub leef_version: Option<String>,
    pub leef_delimiter: Option<String>,
    pub hec: Option<HecFile>,
    pub fields: Option<Vec<SdFieldValue>>,
}

/// Formats and what they need: webhook-only formats cannot go over syslog transports.
const SYSLOG_FORMATS: [&str; 4] = ["rfc5424", "rfc3164", "cef", "leef"];
const WEBHOOK_FORMATS: [&str; 4] = ["json", "slack", "teams", "splunk_hec"];

/// Delivery defaults that depend on the format.
pub fn format_defaults(format: &str) -> FormatDefaults {
    let json = "application/json";
    match format {
        "slack" => FormatDefaults {
            content_type: json,
            concurrency: 1,
            rate_limit: Some((1.0, 5)),
            hec: false,
            array_batches: false,
        },
        "teams" => FormatDefaults {
            content_type: json,
            concurrency: 1,
            rate_limit: Some((2.0, 5)),
            hec: false,
            array_batches: false,
        },
        "splunk_hec" => {
            FormatDefaults { content_type: json, concurrency: 2, rate_limit: None, hec: true, array_batches: false }
        }
        "json" => {
            FormatDefaults { content_type: json, concurrency: 4, rate_limit: None, hec: false, array_batches: true }
        }
        _ => FormatDefaults {
            content_type: "text/plain; charset=utf-8",
            concurrency: 4,
            rate_limit: None,
            hec: false,
            array_batches: false,
        },
    }
}

/// The built-in CEF mapping: extension key, event field. Applied in this order, before the
/// sink's own `mapping` (which can replace any of these).
pub const DEFAULT_CEF_MAPPING: &[(&str, &str)] = &[
    ("rt", "timestamp"),
    ("externalId", "id"),
    ("msg", "description"),
    ("src", "source_ip"),
    ("spt", "source_port"),
    ("shost", "source_host"),
    ("suser", "user"),
    ("dst", "destination_ip"),
    ("dpt", "destination_port"),
    ("dhost", "host"),
    ("duser", "target_user"),
    ("request", "url"),
    ("act", "action"),
    ("outcome", "outcome"),
];

pub fn build_encoder(
    cx: &Context<'_>,
    sink: &str,
    hostname: &str,
    keys: FormatKeys,
    max_bytes: Option<usize>,
    endpoint: &Endpoint,
) -> Result<Encoder, ConfigError> {
    let FormatKeys {
        format,
        facility,
        app_name,
        sd_id,
        sd_fields,
        sd_original_host,
        message,
        cef_version,
        device_vendor,
        device_product,
        device_version,
        cef_severity,
        syslog_header,
        mapping,
        default_mapping,
        leef_version,
        leef_delimiter,
        hec,
        fields,
    } = keys;
    let key = |field: &str| format!("sinks.{sink}.{field}");
    let webhook = matches!(endpoint, Endpoint::Http(_));
    if *endpoint == Endpoint::Store && format != "json" {
        return Err(cx.error(
            key("format"),
            format!("expected \"json\" for a store (it keeps the json webhook envelope), found {format:?}"),
        ));
    }
    let known = SYSLOG_FORMATS.contains(&format.as_str()) || WEBHOOK_FORMATS.contains(&format.as_str());
    // Kafka records, like webhook bodies, are whole messages: any format, and CEF and LEEF
    // without a syslog header unless asked for.
    let whole_records = webhook || matches!(endpoint, Endpoint::Kafka(_));
    // A store takes json only (checked above); other sinks take syslog formats.
    let takes_webhook_formats = whole_records || *endpoint == Endpoint::Store;
    if !known || (!takes_webhook_formats && WEBHOOK_FORMATS.contains(&format.as_str())) {
        let expected = if whole_records {
            "\"json\", \"slack\", \"teams\", \"splunk_hec\", \"cef\", \"leef\", \"rfc5424\" or \"rfc3164\""
        } else {
            "\"rfc5424\", \"rfc3164\", \"cef\" or \"leef\" (json, slack, teams and splunk_hec need an http://, https:// or kafka:// url)"
        };
        return Err(cx.error(key("format"), format!("expected {expected}, found {format:?}")));
    }
    // Keys that only some formats read: set on another format, they would be silently ignored.
    let applies: [(&str, bool, &[&str]); 16] = [
        ("hec", hec.is_some(), &["splunk_hec"]),
        ("fields", fields.is_some(), &["slack", "teams"]),
        ("sd_id", sd_id.is_some(), &["rfc5424"]),
        ("sd_fields", !sd_fields.is_empty(), &["rfc5424"]),
        ("sd_original_host", sd_original_host.is_some(), &["rfc5424"]),
        ("message", message.is_some(), &["rfc5424", "rfc3164"]),
        ("cef_version", cef_version.is_some(), &["cef"]),
        ("device_vendor", device_vendor.is_some(), &["cef", "leef"]),
        ("device_product", device_product.is_some(), &["cef", "leef"]),
        ("device_version", device_version.is_some(), &["cef", "leef"]),
        ("cef_severity", cef_severity.is_some(), &["cef"]),
        ("syslog_header", syslog_header.is_some(), &["cef", "leef"]),
        ("mapping", mapping.is_some(), &["cef", "leef"]),
        ("default_mapping", default_mapping.is_some(), &["cef", "leef"]),
        ("leef_version", leef_version.is_some(), &["leef"]),
        ("leef_delimiter", leef_delimiter.is_some(), &["leef"]),
    ];
    for (name, set, formats) in applies {
        if set && !formats.contains(&format.as_str()) {
            return Err(
                cx.error(key(name), format!("applies to format = {} only, not {format:?}", formats.join(" or ")))
            );
        }
    }

    let facility = build_facility(cx, sink, facility)?;
    let app_name = app_name.unwrap_or_else(|| "siem-relay".to_owned());
    let pid = std::process::id();
    let header = match (format.as_str(), syslog_header.as_deref()) {
        // Over HTTP or Kafka a CEF or LEEF record is the whole body or record: no syslog header
        // unless asked for.
        ("cef" | "leef", None) if whole_records => "none",
        ("rfc5424", _) | ("cef" | "leef", None | Some("rfc5424")) => "rfc5424",
        ("rfc3164", _) | ("cef" | "leef", Some("rfc3164")) => "rfc3164",
        ("cef" | "leef", Some("none")) => "none",
        (_, Some(other)) => {
            return Err(cx.error(
                key("syslog_header"),
                format!("expected \"rfc5424\", \"rfc3164\" or \"none\", found {other:?}"),
            ))
        }
        _ => "none",
    };
    match header {
        "rfc5424" if !is_printusascii(&app_name, rfc5424::APP_NAME_MAX) => {
            return Err(cx.error(
                key("app_name"),
                format!(
                    "expected 1-48 printable ASCII characters without spaces (RFC 5424 APP-NAME), found {app_name:?}"
                ),
            ))
        }
        "rfc3164" if !rfc3164::is_tag(&app_name) => {
            return Err(cx.error(
                key("app_name"),
                format!("expected 1-32 letters, digits or '-', '_', '.', '/' (RFC 3164 TAG), found {app_name:?}"),
            ))
        }
        _ => {}
    }
    let message = match message.as_deref() {
        None | Some("title") => MessageSource::Title,
        Some("json") => MessageSource::Json,
        Some(other) => return Err(cx.error(key("message"), format!("expected \"title\" or \"json\", found {other:?}"))),
    };

    let prefix = || match header {
        "rfc5424" => SyslogPrefix::Rfc5424(Rfc5424Header::new(facility, hostname, &app_name, &pid.to_string())),
        "rfc3164" => SyslogPrefix::Rfc3164(Rfc3164Header::new(facility, hostname, &app_name, pid)),
        _ => SyslogPrefix::None,
    };
    Ok(match format.as_str() {
        "rfc5424" => {
            let sd_id = sd_id.unwrap_or_else(|| "siem@32473".to_owned());
            if !rfc5424::is_private_sd_id(&sd_id) {
                return Err(cx.error(key("sd_id"), format!("expected a private SD-ID \"name@enterprise-number\" of at most 32 characters without '=', ']', '\"' or spaces (RFC 5424 section 7.2.2), found {sd_id:?}")));
            }
            Encoder::Rfc5424(Rfc5424::new(Rfc5424Settings {
                facility,
                hostname,
                app_name: &app_name,
                procid: &pid.to_string(),
                sd_id: &sd_id,
                sd_fields: build_sd_fields(cx, sink, sd_fields, sd_original_host.unwrap_or(true))?,
                message,
                max_bytes,
                original_host: sd_original_host.unwrap_or(true),
            }))
        }
        "rfc3164" => {
            Encoder::Rfc3164(Rfc3164::new(Rfc3164Header::new(facility, hostname, &app_name, pid), message, max_bytes))
        }
        "json" => Encoder::Json(JsonSettings),
        "slack" => Encoder::Slack(SlackSettings { fields: card_fields(cx, sink, fields)?, ..SlackSettings::default() }),
        "teams" => {
            let max_bytes = max_bytes.unwrap_or(teams::DEFAULT_MAX_BYTES);
            if max_bytes < teams::MIN_MAX_BYTES {
                return Err(
                    cx.error(key("max_message_bytes"), format!("expected at least {} for teams", teams::MIN_MAX_BYTES))
                );
            }
            Encoder::Teams(TeamsSettings { fields: card_fields(cx, sink, fields)?, max_bytes })
        }
        "splunk_hec" => {
            let HecFile { index, source, sourcetype } =
                hec.unwrap_or(HecFile { index: None, source: None, sourcetype: None });
            Encoder::SplunkHec(HecSettings {
                host: Some(hostname.to_owned()),
                source: source.unwrap_or_else(|| hec::DEFAULT_SOURCE.to_owned()),
                sourcetype: sourcetype.unwrap_or_else(|| hec::DEFAULT_SOURCETYPE.to_owned()),
                index,
            })
        }
        "leef" => {
            let keys = LeefKeys {
                version: leef_version,
                delimiter: leef_delimiter,
                vendor: device_vendor,
                product: device_product,
                device_version,
                mapping,
                default_mapping,
            };
            Encoder::Leef(build_leef(cx, sink, keys, prefix(), max_bytes)?)
        }
        _ => {
            let prefix = prefix();
            let version = match cef_version {
                None | Some(0) => 0,
                Some(1) => 1,
                Some(other) => return Err(cx.error(key("cef_version"), format!("expected 0 or 1, found {other}"))),
            };
            let severity = match cef_severity.as_deref() {
                None | Some("number") => SeverityForm::Number,
                Some("name") => SeverityForm::Name,
                Some(other) => {
                    return Err(
                        cx.error(key("cef_severity"), format!("expected \"number\" or \"name\", found {other:?}"))
                    )
                }
            };
            let header_field = |field: &str, value: Option<String>, default: &str, max: usize| {
                let value = value.unwrap_or_else(|| default.to_owned());
                if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
                    return Err(cx.error(
                        key(field),
                        format!(
                            "expected 1-{max} bytes without control characters (CEF header field), found {value:?}"
                        ),
                    ));
                }
                Ok(value)
            };
            let vendor = header_field("device_vendor", device_vendor, "siem-relay", cef::VENDOR_MAX)?;
            let product = header_field("device_product", device_product, "siem-relay", cef::PRODUCT_MAX)?;
            let version_text =
                header_field("device_version", device_version, env!("CARGO_PKG_VERSION"), cef::DEVICE_VERSION_MAX)?;
            let mapping = build_mapping(cx, sink, mapping.unwrap_or_default(), default_mapping.unwrap_or(true))?;
            Encoder::Cef(Cef::new(CefSettings {
                version,
                vendor: &vendor,
                product: &product,
                device_version: &version_text,
                severity,
                mapping,
                prefix,
                max_bytes,
            }))
        }
    })
}

/// Extra fields of Slack and Teams cards: `(label, path)`; a bare path is labelled by its last
/// segment. Without the key, the formats' default fields.
fn card_fields(
    cx: &Context<'_>,
    sink: &str,
    fields: Option<Vec<SdFieldValue>>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(fields) = fields else { return Ok(json::default_card_fields()) };
    fields
        .into_iter()
        .enumerate()
        .map(|(index, field)| {
            let (label, path) = match field {
                SdFieldValue::Path(path) => (path.rsplit('.').next().unwrap_or(&path).to_owned(), path),
                SdFieldValue::Named(named) => (named.name, named.field),
            };
            check_path(cx, &format!("sinks.{sink}.fields[{index}]"), &path)?;
            Ok((label, path))
        })
        .collect()
}

fn build_facility(cx: &Context<'_>, sink: &str, facility: Option<FacilityValue>) -> Result<u8, ConfigError> {
    match facility {
        None => Ok(16),
        Some(FacilityValue::Number(n)) if (0..=23).contains(&n) => Ok(n as u8),
        Some(FacilityValue::Name(text)) if FACILITIES.iter().any(|(n, _)| *n == text) => {
            Ok(FACILITIES.iter().find(|(n, _)| *n == text).map_or(16, |(_, code)| *code))
        }
        Some(other) => {
            let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
            Err(cx.error(
                format!("sinks.{sink}.facility"),
                format!("expected a number 0-23 or one of {}, found {other:?}", names.join(", ")),
            ))
        }
    }
}

fn build_sd_fields(
    cx: &Context<'_>,
    sink: &str,
    fields: Vec<SdFieldValue>,
    original_host: bool,
) -> Result<Vec<SdField>, ConfigError> {
    let mut built: Vec<SdField> = Vec::with_capacity(fields.len());
    for (index, field) in fields.into_iter().enumerate() {
        let key = format!("sinks.{sink}.sd_fields[{index}]");
        let (param, path) = match field {
            SdFieldValue::Path(path) => (path.rsplit('.').next().unwrap_or(&path).to_owned(), path),
            SdFieldValue::Named(named) => (named.name, named.field),
        };
        check_path(cx, &key, &path)?;
        if !rfc5424::is_sd_name(&param) {
            return Err(cx.error(key, format!("parameter name {param:?} is not a valid SD-NAME (1-32 printable ASCII characters without '=', ']', '\"' or spaces; RFC 5424 section 6.3.3): give one with {{ name = \"...\", field = \"{path}\" }}")));
        }
        let taken = param == "id"
            || param == "severity"
            || (original_host && param == rfc5424::ORIGINAL_HOST_PARAM)
            || built.iter().any(|f| *f.name == *param);
        if taken {
            return Err(cx.error(key, format!("parameter name {param:?} is already used in the structured data")));
        }
        built.push(SdField { name: param.into(), path: crate::event::FieldPath::new(&path) });
    }
    Ok(built)
}

/// A static header field of a key-value format (vendor, product, version): `default` when not
/// set; 1-`max` bytes without control characters (they have no escape there).
pub(super) fn header_field(
    cx: &Context<'_>,
    key: &str,
    value: Option<String>,
    default: &str,
    max: usize,
    what: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(
            cx.error(key, format!("expected 1-{max} bytes without control characters ({what}), found {value:?}"))
        );
    }
    Ok(value)
}

pub(super) fn check_path(cx: &Context<'_>, key: &str, path: &str) -> Result<(), ConfigError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(cx.error(key, format!("expected a field path such as \"data.url\", found {path:?}")));
    }
    Ok(())
}

/// The CEF mapping: the defaults (unless turned off), then the sink's entries, which replace a
/// default of the same key in place or are added after them in key order.
fn build_mapping(
    cx: &Context<'_>,
    sink: &str,
    entries: BTreeMap<String, MappingValue>,
    defaults: bool,
) -> Result<Vec<Mapping>, ConfigError> {
    let mut mapping: Vec<Mapping> = Vec::new();
    if defaults {
        for (key, path) in DEFAULT_CEF_MAPPING {
            let value_type = dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY);
            mapping.push(Mapping::new(key, path, value_type, None));
        }
    }
    for (key, value) in entries {
        let config_key = format!("sinks.{sink}.mapping.{key}");
        if !dictionary::is_valid_key(&key) {
            return Err(cx.error(
                config_key,
                "CEF extension keys are one word of ASCII letters and digits, starting with a letter",
            ));
        }
        if dictionary::is_label_key(&key) {
            let base = key.trim_end_matches("Label");
            return Err(
                cx.error(config_key, format!("set a label with {base} = {{ field = \"...\", label = \"...\" }}"))
            );
        }
        let value_type = dictionary::lookup(&key).unwrap_or(dictionary::CUSTOM_KEY);
        let (path, label) = match value {
            MappingValue::Path(path) => (path, None),
            MappingValue::Labeled(labeled) => (labeled.field, labeled.label),
        };
        check_path(cx, &config_key, &path)?;
        let label = match (label, dictionary::label_key(&key)) {
            (None, _) => None,
            (Some(text), Some(label_key)) => {
                if text.is_empty() || text.len() > 1023 {
                    return Err(cx.error(format!("{config_key}.label"), "expected a label of 1-1023 bytes"));
                }
                Some((label_key, text))
            }
            (Some(_), None) => {
                return Err(cx.error(
                    format!("{config_key}.label"),
                    format!("{key} has no label key; labels exist for cs1-cs6, cn1-cn3, cfp1-cfp4, c6a1-c6a4, deviceCustomDate1-2, flexString1-2 and flexDate1"),
                ))
            }
        };
        let built = Mapping::new(&key, &path, value_type, label.as_ref().map(|(k, t)| (k.as_str(), t.as_str())));
        match mapping.iter_mut().find(|existing| *existing.key == *key) {
            Some(existing) => *existing = built,
            None => mapping.push(built),
        }
    }
    if mapping.iter().any(|m| m.value_type == ValueType::Time && m.path.is_empty()) {
        return Err(cx.error(format!("sinks.{sink}.mapping"), "time keys need a field"));
    }
    Ok(mapping)
}
