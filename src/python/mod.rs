//! The only `PyO3` code: array intake (every supported dtype, read in place,
//! byte-swapped arrays arrive re-viewed as native with a flag), the helper that
//! releases the GIL and turns `CoreError`s and panics into the exception
//! classes of `iuvs.exceptions`, and the module definition.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ndarray::{Array2, Array3, Array4};
use numpy::{
    IntoPyArray, PyArray, PyArray1, PyArray2, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use crate::batch::{fit_batch as core_fit_batch, to_arrays, MAX_COEFFS};
use crate::clip::fit_clipped;
use crate::error::CoreError;
use crate::fit::{fit_all as core_fit_all, residual_histograms, FitResult, PairInput};
use crate::histogram::{histogram as core_histogram, Bins, Precision, Rule};
use crate::hot::{mask_above as core_mask_above, sigma_threshold};
use crate::mask::Exclusion;
use crate::view::{Frame, PixelArray};
use crate::weighted::fit_weighted;

/// A read-only borrow of a numpy array of one supported dtype.
enum Readonly<'py> {
    I16(PyReadonlyArrayDyn<'py, i16>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    U32(PyReadonlyArrayDyn<'py, u32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl Readonly<'_> {
    fn frame(&self, swapped: bool) -> Frame<'_> {
        let data = match self {
            Readonly::I16(a) => PixelArray::I16(a.as_array()),
            Readonly::U16(a) => PixelArray::U16(a.as_array()),
            Readonly::I32(a) => PixelArray::I32(a.as_array()),
            Readonly::U32(a) => PixelArray::U32(a.as_array()),
            Readonly::I64(a) => PixelArray::I64(a.as_array()),
            Readonly::F32(a) => PixelArray::F32(a.as_array()),
            Readonly::F64(a) => PixelArray::F64(a.as_array()),
        };
        Frame { data, swapped }
    }
}

