//! Fuzzing support: seeded mutators for `.keras` archives and input arrays (used by
//! `tests/fuzz.rs`, which runs the built binary on each mutated file under supervision), and
//! [`fuzz_one`], an entry point for a coverage-guided fuzzer.
//!
//! A coverage-guided fuzzer (cargo-fuzz / libFuzzer) needs a nightly compiler; the harness
//! for it is `fuzz/fuzz_targets/fuzz_one.rs`, which only calls [`fuzz_one`].
//!
//! Mutation families (each names its outcome in the fuzz report):
//!
//! | family | what it does |
//! |---|---|
//! | `flip` | flips 1 to 16 random bits anywhere in the file |
//! | `bytes` | overwrites a run of 1 to 64 bytes with 0x00, 0xff, 0x7f, 0x80 or random bytes |
//! | `truncate` | cuts the file at a random point |
//! | `h5_flip` | flips 1 to 16 bytes of `model.weights.h5` (often in its first 4 KiB: superblock, object headers, heaps) |
//! | `h5_run` | overwrites a run of `model.weights.h5` with 0x00 or 0xff (sizes and addresses become huge) |
//! | `json_value` | replaces a number, string, list or object of `config.json` with an extreme one (2^31, 2^63, -1, 0, 1e308, a 100,000-character or control-character string, null, [], {}) |
//! | `json_text` | byte edits of the `config.json` text: flips, deletions, inserted brackets |
//! | `json_layers` | duplicates, drops or reorders layer entries, or renames a layer |
//! | `zip_entry` | lies about an entry's declared size, drops, renames or duplicates an entry, edits `metadata.json` |
//! | `h5_shape` | (in `tests/fuzz.rs`, which can write HDF5) replaces a weight by a dataset declaring a huge shape |
//! | `npy_header` | edits a `.npy` header: huge or negative shapes, nested braces, long headers, other dtypes, other versions, a lying header length |
//! | `npy_data` | flips, truncates or extends the data of a `.npy` member |

use std::io::{Cursor, Read, Write};

/// A small deterministic random number generator (SplitMix64): the same seed gives the same
/// cases on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// `true` with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The entries of a zip archive (name, data), or `None` if it cannot be read.
pub fn unzip(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut data = Vec::new();
        (&mut f).take(64 << 20).read_to_end(&mut data).ok()?;
        out.push((f.name().to_string(), data));
    }
    Some(out)
}

/// A zip archive of `entries`, deflated or stored.
pub fn zip_entries(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .large_file(data.len() as u64 >= u32::MAX as u64);
        if w.start_file(name.as_str(), opts).is_err() || w.write_all(data).is_err() {
            break;
        }
    }
    w.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// Overwrite the uncompressed size an entry declares (local header and central directory).
pub fn set_declared_size(zip: &mut [u8], name: &str, size: u32) {
    let n = name.as_bytes();
    for i in 0..zip.len().saturating_sub(46) {
        let sig: [u8; 4] = [zip[i], zip[i + 1], zip[i + 2], zip[i + 3]];
        if &sig == b"PK\x03\x04" && zip[i + 30..].starts_with(n) {
            zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
        }
        if &sig == b"PK\x01\x02" && zip[i + 46..].starts_with(n) {
            zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
        }
    }
}

fn flip_bits(data: &mut [u8], rng: &mut Rng, max: usize) {
    if data.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(max) {
        let i = rng.below(data.len());
        data[i] ^= 1 << rng.below(8);
    }
}

fn overwrite_run(data: &mut [u8], rng: &mut Rng, max_len: usize) {
    if data.is_empty() {
        return;
    }
    let start = rng.below(data.len());
    let len = (1 + rng.below(max_len)).min(data.len() - start);
    let fill = *rng.pick(&[0x00u8, 0xff, 0x7f, 0x80, 0x01]);
    let random = rng.one_in(3);
    for b in &mut data[start..start + len] {
        *b = if random { rng.next_u64() as u8 } else { fill };
    }
}

