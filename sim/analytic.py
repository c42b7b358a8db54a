"""The analytic simulator: cycles, memory accesses, energy and EDP of SpikeX and PTB
(paper §V), counted on the schedule of ``sim/schedule.py`` (docs/dataflow.md).

The spikes and membrane traces come from the golden model; the schedule is built per
sample and the counters of a batch are the sums over its samples (samples run one after
another; nothing is kept on chip from one sample to the next). Latency is
``cycles / clock``; EDP is ``energy (pJ) * latency (s)``, in pJ·s.

Energy, from the table of ``sim/energy.py``:

- ``dram``: bytes at the DRAM port * 8 * pJ/bit;
- ``glb``, ``lbuf``: accesses (words of the buffer width) * pJ per access at that width;
- ``rf``: per-PE weight and spike-word registers (latched once per beat), the psum
  scratchpad (read and write per addition, read and clear per fired time point, at
  ``acc_bits``), the membrane register (read and write per decay cycle and fired point);
- ``alu``: ``acc_ops`` additions at ``acc_bits``; per fired time point one ``v_bits``
  addition and one compare; one ``v_bits`` subtraction per decay cycle.

By use, ``weights`` and ``spikes`` are the memory energy of each kind of data (spikes
include activity tags and output spikes), ``membranes`` that of partial sums and
membranes, ``alu`` the arithmetic.
"""

from dataclasses import replace

import numpy as np

from spikex.netfile import SpikexError, check_fan_in
from sim import golden
from sim.image import layout, output_group
from sim.configure import check_block, rtl_parameters
from sim.energy import counter_energy, load_energy_table
from sim.schedule import Hardware, layer_schedule


__all__ = ["hardware_from_options", "analytic_hardware", "analyze_layer", "run_analytic",
           "golden_run", "layer_membrane"]


def hardware_from_options(options):
    """A :class:`~sim.schedule.Hardware` from the options dict of ``spikex run``."""
    defaults = Hardware()
    given = {key: options.get(key) for key in ("dataflow", "rows", "cols", "acc_bits", "tws_max",
                                               "glb_kb", "lbuf_kb", "memory", "dram_latency",
                                               "dram_one_burst", "pe", "data_width")}
    return Hardware(**{key: (getattr(defaults, key) if value is None else value)
                       for key, value in given.items()} | {"tws_max": options.get("tws_max")})


def layer_membrane(layer, weights, in_spikes, v_bits):
    """Golden output spikes and membrane trace of ``layer`` for ``in_spikes`` ``[B, T, ...]``."""
    in_spikes = np.asarray(in_spikes).reshape(in_spikes.shape[0], in_spikes.shape[1], *layer.in_shape)
    current = golden.synaptic_current(layer, np.asarray(weights, np.int64), in_spikes)
    return golden.lif(current, layer.threshold, layer.leak_shift, v_bits)


def _add(into, counts):
    for key, value in counts.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def _energy(t, hw, table, layer, weight_bits, v_bits):
    tws = layer.tws
    glb, lbuf = table.glb(hw.glb_width_bits), table.lbuf(hw.lbuf_width_bits)
    dram = {use: 8 * b * table.dram_pj_per_bit for use, b in t["dram_bytes_by_use"].items()}
    glb_e = {use: (t["glb_reads"].get(use, 0) + t["glb_writes"].get(use, 0)) * glb
             for use in ("weights", "spikes", "membranes")}
    if "lbuf_share" in t:       # memory="rtl": an LBUF access is one beat (weights and spike words)
        beats = sum(t["lbuf_reads"].values()) + sum(t["lbuf_writes"].values())
        total = sum(t["lbuf_share"].values())      # (summed over the samples by _add)
        lbuf_e = {use: beats * lbuf * share / total for use, share in t["lbuf_share"].items()}
    else:
        lbuf_e = {use: (t["lbuf_reads"][use] + t["lbuf_writes"][use]) * lbuf for use in ("weights", "spikes")}
    rf_e = {"weights": t["rf"]["weights"] * table.rf(weight_bits),
            "spikes": t["rf"]["spikes"] * table.rf(tws),
            "membranes": t["rf"]["psums"] * table.rf(hw.acc_bits) + t["rf"]["membranes"] * table.rf(v_bits)}
    alu = t["alu"]
    alu_e = alu["acc"] * table.add(hw.acc_bits) + (alu["fire_add"] + alu["decay"]) * table.add(v_bits) \
        + alu["compare"] * table.compare(v_bits)
    by_component = {"alu": alu_e, "rf": sum(rf_e.values()), "lbuf": sum(lbuf_e.values()),
                    "glb": sum(glb_e.values()), "dram": sum(dram.values())}
    by_use = {use: dram.get(use, 0) + glb_e.get(use, 0) + lbuf_e.get(use, 0) + rf_e.get(use, 0)
              for use in ("weights", "spikes", "membranes")}
    by_use["alu"] = alu_e
    return by_component, by_use


