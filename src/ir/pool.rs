//! The `.bin` weights file: constant data, each distinct blob stored once.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::tensor::DType;

/// Offsets of blobs of at least this many bytes are aligned to it (kind to mmap and SIMD
/// loads); smaller blobs (shapes, axes, scalars) only to 8 bytes, the widest element.
pub const ALIGN: usize = 64;
const SMALL_ALIGN: usize = 8;

/// Accumulates constant bytes; identical (dtype, bytes) pairs share one region.
#[derive(Default)]
pub struct ConstPool {
    bin: Vec<u8>,
    index: HashMap<(DType, usize, u64, u64), Vec<usize>>,
}

impl ConstPool {
    /// Store `bytes` (of element type `dtype`) and return its `(offset, size)` in the `.bin`;
    /// regions are shared only among blobs of the same `group` (see `Net::constant_in`).
    pub fn add_in(&mut self, dtype: DType, bytes: &[u8], group: u64) -> (usize, usize) {
        if bytes.is_empty() {
            return (0, 0);
        }
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let key = (dtype, bytes.len(), h.finish(), group);
        if let Some(offsets) = self.index.get(&key) {
            for &off in offsets {
                if &self.bin[off..off + bytes.len()] == bytes {
                    return (off, bytes.len());
                }
            }
        }
        let align = if bytes.len() >= ALIGN {
            ALIGN
        } else {
            SMALL_ALIGN
        };
        let off = self.bin.len().next_multiple_of(align);
        self.bin.resize(off, 0);
        self.bin.extend_from_slice(bytes);
        self.index.entry(key).or_default().push(off);
        (off, bytes.len())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_blobs_are_stored_once_and_aligned() {
        let mut p = ConstPool::default();
        let big: Vec<u8> = (0..64).collect();
        let a = p.add_in(DType::F32, &[1, 2, 3, 4], 0);
        let b = p.add_in(DType::F32, &big, 0);
        let c = p.add_in(DType::F32, &[1, 2, 3, 4], 0);
        let d = p.add_in(DType::I64, &[1, 2, 3, 4], 0);
        let e = p.add_in(DType::F32, &big, 0);
        assert_eq!(a, (0, 4));
        assert_eq!(b, (64, 64), "large blobs are 64-aligned");
        assert_eq!(c, a);
        assert_eq!(d, (128, 4), "a different dtype is a different constant");
        assert_eq!(e, b);
        assert_eq!(
            p.add_in(DType::F32, &big, 7),
            (192, 64),
            "another group gets its own copy"
        );
        assert_eq!(
            p.add_in(DType::F32, &[9; 8], 0),
            (256, 8),
            "small blobs are 8-aligned"
        );
        assert_eq!(p.add_in(DType::F32, &[], 0), (0, 0));
        let bin = p.into_bytes();
        assert_eq!(bin.len(), 264);
        assert_eq!(&bin[64..128], &big[..]);
    }
}
