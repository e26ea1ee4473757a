//! Hostile input (issue 10): every reproducer of `../shared/fuzz-crashers/` (copied to
//! `tests/hostile/`, or built here from the fixtures when too big to keep) run through the
//! binary as the issue's fuzzer ran it. Each must end in a clean error (exit 1, one `error:`
//! message naming the file and the place, no panic, no signal), or succeed where the file is a
//! valid model; within 20 s of CPU time and 1 GiB of memory (peak RSS, the isolated HDF5
//! reader included; the address space is capped at 4 GiB like the fuzzer's `prlimit`), leaving
//! nothing in its private `TMPDIR` or in the output directory.
//!
//! Wall-clock time is bounded too (the run is killed at 60 s; 300 s for a debug build), but
//! only CPU time is held to 20 s: this machine is shared, and the issue's 20 s were measured
//! on an idle one.

mod support;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{arg, Limits, Run, Sandbox, GIB};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hostile(name: &str) -> String {
    arg(&root().join("tests/hostile").join(name))
}

fn fixture(name: &str) -> String {
    arg(&root().join("fixtures/models").join(name))
}

/// The CPU time a run may take: 20 s for the release binary users run. A debug build (plain
/// `cargo test`) is about five times slower on the 200,000-layer models.
const CPU_SECONDS: f64 = if cfg!(debug_assertions) { 100.0 } else { 20.0 };

fn limits() -> Limits {
    Limits {
        address_space: 4 * GIB,
        deadline: Duration::from_secs(if cfg!(debug_assertions) { 300 } else { 60 }),
    }
}

/// Run `args` in a fresh sandbox (an `{out}` argument becomes a path in its output
/// directory), check the universal properties and return the run.
fn run_in_sandbox(args: &[&str], env: &[(&str, &str)]) -> Run {
    let sb = Sandbox::new();
    let out_dir = arg(&sb.out());
    let args: Vec<String> = args.iter().map(|a| a.replace("{out}", &out_dir)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = support::supervise(&args, &sb.tmp(), limits(), env);
    eprintln!(
        "{:?}: exit {:?}, {:.2} s wall, {:.2} s CPU, peak RSS {} MiB",
        args.iter()
            .map(|a| a.rsplit('/').next().unwrap())
            .collect::<Vec<_>>(),
        run.code,
        run.seconds,
        run.cpu_seconds,
        run.peak_rss >> 20
    );
    run.assert_no_crash();
    assert!(
        run.cpu_seconds < CPU_SECONDS,
        "{:?} used {:.1} s of CPU",
        run.args,
        run.cpu_seconds
    );
    assert!(
        run.peak_rss <= GIB,
        "{:?} peaked at {} MiB",
        run.args,
        run.peak_rss >> 20
    );
    assert!(
        sb.tmp_entries().is_empty(),
        "{:?} left {:?} in TMPDIR",
        run.args,
        sb.tmp_entries()
    );
    if run.code != Some(0) {
        assert!(
            sb.out_entries().is_empty(),
            "{:?} failed but left {:?}",
            run.args,
            sb.out_entries()
        );
    }
    run
}

fn fails(args: &[&str], words: &[&str]) -> Run {
    let run = run_in_sandbox(args, &[]);
    run.assert_clean_error(words);
    run
}

// ---------------------------------------------------------------------------------------
// Item 1: libhdf5 crashing or looping on a corrupted model.weights.h5.
// ---------------------------------------------------------------------------------------

#[test]
fn hdf5_segfault_becomes_an_error_naming_the_group() {
    let f = hostile("h5_segv_H5HG_read_case00522.keras");
    let words = [
        "h5_segv_H5HG_read_case00522.keras",
        "model.weights.h5 is corrupt",
        "crashed (SIGSEGV",
        "layers/dense_1/vars",
    ];
    fails(&["inspect", &f], &words);
    fails(&["convert", &f, "-o", "{out}/x.xml"], &words);
    fails(
        &[
            "run",
            &f,
            "-i",
            &fixture("op_chain.inputs.npz"),
            "-o",
            "{out}/o.npz",
        ],
        &words,
    );
    let f = hostile("h5_segv_H5HG_read_case03194.keras");
    let words = [
        "h5_segv_H5HG_read_case03194.keras",
        "crashed (SIGSEGV",
        "layers/input_layer/vars",
    ];
    fails(&["inspect", &f], &words);
    fails(&["convert", &f, "-o", "{out}/x.xml"], &words);
}

#[test]
fn hdf5_endless_loop_is_stopped_at_the_cpu_limit() {
    let f = hostile("h5_hang_H5HG_case00986.keras");
    for args in [
        vec!["inspect", f.as_str()],
        vec!["convert", f.as_str(), "-o", "{out}/x.xml"],
    ] {
        let run = fails(
            &args,
            &[
                "h5_hang_H5HG_case00986.keras",
                "model.weights.h5 is corrupt",
                "KERAS2OV_HDF5_TIMEOUT",
                "while reading `vars`",
            ],
        );
        assert!(
            run.stderr.contains("CPU time") || run.stderr.contains("did not finish"),
            "{}",
            run.stderr
        );
    }
    // A lower limit is honoured (on a busy machine the wall-clock limit, twice the CPU time
    // plus 2 s, may stop the reader first).
    let run = run_in_sandbox(&["inspect", &f], &[("KERAS2OV_HDF5_TIMEOUT", "1")]);
    run.assert_clean_error(&["1 s of CPU time", "KERAS2OV_HDF5_TIMEOUT"]);
    assert!(run.cpu_seconds < 4.0, "{run:#?}");
}

#[test]
fn killing_keras2ov_mid_read_leaves_no_file_and_no_process() {
    // SIGKILL keras2ov while its HDF5 reader spins on the looping file: the unnamed copy of
    // model.weights.h5 vanishes with it, and the reader dies with its parent.
    let sb = Sandbox::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keras2ov"))
        .args(["inspect", &hostile("h5_hang_H5HG_case00986.keras")])
        .env("TMPDIR", sb.tmp())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it should still be reading"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(sb.tmp_entries().is_empty(), "{:?}", sb.tmp_entries());
    let marker = format!("TMPDIR={}", sb.tmp().display());
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "processes left running: {left:?}");
}

