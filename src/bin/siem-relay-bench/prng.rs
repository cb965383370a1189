//! A tiny seeded pseudo-random generator (SplitMix64): the same seed gives the same synthetic
//! events on every machine, without a dependency. Not for anything cryptographic.

/// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, full period, good enough spread
/// for picking event fields.
#[derive(Debug, Clone)]
pub struct Prng {
    state: u64,
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    /// An independent stream for worker `index` of a run seeded with `seed`.
    pub fn stream(seed: u64, index: u64) -> Prng {
        let mut mixer = Prng::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        Prng::new(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; 0 when `n` is 0). Multiply-shift: no modulo bias worth
    /// mentioning for the small `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut p = Prng::new(7);
                move |_| p.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut p = Prng::new(7);
                move |_| p.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Prng::stream(7, 0).next_u64(), Prng::stream(7, 1).next_u64());
    }

    #[test]
    fn below_and_range_stay_in_bounds() {
        let mut p = Prng::new(1);
        for _ in 0..10_000 {
            assert!(p.below(10) < 10);
            let r = p.range(3, 5);
            assert!((3..=5).contains(&r));
            let u = p.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(p.below(0), 0);
    }
}
