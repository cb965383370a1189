//! Which partition a record goes to: Kafka's default partitioner, so that our records land
//! where a Java or librdkafka producer (`murmur2_random`) would put the same key.
//!
//! A keyed record goes to `murmur2(key) & 0x7fffffff` modulo the partition count, so every
//! event of one key (one host, say) is in one partition and keeps its order there. Records
//! without a key stick to one partition per flush and move round-robin between flushes
//! (Kafka's "sticky" partitioning): few, large requests, spread over the partitions in time.

/// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, with Kafka's seed, over the key's bytes.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Kafka's length is a Java `int`; keys are far shorter than 2^31 bytes.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Assigns partitions to records of one topic.
#[derive(Debug, Default)]
pub struct Partitioner {
    /// Index (into the topic's partition list) that keyless records of the current flush use.
    sticky: usize,
}

impl Partitioner {
    /// The partition index (into a list of `partitions` partitions) for a record with `key`.
    pub fn assign(&self, key: Option<&[u8]>, partitions: usize) -> usize {
        let partitions = partitions.max(1);
        match key {
            Some(key) => (murmur2(key) & 0x7fff_ffff) as usize % partitions,
            None => self.sticky % partitions,
        }
    }

    /// Moves keyless records on to the next partition (called once per flush).
    pub fn next_flush(&mut self) {
        self.sticky = self.sticky.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected values are those of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        for (key, expected) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn one_key_always_one_partition_and_keyless_records_rotate() {
        let mut partitioner = Partitioner::default();
        let first = partitioner.assign(Some(b"web-01"), 3);
        assert!(first < 3);
        let keyless = partitioner.assign(None, 3);
        partitioner.next_flush();
        assert_eq!(partitioner.assign(Some(b"web-01"), 3), first);
        assert_eq!(partitioner.assign(None, 3), (keyless + 1) % 3);
        assert_eq!(partitioner.assign(None, 0), 0, "no partitions known: index 0, never a division by zero");
        // Keys spread: 100 hosts over 3 partitions touch all three.
        let used: std::collections::BTreeSet<usize> =
            (0..100).map(|i| partitioner.assign(Some(format!("host-{i}").as_bytes()), 3)).collect();
        assert_eq!(used.len(), 3);
    }
}
