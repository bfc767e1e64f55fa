"""iuvs.fit_batch against iuvs.fit_all and numpy, thread counts, errors; the GIL is released."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import make_darks

import iuvs
from iuvs import exceptions as ex


@pytest.fixture(scope="module")
def stacks():
    pairs = [make_darks(shape=(20, 30), seed=s) for s in range(12)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_batch_equals_pair_by_pair(stacks):
    x, y = stacks
    ranks = [-1, 0, 1, 2, 3]
    res = iuvs.fit_batch(x, y, ranks)
    assert res.coeffs.shape == (12, 5, 13) and res.cov.shape == (12, 5, 13, 13)
    for i in range(len(x)):
        for j, f in enumerate(iuvs.fit_all(x[i], y[i], ranks)):
            p = f.coeffs.size
            np.testing.assert_array_equal(res.coeffs[i, j, :p], f.coeffs)
            assert np.isnan(res.coeffs[i, j, p:]).all()
            np.testing.assert_array_equal(res.perr[i, j, :p], f.perr)
            assert res.columns["std"][i, j] == f.stats.std
            assert res.columns["n_used"][i, j] == f.stats.n_used
        fits = res.fits(i)
        assert [g.rank for g in fits] == ranks
        np.testing.assert_allclose(
            fits[3].apply(x[i]),
            np.polyval(np.polyfit(x[i].ravel().astype(float), y[i].ravel().astype(float), 2), x[i]),
            rtol=1e-10,
        )


def test_thread_counts_give_identical_results(stacks):
    x, y = stacks
    big_x = np.concatenate([x] * 30)
    big_y = np.concatenate([y] * 30)
    a = iuvs.fit_batch(big_x, big_y, n_threads=1)
    b = iuvs.fit_batch(big_x, big_y, n_threads=2)
    c = iuvs.fit_batch(big_x, big_y)
    np.testing.assert_array_equal(a.coeffs, b.coeffs)
    np.testing.assert_array_equal(a.coeffs, c.coeffs)
    np.testing.assert_array_equal(a.columns["std"], b.columns["std"])


def test_large_pairs_split_into_parts_give_the_same_bits_on_any_thread_count():
    # 600 x 600 pixels are walked in 8 parts, taken by whichever thread is free:
    # the parts' sums are merged in part order, so the thread count cannot show
    x, y = make_darks(shape=(600, 600), seed=4)
    ranks = [-1, 0, 1, 2, 4]
    want = iuvs.fit_all(x, y, ranks)
    for n in (1, 2, 3):
        res = iuvs.fit_batch(x[None], y[None], ranks, n_threads=n)
        for j, f in enumerate(want):
            np.testing.assert_array_equal(res.coeffs[0, j, : f.coeffs.size], f.coeffs)
            assert res.columns["std"][0, j] == f.stats.std
            assert res.columns["frac_mean"][0, j] == f.stats.frac_mean
    # and the fit is numpy's
    np.testing.assert_allclose(
        want[3].coeffs,
        np.polyfit(x.ravel().astype(float), y.ravel().astype(float), 2),
        rtol=1e-9,
    )


def test_iuvs_sized_pairs_give_the_same_bits_alone_in_threads_and_in_a_batch():
    # a 62 x 341 pair is walked in two parts: in a lone call the calling thread and
    # a thread of iuvs's pool share them, in a batch one pool thread takes both, and
    # callers in several Python threads at once share the pool; the parts' sums are
    # merged in part order every time
    pairs = [make_darks(shape=(62, 341), seed=s) for s in range(6)]
    ranks = [-1, 0, 1, 2, 3, 4]
    alone = [iuvs.fit_all(x, y, ranks) for x, y in pairs]
    batch = iuvs.fit_batch([x for x, _ in pairs], [y for _, y in pairs], ranks)
    results: dict[int, list[list[iuvs.Fit]]] = {}

    def worker(k: int) -> None:
        results[k] = [iuvs.fit_all(x, y, ranks) for _ in range(20) for x, y in pairs[k : k + 1]]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, fits in enumerate(alone):
        for j, f in enumerate(fits):
            p = f.coeffs.size
            np.testing.assert_array_equal(batch.coeffs[i, j, :p], f.coeffs)
            assert batch.columns["std"][i, j] == f.stats.std
            assert batch.columns["max"][i, j] == f.stats.max
            for again in results[i]:
                np.testing.assert_array_equal(again[j].coeffs, f.coeffs)
                assert again[j].stats == f.stats
        # and numpy's
        x, y = (a.ravel().astype(float) for a in pairs[i])
        np.testing.assert_allclose(fits[4].coeffs, np.polyfit(x, y, 3), rtol=1e-8)


def test_sequences_of_different_shapes_layouts_and_byte_orders():
    x1, y1 = make_darks(shape=(10, 40), seed=1)
    x2, y2 = make_darks(shape=(33, 7), seed=2)
    xs = [x1.astype(">i4"), np.asfortranarray(x2)]
    ys = [y1, y2.astype(">f8")]
    res = iuvs.fit_batch(xs, ys, ranks=[1])
    for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
        p = np.polyfit(np.asarray(a, float).ravel(), np.asarray(b, float).ravel(), 1)
        np.testing.assert_allclose(res.coeffs[i, 0, :2], p, rtol=1e-9)


def test_masks_shared_and_per_pair(stacks):
    x, y = stacks
    shared = np.zeros(x.shape[1:], dtype=bool)
    shared[:5] = True
    res = iuvs.fit_batch(x, y, ranks=[1], mask=shared, hot_threshold=2500)
    for i in range(len(x)):
        keep = ~shared & ~(x[i] > 2500)
        p = np.polyfit(x[i][keep].astype(float), y[i][keep].astype(float), 1)
        np.testing.assert_allclose(res.coeffs[i, 0, :2], p, rtol=1e-9)
        assert res.columns["n_used"][i, 0] == keep.sum()
    per_pair = [None, shared] + [None] * (len(x) - 2)
    res = iuvs.fit_batch(x, y, ranks=[0], mask=per_pair)
    assert res.columns["n_used"][0, 0] == x[0].size
    assert res.columns["n_masked"][1, 0] == shared.sum()


def test_stacks_equal_lists_of_their_frames(stacks):
    # a stack is handed to the core whole and split there; a list frame by frame
    x, y = stacks
    masks = np.random.default_rng(3).random(x.shape) < 0.05
    views = [
        (x, y),
        (x[:, ::2, 1:], y[:, ::2, 1:]),  # strided
        (x[::-1], y[::-1]),  # negative stride along the stack
        (x.astype(">i4"), y.astype(">f8")),  # big-endian
        (np.asfortranarray(x), y),
    ]
    for a, b in views:
        stacked = iuvs.fit_batch(a, b, ranks=[0, 2])
        listed = iuvs.fit_batch(list(a), list(b), ranks=[0, 2])
        np.testing.assert_array_equal(stacked.coeffs, listed.coeffs)
        np.testing.assert_array_equal(stacked.columns["std"], listed.columns["std"])
        for i in (0, len(a) - 1):
            p = np.polyfit(np.asarray(a[i], float).ravel(), np.asarray(b[i], float).ravel(), 2)
            np.testing.assert_allclose(stacked.coeffs[i, 1, :3], p, rtol=1e-9)
    # per-pair masks as one stack or as a list
    stacked = iuvs.fit_batch(x, y, ranks=[1], mask=masks)
    listed = iuvs.fit_batch(x, y, ranks=[1], mask=list(masks))
    np.testing.assert_array_equal(stacked.coeffs, listed.coeffs)
    for i in (0, 7):
        keep = ~masks[i]
        p = np.polyfit(x[i][keep].astype(float), y[i][keep].astype(float), 1)
        np.testing.assert_allclose(stacked.coeffs[i, 0, :2], p, rtol=1e-9)
        assert stacked.columns["n_masked"][i, 0] == masks[i].sum()


def test_masked_stacks_and_lists_leave_masked_values_out(stacks):
    x, y = stacks
    mx = np.ma.masked_greater(x, 1500)
    shared = np.zeros(x.shape[1:], dtype=bool)
    shared[:2] = True
    for mask in (None, shared, np.stack([shared] * len(x)), [shared] * len(x)):
        for a, b in ((mx, y), (list(mx), list(y))):
            res = iuvs.fit_batch(a, b, ranks=[1], mask=mask)
            for i in (0, 5, 11):
                keep = ~np.ma.getmaskarray(mx[i])
                if mask is not None:
                    keep &= ~shared
                p = np.polyfit(x[i][keep].astype(float), y[i][keep].astype(float), 1)
                np.testing.assert_allclose(res.coeffs[i, 0, :2], p, rtol=1e-9)
                assert res.columns["n_used"][i, 0] == keep.sum()


def test_errors_raise_or_are_kept_per_pair(stacks):
    x, y = stacks
    xs = list(x)
    xs[3] = np.full_like(xs[3], 7)  # constant: degenerate for polynomials
    with pytest.raises(ex.DegenerateFitError, match="pair 3"):
        iuvs.fit_batch(xs, list(y), ranks=[1])
    res = iuvs.fit_batch(xs, list(y), ranks=[1], on_error="keep")
    assert isinstance(res.errors[3], ex.DegenerateFitError)
    assert np.isnan(res.coeffs[3]).all() and res.columns["n_used"][3, 0] == -1
    assert res.errors[2] is None and not np.isnan(res.coeffs[2, 0, 0])
    with pytest.raises(ex.DegenerateFitError):
        res.fits(3)
    with pytest.raises(IndexError):
        res.fits(99)


def test_bad_batch_inputs(stacks):
    x, y = stacks
    with pytest.raises(ex.ShapeMismatchError):
        iuvs.fit_batch(x, y[:5])
    with pytest.raises(ex.EmptyInputError):
        iuvs.fit_batch([], [])
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit_batch(x, y, n_threads=0)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit_batch(x, y, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ex.UnsupportedDtypeError, match=r"darks_in has dtype complex128"):
        iuvs.fit_batch(x.astype(complex), y)
    with pytest.raises(ex.UnsupportedDtypeError, match=r"darks_in\[0\]"):
        iuvs.fit_batch(list(x.astype(complex)), list(y))
    with pytest.raises(ex.ShapeMismatchError, match="12 pairs but 11 masks"):
        iuvs.fit_batch(x, y, mask=np.zeros((11, *x.shape[1:]), dtype=bool))
    with pytest.raises(ex.UnsupportedDtypeError, match="boolean"):
        iuvs.fit_batch(x, y, mask=np.zeros(x.shape, dtype=np.uint8))
    with pytest.raises(ex.EmptyInputError):
        iuvs.fit_batch(x[:0], y[:0])
    for scalar in (np.float64(3.0), 3, np.array(3.0)):
        with pytest.raises(ex.ShapeMismatchError, match="stack"):
            iuvs.fit_batch(scalar, y)
    with pytest.raises(ex.RankError):
        iuvs.fit_batch(x, y, ranks=[13])


def test_gil_is_released_during_fits():
    x, y = make_darks(shape=(1500, 1500), seed=0)
    counter = [0]
    running = threading.Event()
    stop = threading.Event()

    def spin():
        running.set()
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    running.wait()
    before = counter[0]
    iuvs.fit_all(x, y, range(-1, 5))
    during = counter[0] - before
    stop.set()
    t.join()
    # with the GIL held for the whole call the other thread could not count at all
    assert during > 1000


def test_no_degree_of_freedom_warns_as_fit_does():
    """N == p: fit_batch warns CovarianceWarning (once, at the caller) as fit does; cov is inf."""
    x = [np.array([1.0, 2.0]), np.arange(1.0, 6.0)]
    y = [np.array([3.0, 1.0]), np.array([3.0, 1.0, 7.0, 2.0, 0.5])]
    with pytest.warns(ex.CovarianceWarning, match="2 pixels for 2 parameters") as record:
        f = iuvs.fit(x[0], y[0], 1)
    with pytest.warns(ex.CovarianceWarning, match=r"pair 0 \(poly1\) uses 2 pixels for 2") as rec:
        res = iuvs.fit_batch(x, y, ranks=[0, 1])
    assert len(rec) == 1 and rec[0].filename == record[0].filename == __file__
    assert "1 of the batch's fits" in str(rec[0].message)
    # the exact line through two points (numpy), and an infinite covariance, as fit gives
    np.testing.assert_allclose(res.coeffs[0, 1, :2], np.polyfit(x[0], y[0], 1), rtol=1e-12)
    np.testing.assert_array_equal(res.cov[0, 1, :2, :2], f.cov)
    assert np.isinf(res.cov[0, 1, :2, :2]).all() and np.isinf(res.perr[0, 1, :2]).all()
    # every other fit has a degree of freedom left: finite, and no warning (filterwarnings=error)
    assert np.isfinite(res.cov[1, :, 0, 0]).all() and np.isfinite(res.cov[0, 0, 0, 0])
    quiet = iuvs.fit_batch(x[1:], y[1:], ranks=[0, 1, 2, 3])
    assert np.isfinite(quiet.cov[0, 3, :4, :4]).all()
    # a whole stack of exact fits: one warning naming the count and the first pairs
    xs = np.tile(np.array([[1.0, 2.0, 4.0]]), (7, 1, 1))
    ys = xs**2 + 1.0
    with pytest.warns(ex.CovarianceWarning, match="7 of the batch's fits.*; and 2 more") as rec:
        iuvs.fit_batch(xs, ys, ranks=[2])
    assert len(rec) == 1
