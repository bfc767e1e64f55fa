//! The linear map from Chebyshev coefficients in `t = (x - c) / h` to power
//! coefficients in `x` (evaluation lives in `kernels`).

/// Columns `k = 0..=degree`: power coefficients in `x`, lowest first, of
/// `T_k((x - center) / half_width)`.  Returned row-major as `m[j][k]`
/// (coefficient of `x^j` in column `k`).
#[must_use]
pub fn cheb_to_power(degree: usize, center: f64, half_width: f64) -> Vec<Vec<f64>> {
    let p = degree + 1;
    let u = [-center / half_width, 1.0 / half_width];
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(p);
    cols.push(vec![1.0]);
    if p > 1 {
        cols.push(u.to_vec());
    }
    for k in 2..p {
        // T_k = 2 u T_{k-1} - T_{k-2}
        let prev = &cols[k - 1];
        let prev2 = &cols[k - 2];
        let mut next = vec![0.0; prev.len() + 1];
        for (j, &a) in prev.iter().enumerate() {
            next[j] += 2.0 * a * u[0];
            next[j + 1] += 2.0 * a * u[1];
        }
        for (j, &a) in prev2.iter().enumerate() {
            next[j] -= a;
        }
        cols.push(next);
    }
    let mut m = vec![vec![0.0; p]; p];
    for (k, col) in cols.iter().enumerate() {
        for (j, &v) in col.iter().enumerate() {
            m[j][k] = v;
        }
    }
    m
}

/// Power coefficients, **highest power first**, of the Chebyshev series `cheb`
/// (lowest first) in `t = (x - center) / half_width`.
#[must_use]
pub fn power_coeffs(cheb: &[f64], center: f64, half_width: f64) -> Vec<f64> {
    let p = cheb.len();
    let mm = cheb_to_power(p.saturating_sub(1), center, half_width);
    (0..p)
        .rev()
        .map(|j| (0..p).map(|k| mm[j][k] * cheb[k]).sum())
        .collect()
}

/// Covariance of the power coefficients (highest power first), `M inv(G) M^T * s2`,
/// from the inverse normal matrix `inverse` (row-major, Chebyshev basis).
#[must_use]
pub fn power_covariance(
    inverse: &[f64],
    p: usize,
    center: f64,
    half_width: f64,
    s2: f64,
) -> Vec<f64> {
    let mm = cheb_to_power(p.saturating_sub(1), center, half_width);
    let mut mi = vec![0.0; p * p];
    for j in 0..p {
        for k in 0..p {
            mi[j * p + k] = (0..p).map(|l| mm[j][l] * inverse[l * p + k]).sum();
        }
    }
    let mut cov = vec![0.0; p * p];
    for j in 0..p {
        for k in 0..p {
            let v: f64 = (0..p).map(|l| mi[j * p + l] * mm[k][l]).sum();
            // reverse both axes: highest power first
            cov[(p - 1 - j) * p + (p - 1 - k)] = v * s2;
        }
    }
    cov
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_coefficients_and_covariance_of_a_line() {
        // 2 T_0 + 4 T_1 in t = (x - 3)/2  ->  2 + 2 (x - 3) = 2 x - 4
        let c = power_coeffs(&[2.0, 4.0], 3.0, 2.0);
        assert!((c[0] - 2.0).abs() < 1e-15 && (c[1] + 4.0).abs() < 1e-15);
        // identity covariance in the Chebyshev basis maps to M M^T (reversed)
        let cov = power_covariance(&[1.0, 0.0, 0.0, 1.0], 2, 3.0, 2.0, 1.0);
        // M = [[1, -1.5], [0, 0.5]]: M M^T = [[3.25, -0.75], [-0.75, 0.25]], reversed
        let want = [0.25, -0.75, -0.75, 3.25];
        for (a, b) in cov.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{a} {b}");
        }
    }

    #[test]
    fn power_map_of_t2_on_shifted_domain() {
        // T_2((x - 3)/2) = 2 (x-3)^2/4 - 1 = 0.5 x^2 - 3 x + 3.5
        let m = cheb_to_power(2, 3.0, 2.0);
        assert!((m[0][2] - 3.5).abs() < 1e-15);
        assert!((m[1][2] + 3.0).abs() < 1e-15);
        assert!((m[2][2] - 0.5).abs() < 1e-15);
        // T_1 = (x - 3)/2
        assert!((m[0][1] + 1.5).abs() < 1e-15 && (m[1][1] - 0.5).abs() < 1e-15);
        assert_eq!(m[0][0], 1.0);
    }
}
