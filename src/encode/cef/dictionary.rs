//! The CEF extension dictionary: which keys exist, what type each value has, and the longest
//! value ArcSight accepts (from the "Implementing ArcSight CEF" standard's key tables).

pub use crate::encode::typed::ValueType;

use ValueType::*;

/// Every dictionary key this daemon can write, sorted by name for binary search.
const KEYS: &[(&str, ValueType)] = &[
    ("act", Text(63)),
    ("app", Text(31)),
    ("c6a1", Ipv6),
    ("c6a1Label", Text(1023)),
    ("c6a2", Ipv6),
    ("c6a2Label", Text(1023)),
    ("c6a3", Ipv6),
    ("c6a3Label", Text(1023)),
    ("c6a4", Ipv6),
    ("c6a4Label", Text(1023)),
    ("cat", Text(1023)),
    ("cfp1", Float),
    ("cfp1Label", Text(1023)),
    ("cfp2", Float),
    ("cfp2Label", Text(1023)),
    ("cfp3", Float),
    ("cfp3Label", Text(1023)),
    ("cfp4", Float),
    ("cfp4Label", Text(1023)),
    ("cn1", Long),
    ("cn1Label", Text(1023)),
    ("cn2", Long),
    ("cn2Label", Text(1023)),
    ("cn3", Long),
    ("cn3Label", Text(1023)),
    ("cnt", Integer),
    ("cs1", Text(4000)),
    ("cs1Label", Text(1023)),
    ("cs2", Text(4000)),
    ("cs2Label", Text(1023)),
    ("cs3", Text(4000)),
    ("cs3Label", Text(1023)),
    ("cs4", Text(4000)),
    ("cs4Label", Text(1023)),
    ("cs5", Text(4000)),
    ("cs5Label", Text(1023)),
    ("cs6", Text(4000)),
    ("cs6Label", Text(1023)),
    ("destinationDnsDomain", Text(255)),
    ("destinationServiceName", Text(1023)),
    ("destinationTranslatedAddress", Address),
    ("destinationTranslatedPort", Port),
    ("deviceCustomDate1", Time),
    ("deviceCustomDate1Label", Text(1023)),
    ("deviceCustomDate2", Time),
    ("deviceCustomDate2Label", Text(1023)),
    ("deviceDirection", Integer),
    ("deviceDnsDomain", Text(255)),
    ("deviceExternalId", Text(255)),
    ("deviceFacility", Text(1023)),
    ("deviceInboundInterface", Text(128)),
    ("deviceNtDomain", Text(255)),
    ("deviceOutboundInterface", Text(128)),
    ("devicePayloadId", Text(128)),
    ("deviceProcessName", Text(1023)),
    ("deviceTranslatedAddress", Address),
    ("dhost", Text(1023)),
    ("dlat", Float),
    ("dlong", Float),
    ("dmac", Mac),
    ("dntdom", Text(255)),
    ("dpid", Integer),
    ("dpriv", Text(1023)),
    ("dproc", Text(1023)),
    ("dpt", Port),
    ("dst", Address),
    ("dtz", Text(255)),
    ("duid", Text(1023)),
    ("duser", Text(1023)),
    ("dvc", Address),
    ("dvchost", Text(100)),
    ("dvcmac", Mac),
    ("dvcpid", Integer),
    ("end", Time),
    ("externalId", Text(40)),
    ("fileCreateTime", Time),
    ("fileHash", Text(255)),
    ("fileId", Text(1023)),
    ("fileModificationTime", Time),
    ("filePath", Text(1023)),
    ("filePermission", Text(1023)),
    ("fileType", Text(1023)),
    ("flexDate1", Time),
    ("flexDate1Label", Text(128)),
    ("flexString1", Text(1023)),
    ("flexString1Label", Text(128)),
    ("flexString2", Text(1023)),
    ("flexString2Label", Text(128)),
    ("fname", Text(1023)),
    ("fsize", Integer),
    ("in", Integer),
    ("msg", Text(1023)),
    ("oldFileCreateTime", Time),
    ("oldFileHash", Text(255)),
    ("oldFileId", Text(1023)),
    ("oldFileModificationTime", Time),
    ("oldFileName", Text(1023)),
    ("oldFilePath", Text(1023)),
    ("oldFilePermission", Text(1023)),
    ("oldFileSize", Integer),
    ("oldFileType", Text(1023)),
    ("out", Integer),
    ("outcome", Text(63)),
    ("proto", Text(31)),
    ("reason", Text(1023)),
    ("request", Text(1023)),
    ("requestClientApplication", Text(1023)),
    ("requestContext", Text(2048)),
    ("requestCookies", Text(1023)),
    ("requestMethod", Text(1023)),
    ("rt", Time),
    ("shost", Text(1023)),
    ("slat", Float),
    ("slong", Float),
    ("smac", Mac),
    ("sntdom", Text(255)),
    ("sourceDnsDomain", Text(255)),
    ("sourceServiceName", Text(1023)),
    ("sourceTranslatedAddress", Address),
    ("sourceTranslatedPort", Port),
    ("spid", Integer),
    ("spriv", Text(1023)),
    ("sproc", Text(1023)),
    ("spt", Port),
    ("src", Address),
    ("start", Time),
    ("suid", Text(1023)),
    ("suser", Text(1023)),
    ("type", Integer),
];

/// The type of a dictionary key, or `None` for a key the dictionary does not define.
pub fn lookup(key: &str) -> Option<ValueType> {
    KEYS.binary_search_by(|(name, _)| (*name).cmp(key)).ok().map(|index| KEYS[index].1)
}

/// The label key that names a custom key's meaning (`cs1` -> `cs1Label`), if it has one.
pub fn label_key(key: &str) -> Option<String> {
    let label = format!("{key}Label");
    lookup(&label).is_some().then_some(label)
}

/// Whether `key` is itself a label key (`cs1Label`): those are written from `{ label = ... }`.
pub fn is_label_key(key: &str) -> bool {
    key.strip_suffix("Label").is_some_and(|base| label_key(base).is_some())
}

/// Vendor-defined keys (`VendorProductKeyName`): alphanumeric, not in the dictionary. ArcSight
/// keeps them as "additional data"; their values are treated as text of at most 1023 bytes.
pub const CUSTOM_KEY: ValueType = Text(1023);

/// Whether `key` is acceptable as an extension key at all: one word of ASCII letters and
/// digits, starting with a letter.
pub fn is_valid_key(key: &str) -> bool {
    key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        assert!(KEYS.windows(2).all(|pair| pair[0].0 < pair[1].0), "KEYS must stay sorted for binary search");
    }

    #[test]
    fn looks_up_types_and_labels() {
        assert_eq!(lookup("msg"), Some(Text(1023)));
        assert_eq!(lookup("act"), Some(Text(63)));
        assert_eq!(lookup("cs1"), Some(Text(4000)));
        assert_eq!(lookup("src"), Some(Address));
        assert_eq!(lookup("spt"), Some(Port));
        assert_eq!(lookup("rt"), Some(Time));
        assert_eq!(lookup("nonsense"), None);
        assert_eq!(label_key("cs6").as_deref(), Some("cs6Label"));
        assert_eq!(label_key("cn3").as_deref(), Some("cn3Label"));
        assert_eq!(label_key("src"), None);
        assert!(is_label_key("cfp4Label"));
        assert!(!is_label_key("msg"));
        assert!(is_valid_key("AcmeScannerRuleId2"));
        assert!(!is_valid_key("9lives"));
        assert!(!is_valid_key("has_underscore"));
        assert!(!is_valid_key(""));
    }
}
