//! Small dense symmetric positive-definite systems: the normal equations of a
//! fit in the Chebyshev basis.  The matrix is scaled to unit diagonal before a
//! Cholesky factorisation, the solution gets one step of iterative refinement,
//! and the inverse (for the covariance) and a 1-norm condition number are
//! returned.

/// Solution of `G beta = b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The solution vector.
    pub beta: Vec<f64>,
    /// `inv(G)`, row-major `p x p`.
    pub inverse: Vec<f64>,
    /// 1-norm condition number of the unit-diagonal-scaled `G`.
    pub condition: f64,
}

/// Why a system could not be solved.
#[derive(Debug, Clone, PartialEq)]
pub struct Singular {
    /// Index of the failing pivot.
    pub pivot: usize,
    /// Its (scaled) value.
    pub value: f64,
}

/// Cholesky factor of `a` into `l` (zeroed, row-major `p x p`).
fn cholesky(a: &[f64], p: usize, l: &mut [f64]) -> Result<(), Singular> {
    // Pivots below this (for a unit-diagonal matrix) mean the basis functions
    // are numerically linearly dependent on the data.
    #[allow(clippy::cast_precision_loss)]
    let tol = (p as f64) * f64::EPSILON * 4.0;
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= l[j * p + k] * l[j * p + k];
        }
        if !(d > tol) {
            return Err(Singular { pivot: j, value: d });
        }
        let d = d.sqrt();
        l[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            l[i * p + j] = s / d;
        }
    }
    Ok(())
}

/// Solve `L L^T z = b` in place (`z` holds `b` on entry).
fn chol_solve(l: &[f64], p: usize, z: &mut [f64]) {
    chol_solve_columns(l, p, z, 1);
}

/// Solve `L L^T Z = B` in place for the `cols` columns of `z` (row-major
/// `p x cols`, holding `B` on entry): per column the same operations in the
/// same order as a solve of that column alone, so the same bits, but the
/// columns' independent dependency chains (a division per row) overlap
/// instead of running one after another.
fn chol_solve_columns(l: &[f64], p: usize, z: &mut [f64], cols: usize) {
    for i in 0..p {
        for k in 0..i {
            let lik = l[i * p + k];
            for j in 0..cols {
                z[i * cols + j] -= lik * z[k * cols + j];
            }
        }
        let d = l[i * p + i];
        for j in 0..cols {
            z[i * cols + j] /= d;
        }
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            let lki = l[k * p + i];
            for j in 0..cols {
                z[i * cols + j] -= lki * z[k * cols + j];
            }
        }
        let d = l[i * p + i];
        for j in 0..cols {
            z[i * cols + j] /= d;
        }
    }
}

fn norm1(a: &[f64], p: usize) -> f64 {
    (0..p)
        .map(|j| (0..p).map(|i| a[i * p + j].abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// Solve the symmetric positive-definite system `g beta = b` (`g` row-major `p x p`).
///
/// # Errors
/// [`Singular`] when the scaled matrix is not numerically positive definite.
pub fn solve_spd(g: &[f64], b: &[f64], p: usize) -> Result<Solution, Singular> {
    // one allocation for every work array (the fits solve many small systems)
    let mut work = vec![0.0; 3 * p * p + 4 * p];
    let (gs, rest) = work.split_at_mut(p * p);
    let (l, rest) = rest.split_at_mut(p * p);
    let (inv_s, rest) = rest.split_at_mut(p * p);
    let (scale, rest) = rest.split_at_mut(p);
    let (bs, rest) = rest.split_at_mut(p);
    let (ys, z) = rest.split_at_mut(p);
    for (i, s) in scale.iter_mut().enumerate() {
        let d = g[i * p + i];
        *s = if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 };
    }
    if let Some(i) = scale.iter().position(|&s| s == 0.0 || !s.is_finite()) {
        return Err(Singular {
            pivot: i,
            value: g[i * p + i],
        });
    }
    for i in 0..p {
        for j in 0..p {
            gs[i * p + j] = g[i * p + j] * scale[i] * scale[j];
        }
    }
    cholesky(gs, p, l)?;
    for i in 0..p {
        bs[i] = b[i] * scale[i];
    }
    ys.copy_from_slice(bs);
    chol_solve(l, p, ys);
    // One step of iterative refinement on the scaled system.
    for i in 0..p {
        z[i] = bs[i] - (0..p).map(|j| gs[i * p + j] * ys[j]).sum::<f64>();
    }
    chol_solve(l, p, z);
    for (y, dy) in ys.iter_mut().zip(z.iter()) {
        *y += dy;
    }
    // the inverse: column j solves for the unit vector e_j
    inv_s.fill(0.0);
    for j in 0..p {
        inv_s[j * p + j] = 1.0;
    }
    chol_solve_columns(l, p, inv_s, p);
    let condition = norm1(gs, p) * norm1(inv_s, p);
    let beta = (0..p).map(|i| ys[i] * scale[i]).collect();
    let mut inverse = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            inverse[i * p + j] = inv_s[i * p + j] * scale[i] * scale[j];
        }
    }
    Ok(Solution {
        beta,
        inverse,
        condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_hand_system() {
        // [[4, 2], [2, 3]] beta = [2, 5]  ->  beta = [-0.5, 2]
        let s = solve_spd(&[4.0, 2.0, 2.0, 3.0], &[2.0, 5.0], 2).unwrap();
        assert!((s.beta[0] + 0.5).abs() < 1e-15 && (s.beta[1] - 2.0).abs() < 1e-15);
        // inverse = 1/8 [[3, -2], [-2, 4]]
        let want = [0.375, -0.25, -0.25, 0.5];
        for (a, b) in s.inverse.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(s.condition >= 1.0);
    }

    #[test]
    fn inverse_columns_are_the_single_solves_bit_for_bit() {
        // a badly scaled 5 x 5 SPD matrix (Hilbert-like plus a diagonal)
        let p = 5;
        let a: Vec<f64> = (0..p * p)
            .map(|k| {
                let (i, j) = (k / p, k % p);
                let h = 1.0 / f64::from(u32::try_from(i + j + 1).unwrap());
                if i == j {
                    h + 0.3
                } else {
                    h
                }
            })
            .collect();
        let mut l = vec![0.0; p * p];
        cholesky(&a, p, &mut l).unwrap();
        let mut all = vec![0.0; p * p];
        for j in 0..p {
            all[j * p + j] = 1.0;
        }
        chol_solve_columns(&l, p, &mut all, p);
        for j in 0..p {
            let mut z = vec![0.0; p];
            z[j] = 1.0;
            chol_solve(&l, p, &mut z);
            for i in 0..p {
                assert_eq!(all[i * p + j].to_bits(), z[i].to_bits(), "({i}, {j})");
            }
        }
        // and it is the inverse: A * inv = I to rounding
        for i in 0..p {
            for j in 0..p {
                let v: f64 = (0..p).map(|k| a[i * p + k] * all[k * p + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-13, "({i}, {j}): {v}");
            }
        }
    }

    #[test]
    fn singular_is_reported() {
        let err = solve_spd(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2).unwrap_err();
        assert_eq!(err.pivot, 1);
        assert!(solve_spd(&[0.0], &[1.0], 1).is_err());
        assert!(solve_spd(&[f64::NAN], &[1.0], 1).is_err());
    }
}
