//! HMAC-SHA256 signing of webhook requests: the Standard Webhooks scheme (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64>`, several signatures for key rotation)
//! and the GitHub-style hex scheme (`sha256=<hex>` over the raw body in one header).
//!
//! Secrets are held in [`Secret`], which never shows its bytes: not in `Debug`, not in errors.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Standard Webhooks: the message id header.
pub const STANDARD_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: the attempt's unix time in seconds.
pub const STANDARD_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: space-separated `v1,<base64>` signatures.
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";
/// The prefix of a serialized Standard Webhooks symmetric secret.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";
/// Decoded key length bounds of a Standard Webhooks secret (spec: "At least 24 bytes
/// (192 bits, 512 maximum)", i.e. 24 to 64 bytes).
pub const STANDARD_SECRET_MIN_LEN: usize = 24;
pub const STANDARD_SECRET_MAX_LEN: usize = 64;
/// The header of the hex scheme when none is configured.
pub const DEFAULT_HEX_HEADER: &str = "X-Webhook-Signature";
/// The prefix of the hex scheme's header value.
pub const HEX_SIGNATURE_PREFIX: &str = "sha256=";

/// Decodes standard-alphabet base64 with or without `=` padding (the reference libraries
/// accept unpadded secrets too), and with non-zero trailing bits (which they ignore likewise).
/// The URL-safe alphabet and whitespace are rejected.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

// ------------------------------------------------------------------------ Secret ---

/// Where a [`Secret`] came from, which decides the scheme it can be used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SecretKind {
    /// A `whsec_<base64>` (or bare base64) Standard Webhooks secret, decoded.
    Standard,
    /// Raw text used as is (UTF-8 bytes), for the hex scheme.
    Raw,
}

/// An HMAC key. Its bytes never appear in `Debug` output or in errors; it has no `Display`.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
    kind: SecretKind,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Parses a Standard Webhooks secret: `whsec_` followed by standard base64 (padding
    /// optional) of 24 to 64 bytes, which are the HMAC key. Surrounding whitespace is ignored.
    ///
    /// Without the `whsec_` prefix the text is taken as the base64 key itself, as the spec's
    /// reference libraries (Python, JavaScript, ...) do, so a receiver configured with either
    /// form verifies our signatures. Asymmetric keys (`whsk_`, `whpk_`) are refused.
    pub fn parse_standard(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        let encoded = match text.strip_prefix(STANDARD_SECRET_PREFIX) {
            Some(rest) => rest,
            None if text.starts_with("whsk_") || text.starts_with("whpk_") => return Err(SecretError::AsymmetricKey),
            None => text,
        };
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        // The decoder's own error names the offending byte and its offset: not passed on.
        let key = SECRET_BASE64.decode(encoded).map_err(|_| SecretError::InvalidBase64)?;
        if !(STANDARD_SECRET_MIN_LEN..=STANDARD_SECRET_MAX_LEN).contains(&key.len()) {
            return Err(SecretError::BadLength { len: key.len() });
        }
        Ok(Secret { key, kind: SecretKind::Standard })
    }

    /// A raw secret for the hex scheme: its UTF-8 bytes, as is (no trimming, no decoding),
    /// as GitHub-style receivers use it. Only the empty string is refused.
    pub fn from_raw(text: &str) -> Result<Secret, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret { key: text.as_bytes().to_vec(), kind: SecretKind::Raw })
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Why a secret was refused. Never contains any part of the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretError {
    Empty,
    AsymmetricKey,
    InvalidBase64,
    BadLength { len: usize },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Empty => f.write_str("the secret is empty"),
            SecretError::AsymmetricKey => {
                f.write_str("asymmetric (whsk_/whpk_) keys are not supported; expected a whsec_ secret")
            }
            SecretError::InvalidBase64 => f.write_str(
                "the secret is not valid base64 after the whsec_ prefix \
                 (standard alphabet A-Z a-z 0-9 + /, optional = padding)",
            ),
            SecretError::BadLength { len } => write!(
                f,
                "the secret decodes to {len} bytes; Standard Webhooks secrets are \
                 {STANDARD_SECRET_MIN_LEN} to {STANDARD_SECRET_MAX_LEN} bytes"
            ),
        }
    }
}

impl std::error::Error for SecretError {}

// ------------------------------------------------------------------ secret files ---

