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

The RTL backends build an accelerator for each hardware configuration (40 s or more under
Verilator), so an RTL campaign draws its networks for the few accelerators of
:data:`RTL_CONFIGS` (:class:`RtlConfig`), each built once, and runs each network's samples
in one simulation, where the analytic model of the RTL predicts every counter exactly.

A backend that refuses a network with a :class:`~spikex.netfile.SpikexError` (a network
that does not fit its buffers, say) is counted as *refused*, not as a disagreement.
``bench/bench_differential.py`` is the command line; ``tests/test_differential.py`` runs a
few hundred small networks in CI, and a few on Verilator and Icarus.

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


__all__ = ["BUILTIN_BACKENDS", "random_network", "block_choices", "run_options", "backend_run",
           "compare", "Finding", "RtlConfig", "RTL_CONFIGS", "Campaign", "campaign"]

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
                   max_channels=4, max_features=48, max_batch=3, weight_bits=None, v_bits=None,
                   time_blocks=None):
    """A random valid network of conv and fc layers and its input; every choice from ``rng``.

    T is one of ``timesteps`` up to ``max_timesteps``: one network in eight draws from all
    of them, the others from those of at most 16 steps (if any). Weights of 2 to 16 bits,
    membranes of 4 to 48 (narrow ones saturate), unless ``weight_bits`` and ``v_bits`` fix
    them; the input rate is log-uniform from 0.01 % to 30 %. Each layer draws its own
    ``tws`` among the divisors of T, its leak in 0..v_bits-1, its threshold among the
    corners of :func:`_threshold`, and weights from one of four styles (uniform, biased
    positive, sparse, only the extremes).

    ``time_blocks``: ``(tws_max, longest, most)`` of an accelerator (:class:`RtlConfig`):
    T and every ``tws`` such that the sample runs in at most ``most`` time blocks of at
    most ``longest`` steps (:func:`block_choices`), no ``tws`` above ``tws_max``.
    """
    choices = [t for t in timesteps if t <= max_timesteps]
    if time_blocks is not None:
        choices = [t for t in choices if t <= time_blocks[1] * time_blocks[2]]
    short = [t for t in choices if t <= _SHORT]
    steps = int(rng.choice(short if short and rng.integers(_LONG_EVERY) else choices))
    if weight_bits is None:
        weight_bits = int(rng.choice([2, 3, 4, 8, 8, 8, 8, 12, 16]))
    if v_bits is None:
        v_bits = int(rng.choice([4, 6, 8, 12, 16, 16, 16, 24, 32, 48]))
    if rng.integers(3):
        shape = (int(rng.integers(1, max_channels + 1)), int(rng.integers(1, max_size + 1)),
                 int(rng.integers(1, max_size + 1)))
    else:
        shape = (int(rng.integers(1, max_features + 1)),)
    layers, weights, unit = [], [], 1
    for _ in range(int(rng.integers(1, max_layers + 1))):
        common = dict(leak_shift=int(rng.integers(0, v_bits)),
                      tws=int(rng.choice(_tws_choices(steps, unit, time_blocks))))
        unit = math.lcm(unit, common["tws"])
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


def _tws_choices(steps, unit, time_blocks):
    """The ``tws`` a layer may draw after layers whose ``tws`` have least common multiple ``unit``."""
    if time_blocks is None:
        return _divisors(steps)
    tws_max, longest, most = time_blocks
    return [d for d in _divisors(steps)
            if d <= tws_max and block_choices(steps, math.lcm(unit, d), longest, most)]


