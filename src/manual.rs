//! `siem-relay.toml(5)`, written from the README's key tables: the README is the one place the
//! config keys are documented, and the man page is generated from it (`siem-relay manpages`),
//! never kept by hand beside it.
//!
//! Every table whose first column is `key`, under a `##` or `###` heading, becomes a section of
//! the page with one entry per key: its default and its meaning. Markdown is reduced to what
//! roff shows: `code` in bold, links as their text.

/// The README this binary was built with.
pub const README: &str = include_str!("../README.md");

/// The roff source of `siem-relay.toml(5)` for `version`, from `readme`.
pub fn config_page(readme: &str, version: &str) -> String {
    let mut page = String::new();
    page.push_str(&format!(".TH SIEM-RELAY.TOML 5 \"\" \"siem-relay {}\" \"File Formats\"\n", roff(version)));
    page.push_str(".SH NAME\nsiem-relay.toml \\- configuration of the siem\\-relay daemon\n");
    page.push_str(
        ".SH DESCRIPTION\nThe configuration is TOML and strict: an unknown key is an error. \
         \\fBsiem\\-relay check \\-\\-config\\fR \\fIFILE\\fR validates a file and names the file, the key \
         and what was expected. Durations are in milliseconds. Each section below lists the keys of \
         one table, with their defaults.\n",
    );
    let mut heading = String::new();
    let mut in_table = false;
    let mut emitted_heading = false;
    for line in readme.lines() {
        if let Some(title) = line.strip_prefix("### ").or_else(|| line.strip_prefix("## ")) {
            heading = title.trim().to_owned();
            emitted_heading = false;
            in_table = false;
            continue;
        }
        let Some(cells) = table_cells(line) else {
            in_table = false;
            continue;
        };
        if !in_table {
            // A table starts: only key tables (first column `key`) are configuration.
            in_table = cells.first().is_some_and(|first| first.trim() == "key");
            continue;
        }
        if cells.iter().all(|cell| cell.trim().chars().all(|c| c == '-' || c == ':')) {
            continue;
        }
        if !emitted_heading {
            // Section titles are plain upper case: no font changes inside them.
            let title = inline(&heading).replace(['\u{1}', '\u{2}'], "").to_uppercase();
            page.push_str(&format!(".SH {}\n", roff(&title)));
            emitted_heading = true;
        }
        let key = cells.first().map(|c| inline(c)).unwrap_or_default();
        let default = cells.get(1).map(|c| inline(c)).unwrap_or_default();
        let meaning =
            cells.get(2..).map(|rest| rest.iter().map(|c| inline(c)).collect::<Vec<_>>().join(" ")).unwrap_or_default();
        page.push_str(&format!(".TP\n\\fB{}\\fR (default: {})\n{}\n", roff(&key), roff(&default), roff(&meaning)));
    }
    page.push_str(".SH FILES\n\\fI/etc/siem\\-relay/siem\\-relay.toml\\fR\n");
    page.push_str(".SH SEE ALSO\n\\fBsiem\\-relay\\fR(8)\n");
    page
}

/// The cells of a Markdown table row (`| a | b |`), honouring `\|` inside a cell.
fn table_cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                if let Some(cell) = cells.last_mut() {
                    cell.push('|');
                }
                chars.next();
            }
            '|' => cells.push(String::new()),
            other => {
                if let Some(cell) = cells.last_mut() {
                    cell.push(other);
                }
            }
        }
    }
    Some(cells)
}

/// Markdown inline markup reduced to text: links keep their text, emphasis marks go; `code`
/// is kept between the markers `\x01` and `\x02`, which [`roff`] turns into bold.
fn inline(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown.trim();
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            if let Some(end) = rest[1..].find('`') {
                out.push('\u{1}');
                out.push_str(&rest[1..1 + end]);
                out.push('\u{2}');
                rest = &rest[end + 2..];
                continue;
            }
        }
        if c == '[' {
            if let Some((text, after)) = rest[1..].split_once("](") {
                if let Some(close) = after.find(')') {
                    out.push_str(text);
                    rest = &after[close + 1..];
                    continue;
                }
            }
        }
        if rest.starts_with("**") {
            rest = &rest[2..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Text escaped for roff: backslashes and hyphens escaped, a leading `.` or `'` guarded, and
/// the code markers of [`inline`] as bold.
fn roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '\u{1}' => out.push_str("\\fB"),
            '\u{2}' => out.push_str("\\fR"),
            '\n' => out.push(' '),
            other => out.push(other),
        }
    }
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_readme_tables_is_in_the_page() {
        let page = config_page(README, "0.0.0");
        for key in [
            "hostname",
            "socket_mode",
            "max_message_bytes",
            "sd_original_host",
            "leef_delimiter",
            "queue.when_full",
            "control.tokens",
            "allow",
        ] {
            assert!(page.contains(&format!(".TP\n\\fB\\fB{}\\fR\\fR", roff(key))), "{key} missing");
        }
        assert!(
            page.contains(".SH [SINKS.NAME]") && page.contains(".SH LEEF"),
            "sections named after the README's headings"
        );
        assert!(!page.contains("| key |"), "no table syntax left");
    }

    #[test]
    fn markdown_becomes_roff() {
        assert_eq!(
            roff(&inline("see [Size limits](#size-limits), `a-b` **now** \\")),
            "see Size limits, \\fBa\\-b\\fR now \\e"
        );
        assert_eq!(table_cells(r"| `a` | x \| y |"), Some(vec![" `a` ".to_owned(), r" x | y ".to_owned()]));
        assert_eq!(roff(".start"), "\\&.start");
    }
}
