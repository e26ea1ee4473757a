//! Reading `model.weights.h5` in a child process, so that libhdf5 cannot take keras2ov down.
//!
//! libhdf5 is not safe on arbitrary bytes: a few flipped bytes make it crash (`H5HG_read`) or
//! loop forever (`H5C_protect`), and no check made before calling it can prevent that. So the
//! whole HDF5 walk (`super::weights::read_all`) runs in a child forked from the calling
//! process (no `exec`: the child has the parsed config in memory and the library loaded):
//!
//! - The fork happens while holding the `hdf5` crate's global lock, so no other thread of the
//!   process is inside libhdf5 at that moment; the lock is reentrant, and the child (a copy of
//!   the forking thread) keeps holding it, so its own HDF5 calls proceed.
//! - The child gets limits before touching the file: `RLIMIT_CPU` (`KERAS2OV_HDF5_TIMEOUT`, by
//!   default 5 s plus 1 s per 16 MiB of `model.weights.h5`), `RLIMIT_AS` (what the process
//!   maps already plus [`Limits::reader_memory`]), no core dumps, no file writes, stdin,
//!   stdout and stderr on `/dev/null`, and `PR_SET_PDEATHSIG` so it dies with its parent.
//! - It streams the weights back over a pipe, one framed record per variable, and records the
//!   HDF5 path it is about to read in a shared page, so the parent can say where it died.
//! - The parent reads with a wall-clock deadline (twice the CPU limit plus 2 s), kills the
//!   child when it passes, and turns a signal, a time-out or a malformed record into a
//!   [`LoadError::Hdf5Reader`] naming the file and the HDF5 path. It trusts nothing it
//!   receives: layer numbers, lengths, ranks and the total number of values are checked, and
//!   every buffer is allocated fallibly within the parameter limit.

use super::error::LoadError;
use super::limits::Limits;
use super::weights::{self, Sink};
use crate::layer_graph::{KerasModel, Weight};
use crate::text::clip;
use ndarray::{ArrayD, IxDyn};
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

type R<T> = Result<T, LoadError>;

/// Longest weight path accepted from the child (it clips them to 1000 characters).
const MAX_PATH_BYTES: u32 = 1 << 16;
/// Longest error message accepted from the child.
const MAX_MESSAGE_BYTES: u32 = 1 << 20;
/// Highest rank accepted (HDF5's `H5S_MAX_RANK`).
const MAX_RANK: u32 = 32;
/// Size of the shared page holding the path being read.
const PROGRESS_BYTES: usize = 4096;

const TAG_WEIGHT: u8 = b'W';
const TAG_ERROR: u8 = b'E';
const TAG_PANIC: u8 = b'P';
const TAG_DONE: u8 = b'D';

