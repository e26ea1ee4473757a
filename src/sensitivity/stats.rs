//! Streaming, mergeable statistics: Welford's update per value and Chan et al.'s parallel merge,
//! in f64, so the result does not depend on how the rows were split into batches or shards.
//! Everything here serialises (serde), so shards travel as files or pickles and merge later.

use serde::{Deserialize, Serialize};

/// Running moments of one scalar: count, mean, sum of squared deviations (`m2`), mean of |v|,
/// mean of v², min and max.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: u64,
    #[serde(with = "json_float")]
    pub mean: f64,
    #[serde(with = "json_float")]
    pub m2: f64,
    #[serde(with = "json_float")]
    pub mean_abs: f64,
    #[serde(with = "json_float")]
    pub mean_sq: f64,
    #[serde(with = "json_float")]
    pub min: f64,
    #[serde(with = "json_float")]
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            mean_abs: 0.0,
            mean_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Add one value (Welford).
    pub fn push(&mut self, v: f64) {
        self.n += 1;
        let n = self.n as f64;
        let d = v - self.mean;
        self.mean += d / n;
        self.m2 += d * (v - self.mean);
        self.mean_abs += (v.abs() - self.mean_abs) / n;
        self.mean_sq += (v * v - self.mean_sq) / n;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Merge another set of moments into this one (Chan, Golub and LeVeque's pairwise update).
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = o.clone();
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let d = o.mean - self.mean;
        self.mean += d * nb / n;
        self.m2 += o.m2 + d * d * na * nb / n;
        self.mean_abs += (o.mean_abs - self.mean_abs) * nb / n;
        self.mean_sq += (o.mean_sq - self.mean_sq) * nb / n;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.n += o.n;
    }

    /// Population variance (NumPy's `var`, ddof = 0).
    pub fn var(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.m2 / self.n as f64
        }
    }

    /// Population standard deviation (ddof = 0).
    pub fn std(&self) -> f64 {
        self.var().sqrt()
    }

    /// Root mean square, `sqrt(E[v²])`.
    pub fn rms(&self) -> f64 {
        self.mean_sq.sqrt()
    }

    /// Standard deviation of |v|: `sqrt(E[v²] - E[|v|]²)`.
    pub fn std_abs(&self) -> f64 {
        (self.mean_sq - self.mean_abs * self.mean_abs)
            .max(0.0)
            .sqrt()
    }
}

/// A bounded uniform sample of rows (Vitter's Algorithm R with a fixed-seed generator), used for
/// the box and scatter plots. Each kept row holds the feature values, the output values and the
/// Jacobian (`components x features`, row major). Two reservoirs merge into a uniform sample of
/// the union ([`Reservoir::merge`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reservoir {
    pub capacity: usize,
    pub seen: u64,
    pub rows: Vec<SampleRow>,
    state: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    #[serde(with = "json_floats")]
    pub x: Vec<f32>,
    #[serde(with = "json_floats")]
    pub y: Vec<f32>,
    #[serde(with = "json_floats")]
    pub jac: Vec<f32>,
}

impl Reservoir {
    pub fn new(capacity: usize) -> Self {
        Reservoir {
            capacity,
            seen: 0,
            rows: Vec::new(),
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Offer one row; `make` builds it only if it is kept.
    pub fn offer(&mut self, make: impl FnOnce() -> SampleRow) {
        self.seen += 1;
        if self.rows.len() < self.capacity {
            self.rows.push(make());
        } else {
            let j = self.next_u64() % self.seen;
            if (j as usize) < self.capacity {
                self.rows[j as usize] = make();
            }
        }
    }

    /// Merge the sample of other rows into this one: the result is a sample of
    /// `min(capacity, seen)` rows of the union in which every row has the same chance to be,
    /// as if one reservoir had seen all the rows. How many rows come from each side follows
    /// the hypergeometric law (drawn one slot at a time), and each side gives a uniform subset
    /// of its own sample.
    pub fn merge(&mut self, o: &Reservoir) {
        let capacity = self.capacity.min(o.capacity);
        let seen = self.seen + o.seen;
        let k = (capacity as u64).min(seen) as usize;
        let (mut ra, mut rb) = (self.seen, o.seen);
        let mut from_a = 0;
        for _ in 0..k {
            if self.next_u64() % (ra + rb) < ra {
                from_a += 1;
                ra -= 1;
            } else {
                rb -= 1;
            }
        }
        let mut a = std::mem::take(&mut self.rows);
        let mut b = o.rows.clone();
        self.pick(&mut a, from_a);
        self.pick(&mut b, k - from_a);
        a.append(&mut b);
        self.rows = a;
        self.seen = seen;
        self.capacity = capacity;
        self.state ^= o.state.rotate_left(17);
    }

    /// Keep a uniform random subset of `k` of `rows` (a partial Fisher-Yates shuffle).
    fn pick(&mut self, rows: &mut Vec<SampleRow>, k: usize) {
        let k = k.min(rows.len());
        for i in 0..k {
            let j = i + (self.next_u64() % (rows.len() - i) as u64) as usize;
            rows.swap(i, j);
        }
        rows.truncate(k);
    }
}

/// Every statistic of a sensitivity run: per (output component, feature) the derivative's
/// moments, per feature the input's, per component the output's, optionally per (component,
/// feature, feature) the Hessian's, and a reservoir sample of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityStats {
    pub components: usize,
    pub features: usize,
    /// `jac[c * features + f]`: moments of dy_c/dx_f.
    pub jac: Vec<Moments>,
    pub x: Vec<Moments>,
    pub y: Vec<Moments>,
    /// `hess[(c * features + i) * features + j]`: moments of d²y_c/dx_i dx_j.
    pub hess: Option<Vec<Moments>>,
    pub sample: Reservoir,
}

impl SensitivityStats {
    pub fn new(components: usize, features: usize, hessian: bool, sample: usize) -> Self {
        SensitivityStats {
            components,
            features,
            jac: vec![Moments::default(); components * features],
            x: vec![Moments::default(); features],
            y: vec![Moments::default(); components],
            hess: hessian.then(|| vec![Moments::default(); components * features * features]),
            sample: Reservoir::new(sample),
        }
    }