def block_choices(steps, unit, longest, most):
    """The time blocks a sample of ``steps`` steps may run in: multiples of ``unit`` (the
    least common multiple of the layers' ``tws``) of at most ``longest`` steps that cut it
    into at most ``most`` blocks, and ``steps`` itself (one block) when it is at most
    ``longest``."""
    blocks = [b for b in range(unit, min(steps - 1, longest) + 1, unit) if -(-steps // b) <= most]
    return blocks + ([steps] if steps <= longest else [])


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
    """The RTL's counters against the analytic model of the RTL (``memory="rtl"``): every
    counter the accelerator keeps."""
    from sim.rtl import COUNTER_NAMES
    for k, (counted, model) in enumerate(zip(counters["layers"], predicted["layers"])):
        for key in COUNTER_NAMES:
            if counted.get(key) != model[key]:
                return f"layer {k}: {key} {counted.get(key)}, the analytic model predicts {model[key]}"
    return None


def compare(net, backends, options, source="<network>"):
    """One :class:`Finding` per backend but golden, each against the golden model's spikes.

    Counters are checked against SPEC §3; those of a backend other than the built-in ones
    (the RTL) also against the analytic model's prediction for the same options with
    ``memory="rtl"``: exact for a run of all the samples in one simulation (the RTL
    campaigns run so, ``jobs=1``; where the image puts a sample decides which DRAM requests
    are cut at a 4 KB page).
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


@dataclass(frozen=True)
class RtlConfig:
    """One accelerator of an RTL campaign, and the random networks drawn to run on it.

    ``options`` are the hardware options of ``spikex run`` (rows, cols, tws_max, acc_bits,
    glb_kb, glb_split, lbuf_kb) with ``max_timesteps`` and ``max_blocks``; ``weight_bits``
    and ``v_bits`` those of every network; ``limits`` go to :func:`random_network`. Every
    network :meth:`draw` gives elaborates the same accelerator (:meth:`parameters`), so
    one build runs them all.
    """
    name: str
    weight_bits: int
    v_bits: int
    options: dict
    limits: dict = field(default_factory=dict)

    def draw(self, rng, **limits):
        """A random network that fits this accelerator and its options: dataflow, memory
        model and time block (one block or several, :func:`block_choices`) drawn too.
        Thresholds above what the DRAM image holds (``v_bits`` above 33) are cut to
        :data:`hw.layout.MAX_THRESHOLD` (``run_rtl`` refuses them)."""
        from hw.layout import MAX_THRESHOLD
        longest, most = self.options["max_timesteps"], self.options["max_blocks"]
        net = random_network(rng, weight_bits=self.weight_bits, v_bits=self.v_bits,
                             time_blocks=(self.options["tws_max"], longest, most),
                             **{**self.limits, **limits})
        net = Network([replace(layer, threshold=min(layer.threshold, MAX_THRESHOLD))
                       for layer in net.layers], net.weights, net.input,
                      weight_bits=net.weight_bits, v_bits=net.v_bits)
        unit = int(np.lcm.reduce([layer.tws for layer in net.layers]))
        blocks = block_choices(net.timesteps, unit, longest, most)
        drawn = run_options(dataflow=str(rng.choice(["spikex", "ptb"])),
                            memory=str(rng.choice(["rtl", "blocks"])))
        # A sample that one block holds runs so half the time; the block is always given,
        # else rtl_parameters would choose one (and with it another accelerator).
        one = rng.integers(2) and net.timesteps in blocks
        return net, {**drawn, **self.options, "jobs": 1,
                     "block_steps": net.timesteps if one else int(rng.choice(blocks))}

    def parameters(self, net, options):
        """The accelerator ``net`` elaborates with ``options`` (:func:`sim.rtl.rtl_parameters`),
        but for the run's time block: :attr:`accelerator` for every network :meth:`draw` gives."""
        from sim.rtl import rtl_parameters
        parameters = rtl_parameters(net, options)
        parameters.pop("block_steps")
        return parameters

    @property
    def accelerator(self):
        """The accelerator's elaboration parameters: those of a one-neuron network."""
        probe = Network([FcLayer(in_features=1, out_features=1, threshold=1, leak_shift=0, tws=1)],
                        [np.ones((1, 1), np.int64)], np.zeros((1, 1, 1), np.uint8),
                        weight_bits=self.weight_bits, v_bits=self.v_bits)
        return self.parameters(probe, {**self.options, "block_steps": 1})


#: The accelerators of an RTL campaign: each a build (40 s or more under Verilator). The
#: first is the one tests/test_top_rtl.py builds (a 3-beat LBUF bank: passes stream
#: through both banks); the others reach the widths' corners (16-bit weights on a 48-bit
#: membrane, 2-bit weights on a saturating 4-bit one), tws up to 8 on 64-step words, and
#: a GLB small enough that weights and outputs of the larger layers do not ping-pong. The
#: 1x1 has the serial PE, the 3x2 the parallel one, the others the default, sparse PE.
RTL_CONFIGS = (
    RtlConfig("4x4", weight_bits=8, v_bits=16, options=dict(
        rows=4, cols=4, tws_max=4, acc_bits=24, glb_kb=64.0, glb_split=[27648, 13824, 13824],
        lbuf_kb=42 / 1024, max_timesteps=32, max_blocks=10)),
    RtlConfig("1x1-w16-v48", weight_bits=16, v_bits=48, options=dict(
        rows=1, cols=1, tws_max=3, acc_bits=32, glb_kb=64.0, glb_split=[27648, 13824, 13824],
        lbuf_kb=2.0, max_timesteps=32, max_blocks=16, pe="serial"), limits=dict(max_size=8)),
    RtlConfig("8x8-w4-v8", weight_bits=4, v_bits=8, options=dict(
        rows=8, cols=8, tws_max=8, acc_bits=16, glb_kb=5.0, glb_split=[1536, 1024, 1536],
        lbuf_kb=2.0, max_timesteps=64, max_blocks=8), limits=dict(max_size=6)),
    RtlConfig("2x3-w2-v4", weight_bits=2, v_bits=4, options=dict(
        rows=2, cols=3, tws_max=5, acc_bits=16, glb_kb=9.0, glb_split=[4096, 2048, 2048],
        lbuf_kb=6 / 1024, max_timesteps=32, max_blocks=16)),
    RtlConfig("3x2-w12-v24", weight_bits=12, v_bits=24, options=dict(
        rows=3, cols=2, tws_max=6, acc_bits=24, glb_kb=64.0, glb_split=[27648, 13824, 13824],
        lbuf_kb=2.0, max_timesteps=64, max_blocks=8, pe="parallel")),
)


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


def campaign(n, backends=BUILTIN_BACKENDS, seed=0, out=None, progress=None, configs=RTL_CONFIGS,
             every=None, **limits):
    """Run ``n`` random networks (network ``i`` from ``default_rng([seed, i])``) on ``backends``.

    With the built-in backends only, each network's hardware options are drawn beside it
    (:func:`_random_options`). With another (an RTL backend), network ``i`` is drawn by
    ``configs[i % len(configs)]`` (:meth:`RtlConfig.draw`) to fit that accelerator, and
    the networks run configuration by configuration, so that each is built once.
    ``every``: ``{backend: k}``, that backend runs one round of ``configs`` in ``k``
    (networks ``i`` with ``i // len(configs) % k == 0``: every configuration), for a
    simulator too slow to run them all (Icarus).

    Each disagreement or crash is saved to ``out`` as ``diff-<seed>-<i>-<backend>.npz``
    (spikex-net-v1) with a ``.json`` beside it holding the backends' options and the
    finding. ``limits`` go to :func:`random_network`. Returns a :class:`Campaign`.
    """
    result, every = Campaign(), every or {}
    rtl = any(name not in BUILTIN_BACKENDS for name in backends)
    order = sorted(range(n), key=lambda i: i % len(configs)) if rtl else range(n)
    for i in (order if progress is None else progress(order)):
        rng = np.random.default_rng([seed, i])
        if rtl:
            net, options = configs[i % len(configs)].draw(rng, **limits)
        else:
            net = random_network(rng, **limits)
            options = run_options(**_random_options(rng, net))
        chosen = [name for name in backends if i // len(configs) % every.get(name, 1) == 0]
        result.networks += 1
        for finding in compare(net, chosen, options, f"network {seed}/{i}"):
            result.add(finding)
            if finding.status in ("differ", "crashed") and out is not None:
                result.reproducers.append(_save_reproducer(out, seed, i, net, options, finding))
    return result


def _save_reproducer(out, seed, index, net, options, finding):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"diff-{seed}-{index}-{finding.backend}.npz"
    save(net, path)
    path.with_suffix(".json").write_text(json.dumps(
        {"seed": seed, "index": index, "options": options, "backend": finding.backend,
         "status": finding.status, "detail": finding.detail}, indent=1) + "\n")
    return path
