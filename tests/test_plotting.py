"""Figures of iuvs.plotting: rendered with Agg, checked for content, labels and validation."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

import iuvs  # noqa: E402
from iuvs import plotting  # noqa: E402
from iuvs.exceptions import InvalidParameterError  # noqa: E402

SHAPE = (62, 341)


@pytest.fixture(scope="module")
def pair():
    return iuvs.synthetic.make_dark_pair(SHAPE, gain=1.45, curvature=2e-5, seed=1)


@pytest.fixture(scope="module")
def fits(pair):
    return iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=range(-1, 5))


def render(fig):
    """Render to PNG and read it back (rows from the top, RGBA floats)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def assert_drawn(fig, axes=None):
    """The PNG is not blank, and the plot area of each Axes holds more than one colour."""
    image = render(fig)
    assert image.std() > 0
    height = image.shape[0]
    scale = 60 / fig.dpi
    for ax in axes if axes is not None else fig.axes[:1]:
        box = ax.get_window_extent()
        x0, x1 = int(box.x0 * scale) + 2, int(box.x1 * scale) - 2
        y0, y1 = height - int(box.y1 * scale) + 2, height - int(box.y0 * scale) - 2
        area = image[y0:y1, x0:x1, :3].reshape(-1, 3)
        assert area.size, "empty plot area"
        assert len(np.unique(area, axis=0)) > 1, f"blank plot area in {ax.get_title()!r}"


def expected_fractional_mean(fit, dark_in, dark_out):
    """The fractional residual mean from numpy alone (not from fit.stats)."""
    x = dark_in.astype(np.float64)
    y = dark_out.astype(np.float64)
    if fit.rank == -1:
        model = x + fit.coeffs[0]
    elif fit.rank == 0:
        model = fit.coeffs[0] * x
    else:
        model = np.polyval(fit.coeffs, x)
    residual = y - model
    nonzero = y != 0
    return float(np.mean(residual[nonzero] / y[nonzero]))


# ------------------------------------------------------------------------------------------
# import behaviour
# ------------------------------------------------------------------------------------------