/// Read the weights of `model` from the HDF5 file at `h5_path` (`h5_len` bytes), in a child
/// process unless `limits.isolate` is off: `(layer number, weight)` pairs in reading order.
pub(crate) fn read_weights(
    model: &KerasModel,
    h5_path: &Path,
    h5_len: u64,
    file: &str,
    limits: &Limits,
) -> R<Vec<(usize, Weight)>> {
    if !limits.isolate {
        let mut c = weights::Collect::default();
        weights::read_all(model, h5_path, file, limits.max_params, &mut c)?;
        return Ok(c.weights);
    }
    let cpu = limits.hdf5_cpu(h5_len);
    let wall = limits.hdf5_wall(h5_len);
    let layers = weights::count_layers(model);
    let os_err = |what: &str| LoadError::Io {
        file: file.to_string(),
        source: std::io::Error::other(format!(
            "cannot start the HDF5 reader process ({what}: {})",
            std::io::Error::last_os_error()
        )),
    };
    let address_space = current_address_space().saturating_add(limits.reader_memory(h5_len));
    let progress = Progress::new().ok_or_else(|| os_err("mmap"))?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_err("pipe"));
    }
    let (rfd, wfd) = (fds[0], fds[1]);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let child = ChildSetup {
        parent,
        rfd,
        wfd,
        cpu_seconds: cpu.as_secs().max(1),
        address_space,
        progress: &progress,
    };
    // Fork under the hdf5 crate's (reentrant) global lock: no other thread is inside libhdf5.
    let pid = hdf5::sync::sync(|| {
        // SAFETY: the child only runs `child_main`, which ends in `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child_main(&child, model, h5_path, file, limits.max_params);
        }
        // SAFETY: the parent's copy of the write end is closed while still holding the lock,
        // so a reader forked by another thread cannot inherit it.
        unsafe { libc::close(wfd) };
        pid
    });
    if pid < 0 {
        let e = os_err("fork");
        // SAFETY: closing our own read end.
        unsafe { libc::close(rfd) };
        return Err(e);
    }
    let mut rx = Rx {
        fd: rfd,
        pid,
        deadline: Instant::now() + wall,
        buf: vec![0; 1 << 16],
        pos: 0,
        len: 0,
        status: None,
    };
    let received = receive(&mut rx, layers, limits.max_params);
    // After a complete report the child exits by itself; otherwise it may be stuck (or
    // blocked writing to a pipe nobody reads any more): stop it now.
    let status = rx.finish(received.is_err());
    let at = progress.read();
    let reader_err = |what: String| LoadError::Hdf5Reader {
        file: file.to_string(),
        path: at.clone(),
        what,
    };
    match received {
        Ok(Outcome::Done(w)) => Ok(w),
        Ok(Outcome::Failed { path, message }) => Err(LoadError::Weights {
            file: file.to_string(),
            path,
            message,
        }),
        Ok(Outcome::Panicked(message)) => Err(LoadError::Internal {
            file: file.to_string(),
            message: format!("the HDF5 reader panicked: {message}"),
        }),
        Err(RxError::OutOfMemory { path, n }) => Err(LoadError::Weights {
            file: file.to_string(),
            path,
            message: format!("not enough memory for its {n} values"),
        }),
        Err(RxError::Timeout) => Err(reader_err(format!(
            "did not finish within {} s and was stopped (it may use {} s of CPU time, set by \
             {}, and twice that plus 2 s of wall-clock time)",
            wall.as_secs(),
            cpu.as_secs(),
            super::limits::ENV_HDF5_TIMEOUT
        ))),
        Err(RxError::Protocol(detail)) => Err(reader_err(format!(
            "sent malformed results ({detail}; the reader's memory was probably corrupted)"
        ))),
        Err(RxError::Io(e)) => Err(reader_err(format!("could not be read from ({e})"))),
        Err(RxError::Eof) => Err(reader_err(match status {
            Some(Status::Signal(sig)) if sig == libc::SIGXCPU => format!(
                "ran for more than {} s of CPU time and was stopped ({} sets that limit)",
                cpu.as_secs(),
                super::limits::ENV_HDF5_TIMEOUT
            ),
            Some(Status::Signal(sig)) if sig == libc::SIGKILL => {
                "was killed (out of memory, or CPU time far over the limit)".to_string()
            }
            Some(Status::Signal(sig)) => format!("crashed ({})", signal_name(sig)),
            Some(Status::Exit(code)) => format!("stopped unexpectedly (exit status {code})"),
            None => "stopped unexpectedly".to_string(),
        })),
    }
}

/// What the parent needs to set the child up (all computed before the fork: the child must
/// not allocate more than it needs or take locks other threads may have held).
struct ChildSetup<'a> {
    parent: libc::pid_t,
    rfd: RawFd,
    wfd: RawFd,
    cpu_seconds: u64,
    address_space: u64,
    progress: &'a Progress,
}

