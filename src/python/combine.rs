//! Binding of [`crate::combine`]: a stack (one array, split along its first
//! axis without copying) or a list of frames, combined along the stack axis.

use ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{batch_intake, core_error, detach_core, mask_intake, ShapeMismatchError};
use crate::combine::{combine as core_combine, Method, Options};
use crate::error::CoreError;

/// Combine a stack along its first axis; a dict of `data`, `n_used`,
/// `scatter` (frame-shaped arrays) and the counts `n_masked`, `n_nonfinite`.
#[pyfunction]
#[pyo3(signature = (stack, swapped, method, clip=None, clip_iter=5, mask=None))]
#[allow(clippy::needless_pass_by_value)]
fn combine<'py>(
    py: Python<'py>,
    stack: &Bound<'py, PyAny>,
    swapped: Vec<bool>,
    method: &str,
    clip: Option<f64>,
    clip_iter: usize,
    mask: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let method = match method {
        "mean" => Method::Mean,
        "median" => Method::Median,
        other => {
            return Err(core_error(
                py,
                CoreError::InvalidParameter(format!(
                    "method must be \"mean\" or \"median\", got {other:?}"
                )),
            ))
        }
    };
    let frames_in = batch_intake(stack, "stack")?;
    if swapped.len() != frames_in.len() {
        return Err(ShapeMismatchError::new_err(format!(
            "the stack has {} frames but {} byte-order flags were given",
            frames_in.len(),
            swapped.len()
        )));
    }
    let frames = frames_in.frames(&swapped);
    let m = mask_intake(mask)?;
    let mask_view = m.as_ref().map(PyReadonlyArrayDyn::as_array);
    let opts = Options {
        method,
        clip,
        clip_iter,
    };
    let r = detach_core(py, || core_combine(&frames, mask_view.as_ref(), &opts))?;
    let shape = (r.shape[0], r.shape[1]);
    let err = |e: ndarray::ShapeError| PyTypeError::new_err(e.to_string());
    let d = PyDict::new(py);
    d.set_item(
        "data",
        Array2::from_shape_vec(shape, r.data)
            .map_err(err)?
            .into_pyarray(py),
    )?;
    d.set_item(
        "n_used",
        Array2::from_shape_vec(shape, r.n_used)
            .map_err(err)?
            .into_pyarray(py),
    )?;
    d.set_item(
        "scatter",
        Array2::from_shape_vec(shape, r.scatter)
            .map_err(err)?
            .into_pyarray(py),
    )?;
    d.set_item("n_masked", r.n_masked)?;
    d.set_item("n_nonfinite", r.n_nonfinite)?;
    Ok(d)
}

/// Add this module's functions to `_core`.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(combine, m)?)?;
    Ok(())
}