def test_import_does_not_import_pyplot():
    code = (
        "import iuvs.plotting, sys; "
        "assert 'matplotlib.pyplot' not in sys.modules; "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_matplotlib_import_works_and_call_says_how_to_install():
    code = """
import sys
sys.modules["matplotlib"] = None  # as if matplotlib were not installed
import numpy as np
import iuvs.plotting
try:
    iuvs.plotting.dark_histograms(np.ones((3, 4)), np.ones((3, 4)))
except ImportError as err:
    assert 'pip install "iuvs[plot]"' in str(err), err
else:
    raise AssertionError("no ImportError")
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_figures_are_not_registered_with_pyplot(pair, fits):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plotting.dark_histograms(pair.dark_in, pair.dark_out)
    plotting.dark_images(pair.dark_in, pair.dark_out, fits[1])
    assert plt.get_fignums() == before


# ------------------------------------------------------------------------------------------
# dark_histograms
# ------------------------------------------------------------------------------------------


def test_dark_histograms(pair):
    fig = plotting.dark_histograms(pair.dark_in, pair.dark_out, factors=(1.4, 1.5, 1.6), bins=50)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("DN", "counts")
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["dark_out", "dark_in × 1.4", "dark_in × 1.5", "dark_in × 1.6"]
    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(steps) == 4
    edges = steps[0].get_data().edges
    assert len(edges) == 51
    assert all(np.array_equal(s.get_data().edges, edges) for s in steps)  # shared bins
    assert all(s.get_data().values.sum() == pair.dark_out.size for s in steps)
    assert edges[0] <= pair.dark_out.min() and edges[-1] >= 1.6 * pair.dark_in.max()
    assert_drawn(fig)


def test_dark_histograms_skip_non_finite_and_masked():
    x = np.arange(12.0).reshape(3, 4) + 1
    y = 2 * x
    y[0, 0] = np.nan
    masked = np.ma.masked_array(x, mask=np.zeros_like(x, dtype=bool))
    masked[1, 1] = np.ma.masked
    fig = plotting.dark_histograms(masked, y, factors=[2.0], bins=5)
    out, scaled = (p.get_data().values.sum() for p in fig.axes[0].patches)
    assert (out, scaled) == (11, 11)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bins": 0}, "bins"),
        ({"bins": 2.5}, "bins"),
        ({"factors": [1.5, float("nan")]}, "finite"),
        ({"factors": ["a"]}, "numbers"),
    ],
)
def test_dark_histograms_bad_parameters(pair, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        plotting.dark_histograms(pair.dark_in, pair.dark_out, **kwargs)


def test_dark_histograms_bad_frames(pair):
    with pytest.raises(InvalidParameterError, match=r"same shape.*\(62, 341\).*\(62, 340\)"):
        plotting.dark_histograms(pair.dark_in, pair.dark_out[:, :-1])
    with pytest.raises(InvalidParameterError, match="dtype bool"):
        plotting.dark_histograms(pair.dark_in > 0, pair.dark_out)
    with pytest.raises(InvalidParameterError, match="empty"):
        plotting.dark_histograms(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(InvalidParameterError, match="no finite value"):
        plotting.dark_histograms(np.full(3, np.nan), np.full(3, np.nan))


# ------------------------------------------------------------------------------------------
# spectral_profiles
# ------------------------------------------------------------------------------------------


def test_spectral_profiles(pair):
    fig = plotting.spectral_profiles(pair.dark_in, pair.dark_out, factors=(1.4, 1.5))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("spectral bin", "mean DN")
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["dark_out", "dark_in", "dark_in × 1.4", "dark_in × 1.5"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["dark_out"].get_ydata(), pair.dark_out.mean(axis=0))
    np.testing.assert_allclose(lines["dark_in × 1.5"].get_ydata(), 1.5 * pair.dark_in.mean(axis=0))
    np.testing.assert_array_equal(lines["dark_in"].get_xdata(), np.arange(SHAPE[1]))
    assert_drawn(fig)


def test_spectral_profiles_wavelengths_and_nan(pair):
    wavelengths = np.linspace(180.0, 340.0, SHAPE[1])
    dark_in = pair.dark_in.astype(np.float64)
    dark_in[:, 0] = np.nan  # a column with no finite value: NaN, no warning
    dark_in[0, 1] = np.nan
    fig = plotting.spectral_profiles(dark_in, pair.dark_out, wavelengths=wavelengths)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "wavelength (nm)"
    line = next(line for line in ax.get_lines() if line.get_label() == "dark_in")
    np.testing.assert_array_equal(line.get_xdata(), wavelengths)
    assert np.isnan(line.get_ydata()[0])
    assert line.get_ydata()[1] == pytest.approx(pair.dark_in[1:, 1].mean())


def test_spectral_profiles_bad_inputs(pair):
    with pytest.raises(InvalidParameterError, match="2-D"):
        plotting.spectral_profiles(pair.dark_in.ravel(), pair.dark_out.ravel())
    with pytest.raises(InvalidParameterError, match="same shape"):
        plotting.spectral_profiles(pair.dark_in, pair.dark_out.T)
    with pytest.raises(InvalidParameterError, match=r"wavelengths.*\(341,\)"):
        plotting.spectral_profiles(pair.dark_in, pair.dark_out, wavelengths=np.arange(340.0))
    with pytest.raises(InvalidParameterError, match="wavelengths"):
        plotting.spectral_profiles(
            pair.dark_in, pair.dark_out, wavelengths=np.ones(SHAPE, dtype=np.float64)
        )


# ------------------------------------------------------------------------------------------
# residual_histograms
# ------------------------------------------------------------------------------------------


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_residual_histograms(pair, fits):
    fig = plotting.residual_histograms(fits, pair.dark_in, pair.dark_out, bins=40)
    n = len(fits)
    axes = fig.axes
    assert len(axes) == 2 * n
    top, bottom = axes[:n], axes[n:]
    for fit, upper, lower in zip(fits, top, bottom, strict=True):
        assert upper.get_xlabel() == "residual (DN)"
        assert lower.get_xlabel() == "fractional residual"
        assert upper.get_yscale() == lower.get_yscale() == "log"
        assert fit.name in upper.get_title()
        expected = expected_fractional_mean(fit, pair.dark_in, pair.dark_out)
        assert f"{expected:.5g}" in lower.get_title()
        shown = float(re.search(r"fractional mean (\S+)", lower.get_title()).group(1))
        assert shown == pytest.approx(expected, rel=1e-4)
        absolute = upper.patches[0].get_data()
        fractional = lower.patches[0].get_data()
        assert len(absolute.edges) == 41
        assert absolute.values.sum() == pair.dark_in.size
        assert fractional.values.sum() == np.count_nonzero(pair.dark_out)
    assert_drawn(fig, axes)


def test_residual_histograms_model_in_title(pair, fits):
    by_rank = {fit.rank: fit for fit in fits}
    fig = plotting.residual_histograms(
        [by_rank[-1], by_rank[0], by_rank[2]], pair.dark_in, pair.dark_out
    )
    titles = [ax.get_title() for ax in fig.axes[:3]]
    a_add, a_mult = by_rank[-1].coeffs[0], by_rank[0].coeffs[0]
    c2, c1, c0 = by_rank[2].coeffs
    assert titles[0] == f"additive:\nx {'+' if a_add >= 0 else '-'} {abs(a_add):.4g}"
    assert titles[1] == f"multiplicative:\n{a_mult:.4g} x"
    assert titles[2].startswith(f"poly2:\n{c2:.4g} x^2 ")
    assert f"{abs(c1):.4g} x " in titles[2] and titles[2].endswith(f"{abs(c0):.4g}")


def test_residual_histograms_excludes_clipped_pixels(pair):
    clipped = iuvs.fit(pair.dark_in, pair.dark_out, rank=1, clip=3.0)
    assert clipped.mask is not None and clipped.mask.any()
    fig = plotting.residual_histograms(clipped, pair.dark_in, pair.dark_out)
    absolute = fig.axes[0].patches[0].get_data()
    assert absolute.values.sum() == pair.dark_in.size - clipped.mask.sum()


def test_residual_histograms_into_given_axes(pair, fits):
    fig = Figure()
    grid = fig.subplots(2, 2)
    assert plotting.residual_histograms(fits[:2], pair.dark_in, pair.dark_out, axes=grid) is fig
    with pytest.raises(InvalidParameterError, match="4 Axes"):
        plotting.residual_histograms(fits[:2], pair.dark_in, pair.dark_out, axes=grid[0])


def test_residual_histograms_bad_inputs(pair, fits):
    with pytest.raises(InvalidParameterError, match="empty"):
        plotting.residual_histograms([], pair.dark_in, pair.dark_out)
    with pytest.raises(InvalidParameterError, match="iuvs.Fit"):
        plotting.residual_histograms([fits[0], "poly1"], pair.dark_in, pair.dark_out)
    with pytest.raises(InvalidParameterError, match="same shape"):
        plotting.residual_histograms(fits, pair.dark_in, pair.dark_out[:-1])
    clipped = iuvs.fit(pair.dark_in, pair.dark_out, rank=1, clip=3.0)
    with pytest.raises(InvalidParameterError, match="mask"):
        plotting.residual_histograms(clipped, pair.dark_in[:-1], pair.dark_out[:-1])


def test_residual_histograms_exclude_hot_pixels(pair):
    """A hot_threshold fit leaves hot pixels out but not in Fit.mask: ``exclude`` drops them."""
    x = pair.dark_in.astype(np.float64)
    y = pair.dark_out.astype(np.float64)
    hot = x > 2500  # numpy's own mask of the pixels the fit left out
    assert 0 < hot.sum() < hot.size // 10
    fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=[0, 2], hot_threshold=2500)
    assert all(f.mask is None for f in fits)
    for exclude in (hot, iuvs.hot_pixels(pair.dark_in, threshold=2500)):
        fig = plotting.residual_histograms(
            fits, pair.dark_in, pair.dark_out, bins=60, exclude=exclude
        )
        for fit, upper, lower in zip(fits, fig.axes[:2], fig.axes[2:], strict=True):
            model = fit.coeffs[0] * x if fit.rank == 0 else np.polyval(fit.coeffs, x)
            residual = (y - model)[~hot]
            counts, edges = np.histogram(residual, bins=60)
            shown = upper.patches[0].get_data()
            np.testing.assert_array_equal(shown.values, counts)
            np.testing.assert_allclose(shown.edges, edges, rtol=1e-9, atol=1e-9)
            assert counts.sum() == fit.stats.n_used
            fractional = lower.patches[0].get_data()
            assert fractional.values.sum() == np.count_nonzero(y[~hot])


def test_residual_histograms_exclude_bad_inputs(pair, fits):
    with pytest.raises(InvalidParameterError, match="boolean"):
        plotting.residual_histograms(
            fits[:1], pair.dark_in, pair.dark_out, exclude=(pair.dark_in > 2500).astype(int)
        )
    with pytest.raises(InvalidParameterError, match=r"exclude has shape \(62, 340\)"):
        plotting.residual_histograms(
            fits[:1], pair.dark_in, pair.dark_out, exclude=np.zeros((62, 340), dtype=bool)
        )


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_residual_histograms_readable_in_the_report(fits, pair):
    """Six fits wrap three per row; every text is >= 9 pt at a width the report shows unscaled."""
    fig = plotting.residual_histograms(fits, pair.dark_in, pair.dark_out)
    n = len(fits)
    assert n == 6 and len(fig.axes) == 12
    assert {ax.get_xlabel() for ax in fig.axes[:n]} == {"residual (DN)"}
    assert {ax.get_xlabel() for ax in fig.axes[n:]} == {"fractional residual"}
    width, height = fig.get_size_inches()
    assert width * 90 <= 1200  # the report embeds it at 90 dpi in a page 1200 px wide
    assert height < width * 1.2
    for ax in fig.axes:
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels()]
        assert min(t.get_fontsize() for t in texts) >= 9
        # a title line no wider than its panel (the poly4 formula is wrapped)
        longest = max(len(line) for line in ax.get_title().splitlines())
        assert longest * 0.6 * ax.title.get_fontsize() / 72 < width / 3
    # columns: fit k is in column k % 3; its absolute panel above its fractional one
    for k in range(n):
        upper, lower = fig.axes[k], fig.axes[n + k]
        assert upper.get_subplotspec().colspan.start == k % 3
        assert upper.get_subplotspec().rowspan.start + 1 == lower.get_subplotspec().rowspan.start
    assert_drawn(fig, fig.axes)


# ------------------------------------------------------------------------------------------
# fractional_over_rank
# ------------------------------------------------------------------------------------------


def test_fractional_over_rank(fits):
    fig = plotting.fractional_over_rank(fits, chosen=2)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("rank", "|fractional residual mean|")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["add", "mult", "1", "2", "3", "4"]
    assert ax.get_yscale() == "log"
    points = next(line for line in ax.get_lines() if line.get_label() == "fits")
    np.testing.assert_array_equal(points.get_xdata(), [f.rank for f in fits])
    np.testing.assert_allclose(points.get_ydata(), [abs(f.stats.frac_mean) for f in fits])
    chosen = [line for line in ax.get_lines() if line.get_label().startswith("chosen")]
    assert len(chosen) == 1
    assert chosen[0].get_label() == "chosen: poly2"
    assert list(chosen[0].get_xdata()) == [2]
    assert chosen[0].get_marker() != points.get_marker()
    assert any(t.get_text() == "chosen" for t in ax.texts)
    assert_drawn(fig)


def test_fractional_over_rank_without_choice_and_with_rank_choice(fits):
    fig = plotting.fractional_over_rank(fits)
    assert not [line for line in fig.axes[0].get_lines() if "chosen" in line.get_label()]
    choice = iuvs.choose_rank(fits, criterion="bic")
    fig = plotting.fractional_over_rank(fits, chosen=choice)
    assert any(
        line.get_label() == f"chosen: {iuvs.model_name(choice.rank)}"
        for line in fig.axes[0].get_lines()
    )


def test_fractional_over_rank_with_undefined_fractional_mean(fits):
    # frac_mean is NaN when every used dark_out pixel is 0: the point is left out, the mark stays
    undefined = dataclasses.replace(
        fits[1], stats=dataclasses.replace(fits[1].stats, frac_mean=math.nan)
    )
    fig = plotting.fractional_over_rank([fits[0], undefined, fits[2]], chosen=0)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert any(t.get_text() == "chosen" for t in ax.texts)
    assert_drawn(fig)


def test_fractional_over_rank_bad_inputs(fits):
    with pytest.raises(InvalidParameterError, match="empty"):
        plotting.fractional_over_rank([])
    with pytest.raises(InvalidParameterError, match=r"chosen rank 7 .*\[-1, 0, 1, 2, 3, 4\]"):
        plotting.fractional_over_rank(fits, chosen=7)
    with pytest.raises(InvalidParameterError, match="integer"):
        plotting.fractional_over_rank(fits, chosen=1.5)


# ------------------------------------------------------------------------------------------
# dark_images
# ------------------------------------------------------------------------------------------


def test_dark_images(pair, fits):
    fit = fits[3]
    fig = plotting.dark_images(pair.dark_in, pair.dark_out, fit)
    panels = fig.axes[:4]
    titles = [ax.get_title() for ax in panels]
    assert titles == ["dark_in", "scaled dark_in (poly2)", "dark_out", "dark_out - scaled dark_in"]
    images = [next(a for a in ax.get_children() if isinstance(a, AxesImage)) for ax in panels]
    clims = [image.get_clim() for image in images]
    assert clims[0] == clims[1] == clims[2]
    both = np.concatenate(
        [pair.dark_in.ravel(), fit.apply(pair.dark_in).ravel(), pair.dark_out.ravel()]
    )
    np.testing.assert_allclose(clims[0], np.percentile(both, [1, 99]))
    low, high = clims[3]
    assert low == -high and high > 0
    assert images[3].get_cmap().name == "gray"
    np.testing.assert_allclose(images[1].get_array(), fit.apply(pair.dark_in))
    np.testing.assert_allclose(
        images[3].get_array(), pair.dark_out - fit.apply(pair.dark_in), atol=1e-9
    )
    assert len(fig.axes) == 8  # four colour bars
    assert_drawn(fig, panels)


def test_dark_images_into_given_axes(pair, fits):
    fig = Figure()
    axes = fig.subplots(2, 2)
    assert plotting.dark_images(pair.dark_in, pair.dark_out, fits[1], axes=axes) is fig
    with pytest.raises(InvalidParameterError, match="4 Axes"):
        plotting.dark_images(pair.dark_in, pair.dark_out, fits[1], axes=axes[0])
    with pytest.raises(InvalidParameterError, match="Axes"):
        plotting.dark_images(pair.dark_in, pair.dark_out, fits[1], axes=[1, 2, 3, 4])


def test_dark_images_bad_inputs(pair, fits):
    with pytest.raises(InvalidParameterError, match="2-D"):
        plotting.dark_images(pair.dark_in.ravel(), pair.dark_out.ravel(), fits[1])
    with pytest.raises(InvalidParameterError, match="same shape"):
        plotting.dark_images(pair.dark_in, pair.dark_out[:, :10], fits[1])
    with pytest.raises(InvalidParameterError, match="iuvs.Fit"):
        plotting.dark_images(pair.dark_in, pair.dark_out, fits)


# ------------------------------------------------------------------------------------------
# scatter
# ------------------------------------------------------------------------------------------


def test_scatter_points_for_a_small_frame(pair, fits):
    fig = plotting.scatter(pair.dark_in, pair.dark_out, fits[1:3])
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("dark_in (DN)", "dark_out (DN)")
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert ax.get_legend_handles_labels()[1] == ["pixels", "multiplicative", "poly1", "1:1"]
    assert len(lines["pixels"].get_xdata()) == pair.dark_in.size
    curve = lines["poly1"]
    np.testing.assert_allclose(curve.get_ydata(), np.polyval(fits[2].coeffs, curve.get_xdata()))
    assert curve.get_xdata().min() == pair.dark_in.min()
    assert curve.get_xdata().max() == pair.dark_in.max()
    np.testing.assert_array_equal(lines["1:1"].get_xdata(), lines["1:1"].get_ydata())
    assert_drawn(fig)


def test_scatter_density_for_a_large_frame():
    big = iuvs.synthetic.make_dark_pair((400, 400), gain=1.45, seed=2)
    fit = iuvs.fit(big.dark_in, big.dark_out, rank=0)
    fig = plotting.scatter(big.dark_in, big.dark_out, fit)
    ax = fig.axes[0]
    assert [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert "pixels" not in [line.get_label() for line in ax.get_lines()]
    assert ax.get_legend_handles_labels()[1] == ["multiplicative", "1:1"]
    assert_drawn(fig)


def test_scatter_axes_follow_the_data_not_a_model(pair):
    x = pair.dark_in.astype(np.float64)
    y = pair.dark_out.astype(np.float64)
    steep = iuvs.fit(x, 3.0 * x, rank=0)  # a model that leaves the data far behind
    for max_points in (50_000, 100):  # points and hexbin density
        fig = plotting.scatter(pair.dark_in, pair.dark_out, [steep], max_points=max_points)
        ax = fig.axes[0]
        margin_y = 0.05 * (y.max() - y.min())
        margin_x = 0.05 * (x.max() - x.min())
        np.testing.assert_allclose(ax.get_ylim(), (y.min() - margin_y, y.max() + margin_y))
        np.testing.assert_allclose(ax.get_xlim(), (x.min() - margin_x, x.max() + margin_x))
        assert steep.apply(np.array([x.max()]))[0] > ax.get_ylim()[1] * 1.5
    flat = plotting.scatter(np.full(5, 7.0), np.full(5, 3.0)).axes[0]
    assert flat.get_xlim() == (6.0, 8.0) and flat.get_ylim() == (2.0, 4.0)


def test_scatter_max_points(pair):
    fig = plotting.scatter(pair.dark_in, pair.dark_out, max_points=100)
    assert [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    with pytest.raises(InvalidParameterError, match="max_points"):
        plotting.scatter(pair.dark_in, pair.dark_out, max_points=0)
    with pytest.raises(InvalidParameterError, match="no finite pixel pair"):
        plotting.scatter(np.full(4, np.nan), np.ones(4))
    with pytest.raises(InvalidParameterError, match="same shape"):
        plotting.scatter(pair.dark_in, pair.dark_out[:3])


# ------------------------------------------------------------------------------------------
# hot_pixel_mask
# ------------------------------------------------------------------------------------------


def test_hot_pixel_mask_from_hot_pixels(pair):
    hot = iuvs.hot_pixels(pair.dark_in, threshold=2500)
    assert hot.n_hot > 0
    fig = plotting.hot_pixel_mask(pair.dark_in, hot)
    ax = fig.axes[0]
    assert ax.get_title() == f"{hot.n_hot} hot pixels (threshold 2500 DN)"
    markers = next(line for line in ax.get_lines() if line.get_label() == "hot")
    rows, columns = np.nonzero(hot.mask)
    np.testing.assert_array_equal(markers.get_xdata(), columns)
    np.testing.assert_array_equal(markers.get_ydata(), rows)
    assert_drawn(fig)


def test_hot_pixel_mask_from_boolean_array(pair):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[[3, 10, 40], [5, 100, 300]] = True
    fig = plotting.hot_pixel_mask(pair.dark_in, mask)
    assert fig.axes[0].get_title() == "3 hot pixels"


def test_hot_pixel_mask_bad_inputs(pair):
    with pytest.raises(InvalidParameterError, match="boolean"):
        plotting.hot_pixel_mask(pair.dark_in, (pair.dark_in > 2500).astype(np.uint8))
    with pytest.raises(InvalidParameterError, match=r"\(62, 340\).*\(62, 341\)"):
        plotting.hot_pixel_mask(pair.dark_in, pair.hot_mask[:, :-1])
    with pytest.raises(InvalidParameterError, match="2-D"):
        plotting.hot_pixel_mask(pair.dark_in.ravel(), pair.hot_mask.ravel())


# ------------------------------------------------------------------------------------------
# drawing into a given ax
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda pair, fits, ax: plotting.dark_histograms(pair.dark_in, pair.dark_out, ax=ax),
        lambda pair, fits, ax: plotting.spectral_profiles(pair.dark_in, pair.dark_out, ax=ax),
        lambda pair, fits, ax: plotting.fractional_over_rank(fits, ax=ax),
        lambda pair, fits, ax: plotting.scatter(pair.dark_in, pair.dark_out, fits, ax=ax),
        lambda pair, fits, ax: plotting.hot_pixel_mask(pair.dark_in, pair.hot_mask, ax=ax),
    ],
    ids=["dark_histograms", "spectral_profiles", "fractional_over_rank", "scatter", "hot"],
)
def test_draws_into_given_ax(pair, fits, draw):
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert draw(pair, fits, ax) is fig
    assert ax.has_data()
    sub = Figure().subfigures(1, 2)[1]  # an Axes in a subfigure: the root figure comes back
    assert draw(pair, fits, sub.add_subplot()) is sub.figure


def test_ax_must_be_an_axes(pair):
    with pytest.raises(InvalidParameterError, match="matplotlib Axes"):
        plotting.dark_histograms(pair.dark_in, pair.dark_out, ax="left")


# ------------------------------------------------------------------------------------------
# survey figures
# ------------------------------------------------------------------------------------------


def survey_table(with_temperature=True):
    pd = pytest.importorskip("pandas")
    rows = []
    for i, channel in enumerate(["MUV", "MUV", "FUV", "MUV", "FUV", "FUV"]):
        for rank in range(-1, 3):
            rows.append(
                {
                    "rank": rank,
                    "model": iuvs.model_name(rank),
                    "channel": channel,
                    "delta_temp": 0.3 * i if with_temperature else math.nan,
                    "delta_time_s": 1800.0 * (i + 1),
                    "c0": 1.40 + 0.01 * i if rank == 0 else 1.0,
                    "std": 20.0 + i,
                    "frac_mean": 1e-3,
                    "chosen": rank == (1 if channel == "MUV" else 2) or (i == 5 and rank == 0),
                    "status": "ok",
                }
            )
    # a failed pair: must be ignored everywhere
    rows.append(
        {
            "rank": 0,
            "model": "multiplicative",
            "channel": "MUV",
            "delta_temp": 50.0,
            "delta_time_s": 1e6,
            "c0": 99.0,
            "std": 1e4,
            "frac_mean": math.nan,
            "chosen": True,
            "status": "error",
        }
    )
    return pd.DataFrame(rows)


def test_survey_drift():
    table = survey_table()
    fig = plotting.survey_drift(table)
    grid = fig.axes[:4]
    assert [ax.get_xlabel() for ax in grid] == [
        "temperature difference (°C)",
        "time difference (h)",
    ] * 2
    assert [ax.get_ylabel() for ax in grid[:2]] == ["multiplicative factor a"] * 2
    assert [ax.get_ylabel() for ax in grid[2:]] == ["residual std (DN)"] * 2
    factor_over_time = {line.get_label(): line for line in grid[1].get_lines()}
    assert set(factor_over_time) == {"MUV", "FUV"}
    np.testing.assert_allclose(factor_over_time["MUV"].get_xdata(), [0.5, 1.0, 2.0])
    np.testing.assert_allclose(factor_over_time["MUV"].get_ydata(), [1.40, 1.41, 1.43])
    std_over_temp = {line.get_label(): line for line in grid[2].get_lines()}
    np.testing.assert_allclose(std_over_temp["FUV"].get_ydata(), [22.0, 24.0, 25.0])
    all_y = np.concatenate([line.get_ydata() for ax in grid for line in ax.get_lines()])
    assert 99.0 not in all_y and 1e4 not in all_y  # the error row is left out
    assert_drawn(fig, grid)


def test_survey_drift_without_temperature():
    fig = plotting.survey_drift(survey_table(with_temperature=False))
    grid = fig.axes[:4]
    for ax in (grid[0], grid[2]):
        assert [t.get_text() for t in ax.texts] == ["no temperature data"]
        assert not ax.get_lines()
    assert grid[1].get_lines() and grid[3].get_lines()
    assert_drawn(fig, [grid[1]])


def test_survey_drift_given_axes_and_bad_tables():
    table = survey_table()
    fig = Figure()
    axes = fig.subplots(2, 2)
    assert plotting.survey_drift(table, axes=axes) is fig
    with pytest.raises(InvalidParameterError, match="delta_temp"):
        plotting.survey_drift(table.drop(columns=["delta_temp"]))
    with pytest.raises(InvalidParameterError, match="DataFrame"):
        plotting.survey_drift({"rank": [0]})


def test_survey_best_rank():
    table = survey_table()
    fig = plotting.survey_best_rank(table)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("chosen rank", "times chosen")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mult", "1", "2"]
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["MUV", "FUV"]
    heights = {
        label: [bar.get_height() for bar in h] for h, label in zip(handles, labels, strict=True)
    }
    # MUV chooses rank 1 three times; FUV rank 2 three times and rank 0 once; the error row
    # (MUV, rank 0, chosen) does not count
    assert heights == {"MUV": [0, 3, 0], "FUV": [1, 0, 3]}
    assert_drawn(fig)


def test_survey_best_rank_nothing_chosen_and_missing_values():
    table = survey_table()
    table["chosen"] = False
    fig = plotting.survey_best_rank(table)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no chosen fits"]
    table["chosen"] = [None] * (len(table) - 1) + [True]  # object column with missing values
    fig = plotting.survey_best_rank(table)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no chosen fits"]
    with pytest.raises(InvalidParameterError, match="chosen"):
        plotting.survey_best_rank(table.drop(columns=["chosen"]))
