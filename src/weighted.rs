//! Weighted least squares, like `numpy.polyfit(x, y, deg, w=w)`: each residual
//! is multiplied by its weight (`w = 1 / sigma`), so the normal equations use
//! `w**2`.  The covariance is `inv(A^T W^2 A) * SSR_w / (N - p)` with the
//! weighted sum of squares `SSR_w = sum (w r)**2`, as `numpy.polyfit(cov=True)`
//! and `scipy.optimize.curve_fit(sigma=1/w)` report it.  Polynomials use the
//! same Chebyshev basis and one refinement step as the unweighted fits (or,
//! when the weighted normal equations are too badly conditioned or singular in
//! floating point, a QR factorisation of the weighted rows); the residual
//! statistics are those of the plain residuals over the used pixels.
//!
//! The usable pixels and their weights are gathered once (this path copies
//! them; the unweighted fits never do).

use crate::error::{CoreError, CoreResult};
use crate::fit::chebyshev::{power_coeffs, power_covariance};
use crate::fit::kernels::eval_cheb;
use crate::fit::qr::RowQr;
use crate::fit::solve::solve_spd;
use crate::fit::{model_name, FitResult, PairInput, MAX_RANK, MIN_RANK, QR_CONDITION};
use crate::gather::gather;
use crate::stats::StatsAccumulator;
use crate::sum::Neumaier;
use crate::view::Frame;

/// A solved model: coefficients (highest first), Chebyshev coefficients,
/// centre, half width, inverse normal matrix and condition number.
type Solved = (Vec<f64>, Vec<f64>, f64, f64, Vec<f64>, f64);

fn sum(v: impl Iterator<Item = f64>) -> f64 {
    let mut acc = Neumaier::default();
    for x in v {
        acc.add(x);
    }
    acc.value()
}

/// The QR factorisation of the weighted rows `w [T_0(u) .. T_{p-1}(u), y]`,
/// `u = (x - center) * inv_half_width`: least squares of `sum (w r)^2`, for
/// weighted normal equations beyond the moments (see [`crate::fit::qr`]).
fn weighted_qr(
    (xs, ys, ws): (&[f64], &[f64], &[f64]),
    p: usize,
    (center, inv_half_width): (f64, f64),
) -> RowQr {
    let mut qr = RowQr::new(p);
    let mut row = vec![0.0; p + 1];
    for ((&x, &y), &w) in xs.iter().zip(ys).zip(ws) {
        let u = (x - center) * inv_half_width;
        row[0] = 1.0;
        if p > 1 {
            row[1] = u;
        }
        for k in 2..p {
            row[k] = 2.0 * u * row[k - 1] - row[k - 2];
        }
        row[p] = y;
        for v in &mut row {
            *v *= w;
        }
        qr.add_row(&row);
    }
    qr.flush();
    qr
}

