//! The bounded walk over `config.json` as text, before any of it means a model: where an
//! error is (`Loc`, clipped keys), how big the document may be (`count_values`), objects
//! whose members stay raw text until needed (`RawObj`, `to_value`), and the refusal of
//! serialized code (`refuse_code`). `config.rs` turns what passes into a `KerasModel`.

use super::error::LoadError;
use crate::text::{clip, clip_to};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

pub(crate) struct Cx<'a> {
    pub file: &'a str,
}

impl Cx<'_> {
    pub(crate) fn err(&self, location: &str, message: impl Into<String>) -> LoadError {
        LoadError::Config {
            file: self.file.to_string(),
            location: if location.is_empty() {
                "the top level".to_string()
            } else {
                location.to_string()
            },
            message: message.into(),
        }
    }
}

pub(super) type R<T> = Result<T, LoadError>;

/// Characters of a JSON key kept in a location.
const KEY_CHARS: usize = 40;

pub(super) fn key(loc: &str, k: &str) -> String {
    let k = clip_to(k, KEY_CHARS);
    if loc.is_empty() {
        k.into_owned()
    } else {
        format!("{loc}.{k}")
    }
}

/// A location inside the config, built only when an error needs it: walking a large value
/// must not copy its location string for every element.
#[derive(Clone, Copy)]
pub(crate) enum Loc<'a> {
    Root(&'a str),
    Key(&'a Loc<'a>, &'a str),
    Idx(&'a Loc<'a>, usize),
}

impl<'a> Loc<'a> {
    pub(crate) fn key(&'a self, k: &'a str) -> Loc<'a> {
        Loc::Key(self, k)
    }

    pub(crate) fn idx(&'a self, i: usize) -> Loc<'a> {
        Loc::Idx(self, i)
    }

    /// `config.layers[2].inbound_nodes[0].args[1]`, keys clipped.
    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = self;
        let root = loop {
            match cur {
                Loc::Root(r) => break *r,
                Loc::Key(parent, k) => {
                    segs.push(Err(*k));
                    cur = parent;
                }
                Loc::Idx(parent, i) => {
                    segs.push(Ok(*i));
                    cur = parent;
                }
            }
        };
        let mut out = root.to_string();
        for seg in segs.into_iter().rev() {
            match seg {
                Ok(i) => out.push_str(&format!("[{i}]")),
                Err(k) => out = key(&out, k),
            }
        }
        out
    }
}

/// Most JSON values (counted as `{`, `[` and `,` outside strings) `config.json` may hold. A
/// real Keras model has far fewer; the 200,000-layer chain of the hostile-input tests has
/// about 4.6 million. It bounds what parsing the config may allocate.
pub const MAX_CONFIG_VALUES: usize = 8_000_000;

/// The JSON values of a document, approximately: `{`, `[` and `,` outside strings, plus one.
pub(super) fn count_values(bytes: &[u8]) -> usize {
    let mut n = 1;
    let mut in_str = false;
    let mut escaped = false;
    for &b in bytes {
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' | b',' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Members of a JSON object, their values left as raw text (looked up like a `Value`: when a
/// key repeats, the last one wins).
pub(super) struct RawObj<'a>(pub(super) Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObj<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawObj<'de>, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, &'de RawValue>()? {
                    v.push((k, val));
                }
                Ok(RawObj(v))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> RawObj<'a> {
    /// `raw` as an object, or `None` when it is something else.
    pub(super) fn of(raw: &'a RawValue) -> Option<RawObj<'a>> {
        serde_json::from_str(raw.get()).ok()
    }

    pub(super) fn get(&self, k: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(n, _)| n == k).map(|(_, v)| *v)
    }

    pub(super) fn str(&self, k: &str) -> Option<String> {
        self.get(k)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    }

    /// Whether member `k` is a JSON array.
    pub(super) fn is_array(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.get().starts_with('['))
    }
}

/// Parse a raw value into a `Value` (its nesting is limited by serde_json to 128 levels).
pub(super) fn to_value(raw: &RawValue, loc: &str, cx: &Cx) -> R<Value> {
    serde_json::from_str(raw.get()).map_err(|e| {
        cx.err(
            loc,
            format!(
                "cannot parse this part of the config ({})",
                clip(&e.to_string())
            ),
        )
    })
}

pub(super) fn clip_owned(s: &str) -> String {
    clip(s).into_owned()
}

/// Refuse `Lambda` layers and serialized Python lambdas anywhere in the config.
pub(super) fn refuse_code(v: &Value, loc: &str, cx: &Cx) -> R<()> {
    refuse_code_at(v, &Loc::Root(loc), cx)
}

fn refuse_code_at(v: &Value, loc: &Loc, cx: &Cx) -> R<()> {
    match v {
        Value::Object(m) => {
            match m.get("class_name").and_then(Value::as_str) {
                Some("Lambda") => {
                    let name = m
                        .get("name")
                        .and_then(Value::as_str)
                        .or_else(|| m.get("config")?.get("name")?.as_str())
                        .unwrap_or("(unnamed)");
                    return Err(LoadError::Lambda {
                        file: cx.file.to_string(),
                        what: format!("Lambda layer `{}`", clip(name)),
                        location: loc_or_top(&loc.render()),
                    });
                }
                Some("__lambda__") => {
                    return Err(LoadError::Lambda {
                        file: cx.file.to_string(),
                        what: "a serialized Python lambda".to_string(),
                        location: loc_or_top(&loc.render()),
                    });
                }
                _ => {}
            }
            for (k, child) in m {
                refuse_code_at(child, &loc.key(k), cx)?;
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                refuse_code_at(child, &loc.idx(i), cx)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn loc_or_top(loc: &str) -> String {
    if loc.is_empty() {
        "the top level".to_string()
    } else {
        loc.to_string()
    }
}