def analyze_layer(layer, in_spikes, hw, *, weights=None, membrane=None, out_spikes=None,
                  weight_bits=8, v_bits=16, energy=None, out_group=16, regions=None):
    """Counters of one layer over a batch of input spikes ``[B, T, *layer.in_shape]``.

    Pass either ``weights`` (the golden model then gives the output spikes and membrane
    trace) or both ``membrane`` and ``out_spikes`` ``[B, T, *layer.out_shape]``. ``hw`` is
    a :class:`~sim.schedule.Hardware`, ``energy`` an :class:`~sim.energy.EnergyTable`
    (default: the shipped one). ``out_group``: outputs per output SP-MB tag (the next
    layer's SP-MB size, 16 after the last layer; used by ``hw.memory == "rtl"``), and
    ``regions`` (the layer's :class:`sim.image.LayerRegions` in the DRAM image, sample
    ``b`` of ``in_spikes`` its sample ``b``; None: every DRAM request starts a 4 KB page).
    Returns the per-layer counter dict of SPEC §5 and more.
    """
    in_spikes = np.asarray(in_spikes)
    in_spikes = in_spikes.reshape(in_spikes.shape[0], in_spikes.shape[1], *layer.in_shape)
    if membrane is None or out_spikes is None:
        if weights is None:
            raise ValueError("analyze_layer needs weights, or membrane and out_spikes")
        out_spikes, membrane = layer_membrane(layer, weights, in_spikes, v_bits)
    table = load_energy_table() if energy is None else energy
    totals, modes = {}, {"spatial": 0, "temporal": 0}
    for b in range(in_spikes.shape[0]):
        schedule = layer_schedule(layer, in_spikes[b], membrane[b], out_spikes[b], hw, weight_bits, v_bits,
                                  out_group=out_group, regions=regions, sample=b)
        _add(totals, schedule.totals)
        modes[schedule.mode] += 1
    # memory="rtl": the RTL's counter (psum scratchpad only); else every PE register.
    scratchpad = totals.get("scratchpad_accesses", sum(totals["rf"].values()))
    counters = {
        "acc_ops": int(totals["alu"]["acc"]),
        "dram_read_bytes": int(totals["dram_read_bytes"]),
        "dram_write_bytes": int(totals["dram_write_bytes"]),
        "glb_reads": int(sum(totals["glb_reads"].values())),
        "glb_writes": int(sum(totals["glb_writes"].values())),
        "lbuf_reads": int(sum(totals["lbuf_reads"].values())),
        "lbuf_writes": int(sum(totals["lbuf_writes"].values())),
        "scratchpad_accesses": int(scratchpad),
    }
    if hw.memory == "rtl":
        # The RTL's counters, costed as the RTL backend costs them; they do not say which
        # data an access moved, so there is no split by use.
        by_component, by_use = counter_energy(counters, table, hw.acc_bits), None
    else:
        by_component, by_use = _energy(totals, hw, table, layer, weight_bits, v_bits)
    energy_pj = float(sum(by_component.values()))
    latency_s = totals["cycles"] / (hw.clock_mhz * 1e6)
    return {
        "kind": layer.kind, "tws": layer.tws,
        "cycles": int(totals["cycles"]),
        "compute_cycles": int(totals["compute_cycles"]),
        "busy_cycles": int(totals["compute_cycles"]),     # the RTL counter's name for it
        "dram_cycles": int(totals["dram_cycles"]),
        "stall_cycles": int(totals.get("stall_cycles", 0)),
        "active_ntwus": int(totals["active_ntwus"]),
        "passes": int(totals["passes"]),
        "beats": int(totals["beats"]),
        **counters,
        "decay_cycles": int(totals["alu"]["decay"]),
        "modes": modes,
        "energy_pj": energy_pj,
        "energy_by_component_pj": by_component,
        "energy_by_use_pj": by_use,
        "latency_s": latency_s,
        "edp": energy_pj * latency_s,
    }


