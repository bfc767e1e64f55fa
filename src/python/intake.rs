//! Array intake: every supported dtype read in place through a read-only
//! borrow (byte-swapped arrays arrive re-viewed as native with a flag), masks,
//! and the two sides of a batch.

use numpy::{PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::errors::{ShapeMismatchError, UnsupportedDtypeError};
use crate::view::{Frame, PixelArray};

/// A read-only borrow of a numpy array of one supported dtype.
pub(crate) enum Readonly<'py> {
    I16(PyReadonlyArrayDyn<'py, i16>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    U32(PyReadonlyArrayDyn<'py, u32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl Readonly<'_> {
    pub(crate) fn frame(&self, swapped: bool) -> Frame<'_> {
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

pub(crate) fn intake<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Readonly<'py>> {
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
    let dtype = obj
        .cast::<PyUntypedArray>()
        .map_or_else(|_| obj.get_type().to_string(), |a| a.dtype().to_string());
    Err(UnsupportedDtypeError::new_err(
        format!(
            "{name} has dtype {dtype}; supported are int16, uint16, int32, uint32, int64, \
             float32 and float64 in native byte order (re-view big-endian data as native and \
             pass swapped=True)"
        )
        .to_string(),
    ))
}

pub(crate) fn mask_intake<'py>(
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, bool>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => o
            .extract::<PyReadonlyArrayDyn<'py, bool>>()
            .map(Some)
            .map_err(|_| {
                UnsupportedDtypeError::new_err(
                    "mask must be a numpy boolean array (True = excluded)".to_string(),
                )
            }),
    }
}

/// The arrays of one side of a batch: one stacked array, borrowed once and
/// split along its first axis, or a list of arrays, borrowed one by one.
/// (numpy borrows are tracked per view: thousands of views of one stack,
/// borrowed one by one, cost time quadratic in their number.)
pub(crate) enum Batch<'py> {
    Stack(Readonly<'py>, usize),
    List(Vec<Readonly<'py>>),
}

impl Batch<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Batch::Stack(_, n) => *n,
            Batch::List(v) => v.len(),
        }
    }

    /// One frame per pair, `swaps[i]` its byte order.
    pub(crate) fn frames(&self, swaps: &[bool]) -> Vec<Frame<'_>> {
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

pub(crate) fn batch_intake<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Batch<'py>> {
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
        return Err(ShapeMismatchError::new_err(
            format!("{name} must be a stack (n, ...) or a list of arrays").to_string(),
        ));
    };
    Ok(Batch::Stack(r, n))
}

/// Masks of a batch: `None`, a list (entries `None` or boolean arrays) or one
/// boolean stack split along its first axis.
pub(crate) fn batch_masks<'py>(
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
