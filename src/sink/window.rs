//! The replay window of a stream sink: batches written to the connection that must be sent
//! again if it breaks.
//!
//! A batch is *confirmed* once the peer's TCP stack acknowledged its last byte (see
//! `transport::outq`). Confirmed batches are still kept up to [`RETAIN_BYTES`]: a receiver that
//! dies with data in its socket buffer loses bytes its kernel already acknowledged (the reset
//! that follows tells us so), and replaying the recent past covers that case. Receivers that
//! close cleanly (FIN) have read everything, so only unconfirmed batches are replayed then.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::event::Event;
use crate::queue::AckToken;

/// Confirmed bytes kept for replay after a connection reset. Bounds duplicates as well as memory.
pub const RETAIN_BYTES: usize = 256 * 1024;

#[derive(Debug)]
struct Sent {
    frames: Bytes,
    /// The events in the frames, kept so a handover can give unconfirmed ones back.
    events: Vec<Arc<Event>>,
    /// Acknowledges the batch in its queue once confirmed.
    token: AckToken,
    /// Wire offset (on the current connection) just after this batch; `None` if the batch has
    /// not been written on the current connection.
    end: Option<u64>,
    confirmed: bool,
}

/// Batches written on a stream and not yet forgotten.
#[derive(Debug, Default)]
pub struct ReplayWindow {
    batches: VecDeque<Sent>,
    retained_bytes: usize,
}

/// How much of the window a reconnect must send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The peer closed cleanly: only batches it has not acknowledged.
    Unconfirmed,
    /// The connection failed: everything kept, confirmed or not.
    All,
}

impl ReplayWindow {
    /// Records a batch written on the current connection, ending at wire offset `end`, or not
    /// (fully) written (`None`), to be replayed on the next connection.
    pub fn push(&mut self, frames: Bytes, events: Vec<Arc<Event>>, token: AckToken, end: Option<u64>) {
        self.batches.push_back(Sent { frames, events, token, end, confirmed: false });
    }

    /// Whether the newest batch has been written on the current connection.
    pub fn newest_written(&self) -> bool {
        self.batches.back().is_some_and(|sent| sent.end.is_some())
    }

    /// Records that the newest batch was written on the current connection, ending at `end`.
    pub fn newest_written_to(&mut self, end: u64) {
        if let Some(sent) = self.batches.back_mut() {
            sent.end = Some(end);
        }
    }

    /// Marks batches that end at or before `acknowledged` as confirmed; returns how many events
    /// became confirmed and the queue token of the last of them. Forgets the oldest confirmed
    /// batches beyond the retention budget.
    pub fn confirm(&mut self, acknowledged: u64) -> (usize, AckToken) {
        let mut newly = 0;
        let mut token = None;
        for sent in self.batches.iter_mut().filter(|sent| !sent.confirmed) {
            match sent.end {
                Some(end) if end <= acknowledged => {
                    sent.confirmed = true;
                    newly += sent.events.len();
                    token = sent.token.or(token);
                    self.retained_bytes += sent.frames.len();
                }
                _ => break,
            }
        }
        while self.retained_bytes > RETAIN_BYTES {
            match self.batches.front() {
                Some(front) if front.confirmed => {
                    self.retained_bytes -= front.frames.len();
                    self.batches.pop_front();
                }
                _ => break,
            }
        }
        (newly, token)
    }

    /// The connection is gone: returns the batches to write on the next connection, oldest
    /// first, and how many events they hold. Their offsets are cleared until they are written
    /// again with [`rewritten`](Self::rewritten).
    pub fn replay(&mut self, how: Replay) -> (Vec<Bytes>, usize) {
        let mut frames = Vec::new();
        let mut events = 0;
        for sent in &mut self.batches {
            sent.end = None;
            if how == Replay::All || !sent.confirmed {
                frames.push(sent.frames.clone());
                events += sent.events.len();
            }
        }
        (frames, events)
    }

    /// After a replay, records that the replayed unconfirmed batches now end at `ends` (in the
    /// order [`replay`](Self::replay) returned them, confirmed ones included but ignored).
    pub fn rewritten(&mut self, how: Replay, mut ends: impl Iterator<Item = u64>) {
        for sent in &mut self.batches {
            if how == Replay::All || !sent.confirmed {
                let end = ends.next();
                if !sent.confirmed {
                    sent.end = end;
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Events written but not yet confirmed.
    pub fn unconfirmed_events(&self) -> usize {
        self.batches.iter().filter(|sent| !sent.confirmed).map(|sent| sent.events.len()).sum()
    }

    /// Removes every unconfirmed batch and returns its events, oldest first (a worker handing
    /// its sink over to a successor gives these back to the queue).
    pub fn take_unconfirmed(&mut self) -> Vec<Arc<Event>> {
        let mut events = Vec::new();
        self.batches.retain_mut(|sent| {
            if sent.confirmed {
                return true;
            }
            events.append(&mut sent.events);
            false
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    fn events(n: usize) -> Vec<Arc<Event>> {
        (0..n)
            .map(|i| {
                let line = format!(r#"{{"event":"e","id":"{i}"}}"#);
                Arc::new(Event::decode(line.as_bytes(), crate::timestamp::Timestamp::now()).expect("valid"))
            })
            .collect()
    }

    #[test]
    fn confirms_in_order_up_to_the_acknowledged_offset() {
        let mut window = ReplayWindow::default();
        window.push(frames(10), events(1), None, Some(10));
        window.push(frames(10), events(2), None, Some(20));
        window.push(frames(10), events(3), None, Some(30));
        assert_eq!(window.confirm(25).0, 3);
        assert_eq!(window.unconfirmed_events(), 3);
        assert_eq!(window.confirm(30).0, 3);
        assert_eq!(window.unconfirmed_events(), 0);
    }

    #[test]
    fn clean_close_replays_unconfirmed_and_reset_replays_retained_too() {
        let mut window = ReplayWindow::default();
        window.push(frames(10), events(1), None, Some(10));
        window.push(frames(10), events(2), None, Some(20));
        let _ = window.confirm(10);
        let (batches, events) = window.replay(Replay::Unconfirmed);
        assert_eq!((batches.len(), events), (1, 2));
        window.rewritten(Replay::Unconfirmed, [7].into_iter());
        assert_eq!(window.confirm(7).0, 2);
        let (batches, events) = window.replay(Replay::All);
        assert_eq!((batches.len(), events), (2, 3));
    }

    #[test]
    fn a_handover_takes_back_the_unconfirmed_events() {
        let mut window = ReplayWindow::default();
        window.push(frames(10), events(1), None, Some(10));
        window.push(frames(10), events(2), None, Some(20));
        let _ = window.confirm(10);
        assert_eq!(window.take_unconfirmed().len(), 2);
        assert_eq!(window.unconfirmed_events(), 0);
        assert!(!window.is_empty(), "confirmed batches stay for replay");
    }

    #[test]
    fn forgets_confirmed_batches_beyond_the_retention_budget() {
        let mut window = ReplayWindow::default();
        let big = RETAIN_BYTES / 2 + 1;
        for n in 1..=3u64 {
            window.push(frames(big), events(1), None, Some(n * big as u64));
        }
        assert_eq!(window.confirm(3 * big as u64).0, 3);
        let (batches, _) = window.replay(Replay::All);
        assert_eq!(batches.len(), 1, "only the newest confirmed batch fits the budget");
    }
}