    /// Add one row: `x` (features), `y` (components), `jac` (components x features) and, if
    /// kept, `hess` (components x features x features).
    pub fn push_row(&mut self, x: &[f32], y: &[f32], jac: &[f32], hess: Option<&[f32]>) {
        for (m, &v) in self.x.iter_mut().zip(x) {
            m.push(v as f64);
        }
        for (m, &v) in self.y.iter_mut().zip(y) {
            m.push(v as f64);
        }
        for (m, &v) in self.jac.iter_mut().zip(jac) {
            m.push(v as f64);
        }
        if let (Some(hm), Some(h)) = (self.hess.as_mut(), hess) {
            for (m, &v) in hm.iter_mut().zip(h) {
                m.push(v as f64);
            }
        }
        self.sample.offer(|| SampleRow {
            x: x.to_vec(),
            y: y.to_vec(),
            jac: jac.to_vec(),
        });
    }

    /// Merge the statistics of another run over other rows: the moments exactly (Chan), the
    /// samples as [`Reservoir::merge`]. Both must have passed [`SensitivityStats::check`] and
    /// have the same components, features and interactions.
    pub fn merge(&mut self, o: &SensitivityStats) {
        assert_eq!((self.components, self.features), (o.components, o.features));
        assert_eq!(self.hess.is_some(), o.hess.is_some());
        for (a, b) in self.jac.iter_mut().zip(&o.jac) {
            a.merge(b);
        }
        for (a, b) in self.x.iter_mut().zip(&o.x) {
            a.merge(b);
        }
        for (a, b) in self.y.iter_mut().zip(&o.y) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (self.hess.as_mut(), o.hess.as_ref()) {
            for (a, b) in a.iter_mut().zip(b) {
                a.merge(b);
            }
        }
        self.sample.merge(&o.sample);
    }

