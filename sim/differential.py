"""Differential testing of the backends on random networks (SPEC §1-3).

Every backend must give the golden model's spikes, bit for bit, for every layer. This
module draws random valid networks that reach the corners of SPEC §1 (saturation of a
narrow membrane, a threshold of 1 or of the largest membrane value, a current that lands
exactly on the threshold, every leak, every ``tws`` that divides T, T up to 300, input rates
from 0.01 % to 30 %, conv and fc layers with strides and padding, batches), runs them on
the backends named and reports each disagreement:

- ``golden``: :func:`sim.golden.run_network`, the reference;
- ``torch-int``: :func:`model.compile.run_integer`, the PyTorch integer network;
- ``analytic``: :func:`sim.analytic.run_analytic`, whose spikes must be golden's and whose
  counters must agree with SPEC §3 counted directly: ``active_ntwus`` with the NTWU tags of
  :func:`sim.ntwu.ntwu_tags`, ``acc_ops`` with the synaptic events (input spikes times the
  outputs they feed), and the totals with the sums of the layers;
- any other name through :func:`spikex.backends.run_backend` (the RTL backends), with the
  same checks of spikes and, where it returns them, of counters.

A backend that refuses a network with a :class:`~spikex.netfile.SpikexError` (a network
that does not fit its buffers, say) is counted as *refused*, not as a disagreement.
``bench/bench_differential.py`` is the command line; ``tests/test_differential.py`` runs a
few hundred small networks in CI.

``tb/networks.py`` has a random-network generator for the RTL tests; it does not fit here:
it always builds a conv chain then one fc layer, with stride at most 2, padding at most 1,
T at most 12, 8-bit weights and no threshold or saturation corners.
"""

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError, check_fan_in, save


__all__ = ["BUILTIN_BACKENDS", "random_network", "run_options", "backend_run", "compare",
           "Finding", "Campaign", "campaign"]

BUILTIN_BACKENDS = ("golden", "torch-int", "analytic")