/// The child: limits, then the walk, then `_exit`. Never returns.
fn child_main(
    c: &ChildSetup,
    model: &KerasModel,
    h5_path: &Path,
    file: &str,
    max_params: u64,
) -> ! {
    // SAFETY: plain system calls on our own descriptors and limits.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != c.parent {
            libc::_exit(3);
        }
        libc::close(c.rfd);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
        set_limit(libc::RLIMIT_CORE, 0, 0);
        set_limit(libc::RLIMIT_FSIZE, 0, 0);
        set_limit(libc::RLIMIT_CPU, c.cpu_seconds, c.cpu_seconds + 1);
        set_limit(libc::RLIMIT_AS, c.address_space, c.address_space);
    }
    // SAFETY: `wfd` is the pipe's write end, owned by this process from here on.
    let out = unsafe { std::fs::File::from_raw_fd(c.wfd) };
    let mut tx = Tx {
        out: std::io::BufWriter::with_capacity(1 << 16, out),
        progress: c.progress,
        scratch: Vec::new(),
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        weights::read_all(model, h5_path, file, max_params, &mut tx)
    }));
    let sent = match r {
        Ok(Ok(())) => tx.frame(TAG_DONE, |_| Ok(())),
        Ok(Err(LoadError::Weights { path, message, .. })) => tx.frame(TAG_ERROR, |w| {
            put_bytes(w, path.as_bytes())?;
            put_bytes(w, message.as_bytes())
        }),
        Ok(Err(other)) => tx.frame(TAG_ERROR, |w| {
            put_bytes(w, b"/")?;
            put_bytes(w, other.to_string().as_bytes())
        }),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            tx.frame(TAG_PANIC, |w| put_bytes(w, message.as_bytes()))
        }
    };
    let flushed = sent.and_then(|()| tx.out.flush());
    // SAFETY: leaving without running destructors or atexit handlers (libhdf5's among them).
    unsafe { libc::_exit(if flushed.is_ok() { 0 } else { 2 }) }
}

/// Lower a resource limit (never raise it above what the process already has).
unsafe fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid rlimit.
    if unsafe { libc::getrlimit(resource, &mut cur) } != 0 {
        return;
    }
    let hard = hard.min(cur.rlim_max);
    let soft = soft.min(cur.rlim_cur).min(hard);
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `new` is a valid rlimit.
    unsafe { libc::setrlimit(resource, &new) };
}

/// The process's current virtual size, from `/proc/self/statm` (0 when unknown).
fn current_address_space() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    s.split_whitespace()
        .next()
        .and_then(|p| p.parse::<u64>().ok())
        .map_or(0, |pages| pages.saturating_mul(page))
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV, a memory access violation",
        libc::SIGBUS => "SIGBUS, a bad memory access",
        libc::SIGABRT => "SIGABRT, aborted",
        libc::SIGFPE => "SIGFPE, an arithmetic fault",
        libc::SIGILL => "SIGILL, an illegal instruction",
        libc::SIGXFSZ => "SIGXFSZ, it tried to write a file",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// A page shared with the child: the HDF5 path it is reading (length, then UTF-8 bytes).
struct Progress {
    page: *mut u8,
}

impl Progress {
    fn new() -> Option<Progress> {
        // SAFETY: an anonymous shared mapping, unmapped in Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PROGRESS_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let progress = Progress { page: p.cast() };
        progress.set("/");
        Some(progress)
    }

    fn len(&self) -> &AtomicU32 {
        // SAFETY: the page is 4096-byte aligned and lives as long as `self`.
        unsafe { &*(self.page as *const AtomicU32) }
    }

    /// In the child: record `path` (cut to the page).
    fn set(&self, path: &str) {
        let max = PROGRESS_BYTES - 4;
        let mut n = path.len().min(max);
        while !path.is_char_boundary(n) {
            n -= 1;
        }
        self.len().store(0, Ordering::Release);
        // SAFETY: `n` bytes fit after the length field.
        unsafe { std::ptr::copy_nonoverlapping(path.as_ptr(), self.page.add(4), n) };
        self.len().store(n as u32, Ordering::Release);
    }

    /// In the parent, once the child is gone: the last path recorded, clipped.
    fn read(&self) -> String {
        let n = (self.len().load(Ordering::Acquire) as usize).min(PROGRESS_BYTES - 4);
        // SAFETY: `n` bytes after the length field are within the page.
        let bytes = unsafe { std::slice::from_raw_parts(self.page.add(4), n) };
        clip(&String::from_utf8_lossy(bytes)).into_owned()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // SAFETY: unmapping the page mapped in `new`.
        unsafe { libc::munmap(self.page.cast(), PROGRESS_BYTES) };
    }
}

