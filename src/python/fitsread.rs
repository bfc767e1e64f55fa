//! Bindings of the fast FITS reading core (`crate::fitsread`): read and
//! inflate a file, inflate bytes, and describe the HDUs of an inflated file.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::{detach_core, InvalidParameterError};
use crate::error::CoreError;
use crate::fitsread::{inflate_gzip, is_gzip, ones_sum, scan, Hdu};

/// Read a whole file and inflate it when it starts with the gzip magic bytes
/// (without the GIL): `(bytes as a uint8 array, was_gzip)`.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 hands arguments over by value
fn read_fits_file(
    py: Python<'_>,
    path: std::path::PathBuf,
) -> PyResult<(Bound<'_, PyArray1<u8>>, bool)> {
    let (buf, gz) = detach_core(py, || {
        let raw = std::fs::read(&path)
            .map_err(|e| CoreError::FileFormat(format!("cannot read {}: {e}", path.display())))?;
        if is_gzip(&raw) {
            Ok((inflate_gzip(&raw)?, true))
        } else {
            Ok((raw, false))
        }
    })?;
    Ok((buf.into_pyarray(py), gz))
}

/// Inflate gzip bytes (every member, CRC32 and ISIZE checked) without the GIL.
#[pyfunction]
fn gunzip<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let out = detach_core(py, || inflate_gzip(data))?;
    Ok(out.into_pyarray(py))
}

fn hdu_dict<'py>(
    py: Python<'py>,
    h: &Hdu,
    sums: Option<(u32, u32)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("index", h.index)?;
    d.set_item("header_start", h.header_start)?;
    d.set_item("data_start", h.data_start)?;
    d.set_item("data_size", h.data_size)?;
    d.set_item("end", h.end)?;
    d.set_item("xtension", &h.xtension)?;
    d.set_item("extname", &h.extname)?;
    d.set_item("bitpix", h.bitpix)?;
    d.set_item("naxes", &h.naxes)?;
    d.set_item("pcount", h.pcount)?;
    d.set_item("gcount", h.gcount)?;
    d.set_item("tfields", h.tfields)?;
    d.set_item("zimage", h.zimage)?;
    d.set_item("unusual", h.unusual)?;
    d.set_item("bscale", &h.bscale)?;
    d.set_item("bzero", &h.bzero)?;
    d.set_item("blank", &h.blank)?;
    d.set_item("checksum", &h.checksum)?;
    d.set_item("datasum", &h.datasum)?;
    d.set_item("hdu_sum", sums.map(|s| s.0))?;
    d.set_item("data_sum", sums.map(|s| s.1))?;
    Ok(d)
}

/// Describe every HDU of an inflated FITS file (headers checked; see
/// `crate::fitsread::scan`): `(list of dicts, trailing byte count)`.  With
/// `checksums`, each dict also has the ones' complement sums of the whole HDU
/// and of its data.
#[pyfunction]
#[pyo3(signature = (buf, checksums = false))]
#[allow(clippy::needless_pass_by_value)] // PyO3 hands arguments over by value
fn scan_fits<'py>(
    py: Python<'py>,
    buf: PyReadonlyArray1<'py, u8>,
    checksums: bool,
) -> PyResult<(Bound<'py, PyList>, usize)> {
    let bytes = buf
        .as_slice()
        .map_err(|_| InvalidParameterError::new_err("scan_fits needs a contiguous uint8 array"))?;
    let (hdus, trailing, sums) = detach_core(py, || {
        let (hdus, trailing) = scan(bytes)?;
        let sums: Vec<Option<(u32, u32)>> = hdus
            .iter()
            .map(|h| {
                checksums.then(|| {
                    (
                        ones_sum(&bytes[h.header_start..h.end]),
                        ones_sum(&bytes[h.data_start..h.end]),
                    )
                })
            })
            .collect();
        Ok((hdus, trailing, sums))
    })?;
    let list = PyList::empty(py);
    for (h, s) in hdus.iter().zip(sums) {
        list.append(hdu_dict(py, h, s)?)?;
    }
    Ok((list, trailing))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_fits_file, m)?)?;
    m.add_function(wrap_pyfunction!(gunzip, m)?)?;
    m.add_function(wrap_pyfunction!(scan_fits, m)?)?;
    Ok(())
}
