//! Least squares by a QR factorisation built from the rows as they stream by
//! (blocked Householder reflections), for the polynomials whose normal
//! equations are too badly conditioned for the moments to carry them.
//!
//! The normal equations lose `cond(G) = cond(A)^2`: when almost every pixel
//! sits at one end of the range and a few hot pixels at the other, `cond(G)`
//! of a degree-4 or -5 fit reaches 1e11..1e16 and even repeated refinement
//! cannot recover what `numpy.polyfit` (an SVD of the design matrix, error
//! about `cond(A)` times the rounding) gets.  Folding the rows `[T_0(t) ..
//! T_d(t), y]` into an upper-triangular `R`, a block of rows at a time, is
//! backward stable like any orthogonal factorisation and keeps only `(d + 1) x
//! (d + 2)` numbers (and one block), whatever the number of pixels, so it
//! streams over the frame like every other pass.  The leading `p x p` block of `R` with the first `p`
//! entries of its last column is the factorisation of the degree `p - 1`
//! problem, so one pass serves every lower degree too.

use multiversion::multiversion;

/// Rows gathered before they are folded into `R` together (one blocked
/// Householder step: the inner loops run down a column of the block, which
/// vectorises, where a Givens rotation per row did not).
const ROWS: usize = 256;

/// Upper-triangular factor of the augmented design matrix `[A | y]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowQr {
    p: usize,
    /// Row-major `p x (p + 1)`; the last column is `Q^T y`.
    r: Vec<f64>,
    /// Rows not yet folded in, column-major `ROWS x (p + 1)`.
    pending: Vec<f64>,
    n_pending: usize,
    /// Rows taken in so far (the rank cutoff of [`RowQr::solve`] scales with it).
    rows: usize,
}

impl RowQr {
    /// An empty factorisation of `p` basis functions.
    #[must_use]
    pub fn new(p: usize) -> RowQr {
        RowQr {
            p,
            r: vec![0.0; p * (p + 1)],
            pending: vec![0.0; ROWS * (p + 1)],
            n_pending: 0,
            rows: 0,
        }
    }

    /// Add the row `row` (`p + 1` values: the basis functions, then `y`).
    pub fn add_row(&mut self, row: &[f64]) {
        for (k, &v) in row.iter().enumerate().take(self.p + 1) {
            self.pending[k * ROWS + self.n_pending] = v;
        }
        self.n_pending += 1;
        self.rows += 1;
        if self.n_pending == ROWS {
            self.flush();
        }
    }

    /// Add the rows of the pixels `(xs, ys)` in the Chebyshev basis of `t =
    /// (x - center) * inv_half_width`, the terms computed exactly as the
    /// fitting kernels compute them.
    pub fn add_points(&mut self, xs: &[f64], ys: &[f64], center: f64, inv_half_width: f64) {
        let n = xs.len().min(ys.len());
        let mut i = 0;
        while i < n {
            let take = (ROWS - self.n_pending).min(n - i);
            fill_columns(
                &mut self.pending,
                self.p,
                self.n_pending,
                (&xs[i..i + take], &ys[i..i + take]),
                (center, inv_half_width),
            );
            self.n_pending += take;
            self.rows += take;
            i += take;
            if self.n_pending == ROWS {
                self.flush();
            }
        }
    }

    /// Fold the pending rows into `R`: for each column `j`, the Householder
    /// reflection (as LAPACK's `dlarfg`) that zeroes the pending rows'
    /// entries against `R[j][j]`, applied to the columns to its right.
    pub fn flush(&mut self) {
        fold_rows(&mut self.r, &mut self.pending, self.p, self.n_pending);
        self.n_pending = 0;
    }

    /// Fold the rows of another factorisation (of other pixels) into this one.
    pub fn merge(&mut self, mut other: RowQr) {
        other.flush();
        let w = self.p + 1;
        let rows = self.rows;
        for j in 0..self.p {
            let row: Vec<f64> = other.r[j * w..(j + 1) * w].to_vec();
            self.add_row(&row);
        }
        self.flush();
        self.rows = rows + other.rows;
    }

