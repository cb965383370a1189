//! The operator console's files, embedded in the binary (`console/`): one page, its script and
//! its style sheet, served on `control.console_listen` with a strict Content-Security-Policy.
//!
//! The page talks to the same `/v1` API, sending the token the operator signed in with as
//! `Authorization: Bearer`; it sets no cookie, so there is no ambient credential to forge
//! requests with (no CSRF surface), and the policy allows scripts, styles and connections to
//! this origin only: no inline script, no other host, no framing.

use bytes::Bytes;
use http_body_util::Full;

/// The policy every console file is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `(path, content type, content)` of every file.
const FILES: &[(&str, &str, &[u8])] = &[
    ("/", "text/html; charset=utf-8", include_bytes!("console/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_bytes!("console/app.js")),
    ("/app.css", "text/css; charset=utf-8", include_bytes!("console/app.css")),
];

/// Answers a request for a console file.
pub fn serve(method: &hyper::Method, path: &str) -> hyper::Response<Full<Bytes>> {
    let path = if path == "/index.html" { "/" } else { path };
    let found = FILES.iter().find(|(name, _, _)| *name == path);
    let (status, content_type, body): (u16, &str, &'static [u8]) = match (method, found) {
        (&hyper::Method::GET | &hyper::Method::HEAD, Some((_, content_type, body))) => (200, content_type, body),
        (&hyper::Method::GET | &hyper::Method::HEAD, None) => (404, "text/plain; charset=utf-8", b"not found\n"),
        _ => (405, "text/plain; charset=utf-8", b"the console's files are read with GET\n"),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::NOT_FOUND);
    let headers = response.headers_mut();
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    for (name, value) in [
        (hyper::header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (hyper::header::REFERRER_POLICY, "no-referrer"),
        (hyper::header::X_FRAME_OPTIONS, "DENY"),
        (hyper::header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_served_with_the_policy_and_nothing_else_is() {
        for path in ["/", "/index.html", "/app.js", "/app.css"] {
            let response = serve(&hyper::Method::GET, path);
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()[hyper::header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        }
        assert_eq!(serve(&hyper::Method::GET, "/../etc/passwd").status(), 404);
        assert_eq!(serve(&hyper::Method::POST, "/").status(), 405);
    }

    #[test]
    fn the_page_has_no_inline_script_and_names_no_other_host() {
        for (path, _, body) in FILES {
            let text = std::str::from_utf8(body).expect("UTF-8");
            assert!(!text.contains("http://") && !text.contains("https://"), "{path} names another host");
            if path.ends_with('/') {
                // Every <script> loads a file; none carries code (the policy would block it).
                for script in text.split("<script").skip(1) {
                    let tag_end = script.find('>').expect("tag end");
                    assert!(script[..tag_end].contains("src="), "{path}: inline script");
                    assert!(script[tag_end + 1..].trim_start().starts_with("</script>"), "{path}: inline script");
                }
                assert!(!has_inline_handler(text), "{path}: an on... attribute (inline handler)");
            }
        }
    }

    /// `onclick=`-style attributes, which the policy would block.
    fn has_inline_handler(html: &str) -> bool {
        html.split('<').any(|tag| {
            let inside = tag.split('>').next().unwrap_or_default();
            inside.split_whitespace().skip(1).any(|attribute| attribute.starts_with("on"))
        })
    }
}
