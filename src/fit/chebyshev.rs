//! The linear map from Chebyshev coefficients in `t = (x - c) / h` to power
//! coefficients in `x` (evaluation lives in `kernels`).

/// Columns `k = 0..=degree`: power coefficients in `x`, lowest first, of
/// `T_k((x - center) / half_width)`.  Returned row-major and flat:
/// `m[j * p + k]` is the coefficient of `x^j` in column `k` (`p = degree + 1`).
#[must_use]
pub fn cheb_to_power(degree: usize, center: f64, half_width: f64) -> Vec<f64> {
    let p = degree + 1;
    let u = [-center / half_width, 1.0 / half_width];
    let mut m = vec![0.0; p * p];
    m[0] = 1.0;
    if p > 1 {
        m[1] = u[0];
        m[p + 1] = u[1];
    }
    for k in 2..p {
        // T_k = 2 u T_{k-1} - T_{k-2}; column k - 1 has k terms, k - 2 has k - 1
        for j in 0..k {
            let a = m[j * p + k - 1];
            m[j * p + k] += 2.0 * a * u[0];
            m[(j + 1) * p + k] += 2.0 * a * u[1];
        }
        for j in 0..k - 1 {
            m[j * p + k] -= m[j * p + k - 2];
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
        .map(|j| (0..p).map(|k| mm[j * p + k] * cheb[k]).sum())
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
            mi[j * p + k] = (0..p).map(|l| mm[j * p + l] * inverse[l * p + k]).sum();
        }
    }
    let mut cov = vec![0.0; p * p];
    for j in 0..p {
        for k in 0..p {
            let v: f64 = (0..p).map(|l| mi[j * p + l] * mm[k * p + l]).sum();
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
        let at = |j: usize, k: usize| m[j * 3 + k];
        assert!((at(0, 2) - 3.5).abs() < 1e-15);
        assert!((at(1, 2) + 3.0).abs() < 1e-15);
        assert!((at(2, 2) - 0.5).abs() < 1e-15);
        // T_1 = (x - 3)/2
        assert!((at(0, 1) + 1.5).abs() < 1e-15 && (at(1, 1) - 0.5).abs() < 1e-15);
        assert_eq!(at(0, 0), 1.0);
    }
}
