//! What batch rules see (JAX's `batching.py` in spirit): where each input holds its samples.
//! `vmap(jacfwd(f))` equals the derivative of the batched graph only if no primitive mixes
//! samples; each primitive's rule says where the samples go, or why they mix.

use crate::opgraph::Shape;

/// The batch axis of each input (`None`: the input depends on no sample) and the shapes.
pub struct Batch<'a> {
    pub axes: &'a [Option<usize>],
    pub shapes: &'a [&'a Shape],
    pub out: &'a Shape,
}

impl Batch<'_> {
    /// The batch axis of the single input that matters (input 0).
    pub fn first(&self) -> Option<usize> {
        self.axes[0]
    }

    /// Element-wise with NumPy broadcasting: inputs line up from the right, so every batched
    /// input must hold its samples at the same output position.
    pub fn elementwise(&self) -> Result<Option<usize>, String> {
        self.aligned(0..self.axes.len())
    }

    /// `elementwise` over the inputs `which` only.
    pub fn aligned(&self, which: impl IntoIterator<Item = usize>) -> Result<Option<usize>, String> {
        let rank = self.out.len();
        let mut found: Option<usize> = None;
        for k in which {
            let Some(a) = self.axes[k] else { continue };
            let pos = rank - self.shapes[k].len() + a;
            match found {
                Some(p) if p != pos => {
                    return Err("broadcasts batched values against each other".into())
                }
                _ => found = Some(pos),
            }
        }
        Ok(found)
    }

    /// The batch axis of input 0 after the axes in `removed` (sorted) are taken out.
    pub fn after_removing(&self, removed: &[usize]) -> Option<usize> {
        self.first()
            .map(|a| a - removed.iter().filter(|&&r| r < a).count())
    }
}
