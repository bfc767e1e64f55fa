//! Binding of [`crate::cpu`]: what the run-time dispatch sees.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `{feature: detected}` for the x86-64 features the kernels are built for.
#[pyfunction]
fn cpu_features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, yes) in crate::cpu::features() {
        d.set_item(name, yes)?;
    }
    Ok(d)
}

/// The build of the kernels the dispatch selects here: "avx512", "avx2+fma",
/// "avx" or "baseline".
#[pyfunction]
fn kernel_target() -> &'static str {
    crate::cpu::kernel_target().name()
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_target, m)?)
}