/// Fit every rank with weights `w` (any supported dtype, the shape of the darks).
///
/// # Errors
/// Shape mismatch (darks, mask or weights), empty input, ranks out of range,
/// too few usable pixels, all weights zero, or a rank-deficient system.
#[allow(clippy::too_many_lines)]
pub fn fit_weighted(
    input: &PairInput<'_>,
    weights: &Frame<'_>,
    ranks: &[i64],
) -> CoreResult<Vec<FitResult>> {
    if ranks.is_empty() {
        return Err(CoreError::InvalidParameter("no rank requested".into()));
    }
    if let Some(&r) = ranks.iter().find(|&&r| !(MIN_RANK..=MAX_RANK).contains(&r)) {
        return Err(CoreError::RankOutOfRange { rank: r });
    }
    let g = gather(input, Some(weights))?;
    let n = g.x.len();
    let w2: Vec<f64> = g.w.iter().map(|w| w * w).collect();
    if n > 0 && w2.iter().all(|&v| v == 0.0) {
        return Err(CoreError::Degenerate {
            model: "weighted fit".into(),
            reason: format!("all {n} usable pixels have weight 0"),
        });
    }
    let (lo, hi) =
        g.x.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
    let mut out = Vec::with_capacity(ranks.len());
    let mut fitted = vec![0.0; n];
    for &rank in ranks {
        let p = if rank <= 0 {
            1
        } else {
            usize::try_from(rank).unwrap_or(0) + 1
        };
        if n < p {
            return Err(CoreError::TooFewPixels {
                model: model_name(rank),
                needed: p,
                n_used: n,
                n_excluded: g.counts.n_excluded(),
                n_nonfinite: g.counts.n_nonfinite,
                n_clipped: g.counts.n_clipped,
            });
        }
        let polynomial = rank > 0;
        let (coeffs, cheb, center, half_width, inverse, condition): Solved = match rank {
            -1 => {
                let sw = sum(w2.iter().copied());
                let a = sum(w2
                    .iter()
                    .zip(g.x.iter().zip(&g.y))
                    .map(|(w, (x, y))| w * (y - x)))
                    / sw;
                (vec![a], Vec::new(), 0.0, 1.0, vec![1.0 / sw], 1.0)
            }
            0 => {
                let sxx = sum(w2.iter().zip(&g.x).map(|(w, x)| w * x * x));
                if !(sxx > 0.0) {
                    return Err(CoreError::Degenerate {
                        model: model_name(rank),
                        reason: "dark_in is zero (or weighted zero) at every used pixel".into(),
                    });
                }
                let sxy = sum(w2
                    .iter()
                    .zip(g.x.iter().zip(&g.y))
                    .map(|(w, (x, y))| w * x * y));
                (vec![sxy / sxx], Vec::new(), 0.0, 1.0, vec![1.0 / sxx], 1.0)
            }
            _ => {
                if hi <= lo {
                    return Err(CoreError::Degenerate {
                        model: model_name(rank),
                        reason: format!("dark_in is constant ({lo}) over all {n} used pixels"),
                    });
                }
                let (c, h) = (0.5 * (lo + hi), 0.5 * (hi - lo));
                let ih = 1.0 / h;
                let kmax = 2 * (p - 1);
                let mut m = vec![Neumaier::default(); kmax + 1];
                let mut b = vec![Neumaier::default(); p];
                let mut t = vec![0.0; kmax + 1];
                for i in 0..n {
                    let u = (g.x[i] - c) * ih;
                    t[0] = 1.0;
                    if kmax >= 1 {
                        t[1] = u;
                    }
                    for k in 2..=kmax {
                        t[k] = 2.0 * u * t[k - 1] - t[k - 2];
                    }
                    for k in 0..=kmax {
                        m[k].add(w2[i] * t[k]);
                    }
                    for k in 0..p {
                        b[k].add(w2[i] * g.y[i] * t[k]);
                    }
                }
                let mut gm = vec![0.0; p * p];
                for j in 0..p {
                    for k in 0..p {
                        gm[j * p + k] = 0.5 * (m[j + k].value() + m[j.abs_diff(k)].value());
                    }
                }
                let rhs: Vec<f64> = b.iter().map(Neumaier::value).collect();
                let degenerate = |s: &crate::fit::solve::Singular| CoreError::Degenerate {
                    model: model_name(rank),
                    reason: format!(
                        "the weighted normal equations are singular (pivot {} is {:e}): too few \
                         distinct dark_in values with non-zero weight",
                        s.pivot, s.value
                    ),
                };
                let moments = solve_spd(&gm, &rhs, p);
                // badly conditioned or singular in floating point (a hot pixel far
                // above the rest): QR of the weighted rows, as the unweighted fits do
                let badly = moments
                    .as_ref()
                    .map_or(true, |sol| !(sol.condition <= QR_CONDITION));
                if badly {
                    if let Some((beta, inverse, condition)) =
                        weighted_qr((&g.x, &g.y, &g.w), p, (c, ih)).solve(p)
                    {
                        let coeffs = power_coeffs(&beta, c, h);
                        (coeffs, beta, c, h, inverse, condition)
                    } else {
                        return Err(match moments {
                            Err(s) => degenerate(&s),
                            Ok(_) => CoreError::Degenerate {
                                model: model_name(rank),
                                reason: "the weighted design matrix is rank-deficient: too few \
                                         distinct dark_in values with non-zero weight"
                                    .into(),
                            },
                        });
                    }
                } else {
                    let sol = moments.map_err(|s| degenerate(&s))?;
                    let mut beta = sol.beta;
                    // one refinement step from the directly computed weighted residuals
                    eval_cheb(&g.x, &beta, c, ih, &mut fitted);
                    let mut grad = vec![Neumaier::default(); p];
                    for i in 0..n {
                        let r = w2[i] * (g.y[i] - fitted[i]);
                        let u = (g.x[i] - c) * ih;
                        let (mut tkm1, mut tk) = (1.0, u);
                        grad[0].add(r);
                        for (k, gk) in grad.iter_mut().enumerate().skip(1) {
                            if k > 1 {
                                let next = 2.0 * u * tk - tkm1;
                                tkm1 = tk;
                                tk = next;
                            }
                            gk.add(r * tk);
                        }
                    }
                    let gv: Vec<f64> = grad.iter().map(Neumaier::value).collect();
                    for j in 0..p {
                        beta[j] += (0..p).map(|k| sol.inverse[j * p + k] * gv[k]).sum::<f64>();
                    }
                    (
                        power_coeffs(&beta, c, h),
                        beta,
                        c,
                        h,
                        sol.inverse,
                        sol.condition,
                    )
                }
            }
        };
        // fitted values, plain residual statistics and the weighted SSR
        match rank {
            -1 => fitted
                .iter_mut()
                .zip(&g.x)
                .for_each(|(f, x)| *f = x + coeffs[0]),
            0 => fitted
                .iter_mut()
                .zip(&g.x)
                .for_each(|(f, x)| *f = coeffs[0] * x),
            _ => eval_cheb(&g.x, &cheb, center, 1.0 / half_width, &mut fitted),
        }
        let residual: Vec<f64> = g.y.iter().zip(&fitted).map(|(y, f)| y - f).collect();
        let mut acc = StatsAccumulator::default();
        for (r, y) in residual.chunks(4096).zip(g.y.chunks(4096)) {
            acc.add_block(r, y);
        }
        let stats = acc.finish();
        let ssr_w = sum(residual.iter().zip(&w2).map(|(r, w)| w * r * r));
        let dof = n - p;
        #[allow(clippy::cast_precision_loss)]
        let s2 = if dof == 0 {
            f64::INFINITY
        } else {
            ssr_w / dof as f64
        };
        let cov = if polynomial {
            power_covariance(&inverse, p, center, half_width, s2)
        } else {
            vec![inverse[0] * s2]
        };
        let mut stats = stats;
        stats.ssr = ssr_w;
        out.push(FitResult {
            rank,
            coeffs,
            cov,
            cheb,
            center,
            half_width,
            condition,
            stats,
            counts: g.counts,
        });
    }
    g.recycle();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::Exclusion;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn unit_weights_equal_the_unweighted_fit_and_weights_matter() {
        let xs: Vec<f64> = (0..200).map(|i| 50.0 + f64::from(i) * 3.0).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| 1e-4 * x * x + 2.0 * x + if i % 3 == 0 { 4.0 } else { -2.0 })
            .collect();
        let x = ArrayD::from_shape_vec(IxDyn(&[200]), xs).unwrap();
        let y = ArrayD::from_shape_vec(IxDyn(&[200]), ys).unwrap();
        let ones = ArrayD::from_elem(IxDyn(&[200]), 1.0);
        let input = PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(y.view()),
            mask: None,
            exclusion: Exclusion::default(),
        };
        let a = fit_weighted(&input, &Frame::from(ones.view()), &[-1, 0, 2]).unwrap();
        let b = crate::fit::fit_all(&input, &[-1, 0, 2]).unwrap();
        for (u, v) in a.iter().zip(&b) {
            for (p, q) in u.coeffs.iter().zip(&v.coeffs) {
                assert!((p - q).abs() <= 1e-9 * q.abs().max(1.0), "{p} {q}");
            }
            assert!((u.stats.ssr - v.stats.ssr).abs() <= 1e-9 * v.stats.ssr);
        }
        // a zero weight removes a pixel's influence: an outlier with weight 0
        let mut yo = y.clone();
        yo[[10]] += 1e4;
        let mut w = ones.clone();
        w[[10]] = 0.0;
        let inp2 = PairInput {
            dark_in: Frame::from(x.view()),
            dark_out: Frame::from(yo.view()),
            mask: None,
            exclusion: Exclusion::default(),
        };
        let c = fit_weighted(&inp2, &Frame::from(w.view()), &[2]).unwrap();
        let mut m = ArrayD::from_elem(IxDyn(&[200]), false);
        m[[10]] = true;
        let masked = PairInput {
            mask: Some(m.view()),
            ..inp2.clone()
        };
        let d = crate::fit::fit_all(&masked, &[2]).unwrap();
        for (p, q) in c[0].coeffs.iter().zip(&d[0].coeffs) {
            assert!((p - q).abs() <= 1e-9 * q.abs().max(1.0), "{p} {q}");
        }
        let zeros = ArrayD::from_elem(IxDyn(&[200]), 0.0);
        assert!(fit_weighted(&input, &Frame::from(zeros.view()), &[1]).is_err());
        let short = ArrayD::from_elem(IxDyn(&[5]), 1.0);
        assert!(matches!(
            fit_weighted(&input, &Frame::from(short.view()), &[1]),
            Err(CoreError::ShapeMismatch { .. })
        ));
    }
}