/// Reads Standard Webhooks secrets from a file, one per line, for key rotation: every secret
/// signs each request, in file order. Blank lines and lines starting with `#` are skipped
/// (neither can be base64); a trailing `\r` is ignored. At least one secret is required.
pub fn load_standard_secrets(path: &Path) -> Result<Vec<Secret>, SecretFileError> {
    let text = read_secret_file(path)?;
    let mut secrets = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let secret = Secret::parse_standard(line).map_err(|error| SecretFileError::Invalid {
            path: path.to_owned(),
            line: i + 1,
            error,
        })?;
        secrets.push(secret);
    }
    if secrets.is_empty() {
        return Err(SecretFileError::Empty { path: path.to_owned() });
    }
    Ok(secrets)
}

/// Reads a raw secret (hex scheme) from a file: the whole content, less one trailing `\n` or
/// `\r\n`. Anything else is part of the secret; a content with further line breaks is refused
/// (the hex scheme carries a single signature, so it has no rotation).
pub fn load_raw_secret(path: &Path) -> Result<Secret, SecretFileError> {
    let text = read_secret_file(path)?;
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text.as_str());
    if text.contains(['\n', '\r']) {
        return Err(SecretFileError::MultipleLines { path: path.to_owned() });
    }
    Secret::from_raw(text).map_err(|error| SecretFileError::Invalid { path: path.to_owned(), line: 1, error })
}

fn read_secret_file(path: &Path) -> Result<String, SecretFileError> {
    crate::private_file::check_private(path)
        .map_err(|source| SecretFileError::Io { path: path.to_owned(), source })?
        .map_err(|exposed| SecretFileError::Exposed { path: path.to_owned(), exposed })?;
    let bytes = std::fs::read(path).map_err(|source| SecretFileError::Io { path: path.to_owned(), source })?;
    // `FromUtf8Error` would carry the bytes: dropped here.
    String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8 { path: path.to_owned() })
}

/// Why a secret file was refused. Names the file (and line), never its content.
#[derive(Debug)]
pub enum SecretFileError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    NotUtf8 {
        path: PathBuf,
    },
    Empty {
        path: PathBuf,
    },
    MultipleLines {
        path: PathBuf,
    },
    Invalid {
        path: PathBuf,
        line: usize,
        error: SecretError,
    },
    /// Readable by its group or everyone: refused, so that the mistake is fixed, not used.
    Exposed {
        path: PathBuf,
        exposed: crate::private_file::Exposed,
    },
}

