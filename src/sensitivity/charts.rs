//! The SVG charts of `report.html`: bar chart, heat map, box plot and scatter plot, each a
//! self-contained `<svg>` element (no script, font or URL), with their scales and colours.

use super::report_html::{esc, fmt};
use super::stats::quantile_sorted;
use std::fmt::Write;

/// Okabe-Ito colours.
const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";
const VERMILLION: &str = "#D55E00";

/// Viridis at t in [0, 1] (9 stops, linear interpolation).
pub fn viridis(t: f64) -> String {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let p = t * 8.0;
    let i = (p.floor() as usize).min(7);
    let f = p - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// About `n` round tick values covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0))
    };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() as i64;
    let end = (hi / step).ceil() as i64;
    (start..=end).map(|k| k as f64 * step).collect()
}

/// A linear map from [d0, d1] to [r0, r1].
#[derive(Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

fn svg_open(o: &mut String, kind: &str, w: f64, h: f64, label: &str) {
    let _ = write!(
        o,
        r#"<svg class="chart" data-kind="{kind}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(label),
        esc(label)
    );
}

fn text(o: &mut String, x: f64, y: f64, anchor: &str, extra: &str, s: &str) {
    let _ = write!(
        o,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" {extra}>{}</text>"#,
        esc(s)
    );
}

fn line(o: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
    let _ = write!(
        o,
        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {style}/>"#
    );
}

