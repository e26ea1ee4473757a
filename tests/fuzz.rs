//! A seeded mutation fuzzer over the fixtures, run through the built binary (issue 10).
//!
//! Each case takes a fixture model (`fixtures/models/*.keras`) or its input arrays
//! (`*.inputs.npz`), mutates it with one family of `keras2ov::fuzz` (or `h5_shape`, built
//! here because it writes HDF5), and runs `inspect`, `convert` or `run` on it under
//! supervision (`tests/support`): 4 GiB of address space, killed after 30 s, a private
//! `TMPDIR` and output directory. Every case must end with exit code 0 or 1, no signal, no
//! panic or internal error, one message of bounded size, at most 20 s of CPU and 1 GiB of
//! peak RSS, and nothing left in `TMPDIR` (nor in the output directory after a failure).
//!
//! `FUZZ_CASES` (default 300) and `FUZZ_SEED` (default 1) choose the cases; case `i` of seed
//! `s` is the same on every machine. `FUZZ_SECONDS` stops early when time is up, `FUZZ_JOBS`
//! (default 2) sets the parallel runs. `make fuzz FUZZ_CASES=N FUZZ_SEED=S` runs it with the
//! report printed. The HDF5 reader's CPU limit is set to 2 s (`KERAS2OV_HDF5_TIMEOUT`) so
//! that the cases where libhdf5 loops stay short; the default limit is tested by
//! `tests/hostile.rs`.
//!
//! Panics inside lowering (items 8 and 9 of the issue, on another branch) are counted as
//! "known: lowering" and saved, without failing the test, unless `FUZZ_STRICT=1`. Every
//! other finding fails it; each is saved to `target/fuzz-findings/` with its command.

mod support;

