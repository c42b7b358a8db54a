"""The EDP model of hardware-aware training (paper §IV-A): EDP of a layer as a
piecewise-linear function of its active time-window density.

:func:`fit_edp_model` runs the analytic simulator on one layer over a range of synthetic
input firing rates, for each TWS choice, and fits a piecewise-linear curve of EDP per
sample (pJ·s) against the active-window density ``S_p`` (fraction of the layer's NTWUs
whose activity tag is set, :func:`sim.ntwu.active_window_density`).

JSON format (``spikex-edp-v1``), as written by :func:`fit_network_edp`::

    {"format": "spikex-edp-v1", "units": "pJ*s per sample",
     "layers": [ {"layer": 0, "kind": "conv",
                  "models": {"2": {"breakpoints": [0.0, ...], "values": [...]}, "5": {...}}},
                 ... ]}

``breakpoints`` are increasing densities, the first 0.0; ``values`` the EDP at each.
Between breakpoints the EDP is linearly interpolated; outside them it is held at the end
value (``np.interp``'s rule). In PyTorch, with ``d`` a density tensor::

    i = torch.searchsorted(bp, d.clamp(bp[0], bp[-1]).detach(), right=True).clamp(1, len(bp) - 1)
    f = (d.clamp(bp[0], bp[-1]) - bp[i - 1]) / (bp[i] - bp[i - 1])
    edp = val[i - 1] + f * (val[i] - val[i - 1])
"""

from dataclasses import replace

import numpy as np

from sim.ntwu import active_window_density
from sim.schedule import Hardware


__all__ = ["FORMAT", "fit_edp_model", "fit_network_edp", "edp_piecewise", "DEFAULT_RATES"]


FORMAT = "spikex-edp-v1"

#: Synthetic input firing rates swept by default: 0 and 1e-4 .. 0.2, log-spaced.
DEFAULT_RATES = (0.0,) + tuple(np.geomspace(1e-4, 0.2, 12).round(6))


def edp_piecewise(density, model):
    """EDP at ``density`` (scalar or array) for one ``{"breakpoints", "values"}`` model."""
    return np.interp(density, model["breakpoints"], model["values"])


def _non_decreasing(values):
    """Pool adjacent violators: the closest non-decreasing sequence (equal weights)."""
    blocks = []                                     # [mean, count]
    for v in values:
        blocks.append([float(v), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(n, m) for m, n in blocks])


def _fit(x, y, knots):
    """Values at ``knots`` of the linear interpolant through the points: least squares, then
    made non-decreasing and non-negative, so that a loss built on it never rewards more
    active windows (noise in the synthetic runs can make the raw fit dip)."""
    basis = np.stack([np.interp(x, knots, np.eye(len(knots))[j]) for j in range(len(knots))], axis=1)
    values, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return np.maximum(_non_decreasing(values), 0.0)


def fit_edp_model(layer, tws_choices, rates=DEFAULT_RATES, batch=2, timesteps=60, knots=6,
                  hw=None, seed=0, weights=None, progress=None):
    """Fit EDP against active-window density for ``layer`` at each TWS in ``tws_choices``.

    Every TWS must divide ``timesteps``. ``weights`` default to random int8 (see
    :mod:`sim.figures`); ``hw`` to :class:`~sim.schedule.Hardware` (SpikeX, 8x8).
    Returns ``{"kind", "models": {str(tws): {"breakpoints", "values", "samples"}}}``;
    ``samples`` holds the (density, EDP) points the fit used.
    """
    from sim.analytic import analyze_layer
    from sim.figures import synthetic_layer_input
    hw = Hardware() if hw is None else hw
    progress = progress or (lambda it: it)
    models = {}
    for tws in tws_choices:
        if timesteps % tws:
            raise ValueError(f"tws {tws} does not divide timesteps {timesteps}")
        this = replace(layer, tws=tws)
        points = []
        for i, rate in enumerate(progress(rates)):
            spikes, random_weights = synthetic_layer_input(this, rate, batch, timesteps, seed + i)
            run = analyze_layer(this, spikes, hw, weights=random_weights if weights is None else weights)
            points.append((active_window_density(this, spikes), run["edp"] / batch))
        x, y = np.array(points).T
        order = np.argsort(x)
        x, y = x[order], y[order]
        inner = np.unique(np.quantile(x[x > 0], np.linspace(0, 1, knots - 1))) if (x > 0).any() else []
        breakpoints = np.unique(np.concatenate([[0.0], inner]))
        values = _fit(x, y, breakpoints) if len(breakpoints) > 1 else np.array([y.mean()])
        models[str(tws)] = {"breakpoints": breakpoints.tolist(), "values": values.tolist(),
                            "samples": [x.tolist(), y.tolist()]}
    return {"kind": layer.kind, "models": models}


def fit_network_edp(net, tws_choices, **kwargs):
    """:func:`fit_edp_model` for every layer of ``net``; the ``spikex-edp-v1`` dict (JSON-ready)."""
    layers = []
    for k, (layer, weights) in enumerate(zip(net.layers, net.weights)):
        fitted = fit_edp_model(layer, tws_choices, weights=weights, **kwargs)
        layers.append({"layer": k, **fitted})
    return {"format": FORMAT, "units": "pJ*s per sample", "layers": layers}
