//! Minimal XML text helpers: the IR writer and the HTML report share them.

use std::fmt::Write;

/// Escape text for a double-quoted XML attribute value.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A tensor name as it goes in a port's comma-separated `names` attribute (before XML
/// escaping): a literal comma is written `\,`; other characters, backslashes included, stay
/// as they are (this is what OpenVINO's own serializer writes and its reader undoes).
pub fn escape_tensor_name(name: &str) -> String {
    name.replace(',', "\\,")
}

/// Characters that XML 1.0 cannot carry at all, even escaped.
pub fn has_unrepresentable_chars(s: &str) -> bool {
    s.chars().any(|c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    })
}

/// Writes indented elements into a string.
pub struct XmlWriter {
    pub out: String,
    depth: usize,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\"?>\n"),
            depth: 0,
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push('\t');
        }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape_attr(v));
        }
    }

    /// `<name a="..">` and one level deeper.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    pub fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    /// `<name a=".." />`
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str(" />\n");
    }

    /// `<name>text</name>` (text is escaped).
    pub fn text(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape_attr(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_attr(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape_attr("x\ny"), "x&#10;y");
        assert_eq!(escape_tensor_name(r"a,b\c"), r"a\,b\c");
        assert!(has_unrepresentable_chars("a\u{1}"));
        assert!(!has_unrepresentable_chars("jacobian/u/x\t"));
    }
}
