//! Fixed-rate pacing against the monotonic clock: event `k` (0-based) is due at `k / rate`
//! seconds after the start. A caller asks how many events are due and sends them as one small
//! burst; at low rates that is one event at a time. A caller that fell behind (the receiver
//! pushed back) catches up, so the average rate holds over the run.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    rate: f64,
}

impl Pacer {
    /// `rate` events per second (> 0); the clock starts now.
    pub fn new(rate: f64) -> Pacer {
        Pacer { start: Instant::now(), rate }
    }

    /// Events due by `elapsed` that are not sent yet, given `sent` so far.
    fn due(&self, elapsed: Duration, sent: u64) -> u64 {
        let due = (elapsed.as_secs_f64() * self.rate).floor() as u64 + 1;
        due.saturating_sub(sent)
    }

    /// When event number `sent` (0-based) is due, from the start.
    fn due_at(&self, sent: u64) -> Duration {
        crate::clock::secs(sent as f64 / self.rate)
    }

    /// Blocks until at least one event is due, then returns how many are (at most `max`).
    pub fn wait(&self, sent: u64, max: u64) -> u64 {
        loop {
            let elapsed = self.start.elapsed();
            let n = self.due(elapsed, sent);
            if n > 0 {
                return n.min(max);
            }
            std::thread::sleep(self.due_at(sent).saturating_sub(elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_counts_follow_the_rate() {
        let p = Pacer::new(1000.0);
        assert_eq!(p.due(Duration::ZERO, 0), 1);
        assert_eq!(p.due(Duration::ZERO, 1), 0);
        assert_eq!(p.due(Duration::from_millis(10), 1), 10);
        assert_eq!(p.due(Duration::from_millis(10), 11), 0);
        assert_eq!(p.due_at(500), Duration::from_millis(500));
    }

    #[test]
    fn never_runs_ahead_of_the_schedule() {
        // Only lower bounds: a busy machine may wake the caller late (then several events are
        // due at once, which is the catching up the pacer is for), never early.
        let p = Pacer::new(200.0); // one every 5 ms
        let mut sent = 0;
        while sent < 5 {
            let n = p.wait(sent, 100);
            assert!(n >= 1, "wait returns once something is due");
            assert!(p.start.elapsed() >= p.due_at(sent), "event {sent} released before it was due");
            sent += n;
        }
        // Five events are due by now (20 ms in): asked from the start, `max` caps the burst.
        assert_eq!(p.wait(0, 2), 2, "at most `max`");
    }
}
