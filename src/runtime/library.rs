//! Finding and loading the OpenVINO C library.
//!
//! The OpenVINO C library is loaded at run time (the `openvino` crate's `runtime-linking`), once
//! per process, from the first of:
//! 0. a path given by [`use_library`] before the first OpenVINO call (the Python module gives
//!    the one in the `openvino` package it runs beside);
//! 1. `OPENVINO_LIB`, the path of the library file itself;
//! 2. the Python environment the executable is installed in (`PREFIX/bin/keras2ov` from a
//!    wheel: `PREFIX/lib/python3*/site-packages/openvino/libs/`), then a project-local `.venv` (`.venv/lib/python3*/site-packages/openvino/libs/libopenvino_c.so*`)
//!    in the current directory or one of its ancestors, the crate directory, or an ancestor of
//!    the running executable;
//! 3. the `openvino` Python package of `python3` on `PATH`;
//! 4. the usual OpenVINO install locations (`openvino-finder`).
//!

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{Result, RuntimeError, OPENVINO_VERSION};

static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Use the OpenVINO C library at `path` instead of searching for it. Call it before any
/// OpenVINO call; an error if another library is in use already.
pub fn use_library(path: &Path) -> Result<()> {
    let clash = |p: &Path| {
        RuntimeError::Library(format!(
            "the OpenVINO library {} is in use already; {} cannot be used instead",
            p.display(),
            path.display()
        ))
    };
    if let Some(Ok(p)) = LOADED.get() {
        return if p == path { Ok(()) } else { Err(clash(p)) };
    }
    let chosen = CHOSEN.get_or_init(|| path.to_path_buf());
    if chosen != path {
        return Err(clash(chosen));
    }
    Ok(())
}

/// Find and load the OpenVINO C library (once per process); returns its path.
pub fn load_library() -> Result<PathBuf> {
    LOADED
        .get_or_init(|| {
            let path = match CHOSEN.get() {
                Some(p) => p.clone(),
                None => find_library()?,
            };
            openvino_sys::library::load_from(path.clone()).map_err(|e| {
                format!(
                    "cannot load the OpenVINO runtime library {}: {e}\n{}",
                    path.display(),
                    install_hint()
                )
            })?;
            Ok(path)
        })
        .clone()
        .map_err(RuntimeError::Library)
}

fn install_hint() -> String {
    format!(
        "Install the OpenVINO runtime with `make setup` (a project-local .venv with \
         openvino=={OPENVINO_VERSION}), or `pip install openvino=={OPENVINO_VERSION}`, or set \
         OPENVINO_LIB to the path of libopenvino_c.so.NNNN (in site-packages/openvino/libs/ of \
         a pip install)."
    )
}

/// Locate the OpenVINO C library without loading it (see the module docs for the order).
pub fn find_library() -> std::result::Result<PathBuf, String> {
    if let Some(p) = env::var_os("OPENVINO_LIB")
        .is_none()
        .then(exe_prefix_library)
        .flatten()
    {
        return Ok(p);
    }
    find_library_in(env::var_os("OPENVINO_LIB"), &venv_roots(), true, true)
}

/// The library of the Python environment the running executable is installed in:
/// `PREFIX/bin/keras2ov` with `openvino` in `PREFIX`'s site-packages (a wheel install).
fn exe_prefix_library() -> Option<PathBuf> {
    prefix_library(&env::current_exe().ok()?)
}

/// `exe` is `PREFIX/bin/NAME`: the OpenVINO C library in `PREFIX`'s site-packages.
fn prefix_library(exe: &Path) -> Option<PathBuf> {
    lib_in_venv(exe.parent()?.parent()?)
}

/// [`find_library`] with its inputs explicit: the value of `OPENVINO_LIB`, the directories
/// that may hold a `.venv`, and whether to ask `python3` and the standard install locations.
fn find_library_in(
    openvino_lib: Option<std::ffi::OsString>,
    roots: &[PathBuf],
    ask_python: bool,
    ask_finder: bool,
) -> std::result::Result<PathBuf, String> {
    if let Some(v) = openvino_lib {
        let p = PathBuf::from(&v);
        if p.is_file() {
            return Ok(p);
        }
        return Err(format!(
            "OPENVINO_LIB={} is not a file: it must be the path of the OpenVINO C library \
             (libopenvino_c.so.NNNN).\n{}",
            p.display(),
            install_hint()
        ));
    }
    for root in roots {
        if let Some(p) = lib_in_venv(&root.join(".venv")) {
            return Ok(p);
        }
    }
    let python = if ask_python {
        match python_openvino_dir() {
            Ok(dir) => match lib_in_dir(&dir.join("libs")).or_else(|| lib_in_dir(&dir)) {
                Some(p) => return Ok(p),
                None => format!("its openvino package at {} has no C library", dir.display()),
            },
            Err(why) => why,
        }
    } else {
        "not asked".to_string()
    };
    if ask_finder {
        let found = std::panic::catch_unwind(|| {
            openvino_finder::find("openvino_c", openvino_finder::Linking::Dynamic)
        });
        if let Ok(Some(p)) = found {
            return Ok(p);
        }
    }
    let roots: Vec<String> = roots
        .iter()
        .map(|r| r.join(".venv").display().to_string())
        .collect();
    Err(format!(
        "OpenVINO runtime library (libopenvino_c) not found. Searched: OPENVINO_LIB (not set); \
         project virtualenvs {}; python3 on PATH ({python}); standard OpenVINO install \
         locations.\n{}",
        roots.join(", "),
        install_hint()
    ))
}