    /// The least-squares coefficients of the first `p` basis functions
    /// (`p <= ` the factorisation's), `(A^T A)^-1` of them (row-major `p x p`,
    /// for the covariance) and the 1-norm condition number of `A^T A`;
    /// `None` if `R` is singular there.  Call [`RowQr::flush`] first.
    #[must_use]
    pub fn solve(&self, p: usize) -> Option<(Vec<f64>, Vec<f64>, f64)> {
        let w = self.p + 1;
        let p = p.min(self.p);
        let at = |i: usize, j: usize| self.r[i * w + j];
        // a diagonal below the rounding of its column (whose norm is that of
        // the basis function over the pixels): the basis functions are
        // dependent on these pixels.  The cutoff, the number of rows times
        // the machine epsilon, is the size of numpy.polyfit's `rcond` (which
        // counts singular values below it times the largest as zero)
        #[allow(clippy::cast_precision_loss)]
        let cutoff = f64::EPSILON * (self.rows.max(p) as f64);
        let singular = |j: usize| {
            let column = (0..=j).map(|i| at(i, j) * at(i, j)).sum::<f64>().sqrt();
            !(at(j, j).abs() > column * cutoff) || !at(j, j).is_finite()
        };
        if (0..p).any(singular) {
            return None;
        }
        // R c = (Q^T y)[..p], the last column of the augmented R
        let mut c = vec![0.0; p];
        for i in (0..p).rev() {
            let s: f64 = (i + 1..p).map(|k| at(i, k) * c[k]).sum();
            c[i] = (at(i, self.p) - s) / at(i, i);
        }
        // R^-1 (upper triangular), then G^-1 = R^-1 R^-T
        let mut ri = vec![0.0; p * p];
        for j in 0..p {
            ri[j * p + j] = 1.0 / at(j, j);
            for i in (0..j).rev() {
                let s: f64 = (i + 1..=j).map(|k| at(i, k) * ri[k * p + j]).sum();
                ri[i * p + j] = -s / at(i, i);
            }
        }
        let mut inv = vec![0.0; p * p];
        let mut g = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                inv[i * p + j] = (i.max(j)..p).map(|k| ri[i * p + k] * ri[j * p + k]).sum();
                g[i * p + j] = (0..=i.min(j)).map(|k| at(k, i) * at(k, j)).sum();
            }
        }
        let norm1 = |a: &[f64]| {
            (0..p)
                .map(|j| (0..p).map(|i| a[i * p + j].abs()).sum::<f64>())
                .fold(0.0, f64::max)
        };
        let condition = norm1(&g) * norm1(&inv);
        Some((c, inv, condition))
    }
}

/// Write the rows of `(xs, ys)` from row `at` of `pending` (column-major,
/// `ROWS` per column): `T_0..T_{p-1}` of `t = (x - center) * inv_half_width`
/// by the kernels' recurrence, then `y`; column by column, which vectorises.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn fill_columns(
    pending: &mut [f64],
    p: usize,
    at: usize,
    (xs, ys): (&[f64], &[f64]),
    (center, inv_half_width): (f64, f64),
) {
    let n = xs.len().min(ys.len());
    let col = |k: usize| k * ROWS + at..k * ROWS + at + n;
    pending[col(0)].fill(1.0);
    if p > 1 {
        for (t, &x) in pending[col(1)].iter_mut().zip(xs) {
            *t = (x - center) * inv_half_width;
        }
    }
    for k in 2..p {
        let (done, rest) = pending.split_at_mut(k * ROWS);
        let (t, prev, cur) = (&done[col(1)], &done[col(k - 2)], &done[col(k - 1)]);
        for (((o, &t), &a), &b) in rest[at..at + n].iter_mut().zip(t).zip(prev).zip(cur) {
            *o = (t + t).mul_add(b, -a);
        }
    }
    pending[col(p)].copy_from_slice(&ys[..n]);
}

/// `sum a_i b_i` in 32 interleaved sums (four registers of 8, which
/// vectorise and do not wait on each other), inlined into each target of
/// [`fold_rows`].
#[inline(always)]
#[allow(clippy::inline_always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [[0.0_f64; 8]; 4];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for (r, acc) in acc.iter_mut().enumerate() {
            for l in 0..8 {
                acc[l] = x[8 * r + l].mul_add(y[8 * r + l], acc[l]);
            }
        }
    }
    acc.iter().flatten().sum::<f64>() + tail
}

