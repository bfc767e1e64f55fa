//! Fused per-block kernels.  Each walks a block once, four pixels at a time
//! with independent accumulators per lane (so the loops vectorise and the
//! dependency chains stay short), and hands back block totals that the caller
//! adds to compensated running sums.

use multiversion::multiversion;

pub use crate::stats::BlockStats;
use crate::sum::Neumaier;

/// Pixels processed together (a power of two: 8 fills an AVX-512 register
/// and gives two independent AVX2 chains per accumulator).
const L: usize = 8;

/// Highest Chebyshev moment any fit needs (2 x the highest degree, 12).
pub const MAX_MOMENT: usize = 24;

/// Running sums of the Chebyshev moments `sum T_k(t)` and `sum y T_k(t)`.
#[derive(Debug, Clone)]
pub struct MomentSums {
    /// `sum T_k(t)`, `k = 0..=kmax`.
    pub m: Vec<Neumaier>,
    /// `sum y T_k(t)`, `k = 0..=dmax`.
    pub b: Vec<Neumaier>,
}

impl MomentSums {
    /// Zeroed sums for moments up to `2 * degree`.
    #[must_use]
    pub fn new(degree: usize) -> MomentSums {
        MomentSums {
            m: vec![Neumaier::default(); 2 * degree + 1],
            b: vec![Neumaier::default(); degree + 1],
        }
    }

    /// Zeroed sums for the projections `sum w T_k(t)`, `k = 0..=degree`, only.
    #[must_use]
    pub fn projection(degree: usize) -> MomentSums {
        MomentSums {
            m: vec![Neumaier::default(); degree + 1],
            b: vec![Neumaier::default(); degree + 1],
        }
    }

    /// Add the sums of another part of the same arrays.
    pub fn merge(&mut self, o: &MomentSums) {
        for (a, b) in self.m.iter_mut().zip(&o.m) {
            a.merge(b);
        }
        for (a, b) in self.b.iter_mut().zip(&o.b) {
            a.merge(b);
        }
    }

    /// Re-express the sums in the variable `u = alpha t + beta` (a wider
    /// interval: `[-1, 1]` in `t` maps inside `[-1, 1]` in `u`, so the
    /// coefficients involved stay of order one and the change is well
    /// conditioned).
    pub fn rescale(&mut self, alpha: f64, beta: f64) {
        let k = self.m.len() - 1;
        let mat = affine_chebyshev(k, alpha, beta);
        let old_m: Vec<f64> = self.m.iter().map(Neumaier::value).collect();
        let old_b: Vec<f64> = self.b.iter().map(Neumaier::value).collect();
        for (j, out) in self.m.iter_mut().enumerate() {
            let mut acc = Neumaier::default();
            for (i, v) in old_m.iter().enumerate().take(j + 1) {
                acc.add(mat[j * (k + 1) + i] * v);
            }
            *out = acc;
        }
        for (j, out) in self.b.iter_mut().enumerate() {
            let mut acc = Neumaier::default();
            for (i, v) in old_b.iter().enumerate().take(j + 1) {
                acc.add(mat[j * (k + 1) + i] * v);
            }
            *out = acc;
        }
    }

    /// Add `count` pixels that all have `t = t0`, with `sum_y` the sum of their `y`.
    pub fn add_constant(&mut self, count: f64, sum_y: f64, t0: f64) {
        let (mut prev, mut cur) = (1.0, t0);
        for k in 0..self.m.len() {
            let tk = match k {
                0 => 1.0,
                1 => t0,
                _ => {
                    let next = 2.0 * t0 * cur - prev;
                    prev = cur;
                    cur = next;
                    next
                }
            };
            self.m[k].add(count * tk);
            if k < self.b.len() {
                self.b[k].add(sum_y * tk);
            }
        }
    }

    /// Add one block of usable `(x, y)` pairs, with `t = (x - center) * inv_half_width`;
    /// returns the block's `(sum (y - x), sum x^2, sum x y)` (see [`add_mult_sums`]),
    /// accumulated in the same loop.
    pub fn add_block(
        &mut self,
        xs: &[f64],
        ys: &[f64],
        center: f64,
        inv_half_width: f64,
    ) -> (f64, f64, f64) {
        let kmax = self.m.len() - 1;
        let dmax = self.b.len() - 1;
        let (am, ab, e) = moment_block(xs, ys, center, inv_half_width, kmax, dmax);
        for k in 0..=kmax {
            self.m[k].add(lane_total(&am[k]));
        }
        for k in 0..=dmax {
            self.b[k].add(lane_total(&ab[k]));
        }
        (lane_total(&e[0]), lane_total(&e[1]), lane_total(&e[2]))
    }
}

/// Chebyshev coefficients of `T_j(alpha t + beta)`, `j = 0..=k`: row `j` of the
/// returned row-major `(k + 1) x (k + 1)` matrix holds `M[j][i]` with
/// `T_j(alpha t + beta) = sum_i M[j][i] T_i(t)` (lower triangular).
#[must_use]
pub fn affine_chebyshev(k: usize, alpha: f64, beta: f64) -> Vec<f64> {
    let w = k + 1;
    let mut mat = vec![0.0; w * w];
    mat[0] = 1.0;
    if k == 0 {
        return mat;
    }
    mat[w] = beta;
    mat[w + 1] = alpha;
    for j in 1..k {
        // P_{j+1} = 2 (alpha t + beta) P_j - P_{j-1}, with t T_0 = T_1 and
        // t T_i = (T_{i+1} + T_{i-1}) / 2
        let (lower, upper) = mat.split_at_mut((j + 1) * w);
        let pj = &lower[j * w..(j + 1) * w];
        let pm = &lower[(j - 1) * w..j * w];
        let next = &mut upper[..w];
        for i in 0..=j {
            let c = pj[i];
            if c == 0.0 {
                continue;
            }
            next[i] += 2.0 * beta * c;
            if i == 0 {
                next[1] += 2.0 * alpha * c;
            } else {
                next[i + 1] += alpha * c;
                next[i - 1] += alpha * c;
            }
        }
        for i in 0..w {
            next[i] -= pm[i];
        }
    }
    mat
}