/// Directories that may hold a project `.venv`: the current directory and its ancestors, the
/// crate directory, the executable's ancestors.
fn venv_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut push = |p: &Path| {
        if !roots.iter().any(|r| r == p) {
            roots.push(p.to_path_buf());
        }
    };
    if let Ok(cwd) = env::current_dir() {
        cwd.ancestors().for_each(&mut push);
    }
    push(Path::new(env!("CARGO_MANIFEST_DIR")));
    if let Ok(exe) = env::current_exe() {
        exe.ancestors().skip(1).for_each(&mut push);
    }
    roots
}

/// `venv/lib/python3*/site-packages/openvino/libs/<lib>` (or `venv/Lib/site-packages/...`).
fn lib_in_venv(venv: &Path) -> Option<PathBuf> {
    let mut site_packages = vec![venv.join("Lib").join("site-packages")];
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        let mut pys: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path().join("site-packages"))
            .collect();
        pys.sort();
        site_packages.splice(0..0, pys);
    }
    site_packages
        .iter()
        .find_map(|sp| lib_in_dir(&sp.join("openvino").join("libs")))
}

/// The OpenVINO C library in `dir`: `libopenvino_c.so`, `libopenvino_c.so.2641`,
/// `libopenvino_c.2641.dylib`, `openvino_c.dll`.
fn lib_in_dir(dir: &Path) -> Option<PathBuf> {
    let stem = format!("{}openvino_c", env::consts::DLL_PREFIX);
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix(&stem)
                .is_some_and(|rest| rest.starts_with('.') && rest.contains(env::consts::DLL_SUFFIX))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Where `python3` on PATH has the `openvino` package.
fn python_openvino_dir() -> std::result::Result<PathBuf, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import openvino, os; print(os.path.dirname(openvino.__file__))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("no python3: {e}"))?;
    if !out.status.success() {
        return Err("python3 has no openvino package".into());
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if dir.is_empty() {
        return Err("python3 printed no openvino directory".into());
    }
    Ok(PathBuf::from(dir))
}

/// The loaded OpenVINO's build number, e.g. `2026.4.1-22982-...`.
pub fn openvino_version() -> Result<String> {
    load_library()?;
    Ok(openvino::version().build_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_search_order_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        // OPENVINO_LIB wins, and a wrong one is an error, not a fallback
        let lib = root.join("libopenvino_c.so.1");
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(
            find_library_in(Some(lib.clone().into()), &[], false, false),
            Ok(lib)
        );
        let err = find_library_in(Some(root.join("nope").into()), &[], false, false).unwrap_err();
        assert!(
            err.contains("OPENVINO_LIB=") && err.contains("make setup"),
            "{err}"
        );
        // nothing anywhere: one message that says how to install
        let err = find_library_in(None, std::slice::from_ref(&root), false, false).unwrap_err();
        assert!(err.contains("not found"), "{err}");
        assert!(err.contains("make setup"), "{err}");
        assert!(
            err.contains(&format!("pip install openvino=={OPENVINO_VERSION}")),
            "{err}"
        );
        assert!(err.contains("OPENVINO_LIB"), "{err}");
        assert!(
            err.contains(&root.join(".venv").display().to_string()),
            "{err}"
        );
        // a .venv under a root is found
        if cfg!(target_os = "linux") {
            let libs = root.join(".venv/lib/python3.11/site-packages/openvino/libs");
            std::fs::create_dir_all(&libs).unwrap();
            std::fs::write(libs.join("libopenvino_c.so.2641"), b"").unwrap();
            assert_eq!(
                find_library_in(None, std::slice::from_ref(&root), false, false),
                Ok(libs.join("libopenvino_c.so.2641"))
            );
        }
    }

    #[test]
    fn library_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let libs = dir.path().join("openvino").join("libs");
        std::fs::create_dir_all(&libs).unwrap();
        assert_eq!(lib_in_dir(&libs), None);
        std::fs::write(libs.join("libopenvino_c_extra.so"), b"").unwrap();
        std::fs::write(libs.join("libopenvino.so.2641"), b"").unwrap();
        assert_eq!(lib_in_dir(&libs), None);
        if cfg!(target_os = "linux") {
            std::fs::write(libs.join("libopenvino_c.so.2641"), b"").unwrap();
            assert_eq!(lib_in_dir(&libs), Some(libs.join("libopenvino_c.so.2641")));
            let venv = dir.path().join(".venv");
            let sp = venv.join("lib/python3.12/site-packages/openvino/libs");
            std::fs::create_dir_all(&sp).unwrap();
            std::fs::write(sp.join("libopenvino_c.so.2641"), b"").unwrap();
            assert_eq!(lib_in_venv(&venv), Some(sp.join("libopenvino_c.so.2641")));
            // a wheel's binary, PREFIX/bin/keras2ov, uses PREFIX's openvino package
            assert_eq!(
                prefix_library(&venv.join("bin").join("keras2ov")),
                Some(sp.join("libopenvino_c.so.2641"))
            );
            assert_eq!(prefix_library(&dir.path().join("bin/keras2ov")), None);
        }
    }
}
