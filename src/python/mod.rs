//! The only `PyO3` code, in four rooms: [`intake`] (arrays in, read in place:
//! every supported dtype, byte-swapped arrays re-viewed as native with a
//! flag), [`errors`] (the classes of `iuvs.exceptions`, the mapping of core
//! errors onto them, the helper that releases the GIL), [`results`] (arrays
//! and field dicts out) and, here, the functions and the module definition.
//! A binding of a new core module goes in a file of its own beside these,
//! registered at the end of this file.

mod combine;
mod cpu;
mod errors;
mod fitsread;
mod intake;
mod median;
mod results;

use ndarray::{Array2, Array3, Array4};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::batch::{fit_batch as core_fit_batch, to_arrays, MAX_COEFFS};
use crate::clip::fit_clipped;
use crate::error::CoreError;
use crate::fit::{fit_all as core_fit_all, residual_histograms, PairInput};
use crate::histogram::{histogram as core_histogram, Bins, Precision, Rule};
use crate::hot::{mask_above as core_mask_above, sigma_threshold};
use crate::mask::Exclusion;
use crate::view::Frame;
use crate::weighted::fit_weighted;
#[allow(unused_imports)] // the rooms' items, for this file and the bindings beside it
use errors::{
    core_error, detach_core, InvalidParameterError, IuvsError, ShapeMismatchError,
    UnsupportedDtypeError,
};
#[allow(unused_imports)]
use intake::{batch_intake, batch_masks, intake, mask_intake, Batch, Readonly};
#[allow(unused_imports)]
use results::{frozen, keyed_dict, remember, result_dict};

/// Fit every rank of `ranks` of `dark_out` against `dark_in`; one dict per rank.
#[pyfunction]
#[pyo3(signature = (dark_in, swap_in, dark_out, swap_out, ranks, mask=None, hot_threshold=None, clip=None, clip_iter=3, weights=None, swap_w=false, hist_bins=None, hist_range=None))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::too_many_arguments,
    clippy::too_many_lines
)]
fn fit_all<'py>(
    py: Python<'py>,
    dark_in: &Bound<'py, PyAny>,
    swap_in: bool,
    dark_out: &Bound<'py, PyAny>,
    swap_out: bool,
    ranks: Vec<i64>,
    mask: Option<&Bound<'py, PyAny>>,
    hot_threshold: Option<f64>,
    clip: Option<f64>,
    clip_iter: usize,
    weights: Option<&Bound<'py, PyAny>>,
    swap_w: bool,
    hist_bins: Option<usize>,
    hist_range: Option<(f64, f64)>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let x = intake(dark_in, "dark_in")?;
    let y = intake(dark_out, "dark_out")?;
    let m = mask_intake(mask)?;
    let exclusion = Exclusion::new(hot_threshold).map_err(|e| core_error(py, e))?;
    let input = PairInput {
        dark_in: x.frame(swap_in),
        dark_out: y.frame(swap_out),
        mask: m.as_ref().map(PyReadonlyArrayDyn::as_array),
        exclusion,
    };
    let wr = match weights.filter(|w| !w.is_none()) {
        Some(w) => Some(intake(w, "weights")?),
        None => None,
    };
    let wf = wr.as_ref().map(|w| w.frame(swap_w));
    if let Some(bins) = hist_bins {
        if clip.is_some() || wf.is_some() {
            return Err(core_error(
                py,
                CoreError::InvalidParameter(
                    "residual histograms are not available with clip or weights".into(),
                ),
            ));
        }
        let (results, hists) = detach_core(py, || {
            let results = core_fit_all(&input, &ranks)?;
            let hists = residual_histograms(&input, &results, bins, hist_range)?;
            Ok((results, hists))
        })?;
        return results
            .into_iter()
            .zip(hists)
            .map(|(r, (counts, edges))| {
                let d = result_dict(py, r)?;
                let h = (
                    frozen(PyArray1::from_vec(py, counts_i64(counts))),
                    frozen(PyArray1::from_vec(py, edges)),
                );
                d.set_item(intern!(py, "histogram"), h)?;
                Ok(d)
            })
            .collect();
    }
    let Some(sigma) = clip else {
        let results = match &wf {
            Some(wf) => detach_core(py, || fit_weighted(&input, wf, &ranks))?,
            None => detach_core(py, || core_fit_all(&input, &ranks))?,
        };
        return results.into_iter().map(|r| result_dict(py, r)).collect();
    };
    let clipped = detach_core(py, || {
        ranks
            .iter()
            .map(|&r| fit_clipped(&input, r, sigma, clip_iter, wf.as_ref()))
            .collect::<Result<Vec<_>, _>>()
    })?;
    clipped
        .into_iter()
        .map(|c| {
            let d = result_dict(py, c.fit)?;
            d.set_item(intern!(py, "clip_iterations"), c.iterations)?;
            let idx: Vec<i64> = c
                .clipped
                .iter()
                .map(|&i| i64::try_from(i).unwrap_or(i64::MAX))
                .collect();
            d.set_item(intern!(py, "clipped"), idx.into_pyarray(py))?;
            Ok(d)
        })
        .collect()
}

