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


__all__ = ["FORMAT", "fit_edp_model", "fit_network_edp", "edp_piecewise", "rates_for_densities",
           "DEFAULT_DENSITIES"]


FORMAT = "spikex-edp-v1"

#: Active-window densities aimed at by default: the rates are chosen per (layer, TWS) so
#: that the points spread over the whole range (:func:`rates_for_densities`), where one
#: sweep of rates (0 and 1e-4 .. 0.2 before) leaves the wide receptive fields of deep
#: layers with points only near 1.
DEFAULT_DENSITIES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97, 0.995)


def rates_for_densities(layer, tws, densities=DEFAULT_DENSITIES):
    """Bernoulli input rates at which ``layer``'s active-window density is about each of
    ``densities`` at ``tws``: an NTWU sees ``n = tws * fan_in`` input slots (receptive
    field and window), so its density is ``1 - (1 - rate)**n`` (less at padded borders)."""
    slots = tws * layer.fan_in
    return tuple(float(1.0 - (1.0 - d) ** (1.0 / slots)) for d in densities)


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


def fit_edp_model(layer, tws_choices, rates=None, batch=2, timesteps=60, knots=6,
                  hw=None, seed=0, weights=None, progress=None, weight_bits=8, v_bits=16,
                  out_group=16):
    """Fit EDP against active-window density for ``layer`` at each TWS in ``tws_choices``.

    Every TWS must divide ``timesteps``. ``weights`` default to random int8 (see
    :mod:`sim.figures`); ``hw`` to :class:`~sim.schedule.Hardware` (SpikeX, 8x8).
    ``rates`` are the input firing rates swept (default: :func:`rates_for_densities` of
    each TWS). ``weight_bits``, ``v_bits`` and ``out_group`` are passed to
    :func:`sim.analytic.analyze_layer`. Returns ``{"kind", "models": {str(tws): {"breakpoints", "values", "samples"}}}``;
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
        for i, rate in enumerate(progress(rates_for_densities(this, tws) if rates is None else rates)):
            spikes, random_weights = synthetic_layer_input(this, rate, batch, timesteps, seed + i)
            run = analyze_layer(this, spikes, hw, weights=random_weights if weights is None else weights,
                                weight_bits=weight_bits, v_bits=v_bits, out_group=out_group)
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


def fit_network_edp(net, tws_choices, options=None, timesteps=60, progress=None, **kwargs):
    """:func:`fit_edp_model` for every layer of ``net``; the ``spikex-edp-v1`` dict (JSON-ready).

    Each layer runs with its weights, threshold and leak, on the hardware
    :func:`sim.analytic.run_analytic` counts with ``options`` (those of ``spikex run``;
    ``memory`` defaults to ``"rtl"``, the counters the RTL gives) for ``net`` with every
    layer at that TWS and ``timesteps`` steps; ``tws_max`` defaults to the largest choice
    (at least 10, as the RTL elaborates), so that every choice is fitted on one design.
    ``progress(iterable, desc)`` wraps the loop over (TWS, layer).
    """
    from sim.analytic import analytic_hardware
    from sim.image import output_group
    from spikex.netfile import Network
    options = dict(options or {})
    options["memory"] = options.get("memory") or "rtl"
    options["tws_max"] = options.get("tws_max") or max(10, *tws_choices)
    for tws in tws_choices:
        if timesteps % tws:
            raise ValueError(f"tws {tws} does not divide timesteps {timesteps}")
    silence = np.zeros((1, timesteps, *net.layers[0].in_shape), np.uint8)
    models = [{} for _ in net.layers]
    work = [(tws, k) for tws in tws_choices for k in range(len(net.layers))]
    hardware = {}
    for tws, k in (progress or (lambda it, desc=None: it))(work, desc="fit EDP"):
        if tws not in hardware:
            at_tws = Network([replace(layer, tws=tws) for layer in net.layers], net.weights, silence,
                             net.weight_bits, net.v_bits)
            hardware[tws] = analytic_hardware(at_tws, options, f"tws {tws}")
        fitted = fit_edp_model(net.layers[k], [tws], timesteps=timesteps, hw=hardware[tws],
                               weights=net.weights[k], weight_bits=net.weight_bits,
                               v_bits=net.v_bits, out_group=output_group(net, k), **kwargs)
        models[k].update(fitted["models"])
    layers = [{"layer": k, "kind": layer.kind, "models": models[k]}
              for k, layer in enumerate(net.layers)]
    return {"format": FORMAT, "units": "pJ*s per sample", "timesteps": timesteps,
            "hardware": {key: value for key, value in options.items() if value is not None},
            "layers": layers}