fn exception(py: Python<'_>, class: &str, msg: &str) -> PyErr {
    let made = py
        .import("iuvs.exceptions")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((msg,)));
    match made {
        Ok(inst) => PyErr::from_value(inst),
        Err(e) => e,
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(|e| core_error(py, e))`
fn core_error(py: Python<'_>, err: CoreError) -> PyErr {
    exception(py, error_class(&err), &err.to_string())
}

/// Run `f` without the GIL; map core errors and any panic to `iuvs.exceptions`.
fn detach_core<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, CoreError> + Send,
    T: Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(core_error(py, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".to_string());
            Err(exception(
                py,
                "IuvsError",
                &format!("internal error in the iuvs core (please report it): {what}"),
            ))
        }
    }
}

fn intake<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Readonly<'py>> {
    macro_rules! try_type {
        ($t:ty, $variant:ident) => {
            if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'py, $t>>() {
                return Ok(Readonly::$variant(a));
            }
        };
    }
    try_type!(f64, F64);
    try_type!(f32, F32);
    try_type!(i32, I32);
    try_type!(u16, U16);
    try_type!(i16, I16);
    try_type!(u32, U32);
    try_type!(i64, I64);
    let py = obj.py();
    let dtype = obj
        .cast::<PyUntypedArray>()
        .map_or_else(|_| obj.get_type().to_string(), |a| a.dtype().to_string());
    Err(exception(
        py,
        "UnsupportedDtypeError",
        &format!(
            "{name} has dtype {dtype}; supported are int16, uint16, int32, uint32, int64, \
             float32 and float64 in native byte order (re-view big-endian data as native and \
             pass swapped=True)"
        ),
    ))
}

fn mask_intake<'py>(
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, bool>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => o
            .extract::<PyReadonlyArrayDyn<'py, bool>>()
            .map(Some)
            .map_err(|_| {
                exception(
                    o.py(),
                    "UnsupportedDtypeError",
                    "mask must be a numpy boolean array (True = excluded)",
                )
            }),
    }
}

/// `a`, made read-only (a fit's arrays are results, not buffers to edit).
/// Only for arrays created by the caller just now.
#[allow(unsafe_code)] // the one unsafe block of the crate; see SAFETY
fn frozen<T: numpy::Element, D: ndarray::Dimension>(
    a: Bound<'_, PyArray<T, D>>,
) -> Bound<'_, PyArray<T, D>> {
    // SAFETY: `a` is a valid array object that the caller has just created and
    // not yet handed to Python or borrowed in Rust, so no reference to its data
    // can be invalidated; clearing WRITEABLE only forbids later writes (the
    // same operation as rust-numpy's `make_nonwriteable`, without the borrow
    // bookkeeping it pays for).  Tested by `test_result_arrays_are_read_only`.
    unsafe {
        (*a.as_array_ptr()).flags &= !numpy::npyffi::NPY_ARRAY_WRITEABLE;
    }
    a
}

/// A fresh dict for fields: a copy of the first one `remember` kept, when
/// there is one.  A copy of a dict with the same keys is a block copy, where
/// inserting the keys one by one rehashes the dict as it grows; the values
/// set afterwards replace existing entries.
fn keyed_dict<'py>(py: Python<'py>, cell: &PyOnceLock<Py<PyDict>>) -> PyResult<Bound<'py, PyDict>> {
    match cell.get(py) {
        Some(template) => template.bind(py).copy(),
        None => Ok(PyDict::new(py)),
    }
}

/// Keep the keys of the filled dict `d` (values `None`, so that no result is
/// kept alive) as the template of [`keyed_dict`].
fn remember(py: Python<'_>, cell: &PyOnceLock<Py<PyDict>>, d: &Bound<'_, PyDict>) -> PyResult<()> {
    if cell.get(py).is_none() {
        let template = d.copy()?;
        for key in template.keys() {
            template.set_item(key, py.None())?;
        }
        // a race with another thread only means its template is kept instead
        let _ = cell.set(py, template.unbind());
    }
    Ok(())
}

static STATS_KEYS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static FIT_KEYS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// One fit as the field dict of `iuvs.Fit`, with `"stats"` the field dict of
/// `iuvs.ResidualStats` (the Python layer fills the two classes from them).
fn result_dict(py: Python<'_>, r: FitResult) -> PyResult<Bound<'_, PyDict>> {
    let s = keyed_dict(py, &STATS_KEYS)?;
    s.set_item(intern!(py, "n_used"), r.counts.n_used)?;
    s.set_item(intern!(py, "n_excluded"), r.counts.n_excluded())?;
    s.set_item(intern!(py, "n_nonfinite"), r.counts.n_nonfinite)?;
    s.set_item(intern!(py, "mean"), r.stats.mean)?;
    s.set_item(intern!(py, "std"), r.stats.std)?;
    s.set_item(intern!(py, "min"), r.stats.min)?;
    s.set_item(intern!(py, "max"), r.stats.max)?;
    s.set_item(intern!(py, "rms"), r.stats.rms)?;
    s.set_item(intern!(py, "frac_mean"), r.stats.frac_mean)?;
    s.set_item(intern!(py, "frac_std"), r.stats.frac_std)?;
    s.set_item(intern!(py, "n_fractional"), r.stats.n_fractional)?;
    s.set_item(
        intern!(py, "n_zero_denominator"),
        r.stats.n_zero_denominator,
    )?;
    s.set_item(intern!(py, "n_clipped"), r.counts.n_clipped)?;
    remember(py, &STATS_KEYS, &s)?;
    let d = keyed_dict(py, &FIT_KEYS)?;
    let p = r.coeffs.len();
    d.set_item(intern!(py, "rank"), r.rank)?;
    d.set_item(
        intern!(py, "coeffs"),
        frozen(PyArray1::from_slice(py, &r.coeffs)),
    )?;
    let perr: Vec<f64> = (0..p).map(|i| r.cov[i * p + i].sqrt()).collect();
    d.set_item(intern!(py, "perr"), frozen(PyArray1::from_slice(py, &perr)))?;
    let cov =
        Array2::from_shape_vec((p, p), r.cov).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    d.set_item(intern!(py, "cov"), frozen(PyArray2::from_array(py, &cov)))?;
    d.set_item(intern!(py, "stats"), s)?;
    d.set_item(intern!(py, "center"), r.center)?;
    d.set_item(intern!(py, "half_width"), r.half_width)?;
    d.set_item(
        intern!(py, "cheb_coeffs"),
        frozen(PyArray1::from_slice(py, &r.cheb)),
    )?;
    d.set_item(intern!(py, "ssr"), r.stats.ssr)?;
    d.set_item(intern!(py, "condition"), r.condition)?;
    d.set_item(intern!(py, "mask"), py.None())?;
    d.set_item(intern!(py, "clip_iterations"), 0)?;
    d.set_item(intern!(py, "histogram"), py.None())?;
    remember(py, &FIT_KEYS, &d)?;
    Ok(d)
}

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

fn error_class(err: &CoreError) -> &'static str {
    match err {
        CoreError::ShapeMismatch { .. } => "ShapeMismatchError",
        CoreError::Empty { .. } => "EmptyInputError",
        CoreError::TooFewPixels { .. } => "InsufficientDataError",
        CoreError::Degenerate { .. } => "DegenerateFitError",
        CoreError::Overflow { .. } => "DataRangeError",
        CoreError::RankOutOfRange { .. } => "RankError",
        CoreError::InvalidParameter(_) => "InvalidParameterError",
    }
}

/// The arrays of one side of a batch: one stacked array, borrowed once and
/// split along its first axis, or a list of arrays, borrowed one by one.
/// (numpy borrows are tracked per view: thousands of views of one stack,
/// borrowed one by one, cost time quadratic in their number.)
enum Batch<'py> {
    Stack(Readonly<'py>, usize),
    List(Vec<Readonly<'py>>),
}

impl Batch<'_> {
    fn len(&self) -> usize {
        match self {
            Batch::Stack(_, n) => *n,
            Batch::List(v) => v.len(),
        }
    }

    /// One frame per pair, `swaps[i]` its byte order.
    fn frames(&self, swaps: &[bool]) -> Vec<Frame<'_>> {
        let base: Vec<Frame<'_>> = match self {
            Batch::Stack(r, _) => r.frame(false).outer(),
            Batch::List(v) => v.iter().map(|r| r.frame(false)).collect(),
        };
        base.into_iter()
            .zip(swaps)
            .map(|(f, &swapped)| Frame {
                data: f.data,
                swapped,
            })
            .collect()
    }
}

fn batch_intake<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Batch<'py>> {
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .enumerate()
            .map(|(i, a)| intake(&a, &format!("{name}[{i}]")))
            .collect::<PyResult<Vec<_>>>()
            .map(Batch::List);
    }
    let r = intake(obj, name)?;
    let Some(&n) = r.frame(false).shape().first() else {
        return Err(exception(
            obj.py(),
            "ShapeMismatchError",
            &format!("{name} must be a stack (n, ...) or a list of arrays"),
        ));
    };
    Ok(Batch::Stack(r, n))
}

/// Masks of a batch: `None`, a list (entries `None` or boolean arrays) or one
/// boolean stack split along its first axis.
fn batch_masks<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    n: usize,
) -> PyResult<(Vec<Option<PyReadonlyArrayDyn<'py, bool>>>, bool)> {
    match obj {
        None => Ok((vec![None; n], false)),
        Some(o) if o.is_none() => Ok((vec![None; n], false)),
        Some(o) => match o.cast::<PyList>() {
            Ok(list) => Ok((
                list.iter()
                    .map(|m| mask_intake(Some(&m)))
                    .collect::<PyResult<Vec<_>>>()?,
                false,
            )),
            Err(_) => Ok((vec![mask_intake(Some(o))?], true)),
        },
    }
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
        return Err(exception(
            py,
            "ShapeMismatchError",
            &format!("darks_in has {n} frames but darks_out has {}", ys.len()),
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
                return Err(exception(
                    py,
                    "ShapeMismatchError",
                    &format!(
                        "{n} pairs but a mask stack of shape {:?}",
                        stack.map(|s| s.shape().to_vec())
                    ),
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
        return Err(exception(
            py,
            "ShapeMismatchError",
            &format!("{n} pairs but {} masks", ms.len()),
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
        return Err(exception(
            py,
            "ShapeMismatchError",
            &format!("{n} pairs but {} hot-pixel thresholds", thresholds.len()),
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
            return Err(exception(
                py,
                "InvalidParameterError",
                &format!("clip must be finite and positive and clip_iter at least 1 (got {sigma}, {clip_iter})"),
            ));
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
    let errors: Vec<Option<(String, String)>> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .err()
                .map(|e| (error_class(e).to_string(), e.to_string()))
        })
        .collect();
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

/// The native core of iuvs.
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_all, m)?)?;
    m.add_function(wrap_pyfunction!(histogram, m)?)?;
    m.add_function(wrap_pyfunction!(fit_batch, m)?)?;
    m.add_function(wrap_pyfunction!(hot_sigma_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(mask_above, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_threads, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
