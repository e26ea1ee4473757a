//! Small file-system helpers shared by every writer.

use std::path::Path;

/// The directory a file path lives in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_live_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("model.xml")), Path::new("."));
        assert_eq!(parent_dir(Path::new("out/model.xml")), Path::new("out"));
        assert_eq!(parent_dir(Path::new("/model.xml")), Path::new("/"));
    }
}
