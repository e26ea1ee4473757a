//! Showing strings that come from an archive or an input file.
//!
//! Layer names, class names, HDF5 paths, JSON keys and `.npy` headers are chosen by whoever
//! made the file. Every message and table cell that shows one goes through [`clip`]: at most
//! [`CLIP_CHARS`] characters are kept, followed by how long the string was, and control
//! characters (terminal escape sequences, newlines) are shown escaped, so a hostile name can
//! neither flood a terminal nor rewrite it.

use std::borrow::Cow;

/// Characters of an archive string kept in messages and table cells.
pub const CLIP_CHARS: usize = 200;

/// Characters of a whole error message printed before it is cut (a last line of defence; the
/// parts of a message that come from a file are clipped where they are built).
pub const MESSAGE_CHARS: usize = 4000;

/// `s` for a message: the first [`CLIP_CHARS`] characters, then `... (N characters)` when it
/// was longer; control characters escaped.
pub fn clip(s: &str) -> Cow<'_, str> {
    clip_to(s, CLIP_CHARS)
}

/// [`clip`] with another length.
pub fn clip_to(s: &str, max: usize) -> Cow<'_, str> {
    let mut end = s.len();
    let mut plain = true;
    for (count, (i, c)) in s.char_indices().enumerate() {
        if count == max {
            end = i;
            break;
        }
        if c.is_control() {
            plain = false;
        }
    }
    if plain && end == s.len() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(end.min(4 * max) + 40);
    for c in s[..end].chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if end < s.len() {
        let total = count_chars(s);
        out.push_str(&format!("... ({total} characters)"));
    }
    Cow::Owned(out)
}

/// The number of characters of `s` (a separate pass: only for strings that were cut).
fn count_chars(s: &str) -> usize {
    s.chars().count()
}

/// A whole message cut to [`MESSAGE_CHARS`]: its start and its end are kept, the middle is
/// replaced by the number of characters left out. Control characters other than newlines and
/// tabs are escaped.
/// An error as the command line prints it after `error: `: the chain of causes joined by
/// `: `, clipped by [`clip_message`]. The Python module raises exceptions with this text.
pub fn error_message(e: &anyhow::Error) -> String {
    clip_message(&format!("{e:#}")).into_owned()
}

pub fn clip_message(s: &str) -> Cow<'_, str> {
    let max = MESSAGE_CHARS;
    let needs_escape = s.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    let total = count_chars(s);
    if total <= max && !needs_escape {
        return Cow::Borrowed(s);
    }
    let escape = |part: &str, out: &mut String| {
        for c in part.chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    };
    let mut out = String::new();
    if total <= max {
        escape(s, &mut out);
        return Cow::Owned(out);
    }
    let head = max * 3 / 4;
    let tail = max - head;
    let head_end = s.char_indices().nth(head).map_or(s.len(), |(i, _)| i);
    let tail_start = s
        .char_indices()
        .nth(total - tail)
        .map_or(s.len(), |(i, _)| i);
    escape(&s[..head_end], &mut out);
    out.push_str(&format!(
        " ... ({} characters left out) ... ",
        total - head - tail
    ));
    escape(&s[tail_start..], &mut out);
    Cow::Owned(out)
}

/// Names listed in a message: at most [`LIST_ITEMS`], each clipped, then how many more.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out: Vec<String> = items
        .iter()
        .take(LIST_ITEMS)
        .map(|s| clip(s.as_ref()).into_owned())
        .collect();
    if items.len() > LIST_ITEMS {
        out.push(format!("and {} more", items.len() - LIST_ITEMS));
    }
    out.join(", ")
}

/// Most names [`list`] shows.
pub const LIST_ITEMS: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_borrowed() {
        assert!(matches!(clip("dense_1"), Cow::Borrowed("dense_1")));
        assert!(matches!(clip(""), Cow::Borrowed("")));
        let exact: String = "x".repeat(CLIP_CHARS);
        assert!(matches!(clip(&exact), Cow::Borrowed(_)));
    }

    #[test]
    fn long_strings_keep_the_start_and_say_how_long() {
        let long = format!("Dense{}", "A".repeat(20_000_000));
        let c = clip(&long);
        assert!(c.starts_with("DenseAAA"), "{c}");
        assert!(c.ends_with("... (20000005 characters)"), "{c}");
        assert!(c.chars().count() < CLIP_CHARS + 40);
        // Multi-byte characters are cut on a character boundary.
        let wide = "é".repeat(1000);
        let c = clip(&wide);
        assert!(
            c.starts_with("éé") && c.ends_with("(1000 characters)"),
            "{c}"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let c = clip("evil\u{1b}]0;pwned\u{7}\nname");
        assert!(!c.chars().any(char::is_control), "{c:?}");
        assert!(c.contains("\\u{1b}") && c.contains("\\n"), "{c}");
    }

    #[test]
    fn lists_are_bounded() {
        assert_eq!(list(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..1000).map(|i| format!("x{i}")).collect();
        let l = list(&many);
        assert!(
            l.starts_with("x0, x1") && l.ends_with("x19, and 980 more"),
            "{l}"
        );
    }

    #[test]
    fn messages_keep_head_and_tail() {
        let m = format!("error: {} at the end", "z".repeat(100_000));
        let c = clip_message(&m);
        assert!(
            c.starts_with("error: zzz") && c.ends_with("z at the end"),
            "{c}"
        );
        assert!(c.contains("characters left out"), "{c}");
        assert!(c.chars().count() < MESSAGE_CHARS + 60);
        assert!(matches!(clip_message("fine\nmessage"), Cow::Borrowed(_)));
        assert_eq!(clip_message("a\u{1b}b"), "a\\u{1b}b");
    }
}
