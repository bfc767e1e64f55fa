//! Results handed to Python: new arrays given over without a copy and made
//! read-only, and the field dicts the Python dataclasses are filled from.

use ndarray::Array2;
use numpy::{PyArray, PyArray1, PyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use crate::fit::FitResult;
use crate::stats::{FieldKind, RESIDUAL_FIELDS};

/// `a`, made read-only (a fit's arrays are results, not buffers to edit).
/// Only for arrays created by the caller just now.
#[allow(unsafe_code)] // the one unsafe block of the crate; see SAFETY
pub(crate) fn frozen<T: numpy::Element, D: ndarray::Dimension>(
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
pub(crate) fn keyed_dict<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    match cell.get(py) {
        Some(template) => template.bind(py).copy(),
        None => Ok(PyDict::new(py)),
    }
}

/// Keep the keys of the filled dict `d` (values `None`, so that no result is
/// kept alive) as the template of [`keyed_dict`].
pub(crate) fn remember(
    py: Python<'_>,
    cell: &PyOnceLock<Py<PyDict>>,
    d: &Bound<'_, PyDict>,
) -> PyResult<()> {
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
/// The names of `RESIDUAL_FIELDS` as Python strings, made once.
static STATS_NAMES: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// One fit as the field dict of `iuvs.Fit`, with `"stats"` the field dict of
/// `iuvs.ResidualStats` (the Python layer fills the two classes from them).
pub(crate) fn result_dict(py: Python<'_>, r: FitResult) -> PyResult<Bound<'_, PyDict>> {
    let s = keyed_dict(py, &STATS_KEYS)?;
    let names = STATS_NAMES.get_or_init(py, || {
        RESIDUAL_FIELDS
            .iter()
            .map(|f| PyString::intern(py, f.name).unbind())
            .collect()
    });
    for ((field, name), v) in RESIDUAL_FIELDS.iter().zip(names).zip(r.residual_values()) {
        match field.kind {
            // exact: counts are whole numbers far below 2^53
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            FieldKind::Count => s.set_item(name.bind(py), v as u64)?,
            FieldKind::Float => s.set_item(name.bind(py), v)?,
        }
    }
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