/// Mutate a `.keras` archive: `(family, mutated bytes)`.
pub fn mutate_keras(archive: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let families: &[&str] = &[
        "flip",
        "bytes",
        "truncate",
        "h5_flip",
        "h5_flip",
        "h5_run",
        "json_value",
        "json_value",
        "json_text",
        "json_layers",
        "zip_entry",
    ];
    let family = *rng.pick(families);
    let mut out = archive.to_vec();
    match family {
        "flip" => flip_bits(&mut out, rng, 16),
        "bytes" => overwrite_run(&mut out, rng, 64),
        "truncate" => out.truncate(rng.below(archive.len())),
        _ => {
            let Some(mut entries) = unzip(archive) else {
                flip_bits(&mut out, rng, 4);
                return ("flip", out);
            };
            let deflate = rng.one_in(2);
            match family {
                "h5_flip" | "h5_run" => {
                    if let Some((_, h5)) = entries.iter_mut().find(|(n, _)| n == "model.weights.h5")
                    {
                        if family == "h5_run" {
                            overwrite_run(h5, rng, 16);
                        } else if rng.one_in(2) && h5.len() > 4096 {
                            flip_bits(&mut h5[..4096], rng, 16);
                        } else {
                            flip_bits(h5, rng, 16);
                        }
                    }
                }
                "json_value" | "json_text" | "json_layers" => {
                    if let Some((_, c)) = entries.iter_mut().find(|(n, _)| n == "config.json") {
                        match family {
                            "json_text" => mutate_json_text(c, rng),
                            _ => {
                                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(c) {
                                    if family == "json_value" {
                                        mutate_json_value(&mut v, rng);
                                    } else {
                                        mutate_layers(&mut v, rng);
                                    }
                                    *c = serde_json::to_vec(&v).unwrap_or_default();
                                }
                            }
                        }
                    }
                }
                _ => return ("zip_entry", mutate_zip_entries(entries, rng)),
            }
            out = zip_entries(&entries, deflate);
        }
    }
    (family, out)
}

fn mutate_zip_entries(mut entries: Vec<(String, Vec<u8>)>, rng: &mut Rng) -> Vec<u8> {
    let names = ["metadata.json", "config.json", "model.weights.h5"];
    match rng.below(6) {
        0 => {
            // A lying declared size.
            let mut z = zip_entries(&entries, rng.one_in(2));
            let size = *rng.pick(&[0u32, 1, 100, u32::MAX, 1 << 30, 0x7fff_ffff]);
            let name = *rng.pick(&names);
            set_declared_size(&mut z, name, size);
            return z;
        }
        1 => {
            let i = rng.below(entries.len());
            entries.remove(i);
        }
        2 => {
            let i = rng.below(entries.len());
            entries[i].0 = rng.pick(&names).to_string();
        }
        3 => {
            let i = rng.below(entries.len());
            let dup = entries[i].clone();
            entries.push(dup);
        }
        4 => {
            if let Some((_, m)) = entries.iter_mut().find(|(n, _)| n == "metadata.json") {
                *m = rng
                    .pick(&[
                        &br#"{"keras_version": "2.15.0"}"#[..],
                        br#"{"keras_version": 3}"#,
                        br#"{}"#,
                        br#"[]"#,
                        br#"{"keras_version": "3.\u001b[31m"}"#,
                    ])
                    .to_vec();
            }
        }
        _ => entries.push(("model.weights.npz".to_string(), b"PK".to_vec())),
    }
    zip_entries(&entries, rng.one_in(2))
}

fn mutate_json_text(c: &mut Vec<u8>, rng: &mut Rng) {
    match rng.below(4) {
        0 => flip_bits(c, rng, 8),
        1 => {
            if !c.is_empty() {
                let at = rng.below(c.len());
                let len = (1 + rng.below(32)).min(c.len() - at);
                c.drain(at..at + len);
            }
        }
        2 => {
            let at = rng.below(c.len() + 1);
            let what: u8 = *rng.pick(b"[{]},\"\\");
            let n = 1 + rng.below(200);
            c.splice(at..at, std::iter::repeat_n(what, n));
        }
        _ => overwrite_run(c, rng, 16),
    }
}

/// Where a JSON value sits: keys and indices from the root.
type JsonPath = Vec<Result<String, usize>>;