/// Fit every pair of two equally long stacks (or lists) of arrays; dense
/// result arrays.
#[pyfunction]
#[pyo3(signature = (darks_in, swaps_in, darks_out, swaps_out, ranks, masks=None, hot_threshold=None, n_threads=None, clip=None, clip_iter=3, weights=None, swaps_w=None))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::too_many_arguments,
    clippy::too_many_lines
)]
fn fit_batch<'py>(
    py: Python<'py>,
    darks_in: &Bound<'py, PyAny>,
    swaps_in: Vec<bool>,
    darks_out: &Bound<'py, PyAny>,
    swaps_out: Vec<bool>,
    ranks: Vec<i64>,
    masks: Option<&Bound<'py, PyAny>>,
    hot_threshold: Option<Bound<'py, PyAny>>,
    n_threads: Option<usize>,
    clip: Option<f64>,
    clip_iter: usize,
    weights: Option<Vec<Option<Bound<'py, PyAny>>>>,
    swaps_w: Option<Vec<bool>>,
) -> PyResult<Bound<'py, PyDict>> {
    let xs = batch_intake(darks_in, "darks_in")?;
    let ys = batch_intake(darks_out, "darks_out")?;
    let n = xs.len();
    if ys.len() != n || swaps_in.len() != n || swaps_out.len() != n {
        return Err(ShapeMismatchError::new_err(
            format!("darks_in has {n} frames but darks_out has {}", ys.len()).to_string(),
        ));
    }
    let (x_frames, y_frames) = (xs.frames(&swaps_in), ys.frames(&swaps_out));
    let (mask_arrays, mask_stack) = batch_masks(masks, n)?;
    let ms: Vec<Option<ndarray::ArrayViewD<'_, bool>>> = if mask_stack {
        let stack = mask_arrays[0].as_ref().map(PyReadonlyArrayDyn::as_array);
        match stack {
            Some(s) if s.ndim() >= 1 && s.shape()[0] == n => (0..n)
                .map(|i| Some(s.clone().index_axis_move(ndarray::Axis(0), i)))
                .collect(),
            _ => {
                return Err(ShapeMismatchError::new_err(
                    format!(
                        "{n} pairs but a mask stack of shape {:?}",
                        stack.map(|s| s.shape().to_vec())
                    )
                    .to_string(),
                ))
            }
        }
    } else {
        mask_arrays
            .iter()
            .map(|m| m.as_ref().map(PyReadonlyArrayDyn::as_array))
            .collect()
    };
    if ms.len() != n {
        return Err(ShapeMismatchError::new_err(
            format!("{n} pairs but {} masks", ms.len()).to_string(),
        ));
    }
    // one threshold for every pair, or one (or None) per pair
    let thresholds: Vec<Option<f64>> = match &hot_threshold {
        None => vec![None; n],
        Some(t) if t.is_none() => vec![None; n],
        Some(t) => match t.extract::<f64>() {
            Ok(v) => vec![Some(v); n],
            Err(_) => t.extract::<Vec<Option<f64>>>()?,
        },
    };
    if thresholds.len() != n {
        return Err(ShapeMismatchError::new_err(
            format!("{n} pairs but {} hot-pixel thresholds", thresholds.len()).to_string(),
        ));
    }
    let exclusions = thresholds
        .into_iter()
        .map(|t| Exclusion::new(t).map_err(|e| core_error(py, e)))
        .collect::<PyResult<Vec<_>>>()?;
    let pairs: Vec<PairInput<'_>> = x_frames
        .into_iter()
        .zip(y_frames)
        .zip(ms)
        .zip(&exclusions)
        .map(|(((dark_in, dark_out), mask), &exclusion)| PairInput {
            dark_in,
            dark_out,
            mask,
            exclusion,
        })
        .collect();
    if let Some(sigma) = clip {
        if !(sigma.is_finite() && sigma > 0.0) || clip_iter == 0 {
            return Err(InvalidParameterError::new_err(format!("clip must be finite and positive and clip_iter at least 1 (got {sigma}, {clip_iter})").to_string()));
        }
    }
    let clip_spec = clip.map(|s| (s, clip_iter));
    let ws = match &weights {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, w)| match w {
                Some(a) if !a.is_none() => intake(a, &format!("weights[{i}]")).map(Some),
                _ => Ok(None),
            })
            .collect::<PyResult<Vec<_>>>()?,
    };
    let sw = swaps_w.unwrap_or_default();
    let wframes: Vec<Option<Frame<'_>>> = ws
        .iter()
        .enumerate()
        .map(|(i, w)| {
            w.as_ref()
                .map(|r| r.frame(sw.get(i).copied().unwrap_or(false)))
        })
        .collect();
    let results = detach_core(py, || {
        core_fit_batch(&pairs, &ranks, n_threads, clip_spec, &wframes)
    })?;
    let arrays = to_arrays(&results, &ranks);
    let (np_, nr) = (arrays.n_pairs, arrays.n_ranks);
    let shape3 = |v: Vec<f64>| Array3::from_shape_vec((np_, nr, MAX_COEFFS), v);
    let d = PyDict::new(py);
    let err = |e: ndarray::ShapeError| PyTypeError::new_err(e.to_string());
    d.set_item(
        "coeffs",
        shape3(arrays.coeffs).map_err(err)?.into_pyarray(py),
    )?;
    d.set_item("perr", shape3(arrays.perr).map_err(err)?.into_pyarray(py))?;
    d.set_item(
        "cheb_coeffs",
        shape3(arrays.cheb).map_err(err)?.into_pyarray(py),
    )?;
    d.set_item(
        "cov",
        Array4::from_shape_vec((np_, nr, MAX_COEFFS, MAX_COEFFS), arrays.cov)
            .map_err(err)?
            .into_pyarray(py),
    )?;
    for (name, col) in arrays.floats {
        d.set_item(
            name,
            Array2::from_shape_vec((np_, nr), col)
                .map_err(err)?
                .into_pyarray(py),
        )?;
    }
    for (name, col) in arrays.counts {
        d.set_item(
            name,
            Array2::from_shape_vec((np_, nr), col)
                .map_err(err)?
                .into_pyarray(py),
        )?;
    }
    // each failed pair's exception class (the one `fit` would raise) and message
    let errors: Vec<Option<(String, String)>> = results
        .iter()
        .map(|r| match r {
            Ok(_) => Ok(None),
            Err(e) => {
                let class = core_error(py, e.clone()).get_type(py).name()?.to_string();
                Ok(Some((class, e.to_string())))
            }
        })
        .collect::<PyResult<_>>()?;
    d.set_item("errors", errors)?;
    Ok(d)
}

