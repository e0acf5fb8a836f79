//! SHA-256 of four messages at once: one message per lane of WebAssembly's 128-bit SIMD, about
//! twice the throughput of hashing them one by one where the CPU's SHA instructions are out of
//! reach (BENCHMARKS.md). Elsewhere the four are hashed one by one (natively, `sha2` uses the
//! SHA extensions where the CPU has them).
//!
//! ```
//! use sha2::Digest;
//! let msgs: [&[u8]; 4] = [b"", b"abc", &[7u8; 100], &[1u8; 64]];
//! let four = batch_sync::sha256x4::digest4(msgs);
//! for (m, d) in msgs.iter().zip(four) {
//!     assert_eq!(d, <[u8; 32]>::from(sha2::Sha256::digest(m)));
//! }
//! ```

/// The SHA-256 digests of four messages.
pub fn digest4(msgs: [&[u8]; 4]) -> [[u8; 32]; 4] {
    imp::digest4(msgs)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use sha2::Digest;

    pub fn digest4(msgs: [&[u8]; 4]) -> [[u8; 32]; 4] {
        msgs.map(|m| sha2::Sha256::digest(m).into())
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    #[inline(always)]
    fn rotr(x: v128, n: u32) -> v128 {
        v128_or(u32x4_shr(x, n), u32x4_shl(x, 32 - n))
    }

    /// One compression of four blocks, one per lane.
    #[inline(always)]
    fn compress4(st: &mut [v128; 8], blocks: [&[u8; 64]; 4]) {
        let word = |b: &[u8; 64], i: usize| {
            u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
        };
        let mut w = [u32x4_splat(0); 16];
        for (i, wi) in w.iter_mut().enumerate() {
            *wi = u32x4(
                word(blocks[0], i),
                word(blocks[1], i),
                word(blocks[2], i),
                word(blocks[3], i),
            );
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *st;
        for (i, k) in K.iter().enumerate() {
            let wi = if i < 16 {
                w[i]
            } else {
                let w15 = w[(i + 1) & 15];
                let w2 = w[(i + 14) & 15];
                let s0 = v128_xor(v128_xor(rotr(w15, 7), rotr(w15, 18)), u32x4_shr(w15, 3));
                let s1 = v128_xor(v128_xor(rotr(w2, 17), rotr(w2, 19)), u32x4_shr(w2, 10));
                let x = u32x4_add(u32x4_add(w[i & 15], s0), u32x4_add(w[(i + 9) & 15], s1));
                w[i & 15] = x;
                x
            };
            let s1 = v128_xor(v128_xor(rotr(e, 6), rotr(e, 11)), rotr(e, 25));
            let ch = v128_xor(v128_and(e, f), v128_andnot(g, e));
            let t1 = u32x4_add(
                u32x4_add(u32x4_add(h, s1), u32x4_add(ch, u32x4_splat(*k))),
                wi,
            );
            let s0 = v128_xor(v128_xor(rotr(a, 2), rotr(a, 13)), rotr(a, 22));
            let maj = v128_or(v128_and(a, b), v128_and(c, v128_or(a, b)));
            let t2 = u32x4_add(s0, maj);
            h = g;
            g = f;
            f = e;
            e = u32x4_add(d, t1);
            d = c;
            c = b;
            b = a;
            a = u32x4_add(t1, t2);
        }
        for (s, x) in st.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = u32x4_add(*s, x);
        }
    }

    /// A message as SHA-256 blocks: its whole blocks, then one or two blocks of its tail and
    /// the padding.
    struct Blocks<'m> {
        msg: &'m [u8],
        tail: [u8; 128],
        total: usize,
    }

    impl<'m> Blocks<'m> {
        fn new(msg: &'m [u8]) -> Self {
            let whole = msg.len() / 64;
            let rest = &msg[whole * 64..];
            let mut tail = [0u8; 128];
            tail[..rest.len()].copy_from_slice(rest);
            tail[rest.len()] = 0x80;
            let n = if rest.len() < 56 { 64 } else { 128 };
            tail[n - 8..n].copy_from_slice(&((msg.len() as u64) * 8).to_be_bytes());
            Blocks {
                msg,
                tail,
                total: whole + n / 64,
            }
        }

        /// Block `k` (a block of zeros past the end: its lane's result is not read).
        fn get(&self, k: usize) -> &[u8; 64] {
            static ZERO: [u8; 64] = [0; 64];
            let whole = self.msg.len() / 64;
            let block = if k < whole {
                &self.msg[k * 64..k * 64 + 64]
            } else if k < self.total {
                &self.tail[(k - whole) * 64..(k - whole) * 64 + 64]
            } else {
                &ZERO[..]
            };
            block.try_into().unwrap_or(&ZERO)
        }
    }

    pub fn digest4(msgs: [&[u8]; 4]) -> [[u8; 32]; 4] {
        let blocks = msgs.map(Blocks::new);
        // (A closure: a `#[target_feature]` function is not an `FnMut`.)
        #[allow(clippy::redundant_closure)]
        let mut st = IV.map(|x| u32x4_splat(x));
        let mut out = [[0u8; 32]; 4];
        let rounds = blocks.iter().map(|b| b.total).max().unwrap_or(0);
        for k in 0..rounds {
            compress4(
                &mut st,
                [
                    blocks[0].get(k),
                    blocks[1].get(k),
                    blocks[2].get(k),
                    blocks[3].get(k),
                ],
            );
            for (lane, b) in blocks.iter().enumerate() {
                if b.total == k + 1 {
                    for (j, s) in st.iter().enumerate() {
                        let x = match lane {
                            0 => u32x4_extract_lane::<0>(*s),
                            1 => u32x4_extract_lane::<1>(*s),
                            2 => u32x4_extract_lane::<2>(*s),
                            _ => u32x4_extract_lane::<3>(*s),
                        };
                        out[lane][4 * j..4 * j + 4].copy_from_slice(&x.to_be_bytes());
                    }
                }
            }
        }
        out
    }
}