type MomentLanes = (
    [[f64; L]; MAX_MOMENT + 1],
    [[f64; L]; MAX_MOMENT / 2 + 1],
    [[f64; L]; 3],
);

/// Lane totals of the Chebyshev moments of one block (compiled for AVX-512
/// and AVX2 too and chosen at run time).  Products are accumulated with
/// explicit fused multiply-adds (`f64::mul_add`, one rounding, so every build
/// gives the same bits: a CPU without FMA computes the same value in
/// software).  The degree is made a compile-time constant so that the moment
/// accumulators stay in registers.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn moment_block(
    xs: &[f64],
    ys: &[f64],
    center: f64,
    inv_half_width: f64,
    kmax: usize,
    dmax: usize,
) -> MomentLanes {
    macro_rules! go {
        ($($d:literal)*) => {
            match dmax {
                $($d if kmax == 2 * $d => moment_block_d::<$d, { 2 * $d }>(xs, ys, center, inv_half_width),)*
                _ => moment_block_any(xs, ys, center, inv_half_width, kmax, dmax),
            }
        };
    }
    go!(0 1 2 3 4 5 6 7 8 9 10 11 12)
}

#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn moment_block_d<const D: usize, const K: usize>(
    xs: &[f64],
    ys: &[f64],
    center: f64,
    inv_half_width: f64,
) -> MomentLanes {
    moment_block_any(xs, ys, center, inv_half_width, K, D)
}

#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn moment_block_any(
    xs: &[f64],
    ys: &[f64],
    center: f64,
    inv_half_width: f64,
    kmax: usize,
    dmax: usize,
) -> MomentLanes {
    let mut am = [[0.0_f64; L]; MAX_MOMENT + 1];
    let mut ab = [[0.0_f64; L]; MAX_MOMENT / 2 + 1];
    // sum (y - x), sum x^2, sum x y for the additive and multiplicative models
    let mut e = [[0.0_f64; L]; 3];
    let n = xs.len().min(ys.len());
    let whole = n - n % L;
    // lane sums of at most SUM_RUN terms, added up per block (blocked summation)
    for start in (0..whole).step_by(SUM_RUN) {
        let end = (start + SUM_RUN).min(whole);
        let mut rm = [[0.0_f64; L]; MAX_MOMENT + 1];
        let mut rb = [[0.0_f64; L]; MAX_MOMENT / 2 + 1];
        let mut re = [[0.0_f64; L]; 3];
        for (cx, cy) in xs[start..end]
            .chunks_exact(L)
            .zip(ys[start..end].chunks_exact(L))
        {
            let x: V = std::array::from_fn(|l| cx[l]);
            let y: V = std::array::from_fn(|l| cy[l]);
            let t = v_mul(&v_sub(&x, &[center; L]), &[inv_half_width; L]);
            re[0] = v_add(&re[0], &v_sub(&y, &x));
            re[1] = v_fma(&x, &x, &re[1]);
            re[2] = v_fma(&x, &y, &re[2]);
            accumulate_lanes(&t, &y, kmax, dmax, &mut rm, &mut rb);
        }
        for k in 1..=kmax {
            am[k] = v_add(&am[k], &rm[k]);
        }
        for k in 0..=dmax {
            ab[k] = v_add(&ab[k], &rb[k]);
        }
        for k in 0..3 {
            e[k] = v_add(&e[k], &re[k]);
        }
    }
    let rest = n - whole;
    if rest > 0 {
        // dead lanes hold x = y = 0: they add exactly 0 to the sums of `e`
        // (whole-register updates: per-lane ones here made LLVM split `e`
        // across registers, with shuffles, in the main loop above)
        let x: V = std::array::from_fn(|l| if l < rest { xs[whole + l] } else { 0.0 });
        let y: V = std::array::from_fn(|l| if l < rest { ys[whole + l] } else { 0.0 });
        let t = v_mul(&v_sub(&x, &[center; L]), &[inv_half_width; L]);
        e[0] = v_add(&e[0], &v_sub(&y, &x));
        e[1] = v_fma(&x, &x, &e[1]);
        e[2] = v_fma(&x, &y, &e[2]);
        let mut tm = [[0.0_f64; L]; MAX_MOMENT + 1];
        let mut tb = [[0.0_f64; L]; MAX_MOMENT / 2 + 1];
        accumulate_lanes(&t, &y, kmax, dmax, &mut tm, &mut tb);
        for k in 0..=kmax {
            for l in 0..rest {
                am[k][l] += tm[k][l];
            }
        }
        for k in 0..=dmax {
            for l in 0..rest {
                ab[k][l] += tb[k][l];
            }
        }
    }
    // T_0 = 1: each lane's count of pixels (exact), without an add per register
    #[allow(clippy::cast_precision_loss)]
    {
        am[0] = std::array::from_fn(|l| (whole / L + usize::from(l < rest)) as f64);
    }
    (am, ab, e)
}

#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn accumulate_lanes(
    t: &[f64; L],
    y: &[f64; L],
    kmax: usize,
    dmax: usize,
    am: &mut [[f64; L]; MAX_MOMENT + 1],
    ab: &mut [[f64; L]; MAX_MOMENT / 2 + 1],
) {
    let mut prev: V = [1.0; L];
    let mut cur = *t;
    let t2 = v_add(t, t);
    // am[0] (the count, T_0 = 1) is set by the caller
    ab[0] = v_add(&ab[0], y);
    am[1] = v_add(&am[1], &cur);
    ab[1] = v_fma(y, &cur, &ab[1]);
    for k in 2..=kmax {
        let next = v_fms(&t2, &cur, &prev);
        am[k] = v_add(&am[k], &next);
        if k <= dmax {
            ab[k] = v_fma(y, &next, &ab[k]);
        }
        prev = cur;
        cur = next;
    }
}