/// Iterative `median + sigma * MAD-std` hot-pixel threshold of one frame.
#[pyfunction]
#[pyo3(signature = (dark, swapped, sigma, max_iter))]
fn hot_sigma_threshold<'py>(
    py: Python<'py>,
    dark: &Bound<'py, PyAny>,
    swapped: bool,
    sigma: f64,
    max_iter: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let v = intake(dark, "dark")?;
    let frame = v.frame(swapped);
    let est = detach_core(py, || sigma_threshold(&frame, sigma, max_iter))?;
    let d = PyDict::new(py);
    d.set_item("threshold", est.threshold)?;
    d.set_item("median", est.median)?;
    d.set_item("std", est.std)?;
    d.set_item("n_iter", est.n_iter)?;
    d.set_item("n_finite", est.n_finite)?;
    Ok(d)
}

/// Boolean mask of the pixels above `threshold` (C order, the array's shape).
#[pyfunction]
#[pyo3(signature = (dark, swapped, threshold))]
fn mask_above<'py>(
    py: Python<'py>,
    dark: &Bound<'py, PyAny>,
    swapped: bool,
    threshold: f64,
) -> PyResult<Bound<'py, numpy::PyArrayDyn<bool>>> {
    let v = intake(dark, "dark")?;
    let frame = v.frame(swapped);
    let mask = detach_core(py, || Ok(core_mask_above(&frame, threshold)))?;
    Ok(mask.into_pyarray(py))
}

