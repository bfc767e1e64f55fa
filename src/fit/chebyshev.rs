//! Chebyshev basis helpers: block-wise evaluation (Clenshaw) and the linear map
//! from Chebyshev coefficients in `t = (x - c) / h` to power coefficients in `x`.

/// Evaluate `sum_k coeffs[k] * T_k(t[i])` for every `t[i]` (Clenshaw), into `out`.
///
/// `b1` and `b2` are scratch buffers at least as long as `t`.
pub fn clenshaw_block(t: &[f64], coeffs: &[f64], out: &mut [f64], b1: &mut [f64], b2: &mut [f64]) {
    let n = t.len();
    let (out, b1, b2) = (&mut out[..n], &mut b1[..n], &mut b2[..n]);
    match coeffs.len() {
        0 => out.fill(0.0),
        1 => out.fill(coeffs[0]),
        len => {
            // b_{k} = c_k + 2 t b_{k+1} - b_{k+2}, run down to k = 1.
            b1.fill(coeffs[len - 1]);
            b2.fill(0.0);
            for k in (1..len - 1).rev() {
                let ck = coeffs[k];
                for i in 0..n {
                    let next = ck + 2.0 * t[i] * b1[i] - b2[i];
                    b2[i] = b1[i];
                    b1[i] = next;
                }
            }
            let c0 = coeffs[0];
            for i in 0..n {
                out[i] = c0 + t[i] * b1[i] - b2[i];
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clenshaw_matches_closed_form() {
        // T_0..T_3 at t: 1, t, 2t^2-1, 4t^3-3t
        let t = [-1.0, -0.3, 0.0, 0.5, 1.0];
        let c = [0.5, -1.0, 2.0, 0.25];
        let mut out = [0.0; 5];
        let (mut b1, mut b2) = ([0.0; 5], [0.0; 5]);
        clenshaw_block(&t, &c, &mut out, &mut b1, &mut b2);
        for (i, &x) in t.iter().enumerate() {
            let want = 0.5 - x + 2.0 * (2.0 * x * x - 1.0) + 0.25 * (4.0 * x * x * x - 3.0 * x);
            assert!((out[i] - want).abs() < 1e-14, "{} vs {}", out[i], want);
        }
        clenshaw_block(&t, &[3.0], &mut out, &mut b1, &mut b2);
        assert_eq!(out, [3.0; 5]);
        clenshaw_block(&t, &[1.0, 2.0], &mut out, &mut b1, &mut b2);
        assert!((out[3] - 2.0).abs() < 1e-15);
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