/// Lane sums `(y - x, x^2, x y)` over the whole chunks of a block.  Kept in
/// this shape (its own dispatched function, a helper that updates
/// `&mut [V; 3]`, the lanes returned): with the totals in the same function,
/// LLVM leaves the loop scalar.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn add_mult_lanes(xs: &[f64], ys: &[f64]) -> [V; 3] {
    #[inline(always)]
    #[allow(clippy::inline_always)]
    fn step(x: &V, y: &V, acc: &mut [V; 3]) {
        acc[0] = v_add(&acc[0], &v_sub(y, x));
        acc[1] = v_fma(x, x, &acc[1]);
        acc[2] = v_fma(x, y, &acc[2]);
    }
    let n = xs.len().min(ys.len());
    let whole = n - n % L;
    let mut acc = [[0.0; L]; 3];
    for (x, y) in xs[..whole].chunks_exact(L).zip(ys[..whole].chunks_exact(L)) {
        let x: V = std::array::from_fn(|l| x[l]);
        let y: V = std::array::from_fn(|l| y[l]);
        step(&x, &y, &mut acc);
    }
    acc
}

/// Block totals `(sum (y - x), sum x^2, sum x y)` for the additive and multiplicative models.
#[must_use]
pub fn add_mult_sums(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let n = xs.len().min(ys.len());
    let [mut d, mut xx, mut xy] = add_mult_lanes(xs, ys);
    for i in n - n % L..n {
        let (x, y) = (xs[i], ys[i]);
        // (not `mul_add`: this function is not compiled for FMA, where it
        // would be a library call; the rounding of a tail does not matter)
        d[0] += y - x;
        xx[0] += x * x;
        xy[0] += x * y;
    }
    (lane_total(&d), lane_total(&xx), lane_total(&xy))
}

#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn lane_min(a: &mut [f64; L], c: &[f64; L]) {
    for l in 0..L {
        a[l] = if c[l] < a[l] { c[l] } else { a[l] };
    }
}

#[inline(always)]
#[allow(clippy::inline_always)] // must inline into each target-specific caller
fn lane_max(a: &mut [f64; L], c: &[f64; L]) {
    for l in 0..L {
        a[l] = if c[l] > a[l] { c[l] } else { a[l] };
    }
}

