//! LEEF's predefined event attributes (IBM QRadar, "Log Event Extended Format" guide, version
//! 2): which keys exist and what type each value has. Other keys are custom attributes.

use crate::encode::typed::ValueType::{self, *};

/// Every predefined key, sorted by name for binary search. `devTimeFormat` is not here: it is
/// written with `devTime`, never mapped on its own.
const KEYS: &[(&str, ValueType)] = &[
    ("accountName", Text(255)),
    ("calCountryOrRegion", Text(2)),
    ("calLanguage", Text(2)),
    ("cat", Text(255)),
    ("devTime", Time),
    ("domain", Text(255)),
    ("dst", Address),
    ("dstBytes", Long),
    ("dstMAC", Mac),
    ("dstPackets", Long),
    ("dstPort", Port),
    ("dstPostNAT", Address),
    ("dstPostNATPort", Port),
    ("dstPreNAT", Address),
    ("dstPreNATPort", Port),
    ("groupID", Text(255)),
    ("identGrpName", Text(255)),
    ("identHostName", Text(255)),
    ("identMAC", Mac),
    ("identNetBios", Text(255)),
    ("identSecondlp", Address),
    ("identSrc", Address),
    ("isLoginEvent", Boolean),
    ("isLogoutEvent", Boolean),
    ("policy", Text(255)),
    ("proto", Text(31)),
    ("realm", Text(255)),
    ("resource", Text(255)),
    ("role", Text(255)),
    ("sev", Severity),
    ("src", Address),
    ("srcBytes", Long),
    ("srcMAC", Mac),
    ("srcPackets", Long),
    ("srcPort", Port),
    ("srcPostNAT", Address),
    ("srcPostNATPort", Port),
    ("srcPreNAT", Address),
    ("srcPreNATPort", Port),
    ("totalPackets", Long),
    ("url", Text(4000)),
    ("usrName", Text(255)),
    ("vSrc", Address),
    ("vSrcName", Text(255)),
];

/// The type of custom attributes: text of at most this many bytes.
pub const CUSTOM_KEY: ValueType = Text(4000);

/// The type of a predefined key, `None` for a custom one.
pub fn lookup(key: &str) -> Option<ValueType> {
    KEYS.binary_search_by(|(name, _)| name.cmp(&key)).ok().map(|i| KEYS[i].1)
}

/// Whether `key` can be an attribute key: one word of ASCII letters and digits starting with a
/// letter (the guide's best practice, which keeps every parser's split on `=` unambiguous).
pub fn is_valid_key(key: &str) -> bool {
    key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_valid() {
        assert!(KEYS.windows(2).all(|pair| pair[0].0 < pair[1].0), "KEYS must be sorted");
        assert!(KEYS.iter().all(|(key, _)| is_valid_key(key)));
        assert_eq!(lookup("sev"), Some(Severity));
        assert_eq!(lookup("AcmeRule"), None);
        assert!(!is_valid_key("2x") && !is_valid_key("a-b") && !is_valid_key(""));
    }
}
