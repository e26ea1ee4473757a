//! Writing a report directory whole or not at all: files go into a temporary directory beside
//! the target, which is renamed into place at the end; an earlier report is replaced, any
//! other directory is refused.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// Write `files` into a fresh temporary directory beside `out` and rename it to `out` at the
/// end. An existing `out` is replaced only if it is empty or holds an earlier report.
pub fn write_dir(out: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let parent = crate::files::parent_dir(out);
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("-o {}: not a directory name", out.display()))?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create directory {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    for (file, bytes) in files {
        std::fs::write(tmp.path().join(file), bytes)
            .with_context(|| format!("cannot write {}", tmp.path().join(file).display()))?;
    }
    let mut old: Option<tempfile::TempDir> = None;
    match replaceable(out)? {
        Existing::None => {}
        Existing::Empty => {
            std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?
        }
        Existing::Report => {
            // Move the earlier report aside (removed when `old` drops).
            let aside = tempfile::Builder::new()
                .prefix(&format!(".{name}.old-"))
                .tempdir_in(parent)?;
            std::fs::rename(out, aside.path().join("report"))
                .with_context(|| format!("cannot replace {}", out.display()))?;
            old = Some(aside);
        }
    }
    std::fs::rename(tmp.path(), out).with_context(|| format!("cannot create {}", out.display()))?;
    let _ = tmp.keep();
    drop(old);
    Ok(())
}

pub(super) enum Existing {
    None,
    Empty,
    Report,
}

/// What is at `out` now; an error unless it is nothing, an empty directory or an earlier report.
pub(super) fn replaceable(out: &Path) -> Result<Existing> {
    if !out.exists() {
        return Ok(Existing::None);
    }
    let is_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
    if is_empty {
        Ok(Existing::Empty)
    } else if out.join("sensitivity.json").is_file() {
        Ok(Existing::Report)
    } else {
        bail!(
            "{} exists and is not an earlier sensitivity report; choose another -o",
            out.display()
        )
    }
}
