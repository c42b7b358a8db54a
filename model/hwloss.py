"""The hardware loss of SpikeX-HT (paper §IV-A, eq. 4): ``L_tot = L_acc + beta * L_HW``.

``L_HW`` is the EDP of every layer predicted from the density of its *active* neuro-temporal
work units (SPEC §3: ``NTWU(n, w)`` is active iff some input in ``n``'s receptive field
spikes during window ``w``), through a piecewise-linear EDP model per (layer, TWS)::

    d_k(tws)  = mean over (sample, window, neuron) of tag_k(n, w)
    L_HW      = 100 * sum_k sum_tws p_k(tws) * EDP_k,tws(d_k(tws)) / Z
    Z         = sum_k max_tws EDP_k,tws(1)

so L_HW is in percent of the EDP of a fully active network (100 when every NTWU is
active); in these units the paper's range of beta, 5e-5 to 1e-1, spans from no effect
to a loss of accuracy.

``p_k`` is a one-hot on the layer's TWS for SpikeX-HT, or ``softmax(alpha_k)`` for
SpikeX-HAS (:mod:`model.has`).

Differentiable tag. With ``n`` the number of input spikes in the receptive field of ``n``
during ``w`` (the spikes come from the previous layer's surrogate Heaviside)::

    tag = 1[n > 0]  +  log(1 + n) - stop_gradient(log(1 + n))

so the forward value is the exact tag of :func:`sim.ntwu.ntwu_tags` and the gradient is
``1 / (1 + n)`` per spike: strongest where one spike keeps a window alive, weaker where
many do, but not vanishing (``exp(-n)``, the gradient of a soft OR, is ~0 for the dense
windows of deeper layers, which only many spikes removed together can free). Through
the surrogate it also reaches neurons just below threshold in empty windows.

The EDP model is ``sim/edp_fit.py``'s ``spikex-edp-v1`` JSON: one
``{"breakpoints": [...], "values": [...]}`` per (layer, TWS), in
``{"layers": [{"layer": k, "models": {"<tws>": {...}}}, ...]}``; a bare list of per-layer
``{"<tws>": {...}}`` objects or ``{"<layer>": {"<tws>": {...}}}`` is read too. As in
``sim.edp_fit.edp_piecewise`` (``np.interp``), the EDP is linear between breakpoints and
held at the end values outside them (so its gradient is zero there).
:func:`analytic_edp_model` builds a stand-in of the same form from layer sizes alone.
"""

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from spikex.netfile import SpikexError


__all__ = ["divisor_tws", "EdpModel", "analytic_edp_model", "window_spike_counts", "ntwu_activity",
           "active_window_densities", "HardwareLoss"]


def divisor_tws(T, max_tws=15):
    """TWS choices for ``T`` steps: the divisors of T up to ``max_tws`` ({1,2,3,5,6,10,15} for 30)."""
    return [d for d in range(1, min(T, max_tws) + 1) if T % d == 0]