    /// Check that the sizes agree with each other (statistics read from a file): every
    /// vector has its length, and the sample holds `min(capacity, seen)` rows of the right
    /// widths.
    pub fn check(&self) -> Result<(), String> {
        let (c, f) = (self.components, self.features);
        let cf = c.checked_mul(f).ok_or("too many components and features")?;
        let want = |what: &str, got: usize, n: usize| {
            if got == n {
                Ok(())
            } else {
                Err(format!("{what} has {got} entries, not {n}"))
            }
        };
        want("jac", self.jac.len(), cf)?;
        want("x", self.x.len(), f)?;
        want("y", self.y.len(), c)?;
        if let Some(h) = &self.hess {
            want(
                "hess",
                h.len(),
                cf.checked_mul(f).ok_or("too many features")?,
            )?;
        }
        let s = &self.sample;
        want(
            "sample.rows",
            s.rows.len(),
            (s.capacity as u64).min(s.seen) as usize,
        )?;
        for r in &s.rows {
            want("a sample row's x", r.x.len(), f)?;
            want("a sample row's y", r.y.len(), c)?;
            want("a sample row's jac", r.jac.len(), cf)?;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.x.first().map_or(self.sample.seen, |m| m.n)
    }

    /// Scaled sensitivity of component `c` to feature `f`: `E|dy/dx| * std(x) / std(y)`
    /// (NaN when std(y) is 0).
    pub fn scaled(&self, c: usize, f: usize) -> f64 {
        let sy = self.y[c].std();
        if sy > 0.0 {
            self.jac[c * self.features + f].mean_abs * self.x[f].std() / sy
        } else {
            f64::NAN
        }
    }

    /// Half-width of the 95 % interval of the scaled sensitivity from the standard error of
    /// the mean of |dy/dx| (std(x) and std(y) taken as exact).
    pub fn scaled_ci95(&self, c: usize, f: usize) -> f64 {
        let sy = self.y[c].std();
        let m = &self.jac[c * self.features + f];
        if sy > 0.0 && m.n > 0 {
            1.96 * m.std_abs() / (m.n as f64).sqrt() * self.x[f].std() / sy
        } else {
            f64::NAN
        }
    }

    /// Features of component `c` ranked by scaled sensitivity, largest first (NaN last).
    pub fn ranking(&self, c: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.features).collect();
        let key = |f: usize| {
            let s = self.scaled(c, f);
            if s.is_nan() {
                // Fall back on mean |dy/dx| ordering below every finite score.
                f64::NEG_INFINITY
            } else {
                s
            }
        };
        idx.sort_by(|&a, &b| {
            key(b)
                .partial_cmp(&key(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| {
                    let ma = self.jac[c * self.features + a].mean_abs;
                    let mb = self.jac[c * self.features + b].mean_abs;
                    mb.partial_cmp(&ma).unwrap_or(std::cmp::Ordering::Equal)
                })
                .then(a.cmp(&b))
        });
        idx
    }
}

/// f64 values as JSON numbers, or as the strings `NaN`, `inf` and `-inf` (JSON has no such
/// numbers); read back exactly (serde_json's `float_roundtrip`).
mod json_float {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(super) enum Repr {
        Num(f64),
        Text(String),
    }

    pub(super) fn to_repr(v: f64) -> Repr {
        if v.is_finite() {
            Repr::Num(v)
        } else if v.is_nan() {
            Repr::Text("NaN".into())
        } else if v > 0.0 {
            Repr::Text("inf".into())
        } else {
            Repr::Text("-inf".into())
        }
    }