fn collect_paths(v: &serde_json::Value, path: &mut JsonPath, out: &mut Vec<JsonPath>) {
    out.push(path.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                path.push(Ok(k.clone()));
                collect_paths(c, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(Err(i));
                collect_paths(c, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(v: &'a mut serde_json::Value, path: &JsonPath) -> Option<&'a mut serde_json::Value> {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            Ok(k) => cur.get_mut(k.as_str())?,
            Err(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

fn at_path_ref<'a>(v: &'a serde_json::Value, path: &JsonPath) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            Ok(k) => cur.get(k.as_str())?,
            Err(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn mutate_json_value(v: &mut serde_json::Value, rng: &mut Rng) {
    use serde_json::json;
    let mut paths = Vec::new();
    collect_paths(v, &mut Vec::new(), &mut paths);
    // Half the time, a number (sizes, axes, units, shapes are where lowering does arithmetic).
    let numbers: Vec<&JsonPath> = paths
        .iter()
        .filter(|p| at_path_ref(v, p).is_some_and(serde_json::Value::is_number))
        .collect();
    let path = if !numbers.is_empty() && rng.one_in(2) {
        (*rng.pick(&numbers)).clone()
    } else {
        rng.pick(&paths).clone()
    };
    let Some(target) = at_path(v, &path) else {
        return;
    };
    let long = "L".repeat(1 + rng.below(100_000));
    let replacement = match rng.below(14) {
        0 => json!(2147483648u64),
        1 => json!(9223372036854775807u64),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(1e308),
        5 => json!(18446744073709551615u64),
        6 => json!(long),
        7 => json!("evil\u{1b}]0;title\u{7}\nname"),
        8 => serde_json::Value::Null,
        9 => json!([]),
        10 => json!({}),
        11 => json!([2147483648u64, 2147483648u64]),
        12 => json!(-2147483649i64),
        _ => json!(true),
    };
    *target = replacement;
}

fn mutate_layers(v: &mut serde_json::Value, rng: &mut Rng) {
    let Some(layers) = v
        .get_mut("config")
        .and_then(|c| c.get_mut("layers"))
        .and_then(|l| l.as_array_mut())
    else {
        return;
    };
    if layers.is_empty() {
        return;
    }
    let i = rng.below(layers.len());
    match rng.below(5) {
        0 => {
            let dup = layers[i].clone();
            let n = 1 + rng.below(3);
            for _ in 0..n {
                layers.insert(i, dup.clone());
            }
        }
        1 => {
            layers.remove(i);
        }
        2 => {
            let j = rng.below(layers.len());
            layers.swap(i, j);
        }
        3 => {
            let name = "N".repeat(1 + rng.below(70_000));
            if let Some(o) = layers[i].as_object_mut() {
                o.insert("name".into(), serde_json::json!(name));
            }
        }
        _ => {
            // Many copies of one layer under fresh names (a wide model).
            let base = layers[i].clone();
            let n = 100 + rng.below(2000);
            for k in 0..n {
                let mut c = base.clone();
                if let Some(o) = c.as_object_mut() {
                    o.insert("name".into(), serde_json::json!(format!("copy_{k}")));
                }
                layers.push(c);
            }
        }
    }
}

/// Mutate a `.npz` of input arrays: `(family, mutated bytes)`.
pub fn mutate_npz(npz: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let Some(mut entries) = unzip(npz) else {
        let mut out = npz.to_vec();
        flip_bits(&mut out, rng, 8);
        return ("flip", out);
    };
    if entries.is_empty() {
        return ("flip", npz.to_vec());
    }
    let family = *rng.pick(&["npy_header", "npy_header", "npy_data", "zip_entry", "flip"]);
    match family {
        "flip" => {
            let mut out = npz.to_vec();
            flip_bits(&mut out, rng, 16);
            return (family, out);
        }
        "zip_entry" => {
            let mut z = zip_entries(&entries, rng.one_in(2));
            let name = entries[rng.below(entries.len())].0.clone();
            let size = *rng.pick(&[0u32, 1, 10, u32::MAX, 1 << 31, 0x7fff_ffff]);
            set_declared_size(&mut z, &name, size);
            return (family, z);
        }
        _ => {
            let i = rng.below(entries.len());
            let member = &mut entries[i].1;
            if family == "npy_header" {
                mutate_npy_header(member, rng);
            } else {
                mutate_npy_data(member, rng);
            }
        }
    }
    (family, zip_entries(&entries, rng.one_in(2)))
}

/// Mutate a `.npy` array: `(family, mutated bytes)`.
pub fn mutate_npy(npy: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let mut out = npy.to_vec();
    if rng.one_in(2) {
        mutate_npy_header(&mut out, rng);
        ("npy_header", out)
    } else {
        mutate_npy_data(&mut out, rng);
        ("npy_data", out)
    }
}

fn header_of(npy: &[u8]) -> Option<(usize, String)> {
    if npy.len() < 10 || &npy[..6] != b"\x93NUMPY" {
        return None;
    }
    let (len, start) = if npy[6] == 1 {
        (u16::from_le_bytes([npy[8], npy[9]]) as usize, 10)
    } else {
        let b = npy.get(8..12)?;
        (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
    };
    let h = npy.get(start..start + len)?;
    Some((start + len, String::from_utf8_lossy(h).into_owned()))
}

/// A version 1.0 `.npy` with header text `h` and `data`.
pub fn npy_with_header(h: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    let len = h.len().min(u16::MAX as usize);
    v.extend((len as u16).to_le_bytes());
    v.extend(&h.as_bytes()[..len]);
    v.extend(data);
    v
}

fn mutate_npy_header(npy: &mut Vec<u8>, rng: &mut Rng) {
    let Some((end, header)) = header_of(npy) else {
        flip_bits(npy, rng, 4);
        return;
    };
    let data = npy[end..].to_vec();
    let shape_lie =
        |dims: &str| format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}\n");
    let new_header = match rng.below(10) {
        0 => shape_lie("2147483648, 4"),
        1 => shape_lie("18446744073709551615, 18446744073709551615"),
        2 => shape_lie("-1, 4"),
        3 => shape_lie(&"2, ".repeat(70)),
        4 => "{".repeat(1 + rng.below(5000)),
        5 => format!("{header}{}", " ".repeat(20_000)),
        6 => header.replace("<f4", "<i8").replace("<f8", "|O"),
        7 => header.replace("False", "True"),
        8 => header.replace("'shape'", "'shape': (1,), 'shape'"),
        _ => {
            // A header length field that lies.
            let mut v = npy.clone();
            if v.len() > 9 {
                v[8] = 0xff;
                v[9] = 0xff;
            }
            *npy = v;
            return;
        }
    };
    *npy = npy_with_header(&new_header, &data);
    if rng.one_in(4) {
        npy[6] = *rng.pick(&[2u8, 3, 4, 0]);
    }
}

fn mutate_npy_data(npy: &mut Vec<u8>, rng: &mut Rng) {
    let Some((end, _)) = header_of(npy) else {
        flip_bits(npy, rng, 4);
        return;
    };
    match rng.below(3) {
        0 => {
            let mut data = npy.split_off(end);
            flip_bits(&mut data, rng, 16);
            npy.extend(data);
        }
        1 => {
            let keep = end + rng.below(npy.len() - end + 1);
            npy.truncate(keep);
        }
        _ => {
            let n = 1 + rng.below(64);
            npy.extend(std::iter::repeat_n(0u8, n));
        }
    }
}

/// What [`fuzz_one`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read, and for a model, lowered and tabulated.
    Ok,
    /// Refused with an error (the message's first 200 characters).
    Refused(String),
}

/// One input for a coverage-guided fuzzer. The first byte picks what the rest is read as:
/// a `.keras` archive (loaded, lowered, its `inspect` table built; the HDF5 reader isolated
/// with a 2 s CPU limit), a `.npy` array or a `.npz` archive. It must never panic, crash or
/// hang, whatever the bytes; it returns what happened.
pub fn fuzz_one(data: &[u8]) -> Outcome {
    let Some((&selector, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let refused = |e: String| Outcome::Refused(crate::text::clip(&e).into_owned());
    match selector % 3 {
        0 => {
            let limits = crate::loader::Limits {
                hdf5_cpu_seconds: Some(2),
                ..crate::loader::Limits::default()
            };
            match crate::loader::load_bytes_with(rest, "fuzz.keras", &limits) {
                Ok(m) => {
                    let traced = crate::lower::lower_traced(&m.model, &[]);
                    let trace = traced.as_ref().map(|(_, t)| t.as_slice()).unwrap_or(&[]);
                    let rows = crate::inspect::table_rows(&m.model, trace);
                    let mut sink = std::io::sink();
                    let _ = crate::inspect::write_table(&rows, &mut sink);
                    match traced {
                        Ok(_) => Outcome::Ok,
                        Err(e) => refused(e.to_string()),
                    }
                }
                Err(e) => refused(e.to_string()),
            }
        }
        1 => match crate::npy::read_npy_tensor_from(rest, rest.len() as u64, "fuzz.npy") {
            Ok(_) => Outcome::Ok,
            Err(e) => refused(format!("{e:#}")),
        },
        _ => match crate::npy::read_npz_tensor_from(Cursor::new(rest), "fuzz.npz") {
            Ok(_) => Outcome::Ok,
            Err(e) => refused(format!("{e:#}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!(Rng::new(8).next_u64() != xs[0]);
        assert!((0..1000).all(|_| a.below(7) < 7));
    }

    #[test]
    fn fuzz_one_refuses_garbage() {
        assert!(matches!(fuzz_one(&[]), Outcome::Refused(_)));
        for sel in 0u8..3 {
            let mut d = vec![sel];
            d.extend(b"not a file");
            assert!(matches!(fuzz_one(&d), Outcome::Refused(_)));
        }
        let mut d = vec![1u8];
        d.extend(npy_with_header("{{{{{{{{{{{{{{{{{{{{", &[]));
        assert!(matches!(fuzz_one(&d), Outcome::Refused(_)));
    }

    #[test]
    fn zip_round_trip_and_size_lies() {
        let entries = vec![("a.txt".to_string(), b"hello".to_vec())];
        let z = zip_entries(&entries, true);
        assert_eq!(unzip(&z).unwrap(), entries);
        let mut lying = z.clone();
        set_declared_size(&mut lying, "a.txt", 1);
        assert_ne!(lying, z);
    }
}