/// Horizontal ranked bar chart with error bars.
pub(super) fn bar_chart(
    title: &str,
    labels: &[String],
    values: &[f64],
    err: &[f64],
    xlabel: &str,
) -> String {
    let mut o = String::new();
    let left = 170.0;
    let right = 40.0;
    let w = 860.0;
    let row = 24.0;
    let top = 34.0;
    let h = top + row * labels.len() as f64 + 56.0;
    svg_open(&mut o, "bar", w, h, title);
    text(&mut o, w / 2.0, 20.0, "middle", r#"class="ttl""#, title);
    let hi = values
        .iter()
        .zip(err)
        .map(|(v, e)| v + if e.is_finite() { *e } else { 0.0 })
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let ticks = nice_ticks(0.0, if hi > 0.0 { hi } else { 1.0 }, 5);
    let sx = Scale {
        d0: 0.0,
        d1: *ticks.last().unwrap_or(&1.0),
        r0: left,
        r1: w - right,
    };
    let bottom = top + row * labels.len() as f64;
    for &t in &ticks {
        let x = sx.at(t);
        line(&mut o, x, top, x, bottom, r##"stroke="#ddd""##);
        text(&mut o, x, bottom + 16.0, "middle", "", &fmt(t));
    }
    for (i, ((l, &v), &e)) in labels.iter().zip(values).zip(err).enumerate() {
        let y = top + row * i as f64;
        text(&mut o, left - 8.0, y + row * 0.65, "end", "", l);
        if v.is_finite() {
            let _ = write!(
                o,
                r#"<rect x="{left}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{BLUE}"><title>{}: {}</title></rect>"#,
                y + 4.0,
                (sx.at(v) - left).max(0.5),
                row - 8.0,
                esc(l),
                fmt(v)
            );
            if e.is_finite() && e > 0.0 {
                let (a, b) = (sx.at((v - e).max(0.0)), sx.at(v + e));
                let ym = y + row / 2.0;
                let s = r#"stroke="black" stroke-width="1.5""#;
                line(&mut o, a, ym, b, ym, s);
                line(&mut o, a, ym - 5.0, a, ym + 5.0, s);
                line(&mut o, b, ym - 5.0, b, ym + 5.0, s);
            }
            text(
                &mut o,
                sx.at(v + e.max(0.0)) + 6.0,
                y + row * 0.65,
                "start",
                r#"class="val""#,
                &fmt(v),
            );
        } else {
            text(
                &mut o,
                left + 4.0,
                y + row * 0.65,
                "start",
                r#"class="val""#,
                "n/a (std(y) = 0)",
            );
        }
    }
    line(&mut o, left, top, left, bottom, r#"stroke="black""#);
    line(&mut o, left, bottom, w - right, bottom, r#"stroke="black""#);
    text(
        &mut o,
        (left + w - right) / 2.0,
        bottom + 40.0,
        "middle",
        r#"class="axl""#,
        xlabel,
    );
    o.push_str("</svg>");
    o
}

/// A matrix of coloured cells (viridis over [0, max]), with values written in the cells.
pub(super) fn heatmap(
    kind: &str,
    title: &str,
    rows: &[String],
    cols: &[String],
    m: &[Vec<f64>],
    ylabel: &str,
    xlabel: &str,
) -> String {
    let mut o = String::new();
    let left = 150.0;
    let top = 40.0;
    let cell_w = (680.0 / cols.len().max(1) as f64).clamp(14.0, 90.0);
    let cell_h = (cell_w * 0.6).clamp(18.0, 40.0);
    let longest = cols.iter().map(|c| c.chars().count()).max().unwrap_or(1) as f64;
    let bottom_room = if longest * 7.5 <= cell_w {
        50.0
    } else {
        44.0 + 5.0 * longest.min(30.0)
    };
    let w = (left + cell_w * cols.len() as f64 + 110.0).max(420.0);
    let h = top + cell_h * rows.len() as f64 + bottom_room;
    svg_open(&mut o, kind, w, h, title);
    text(&mut o, w / 2.0, 22.0, "middle", r#"class="ttl""#, title);
    let max = m
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let show_values = cell_w >= 44.0;
    for (i, r) in rows.iter().enumerate() {
        let y = top + cell_h * i as f64;
        text(&mut o, left - 6.0, y + cell_h * 0.65, "end", "", r);
        for (j, c) in cols.iter().enumerate() {
            let v = m[i][j];
            let x = left + cell_w * j as f64;
            let t = if max > 0.0 { v / max } else { 0.0 };
            let fill = if v.is_finite() {
                viridis(t)
            } else {
                "#cccccc".into()
            };
            let _ = write!(
                o,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell_w:.1}" height="{cell_h:.1}" fill="{fill}" stroke="#fff"><title>{} / {}: {}</title></rect>"##,
                esc(r),
                esc(c),
                fmt(v)
            );
            if show_values {
                let colour = if t > 0.6 { "black" } else { "white" };
                text(
                    &mut o,
                    x + cell_w / 2.0,
                    y + cell_h * 0.65,
                    "middle",
                    &format!(r#"fill="{colour}" class="small""#),
                    &fmt(v),
                );
            }
        }
    }
    let bottom = top + cell_h * rows.len() as f64;
    let horizontal = longest * 7.5 <= cell_w;
    for (j, c) in cols.iter().enumerate() {
        let x = left + cell_w * (j as f64 + 0.5);
        if horizontal {
            text(&mut o, x, bottom + 16.0, "middle", "", c);
        } else {
            let _ = write!(
                o,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="end" transform="rotate(-45 {x:.1} {:.1})">{}</text>"#,
                bottom + 14.0,
                bottom + 14.0,
                esc(c)
            );
        }
    }
    text(
        &mut o,
        left + cell_w * cols.len() as f64 / 2.0,
        h - 8.0,
        "middle",
        r#"class="axl""#,
        xlabel,
    );
    let _ = write!(
        o,
        r#"<text x="14" y="{:.1}" text-anchor="middle" class="axl" transform="rotate(-90 14 {:.1})">{}</text>"#,
        top + cell_h * rows.len() as f64 / 2.0,
        top + cell_h * rows.len() as f64 / 2.0,
        esc(ylabel)
    );
    // Colour legend.
    let lx = left + cell_w * cols.len() as f64 + 30.0;
    let lh = (cell_h * rows.len() as f64).max(80.0);
    for k in 0..20 {
        let t0 = k as f64 / 20.0;
        let _ = write!(
            o,
            r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="{:.1}" fill="{}"/>"#,
            top + lh * (1.0 - t0 - 0.05),
            lh / 20.0 + 0.5,
            viridis(t0 + 0.025)
        );
    }
    text(
        &mut o,
        lx + 18.0,
        top + 10.0,
        "start",
        r#"class="small""#,
        &fmt(max),
    );
    text(
        &mut o,
        lx + 18.0,
        top + lh,
        "start",
        r#"class="small""#,
        "0",
    );
    o.push_str("</svg>");
    o
}

/// Box plots (quartiles, median, Tukey whiskers) of dy/dx per feature from the sample.
pub(super) fn box_plot(
    title: &str,
    labels: &[String],
    samples: &[Vec<f64>],
    ylabel: &str,
) -> String {
    let mut o = String::new();
    let left = 80.0;
    let top = 34.0;
    let plot_h = 260.0;
    let slot = (700.0 / labels.len().max(1) as f64).clamp(40.0, 110.0);
    let w = (left + slot * labels.len() as f64 + 30.0).max(420.0);
    let longest = labels.iter().map(|c| c.chars().count()).max().unwrap_or(1) as f64;
    let h = if longest * 7.5 <= slot {
        top + plot_h + 50.0
    } else {
        top + plot_h + 44.0 + 4.0 * longest.min(30.0)
    };
    svg_open(&mut o, "box", w, h, title);
    text(&mut o, w / 2.0, 20.0, "middle", r#"class="ttl""#, title);
    struct B {
        q1: f64,
        med: f64,
        q3: f64,
        lo: f64,
        hi: f64,
    }
    let boxes: Vec<Option<B>> = samples
        .iter()
        .map(|s| {
            let mut v: Vec<f64> = s.iter().copied().filter(|v| v.is_finite()).collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(|a, b| a.total_cmp(b));
            let (q1, med, q3) = (
                quantile_sorted(&v, 0.25),
                quantile_sorted(&v, 0.5),
                quantile_sorted(&v, 0.75),
            );
            let iqr = q3 - q1;
            let lo = v
                .iter()
                .copied()
                .find(|x| *x >= q1 - 1.5 * iqr)
                .unwrap_or(q1);
            let hi = v
                .iter()
                .rev()
                .copied()
                .find(|x| *x <= q3 + 1.5 * iqr)
                .unwrap_or(q3);
            Some(B {
                q1,
                med,
                q3,
                lo,
                hi,
            })
        })
        .collect();
    let lo = boxes.iter().flatten().map(|b| b.lo).fold(0.0f64, f64::min);
    let hi = boxes.iter().flatten().map(|b| b.hi).fold(0.0f64, f64::max);
    let ticks = nice_ticks(lo, hi, 6);
    let sy = Scale {
        d0: ticks[0],
        d1: *ticks.last().unwrap(),
        r0: top + plot_h,
        r1: top,
    };
    let right = left + slot * labels.len() as f64;
    for &t in &ticks {
        let y = sy.at(t);
        let style = if t == 0.0 {
            r##"stroke="#888" stroke-dasharray="4 3""##
        } else {
            r##"stroke="#e4e4e4""##
        };
        line(&mut o, left, y, right, y, style);
        text(&mut o, left - 6.0, y + 4.0, "end", "", &fmt(t));
    }
    for (i, (l, b)) in labels.iter().zip(&boxes).enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        if let Some(b) = b {
            let bw = slot * 0.5;
            let s = r#"stroke="black""#;
            line(&mut o, cx, sy.at(b.lo), cx, sy.at(b.q1), s);
            line(&mut o, cx, sy.at(b.q3), cx, sy.at(b.hi), s);
            line(
                &mut o,
                cx - bw / 4.0,
                sy.at(b.lo),
                cx + bw / 4.0,
                sy.at(b.lo),
                s,
            );
            line(
                &mut o,
                cx - bw / 4.0,
                sy.at(b.hi),
                cx + bw / 4.0,
                sy.at(b.hi),
                s,
            );
            let _ = write!(
                o,
                r#"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{ORANGE}" stroke="black"><title>{}: q1 {}, median {}, q3 {}</title></rect>"#,
                cx - bw / 2.0,
                sy.at(b.q3),
                (sy.at(b.q1) - sy.at(b.q3)).max(1.0),
                esc(l),
                fmt(b.q1),
                fmt(b.med),
                fmt(b.q3)
            );
            line(
                &mut o,
                cx - bw / 2.0,
                sy.at(b.med),
                cx + bw / 2.0,
                sy.at(b.med),
                r#"stroke="black" stroke-width="2.5""#,
            );
        }
        let ly = top + plot_h + 14.0;
        if longest * 7.5 <= slot {
            text(&mut o, cx, ly + 2.0, "middle", "", l);
        } else {
            let _ = write!(
                o,
                r#"<text x="{cx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {ly:.1})">{}</text>"#,
                esc(l)
            );
        }
    }
    line(&mut o, left, top, left, top + plot_h, r#"stroke="black""#);
    line(
        &mut o,
        left,
        top + plot_h,
        right,
        top + plot_h,
        r#"stroke="black""#,
    );
    let _ = write!(
        o,
        r#"<text x="16" y="{:.1}" text-anchor="middle" class="axl" transform="rotate(-90 16 {:.1})">{}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(ylabel)
    );
    text(
        &mut o,
        (left + right) / 2.0,
        h - 8.0,
        "middle",
        r#"class="axl""#,
        "feature",
    );
    o.push_str("</svg>");
    o
}

/// Scatter of dy/dx against x for one feature, from the sample.
pub(super) fn scatter(title: &str, xs: &[f64], ys: &[f64], xlabel: &str, ylabel: &str) -> String {
    let mut o = String::new();
    let (w, h) = (300.0, 260.0);
    let (left, right, top, bottom) = (62.0, 12.0, 28.0, 48.0);
    svg_open(&mut o, "scatter", w, h, title);
    text(
        &mut o,
        w / 2.0,
        18.0,
        "middle",
        r#"class="ttl small""#,
        title,
    );
    let ext = |v: &[f64]| {
        v.iter()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            })
    };
    let (x0, x1) = ext(xs);
    let (y0, y1) = ext(ys);
    let (x0, x1) = if x0.is_finite() { (x0, x1) } else { (0.0, 1.0) };
    let (y0, y1) = if y0.is_finite() { (y0, y1) } else { (0.0, 1.0) };
    let xt = nice_ticks(x0, x1, 4);
    let yt = nice_ticks(y0, y1, 4);
    let sx = Scale {
        d0: xt[0],
        d1: *xt.last().unwrap(),
        r0: left,
        r1: w - right,
    };
    let sy = Scale {
        d0: yt[0],
        d1: *yt.last().unwrap(),
        r0: h - bottom,
        r1: top,
    };
    for &t in &xt {
        let x = sx.at(t);
        line(&mut o, x, top, x, h - bottom, r##"stroke="#eee""##);
        text(
            &mut o,
            x,
            h - bottom + 14.0,
            "middle",
            r#"class="small""#,
            &fmt(t),
        );
    }
    for &t in &yt {
        let y = sy.at(t);
        line(&mut o, left, y, w - right, y, r##"stroke="#eee""##);
        text(
            &mut o,
            left - 4.0,
            y + 4.0,
            "end",
            r#"class="small""#,
            &fmt(t),
        );
    }
    o.push_str(&format!(r#"<g fill="{VERMILLION}" fill-opacity="0.45">"#));
    for (&x, &y) in xs.iter().zip(ys) {
        if x.is_finite() && y.is_finite() {
            let _ = write!(
                o,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2"/>"#,
                sx.at(x),
                sy.at(y)
            );
        }
    }
    o.push_str("</g>");
    line(&mut o, left, top, left, h - bottom, r#"stroke="black""#);
    line(
        &mut o,
        left,
        h - bottom,
        w - right,
        h - bottom,
        r#"stroke="black""#,
    );
    text(
        &mut o,
        (left + w - right) / 2.0,
        h - 8.0,
        "middle",
        r#"class="axl small""#,
        xlabel,
    );
    let cy = (top + h - bottom) / 2.0;
    let _ = write!(
        o,
        r#"<text x="12" y="{cy:.1}" text-anchor="middle" class="axl small" transform="rotate(-90 12 {cy:.1})">{}</text>"#,
        esc(ylabel)
    );
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_ticks() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
        let t = nice_ticks(0.0, 0.93, 5);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().unwrap() >= 0.93);
        assert!(nice_ticks(2.0, 2.0, 4).len() >= 2);
    }
}