/// The child's [`Sink`]: progress to the shared page, weights to the pipe.
struct Tx<'a> {
    out: std::io::BufWriter<std::fs::File>,
    progress: &'a Progress,
    scratch: Vec<u8>,
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) -> std::io::Result<()> {
    w.extend_from_slice(&(b.len() as u32).to_le_bytes());
    w.extend_from_slice(b);
    Ok(())
}

impl Tx<'_> {
    /// Write one frame: its tag, then what `body` puts in the scratch buffer.
    fn frame(
        &mut self,
        tag: u8,
        body: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.scratch.clear();
        self.scratch.push(tag);
        body(&mut self.scratch)?;
        self.out.write_all(&self.scratch)
    }
}

impl Sink for Tx<'_> {
    fn at(&mut self, path: &str) {
        self.progress.set(path);
    }

    fn weight(&mut self, layer: usize, w: Weight) -> R<()> {
        let dead = |_| -> LoadError {
            // The parent is gone or stopped listening: nothing left to do.
            // SAFETY: leaving the child.
            unsafe { libc::_exit(4) }
        };
        let shape = w.value.shape().to_vec();
        self.frame(TAG_WEIGHT, |b| {
            b.extend_from_slice(&(layer as u64).to_le_bytes());
            put_bytes(b, w.path.as_bytes())?;
            b.extend_from_slice(&(shape.len() as u32).to_le_bytes());
            for d in &shape {
                b.extend_from_slice(&(*d as u64).to_le_bytes());
            }
            Ok(())
        })
        .map_err(dead)?;
        let data: std::borrow::Cow<[f32]> = match w.value.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(w.value.iter().copied().collect()),
        };
        let mut bytes = Vec::with_capacity(1 << 16);
        for chunk in data.chunks(1 << 14) {
            bytes.clear();
            for v in chunk {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            self.out.write_all(&bytes).map_err(dead)?;
        }
        Ok(())
    }
}

/// What the child reported.
enum Outcome {
    Done(Vec<(usize, Weight)>),
    Failed { path: String, message: String },
    Panicked(String),
}

enum RxError {
    /// The pipe closed before the last frame: the child died.
    Eof,
    Timeout,
    Io(std::io::Error),
    Protocol(String),
    OutOfMemory {
        path: String,
        n: u64,
    },
}

enum Status {
    Exit(i32),
    Signal(i32),
}

/// The parent's end of the pipe, read with a deadline.
struct Rx {
    fd: RawFd,
    pid: libc::pid_t,
    deadline: Instant,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Set once the child has been reaped.
    status: Option<Option<Status>>,
}