/// Histogram counts as numpy's int64 (saturating, which no array reaches).
fn counts_i64(counts: Vec<u64>) -> Vec<i64> {
    counts
        .into_iter()
        .map(|c| i64::try_from(c).unwrap_or(i64::MAX))
        .collect()
}

/// Precision of a binning step: float32 when `f32`, else float64.
fn precision(f32: bool) -> Precision {
    if f32 {
        Precision::F32
    } else {
        Precision::F64
    }
}

/// Histogram counts identical to `numpy.histogram(values, bins, (first, last))`,
/// given numpy's edges and the precisions and values of its binning steps
/// (derived by the Python layer from numpy's type promotion; see
/// [`crate::histogram::Rule`]).
#[pyfunction]
#[pyo3(signature = (values, swapped, bins, first, last, edges, edges_f32, keep, sub, div))]
#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn histogram<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    swapped: bool,
    bins: usize,
    first: f64,
    last: f64,
    edges: Vec<f64>,
    edges_f32: bool,
    keep: (f64, f64),
    sub: (bool, f64),
    div: (bool, f64),
) -> PyResult<Bound<'py, numpy::PyArray1<i64>>> {
    let v = intake(values, "values")?;
    let rule = Rule {
        lo_keep: keep.0,
        hi_keep: keep.1,
        sub: precision(sub.0),
        first: sub.1,
        div: precision(div.0),
        denom: div.1,
    };
    let spec = Bins::with_rule(bins, first, last, edges, rule, precision(edges_f32))
        .map_err(|e| core_error(py, e))?;
    let frame = v.frame(swapped);
    let counts = detach_core(py, || core_histogram(&frame, &spec))?;
    Ok(counts_i64(counts).into_pyarray(py))
}

/// Set the size of iuvs's thread pool (`None`: `RAYON_NUM_THREADS`, else one per CPU).
#[pyfunction]
#[pyo3(signature = (n=None))]
fn set_threads(py: Python<'_>, n: Option<usize>) -> PyResult<()> {
    crate::parallel::set_threads(n).map_err(|e| core_error(py, e))
}

/// Threads of iuvs's thread pool (the calling thread counted among them).
#[pyfunction]
fn get_threads(py: Python<'_>) -> usize {
    py.detach(crate::parallel::threads)
}

/// The native core of iuvs.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_all, m)?)?;
    m.add_function(wrap_pyfunction!(histogram, m)?)?;
    m.add_function(wrap_pyfunction!(fit_batch, m)?)?;
    m.add_function(wrap_pyfunction!(hot_sigma_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(mask_above, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_threads, m)?)?;
    median::register(m)?;
    combine::register(m)?;
    cpu::register(m)?;
    fitsread::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // (name, "count" | "float", FITS keyword or None, card comment or None)
    let fields: Vec<(&str, &str, Option<&str>, Option<&str>)> = crate::stats::RESIDUAL_FIELDS
        .iter()
        .map(|f| {
            let kind = match f.kind {
                crate::stats::FieldKind::Count => "count",
                crate::stats::FieldKind::Float => "float",
            };
            (f.name, kind, f.card.map(|c| c.0), f.card.map(|c| c.1))
        })
        .collect();
    m.add(
        "RESIDUAL_FIELDS",
        pyo3::types::PyTuple::new(m.py(), fields)?,
    )?;
    m.add(
        "FIT_FLOAT_NAMES",
        pyo3::types::PyTuple::new(m.py(), crate::batch::FIT_FLOAT_NAMES)?,
    )?;
    Ok(())
}
