//! Running the `keras2ov` binary on hostile files under supervision, as an attacker's victim
//! would: an address-space limit (like `prlimit --as`), a wall-clock deadline after which the
//! process is killed (like `timeout -s KILL`), a private `TMPDIR`, and the peak RSS of the
//! process and of the children it reaped (the isolated HDF5 reader among them).
//!
//! The peak RSS the kernel reports for a child includes the RSS of the process it was forked
//! from, at the fork. A test process that built big files is big, so each run is started by a
//! small helper: this test binary re-executed (fresh, a few MiB) to run only
//! `supervise_helper`, which every test file using this module must declare:
//!
//! ```ignore
//! #[test]
//! fn supervise_helper() {
//!     support::helper_main();
//! }
//! ```
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const GIB: u64 = 1 << 30;

/// How one run ended.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Killed at the deadline.
    pub timed_out: bool,
    pub seconds: f64,
    /// User plus system CPU time of the process and its reaped children.
    pub cpu_seconds: f64,
    /// Peak resident set of the process and its reaped children, in bytes.
    pub peak_rss: u64,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything a clean failure must satisfy: exit 1, no signal, no time-out, one `error:`
    /// message (no panic, no internal error) of bounded size that contains each of `words`.
    pub fn assert_clean_error(&self, words: &[&str]) {
        self.assert_no_crash();
        assert_eq!(self.code, Some(1), "{self:#?}");
        assert!(
            self.stderr.starts_with("error: "),
            "{:?}: stderr must be one error message:\n{}",
            self.args,
            self.stderr
        );
        assert!(
            self.stderr.len() < 8192,
            "{:?}: the message is {} bytes long",
            self.args,
            self.stderr.len()
        );
        for w in words {
            assert!(
                self.stderr.contains(w),
                "{:?}: the message should contain {w:?}:\n{}",
                self.args,
                self.stderr
            );
        }
    }

    /// No signal, no time-out, no panic or internal error, exit code 0 or 1.
    pub fn assert_no_crash(&self) {
        assert!(
            !self.timed_out,
            "{:?} did not finish in time ({:.1} s)",
            self.args, self.seconds
        );
        assert_eq!(
            self.signal, None,
            "{:?} was killed by a signal: {self:#?}",
            self.args
        );
        assert!(
            matches!(self.code, Some(0 | 1)),
            "{:?} exited with {:?}:\n{}",
            self.args,
            self.code,
            self.stderr
        );
        for bad in ["panicked", "internal error", "RUST_BACKTRACE"] {
            assert!(
                !self.stderr.contains(bad),
                "{:?}: stderr says {bad:?}:\n{}",
                self.args,
                self.stderr
            );
        }
    }

    pub fn assert_within(&self, seconds: f64, bytes: u64) {
        assert!(
            self.seconds < seconds,
            "{:?} took {:.1} s (limit {seconds} s)",
            self.args,
            self.seconds
        );
        assert!(
            self.peak_rss <= bytes,
            "{:?} peaked at {} MiB (limit {} MiB)",
            self.args,
            self.peak_rss >> 20,
            bytes >> 20
        );
    }
}

/// A private temporary directory and output directory for one run.
pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join("tmp")).unwrap();
        std::fs::create_dir(root.path().join("out")).unwrap();
        Sandbox { root }
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    pub fn out(&self) -> PathBuf {
        self.root.path().join("out")
    }

    pub fn tmp_entries(&self) -> Vec<PathBuf> {
        entries(&self.tmp())
    }

    pub fn out_entries(&self) -> Vec<PathBuf> {
        entries(&self.out())
    }

    /// Nothing left in `TMPDIR`, nor in the output directory.
    pub fn assert_empty(&self, run: &Run) {
        assert!(
            self.tmp_entries().is_empty(),
            "{:?} left {:?} in TMPDIR",
            run.args,
            self.tmp_entries()
        );
        assert!(
            self.out_entries().is_empty(),
            "{:?} left {:?} in the output directory",
            run.args,
            self.out_entries()
        );
    }

    /// Run `keras2ov args...` with this sandbox's `TMPDIR`.
    pub fn run(&self, args: &[&str], limits: Limits) -> Run {
        supervise(args, &self.tmp(), limits, &[])
    }
}

pub fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Limits of one supervised run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub address_space: u64,
    pub deadline: Duration,
}

