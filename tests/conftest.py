"""Shared fixtures: realistic dark pairs and every dtype x byte order x layout."""

from __future__ import annotations

import numpy as np
import pytest

DTYPES = ["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]


def make_darks(shape=(62, 341), seed=0, gain=1.45, offset=10.0, curvature=2e-5, noise=20.0):
    """Dark pair like the v00 cruisecal2 darks: lognormal background, hot pixels, a gain."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.lognormal(np.log(350.0), 0.6, shape), 60, None)
    hot = rng.random(shape) < 0.003
    x[hot] = rng.uniform(2500, 5000, int(hot.sum()))
    x = np.round(x)
    y = np.round(curvature * x**2 + gain * x + offset + rng.normal(0.0, noise, shape))
    return x.astype(np.int32), y.astype(np.int32)


@pytest.fixture(scope="session")
def darks():
    return make_darks()


def layouts(a):
    """The same logical array in several memory layouts and byte orders, without changing values."""
    out = {
        "C": np.ascontiguousarray(a),
        "F": np.asfortranarray(a),
        "big-endian": a.astype(a.dtype.newbyteorder(">")),
        "big-endian-F": np.asfortranarray(a.astype(a.dtype.newbyteorder(">"))),
    }
    # a strided view holding the same values: embed in a bigger array, take every other column
    big = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
    big[:, ::2] = a
    out["strided"] = big[:, ::2]
    # a negatively strided view holding the same values
    rev = np.ascontiguousarray(a[:, ::-1])
    out["negative-stride"] = rev[:, ::-1]
    ro = np.array(a)
    ro.setflags(write=False)
    out["read-only"] = ro
    return out