// ---------------------------------------------------------------------------------------
// Items 2 and 3: .npy headers.
// ---------------------------------------------------------------------------------------

#[test]
fn npy_nested_braces_are_refused_at_once() {
    let run = fails(
        &[
            "run",
            &fixture("seq_mlp.keras"),
            "-i",
            &hostile("npy_header_14_braces.npy"),
            "-o",
            "{out}/o.npz",
        ],
        &["npy_header_14_braces.npy", "not a NumPy header dictionary"],
    );
    assert!(run.cpu_seconds < 2.0, "{run:#?}");
    fails(
        &[
            "run",
            &fixture("layer_prelu.keras"),
            "-i",
            &hostile("npy_header_braces_case00267.inputs.npz"),
            "-o",
            "{out}/o.npz",
        ],
        &[
            "npy_header_braces_case00267.inputs.npz",
            "array 'x.npy'",
            "not a NumPy header dictionary",
            "(1000 characters)",
        ],
    );
}

#[test]
fn npy_lying_shapes_are_refused_before_allocating() {
    fails(
        &[
            "run",
            &fixture("seq_mlp.keras"),
            "-i",
            &hostile("npy_lying_shape_2p31x4.npy"),
            "-o",
            "{out}/o.npz",
        ],
        &[
            "npy_lying_shape_2p31x4.npy",
            "(2147483648, 4)",
            "34359738368 bytes",
            "80 bytes follow the header",
        ],
    );
    fails(
        &[
            "run",
            &fixture("op_getitem.keras"),
            "-i",
            &hostile("npy_lying_shape_case00327.inputs.npz"),
            "-o",
            "{out}/o.npz",
        ],
        &[
            "npy_lying_shape_case00327.inputs.npz",
            "array 'x.npy'",
            "(2147483648, 5)",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Item 4: weights past what the config implies.
// ---------------------------------------------------------------------------------------

fn entries_of(keras: &str) -> Vec<(String, Vec<u8>)> {
    keras2ov::fuzz::unzip(&std::fs::read(keras).unwrap()).unwrap()
}

fn get<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &entries.iter().find(|(n, _)| n == name).unwrap().1
}

fn put(entries: &mut [(String, Vec<u8>)], name: &str, data: Vec<u8>) {
    entries.iter_mut().find(|(n, _)| n == name).unwrap().1 = data;
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `make_hand.py units`: seq_mlp with its last Dense at `units` 2^28 (or `config_units`) and a
/// gzip-compressed zero kernel [6, 2^28] and bias [2^28], written chunk by chunk (4 Mi values
/// per chunk, the same compressed zero chunk each time).
fn units_2p28(dir: &Path, config_units: u64) -> PathBuf {
    let n: u64 = 1 << 28;
    let chunk: u64 = 1 << 22;
    let mut entries = entries_of(&fixture("seq_mlp.keras"));
    let mut config: Value = serde_json::from_slice(get(&entries, "config.json")).unwrap();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    layers.last_mut().unwrap()["config"]["units"] = json!(config_units);
    put(
        &mut entries,
        "config.json",
        serde_json::to_vec(&config).unwrap(),
    );
    let h5 = dir.join("u.h5");
    std::fs::write(&h5, get(&entries, "model.weights.h5")).unwrap();
    {
        let f = hdf5::File::open_rw(&h5).unwrap();
        let vars = f.group("layers/dense_2/vars").unwrap();
        vars.unlink("0").unwrap();
        vars.unlink("1").unwrap();
        let zero_chunk = zlib(&vec![0u8; (chunk * 4) as usize]);
        let write = |ds: &hdf5::Dataset, offset: &[u64]| {
            // SAFETY: a valid dataset id, offset of the dataset's rank and a buffer of the
            // given size.
            let r = unsafe {
                hdf5_sys::h5d::H5Dwrite_chunk(
                    ds.id(),
                    hdf5_sys::h5p::H5P_DEFAULT,
                    0,
                    offset.as_ptr(),
                    zero_chunk.len(),
                    zero_chunk.as_ptr().cast(),
                )
            };
            assert!(r >= 0, "H5Dwrite_chunk failed");
        };
        let kernel = vars
            .new_dataset::<f32>()
            .shape([6, n as usize])
            .chunk([1, chunk as usize])
            .deflate(9)
            .create("0")
            .unwrap();
        for row in 0..6 {
            for k in (0..n).step_by(chunk as usize) {
                write(&kernel, &[row, k]);
            }
        }
        let bias = vars
            .new_dataset::<f32>()
            .shape([n as usize])
            .chunk([chunk as usize])
            .deflate(9)
            .create("1")
            .unwrap();
        for k in (0..n).step_by(chunk as usize) {
            write(&bias, &[k]);
        }
    }
    put(
        &mut entries,
        "model.weights.h5",
        std::fs::read(&h5).unwrap(),
    );
    let path = dir.join(if config_units == n {
        "units2p28_gzipweights.keras"
    } else {
        "units_lie_gzipweights.keras"
    });
    std::fs::write(&path, keras2ov::fuzz::zip_entries(&entries, false)).unwrap();
    path
}

#[test]
fn weights_past_the_parameter_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let f = units_2p28(dir.path(), 1 << 28);
    let size = std::fs::metadata(&f).unwrap().len();
    assert!((5 << 20..10 << 20).contains(&size), "{size} bytes");
    let f = arg(&f);
    let words = [
        "units2p28_gzipweights.keras",
        "layers/dense_2/vars/0",
        "268435456 parameters",
        "KERAS2OV_MAX_PARAMS",
        "no data was read",
    ];
    fails(&["inspect", &f], &words);
    fails(&["convert", &f, "-o", "{out}/x.xml"], &words);
    fails(
        &[
            "run",
            &f,
            "-i",
            &fixture("seq_mlp.inputs.npz"),
            "-o",
            "{out}/o.npz",
        ],
        &words,
    );
    // Allowed by a raised limit but more than the memory there is: an error, not an abort.
    let run = run_in_sandbox(&["inspect", &f], &[("KERAS2OV_MAX_PARAMS", "4000000000")]);
    run.assert_clean_error(&[
        "units2p28_gzipweights.keras",
        "layers/dense_2/vars/0",
        "not enough memory",
    ]);
    // A config that contradicts the declared shape: refused by the Dense check.
    let lie = arg(&units_2p28(dir.path(), 3));
    let run = run_in_sandbox(&["inspect", &lie], &[("KERAS2OV_MAX_PARAMS", "4000000000")]);
    run.assert_clean_error(&[
        "units_lie_gzipweights.keras",
        "layers/dense_2/vars/0",
        "config of Dense layer `logits` (units 3)",
    ]);
    // A bad setting is an error too.
    let run = run_in_sandbox(&["inspect", &f], &[("KERAS2OV_MAX_PARAMS", "lots")]);
    run.assert_clean_error(&["KERAS2OV_MAX_PARAMS=\"lots\""]);
}

// ---------------------------------------------------------------------------------------
// Item 5: a weights zip bomb.
// ---------------------------------------------------------------------------------------

/// One entry of a hand-written zip archive.
struct RawEntry<'a> {
    name: &'a str,
    method: u16,
    crc: u32,
    data: &'a [u8],
    size: u64,
}

/// A zip archive written by hand, so that an entry can declare any size (ZIP64 when over
/// 4 GiB) whatever its data.
fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let zip64 = e.size >= u32::MAX as u64;
        let (csize, usize_) = if zip64 {
            (u32::MAX, u32::MAX)
        } else {
            (e.data.len() as u32, e.size as u32)
        };
        let extra: Vec<u8> = if zip64 {
            let mut x = vec![1, 0, 16, 0];
            x.extend(e.size.to_le_bytes());
            x.extend((e.data.len() as u64).to_le_bytes());
            x
        } else {
            Vec::new()
        };
        let version: u16 = if zip64 { 45 } else { 20 };
        let mut local = b"PK\x03\x04".to_vec();
        local.extend(version.to_le_bytes());
        local.extend(0u16.to_le_bytes()); // flags
        local.extend(e.method.to_le_bytes());
        local.extend([0, 0, 0x21, 0]); // time, date (1980-01-01)
        local.extend(e.crc.to_le_bytes());
        local.extend(csize.to_le_bytes());
        local.extend(usize_.to_le_bytes());
        local.extend((e.name.len() as u16).to_le_bytes());
        local.extend((extra.len() as u16).to_le_bytes());
        local.extend(e.name.as_bytes());
        local.extend(&extra);
        out.extend(&local);
        out.extend(e.data);
        let mut c = b"PK\x01\x02".to_vec();
        c.extend(version.to_le_bytes()); // made by
        c.extend(version.to_le_bytes()); // needed
        c.extend(0u16.to_le_bytes());
        c.extend(e.method.to_le_bytes());
        c.extend([0, 0, 0x21, 0]);
        c.extend(e.crc.to_le_bytes());
        c.extend(csize.to_le_bytes());
        c.extend(usize_.to_le_bytes());
        c.extend((e.name.len() as u16).to_le_bytes());
        c.extend((extra.len() as u16).to_le_bytes());
        c.extend([0u8; 6]); // comment length, disk, internal attributes
        c.extend(0u32.to_le_bytes()); // external attributes
        c.extend(offset.to_le_bytes());
        c.extend(e.name.as_bytes());
        c.extend(&extra);
        central.extend(c);
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(b"PK\x05\x06");
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend([0u8; 2]);
    out
}