class EdpModel:
    """Piecewise-linear EDP versus active-TW density, one curve per (layer, TWS).

    ``curves[(k, tws)] = (breakpoints, values)``, breakpoints strictly increasing.
    """

    def __init__(self, curves, source="<edp model>"):
        self.curves = {}
        for (k, tws), (breakpoints, values) in curves.items():
            where = f"{source}: layer {k} tws {tws}"
            breakpoints = [float(b) for b in breakpoints]
            values = [float(v) for v in values]
            if not all(math.isfinite(x) for x in breakpoints + values):
                raise SpikexError(f"{where}: breakpoints and values must be finite numbers, "
                                  f"not {breakpoints} and {values}")
            if not breakpoints or len(breakpoints) != len(values):
                raise SpikexError(f"{where}: needs at least 1 breakpoint and as many values, "
                                  f"got {len(breakpoints)} and {len(values)}")
            if any(b1 <= b0 for b0, b1 in zip(breakpoints, breakpoints[1:])):
                raise SpikexError(f"{where}: breakpoints must be strictly increasing, "
                                  f"not {breakpoints}")
            self.curves[(int(k), int(tws))] = (torch.tensor(breakpoints, dtype=torch.float64),
                                               torch.tensor(values, dtype=torch.float64))
        self.source = source

    @classmethod
    def from_json(cls, obj, source="<edp model>"):
        """Build from one of the JSON layouts of the module docstring."""
        per_layer = obj.get("layers", obj) if isinstance(obj, dict) else obj
        if isinstance(per_layer, dict):
            per_layer = [per_layer[key] for key in sorted(per_layer, key=int)]
        curves = {}
        for k, by_tws in enumerate(per_layer):
            by_tws = by_tws.get("models", by_tws)
            for tws, curve in by_tws.items():
                if not str(tws).isdigit():
                    continue
                if not isinstance(curve, dict) or not {"breakpoints", "values"} <= set(curve):
                    raise SpikexError(f"{source}: layer {k} tws {tws}: expected an object with "
                                      f"'breakpoints' and 'values'")
                curves[(k, int(tws))] = (curve["breakpoints"], curve["values"])
        return cls(curves, source)

    @classmethod
    def load(cls, path):
        try:
            obj = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SpikexError(f"{path}: no such EDP model file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SpikexError(f"{path}: not valid JSON ({error})") from None
        try:
            return cls.from_json(obj, str(path))
        except (AttributeError, TypeError, ValueError, KeyError) as error:
            raise SpikexError(f"{path}: not an EDP model in the layout of sim/edp_fit.py "
                              f"({type(error).__name__}: {error})") from None

    def to_json(self):
        layers = sorted({k for k, _ in self.curves})
        return {"layers": [{str(tws): {"breakpoints": b.tolist(), "values": v.tolist()}
                            for (k2, tws), (b, v) in sorted(self.curves.items()) if k2 == k}
                           for k in layers]}

    def tws_choices(self, k):
        return sorted(tws for k2, tws in self.curves if k2 == k)

    def __call__(self, k, tws, density):
        """EDP of layer ``k`` at ``tws`` for a density tensor (differentiable)."""
        if (k, tws) not in self.curves:
            raise SpikexError(f"{self.source}: no EDP curve for layer {k} at tws {tws}; "
                              f"it has tws {self.tws_choices(k)}")
        breakpoints, values = (t.to(density.dtype) for t in self.curves[(k, tws)])
        if len(breakpoints) == 1:
            return values[0] + 0 * density
        d = density.clamp(breakpoints[0], breakpoints[-1])
        i = torch.searchsorted(breakpoints, d.detach().reshape(1), right=True)
        i = i.clamp(1, len(breakpoints) - 1)[0]
        slope = (values[i] - values[i - 1]) / (breakpoints[i] - breakpoints[i - 1])
        return values[i - 1] + slope * (d - breakpoints[i - 1])


# A stand-in cost model, relative units: fetching a weight costs more than one accumulate;
# every NTWU costs a tag check; 64 PEs work in parallel.
_WEIGHT_FETCH, _ACCUMULATE, _TAG_CHECK, _PES = 4.0, 1.0, 1.0, 64


def analytic_edp_model(layers, T, tws_choices, points=11):
    """A stand-in EDP model from layer sizes only (used when no fitted model is given).

    Per layer with ``N`` output neurons, fan-in ``F`` and ``W = T / tws`` windows, an active
    NTWU fetches its ``F`` weights once and accumulates over ``tws`` steps::

        energy = d N W F (4 + tws)          cycles = (d N W F tws + N W) / 64

    and EDP = energy * cycles is sampled at ``points`` densities in [0, 1].
    """
    curves = {}
    for k, layer in enumerate(layers):
        neurons, fan_in = math.prod(layer.out_shape), layer.fan_in
        for tws in tws_choices:
            windows = T // tws
            densities = [i / (points - 1) for i in range(points)]
            edp = [(d * neurons * windows * fan_in * (_WEIGHT_FETCH + tws * _ACCUMULATE))
                   * (d * neurons * windows * fan_in * tws + neurons * windows * _TAG_CHECK) / _PES
                   for d in densities]
            curves[(k, tws)] = (densities, edp)
    return EdpModel(curves, "<analytic EDP model>")


def window_spike_counts(layer, spikes):
    """Input spikes in each output neuron's receptive field per step: ``[T, B, *field]``.

    ``spikes`` are the layer's input ``[T, B, *in_shape]``; ``field`` is ``[R, R']`` for conv
    (every output channel shares it) and ``[]`` for fc.
    """
    steps, batch = spikes.shape[:2]
    if layer.kind == "fc":
        return spikes.reshape(steps, batch, -1).sum(dim=2)
    per_pixel = spikes.reshape(steps * batch, *layer.in_shape).sum(dim=1, keepdim=True)
    box = torch.ones(1, 1, layer.kernel, layer.kernel, dtype=per_pixel.dtype)
    counts = F.conv2d(per_pixel, box, stride=layer.stride, padding=layer.padding)
    return counts.reshape(steps, batch, *layer.out_size)


def ntwu_activity(counts, tws):
    """Differentiable NTWU tags ``[W, B, *field]`` from per-step counts ``[T, B, *field]``."""
    steps = counts.shape[0]
    n = counts.reshape(steps // tws, tws, *counts.shape[1:]).sum(dim=1)
    smooth = torch.log1p(n)
    return (n.detach() > 0).to(n.dtype) + smooth - smooth.detach()


def active_window_densities(layer, spikes, tws_list):
    """Active-NTWU density of ``layer`` for its input ``spikes`` at each TWS: tensor ``[len]``."""
    counts = window_spike_counts(layer, spikes.to(torch.get_default_dtype()))
    return torch.stack([ntwu_activity(counts, tws).mean() for tws in tws_list])


class HardwareLoss:
    """``L_HW`` of the module docstring for a network's layers and an EDP model.

    ``tws_choices[k]`` lists the TWS of layer ``k`` the loss weighs; calling it with every
    layer's input spikes and a weight vector per layer over those choices returns
    ``(L_HW, densities)``, densities a list of tensors ``[len(tws_choices[k])]``.
    """

    def __init__(self, layers, edp_model, tws_choices):
        self.layers, self.edp, self.tws_choices = layers, edp_model, tws_choices
        full = sum(max(float(edp_model(k, tws, torch.tensor(1.0, dtype=torch.float64)))
                       for tws in choices)
                   for k, choices in enumerate(tws_choices))
        if not full > 0:
            raise SpikexError(f"{edp_model.source}: EDP at density 1 sums to {full}; "
                              "expected a positive total")
        self.scale = 100.0 / full

    def __call__(self, layer_inputs, tws_weights):
        loss, densities = 0.0, []
        for k, (layer, spikes, choices, weights) in enumerate(
                zip(self.layers, layer_inputs, self.tws_choices, tws_weights)):
            d = active_window_densities(layer, spikes, choices)
            edp = torch.stack([self.edp(k, tws, d[i]) for i, tws in enumerate(choices)])
            loss = loss + (weights.to(edp.dtype) * edp).sum()
            densities.append(d)
        return loss * self.scale, densities