/// Smallest and largest value of a block of finite values (`(inf, -inf)` when empty).
///
/// Two chunks per step, each extreme in its own helper: written this way the
/// loop compiles to `vminpd` / `vmaxpd` (a combined loop or `f64::min` stays scalar).
#[must_use]
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
pub fn range_block(xs: &[f64]) -> (f64, f64) {
    let mut lo = [[f64::INFINITY; L]; 2];
    let mut hi = [[f64::NEG_INFINITY; L]; 2];
    let mut chunks = xs.chunks_exact(2 * L);
    for c in &mut chunks {
        let a: [f64; L] = std::array::from_fn(|l| c[l]);
        let b: [f64; L] = std::array::from_fn(|l| c[L + l]);
        lane_min(&mut lo[0], &a);
        lane_min(&mut lo[1], &b);
        lane_max(&mut hi[0], &a);
        lane_max(&mut hi[1], &b);
    }
    let (l1, h1) = (lo[1], hi[1]);
    lane_min(&mut lo[0], &l1);
    lane_max(&mut hi[0], &h1);
    let (mut lo, mut hi) = (
        lo[0].iter().copied().fold(f64::INFINITY, f64::min),
        hi[0].iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    for &x in chunks.remainder() {
        lo = if x < lo { x } else { lo };
        hi = if x > hi { x } else { hi };
    }
    (lo, hi)
}

/// Evaluate the Chebyshev series `cheb` (lowest first) at `(x - center) * inv_half_width`.
pub fn eval_cheb(xs: &[f64], cheb: &[f64], center: f64, inv_half_width: f64, out: &mut [f64]) {
    let n = xs.len();
    let deg = cheb.len().saturating_sub(1);
    if cheb.len() <= 1 {
        out[..n].fill(cheb.first().copied().unwrap_or(0.0));
        return;
    }
    let mut i = 0;
    while i < n {
        let m = (n - i).min(L);
        let mut t = [0.0; L];
        for l in 0..m {
            t[l] = (xs[i + l] - center) * inv_half_width;
        }
        let mut b1 = [cheb[deg]; L];
        let mut b2 = [0.0; L];
        for k in (1..deg).rev() {
            let c = cheb[k];
            for l in 0..L {
                let next = c + 2.0 * t[l] * b1[l] - b2[l];
                b2[l] = b1[l];
                b1[l] = next;
            }
        }
        for l in 0..m {
            out[i + l] = cheb[0] + t[l] * b1[l] - b2[l];
        }
        i += m;
    }
}

/// Reference (tests only): residual statistics of one block, `r = y - fitted`, fractions `r * inv_y`
/// where `inv_y` is `1 / y` (0 where `y == 0`, those pixels counted by the caller).
#[must_use]
#[cfg(test)]
pub fn block_stats(ys: &[f64], fitted: &[f64], inv_y: &[f64], n_frac: usize) -> BlockStats {
    let n = ys.len();
    let mut s = [0.0; L];
    let mut s2 = [0.0; L];
    let mut fs = [0.0; L];
    let mut fs2 = [0.0; L];
    let mut mn = [f64::INFINITY; L];
    let mut mx = [f64::NEG_INFINITY; L];
    let whole = n - n % L;
    for i in (0..whole).step_by(L) {
        for l in 0..L {
            let r = ys[i + l] - fitted[i + l];
            s[l] += r;
            s2[l] += r * r;
            mn[l] = if r < mn[l] { r } else { mn[l] };
            mx[l] = if r > mx[l] { r } else { mx[l] };
            let q = r * inv_y[i + l];
            fs[l] += q;
            fs2[l] += q * q;
        }
    }
    for i in whole..n {
        let r = ys[i] - fitted[i];
        s[0] += r;
        s2[0] += r * r;
        mn[0] = mn[0].min(r);
        mx[0] = mx[0].max(r);
        let q = r * inv_y[i];
        fs[0] += q;
        fs2[0] += q * q;
    }
    BlockStats {
        n,
        sum: lane_total(&s),
        sumsq: lane_total(&s2),
        min: mn.iter().copied().fold(f64::INFINITY, f64::min),
        max: mx.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        n_frac,
        frac_sum: lane_total(&fs),
        frac_sumsq: lane_total(&fs2),
    }
}

/// `inv[i] = 1 / y[i]` (0 where `y[i] == 0`); returns how many are non-zero.
/// The reference the tests hold [`prepare_block`] to (which computes the
/// same in the statistics pass).
#[cfg(test)]
pub fn inverse_or_zero(ys: &[f64], inv: &mut [f64]) -> usize {
    let mut nz = 0;
    for (o, &y) in inv.iter_mut().zip(ys) {
        let ok = y != 0.0;
        *o = if ok { 1.0 / y } else { 0.0 };
        nz += usize::from(ok);
    }
    nz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_direct_sums() {
        let xs: Vec<f64> = (0..37).map(|i| f64::from(i) * 0.1 - 1.0).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x + 2.0).collect();
        let mut ms = MomentSums::new(3);
        let (d, xx, xy) = ms.add_block(&xs, &ys, 0.8, 1.0 / 1.8);
        let (d2, xx2, xy2) = add_mult_sums(&xs, &ys);
        assert!((d - d2).abs() < 1e-12 && (xx - xx2).abs() < 1e-12 && (xy - xy2).abs() < 1e-12);
        for k in 0..=6 {
            let want: f64 = xs
                .iter()
                .map(|x| ((x - 0.8) / 1.8_f64).clamp(-1.0, 1.0).acos())
                .map(|a| (k as f64 * a).cos())
                .sum();
            assert!((ms.m[k].value() - want).abs() < 1e-12, "m{k}");
        }
        let want_b1: f64 = xs.iter().zip(&ys).map(|(x, y)| y * (x - 0.8) / 1.8).sum();
        assert!((ms.b[1].value() - want_b1).abs() < 1e-12);
        assert!((ms.m[0].value() - 37.0).abs() < 1e-15);
    }

    #[test]
    fn affine_chebyshev_matches_direct_evaluation() {
        let (alpha, beta) = (0.37, -0.21);
        let k = 9;
        let mat = affine_chebyshev(k, alpha, beta);
        for &t in &[-1.0, -0.6, 0.0, 0.3, 1.0] {
            let u: f64 = alpha * t + beta;
            for j in 0..=k {
                let want = (j as f64 * u.acos()).cos();
                let got: f64 = (0..=k)
                    .map(|i| mat[j * (k + 1) + i] * (i as f64 * f64::acos(t)).cos())
                    .sum();
                assert!((got - want).abs() < 1e-13, "j={j} t={t}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn rescaled_moments_equal_moments_of_the_wider_interval() {
        let xs: Vec<f64> = (0..500).map(|i| 40.0 + f64::from(i % 97) * 1.3).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 0.5 * x + 3.0).collect();
        // narrow interval first, then widened to [10, 400]
        let (c1, h1) = (0.5 * (40.0 + 164.8), 0.5 * (164.8 - 40.0));
        let (c2, h2) = (205.0, 195.0);
        let mut a = MomentSums::new(4);
        a.add_block(&xs, &ys, c1, 1.0 / h1);
        a.rescale(h1 / h2, (c1 - c2) / h2);
        let mut b = MomentSums::new(4);
        b.add_block(&xs, &ys, c2, 1.0 / h2);
        for k in 0..=8 {
            assert!(
                (a.m[k].value() - b.m[k].value()).abs() < 1e-11 * 500.0,
                "m{k}"
            );
        }
        for k in 0..=4 {
            assert!(
                (a.b[k].value() - b.b[k].value()).abs() < 1e-11 * 500.0 * 85.0,
                "b{k}"
            );
        }
        let mut c = MomentSums::new(4);
        c.add_constant(3.0, 12.0, 0.25);
        let mut d = MomentSums::new(4);
        d.add_block(&[0.25, 0.25, 0.25], &[4.0, 4.0, 4.0], 0.0, 1.0);
        for k in 0..=8 {
            assert!(
                (c.m[k].value() - d.m[k].value()).abs() < 1e-14,
                "const m{k}"
            );
        }
    }

    #[test]
    fn range_block_matches_fold() {
        let xs: Vec<f64> = (0..37)
            .map(|i| f64::from((i * 7919) % 101) - 50.0)
            .collect();
        for n in [0, 1, 7, 8, 9, 37] {
            let want = xs[..n]
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            assert_eq!(range_block(&xs[..n]), want, "{n}");
        }
    }

    #[test]
    fn eval_cheb_matches_closed_form() {
        let xs = [0.0, 1.0, 2.5, 4.0, 5.0];
        let cheb = [0.5, -1.0, 2.0];
        let mut out = [0.0; 5];
        eval_cheb(&xs, &cheb, 2.5, 1.0 / 2.5, &mut out);
        for (o, x) in out.iter().zip(xs) {
            let t = (x - 2.5) / 2.5;
            assert!((o - (0.5 - t + 2.0 * (2.0 * t * t - 1.0))).abs() < 1e-14);
        }
        eval_cheb(&xs, &[4.0], 0.0, 1.0, &mut out);
        assert_eq!(out, [4.0; 5]);
    }

    #[test]
    fn block_stats_hand_values() {
        let ys = [1.0, 2.0, 0.0, 8.0, 5.0];
        let fitted = [0.0, 0.0, -3.0, 4.0, 0.0];
        let mut inv = [0.0; 5];
        let nz = inverse_or_zero(&ys, &mut inv);
        assert_eq!(nz, 4);
        let s = block_stats(&ys, &fitted, &inv, nz);
        // residuals 1, 2, 3, 4, 5; fractions 1, 1, 0.5, 1
        assert_eq!((s.sum, s.sumsq, s.min, s.max), (15.0, 55.0, 1.0, 5.0));
        assert_eq!((s.frac_sum, s.frac_sumsq), (3.5, 3.25));
    }
}

/// How one model is evaluated in the fused statistics pass.
#[derive(Debug, Clone, Copy)]
pub enum Eval<'a> {
    /// `x + a`.
    Add(f64),
    /// `a * x`.
    Mult(f64),
    /// Chebyshev series in `t` (lowest first).
    Poly(&'a [f64]),
}

/// Pairwise total of the lanes (the same order for every build).
pub(crate) fn lane_total(a: &[f64; L]) -> f64 {
    let mut v = *a;
    let mut width = L;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            v[l] += v[l + width];
        }
    }
    v[0]
}

