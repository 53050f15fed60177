//! Stable hashing of affinity keys (consistent hashing, sticky gray lanes).

use crate::rng::mix;

/// A stable 64-bit hash of bytes (FNV-1a, then the splitmix finaliser for avalanche). The same
/// key hashes the same in every process and release, which sticky routing relies on.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable() {
        assert_eq!(hash_bytes(b"user-42"), hash_bytes(b"user-42"));
        assert_ne!(hash_bytes(b"user-42"), hash_bytes(b"user-43"));
    }
}
