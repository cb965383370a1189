//! The RELP client's reader on arbitrary bytes from a receiver, in arbitrary pieces: never
//! panics; the split never changes what is taken or refused; every frame taken, written back,
//! reads back as the same frame (the grammar allows leading zeros, so bytes may differ);
//! responses and offers parse or are refused without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siem_relay::transport::relp;

fuzz_target!(|input: (u8, &[u8])| {
    let (split, bytes) = input;
    let split = usize::from(split).min(bytes.len());
    let whole = frames(bytes, bytes.len());
    let pieces = frames(bytes, split);
    assert_eq!(whole, pieces, "the split changed the outcome");
});

/// Feeds `bytes` in two pieces at `split`; returns the frames taken and whether it was refused.
fn frames(bytes: &[u8], split: usize) -> (Vec<relp::Frame>, bool) {
    let mut buf = Vec::new();
    let mut taken = Vec::new();
    for piece in [&bytes[..split], &bytes[split..]] {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match relp::take_frame(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(before > buf.len(), "a frame took no bytes");
                    let mut again = Vec::new();
                    relp::write_frame(&mut again, frame.txnr, &frame.command, &frame.data);
                    let reread = relp::take_frame(&mut again).expect("our own frame parses");
                    assert_eq!(reread.as_ref(), Some(&frame), "a frame does not read back");
                    assert!(again.is_empty());
                    if frame.command == "rsp" {
                        let _ = relp::parse_response(&frame.data);
                        let _ = relp::check_open_response(&frame.data);
                    }
                    taken.push(frame);
                }
                Ok(None) => break,
                Err(_) => return (taken, true),
            }
        }
    }
    (taken, false)
}