/// Lane accumulators of the statistics and gradient of one model over one block.
#[derive(Debug, Clone, Copy)]
pub struct ModelLanes {
    s: [f64; L],
    s2: [f64; L],
    mn: [f64; L],
    mx: [f64; L],
    fs: [f64; L],
    fs2: [f64; L],
    g: [[f64; L]; MAX_MOMENT / 2 + 1],
}

impl ModelLanes {
    /// Add the lanes of a run of the same block (`g` up to degree `D`).
    #[inline(always)]
    #[allow(clippy::inline_always)]
    fn absorb<const D: usize>(&mut self, run: &ModelLanes) {
        self.s = v_add(&self.s, &run.s);
        self.s2 = v_add(&self.s2, &run.s2);
        self.fs = v_add(&self.fs, &run.fs);
        self.fs2 = v_add(&self.fs2, &run.fs2);
        self.mn = std::array::from_fn(|l| {
            if run.mn[l] < self.mn[l] {
                run.mn[l]
            } else {
                self.mn[l]
            }
        });
        self.mx = std::array::from_fn(|l| {
            if run.mx[l] > self.mx[l] {
                run.mx[l]
            } else {
                self.mx[l]
            }
        });
        for k in 1..=D {
            self.g[k] = v_add(&self.g[k], &run.g[k]);
        }
    }

    fn new() -> ModelLanes {
        ModelLanes {
            s: [0.0; L],
            s2: [0.0; L],
            mn: [f64::INFINITY; L],
            mx: [f64::NEG_INFINITY; L],
            fs: [0.0; L],
            fs2: [0.0; L],
            g: [[0.0; L]; MAX_MOMENT / 2 + 1],
        }
    }

    /// Block totals of the statistics.
    #[must_use]
    pub fn totals(&self, n: usize, n_frac: usize) -> BlockStats {
        BlockStats {
            n,
            sum: lane_total(&self.s),
            sumsq: lane_total(&self.s2),
            min: self.mn.iter().copied().fold(f64::INFINITY, f64::min),
            max: self.mx.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n_frac,
            frac_sum: lane_total(&self.fs),
            frac_sumsq: lane_total(&self.fs2),
        }
    }

    /// Block totals of the gradient `sum r T_k(t)`, `k <= degree`.
    #[must_use]
    pub fn gradient(&self, degree: usize) -> Vec<f64> {
        (0..=degree).map(|k| self.gradient_term(k)).collect()
    }

    /// Block total of the gradient term `sum r T_k(t)` (0 beyond the largest
    /// degree), without the allocation of [`ModelLanes::gradient`].
    #[must_use]
    pub fn gradient_term(&self, k: usize) -> f64 {
        // `g[0]` is never accumulated: sum r T_0 is the sum of the residuals
        if k == 0 {
            return lane_total(&self.s);
        }
        self.g.get(k).map_or(0.0, lane_total)
    }
}

/// Statistics (and, for polynomials, the gradient) of one model over one
/// block, one model at a time so that its accumulators stay in registers.
#[inline(always)]
#[allow(clippy::inline_always)]
fn model_block<const D: usize>(
    xs: &[f64],
    ys: &[f64],
    inv_y: &[f64],
    ts: &[f64],
    model: Eval<'_>,
) -> ModelLanes {
    let n = xs.len().min(ys.len()).min(inv_y.len()).min(ts.len());
    let mut acc = ModelLanes::new();
    let mut c = [0.0; MAX_MOMENT / 2 + 1];
    if let Eval::Poly(cheb) = model {
        c[..=D].copy_from_slice(&cheb[..=D]);
    }
    let whole = n - n % L;
    // lane sums of at most SUM_RUN terms, added up per block (blocked summation)
    for start in (0..whole).step_by(SUM_RUN) {
        let end = (start + SUM_RUN).min(whole);
        let mut run = ModelLanes::new();
        for (((x, y), iy), t) in xs[start..end]
            .chunks_exact(L)
            .zip(ys[start..end].chunks_exact(L))
            .zip(inv_y[start..end].chunks_exact(L))
            .zip(ts[start..end].chunks_exact(L))
        {
            let x: V = std::array::from_fn(|l| x[l]);
            let y: V = std::array::from_fn(|l| y[l]);
            let iy: V = std::array::from_fn(|l| iy[l]);
            let t: V = std::array::from_fn(|l| t[l]);
            model_chunk::<D, false>(&x, &t, &y, &iy, L, model, &c, &mut run);
        }
        acc.absorb::<D>(&run);
    }
    if whole < n {
        // dead lanes hold x = t = y = 0 (`model_chunk` zeroes their residuals)
        let m = n - whole;
        let lane = |v: &[f64], l: usize, dead: f64| if l < m { v[whole + l] } else { dead };
        let x: V = std::array::from_fn(|l| lane(xs, l, 0.0));
        let t: V = std::array::from_fn(|l| lane(ts, l, 0.0));
        let y: V = std::array::from_fn(|l| lane(ys, l, 0.0));
        let iy: V = std::array::from_fn(|l| lane(inv_y, l, 0.0));
        model_chunk::<D, true>(&x, &t, &y, &iy, m, model, &c, &mut acc);
    }
    acc
}

