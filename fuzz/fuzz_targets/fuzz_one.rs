//! libFuzzer entry point: the first byte picks a `.keras` archive, a `.npy` or a `.npz`; see
//! `keras2ov::fuzz::fuzz_one`. Seed the corpus with the fixtures, each prefixed by its
//! selector byte (0: `.keras`, 1: `.npy`, 2: `.npz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keras2ov::fuzz::fuzz_one(data);
});