/// A raw deflate stream of `16 MiB * blocks` zero bytes: one sync-flushed block, then the
/// same block's bytes repeated (the window holds only zeros either way), then the end.
fn deflated_zeros(blocks: usize) -> (Vec<u8>, u32) {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 16 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let mut chunk = |input: &[u8], flush| {
        let mut out = Vec::with_capacity(1 << 20);
        let before = c.total_in();
        loop {
            let consumed = (c.total_in() - before) as usize;
            c.compress_vec(&input[consumed..], &mut out, flush).unwrap();
            if (c.total_in() - before) as usize == input.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(1 << 20);
        }
    };
    let first = chunk(&zeros, FlushCompress::Sync);
    let next = chunk(&zeros, FlushCompress::Sync);
    let end = chunk(&[], FlushCompress::Finish);
    let mut stream = first;
    for _ in 1..blocks {
        stream.extend(&next);
    }
    stream.extend(end);
    let mut block_crc = crc32fast::Hasher::new();
    block_crc.update(&zeros);
    let mut crc = crc32fast::Hasher::new();
    for _ in 0..blocks {
        crc.combine(&block_crc);
    }
    (stream, crc.finalize())
}

#[test]
fn weights_zip_bomb_is_refused_by_its_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries_of(&fixture("seq_mlp.keras"));
    let (bomb, crc) = deflated_zeros(256);
    // The stream really inflates to 4 GiB of zeros (checked on its first 64 MiB).
    let mut head = vec![0u8; 64 << 20];
    flate2::read::DeflateDecoder::new(&bomb[..])
        .read_exact(&mut head)
        .unwrap();
    assert!(head.iter().all(|&b| b == 0));
    let json = |name: &str| {
        let data = get(&entries, name);
        RawEntry {
            name: if name == "config.json" {
                "config.json"
            } else {
                "metadata.json"
            },
            method: 0,
            crc: crc32fast::hash(data),
            data,
            size: data.len() as u64,
        }
    };
    for (declared, file, words) in [
        (
            4u64 << 30,
            "bomb4g_h5.keras",
            &["declares 4294967296 bytes", "KERAS2OV_MAX_PARAMS"][..],
        ),
        (
            1 << 20,
            "bomb_lying_size.keras",
            &["inflates to more than the 1048576 bytes it declares"][..],
        ),
    ] {
        let zip = raw_zip(&[
            json("metadata.json"),
            json("config.json"),
            RawEntry {
                name: "model.weights.h5",
                method: 8,
                crc,
                data: &bomb,
                size: declared,
            },
        ]);
        let path = dir.path().join(file);
        std::fs::write(&path, zip).unwrap();
        let mut words = words.to_vec();
        words.extend([file, "model.weights.h5"]);
        let run = fails(&["inspect", &arg(&path)], &words);
        assert!(run.cpu_seconds < 2.0, "{run:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// Item 6: archive strings in messages and table cells.
// ---------------------------------------------------------------------------------------

#[test]
fn a_twenty_million_character_class_name_is_clipped() {
    let f = hostile("inspect_panic_width_case02217.keras");
    let run = fails(
        &["inspect", &f],
        &[
            "inspect_panic_width_case02217.keras",
            "get_item",
            "unsupported",
        ],
    );
    assert!(
        run.stdout.contains("... (20000000 characters)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.lines().all(|l| l.chars().count() < 2000));
    fails(
        &["convert", &f, "-o", "{out}/x.xml"],
        &["inspect_panic_width_case02217.keras", "get_item"],
    );
}

// ---------------------------------------------------------------------------------------
// Item 7: 200,000 layers.
// ---------------------------------------------------------------------------------------

/// An HDF5 file with no groups (`make_hand.py`'s `empty.h5`).
fn empty_h5(dir: &Path) -> Vec<u8> {
    let p = dir.join("empty.h5");
    hdf5::File::create(&p).unwrap();
    std::fs::read(&p).unwrap()
}

/// `make_chain.py 200000`: a Functional chain of Activation layers after layer_reshape's input.
fn chain(dir: &Path, n: usize) -> PathBuf {
    let mut entries = entries_of(&fixture("layer_reshape.keras"));
    let mut c: Value = serde_json::from_slice(get(&entries, "config.json")).unwrap();
    let mut layers = vec![c["config"]["layers"][0].clone()];
    let mut prev = "x".to_string();
    for i in 0..n {
        let name = format!("a{i}");
        layers.push(json!({"module": "keras.layers", "class_name": "Activation",
            "config": {"name": name, "activation": "relu"}, "name": name,
            "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [null, 6], "dtype": "float32", "keras_history": [prev, 0, 0]}}],
                "kwargs": {}}]}));
        prev = name;
    }
    c["config"]["layers"] = Value::Array(layers);
    c["config"]["input_layers"] = json!([["x", 0, 0]]);
    c["config"]["output_layers"] = json!([[prev, 0, 0]]);
    put(&mut entries, "config.json", serde_json::to_vec(&c).unwrap());
    put(&mut entries, "model.weights.h5", empty_h5(dir));
    let path = dir.join(format!("layers{}k_chain.keras", n / 1000));
    std::fs::write(&path, keras2ov::fuzz::zip_entries(&entries, true)).unwrap();
    path
}

/// `make_hand.py layers`: a Sequential of seq_mlp's input and 200,000 `Activation(relu)`.
fn sequential(dir: &Path, n: usize) -> PathBuf {
    let mut entries = entries_of(&fixture("seq_mlp.keras"));
    let mut c: Value = serde_json::from_slice(get(&entries, "config.json")).unwrap();
    let mut layers = vec![c["config"]["layers"][0].clone()];
    for i in 0..n {
        layers.push(json!({"module": "keras.layers", "class_name": "Activation",
            "config": {"name": format!("act_{i}"), "trainable": true, "dtype": "float32",
                       "activation": "relu"},
            "registered_name": null, "build_config": {"input_shape": [null, 4]}}));
    }
    c["config"]["layers"] = Value::Array(layers);
    put(&mut entries, "config.json", serde_json::to_vec(&c).unwrap());
    put(&mut entries, "model.weights.h5", empty_h5(dir));
    let path = dir.join(format!("layers{}k_seq.keras", n / 1000));
    std::fs::write(&path, keras2ov::fuzz::zip_entries(&entries, true)).unwrap();
    path
}

#[test]
fn two_hundred_thousand_layers_inspect_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    for path in [chain(dir.path(), 200_000), sequential(dir.path(), 200_000)] {
        let run = run_in_sandbox(&["inspect", &arg(&path)], &[]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(run.stdout.contains("convertible: yes ("), "{}", run.stdout);
        // A row per layer and the input, plus header, rule and 4 summary lines.
        assert_eq!(run.stdout.lines().count(), 200_000 + 8);
    }
}

// ---------------------------------------------------------------------------------------
// Other classes found while fixing these: the loader alone, in this process.
// ---------------------------------------------------------------------------------------

/// An archive of layer_reshape's metadata, `config` and an empty HDF5 file.
fn archive_with(config: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = entries_of(&fixture("layer_reshape.keras"));
    put(&mut entries, "config.json", config.to_vec());
    put(&mut entries, "model.weights.h5", empty_h5(dir.path()));
    keras2ov::fuzz::zip_entries(&entries, true)
}

fn load_err(bytes: &[u8]) -> String {
    match keras2ov::loader::load_bytes(bytes, "t.keras") {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn models_nested_thousands_deep_are_refused_without_recursing() {
    // Each level is parsed from raw text, so serde_json's nesting limit does not apply: the
    // loader's own limit must, before the stack runs out.
    let depth = 5000;
    let mut text = String::new();
    for _ in 0..depth {
        text.push_str(r#"{"class_name": "Functional", "config": {"name": "m", "layers": ["#);
    }
    text.push_str(
        r#"{"class_name": "InputLayer", "config": {"batch_shape": [null, 1], "name": "x"}}"#,
    );
    for _ in 0..depth {
        text.push_str(r#"], "input_layers": [], "output_layers": []}, "name": "m"}"#);
    }
    let e = load_err(&archive_with(text.as_bytes()));
    assert!(e.contains("nested more than 32 deep"), "{e}");
}

#[test]
fn configs_with_millions_of_values_are_refused_before_parsing() {
    let mut text = String::from(r#"{"class_name": "Functional", "config": {"layers": ["#);
    text.push_str(&"[],".repeat(9_000_000));
    text.push_str("[]]}}");
    let t = std::time::Instant::now();
    let e = load_err(&archive_with(text.as_bytes()));
    assert!(e.contains("JSON values") && e.contains("8000000"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

#[test]
fn huge_keys_and_long_argument_lists_parse_in_linear_time() {
    // A 5 MB kwargs key holding a list of a million numbers (plus a tensor, so it is walked):
    // locations are built only for messages, and every message clips the key.
    let mut c: Value = serde_json::from_slice(get(
        &entries_of(&fixture("layer_reshape.keras")),
        "config.json",
    ))
    .unwrap();
    let key = "K".repeat(5_000_000);
    let mut list: Vec<Value> = vec![json!(0); 1_000_000];
    list.push(
        json!({"class_name": "__keras_tensor__", "config": {"keras_history": ["nowhere", 0, 0]}}),
    );
    c["config"]["layers"][1]["inbound_nodes"][0]["kwargs"] = json!({ key.clone(): list });
    let t = std::time::Instant::now();
    let e = load_err(&archive_with(&serde_json::to_vec(&c).unwrap()));
    // Linear: seconds (in a debug build, on a busy machine). Quadratic was hours.
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
    assert!(e.contains("`nowhere`"), "{}", &e[..e.len().min(500)]);
    assert!(e.len() < 2000, "{} bytes", e.len());
}

#[test]
fn archive_strings_are_clipped_in_loader_messages() {
    let mut c: Value = serde_json::from_slice(get(
        &entries_of(&fixture("layer_reshape.keras")),
        "config.json",
    ))
    .unwrap();
    let name = format!("evil\u{1b}]0;{}", "n".repeat(3_000_000));
    // Two layers with the same (huge) name.
    c["config"]["layers"][1]["name"] = json!(name);
    c["config"]["layers"][2]["name"] = json!(name);
    let e = load_err(&archive_with(&serde_json::to_vec(&c).unwrap()));
    assert!(
        e.contains("two layers named") && e.contains("(3000008 characters)"),
        "{e}"
    );
    assert!(!e.contains('\u{1b}') && e.len() < 1000, "{e}");
}

#[test]
fn a_tiny_parameter_limit_refuses_a_fixture_naming_the_dataset() {
    let limits = keras2ov::loader::Limits {
        max_params: 10,
        ..Default::default()
    };
    let e = keras2ov::loader::load_with(Path::new(&fixture("seq_mlp.keras")), &limits)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layers/dense/vars/0") && e.contains("more than 10 parameters"),
        "{e}"
    );
    // In-process reading (no isolation) reads the same weights as the isolated reader.
    let isolated = keras2ov::loader::load(Path::new(&fixture("model_nested.keras"))).unwrap();
    let here = keras2ov::loader::load_with(
        Path::new(&fixture("model_nested.keras")),
        &keras2ov::loader::Limits {
            isolate: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(format!("{:?}", isolated.model), format!("{:?}", here.model));
}

// ---------------------------------------------------------------------------------------
// Items 8 and 9 (lowering, handled on another branch): impossible reshapes.
// ---------------------------------------------------------------------------------------

const RESHAPES: [&str; 4] = [
    "hand_reshape_2p31x2p31.keras",
    "hand_reshape_m1_m1.keras",
    "hand_reshape_zero.keras",
    "hand_reshape_wrap_u64.keras",
];

fn run_reshape(name: &str) {
    fails(
        &[
            "run",
            &hostile(name),
            "-i",
            &fixture("layer_reshape.inputs.npz"),
            "-o",
            "{out}/o.npz",
        ],
        &[name, "reshape_1"],
    );
}

#[test]
fn impossible_reshapes_fail_cleanly_when_run() {
    for name in RESHAPES {
        run_reshape(name);
    }
}

#[test]
fn impossible_reshapes_are_refused_by_convert() {
    for name in RESHAPES {
        fails(
            &["convert", &hostile(name), "-o", "{out}/x.xml"],
            &[name, "reshape_1"],
        );
    }
}

/// Runs each supervised keras2ov command from a fresh, small process (see `support`).
#[test]
fn supervise_helper() {
    support::helper_main();
}