    pub(super) fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Num(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(E::custom(format!("{t:?} is not a number"))),
            },
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        to_repr(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }
}

/// `Vec<f32>` with [`json_float`]'s encoding of each value.
mod json_floats {
    use super::json_float::{from_repr, to_repr, Repr};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| to_repr(f64::from(x))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(|r| from_repr(r).map(|v| v as f32))
            .collect()
    }
}

/// The `q`-quantile (0..=1) of sorted values, linear interpolation (NumPy's default).
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as f64) * 0.7).sin() * 3.0 + (i % 5) as f64 - 1.5)
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn moments_match_two_pass_formulas() {
        let v = values(101);
        let mut m = Moments::default();
        v.iter().for_each(|&x| m.push(x));
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let mean_abs = v.iter().map(|x| x.abs()).sum::<f64>() / n;
        let nu = v.iter().map(|x| x * x).sum::<f64>() / n;
        assert!(close(m.mean, mean));
        assert!(close(m.var(), var));
        assert!(close(m.mean_abs, mean_abs));
        assert!(close(m.mean_sq, nu));
        assert!(close(m.rms(), nu.sqrt()));
        assert!(close(m.std_abs(), (nu - mean_abs * mean_abs).sqrt()));
        assert_eq!(m.min, v.iter().cloned().fold(f64::INFINITY, f64::min));
        assert_eq!(m.max, v.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    }

    #[test]
    fn shards_merge_to_the_whole() {
        let v = values(257);
        let mut whole = Moments::default();
        v.iter().for_each(|&x| whole.push(x));
        for cuts in [vec![0, 1, 257], vec![0, 7, 100, 101, 257], vec![0, 0, 257]] {
            let mut merged = Moments::default();
            for w in cuts.windows(2) {
                let mut shard = Moments::default();
                v[w[0]..w[1]].iter().for_each(|&x| shard.push(x));
                merged.merge(&shard);
            }
            assert_eq!(merged.n, whole.n);
            assert!(close(merged.mean, whole.mean), "{cuts:?}");
            assert!(close(merged.m2, whole.m2), "{cuts:?}");
            assert!(close(merged.mean_abs, whole.mean_abs));
            assert!(close(merged.mean_sq, whole.mean_sq));
            assert_eq!((merged.min, merged.max), (whole.min, whole.max));
        }
    }

    #[test]
    fn sensitivity_stats_merge_and_rank() {
        // y = 3 x0 + 0.1 x1: x0 dominates.
        let rows: Vec<[f32; 2]> = (0..50)
            .map(|i| [(i as f32 * 0.37).sin(), (i as f32 * 0.91).cos()])
            .collect();
        let mut whole = SensitivityStats::new(1, 2, true, 16);
        let mut a = SensitivityStats::new(1, 2, true, 16);
        let mut b = SensitivityStats::new(1, 2, true, 16);
        for (i, x) in rows.iter().enumerate() {
            let y = [3.0 * x[0] + 0.1 * x[1]];
            let j = [3.0, 0.1];
            let h = [0.0; 4];
            whole.push_row(x, &y, &j, Some(&h));
            if i < 20 { &mut a } else { &mut b }.push_row(x, &y, &j, Some(&h));
        }
        a.merge(&b);
        for (p, q) in a.jac.iter().zip(&whole.jac).chain(a.x.iter().zip(&whole.x)) {
            assert!(close(p.mean, q.mean) && close(p.m2, q.m2) && p.n == q.n);
        }
        assert_eq!(whole.ranking(0), vec![0, 1]);
        assert_eq!(whole.sample.rows.len(), 16);
        assert_eq!(whole.sample.seen, 50);
        assert!(whole.scaled(0, 0) > whole.scaled(0, 1));
    }

    fn stats_over(rows: std::ops::Range<usize>, sample: usize, seed: u64) -> SensitivityStats {
        let mut st = SensitivityStats::new(1, 2, true, sample);
        st.sample.state = seed;
        for i in rows {
            let x = [(i as f32 * 0.37).sin(), (i as f32 * 0.91).cos()];
            let y = [x[0] * x[1]];
            st.push_row(&x, &y, &[x[1], x[0]], Some(&[0.0, 1.0, 1.0, 0.0]));
        }
        st
    }

    #[test]
    fn merged_samples_are_uniform_over_the_union() {
        // Rows 0..100 in a shard of 10 and one of 90, sample of 20: over many seeds (merge
        // states), each row is kept about 20/100 of the time, whichever shard it is in.
        let mut kept = vec![0u32; 100];
        let trials = 4000;
        for t in 0..trials {
            let mut a = stats_over(0..10, 20, t);
            let b = stats_over(10..100, 20, t.wrapping_mul(7919) + 1);
            a.merge(&b);
            assert_eq!(a.sample.rows.len(), 20);
            assert_eq!(a.sample.seen, 100);
            a.check().unwrap();
            for r in &a.sample.rows {
                let i = (0..100)
                    .find(|&i| {
                        (i as f32 * 0.37).sin() == r.x[0] && (i as f32 * 0.91).cos() == r.x[1]
                    })
                    .unwrap();
                kept[i] += 1;
            }
        }
        let expect = trials as f64 * 0.2;
        let (lo, hi) = (
            kept[..10].iter().sum::<u32>(),
            kept[10..].iter().sum::<u32>(),
        );
        // Shard a's rows make 10 % of the sample, shard b's 90 %.
        assert!((lo as f64 / 10.0 - expect).abs() < 0.1 * expect, "{lo}");
        assert!((hi as f64 / 90.0 - expect).abs() < 0.05 * expect, "{hi}");
        for &k in &kept {
            assert!((k as f64 - expect).abs() < 0.25 * expect, "{kept:?}");
        }
        // Fewer rows than the capacity: every row is kept.
        let mut a = stats_over(0..3, 20, 1);
        a.merge(&stats_over(3..8, 20, 2));
        assert_eq!(a.sample.rows.len(), 8);
    }

    #[test]
    fn stats_round_trip_through_json_exactly() {
        let mut st = stats_over(0..57, 16, 5);
        st.jac[0].max = f64::INFINITY;
        st.y[0].mean = f64::NAN;
        st.sample.rows[3].jac[1] = f32::NEG_INFINITY;
        let text = serde_json::to_string(&st).unwrap();
        let back: SensitivityStats = serde_json::from_str(&text).unwrap();
        assert!(back.y[0].mean.is_nan());
        assert_eq!(back.jac, st.jac);
        assert_eq!(back.x, st.x);
        assert_eq!(back.sample, st.sample);
        assert_eq!(back.hess, st.hess);
        back.check().unwrap();
        let empty = SensitivityStats::new(2, 3, false, 4);
        let back: SensitivityStats =
            serde_json::from_str(&serde_json::to_string(&empty).unwrap()).unwrap();
        assert_eq!(back, empty);
        let mut bad = st.clone();
        bad.sample.rows.pop();
        assert!(bad.check().unwrap_err().contains("sample.rows"));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
    }
}
