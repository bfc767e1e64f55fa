"""Regenerate docs/residuals.png, the README's figure: `python docs/make_figure.py`."""

from pathlib import Path

import iuvs
from iuvs import plotting

pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=2014)
fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=[-1, 0, 1, 2], hot_threshold=2500)
fig = plotting.residual_histograms(fits, pair.dark_in, pair.dark_out)
fig.set_size_inches(11, 4.2)
fig.savefig(Path(__file__).with_name("residuals.png"), dpi=70)
