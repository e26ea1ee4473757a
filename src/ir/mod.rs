//! OpenVINO IR v11 in memory: a network of layers and edges (`Net`), serialised to the `.xml`
//! text and the `.bin` weights (`Ir`). This module knows the file format, not the OpGraph:
//! the emitter walks a graph and each primitive adds its own layers here.

mod net;
mod pool;

pub use net::{bool_attr, numpy_broadcast, LayerCx, Net, Port, PortRef};

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An IR in memory: the `.xml` text and the `.bin` weights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ir {
    pub xml: String,
    pub bin: Vec<u8>,
}

impl Ir {
    /// The `.bin` that goes with an `.xml` path: same name, extension `bin`.
    pub fn bin_path(xml_path: impl AsRef<Path>) -> PathBuf {
        xml_path.as_ref().with_extension("bin")
    }

    /// Write `xml_path` and its sibling `.bin`. Both are written to temporary files in the same
    /// directory and renamed into place only once complete, so a failure never leaves a
    /// half-written file under either name.
    pub fn write(&self, xml_path: impl AsRef<Path>) -> io::Result<()> {
        let xml_path = xml_path.as_ref();
        let bin_path = Self::bin_path(xml_path);
        if bin_path == xml_path {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the IR path {} must not end in .bin (the weights go there)",
                    xml_path.display()
                ),
            ));
        }
        let dir = crate::files::parent_dir(xml_path);
        let temp = |bytes: &[u8]| -> io::Result<tempfile::NamedTempFile> {
            let mut f = tempfile::Builder::new()
                .prefix(".keras2ov-")
                .suffix(".tmp")
                .tempfile_in(dir)?;
            f.write_all(bytes)?;
            f.as_file().sync_all()?;
            Ok(f)
        };
        let bin_tmp = temp(&self.bin)?;
        let xml_tmp = temp(self.xml.as_bytes())?;
        // Both are complete on disk; rename the weights first so that the xml, once it appears,
        // always finds its bin.
        bin_tmp.persist(&bin_path).map_err(|e| e.error)?;
        xml_tmp.persist(xml_path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl fmt::Display for Ir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IR ({} bytes of xml, {} bytes of weights)",
            self.xml.len(),
            self.bin.len()
        )
    }
}
