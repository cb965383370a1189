#!/usr/bin/env python3
"""Parse ArcSight CEF records with independent third-party parsers.

Reads one record per line (from the files named on the command line, or stdin),
optionally behind a syslog header, and parses each with every selected parser.
For each line and each parser it prints one JSON object on its own line:

    {"line": 0, "parser": "cefp", "ok": true, "error": null,
     "syslog_prefix": "<134>1 2024-05-01T12:00:00Z host app - - - ",
     "version": "0", "vendor": "...", "product": "...", "device_version": "...",
     "class_id": "...", "name": "...", "severity": "...",
     "extension": {"key": "value", ...}}

`line` is the 0-based index of the input line. Header fields and extension values
are fully unescaped, exactly as the parser reported them; `extension` keeps the
order in which the parser reported the pairs. On failure `ok` is false, `error`
says why and the other fields are null.

Parsers (none written by us; see --check for versions):

  cefp     PyPI package `cefp` (pure Python). Unescapes \\| \\\\ in the header and
           \\= \\\\ \\n \\r in extension values correctly. Lenient: it also accepts
           invalid input without complaint (unknown escapes lose their backslash,
           an unescaped '=' inside a value silently shifts keys and values, an
           extension without any '=' yields {}), so a malformed record can "parse".
  lognorm  liblognorm's `lognormalizer` (Debian liblognorm-utils) with the rule
           `%cef:cef%`. Strict: rejects unknown escapes in header and extension,
           '\\|' in the extension, unescaped '=' in values, keys other than
           [A-Za-z0-9_.] (an empty key is accepted), and any CEF version but 0
           (so `version` is reported as "0": the rule only matches "CEF:0|").
           Known bugs of 2.0.6 (Debian 12):
             * it drops the first character after the header's last '|'
               (liblognorm issue #363): `...|5|src=1` gives key "rc". When the
               extension is not empty and does not start with a space, this wrapper
               inserts one space after the 7th unescaped '|' before handing the
               record over, which the parser skips instead (leading spaces before
               the first key are insignificant in CEF);
             * it rejects a record whose LAST extension value is empty (`... dpt=`);
               the error says so (fixed upstream after 2.0.6, liblognorm PR #351);
             * a lone '\\' at the very end of a record makes it read past the end
               of the value (garbage byte in the value); invalid CEF anyway.

Not used, and why: PyPI `pycef` 1.11 unescapes nothing (\\= \\\\ \\n stay
escaped), fails (IndexError) on any '\\' in the header and misparses a '=' there
(so '\\|' and '\\\\' in header fields cannot be parsed at all), drops empty
values, replaces csN/csNLabel pairs by a key named after the label, and takes the
first "CEF:" anywhere in the line (one inside RFC 5424 structured data wins).
PyPI `cefevent` only builds CEF, it has no parser.

Syslog header: by default this script, not the parsers, removes a syslog header
before the CEF record (none of the parsers handles one: cefp and the lognorm rule
need the record to start with "CEF:"). An RFC 5424 header is parsed field by field
(including structured data, so "CEF:" inside SD cannot fool it); anything else
(RFC 3164, or no PRI) is cut at the first " CEF:". What was removed is reported as
`syslog_prefix`. --no-strip hands each line to the parsers unchanged.

Options:
  --parsers LIST  comma-separated subset of: cefp,lognorm (default: both)
  --strict        exit 1 if any record failed to parse with any parser
  --no-strip      do not remove a syslog header
  --check         print the selected parsers' versions and exit (0 if all usable)

Exit status: 0 ok; 1 a parse failure under --strict; 2 usage error or a selected
parser is not available (run tests/interop/provision.sh).

Only the standard library and the parser packages are used. Lines are split on
LF only (a CEF record never contains a raw LF; CR, U+2028 etc. are data) and must
be UTF-8.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ALL_PARSERS = ("cefp", "lognorm")

# ----------------------------------------------------------------- syslog header ---

_RFC5424_HEAD = re.compile(r"<\d{1,3}>[1-9]\d{0,2} \S+ \S+ \S+ \S+ \S+ ")


def _skip_structured_data(s, i):
    """Index just past the STRUCTURED-DATA starting at s[i], or None if malformed."""
    if s.startswith("-", i):
        return i + 1
    if not s.startswith("[", i):
        return None
    while i < len(s) and s[i] == "[":
        i += 1
        in_quotes = False
        while True:
            if i >= len(s):
                return None
            c = s[i]
            if in_quotes:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    in_quotes = False
            elif c == '"':
                in_quotes = True
            elif c == "]":
                i += 1
                break
            i += 1
    return i


def split_syslog_prefix(line):
    """(prefix, record): the syslog header before the CEF record, and the record.

    Raises ValueError if the line has a header but no CEF record behind it.
    """
    if line.startswith("CEF:"):
        return "", line
    m = _RFC5424_HEAD.match(line)
    if m:
        i = _skip_structured_data(line, m.end())
        if i is None:
            raise ValueError("malformed RFC 5424 STRUCTURED-DATA before the CEF record")
        if i == len(line):
            raise ValueError("RFC 5424 message has no MSG (no CEF record)")
        if line[i] != " ":
            raise ValueError("RFC 5424 STRUCTURED-DATA is not followed by a space")
        i += 1
        if line.startswith("\ufeff", i):
            i += 1
        if not line.startswith("CEF:", i):
            raise ValueError("RFC 5424 MSG does not start with 'CEF:'")
        return line[:i], line[i:]
    j = line.find(" CEF:")
    if j < 0:
        raise ValueError("no CEF record ('CEF:' at the start or after a space) in the line")
    return line[: j + 1], line[j + 1 :]


def _empty_result():
    return {
        "ok": False,
        "error": None,
        "version": None,
        "vendor": None,
        "product": None,
        "device_version": None,
        "class_id": None,
        "name": None,
        "severity": None,
        "extension": None,
    }


def _failure(error):
    r = _empty_result()
    r["error"] = error
    return r


# ------------------------------------------------------------------------- cefp ---


def cefp_available():
    try:
        import cefp  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        return False, "python package cefp not importable by %s: %s" % (sys.executable, e)
    return True, None


def cefp_version():
    try:
        from importlib.metadata import version

        return "cefp " + version("cefp")
    except Exception:
        return "cefp (version unknown)"


def parse_cefp(records):
    import cefp

    out = []
    for rec in records:
        try:
            p = cefp.parse(rec)
        except Exception as e:
            out.append(_failure("cefp: %s: %s" % (type(e).__name__, e)))
            continue
        dev = p.get("device", {})
        out.append(
            {
                "ok": True,
                "error": None,
                "version": p.get("version"),
                "vendor": dev.get("vendor"),
                "product": dev.get("product"),
                "device_version": dev.get("version"),
                "class_id": dev.get("event_class_id"),
                "name": p.get("name"),
                "severity": p.get("severity"),
                "extension": dict(p.get("extension", {})),
            }
        )
    return out


# ---------------------------------------------------------------------- lognorm ---

LOGNORMALIZER = os.environ.get("SIEM_RELAY_LOGNORMALIZER") or "lognormalizer"
LOGNORM_RULEBASE = "version=2\nrule=:%cef:cef%\n"


def lognorm_available():
    if shutil.which(LOGNORMALIZER) is None:
        return False, "%s not found (Debian package liblognorm-utils)" % LOGNORMALIZER
    return True, None


def lognorm_version():
    try:
        p = subprocess.run([LOGNORMALIZER, "-V"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        text = (p.stdout + p.stderr).strip().splitlines()
        return text[0] if text else "lognormalizer (version unknown)"
    except OSError as e:
        return "lognormalizer (not runnable: %s)" % e


def _header_end(rec):
    """Index just past the 7th unescaped '|' of a CEF record, or None."""
    pipes = 0
    i = 0
    while i < len(rec):
        c = rec[i]
        if c == "\\":
            i += 2
            continue
        if c == "|":
            pipes += 1
            if pipes == 7:
                return i + 1
        i += 1
    return None


def lognorm_input(rec):
    """The record as handed to lognormalizer: one space after the header (bug #363)."""
    end = _header_end(rec)
    if end is None or end == len(rec) or rec[end] == " ":
        # Incomplete header (rejected as it is), empty extension (the skipped
        # character is the terminating NUL), or a leading space that the bug eats.
        return rec
    return rec[:end] + " " + rec[end:]


_EMPTY_LAST_VALUE = re.compile(r"(^|[ |])[A-Za-z0-9_.]+=$")


def parse_lognorm(records):
    fed = [lognorm_input(r) for r in records]
    out = [None] * len(records)
    todo = []
    for idx, line in enumerate(fed):
        if "\n" in line or "\0" in line:
            out[idx] = _failure("lognorm: record contains LF or NUL; cannot be passed to lognormalizer")
        else:
            todo.append(idx)
    if todo:
        with tempfile.TemporaryDirectory(prefix="cef-lognorm-") as tmp:
            rb = os.path.join(tmp, "cef.rb")
            with open(rb, "w", encoding="utf-8") as f:
                f.write(LOGNORM_RULEBASE)
            data = "".join(fed[i] + "\n" for i in todo).encode("utf-8")
            p = subprocess.run(
                [LOGNORMALIZER, "-r", rb, "-e", "json", "-oaddOriginalMsg"],
                input=data,
                capture_output=True,
            )
        lines = p.stdout.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if p.returncode != 0 or len(lines) != len(todo):
            msg = "lognormalizer exited %s with %d output lines for %d inputs: %s" % (
                p.returncode,
                len(lines),
                len(todo),
                p.stderr.decode("utf-8", errors="replace").strip()[:2000],
            )
            raise RuntimeError(msg)
        for idx, text in zip(todo, lines):
            out[idx] = _lognorm_result(records[idx], fed[idx], text)
    return out


def _lognorm_result(rec, fed, text):
    try:
        j = json.loads(text)
    except ValueError as e:
        return _failure("lognorm: unreadable output %r: %s" % (text[:200], e))
    if j.get("originalmsg") != fed:
        return _failure("lognorm: output does not belong to this input (originalmsg %r)" % j.get("originalmsg"))
    cef = j.get("cef")
    if not isinstance(cef, dict):
        err = "lognorm: record not parsed (unparsed-data: %r)" % j.get("unparsed-data")
        if _EMPTY_LAST_VALUE.search(rec):
            err += "; note: liblognorm 2.0.6 rejects an empty LAST extension value (fixed upstream, PR #351)"
        return _failure(err)
    ext = cef.get("Extensions")
    return {
        "ok": True,
        "error": None,
        "version": "0",  # the cef parser matches only a literal "CEF:0|"
        "vendor": cef.get("DeviceVendor"),
        "product": cef.get("DeviceProduct"),
        "device_version": cef.get("DeviceVersion"),
        "class_id": cef.get("SignatureID"),
        "name": cef.get("Name"),
        "severity": cef.get("Severity"),
        "extension": dict(ext) if isinstance(ext, dict) else {},
    }


PARSERS = {
    "cefp": (cefp_available, cefp_version, parse_cefp),
    "lognorm": (lognorm_available, lognorm_version, parse_lognorm),
}

# ------------------------------------------------------------------------- main ---


def _usage(msg):
    sys.stderr.write("cef_parse.py: %s\n(see the docstring at the top of %s)\n" % (msg, __file__))
    sys.exit(2)


def _read_lines(paths):
    if not paths:
        chunks = [sys.stdin.buffer.read()]
    else:
        chunks = []
        for p in paths:
            if p == "-":
                chunks.append(sys.stdin.buffer.read())
            else:
                with open(p, "rb") as f:
                    chunks.append(f.read())
    lines = []
    for data in chunks:
        parts = data.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        lines.extend(parts)
    return lines


def main(argv):
    parsers = list(ALL_PARSERS)
    strict = False
    strip = True
    check = False
    paths = []
    it = iter(argv)
    for a in it:
        if a == "--strict":
            strict = True
        elif a == "--no-strip":
            strip = False
        elif a == "--check":
            check = True
        elif a == "--parsers" or a.startswith("--parsers="):
            v = a.split("=", 1)[1] if "=" in a else next(it, None)
            if v is None:
                _usage("--parsers needs a value")
            parsers = [p.strip() for p in v.split(",") if p.strip()]
            for p in parsers:
                if p not in PARSERS:
                    _usage("unknown parser %r (known: %s)" % (p, ",".join(ALL_PARSERS)))
            if not parsers:
                _usage("--parsers names no parser")
        elif a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        elif a.startswith("--"):
            _usage("unknown option %r" % a)
        else:
            paths.append(a)

    missing = []
    for p in parsers:
        ok, why = PARSERS[p][0]()
        if not ok:
            missing.append("%s: %s" % (p, why))
    if check:
        for p in parsers:
            if PARSERS[p][0]()[0]:
                print("%s: %s" % (p, PARSERS[p][1]()))
    if missing:
        sys.stderr.write(
            "cef_parse.py: parser(s) not available (run tests/interop/provision.sh):\n  %s\n" % "\n  ".join(missing)
        )
        return 2
    if check:
        return 0

    raw = _read_lines(paths)
    n = len(raw)
    prefixes = [None] * n
    records = [None] * n
    pre_errors = [None] * n
    for i, b in enumerate(raw):
        try:
            line = b.decode("utf-8")
        except UnicodeDecodeError as e:
            pre_errors[i] = "input line is not valid UTF-8: %s" % e
            continue
        if strip:
            try:
                prefixes[i], records[i] = split_syslog_prefix(line)
            except ValueError as e:
                pre_errors[i] = "syslog header: %s" % e
        else:
            prefixes[i], records[i] = "", line

    good = [i for i in range(n) if pre_errors[i] is None]
    results = {}
    for p in parsers:
        try:
            res = PARSERS[p][2]([records[i] for i in good])
        except Exception as e:
            sys.stderr.write("cef_parse.py: parser %s failed as a whole: %s: %s\n" % (p, type(e).__name__, e))
            return 2
        results[p] = dict(zip(good, res))

    failed = False
    out = sys.stdout.buffer
    for i in range(n):
        for p in parsers:
            r = results[p].get(i) or _failure(pre_errors[i])
            failed = failed or not r["ok"]
            obj = {"line": i, "parser": p, "ok": r["ok"], "error": r["error"], "syslog_prefix": prefixes[i]}
            for k in ("version", "vendor", "product", "device_version", "class_id", "name", "severity", "extension"):
                obj[k] = r[k]
            out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8", errors="backslashreplace") + b"\n")
    out.flush()
    return 1 if (strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
