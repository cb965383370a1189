#!/usr/bin/env python3
"""Verify a signed webhook request with code that is not ours.

Reads one JSON object on stdin:

    {"scheme": "standard" | "hex",
     "secrets": ["whsec_...", ...],
     "headers": {"webhook-id": "...", ...}  or  [["webhook-id", "..."], ...],
     "body_b64": "<base64 of the exact request body>",
     "header": "X-Webhook-Signature"}          (hex only, optional; this default)

and prints one JSON object: {"ok": true} or {"ok": false, "error": "..."}; exit status
0 or 1 (2 for unusable input or a missing package).

  standard  PyPI package `standardwebhooks` (the Standard Webhooks reference library):
            `Webhook(secret).verify(body, headers, json_parse=False)`. EVERY secret given
            must verify the request on its own, as a receiver that knows only that one
            secret would (so a key-rotation test passes the old and the new secret).
            The library also enforces its 5 minute timestamp tolerance (in either
            direction), so the request must be signed with a current timestamp. It
            verifies text, so the body must be UTF-8.
  hex       Python's own hmac: `sha256=` + lowercase hex HMAC-SHA256(secret as UTF-8,
            body), compared with hmac.compare_digest to the value of `header`
            (looked up case-insensitively). Every secret given must match.

Header names are case-insensitive; the same name twice (in the list form) is an error,
as an HTTP receiver could not tell which to use.

  --check   print the standardwebhooks version and exit (0 if it is importable)

Needs the venv made by tests/interop/provision.sh (target/interop/cef-venv/bin/python).
Secrets are never printed.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import sys

DEFAULT_HEX_HEADER = "X-Webhook-Signature"

# The spec's header formats, checked before the library runs (it is lenient: it accepts
# a fractional timestamp, and it stops at the first matching signature, so a malformed
# entry after it would go unnoticed although it breaks other receivers).
SIGNATURE_ENTRY = re.compile(r"v1a?,[A-Za-z0-9+/]+={0,2}")


def standardwebhooks_version():
    import importlib.metadata

    import standardwebhooks.webhooks  # noqa: F401  (the module verify() uses)

    return importlib.metadata.version("standardwebhooks")


def collect_headers(raw):
    """Header name (lowercased) -> value; None and a message on bad input."""
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = raw
    else:
        return None, "headers must be an object or a list of [name, value] pairs"
    headers = {}
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            return None, "each header must be a [name, value] pair of strings"
        name = pair[0].lower()
        if name in headers:
            return None, "duplicate: header %r appears more than once" % pair[0]
        headers[name] = pair[1]
    return headers, None


def standard_format_problem(headers):
    msg_id = headers.get("webhook-id", "")
    if "." in msg_id:
        return "webhook-id %r contains '.', the separator of the signed content" % msg_id
    timestamp = headers.get("webhook-timestamp")
    if timestamp is not None and not re.fullmatch(r"[0-9]+", timestamp):
        return "webhook-timestamp %r is not an integer number of seconds" % timestamp
    signature = headers.get("webhook-signature")
    if signature is not None:
        for entry in signature.split(" "):
            if not SIGNATURE_ENTRY.fullmatch(entry):
                return "webhook-signature %r: entry %r is not v1,<base64> (entries are separated by one space)" % (
                    signature,
                    entry,
                )
    return None


def verify_standard(secrets, headers, body):
    from standardwebhooks.webhooks import Webhook

    problem = standard_format_problem(headers)
    if problem:
        return problem
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return "body is not UTF-8 (standardwebhooks verifies text): %s" % e
    for i, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(text, headers, json_parse=False)
        except Exception as e:  # WebhookVerificationError, or a malformed header (ValueError ...)
            return "secret #%d: %s: %s" % (i, type(e).__name__, e)
    return None


def verify_hex(secrets, headers, body, header):
    got = headers.get(header.lower())
    if got is None:
        return "header %r missing (have: %s)" % (header, ", ".join(sorted(headers)) or "none")
    for i, secret in enumerate(secrets):
        expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), got.encode("utf-8", "surrogateescape")):
            return "secret #%d: %s does not match (got %r)" % (i, header, got)
    return None


def main(argv):
    if argv[1:] == ["--check"]:
        try:
            print("standardwebhooks %s" % standardwebhooks_version())
        except Exception as e:
            print("standardwebhooks not available: %s" % e, file=sys.stderr)
            return 2
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2

    def fail(error, status=1):
        print(json.dumps({"ok": False, "error": error}))
        return status

    try:
        req = json.load(sys.stdin)
    except ValueError as e:
        return fail("stdin is not JSON: %s" % e, 2)
    if not isinstance(req, dict):
        return fail("stdin must be a JSON object", 2)
    scheme = req.get("scheme")
    secrets = req.get("secrets")
    if scheme not in ("standard", "hex"):
        return fail("scheme must be \"standard\" or \"hex\", not %r" % (scheme,), 2)
    if not (isinstance(secrets, list) and secrets and all(isinstance(s, str) and s for s in secrets)):
        return fail("secrets must be a non-empty list of non-empty strings", 2)
    headers, error = collect_headers(req.get("headers"))
    if error:
        return fail(error, 1 if error.startswith("duplicate") else 2)
    try:
        body = base64.b64decode(req.get("body_b64", ""), validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        return fail("body_b64 is not base64: %s" % e, 2)

    if scheme == "standard":
        try:
            standardwebhooks_version()
        except Exception as e:
            return fail("standardwebhooks not available (run tests/interop/provision.sh): %s" % e, 2)
        error = verify_standard(secrets, headers, body)
    else:
        header = req.get("header") or DEFAULT_HEX_HEADER
        if not isinstance(header, str):
            return fail("header must be a string", 2)
        error = verify_hex(secrets, headers, body, header)
    if error:
        return fail(error)
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
