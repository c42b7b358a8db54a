"""How far a layer's cycles are from the two bounds no schedule of the same work and data
can beat (the roofline; docs/analytic.md, "Roofline").

- **work bound** ``acc_ops / (rows * cols)``: every addition the layer needs, one per set
  input spike bit per output neuron it reaches (the same count in both dataflows), with
  every PE adding every cycle.
- **DRAM bound** ``must-move bytes / (data_width / 8)``: the bytes that must cross the DRAM
  port, one port word a cycle. They are (:func:`must_move`):

  - the *tailored weights*: of each output channel, the weights of the SP-MB runs of its
    row (conv: an input channel's ``E*E`` taps; fc: 16 features) whose input SP-MB holds
    a spike in some sample; loaded once per batch (``weights_batch``: the batch is the
    samples given), or once per sample (``weights``: each sample its own runs);
  - the *active input words*: the layer's input spike words, as the DRAM image packs them
    (``sim.image.pack_spikes``: 32 steps of one input a word, per time block), that hold
    at least one spike;
  - the *output words holding a spike*, likewise of the layer's output spikes.

  Descriptors, activity tags and word alignment are not in it: they are what a schedule
  adds.
- **efficiency** ``max(work bound, DRAM bound) / cycles``. Over a network the bound is the
  sum of each layer's larger bound (layers run one after another).
"""

from dataclasses import dataclass

import numpy as np

from hw.config import DEFAULTS
from hw.limits import weight_word_bytes
from sim.image import pack_spikes, spmb_inputs, spmb_tags


__all__ = ["MustMove", "must_move", "active_word_bytes", "tailored_weight_bytes",
           "work_bound", "dram_bound", "roofline", "network_roofline"]


@dataclass(frozen=True)
class MustMove:
    """The bytes one layer must move over a batch of samples.

    weights_batch : tailored weights of the runs some sample of the batch activates, once.
    weights, inputs, outputs : ``[B]`` each sample's tailored weights (a batch of one), its
        input spike words holding a spike and its output spike words holding a spike.
    """
    weights_batch: int
    weights: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray

    def total(self, per_sample=False):
        """Bytes over the batch, the weights once for it (``per_sample``: once a sample)."""
        weights = int(self.weights.sum()) if per_sample else self.weights_batch
        return weights + int(self.inputs.sum()) + int(self.outputs.sum())


def active_word_bytes(spikes, block_steps=None):
    """Bytes of the DRAM image's spike words of ``spikes`` ``[B, T, ...]`` that hold at least
    one spike, per sample ``[B]`` (time blocks of ``block_steps`` steps, None: one)."""
    words = pack_spikes(np.asarray(spikes), block_steps)
    return (words.reshape(len(words), -1) != 0).sum(axis=1) * words.itemsize


def _spmb_of_fan_in(layer):
    """The input SP-MB of each fan-in index of a weight row (conv ``c*E*E + ky*E + kx``)."""
    per_spmb = layer.kernel * layer.kernel if layer.kind == "conv" else spmb_inputs(layer)
    return np.arange(layer.fan_in) // per_spmb


def tailored_weight_bytes(layer, in_spikes, weight_bits):
    """Weight bytes of the SP-MB runs ``in_spikes`` ``[B, T, *in_shape]`` activates: per
    sample ``[B]``, and for the batch (a run active in any sample, once)."""
    in_spikes = np.asarray(in_spikes).reshape(len(in_spikes), -1, *layer.in_shape)
    active = spmb_tags(in_spikes, spmb_inputs(layer))                    # [B, SP-MBs]
    per_weight = layer.weight_shape[0] * weight_word_bytes(1, weight_bits)   # a fan-in index
    fan_in_active = active[:, _spmb_of_fan_in(layer)]                    # [B, fan_in]
    return (fan_in_active.sum(axis=1) * per_weight,
            int(fan_in_active.any(axis=0).sum()) * per_weight)


def must_move(layer, in_spikes, out_spikes, weight_bits, block_steps=None):
    """The :class:`MustMove` of ``layer`` for input and output spikes ``[B, T, ...]``."""
    weights, weights_batch = tailored_weight_bytes(layer, in_spikes, weight_bits)
    return MustMove(weights_batch, weights, active_word_bytes(in_spikes, block_steps),
                    active_word_bytes(out_spikes, block_steps))


def work_bound(acc_ops, rows, cols):
    """Cycles of ``acc_ops`` additions on ``rows x cols`` PEs, one each a cycle."""
    return acc_ops / (rows * cols)


def dram_bound(must_bytes, data_width=DEFAULTS.data_width):
    """Cycles of ``must_bytes`` through a DRAM port of ``data_width`` bits, a word a cycle."""
    return must_bytes / (data_width // 8)


def roofline(counters, must, rows, cols, data_width=DEFAULTS.data_width):
    """One layer's roofline from its counters (SPEC §5, over the batch) and :class:`MustMove`.

    Returns, over the batch: ``cycles``, ``work`` (bound), ``dram`` and ``dram_sample``
    (DRAM bounds, weights once per batch and once per sample), ``moved`` (DRAM bytes read
    and written), ``must`` and ``must_sample`` (bytes), ``bound`` (the larger bound, weights
    once per batch), ``efficiency`` (``bound / cycles``) and ``efficiency_sample``.
    """
    work = work_bound(counters["acc_ops"], rows, cols)
    must_bytes, must_sample = must.total(), must.total(per_sample=True)
    dram, dram_sample = dram_bound(must_bytes, data_width), dram_bound(must_sample, data_width)
    cycles = counters["cycles"]
    return {"cycles": cycles, "work": work, "dram": dram, "dram_sample": dram_sample,
            "moved": counters["dram_read_bytes"] + counters["dram_write_bytes"],
            "must": must_bytes, "must_sample": must_sample,
            "bound": max(work, dram), "bound_sample": max(work, dram_sample),
            "efficiency": max(work, dram) / cycles,
            "efficiency_sample": max(work, dram_sample) / cycles}


def network_roofline(net, outputs, counters, block_steps=None, data_width=DEFAULTS.data_width):
    """Each layer's :func:`roofline` and the network's (key ``"total"``: sums, the bounds
    summed layer by layer) for a run of ``net`` that gave ``outputs`` (each layer's output
    spikes) and ``counters`` (``run_analytic``'s or ``run_rtl``'s); ``block_steps`` is the
    run's time block (the image's spike words)."""
    inputs = [net.input] + list(outputs[:-1])
    layers = [roofline(c, must_move(layer, x, y, net.weight_bits, block_steps),
                       counters["rows"], counters["cols"], data_width)
              for layer, x, y, c in zip(net.layers, inputs, outputs, counters["layers"])]
    total = {key: sum(layer[key] for layer in layers)
             for key in ("cycles", "work", "dram", "dram_sample", "moved", "must", "must_sample",
                         "bound", "bound_sample")}
    total["efficiency"] = total["bound"] / total["cycles"]
    total["efficiency_sample"] = total["bound_sample"] / total["cycles"]
    return {"layers": layers, "total": total}
