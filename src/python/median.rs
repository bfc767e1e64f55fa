//! Binding of the median filter ([`crate::median`]).

use numpy::IntoPyArray;
use pyo3::prelude::*;

use super::{core_error, detach_core, intake};
use crate::median::{median_filter as core_median_filter, Filtered, Mode, Spec};

/// `scipy.ndimage.median_filter(image, size=(rows, cols), mode, cval)` of a
/// frame, or of each frame of a stack, as a new array of the input's dtype.
#[pyfunction]
#[pyo3(signature = (image, swapped, rows, cols, mode, cval))]
fn median_filter<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    swapped: bool,
    rows: usize,
    cols: usize,
    mode: &str,
    cval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let data = intake(image, "image")?;
    let spec = Spec {
        rows,
        cols,
        mode: Mode::parse(mode).map_err(|e| core_error(py, e))?,
        cval,
    };
    let frame = data.frame(swapped);
    let out = detach_core(py, || core_median_filter(&frame, &spec))?;
    Ok(match out {
        Filtered::I16(a) => a.into_pyarray(py).into_any(),
        Filtered::U16(a) => a.into_pyarray(py).into_any(),
        Filtered::I32(a) => a.into_pyarray(py).into_any(),
        Filtered::U32(a) => a.into_pyarray(py).into_any(),
        Filtered::I64(a) => a.into_pyarray(py).into_any(),
        Filtered::F32(a) => a.into_pyarray(py).into_any(),
        Filtered::F64(a) => a.into_pyarray(py).into_any(),
    })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(median_filter, m)?)
}