/// The body of [`RowQr::flush`]: fold the first `m` rows of `pending`
/// (column-major, `ROWS` per column) into `r` (row-major `p x (p + 1)`);
/// compiled for AVX2 and AVX-512 too, chosen at run time.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma", "x86_64+avx"))]
fn fold_rows(r: &mut [f64], pending: &mut [f64], p: usize, m: usize) {
    let w = p + 1;
    if m == 0 {
        return;
    }
    for j in 0..p {
        let (left, right) = pending.split_at_mut((j + 1) * ROWS);
        let vj = &mut left[j * ROWS..j * ROWS + m];
        let alpha = r[j * w + j];
        let sigma = dot(vj, vj);
        if sigma == 0.0 {
            continue;
        }
        let norm = alpha.hypot(sigma.sqrt());
        let beta = if alpha >= 0.0 { -norm } else { norm };
        let tau = (beta - alpha) / beta;
        let scale = 1.0 / (alpha - beta);
        for v in vj.iter_mut() {
            *v *= scale;
        }
        r[j * w + j] = beta;
        for k in j + 1..w {
            let col = &mut right[(k - j - 1) * ROWS..(k - j - 1) * ROWS + m];
            let t = tau * (r[j * w + k] + dot(vj, col));
            r[j * w + k] -= t;
            for (c, v) in col.iter_mut().zip(vj.iter()) {
                *c -= t * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(xs: &[f64], ys: &[f64], p: usize) -> Vec<Vec<f64>> {
        xs.iter()
            .zip(ys)
            .map(|(&x, &y)| {
                let mut row: Vec<f64> = (0..p).map(|k| x.powi(i32::try_from(k).unwrap())).collect();
                row.push(y);
                row
            })
            .collect()
    }

    #[test]
    fn straight_line_by_hand() {
        // y = 1, 3, 4 at x = 0, 1, 2: slope 1.5, intercept 7/6 (hand-solved
        // normal equations [[3, 3], [3, 5]] c = [8, 11])
        let mut qr = RowQr::new(2);
        for row in rows(&[0.0, 1.0, 2.0], &[1.0, 3.0, 4.0], 2) {
            qr.add_row(&row);
        }
        qr.flush();
        let (c, inv, cond) = qr.solve(2).unwrap();
        assert!(
            (c[0] - 7.0 / 6.0).abs() < 1e-15 && (c[1] - 1.5).abs() < 1e-15,
            "{c:?}"
        );
        // (A^T A)^-1 = [[5, -3], [-3, 3]] / 6
        let want = [5.0 / 6.0, -0.5, -0.5, 0.5];
        for (g, w) in inv.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{inv:?}");
        }
        // ||G||_1 = 8, ||G^-1||_1 = 4/3
        assert!((cond - 8.0 * 4.0 / 3.0).abs() < 1e-13, "{cond}");
        // the leading block: the mean, 8 / 3
        let (c0, inv0, _) = qr.solve(1).unwrap();
        assert!((c0[0] - 8.0 / 3.0).abs() < 1e-15 && (inv0[0] - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn merged_parts_give_the_same_fit() {
        let xs: Vec<f64> = (0..40).map(|i| f64::from(i) * 0.05 - 1.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| 2.0 - x + 0.5 * x * x * x + (x * 7.0).sin() * 0.01)
            .collect();
        let all = rows(&xs, &ys, 4);
        let mut one = RowQr::new(4);
        for row in &all {
            one.add_row(row);
        }
        let (mut a, mut b) = (RowQr::new(4), RowQr::new(4));
        for row in &all[..17] {
            a.add_row(row);
        }
        for row in &all[17..] {
            b.add_row(row);
        }
        a.merge(b);
        one.flush();
        let (c1, _, _) = one.solve(4).unwrap();
        let (c2, _, _) = a.solve(4).unwrap();
        for (u, v) in c1.iter().zip(&c2) {
            assert!((u - v).abs() < 1e-13, "{c1:?} {c2:?}");
        }
    }

    #[test]
    fn many_rows_recover_an_exact_cubic() {
        // 1000 rows (several blocks and a partial one) of an exact cubic:
        // the coefficients come back to the rounding level
        let xs: Vec<f64> = (0..1000).map(|i| f64::from(i % 97) / 48.0 - 1.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .map(|x| 3.0 - 2.0 * x + 0.25 * x * x - 4.0 * x * x * x)
            .collect();
        let mut qr = RowQr::new(4);
        for row in rows(&xs, &ys, 4) {
            qr.add_row(&row);
        }
        qr.flush();
        let (c, _, cond) = qr.solve(4).unwrap();
        for (got, want) in c.iter().zip([3.0, -2.0, 0.25, -4.0]) {
            assert!((got - want).abs() < 1e-13, "{c:?}");
        }
        assert!(cond > 1.0 && cond.is_finite());
    }

    #[test]
    fn points_give_the_rows_of_the_chebyshev_basis() {
        // 600 pixels: more than one block of rows, fed in uneven slices
        let xs: Vec<f64> = (0..600).map(|i| f64::from((i * 37) % 211)).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 5.0 + 0.5 * x + 1e-3 * x * x).collect();
        let (center, ihw) = (105.0, 1.0 / 105.0);
        let mut by_rows = RowQr::new(4);
        for (&x, &y) in xs.iter().zip(&ys) {
            let t = (x - center) * ihw;
            let t2 = t + t;
            let t3 = t2.mul_add(t2.mul_add(t, -1.0), -t);
            by_rows.add_row(&[1.0, t, t2.mul_add(t, -1.0), t3, y]);
        }
        by_rows.flush();
        let mut by_points = RowQr::new(4);
        for (a, b) in [(0, 100), (100, 357), (357, 600)] {
            by_points.add_points(&xs[a..b], &ys[a..b], center, ihw);
        }
        by_points.flush();
        assert_eq!(by_rows.r, by_points.r);
    }

    #[test]
    fn singular_is_none() {
        let mut qr = RowQr::new(2);
        for row in rows(&[3.0, 3.0, 3.0], &[1.0, 2.0, 3.0], 2) {
            qr.add_row(&row);
        }
        // two basis functions, one distinct x: R[1][1] at the rounding level
        qr.flush();
        assert!(qr.solve(2).is_none());
        assert!(qr.solve(1).is_some());
    }
}
