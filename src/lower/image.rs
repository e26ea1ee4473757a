//! Resizing, CenterCrop, UpSampling2D and `keras.ops.image.resize`: crops, pads and
//! `jax.image.resize` (one `Resize` primitive for the changed axes), as Keras' JAX backend
//! computes them at inference (`keras/src/backend/jax/image.py::resize`,
//! `keras/src/utils/image_utils.py::smart_resize`; `docs/semantics/conv.md` §5-6).

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{OpGraph, ResizeMethod, Tensor, ValueId};
use ndarray::ArrayD;

/// The height and width axes of a rank-4 image batch.
#[derive(Clone, Copy)]
struct Layout {
    h: usize,
    w: usize,
}

impl Layout {
    /// `data_format` from the config; `null` (an op saved without one) is Keras' default
    /// `image_data_format`, channels_last.
    fn of(lc: &LayerCall) -> LResult<Layout> {
        match lc.cfg("data_format").map(|v| v.as_str()) {
            None | Some(Some("channels_last")) => Ok(Layout { h: 1, w: 2 }),
            Some(Some("channels_first")) => Ok(Layout { h: 2, w: 3 }),
            Some(other) => Err(lc.error(format!(
                "data_format {} is neither channels_last nor channels_first",
                other.map_or_else(|| "(not a string)".to_string(), |s| format!("'{s}'"))
            ))),
        }
    }
}

/// What `backend.image.resize` is asked to do.
struct Spec {
    height: usize,
    width: usize,
    method: ResizeMethod,
    antialias: bool,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    fill_value: f32,
}

/// A positive integer from the config.
fn positive(lc: &LayerCall, key: &str) -> LResult<usize> {
    lc.cfg_i64(key)?
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| lc.error(format!("config '{key}' must be a positive integer")))
}

/// The `interpolation` string (`default` when absent) as a resize method; Keras' JAX backend
/// refuses anything else.
fn method(lc: &LayerCall, default: &str) -> LResult<ResizeMethod> {
    let s = match lc.cfg("interpolation") {
        None => default,
        Some(v) => v
            .as_str()
            .ok_or_else(|| lc.error(format!("config 'interpolation' = {v} is not a string")))?,
    };
    ResizeMethod::from_keras(s).ok_or_else(|| {
        let why = if s == "area" {
            " (only Keras' TensorFlow backend computes 'area'; the JAX backend, whose numbers \
             keras2ov reproduces, refuses it)"
        } else {
            ""
        };
        lc.error(format!(
            "interpolation '{}' is not supported{why}; keras2ov supports what Keras' JAX \
             backend accepts: bilinear, nearest, bicubic, lanczos3 and lanczos5",
            crate::text::clip(s)
        ))
    })
}

/// The resize options shared by the Resizing layer and the Resize op, `(height, width)` given.
fn spec(lc: &LayerCall, height: usize, width: usize) -> LResult<Spec> {
    let s = Spec {
        height,
        width,
        method: method(lc, "bilinear")?,
        antialias: lc.cfg_bool("antialias", false)?,
        crop_to_aspect_ratio: lc.cfg_bool("crop_to_aspect_ratio", false)?,
        pad_to_aspect_ratio: lc.cfg_bool("pad_to_aspect_ratio", false)?,
        fill_value: lc.cfg_f64("fill_value", 0.0)? as f32,
    };
    match lc.cfg("fill_mode").map(|v| v.as_str()) {
        None | Some(Some("constant")) => {}
        Some(m) => {
            return Err(lc.error(format!(
                "fill_mode {} is not supported: Keras' JAX backend only accepts 'constant'",
                m.unwrap_or("(not a string)")
            )))
        }
    }
    if s.crop_to_aspect_ratio && s.pad_to_aspect_ratio {
        return Err(lc.error(
            "crop_to_aspect_ratio and pad_to_aspect_ratio are both set (Keras refuses this)",
        ));
    }
    Ok(s)
}

/// The input, which must be a rank-4 batch of images with static height and width.
fn images(g: &OpGraph, lc: &LayerCall, at: Layout) -> LResult<(ValueId, usize, usize)> {
    let x = lc.input()?;
    if g.rank(x) != 4 {
        return Err(lc.error(format!(
            "expects a batch of images of rank 4 (batch, height, width, channels or \
             batch, channels, height, width), got rank {}",
            g.rank(x)
        )));
    }
    Ok((x, lc.static_dim(g, x, at.h)?, lc.static_dim(g, x, at.w)?))
}

/// `int(float(a * b) / c)` as Keras computes crop and pad sizes.
fn scaled(a: usize, b: usize, c: usize) -> usize {
    ((a * b) as f64 / c as f64) as usize
}

/// The centre crop to the target's aspect ratio (`crop_to_aspect_ratio`, `smart_resize`).
fn crop_to_aspect(
    g: &mut OpGraph,
    x: ValueId,
    at: Layout,
    (h, w): (usize, usize),
    (th, tw): (usize, usize),
) -> LResult<ValueId> {
    let ch = scaled(w, th, tw).clamp(1, h);
    let cw = scaled(h, tw, th).clamp(1, w);
    let (hs, ws) = ((h - ch) / 2, (w - cw) / 2);
    let y = g.slice(x, at.h, hs, hs + ch, 1)?;
    Ok(g.slice(y, at.w, ws, ws + cw, 1)?)
}

