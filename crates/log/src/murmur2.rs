//! Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive,
//! modulo the partition count, exactly as the Java client computes it (`Utils.murmur2`,
//! `Utils.toPositive`), so a key lands in the same partition here and on a Kafka cluster.

/// Kafka's murmur2 hash (seed 0x9747b28c) of `data`, as the Java client's signed int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for `key` among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_clients_test_vectors() {
        // org.apache.kafka.common.utils.UtilsTest.testMurmur2
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn matches_librdkafkas_test_vectors() {
        // librdkafka src/rdmurmur2.c unittest_murmur2
        assert_eq!(murmur2(b"kafka") as u32, 0xd067cf64);
        assert_eq!(murmur2(b"giberish123456789") as u32, 0x8f552b0c);
        assert_eq!(murmur2(b"1234") as u32, 0x9fc97b14);
        assert_eq!(murmur2(b"234") as u32, 0xe7c009ca);
        assert_eq!(murmur2(b"34") as u32, 0x873930da);
        assert_eq!(murmur2(b"4") as u32, 0x5a4b5ca1);
        assert_eq!(murmur2(b"") as u32, 0x106e08d9);
    }

    #[test]
    fn partitions_are_positive_modulo_not_absolute_values() {
        assert_eq!(partition_for_key(b"21", 3), 0);
        assert_eq!(partition_for_key(b"21", 7), 3);
        assert_eq!(partition_for_key("é".as_bytes(), 7), 4);
        assert_eq!(partition_for_key(b"a", 3), 1);
        assert_eq!(partition_for_key(b"abcd", 7), 5);
        assert_eq!(partition_for_key(&[b'x'; 1000], 7), 3);
    }
}
