//! Cursors: where a consumer is in a store, as an opaque string `STOREID.SEQ` (the store's
//! random 64-bit id in hex, then the sequence number of the last event seen). The id makes a
//! cursor from another store (or from a store that was deleted and created again) an error
//! rather than a silent jump.

use std::fmt;

/// A position in one store: "after the event with this sequence number" (0: before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub store: u64,
    pub seq: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}.{}", self.store, self.seq)
    }
}

impl Cursor {
    /// Parses a cursor's text; the error says what a cursor looks like.
    pub fn parse(text: &str) -> Result<Cursor, String> {
        let malformed =
            || format!("malformed cursor {text:?}: expected the \"cursor\" or \"next\" of an earlier answer");
        let (store, seq) = text.split_once('.').ok_or_else(malformed)?;
        if store.len() != 16 || !store.bytes().all(|b| b.is_ascii_hexdigit()) || seq.is_empty() || seq.len() > 20 {
            return Err(malformed());
        }
        let store = u64::from_str_radix(store, 16).map_err(|_| malformed())?;
        let seq = seq.parse::<u64>().map_err(|_| malformed())?;
        Ok(Cursor { store, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_print_and_parse_back() {
        let cursor = Cursor { store: 0x3f2a_9c0d_11e4_b7a2, seq: 42 };
        assert_eq!(cursor.to_string(), "3f2a9c0d11e4b7a2.42");
        assert_eq!(Cursor::parse("3f2a9c0d11e4b7a2.42"), Ok(cursor));
        for bad in [
            "",
            "42",
            "3f2a9c0d11e4b7a2.",
            "3f2a9c0d11e4b7a.1",
            "zz2a9c0d11e4b7a2.1",
            "3f2a9c0d11e4b7a2.-1",
            "3f2a9c0d11e4b7a2.1x",
        ] {
            assert!(Cursor::parse(bad).expect_err(bad).contains("malformed cursor"), "{bad}");
        }
    }
}
