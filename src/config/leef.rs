//! Building a LEEF sink's encoder: version, delimiter, header fields and the attribute mapping
//! (the built-in one, then the sink's own entries).

use std::collections::BTreeMap;

use super::build::Context;
use super::encoder::{check_path, header_field};
use super::file::MappingValue;
use super::ConfigError;
use crate::encode::leef::{self, dictionary, Leef, LeefSettings, LeefVersion, Mapping};
use crate::encode::syslog::SyslogPrefix;

/// The built-in LEEF mapping: attribute key, event field, in this order, before the sink's own
/// `mapping` (which can replace any of these). Predefined QRadar keys first; `id`, `title`,
/// `msg`, `action` and `outcome` are custom keys (LEEF predefines none for them).
pub const DEFAULT_LEEF_MAPPING: &[(&str, &str)] = &[
    ("devTime", "timestamp"),
    ("sev", "severity"),
    ("cat", "category"),
    ("src", "source_ip"),
    ("srcPort", "source_port"),
    ("dst", "destination_ip"),
    ("dstPort", "destination_port"),
    ("srcMAC", "source_mac"),
    ("dstMAC", "destination_mac"),
    ("proto", "protocol"),
    ("usrName", "user"),
    ("identHostName", "host"),
    ("url", "url"),
    ("id", "id"),
    ("title", "title"),
    ("msg", "description"),
    ("action", "action"),
    ("outcome", "outcome"),
];

/// The keys of a LEEF sink.
pub struct LeefKeys {
    pub version: Option<String>,
    pub delimiter: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub device_version: Option<String>,
    pub mapping: Option<BTreeMap<String, MappingValue>>,
    pub default_mapping: Option<bool>,
}

pub fn build_leef(
    cx: &Context<'_>,
    sink: &str,
    keys: LeefKeys,
    prefix: SyslogPrefix,
    max_bytes: Option<usize>,
) -> Result<Leef, ConfigError> {
    let LeefKeys { version, delimiter, vendor, product, device_version, mapping, default_mapping } = keys;
    let key = |field: &str| format!("sinks.{sink}.{field}");
    let version = match version.as_deref() {
        None | Some("2.0") => LeefVersion::V2,
        Some("1.0") => LeefVersion::V1,
        Some(other) => {
            return Err(cx.error(key("leef_version"), format!("expected \"2.0\" or \"1.0\", found {other:?}")))
        }
    };
    let (delimiter, delimiter_field) = match (version, delimiter) {
        (LeefVersion::V1, Some(_)) => {
            return Err(
                cx.error(key("leef_delimiter"), "applies to leef_version = \"2.0\" only: LEEF 1.0 always uses tab")
            )
        }
        (_, None) => ('\t', "x09".to_owned()),
        (_, Some(text)) => {
            let delimiter = leef::parse_delimiter(&text).map_err(|reason| cx.error(key("leef_delimiter"), reason))?;
            // A tab written raw in the header would be rewritten by receivers that escape
            // control characters (rsyslog's default): its hex form is unambiguous.
            (delimiter, if delimiter == '\t' { "x09".to_owned() } else { text })
        }
    };
    let header_field = |field: &str, value: Option<String>, default: &str| {
        let value = header_field(cx, &key(field), value, default, leef::HEADER_FIELD_MAX, "LEEF header field")?;
        if value.contains('|') {
            return Err(cx.error(key(field), format!("expected no '|' (LEEF has no escape for it), found {value:?}")));
        }
        Ok(value)
    };
    let vendor = header_field("device_vendor", vendor, "siem-relay")?;
    let product = header_field("device_product", product, "siem-relay")?;
    let device_version = header_field("device_version", device_version, env!("CARGO_PKG_VERSION"))?;
    let mapping = build_mapping(cx, sink, mapping.unwrap_or_default(), default_mapping.unwrap_or(true))?;
    Ok(Leef::new(LeefSettings {
        version,
        vendor: &vendor,
        product: &product,
        device_version: &device_version,
        delimiter,
        delimiter_field: &delimiter_field,
        mapping,
        prefix,
        max_bytes,
    }))
}

/// The defaults (unless turned off), then the sink's entries, which replace a default of the
/// same key in place or are added after them in key order.
fn build_mapping(
    cx: &Context<'_>,
    sink: &str,
    entries: BTreeMap<String, MappingValue>,
    defaults: bool,
) -> Result<Vec<Mapping>, ConfigError> {
    let entry =
        |key: &str, path: &str| Mapping::plain(key, path, dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY));
    let mut mapping: Vec<Mapping> =
        if defaults { DEFAULT_LEEF_MAPPING.iter().map(|(key, path)| entry(key, path)).collect() } else { Vec::new() };
    for (key, value) in entries {
        let config_key = format!("sinks.{sink}.mapping.{key}");
        if !dictionary::is_valid_key(&key) {
            return Err(cx.error(
                config_key,
                "LEEF attribute keys are one word of ASCII letters and digits, starting with a letter",
            ));
        }
        if key == "devTimeFormat" {
            return Err(
                cx.error(config_key, "devTimeFormat is written with devTime; map devTime to a time field instead")
            );
        }
        let path = match value {
            MappingValue::Path(path) => path,
            MappingValue::Labeled(labeled) if labeled.label.is_none() => labeled.field,
            MappingValue::Labeled(_) => {
                return Err(cx.error(format!("{config_key}.label"), "LEEF attributes have no labels (CEF only)"))
            }
        };
        check_path(cx, &config_key, &path)?;
        let built = entry(&key, &path);
        match mapping.iter_mut().find(|existing| *existing.key == *key) {
            Some(existing) => *existing = built,
            None => mapping.push(built),
        }
    }
    Ok(mapping)
}