impl Limits {
    /// What the issue's fuzzer used: 4 GiB of address space, killed after 20 s.
    pub fn fuzzer() -> Limits {
        Limits {
            address_space: 4 * GIB,
            deadline: Duration::from_secs(20),
        }
    }
}

const HELPER_ENV: &str = "KERAS2OV_TEST_SUPERVISE";
const REPORT: &str = "@@keras2ov-supervised@@";

/// Run the binary with `args`, `TMPDIR=tmpdir` and `env`, under `limits`, through the helper.
pub fn supervise(args: &[&str], tmpdir: &Path, limits: Limits, env: &[(&str, &str)]) -> Run {
    let capture = tempfile::tempdir().expect("capture dir");
    let request = serde_json::json!({
        "args": args,
        "tmpdir": tmpdir,
        "address_space": limits.address_space,
        "deadline_ms": limits.deadline.as_millis() as u64,
        "env": env,
        "stdout": capture.path().join("stdout"),
        "stderr": capture.path().join("stderr"),
    });
    let helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "supervise_helper",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(HELPER_ENV, request.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the supervising helper");
    let text = String::from_utf8_lossy(&helper.stdout);
    let line = text
        .lines()
        .find_map(|l| l.find(REPORT).map(|i| &l[i + REPORT.len()..]))
        .unwrap_or_else(|| panic!("the helper reported nothing:\n{text}"));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    let read = |name: &str| {
        String::from_utf8_lossy(&std::fs::read(capture.path().join(name)).unwrap_or_default())
            .into_owned()
    };
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: r["code"].as_i64().map(|c| c as i32),
        signal: r["signal"].as_i64().map(|c| c as i32),
        timed_out: r["timed_out"].as_bool().unwrap(),
        seconds: r["seconds"].as_f64().unwrap(),
        cpu_seconds: r["cpu_seconds"].as_f64().unwrap(),
        peak_rss: r["peak_rss"].as_u64().unwrap(),
        stdout: read("stdout"),
        stderr: read("stderr"),
    }
}

/// The helper's side: when this binary was started by [`supervise`], run the request and
/// print the report; otherwise do nothing.
pub fn helper_main() {
    let Ok(request) = std::env::var(HELPER_ENV) else {
        return;
    };
    let r: serde_json::Value = serde_json::from_str(&request).unwrap();
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let args = strs(&r["args"]);
    let env: Vec<(String, String)> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let kv = strs(kv);
            (kv[0].clone(), kv[1].clone())
        })
        .collect();
    let limits = Limits {
        address_space: r["address_space"].as_u64().unwrap(),
        deadline: Duration::from_millis(r["deadline_ms"].as_u64().unwrap()),
    };
    let run = supervise_here(
        &args,
        Path::new(r["tmpdir"].as_str().unwrap()),
        limits,
        &env,
        Path::new(r["stdout"].as_str().unwrap()),
        Path::new(r["stderr"].as_str().unwrap()),
    );
    println!("\n{REPORT}{run}");
}

/// Run the binary from this process; its output goes to the files `stdout` and `stderr`.
fn supervise_here(
    args: &[String],
    tmpdir: &Path,
    limits: Limits,
    env: &[(String, String)],
    stdout: &Path,
    stderr: &Path,
) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keras2ov"));
    cmd.args(args)
        .env("TMPDIR", tmpdir)
        .env_remove("RUST_BACKTRACE")
        .env_remove(HELPER_ENV)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(std::fs::File::create(stderr).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let address_space = limits.address_space;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let as_limit = libc::rlimit {
                rlim_cur: address_space,
                rlim_max: address_space,
            };
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_AS, &as_limit);
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn keras2ov");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if start.elapsed() >= limits.deadline {
            timed_out = true;
            // SAFETY: killing our own child, then reaping it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = start.elapsed().as_secs_f64();
    // The child was reaped by wait4: `child` must not wait for it again.
    std::mem::forget(child);
    let signaled = libc::WIFSIGNALED(status);
    serde_json::json!({
        "code": if signaled { None } else { Some(libc::WEXITSTATUS(status)) },
        "signal": if signaled && !timed_out { Some(libc::WTERMSIG(status)) } else { None },
        "timed_out": timed_out,
        "seconds": seconds,
        "cpu_seconds": tv(usage.ru_utime) + tv(usage.ru_stime),
        "peak_rss": (usage.ru_maxrss as u64) * 1024,
    })
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

/// `path` as a `&str` argument.
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}
