//! Shards: the statistics of one part of a data set, as a JSON file (`keras2ov sensitivity
//! --stats-out`) or a pickled Python `Sensitivity`. `keras2ov report` merges shards into the
//! report one run over all their rows would have written: the moments merge exactly (Chan et
//! al.), the reservoir samples into a uniform sample of the union.

use super::Analysis;
use crate::text::{clip, list};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` field of a shard file.
pub const FORMAT: &str = "keras2ov sensitivity shard";
/// The `version` field: the layout of `analysis`.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct ShardOut<'a> {
    format: &'static str,
    version: u32,
    tool_version: &'static str,
    analysis: &'a Analysis,
}

#[derive(Deserialize)]
struct ShardIn {
    format: String,
    version: u32,
    analysis: Analysis,
}

/// A shard as JSON text.
pub fn to_json(a: &Analysis) -> Result<String> {
    Ok(serde_json::to_string(&ShardOut {
        format: FORMAT,
        version: VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        analysis: a,
    })?)
}

/// Read a shard from JSON text (`what` names it in messages); sizes are checked, so a shard
/// that reads merges without surprises.
pub fn from_json(text: &str, what: &str) -> Result<Analysis> {
    #[derive(Deserialize)]
    struct Head {
        format: Option<String>,
        version: Option<u32>,
    }
    let head: Head = serde_json::from_str(text)
        .map_err(|e| anyhow!("{what}: not a keras2ov sensitivity shard ({e})"))?;
    if head.format.as_deref() != Some(FORMAT) {
        bail!("{what}: not a keras2ov sensitivity shard (write one with `keras2ov sensitivity --stats-out`)");
    }
    if head.version != Some(VERSION) {
        bail!(
            "{what}: shard version {} is not the version this keras2ov reads ({VERSION})",
            head.version.map_or("?".into(), |v| v.to_string())
        );
    }
    let shard: ShardIn =
        serde_json::from_str(text).map_err(|e| anyhow!("{what}: malformed shard ({e})"))?;
    debug_assert_eq!((shard.format.as_str(), shard.version), (FORMAT, VERSION));
    let a = shard.analysis;
    let st = &a.stats;
    let consistent = st.components == a.components.len()
        && st.features == a.features.len()
        && a.rows_skipped <= a.rows_read
        && st.rows() == a.rows_read - a.rows_skipped;
    if !consistent {
        bail!("{what}: malformed shard (its statistics do not match its features, components or row counts)");
    }
    st.check()
        .map_err(|e| anyhow!("{what}: malformed shard ({e})"))?;
    Ok(a)
}

/// Write a shard file atomically.
pub fn write(path: &Path, a: &Analysis) -> Result<()> {
    let text = to_json(a)?;
    crate::io::atomic_write(path, |f| {
        use std::io::Write;
        Ok(f.write_all(text.as_bytes())?)
    })
}

/// Read a shard file.
pub fn read(path: &Path) -> Result<Analysis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    from_json(&text, &path.display().to_string())
}

/// Merge shard `o` (called `o_name` in messages) into `a` (`a_name`), if
/// [`check_compatible`].
pub fn merge(a: &mut Analysis, o: &Analysis, a_name: &str, o_name: &str) -> Result<()> {
    check_compatible(a, o, a_name, o_name)?;
    a.stats.merge(&o.stats);
    a.rows_read += o.rows_read;
    a.rows_skipped += o.rows_skipped;
    a.seconds += o.seconds;
    for s in &o.sources {
        if !a.sources.contains(s) {
            a.sources.push(s.clone());
        }
    }
    a.data = PathBuf::from(match a.sources.as_slice() {
        [one] => one.clone(),
        many => format!("{} shards: {}", many.len(), list(many)),
    });
    Ok(())
}

/// An error unless shards `a` and `o` can merge: the same model file (SHA-256), the same
/// selection (outputs, inputs, features, interactions) and the same precision.
pub fn check_compatible(a: &Analysis, o: &Analysis, a_name: &str, o_name: &str) -> Result<()> {
    if a.model_sha256 != o.model_sha256 {
        bail!(
            "{o_name} is a shard of another model than {a_name}: {} (sha256 {}) is not {} \
             (sha256 {}); shards merge only with shards of the same model file",
            clip(&o.model.display().to_string()),
            short(&o.model_sha256),
            clip(&a.model.display().to_string()),
            short(&a.model_sha256)
        );
    }
    let selection = |x: &Analysis| {
        format!(
            "--of {} --wrt {}{}",
            x.of.join(","),
            x.wrt.join(","),
            if x.stats.hess.is_some() {
                " --interactions"
            } else {
                ""
            }
        )
    };
    if (&a.of, &a.wrt, a.stats.hess.is_some()) != (&o.of, &o.wrt, o.stats.hess.is_some())
        || a.components != o.components
    {
        bail!(
            "{o_name} analyses another selection than {a_name} ({} and {}); shards merge only \
             with the same --of, --wrt and --interactions",
            selection(o),
            selection(a)
        );
    }
    if a.features != o.features {
        let names = |x: &Analysis| {
            list(
                &x.features
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>(),
            )
        };
        bail!(
            "{o_name} names its features {}, but {a_name} names them {}; shards merge only with \
             the same features (CSV columns, --columns, --feature-names)",
            names(o),
            names(a)
        );
    }
    if a.precision != o.precision {
        bail!(
            "{o_name} was computed in {}, but {a_name} in {}; shards merge only with the same \
             --precision",
            o.precision,
            a.precision
        );
    }
    Ok(())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Read shard files and merge them in order (a balanced tree of merges, as an engine would).
pub fn merge_files(paths: &[PathBuf]) -> Result<Analysis> {
    let mut shards: Vec<(String, Analysis)> = paths
        .iter()
        .map(|p| Ok((p.display().to_string(), read(p)?)))
        .collect::<Result<_>>()?;
    let Some((first_name, first)) = shards.first() else {
        bail!("give at least one shard file");
    };
    // Every shard against the first, so that a message names the odd one out.
    for (name, o) in &shards[1..] {
        check_compatible(first, o, first_name, name)?;
    }
    while shards.len() > 1 {
        let mut next = Vec::with_capacity(shards.len().div_ceil(2));
        let mut it = shards.into_iter();
        while let Some((an, mut a)) = it.next() {
            if let Some((on, o)) = it.next() {
                merge(&mut a, &o, &an, &on)?;
            }
            next.push((an, a));
        }
        shards = next;
    }
    Ok(shards.pop().expect("one shard left").1)
}