def analytic_hardware(net, options, source="<network>"):
    """The :class:`~sim.schedule.Hardware` :func:`run_analytic` counts ``net`` on.

    With ``memory == "rtl"`` it is the accelerator as sim/rtl.py elaborates it for this
    network: spike words as wide, the GLB split as given (``options["glb_split"]``) or as
    the network needs, the time block the RTL would take.
    """
    hw = hardware_from_options(options)
    if hw.memory == "rtl":
        check_block(net, options.get("block_steps"), source)
        parameters = rtl_parameters(net, options)
        split = parameters["glb_split"]
        hw = replace(hw, tws_max=parameters["tws_max"],
                     glb_split=None if split is None else tuple(split),
                     block_steps=parameters["block_steps"],
                     max_timesteps=parameters["max_timesteps"])
    return hw


def golden_run(net):
    """Every layer's golden output spikes and membrane trace: ``(outputs, traces)``. They
    do not depend on the layers' ``tws`` or on the accelerator."""
    outputs, traces = [], []
    spikes = net.input
    for layer, weights in zip(net.layers, net.weights):
        out, membrane = layer_membrane(layer, weights, spikes, net.v_bits)
        outputs.append(out)
        traces.append(membrane)
        spikes = out
    return outputs, traces


def run_analytic(net, options, source="<network>", golden=None):
    """The ``analytic`` backend of ``spikex run``: golden spikes and SPEC §5 counters.

    ``options`` holds ``dataflow, rows, cols, acc_bits, tws_max, glb_kb, lbuf_kb,
    energy_table`` (missing or None: the defaults of :class:`~sim.schedule.Hardware`,
    and the shipped energy table). ``golden``: :func:`golden_run` of a network with the
    same layers (but for their ``tws``), weights and input, to reuse (None: computed).
    """
    hw = analytic_hardware(net, options, source)
    # Where each DRAM request starts (memory="rtl"): the image as sim/rtl.py places it (at
    # address 0, every sample of the file: a run shared out between simulations places
    # them otherwise, so its requests cut at a 4 KB page may differ).
    regions = (layout(net, hw.block_steps) if hw.memory == "rtl"
               else [None] * len(net.layers))
    table = load_energy_table(options.get("energy_table"))
    check_fan_in(net, hw.acc_bits, source)
    for k, layer in enumerate(net.layers):
        if hw.tws_max is not None and layer.tws > hw.tws_max:
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): tws {layer.tws} exceeds "
                              f"tws_max {hw.tws_max}")
    outputs, traces = golden_run(net) if golden is None else golden
    inputs = [net.input] + outputs[:-1]
    layers = []
    for k, layer in enumerate(net.layers):
        layers.append(analyze_layer(layer, inputs[k], hw, membrane=traces[k], out_spikes=outputs[k],
                                    weight_bits=net.weight_bits, v_bits=net.v_bits, energy=table,
                                    out_group=output_group(net, k), regions=regions[k]))
    cycles = sum(layer["cycles"] for layer in layers)
    energy_pj = sum(layer["energy_pj"] for layer in layers)
    counters = {"cycles": cycles, "energy_pj": energy_pj,
                "edp": energy_pj * cycles / (hw.clock_mhz * 1e6),
                "latency_s": cycles / (hw.clock_mhz * 1e6),
                "dataflow": hw.dataflow, "rows": hw.rows, "cols": hw.cols,
                "clock_mhz": hw.clock_mhz, "energy_table": table.source, "layers": layers}
    return outputs, counters