impl Rx {
    /// Reap the child if it has exited (without blocking).
    fn reap(&mut self, block: bool) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut st, if block { 0 } else { libc::WNOHANG }) };
        if r == self.pid {
            self.status = Some(Some(if libc::WIFSIGNALED(st) {
                Status::Signal(libc::WTERMSIG(st))
            } else {
                Status::Exit(libc::WEXITSTATUS(st))
            }));
            true
        } else if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // ECHILD: someone else reaped it (SIGCHLD ignored); its status is lost.
            self.status = Some(None);
            true
        } else {
            false
        }
    }

    /// Wait until the pipe is readable (`true`) or `ms` pass (`false`).
    fn readable(&self, ms: i32) -> Result<bool, RxError> {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(RxError::Io(e));
        }
        Ok(r > 0)
    }

    /// Refill the buffer: at least one byte, or an error.
    fn fill(&mut self) -> Result<(), RxError> {
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(RxError::Timeout);
            }
            let ms = (self.deadline - now)
                .min(Duration::from_millis(200))
                .as_millis() as i32;
            if !self.readable(ms.max(1))? {
                // Nothing to read: if the child is gone (while something else holds a copy of
                // the write end), take what is left and stop.
                if self.reap(false) && !self.readable(0)? {
                    return Err(RxError::Eof);
                }
                continue;
            }
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(self.fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) {
                    continue;
                }
                return Err(RxError::Io(e));
            }
            if n == 0 {
                return Err(RxError::Eof);
            }
            self.pos = 0;
            self.len = n as usize;
            return Ok(());
        }
    }

    fn bytes(&mut self, out: &mut [u8]) -> Result<(), RxError> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.len {
                self.fill()?;
            }
            let k = (self.len - self.pos).min(out.len() - done);
            out[done..done + k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            done += k;
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, RxError> {
        let mut b = [0u8; 1];
        self.bytes(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32, RxError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, RxError> {
        let mut b = [0u8; 8];
        self.bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn text(&mut self, max: u32) -> Result<String, RxError> {
        let n = self.u32()?;
        if n > max {
            return Err(RxError::Protocol(format!("a string of {n} bytes")));
        }
        let mut b = vec![0u8; n as usize];
        self.bytes(&mut b)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// `n` f32 values, in a buffer allocated fallibly.
    fn f32s(&mut self, n: u64, path: &str) -> Result<Vec<f32>, RxError> {
        let oom = || RxError::OutOfMemory {
            path: path.to_string(),
            n,
        };
        let count = usize::try_from(n).map_err(|_| oom())?;
        let mut v: Vec<f32> = Vec::new();
        v.try_reserve_exact(count).map_err(|_| oom())?;
        while v.len() < count {
            if self.pos == self.len {
                self.fill()?;
            }
            let avail = (self.len - self.pos) / 4;
            if avail == 0 {
                let mut b = [0u8; 4];
                self.bytes(&mut b)?;
                v.push(f32::from_le_bytes(b));
                continue;
            }
            let k = avail.min(count - v.len());
            let src = &self.buf[self.pos..self.pos + 4 * k];
            v.extend(
                src.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            self.pos += 4 * k;
        }
        Ok(v)
    }

    /// Make sure the child is gone: kill it at once if `kill`, else wait for it until the
    /// deadline, then kill it.
    fn finish(&mut self, kill: bool) -> Option<Status> {
        if kill && !self.reap(false) {
            // SAFETY: killing our own child, then reaping it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.reap(true);
        }
        while !self.reap(false) {
            if Instant::now() >= self.deadline {
                // SAFETY: killing our own child.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                self.reap(true);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // SAFETY: closing our read end.
        unsafe { libc::close(self.fd) };
        self.status.take().flatten()
    }
}

/// Read frames until the child is done, checking each against what the parent knows.
fn receive(rx: &mut Rx, layers: usize, max_params: u64) -> Result<Outcome, RxError> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    loop {
        match rx.u8()? {
            TAG_WEIGHT => {
                let layer = rx.u64()?;
                if layer >= layers as u64 {
                    return Err(RxError::Protocol(format!("layer number {layer}")));
                }
                let path = rx.text(MAX_PATH_BYTES)?;
                let rank = rx.u32()?;
                if rank > MAX_RANK {
                    return Err(RxError::Protocol(format!("rank {rank}")));
                }
                let mut shape = Vec::with_capacity(rank as usize);
                let mut n: u64 = 1;
                for _ in 0..rank {
                    let d = rx.u64()?;
                    n = n
                        .checked_mul(d)
                        .ok_or_else(|| RxError::Protocol("a shape that overflows".into()))?;
                    shape.push(
                        usize::try_from(d)
                            .map_err(|_| RxError::Protocol(format!("dimension {d}")))?,
                    );
                }
                total = total.saturating_add(n);
                if total > max_params {
                    return Err(RxError::Protocol(format!(
                        "more than {max_params} values in all"
                    )));
                }
                let data = rx.f32s(n, &path)?;
                let value = ArrayD::from_shape_vec(IxDyn(&shape), data)
                    .map_err(|e| RxError::Protocol(e.to_string()))?;
                out.push((layer as usize, Weight { path, value }));
            }
            TAG_ERROR => {
                let path = rx.text(MAX_PATH_BYTES)?;
                let message = rx.text(MAX_MESSAGE_BYTES)?;
                return Ok(Outcome::Failed { path, message });
            }
            TAG_PANIC => return Ok(Outcome::Panicked(rx.text(MAX_MESSAGE_BYTES)?)),
            TAG_DONE => return Ok(Outcome::Done(out)),
            t => return Err(RxError::Protocol(format!("record type {t}"))),
        }
    }
}
