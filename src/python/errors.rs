//! Errors crossing into Python: the classes of `iuvs.exceptions`, imported
//! (not named by strings), the mapping of every `CoreError` onto them, and the
//! one helper that runs core work without the GIL.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::error::CoreError;

pyo3::import_exception!(iuvs.exceptions, IuvsError);
pyo3::import_exception!(iuvs.exceptions, ShapeMismatchError);
pyo3::import_exception!(iuvs.exceptions, EmptyInputError);
pyo3::import_exception!(iuvs.exceptions, InsufficientDataError);
pyo3::import_exception!(iuvs.exceptions, DegenerateFitError);
pyo3::import_exception!(iuvs.exceptions, RankError);
pyo3::import_exception!(iuvs.exceptions, InvalidParameterError);
pyo3::import_exception!(iuvs.exceptions, UnsupportedDtypeError);
pyo3::import_exception!(iuvs.exceptions, FileFormatError);
pyo3::import_exception!(iuvs.exceptions, DataRangeError);

/// The Python exception of a core error.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(|e| core_error(py, e))`
pub(crate) fn core_error(_py: Python<'_>, err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::ShapeMismatch { .. } => ShapeMismatchError::new_err(msg),
        CoreError::Empty { .. } => EmptyInputError::new_err(msg),
        CoreError::TooFewPixels { .. } => InsufficientDataError::new_err(msg),
        CoreError::Degenerate { .. } => DegenerateFitError::new_err(msg),
        CoreError::RankOutOfRange { .. } => RankError::new_err(msg),
        CoreError::InvalidParameter(_) => InvalidParameterError::new_err(msg),
        CoreError::FileFormat(_) => FileFormatError::new_err(msg),
        CoreError::Overflow { .. } => DataRangeError::new_err(msg),
    }
}

/// Run `f` without the GIL; map core errors and any panic to `iuvs.exceptions`.
pub(crate) fn detach_core<T, F>(py: Python<'_>, f: F) -> PyResult<T>
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
            Err(IuvsError::new_err(format!(
                "internal error in the iuvs core (please report it): {what}"
            )))
        }
    }
}
