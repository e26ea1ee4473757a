//! Streaming, mergeable statistics: Welford's update per value and Chan et al.'s parallel merge,
//! in f64, so the result does not depend on how the rows were split into batches or shards.

/// Running moments of one scalar: count, mean, sum of squared deviations (`m2`), mean of |v|,
/// mean of v², min and max.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
    pub mean_abs: f64,
    pub mean_sq: f64,
    pub min: f64,
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
/// Jacobian (`components x features`, row major).
#[derive(Clone, Debug)]
pub struct Reservoir {
    pub capacity: usize,
    pub seen: u64,
    pub rows: Vec<SampleRow>,
    state: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SampleRow {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
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
}

/// Every statistic of a sensitivity run: per (output component, feature) the derivative's
/// moments, per feature the input's, per component the output's, optionally per (component,
/// feature, feature) the Hessian's, and a reservoir sample of rows.
#[derive(Clone, Debug)]
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

    /// Merge the moments of another run over other rows (the sample is not merged).
    pub fn merge(&mut self, o: &SensitivityStats) {
        assert_eq!((self.components, self.features), (o.components, o.features));
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

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
    }
}