impl fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretFileError::Io { path, source } => write!(f, "cannot read secret file {}: {source}", path.display()),
            SecretFileError::NotUtf8 { path } => write!(f, "secret file {} is not valid UTF-8", path.display()),
            SecretFileError::Empty { path } => write!(f, "secret file {} contains no secret", path.display()),
            SecretFileError::MultipleLines { path } => write!(
                f,
                "secret file {} has more than one line; the hex signature takes a single secret",
                path.display()
            ),
            SecretFileError::Exposed { path, exposed } => write!(f, "secret file {}: {exposed}", path.display()),
            SecretFileError::Invalid { path, line, error } => {
                write!(f, "secret file {} line {line}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for SecretFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecretFileError::Io { source, .. } => Some(source),
            SecretFileError::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}

// ----------------------------------------------------------------------- signing ---

/// How a webhook sink signs its requests. Built with [`SigningScheme::standard`] or
/// [`SigningScheme::hex`], which check the secrets and header name once.
#[derive(Clone, Debug)]
pub struct SigningScheme(Scheme);

#[derive(Clone, Debug)]
enum Scheme {
    Standard { secrets: Vec<Secret> },
    Hex { secret: Secret, header: String },
}

impl SigningScheme {
    /// Standard Webhooks, signing with every secret (current and older ones during a rotation);
    /// the signatures go into `webhook-signature` in this order. The secrets must come from
    /// [`Secret::parse_standard`] / [`load_standard_secrets`].
    pub fn standard(secrets: Vec<Secret>) -> Result<SigningScheme, SchemeError> {
        if secrets.is_empty() {
            return Err(SchemeError::NoSecret);
        }
        if secrets.iter().any(|s| s.kind != SecretKind::Standard) {
            return Err(SchemeError::WrongSecretKind { scheme: "standard" });
        }
        Ok(SigningScheme(Scheme::Standard { secrets }))
    }

    /// `sha256=<hex>` in `header` ([`DEFAULT_HEX_HEADER`] when `None`). The secret must come
    /// from [`Secret::from_raw`] / [`load_raw_secret`]. The header name must be an HTTP token.
    pub fn hex(secret: Secret, header: Option<&str>) -> Result<SigningScheme, SchemeError> {
        if secret.kind != SecretKind::Raw {
            return Err(SchemeError::WrongSecretKind { scheme: "hex" });
        }
        let header = header.unwrap_or(DEFAULT_HEX_HEADER);
        if !is_token(header) {
            return Err(SchemeError::InvalidHeaderName(header.to_string()));
        }
        Ok(SigningScheme(Scheme::Hex { secret, header: header.to_string() }))
    }

    /// `"standard"` or `"hex"`, as in the configuration.
    pub fn name(&self) -> &'static str {
        match &self.0 {
            Scheme::Standard { .. } => "standard",
            Scheme::Hex { .. } => "hex",
        }
    }

    /// Number of secrets that sign each request.
    pub fn secret_count(&self) -> usize {
        match &self.0 {
            Scheme::Standard { secrets } => secrets.len(),
            Scheme::Hex { .. } => 1,
        }
    }

    /// The header names [`SigningScheme::sign`] returns (so that configured extra headers can
    /// be checked against them, case-insensitively).
    pub fn header_names(&self) -> Vec<&str> {
        match &self.0 {
            Scheme::Standard { .. } => vec![STANDARD_ID_HEADER, STANDARD_TIMESTAMP_HEADER, STANDARD_SIGNATURE_HEADER],
            Scheme::Hex { header, .. } => vec![header.as_str()],
        }
    }

    /// The headers to add to a request whose body is exactly `body`: for `standard`,
    /// `webhook-id: {id}`, `webhook-timestamp: {timestamp}` and `webhook-signature` with one
    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated;
    /// for `hex`, one header `sha256=<lowercase hex HMAC-SHA256 of body>` (`id` and `timestamp`
    /// are not used).
    ///
    /// `id` is the message id, the same for every retry of a message; `timestamp` is the
    /// attempt's unix time in seconds, new for every retry. For `standard`, `id` must be
    /// non-empty visible ASCII without `.` (the spec forbids `.`, the separator of the signed
    /// content; anything else could not go into a header), else [`SchemeError::InvalidMessageId`].
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<Vec<(String, String)>, SchemeError> {
        match &self.0 {
            Scheme::Standard { secrets } => {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'.') {
                    return Err(SchemeError::InvalidMessageId(id.to_string()));
                }
                let timestamp = timestamp.to_string();
                let mut signatures = String::with_capacity(secrets.len() * 48);
                for secret in secrets {
                    if !signatures.is_empty() {
                        signatures.push(' ');
                    }
                    let mac = secret.hmac(&[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
                    signatures.push_str("v1,");
                    STANDARD.encode_string(mac, &mut signatures);
                }
                Ok(vec![
                    (STANDARD_ID_HEADER.to_string(), id.to_string()),
                    (STANDARD_TIMESTAMP_HEADER.to_string(), timestamp),
                    (STANDARD_SIGNATURE_HEADER.to_string(), signatures),
                ])
            }
            Scheme::Hex { secret, header } => {
                let mac = secret.hmac(&[body]);
                let mut value = String::with_capacity(HEX_SIGNATURE_PREFIX.len() + 64);
                value.push_str(HEX_SIGNATURE_PREFIX);
                for b in mac {
                    value.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                    value.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
                }
                Ok(vec![(header.clone(), value)])
            }
        }
    }
}

/// RFC 9110 `token` (a valid header field name).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A signing scheme that cannot be built, or a message it cannot sign. Contains no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemeError {
    NoSecret,
    WrongSecretKind { scheme: &'static str },
    InvalidHeaderName(String),
    InvalidMessageId(String),
}

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemeError::NoSecret => f.write_str("no signing secret"),
            SchemeError::WrongSecretKind { scheme: "standard" } => {
                f.write_str("the standard signature needs whsec_ (base64) secrets, not raw ones")
            }
            SchemeError::WrongSecretKind { scheme } => {
                write!(f, "the {scheme} signature needs a raw secret, not a decoded whsec_ one")
            }
            SchemeError::InvalidHeaderName(name) => write!(f, "{name:?} is not a valid HTTP header name"),
            SchemeError::InvalidMessageId(id) => {
                write!(f, "webhook id {id:?} cannot be signed: it must be non-empty visible ASCII without '.'")
            }
        }
    }
}

impl std::error::Error for SchemeError {}

#[cfg(test)]
mod tests {
    use super::*;