use keras2ov::fuzz::{self, Rng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{arg, Limits, Run, Sandbox, GIB};

/// Runs each supervised keras2ov command from a fresh, small process (see `support`).
#[test]
fn supervise_helper() {
    support::helper_main();
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Fixture {
    name: String,
    keras: PathBuf,
    inputs: PathBuf,
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.strip_suffix(".keras")?.to_string();
            let inputs = dir.join(format!("{name}.inputs.npz"));
            inputs.exists().then_some(Fixture {
                name,
                keras: p,
                inputs,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// CPU time a case may take: 20 s for the release binary; a debug build is slower.
const CPU_SECONDS: f64 = if cfg!(debug_assertions) { 100.0 } else { 20.0 };

/// Code paths that belong to lowering (items 8 and 9 of the issue, another branch).
const LOWERING: &[&str] = &[
    "src/lower/",
    "src/opgraph/",
    "src/autodiff/",
    "src/emit/",
    "src/interp.rs",
];

/// What one case is.
struct Case {
    index: u64,
    family: &'static str,
    fixture: String,
    /// The mutated file's name (its extension matters to the binary).
    file_name: String,
    bytes: Vec<u8>,
    /// The command, with `{file}` for the mutated file and `{out}` for the output directory.
    command: Vec<String>,
}

fn make_case(seed: u64, index: u64, fixtures: &[Fixture]) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(index));
    let f = rng.pick(fixtures);
    let model = std::fs::read(&f.keras).unwrap();
    let keras_case = |family: &'static str, bytes: Vec<u8>, command: &[&str]| Case {
        index,
        family,
        fixture: f.name.clone(),
        file_name: format!("{}.keras", f.name),
        bytes,
        command: command.iter().map(|s| s.to_string()).collect(),
    };
    match rng.below(10) {
        0..=4 => {
            let (family, bytes) = fuzz::mutate_keras(&model, &mut rng);
            keras_case(family, bytes, &["inspect", "{file}"])
        }
        5 => {
            let (family, bytes) = fuzz::mutate_keras(&model, &mut rng);
            keras_case(family, bytes, &["convert", "{file}", "-o", "{out}/m.xml"])
        }
        6 | 7 => {
            let bytes = h5_shape_lie(&model, &mut rng);
            let command: &[&str] = if rng.one_in(2) {
                &["inspect", "{file}"]
            } else {
                &["convert", "{file}", "-o", "{out}/m.xml"]
            };
            keras_case("h5_shape", bytes, command)
        }
        _ => {
            let npz = std::fs::read(&f.inputs).unwrap();
            let members = fuzz::unzip(&npz).unwrap_or_default();
            let keras = arg(&f.keras);
            if members.len() == 1 && rng.one_in(2) {
                let (family, bytes) = fuzz::mutate_npy(&members[0].1, &mut rng);
                Case {
                    index,
                    family,
                    fixture: f.name.clone(),
                    file_name: "input.npy".into(),
                    bytes,
                    command: vec![
                        "run".into(),
                        keras,
                        "-i".into(),
                        "{file}".into(),
                        "-o".into(),
                        "{out}/o.npz".into(),
                    ],
                }
            } else {
                let (family, bytes) = fuzz::mutate_npz(&npz, &mut rng);
                Case {
                    index,
                    family,
                    fixture: f.name.clone(),
                    file_name: "inputs.npz".into(),
                    bytes,
                    command: vec![
                        "run".into(),
                        keras,
                        "-i".into(),
                        "{file}".into(),
                        "-o".into(),
                        "{out}/o.npz".into(),
                    ],
                }
            }
        }
    }
}

/// Every dataset path of an HDF5 group, recursively.
fn datasets(g: &hdf5::Group, prefix: &str, out: &mut Vec<String>) {
    for name in g.member_names().unwrap_or_default() {
        let path = format!("{prefix}{name}");
        if let Ok(sub) = g.group(&name) {
            datasets(&sub, &format!("{path}/"), out);
        } else if g.dataset(&name).is_ok() {
            out.push(path);
        }
    }
}

/// `h5_shape`: one weight replaced by a dataset that declares far more than it stores.
fn h5_shape_lie(model: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut entries = fuzz::unzip(model).unwrap();
    let Some(h5) = entries.iter_mut().find(|(n, _)| n == "model.weights.h5") else {
        return model.to_vec();
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.h5");
    std::fs::write(&p, &h5.1).unwrap();
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        let mut all = Vec::new();
        datasets(&f, "", &mut all);
        if all.is_empty() {
            return model.to_vec();
        }
        let path = rng.pick(&all).clone();
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let g = if parent.is_empty() {
            f.group("/").unwrap()
        } else {
            f.group(parent).unwrap()
        };
        g.unlink(name).unwrap();
        let huge: &[&[usize]] = &[
            &[1 << 31, 1 << 31],
            &[(1 << 28) + 1],
            &[6, 1 << 28],
            &[1 << 20, 1 << 20, 1 << 20],
            &[65536, 65536],
            &[usize::MAX / 16],
        ];
        let shape = rng.pick(huge).to_vec();
        let chunk: Vec<usize> = shape.iter().map(|&d| d.clamp(1, 1024)).collect();
        let built = match rng.below(3) {
            0 => g
                .new_dataset::<f32>()
                .shape(shape.as_slice())
                .chunk(chunk.as_slice())
                .deflate(1)
                .create(name),
            1 => g
                .new_dataset::<f32>()
                .shape(shape.as_slice())
                .chunk(chunk.as_slice())
                .create(name),
            _ => g.new_dataset::<f32>().shape(shape.as_slice()).create(name),
        };
        if built.is_err() {
            // HDF5 itself refused the shape: declare a modest lie instead.
            let _ = g
                .new_dataset::<f32>()
                .shape([4096usize, 4096])
                .chunk([64usize, 64])
                .create(name);
        }
    }
    h5.1 = std::fs::read(&p).unwrap();
    fuzz::zip_entries(&entries, rng.one_in(2))
}

/// How a case ended, for the report.
fn category(run: &Run) -> String {
    if run.code == Some(0) {
        return "ok".into();
    }
    let e = &run.stderr;
    let is = |w: &str| e.contains(w);
    let c = if is("the HDF5 library crashed") {
        "error: libhdf5 crashed (isolated)"
    } else if is("the HDF5 library ran for more than") || is("the HDF5 library did not finish") {
        "error: libhdf5 stopped at its time limit (isolated)"
    } else if is("the HDF5 library") {
        "error: libhdf5 reader, other"
    } else if is("model.weights.h5, at") {
        "error: weights refused (shape, limit, structure)"
    } else if is("`config.json` is not valid JSON") || is("JSON values") {
        "error: config refused"
    } else if is("not a readable `.keras` archive")
        || is("the archive has no")
        || is(": entry `")
        || is("cannot read entry")
        || is("legacy Keras 2")
        || is("model.weights.npz")
    {
        "error: zip container refused"
    } else if is("metadata.json") {
        "error: metadata refused"
    } else if is("config.json") || is("in model `") {
        "error: config refused"
    } else if is(".npy") || is(".npz") || is("NumPy") || is("array '") {
        "error: input array refused"
    } else if is("unsupported") || is("cannot convert") || is("cannot differentiate") {
        "error: refused by lowering"
    } else if is("input '") || is("inputs") || is("batch") {
        "error: inputs do not fit the model"
    } else if is("OpenVINO") || is("compiling") {
        "error: refused by OpenVINO"
    } else {
        "error: other"
    };
    c.into()
}

/// Why a case is a finding, if it is one: `(known lowering issue, description)`.
fn finding(run: &Run, sb: &Sandbox) -> Option<(bool, String)> {
    if let Some(at) = run.stderr.find("panicked at ") {
        let place: String = run.stderr[at + 12..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let place = place.trim_end_matches(':').to_string();
        let known = LOWERING.iter().any(|p| place.starts_with(p));
        return Some((known, format!("panic at {place}")));
    }
    if run.stderr.contains("internal error") {
        return Some((false, "internal error".into()));
    }
    if run.timed_out {
        return Some((false, format!("time-out ({:.1} s)", run.seconds)));
    }
    if let Some(sig) = run.signal {
        return Some((false, format!("signal {sig}")));
    }
    if !matches!(run.code, Some(0 | 1)) {
        return Some((false, format!("exit code {:?}", run.code)));
    }
    if run.code == Some(1) && (!run.stderr.starts_with("error: ") || run.stderr.len() > 8192) {
        return Some((
            false,
            format!("not one bounded message ({} bytes)", run.stderr.len()),
        ));
    }
    if run.cpu_seconds >= CPU_SECONDS {
        return Some((false, format!("{:.1} s of CPU", run.cpu_seconds)));
    }
    if run.peak_rss > GIB {
        return Some((false, format!("peak RSS {} MiB", run.peak_rss >> 20)));
    }
    if !sb.tmp_entries().is_empty() {
        return Some((false, format!("left {:?} in TMPDIR", sb.tmp_entries())));
    }
    if run.code != Some(0) && !sb.out_entries().is_empty() {
        return Some((false, format!("failed but left {:?}", sb.out_entries())));
    }
    None
}

struct Tally {
    outcomes: BTreeMap<String, usize>,
    /// One message per outcome, as an example.
    examples: BTreeMap<String, String>,
    families: BTreeMap<String, BTreeMap<String, usize>>,
    findings: Vec<String>,
    known: Vec<String>,
}

fn save(dir: &Path, case: &Case, run: &Run, why: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let stem = format!("case{:05}-{}-{}", case.index, case.family, case.fixture);
    let file = dir.join(format!("{stem}-{}", case.file_name));
    std::fs::write(&file, &case.bytes).unwrap();
    std::fs::write(
        dir.join(format!("{stem}.txt")),
        format!(
            "{why}\ncommand: keras2ov {}\nexit {:?}, signal {:?}, {:.2} s, {:.2} s CPU, {} MiB\n\
             --- stderr ---\n{}\n",
            case.command.join(" "),
            run.code,
            run.signal,
            run.seconds,
            run.cpu_seconds,
            run.peak_rss >> 20,
            keras2ov::text::clip_to(&run.stderr, 4000)
        ),
    )
    .unwrap();
    file
}

#[test]
fn mutation_fuzz() {
    // 300 cases take about 20 s with the release binary, 25 s with a debug one.
    let cases = env_u64("FUZZ_CASES", 300);
    let seed = env_u64("FUZZ_SEED", 1);
    let jobs = env_u64("FUZZ_JOBS", 2).max(1);
    let budget = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let strict = std::env::var("FUZZ_STRICT").is_ok_and(|v| v == "1");
    let findings_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
    let fixtures = fixtures();
    assert!(fixtures.len() > 50, "fixtures missing");
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally {
        outcomes: BTreeMap::new(),
        examples: BTreeMap::new(),
        families: BTreeMap::new(),
        findings: Vec::new(),
        known: Vec::new(),
    });
    let limits = Limits {
        address_space: 4 * GIB,
        deadline: Duration::from_secs(30),
    };
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                if i >= cases || budget.is_some_and(|b| start.elapsed() >= b) {
                    break;
                }
                let case = make_case(seed, i, &fixtures);
                let sb = Sandbox::new();
                let file = sb.root.path().join(&case.file_name);
                std::fs::write(&file, &case.bytes).unwrap();
                let out = arg(&sb.out());
                let args: Vec<String> = case
                    .command
                    .iter()
                    .map(|a| a.replace("{file}", &arg(&file)).replace("{out}", &out))
                    .collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let run =
                    support::supervise(&args, &sb.tmp(), limits, &[("KERAS2OV_HDF5_TIMEOUT", "2")]);
                let outcome = match finding(&run, &sb) {
                    None => category(&run),
                    Some((true, why)) => {
                        let saved = save(&findings_dir.join("known-lowering"), &case, &run, &why);
                        let mut t = tally.lock().unwrap();
                        t.known.push(format!("{why}: {}", saved.display()));
                        "known: lowering panic (items 8/9)".into()
                    }
                    Some((false, why)) => {
                        let saved = save(&findings_dir, &case, &run, &why);
                        let mut t = tally.lock().unwrap();
                        t.findings.push(format!(
                            "case {i} ({} on {}, `{}`): {why}; saved as {}",
                            case.family,
                            case.fixture,
                            case.command[0],
                            saved.display()
                        ));
                        "FINDING".into()
                    }
                };
                let mut t = tally.lock().unwrap();
                let example = run.stderr.lines().next().unwrap_or("").to_string();
                t.examples
                    .entry(outcome.clone())
                    .or_insert_with(|| keras2ov::text::clip_to(&example, 160).into_owned());
                *t.outcomes.entry(outcome.clone()).or_default() += 1;
                *t.families
                    .entry(case.family.to_string())
                    .or_default()
                    .entry(outcome)
                    .or_default() += 1;
            });
        }
    });
    let t = tally.into_inner().unwrap();
    let ran: usize = t.outcomes.values().sum();
    let net = t
        .examples
        .values()
        .filter(|e| e.contains("characters left out"))
        .count();
    let mut report = format!(
        "mutation fuzz: seed {seed}, {ran} cases in {:.1} s ({jobs} jobs)\n\noutcomes:\n",
        start.elapsed().as_secs_f64()
    );
    for (k, v) in &t.outcomes {
        report.push_str(&format!("  {v:6}  {k}\n"));
        match t.examples.get(k) {
            Some(e) if !e.is_empty() => report.push_str(&format!("          e.g. {e}\n")),
            _ => {}
        }
    }
    report.push_str("\nby family:\n");
    for (fam, m) in &t.families {
        let n: usize = m.values().sum();
        let ok = m.get("ok").copied().unwrap_or(0);
        report.push_str(&format!("  {fam:12} {n:5} cases, {ok:4} ok\n"));
    }
    if net > 0 {
        report.push_str(&format!(
            "\n{net} example message(s) above were cut by the final length limit of main()\n"
        ));
    }
    for k in &t.known {
        report.push_str(&format!("known (lowering): {k}\n"));
    }
    for f in &t.findings {
        report.push_str(&format!("FINDING: {f}\n"));
    }
    eprintln!("{report}");
    let _ = std::fs::create_dir_all(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let _ = std::fs::write(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-report.txt"),
        &report,
    );
    assert!(t.findings.is_empty(), "{report}");
    assert!(!strict || t.known.is_empty(), "{report}");
}