/// `pad_to_aspect_ratio`: `int(diff / 2)` rows (or columns) of `fill` on both sides of the
/// short side (one short of the target ratio for an odd difference, as Keras does).
fn pad_to_aspect(
    g: &mut OpGraph,
    x: ValueId,
    at: Layout,
    (h, w): (usize, usize),
    (th, tw): (usize, usize),
    fill: f32,
) -> LResult<ValueId> {
    let hs = (scaled(w, th, tw).max(h) - h) / 2;
    let ws = (scaled(h, tw, th).max(w) - w) / 2;
    let (axis, n) = match (hs, ws) {
        (0, 0) => return Ok(x),
        (0, n) => (at.w, n),
        (n, _) => (at.h, n),
    };
    // A band of `fill`, broadcast to the batch of `x` (through one slice of it).
    let mut shape: Vec<usize> = g.shape(x).iter().map(|d| d.unwrap_or(1)).collect();
    shape[0] = 1;
    shape[axis] = n;
    let band = g.constant(Tensor::F32(ArrayD::from_elem(shape, fill)));
    let like = g.slice(x, axis, 0, 1, 1)?;
    let band = g.broadcast_like(band, like)?;
    Ok(g.concat(&[band, x, band], axis)?)
}

/// `backend.image.resize`: the optional aspect-ratio crop or pad, then `jax.image.resize`
/// of the height and the width (an axis whose size does not change is left as it is).
fn resize(
    g: &mut OpGraph,
    x: ValueId,
    at: Layout,
    hw: (usize, usize),
    s: &Spec,
) -> LResult<ValueId> {
    let target = (s.height, s.width);
    let x = if s.crop_to_aspect_ratio {
        crop_to_aspect(g, x, at, hw, target)?
    } else if s.pad_to_aspect_ratio {
        pad_to_aspect(g, x, at, hw, target, s.fill_value)?
    } else {
        x
    };
    let axes = [(at.h, s.height), (at.w, s.width)];
    Ok(g.resize(x, &axes, s.method, s.antialias)?)
}

/// `Resizing(height, width, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
/// fill_mode, fill_value, antialias, data_format)`.
pub fn resizing(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let at = Layout::of(lc)?;
    let s = spec(lc, positive(lc, "height")?, positive(lc, "width")?)?;
    let (x, h, w) = images(g, lc, at)?;
    Ok(vec![resize(g, x, at, (h, w), &s)?])
}

/// `keras.ops.image.resize(images, size, ...)`, saved as op `Resize` with every argument in
/// its config.
pub fn resize_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let at = Layout::of(lc)?;
    let size: Vec<usize> = lc
        .cfg_ints("size")?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| usize::try_from(v).ok().filter(|&v| v > 0))
        .collect();
    let [height, width] = size[..] else {
        return Err(lc.error("config 'size' must be two positive integers (height, width)"));
    };
    let s = spec(lc, height, width)?;
    let (x, h, w) = images(g, lc, at)?;
    Ok(vec![resize(g, x, at, (h, w), &s)?])
}

/// `CenterCrop(height, width, data_format)`: a centre crop (the odd pixel at the end) when
/// the image is at least the target size in both dimensions, otherwise `smart_resize`: a
/// crop to the target's aspect ratio, then a bilinear resize.
pub fn center_crop(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let at = Layout::of(lc)?;
    let (th, tw) = (positive(lc, "height")?, positive(lc, "width")?);
    let (x, h, w) = images(g, lc, at)?;
    if h >= th && w >= tw {
        let (hs, ws) = ((h - th) / 2, (w - tw) / 2);
        let y = g.slice(x, at.h, hs, hs + th, 1)?;
        return Ok(vec![g.slice(y, at.w, ws, ws + tw, 1)?]);
    }
    let s = Spec {
        height: th,
        width: tw,
        method: ResizeMethod::Linear,
        antialias: false,
        crop_to_aspect_ratio: true,
        pad_to_aspect_ratio: false,
        fill_value: 0.0,
    };
    Ok(vec![resize(g, x, at, (h, w), &s)?])
}

/// `UpSampling2D(size, data_format, interpolation)`: nearest repeats each pixel (what
/// `ops.repeat` does is the nearest resize by an integer factor); the other interpolations
/// are `ops.image.resize` to `(H * sh, W * sw)` without antialias.
pub fn upsampling2d(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let at = Layout::of(lc)?;
    let factors = lc.cfg_ints("size")?.unwrap_or_else(|| vec![2, 2]);
    let factors: Vec<usize> = match factors[..] {
        [f] => vec![f; 2],
        _ => factors,
    }
    .into_iter()
    .filter_map(|f| usize::try_from(f).ok().filter(|&f| f > 0))
    .collect();
    let [sh, sw] = factors[..] else {
        return Err(lc.error("config 'size' must be one or two positive integers"));
    };
    let method = method(lc, "nearest")?;
    let (x, h, w) = images(g, lc, at)?;
    Ok(vec![g.resize(
        x,
        &[(at.h, h * sh), (at.w, w * sw)],
        method,
        false,
    )?])
}

#[cfg(test)]
mod tests {
    use super::scaled;

    /// Keras' `int(float(w * th) / tw)` truncates.
    #[test]
    fn aspect_sizes_truncate() {
        assert_eq!(scaled(7, 3, 3), 7);
        assert_eq!(scaled(4, 7, 7), 4);
        assert_eq!(scaled(4, 5, 4), 5);
        assert_eq!(scaled(5, 3, 6), 2);
    }
}