/// Pixels whose terms one lane accumulator takes before it is added into the
/// block's (blocked summation: each lane sums at most `SUM_RUN / L` terms, so
/// the rounding of a block's sums does not grow with [`crate::view::BLOCK`]).
const SUM_RUN: usize = 1024;

/// One register of lanes.  The kernels below are written as whole-register
/// operations (small always-inlined helpers): LLVM then keeps every value in a
/// vector register, where per-lane loops over 2-d arrays made it split
/// registers and round-trip them through the stack.
pub(crate) type V = [f64; L];

#[inline(always)]
#[allow(clippy::inline_always)]
pub(crate) fn v_add(a: &V, b: &V) -> V {
    std::array::from_fn(|l| a[l] + b[l])
}

#[inline(always)]
#[allow(clippy::inline_always)]
fn v_sub(a: &V, b: &V) -> V {
    std::array::from_fn(|l| a[l] - b[l])
}

#[inline(always)]
#[allow(clippy::inline_always)]
fn v_mul(a: &V, b: &V) -> V {
    std::array::from_fn(|l| a[l] * b[l])
}

/// `a * b + c` with one rounding.
#[inline(always)]
#[allow(clippy::inline_always)]
fn v_fma(a: &V, b: &V, c: &V) -> V {
    std::array::from_fn(|l| a[l].mul_add(b[l], c[l]))
}

/// `a * b - c` with one rounding.
#[inline(always)]
#[allow(clippy::inline_always)]
fn v_fms(a: &V, b: &V, c: &V) -> V {
    std::array::from_fn(|l| a[l].mul_add(b[l], -c[l]))
}

#[inline(always)]
#[allow(clippy::inline_always, clippy::too_many_arguments)]
fn model_chunk<const D: usize, const TAIL: bool>(
    x: &V,
    t: &V,
    y: &V,
    iy: &V,
    m: usize,
    model: Eval<'_>,
    c: &[f64; MAX_MOMENT / 2 + 1],
    acc: &mut ModelLanes,
) {
    let mut tk = [[0.0; L]; MAX_MOMENT / 2 + 1];
    let f = fitted_chunk::<D>(x, t, model, c, &mut tk);
    let mut r = v_sub(y, &f);
    // extremes: a dead tail lane repeats lane 0 (m >= 1), so no lane test is needed
    let mut e = r;
    if TAIL {
        for l in m..L {
            e[l] = r[0];
            r[l] = 0.0;
        }
    }
    acc.s = v_add(&acc.s, &r);
    acc.s2 = v_fma(&r, &r, &acc.s2);
    let q = v_mul(&r, iy);
    acc.fs = v_add(&acc.fs, &q);
    acc.fs2 = v_fma(&q, &q, &acc.fs2);
    acc.mn = std::array::from_fn(|l| if e[l] < acc.mn[l] { e[l] } else { acc.mn[l] });
    acc.mx = std::array::from_fn(|l| if e[l] > acc.mx[l] { e[l] } else { acc.mx[l] });
    // g[0] = sum r T_0 = sum r is `s` (T_0 = 1, so fma(r, 1, g) = g + r exactly)
    if D > 0 {
        for k in 1..=D {
            acc.g[k] = v_fma(&r, &tk[k], &acc.g[k]);
        }
    }
}

/// Polynomial degree of a model (0 for the additive and multiplicative ones).
fn degree_of(model: Eval<'_>) -> usize {
    match model {
        Eval::Poly(c) => c.len().saturating_sub(1),
        _ => 0,
    }
}

/// Call `f::<D>(args)` with `D` the compile-time constant equal to `degree`
/// (degrees above 11 use 12, the highest), so that every kernel loop over the
/// Chebyshev terms is unrolled and its values stay in registers.
macro_rules! by_degree {
    ($degree:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $degree {
            0 => $f::<0>($($arg),*),
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            9 => $f::<9>($($arg),*),
            10 => $f::<10>($($arg),*),
            11 => $f::<11>($($arg),*),
            _ => $f::<12>($($arg),*),
        }
    };
}

/// The scaled variable `t = (x - center) * inv_half_width` of a chunk: the
/// one formula every kernel and [`prepare_block`] use.
#[inline(always)]
#[allow(clippy::inline_always)]
fn scaled(x: &V, center: f64, inv_half_width: f64) -> V {
    v_mul(&v_sub(x, &[center; L]), &[inv_half_width; L])
}

