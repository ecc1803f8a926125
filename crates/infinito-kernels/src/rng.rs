//! The project's one seeding scheme: SplitMix64 for streams and hashes, and seeds keyed by
//! name.
//!
//! Every random draw is keyed by what it is for, never by a position in a list: a parameter's
//! initial value by `seed_for(seed, "its.state.dict.name")`, a dropout mask by the call-site
//! path its forward pass derives (`gpt2` / `h` / 3 / `attn` / `attn_dropout`) from the step's
//! seed. Adding a parameter or a call site changes no other draw.

/// Mixes a 64-bit value into a well-distributed 64-bit hash (the SplitMix64 finaliser).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// One step of the SplitMix64 generator from state `x` (add the golden gamma, then mix).
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN))
}

/// The seed of the randomness called `name` (a parameter's state-dict name, or a call-site
/// path) under `seed`: FNV-1a over the name's bytes, mixed with the seed.
pub fn seed_for(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(seed ^ mix64(hash))
}

/// SplitMix64: a seeded stream of 64-bit values.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }
}

/// The `index`-th value of the stream seeded with `seed`, without walking the stream.
#[inline]
pub fn hash_at(seed: u64, index: u64) -> u64 {
    mix64(seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN)))
}