# T of a random network, most of them short so that a campaign covers many networks.
_TIMESTEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 20, 24, 30, 32, 60, 64, 100, 120, 150, 300)
_SHORT = 16         # T at most this, but for one network in _LONG_EVERY
_LONG_EVERY = 8


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def _weights(rng, shape, weight_bits, style):
    low, high = -2 ** (weight_bits - 1), 2 ** (weight_bits - 1) - 1
    if style == "extreme":              # only the two ends: saturation in a few steps
        return rng.choice([low, high], size=shape, p=[0.3, 0.7])
    if style == "sparse":
        return np.where(rng.random(shape) < 0.2, rng.integers(low, high + 1, size=shape), 0)
    if style == "positive":             # biased up so that deep layers still fire
        return rng.integers(low // 4, high + 1, size=shape)
    return rng.integers(low, high + 1, size=shape)


def _threshold(rng, weights, v_bits):
    """1, the largest membrane value, one weight exactly (a single spike lands on it), a few
    weights, or anything in range."""
    v_max = 2 ** (v_bits - 1) - 1
    positive = weights[weights > 0]
    weight = int(rng.choice(positive)) if positive.size else 1
    corners = [1, v_max, weight, weight * int(rng.integers(2, 7)), int(rng.integers(1, v_max + 1))]
    return min(v_max, corners[int(rng.integers(len(corners)))])


def random_network(rng, *, max_timesteps=300, timesteps=_TIMESTEPS, max_layers=4, max_size=12,
                   max_channels=4, max_features=48, max_batch=3):
    """A random valid network of conv and fc layers and its input; every choice from ``rng``.

    T is one of ``timesteps`` up to ``max_timesteps``: one network in eight draws from all
    of them, the others from those of at most 16 steps (if any). Weights of 2 to 16 bits,
    membranes of 4 to 48 (narrow ones saturate); the input rate is log-uniform from 0.01 %
    to 30 %. Each layer draws its own ``tws`` among the divisors of T, its leak in
    0..v_bits-1, its threshold among the corners of :func:`_threshold`, and weights from
    one of four styles (uniform, biased positive, sparse, only the extremes).
    """
    choices = [t for t in timesteps if t <= max_timesteps]
    short = [t for t in choices if t <= _SHORT]
    steps = int(rng.choice(short if short and rng.integers(_LONG_EVERY) else choices))
    weight_bits = int(rng.choice([2, 3, 4, 8, 8, 8, 8, 12, 16]))
    v_bits = int(rng.choice([4, 6, 8, 12, 16, 16, 16, 24, 32, 48]))
    if rng.integers(3):
        shape = (int(rng.integers(1, max_channels + 1)), int(rng.integers(1, max_size + 1)),
                 int(rng.integers(1, max_size + 1)))
    else:
        shape = (int(rng.integers(1, max_features + 1)),)
    layers, weights = [], []
    for _ in range(int(rng.integers(1, max_layers + 1))):
        common = dict(leak_shift=int(rng.integers(0, v_bits)), tws=int(rng.choice(_divisors(steps))))
        if len(shape) == 3 and rng.integers(3):
            layer = ConvLayer(**_conv(rng, shape, max_channels), threshold=1, **common)
        else:
            layer = FcLayer(in_features=math.prod(shape),
                            out_features=int(rng.integers(1, max_features + 1)), threshold=1,
                            **common)
        w = _weights(rng, layer.weight_shape, weight_bits,
                     rng.choice(["uniform", "positive", "positive", "sparse", "extreme"]))
        layers.append(replace(layer, threshold=_threshold(rng, w, v_bits)))
        weights.append(w)
        shape = layer.out_shape
    rate = float(10 ** rng.uniform(-4, math.log10(0.3)))
    batch = int(rng.integers(1, max_batch + 1))
    spikes = (rng.random((batch, steps, *layers[0].in_shape)) < rate).astype(np.uint8)
    return Network(layers, weights, spikes, weight_bits=weight_bits, v_bits=v_bits)


def _conv(rng, shape, max_channels):
    """Geometry of a conv layer on input ``shape`` [C, H, W] whose output is not empty."""
    channels, height, width = shape
    padding = int(rng.integers(0, 3))
    kernel = int(rng.integers(1, min(5, height + 2 * padding, width + 2 * padding) + 1))
    return dict(in_channels=channels, in_size=(height, width),
                out_channels=int(rng.integers(1, max_channels + 1)), kernel=kernel,
                stride=int(rng.integers(1, 5)), padding=padding)


def run_options(**hardware):
    """The backends' options for ``spikex run`` with these hardware arguments (``rows=4``...),
    the command's defaults for the rest."""
    from spikex.cli import build_parser, hardware_options
    argv = ["run", "net.npz", "-o", "result.npz"]
    for key, value in hardware.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return hardware_options(build_parser().parse_args(argv))


def backend_run(name, net, options, source="<network>"):
    """``(outputs, counters)`` of backend ``name``; ``golden`` and ``torch-int`` give no counters."""
    if name == "golden":
        from sim.golden import run_network
        return run_network(net, options.get("acc_bits", 24), source), None
    if name == "torch-int":
        from model.compile import run_integer
        check_fan_in(net, options.get("acc_bits", 24), source)
        return run_integer(net), None
    from spikex.backends import run_backend
    return run_backend(name, net, options, source)


@dataclass
class Finding:
    """What a backend did on one network: ``status`` is ``agree``, ``differ``, ``refused``
    or ``crashed``; ``detail`` says where it differs, or the error."""
    backend: str
    status: str
    detail: str = ""


def _first_difference(outputs, reference):
    if len(outputs) != len(reference):
        return f"{len(outputs)} layers of output, golden has {len(reference)}"
    for k, (got, want) in enumerate(zip(outputs, reference)):
        got = np.asarray(got)
        if got.shape != want.shape:
            return f"layer {k}: spikes of shape {list(got.shape)}, golden {list(want.shape)}"
        if not np.array_equal(got, want):
            where = [int(i) for i in np.argwhere(got != want)[0]]
            return (f"layer {k}: {int((got != want).sum())} spikes differ from golden, first at "
                    f"[sample, t, ...] = {where}")
    return None


def _counter_difference(net, reference, counters):
    """Counters against SPEC §3 counted directly; None when they agree."""
    from sim.golden import synaptic_current
    from sim.ntwu import ntwu_tags
    layers = counters.get("layers", [])
    if len(layers) != len(net.layers):
        return f"counters for {len(layers)} layers, the network has {len(net.layers)}"
    inputs = [net.input] + list(reference[:-1])
    for k, (layer, counted) in enumerate(zip(net.layers, layers)):
        spikes = inputs[k].reshape(*inputs[k].shape[:2], *layer.in_shape)
        expected = {
            "active_ntwus": int(ntwu_tags(layer, spikes).sum()),
            "acc_ops": int(synaptic_current(layer, np.ones(layer.weight_shape, np.int64),
                                            spikes).sum()),
        }
        for key, value in expected.items():
            if key in counted and int(counted[key]) != value:
                return f"layer {k}: {key} {counted[key]}, SPEC §3 counts {value}"
    if "cycles" in counters and counters["cycles"] != sum(layer["cycles"] for layer in layers):
        return f"cycles {counters['cycles']} is not the sum of the layers' cycles"
    return None


def _prediction_difference(counters, predicted):
    """The RTL's counters against the analytic model of the RTL (``memory="rtl"``)."""
    for k, (counted, model) in enumerate(zip(counters["layers"], predicted["layers"])):
        for key in sorted(set(counted) & set(model)):
            if isinstance(counted[key], int) and counted[key] != model[key]:
                return f"layer {k}: {key} {counted[key]}, the analytic model predicts {model[key]}"
    return None


def compare(net, backends, options, source="<network>"):
    """One :class:`Finding` per backend but golden, each against the golden model's spikes.

    Counters are checked against SPEC §3; those of a backend other than the built-in ones
    (the RTL) also against the analytic model's prediction for the same options with
    ``memory="rtl"`` (exact but for DRAM requests split at a 4 KB page, README).
    """
    reference, _ = backend_run("golden", net, options, source)
    findings = []
    for name in backends:
        if name == "golden":
            continue
        try:
            outputs, counters = backend_run(name, net, options, source)
        except SpikexError as error:
            findings.append(Finding(name, "refused", str(error)))
            continue
        except Exception as error:      # a crash on a valid network is a finding too
            findings.append(Finding(name, "crashed", f"{type(error).__name__}: {error}"))
            continue
        detail = _first_difference(outputs, reference)
        if detail is None and counters is not None:
            detail = _counter_difference(net, reference, counters)
        if detail is None and counters is not None and name not in BUILTIN_BACKENDS:
            _, predicted = backend_run("analytic", net, {**options, "memory": "rtl"}, source)
            detail = _prediction_difference(counters, predicted)
        findings.append(Finding(name, "agree" if detail is None else "differ", detail or ""))
    return findings


def _random_options(rng, net):
    """Hardware arguments of ``spikex run`` drawn for one network: dataflow, memory model,
    array; the accumulator as the network needs (SPEC §1), at least the default 24 bits."""
    bound = max(int(np.abs(w.reshape(len(w), -1)).sum(axis=1).max()) for w in net.weights)
    return dict(dataflow=str(rng.choice(["spikex", "ptb"])), memory=str(rng.choice(["rtl", "blocks"])),
                rows=int(rng.choice([1, 2, 4, 8])), cols=int(rng.choice([1, 2, 3, 8])),
                acc_bits=max(24, bound.bit_length() + 1))


@dataclass
class Campaign:
    """Counts per backend and status, and the reproducers written."""
    networks: int = 0
    counts: dict = field(default_factory=dict)
    reproducers: list = field(default_factory=list)

    def add(self, finding):
        per = self.counts.setdefault(finding.backend, {"agree": 0, "differ": 0, "refused": 0,
                                                       "crashed": 0})
        per[finding.status] += 1

    def summary(self):
        lines = [f"{self.networks} random networks"]
        for name, per in self.counts.items():
            lines.append(f"{name:>10}: " + ", ".join(f"{count} {status}" for status, count in per.items()))
        lines.append(f"{len(self.reproducers)} reproducers written" +
                     (": " + ", ".join(map(str, self.reproducers)) if self.reproducers else ""))
        return "\n".join(lines)


def campaign(n, backends=BUILTIN_BACKENDS, seed=0, out=None, progress=None, **limits):
    """Run ``n`` random networks (network ``i`` from ``default_rng([seed, i])``) on ``backends``.

    Each disagreement or crash is saved to ``out`` as ``diff-<seed>-<i>-<backend>.npz``
    (spikex-net-v1) with a ``.json`` beside it holding the hardware options and the finding.
    ``limits`` go to :func:`random_network`. Returns a :class:`Campaign`.
    """
    result = Campaign()
    indices = range(n) if progress is None else progress(range(n))
    for i in indices:
        rng = np.random.default_rng([seed, i])
        net = random_network(rng, **limits)
        hardware = _random_options(rng, net)
        result.networks += 1
        for finding in compare(net, backends, run_options(**hardware), f"network {seed}/{i}"):
            result.add(finding)
            if finding.status in ("differ", "crashed") and out is not None:
                result.reproducers.append(_save_reproducer(out, seed, i, net, hardware, finding))
    return result


def _save_reproducer(out, seed, index, net, hardware, finding):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"diff-{seed}-{index}-{finding.backend}.npz"
    save(net, path)
    path.with_suffix(".json").write_text(json.dumps(
        {"seed": seed, "index": index, "hardware": hardware, "backend": finding.backend,
         "status": finding.status, "detail": finding.detail}, indent=1) + "\n")
    return path