    // Standard Webhooks reference vector: libraries/python/tests/test_webhooks.py
    // (`test_sign_function`) in github.com/standard-webhooks/standard-webhooks.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: u64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // A 32-byte key (bytes 0..32) and its signature of the spec message, computed with the
    // PyPI package standardwebhooks 1.1.0 (`Webhook(secret).sign(...)`).
    const SECOND_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SECOND_SIGNATURE: &str = "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=";

    // GitHub docs, "Validating webhook deliveries" / "Testing the webhook payload validation"
    // (github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md).
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn standard(secrets: &[&str]) -> SigningScheme {
        SigningScheme::standard(secrets.iter().map(|s| Secret::parse_standard(s).unwrap()).collect()).unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn standard_matches_the_spec_vector() {
        let headers = standard(&[SPEC_SECRET]).sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(
            headers,
            pairs(&[
                ("webhook-id", SPEC_ID),
                ("webhook-timestamp", "1614265330"),
                ("webhook-signature", SPEC_SIGNATURE),
            ])
        );
    }

    #[test]
    fn standard_secret_without_prefix_or_padding_is_the_same_key() {
        let bare = SPEC_SECRET.strip_prefix("whsec_").unwrap();
        let headers = standard(&[bare]).sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(headers[2].1, SPEC_SIGNATURE);

        let unpadded = SECOND_SECRET.trim_end_matches('=');
        for s in [SECOND_SECRET, unpadded, &unpadded["whsec_".len()..], &format!("  {SECOND_SECRET}\n")] {
            let headers = standard(&[s]).sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
            assert_eq!(headers[2].1, SECOND_SIGNATURE, "secret form {s:?}");
        }
    }

    #[test]
    fn rotation_signs_with_every_secret_in_order() {
        let headers = standard(&[SPEC_SECRET, SECOND_SECRET]).sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(headers[2], ("webhook-signature".to_string(), format!("{SPEC_SIGNATURE} {SECOND_SIGNATURE}")));
        let headers = standard(&[SECOND_SECRET, SPEC_SECRET]).sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(headers[2].1, format!("{SECOND_SIGNATURE} {SPEC_SIGNATURE}"));
        assert_eq!(standard(&[SPEC_SECRET, SECOND_SECRET]).secret_count(), 2);
    }

    #[test]
    fn standard_signature_covers_id_timestamp_and_body() {
        let scheme = standard(&[SPEC_SECRET]);
        let sig = |id, ts, body| scheme.sign(id, ts, body).unwrap()[2].1.clone();
        let base = sig(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert_ne!(base, sig("msg_other", SPEC_TIMESTAMP, SPEC_BODY));
        assert_ne!(base, sig(SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY));
        assert_ne!(base, sig(SPEC_ID, SPEC_TIMESTAMP, br#"{"test":2432232314}"#));
        // Binary (non-UTF-8) bodies are signed byte for byte.
        assert_eq!(sig(SPEC_ID, 0, b"\xff\x00").len(), SPEC_SIGNATURE.len());
    }

    #[test]
    fn hex_matches_the_github_vector() {
        let secret = Secret::from_raw(GITHUB_SECRET).unwrap();
        let scheme = SigningScheme::hex(secret.clone(), None).unwrap();
        assert_eq!(
            scheme.sign("ignored", 0, GITHUB_BODY).unwrap(),
            pairs(&[("X-Webhook-Signature", GITHUB_SIGNATURE)])
        );
        assert_eq!(scheme.header_names(), ["X-Webhook-Signature"]);

        let scheme = SigningScheme::hex(secret, Some("X-Hub-Signature-256")).unwrap();
        // Id and timestamp are not part of the hex signature; any id is accepted.
        assert_eq!(scheme.sign("a.b c", 99, GITHUB_BODY).unwrap(), pairs(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]));
        assert_eq!(scheme.name(), "hex");
    }

    #[test]
    fn hex_uses_the_raw_text_verbatim() {
        // No trimming and no base64 decoding of raw secrets.
        let a = SigningScheme::hex(Secret::from_raw(GITHUB_SECRET).unwrap(), None).unwrap();
        let b = SigningScheme::hex(Secret::from_raw(&format!("{GITHUB_SECRET} ")).unwrap(), None).unwrap();
        assert_ne!(a.sign("", 0, GITHUB_BODY).unwrap(), b.sign("", 0, GITHUB_BODY).unwrap());
    }

    #[test]
    fn standard_secret_validation() {
        let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
        assert_eq!(
            Secret::parse_standard(&format!("whsec_{}", b64(23))).unwrap_err(),
            SecretError::BadLength { len: 23 }
        );
        assert!(Secret::parse_standard(&format!("whsec_{}", b64(24))).is_ok());
        assert!(Secret::parse_standard(&format!("whsec_{}", b64(64))).is_ok());
        assert_eq!(
            Secret::parse_standard(&format!("whsec_{}", b64(65))).unwrap_err(),
            SecretError::BadLength { len: 65 }
        );
        assert_eq!(Secret::parse_standard("").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse_standard("whsec_").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse_standard(" \n").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse_standard("whsk_AAAA").unwrap_err(), SecretError::AsymmetricKey);
        assert_eq!(Secret::parse_standard("whpk_AAAA").unwrap_err(), SecretError::AsymmetricKey);
        // URL-safe alphabet, inner whitespace, a raw password: refused.
        let url_safe = format!("whsec_{}", STANDARD.encode([0xfbu8; 30])).replace('+', "-").replace('/', "_");
        assert_eq!(Secret::parse_standard(&url_safe).unwrap_err(), SecretError::InvalidBase64);
        assert_eq!(
            Secret::parse_standard("whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(Secret::parse_standard("correct horse battery staple!").unwrap_err(), SecretError::InvalidBase64);
        assert_eq!(Secret::from_raw("").unwrap_err(), SecretError::Empty);
    }

    #[test]
    fn scheme_construction_checks() {
        assert_eq!(SigningScheme::standard(Vec::new()).unwrap_err(), SchemeError::NoSecret);
        let raw = Secret::from_raw("raw").unwrap();
        let std_secret = Secret::parse_standard(SPEC_SECRET).unwrap();
        assert_eq!(
            SigningScheme::standard(vec![std_secret.clone(), raw.clone()]).unwrap_err(),
            SchemeError::WrongSecretKind { scheme: "standard" }
        );
        assert_eq!(SigningScheme::hex(std_secret, None).unwrap_err(), SchemeError::WrongSecretKind { scheme: "hex" });
        for bad in ["", "X Sig", "X-Sig:", "X-Sig\r\nInjected: 1", "Sig\u{e9}"] {
            assert_eq!(
                SigningScheme::hex(raw.clone(), Some(bad)).unwrap_err(),
                SchemeError::InvalidHeaderName(bad.to_string())
            );
        }
        assert!(SigningScheme::hex(raw, Some("x-signature_256.v1")).is_ok());
        assert_eq!(standard(&[SPEC_SECRET]).header_names(), ["webhook-id", "webhook-timestamp", "webhook-signature"]);
    }

    #[test]
    fn standard_refuses_ids_that_cannot_be_signed_safely() {
        let scheme = standard(&[SPEC_SECRET]);
        for bad in ["", "msg.1", "msg 1", "msg\r\nX: y", "msg\u{e9}", "msg\t"] {
            assert_eq!(scheme.sign(bad, 1, b"{}").unwrap_err(), SchemeError::InvalidMessageId(bad.to_string()));
        }
        assert!(scheme.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1, b"{}").is_ok());
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let raw = "hunter2-Sup3rS3cret";
        let secret = Secret::from_raw(raw).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{secret:#?}"), "Secret(<redacted>)");
        let hex = format!("{:?}", SigningScheme::hex(secret, Some("X-Sig")).unwrap());
        assert!(!hex.contains("hunter2") && hex.contains("Secret(<redacted>)"), "{hex}");

        let b64 = SPEC_SECRET.strip_prefix("whsec_").unwrap();
        let standard_dbg = format!("{:#?}", standard(&[SPEC_SECRET, SECOND_SECRET]));
        assert!(!standard_dbg.contains(b64) && !standard_dbg.contains("AAECAwQF"), "{standard_dbg}");
        // Nor do the decoded key bytes appear (as Debug of a Vec<u8> would print them).
        let key_bytes = format!("{:?}", STANDARD.decode(b64).unwrap());
        assert!(!standard_dbg.contains(&key_bytes[1..20]), "{standard_dbg}");

        // Errors about a bad secret do not quote it.
        for bad in ["whsec_sup3r-s3cret!", "whsec_c3VwM3JzM2NyZXQ=", "sup3r-s3cret!"] {
            let err = Secret::parse_standard(bad).unwrap_err();
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!text.contains("sup3r") && !text.contains("c3VwM3Jz"), "{text}");
            }
        }
    }

    struct TempFile(PathBuf);
    impl TempFile {
        fn new(name: &str, content: &[u8]) -> TempFile {
            let path = std::env::temp_dir().join(format!("siem-relay-sign-{}-{name}", std::process::id()));
            // Owner-only, as secret files must be.
            crate::private_file::write_atomic(&path, content).unwrap();
            TempFile(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn standard_secret_file_with_rotation() {
        let f = TempFile::new("rot", format!("# current\n{SPEC_SECRET}\r\n\n  {SECOND_SECRET}  \n").as_bytes());
        let scheme = SigningScheme::standard(load_standard_secrets(&f.0).unwrap()).unwrap();
        let headers = scheme.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(headers[2].1, format!("{SPEC_SIGNATURE} {SECOND_SIGNATURE}"));

        let f = TempFile::new("one", format!("{SPEC_SECRET}\n").as_bytes());
        assert_eq!(load_standard_secrets(&f.0).unwrap().len(), 1);
    }

    #[test]
    fn secret_file_errors_name_the_file_not_the_content() {
        let f = TempFile::new("bad", format!("{SPEC_SECRET}\nwhsec_not-base64-s3cret\n").as_bytes());
        let err = load_standard_secrets(&f.0).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SecretFileError::Invalid { line: 2, error: SecretError::InvalidBase64, .. }), "{err:?}");
        assert!(text.contains(&*f.0.to_string_lossy()) && text.contains("line 2"), "{text}");
        for shown in [text, format!("{err:?}")] {
            assert!(!shown.contains("s3cret") && !shown.contains("MfKQ9r8G"), "{shown}");
        }

        let f = TempFile::new("empty", b"# nothing\n\n");
        assert!(matches!(load_standard_secrets(&f.0).unwrap_err(), SecretFileError::Empty { .. }));

        let f = TempFile::new("latin1", b"s3cret\xe9\n");
        let err = load_raw_secret(&f.0).unwrap_err();
        assert!(matches!(err, SecretFileError::NotUtf8 { .. }));
        assert!(!format!("{err} {err:?}").contains("s3cret"));

        let missing = std::env::temp_dir().join("siem-relay-sign-test-does-not-exist");
        let err = load_raw_secret(&missing).unwrap_err();
        assert!(matches!(&err, SecretFileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn a_secret_file_readable_by_its_group_is_refused_without_showing_the_secret() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = TempFile::new("exposed", format!("{SPEC_SECRET}\n").as_bytes());
        std::fs::set_permissions(&f.0, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_standard_secrets(&f.0).unwrap_err();
        assert!(matches!(err, SecretFileError::Exposed { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&*f.0.to_string_lossy()) && text.contains("0640") && text.contains("chmod 600"),
            "{text}"
        );
        assert!(!format!("{text} {err:?}").contains("MfKQ9r8G"));
    }

    #[test]
    fn raw_secret_file_trims_one_newline_only() {
        let expect = SigningScheme::hex(Secret::from_raw(GITHUB_SECRET).unwrap(), None).unwrap();
        let expected = expect.sign("", 0, GITHUB_BODY).unwrap();
        for content in [GITHUB_SECRET.to_string(), format!("{GITHUB_SECRET}\n"), format!("{GITHUB_SECRET}\r\n")] {
            let f = TempFile::new("raw", content.as_bytes());
            let scheme = SigningScheme::hex(load_raw_secret(&f.0).unwrap(), None).unwrap();
            assert_eq!(scheme.sign("", 0, GITHUB_BODY).unwrap(), expected, "{content:?}");
        }
        // Leading/trailing spaces are part of a raw secret.
        let f = TempFile::new("raw-space", format!(" {GITHUB_SECRET}\n").as_bytes());
        let scheme = SigningScheme::hex(load_raw_secret(&f.0).unwrap(), None).unwrap();
        assert_ne!(scheme.sign("", 0, GITHUB_BODY).unwrap(), expected);

        for content in ["a\nb\n", "a\n\n", "a\rb", "\n", ""] {
            let f = TempFile::new("raw-bad", content.as_bytes());
            let err = load_raw_secret(&f.0).unwrap_err();
            assert!(
                matches!(
                    err,
                    SecretFileError::MultipleLines { .. } | SecretFileError::Invalid { error: SecretError::Empty, .. }
                ),
                "{content:?}: {err:?}"
            );
        }
    }
}