/// Fitted values of one chunk: the one place the statistics pass and
/// [`residuals_of`] evaluate a model (`x` for the additive and multiplicative
/// models, its scaled `t` from [`scaled`] for a polynomial).  For a
/// polynomial, `tk` receives the Chebyshev terms `T_0..T_D` of the chunk (the
/// statistics pass needs them for the refinement gradient; elsewhere the
/// stores are optimised away).
#[inline(always)]
#[allow(clippy::inline_always)]
fn fitted_chunk<const D: usize>(
    x: &V,
    t: &V,
    model: Eval<'_>,
    c: &[f64; MAX_MOMENT / 2 + 1],
    tk: &mut [V; MAX_MOMENT / 2 + 1],
) -> V {
    match model {
        Eval::Add(a) => v_add(x, &[a; L]),
        Eval::Mult(a) => v_mul(&[a; L], x),
        Eval::Poly(_) => {
            let t = *t;
            let t2 = v_add(&t, &t);
            tk[0] = [1.0; L];
            tk[1] = t;
            let mut f = v_fma(&[c[1]; L], &t, &[c[0]; L]);
            for k in 2..=D {
                tk[k] = v_fms(&t2, &tk[k - 1], &tk[k - 2]);
                f = v_fma(&[c[k]; L], &tk[k], &f);
            }
            f
        }
    }
}

/// Residuals of one block, element by element.  Each element goes through
/// exactly the operations of its lane in [`fitted_chunk`] (so the bits are the
/// same); written per element because LLVM vectorised the per-chunk form
/// across chunks, with gathers.
#[inline(always)]
#[allow(clippy::inline_always)]
fn residual_block<const D: usize>(
    xs: &[f64],
    ys: &[f64],
    model: Eval<'_>,
    center: f64,
    inv_half_width: f64,
    out: &mut [f64],
) {
    let n = xs.len().min(ys.len()).min(out.len());
    let (xs, ys, out) = (&xs[..n], &ys[..n], &mut out[..n]);
    match model {
        Eval::Add(a) => {
            for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                *o = y - (x + a);
            }
        }
        Eval::Mult(a) => {
            for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                *o = y - a * x;
            }
        }
        Eval::Poly(cheb) => {
            let mut c = [0.0; MAX_MOMENT / 2 + 1];
            c[..=D].copy_from_slice(&cheb[..=D]);
            for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                let t = (x - center) * inv_half_width;
                let t2 = t + t;
                let (mut prev, mut cur) = (1.0, t);
                let mut f = c[1].mul_add(t, c[0]);
                for &ck in c.iter().take(D + 1).skip(2) {
                    let next = t2.mul_add(cur, -prev);
                    f = ck.mul_add(next, f);
                    prev = cur;
                    cur = next;
                }
                *o = y - f;
            }
        }
    }
}

/// Residuals `y - model(x)` into `out`, the fitted values computed exactly as
/// in the statistics pass (see [`model_stats`]).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
pub fn residuals_of<'a>(
    xs: &[f64],
    ys: &[f64],
    model: Eval<'a>,
    center: f64,
    inv_half_width: f64,
    out: &mut [f64],
) {
    by_degree!(
        degree_of(model),
        residual_block(xs, ys, model, center, inv_half_width, out)
    );
}

/// Lanes of `sum r T_k(t)`, `k <= D`, over a block (a dead tail lane has `r = 0`).
#[inline(always)]
#[allow(clippy::inline_always)]
fn gradient_block<const D: usize>(
    xs: &[f64],
    rs: &[f64],
    center: f64,
    inv_half_width: f64,
) -> [V; MAX_MOMENT / 2 + 1] {
    let n = xs.len().min(rs.len());
    let whole = n - n % L;
    // only the Chebyshev terms of `fitted_chunk` are used
    let (c, model) = ([0.0; MAX_MOMENT / 2 + 1], Eval::Poly(&[]));
    let mut tk = [[0.0; L]; MAX_MOMENT / 2 + 1];
    let mut acc = [[0.0; L]; MAX_MOMENT / 2 + 1];
    let mut step = |x: &V, r: &V| {
        fitted_chunk::<D>(x, &scaled(x, center, inv_half_width), model, &c, &mut tk);
        for k in 0..=D {
            acc[k] = v_fma(r, &tk[k], &acc[k]);
        }
    };
    for (x, r) in xs[..whole].chunks_exact(L).zip(rs[..whole].chunks_exact(L)) {
        step(
            &std::array::from_fn(|l| x[l]),
            &std::array::from_fn(|l| r[l]),
        );
    }
    if whole < n {
        let m = n - whole;
        let x: V = std::array::from_fn(|l| if l < m { xs[whole + l] } else { center });
        let r: V = std::array::from_fn(|l| if l < m { rs[whole + l] } else { 0.0 });
        step(&x, &r);
    }
    acc
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn gradient_lanes(
    xs: &[f64],
    rs: &[f64],
    degree: usize,
    center: f64,
    inv_half_width: f64,
) -> [V; MAX_MOMENT / 2 + 1] {
    by_degree!(degree, gradient_block(xs, rs, center, inv_half_width))
}

/// The gradient `sum r T_k(t)`, `k = 0..=degree`, of the residuals `rs` at
/// `xs` (`t = (x - center) * inv_half_width`): the right-hand side of one
/// step of iterative refinement.
#[must_use]
pub fn gradient_of(
    xs: &[f64],
    rs: &[f64],
    degree: usize,
    center: f64,
    inv_half_width: f64,
) -> Vec<f64> {
    let degree = degree.min(MAX_MOMENT / 2);
    let lanes = gradient_lanes(xs, rs, degree, center, inv_half_width);
    lanes[..=degree].iter().map(lane_total).collect()
}

/// Statistics of one model over one block (see [`model_block`]); compiled for
/// AVX2 too and chosen at run time, with the polynomial degree a compile-time
/// constant so every loop is unrolled.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
pub fn model_stats<'a>(
    xs: &[f64],
    ys: &[f64],
    inv_y: &[f64],
    ts: &[f64],
    model: Eval<'a>,
) -> ModelLanes {
    by_degree!(degree_of(model), model_block(xs, ys, inv_y, ts, model))
}

/// Prepare a block for [`model_stats`]: `inv[i] = 1 / y[i]` (0 where
/// `y[i] == 0`) and `ts[i] = (x[i] - center) * inv_half_width`, the scaled
/// variable every polynomial reads (computed once per block instead of once
/// per model, while the divisions keep the divider busy); returns how many
/// `y` are non-zero.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
pub fn prepare_block(
    xs: &[f64],
    ys: &[f64],
    center: f64,
    inv_half_width: f64,
    inv: &mut [f64],
    ts: &mut [f64],
) -> usize {
    let n = xs.len().min(ys.len()).min(inv.len()).min(ts.len());
    let (xs, ys, inv, ts) = (&xs[..n], &ys[..n], &mut inv[..n], &mut ts[..n]);
    // element by element, which LLVM vectorises along the block (written per
    // register, it vectorised across registers, with gathers); the same
    // operations as `scaled`, so the same bits
    let mut nz = 0;
    for (((o, t), &x), &y) in inv.iter_mut().zip(ts.iter_mut()).zip(xs).zip(ys) {
        let ok = y != 0.0;
        *o = if ok { 1.0 / y } else { 0.0 };
        nz += usize::from(ok);
        *t = (x - center) * inv_half_width;
    }
    nz
}

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn residuals_and_gradient_repeat_the_statistics_pass_bit_for_bit() {
        // `residuals_of` evaluates the series element by element and
        // `gradient_of` recomputes the terms: both must see exactly the
        // values of the statistics pass (its extremes are exact selections,
        // its gradient the same lane sums)
        let n = 1_000 + 5;
        let xs: Vec<f64> = (0..n)
            .map(|i| 60.0 + f64::from(u32::try_from(i * 7919 % 4001).unwrap()))
            .collect();
        let ys: Vec<f64> = xs.iter().map(|x| 1.45 * x + 2e-5 * x * x + 10.0).collect();
        let (c, ihw) = (2060.0, 1.0 / 2000.0);
        let mut inv = vec![0.0; n];
        inverse_or_zero(&ys, &mut inv);
        for degree in 1..=6_u32 {
            let cheb: Vec<f64> = (0..=degree).map(|k| 700.0 / f64::from(k + 1)).collect();
            let mut ts = vec![0.0; n];
            prepare_block(&xs, &ys, c, ihw, &mut inv.clone(), &mut ts);
            let lanes = model_stats(&xs, &ys, &inv, &ts, Eval::Poly(&cheb));
            let stats = lanes.totals(n, n);
            let mut r = vec![0.0; n];
            residuals_of(&xs, &ys, Eval::Poly(&cheb), c, ihw, &mut r);
            let min = r.iter().copied().fold(f64::INFINITY, f64::min);
            let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((min, max), (stats.min, stats.max), "degree {degree}");
            let d = degree as usize;
            assert_eq!(
                gradient_of(&xs, &r, d, c, ihw),
                lanes.gradient(d),
                "degree {degree}"
            );
        }
    }

    #[test]
    fn model_stats_match_separate_kernels() {
        let xs: Vec<f64> = (0..23).map(|i| 10.0 + f64::from(i) * 3.7).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 1.3 * x + if i % 2 == 0 { 2.0 } else { -1.0 })
            .collect();
        let cheb = [60.0, 50.0, 0.5];
        let (c, h) = (50.7, 40.7);
        let mut want_inv = vec![0.0; 23];
        let want_nz = inverse_or_zero(&ys, &mut want_inv);
        let (mut inv, mut ts) = (vec![f64::NAN; 23], vec![f64::NAN; 23]);
        let nz = prepare_block(&xs, &ys, c, 1.0 / h, &mut inv, &mut ts);
        assert_eq!((nz, &inv), (want_nz, &want_inv));
        for (&t, &x) in ts.iter().zip(&xs) {
            assert_eq!(t.to_bits(), ((x - c) * (1.0 / h)).to_bits());
        }
        let models = [Eval::Add(5.0), Eval::Mult(1.3), Eval::Poly(&cheb)];
        let accs: Vec<ModelLanes> = models
            .iter()
            .map(|m| model_stats(&xs, &ys, &inv, &ts, *m))
            .collect();
        for (j, model) in models.iter().enumerate() {
            let fitted: Vec<f64> = xs
                .iter()
                .map(|&x| match model {
                    Eval::Add(a) => x + a,
                    Eval::Mult(a) => a * x,
                    Eval::Poly(cc) => {
                        let t = (x - c) * (1.0 / h);
                        cc[0] + cc[1] * t + cc[2] * (2.0 * t * t - 1.0)
                    }
                })
                .collect();
            let want = block_stats(&ys, &fitted, &inv, nz);
            let got = accs[j].totals(23, nz);
            assert!(
                (got.sum - want.sum).abs() < 1e-9 * want.sumsq.sqrt().max(1.0),
                "{j}"
            );
            assert!((got.sumsq - want.sumsq).abs() < 1e-10 * want.sumsq);
            assert!((got.min - want.min).abs() < 1e-10 && (got.max - want.max).abs() < 1e-10);
            assert!((got.frac_sum - want.frac_sum).abs() < 1e-12);
        }
        // gradient of the polynomial: sum r T_k
        let g = accs[2].gradient(2);
        let want0: f64 = xs
            .iter()
            .zip(&ys)
            .map(|(&x, &y)| {
                let t = (x - c) * (1.0 / h);
                y - (cheb[0] + cheb[1] * t + cheb[2] * (2.0 * t * t - 1.0))
            })
            .sum();
        assert!((g[0] - want0).abs() < 1e-9);
    }
}
