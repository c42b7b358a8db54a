"""The accelerator configuration a network runs on (``spikex run`` on the RTL backends, and
the analytic model of the RTL, ``memory="rtl"``): its elaboration parameters, the GLB
shares it needs, and the checks that refuse, naming the layer, what it cannot run.
"""

import numpy as np

from hw.config import DEFAULTS
from hw.limits import glb_shares, spike_word_bytes, state_word_bytes, weight_share_bytes
from spikex.netfile import SpikexError
from sim import image as dram_image


__all__ = ["rtl_parameters", "glb_needs", "check_block", "check_fits", "fits"]


def rtl_parameters(net, options):
    """The accelerator's elaboration parameters for ``net`` and the ``spikex run`` options.

    ``options["glb_split"]``: bytes of the GLB for input spikes, weights and output spikes;
    None or missing: as ``net`` needs (:func:`glb_needs`), the weight and output shares
    given room for ping-pong banks where that hides the most DRAM transfer
    (:func:`_split`), the rest to the input spikes.

    ``options["block_steps"]``: the time block (``--time-block``); None or missing: the whole
    sample when its input fits the GLB, else, of the blocks (multiples of every layer's
    ``tws``) that fit, the one whose inputs take the fewest 32-bit DRAM words over the
    sample (``blocks * ceil(block / 32)`` each), the longest of those. The result's
    ``block_steps`` is None for one block.
    ``options["max_blocks"]``: the accelerator's most time blocks; None or missing: the
    blocks this network runs in (1 for one block: no state memory).
    ``options["max_timesteps"]``: at least this wide a GLB spike word.
    """
    steps = net.timesteps
    block = options.get("block_steps")
    if block is not None:
        return _parameters(net, options, block)
    parameters = _parameters(net, options, None)
    if fits(net, parameters):
        return parameters
    unit = _unit(net)
    best, best_words = None, None
    for block in range(min(steps - 1, 1024) // unit * unit, 0, -unit):
        parameters = _parameters(net, options, block)
        # A block of 45 steps takes two words an input, one of 30 one: 7 x 2 words
        # against 10 x 1 over 300 steps.
        words = -(-steps // block) * -(-block // 32)
        if fits(net, parameters) and (best is None or words < best_words):
            best, best_words = parameters, words
    return best or parameters   # none fits: check_fits names what does not fit


def _unit(net):
    """The shortest time block: the least common multiple of the layers' ``tws``."""
    return int(np.lcm.reduce([layer.tws for layer in net.layers]))


def fits(net, parameters):
    """Whether ``net`` fits every GLB share of the accelerator ``parameters`` describe."""
    if parameters["max_timesteps"] > 1024 or parameters["glb_split"] is None:
        return False
    try:
        shares = _shares(parameters)
    except ValueError:
        return True         # a bad --glb-split: check_fits says so
    return all(size <= shares[key] for key, (size, _) in glb_needs(net, parameters).items())


def _shares(parameters):
    """``{share: bytes}`` of the accelerator ``parameters`` describe: the three of its
    ``glb_split`` and, with time blocks, the state memory's, what they leave of the GLB."""
    blocked = parameters["max_blocks"] > 1
    shares = glb_shares(parameters["glb_kb"], parameters["glb_split"], rows=parameters["rows"],
                        v_bits=parameters["v_bits"], max_timesteps=parameters["max_timesteps"],
                        time_blocks=blocked)
    return dict(zip(("spikes", "weights", "outputs", "state")[:4 if blocked else 3], shares))


def _parameters(net, options, block):
    size, blocks = dram_image.time_blocks(net.timesteps, block)
    tws_max = options.get("tws_max") or max(DEFAULTS.tws_max, max(layer.tws for layer in net.layers))
    parameters = {
        "rows": options.get("rows") or DEFAULTS.rows,
        "cols": options.get("cols") or DEFAULTS.cols,
        "tws_max": tws_max,
        "pe": options.get("pe") or DEFAULTS.pe,
        "weight_bits": net.weight_bits,
        "acc_bits": options.get("acc_bits") or DEFAULTS.acc_bits,
        "v_bits": net.v_bits,
        "glb_kb": options.get("glb_kb") or DEFAULTS.glb_kb,
        "lbuf_kb": options.get("lbuf_kb") or DEFAULTS.lbuf_kb,
        "max_layers": max(DEFAULTS.max_layers, len(net.layers)),
        # A GLB spike word holds T rounded up to 32 steps, or exactly a time block (so that
        # short blocks pack the GLB densely); options["max_timesteps"] may widen it (tests
        # that share one build).
        "max_timesteps": max(32 * -(-size // 32) if blocks == 1 else size, tws_max,
                             options.get("max_timesteps") or 0),
        "max_blocks": max(blocks, options.get("max_blocks") or 1),
        "block_steps": size if blocks > 1 else None,
    }
    if (options.get("data_width") or DEFAULTS.data_width) != DEFAULTS.data_width:
        # Only a bus other than the default's names itself, so that the 32-bit builds'
        # parameters (and the build caches keyed by them) stay as they were.
        parameters["data_width"] = options["data_width"]
    split = options.get("glb_split")
    if split is None:
        split = _split(net, parameters, int(parameters["glb_kb"] * 1024), blocked=blocks > 1)
    parameters["glb_split"] = None if split is None else [int(b) for b in split]
    return parameters


def _split(net, parameters, glb_bytes, blocked):
    """The GLB split ``net`` needs, its spare bytes given where a ping-pong bank hides the
    most DRAM transfer; None if the needs alone do not fit. With time blocks the state
    memory's need is set aside first (what the three shares leave is its share).

    Each layer of ``G`` row groups whose weights fit half the weight share hides ``G - 1``
    weight loads behind the previous group's passes (not with time blocks: the weights of
    a row group stay for all its blocks), and whose group outputs fit half the output
    share ``G - 1`` write-outs; of the weight and output shares that fit, the pair hiding
    the most bytes (the smallest of those) is taken, and the rest goes to the input spikes
    (with time blocks, ping-pong of the next block's input).
    """
    needs = glb_needs(net, parameters)
    spikes, weights, outputs = (needs[key][0] for key in ("spikes", "weights", "outputs"))
    glb_bytes -= needs["state"][0] if "state" in needs else 0      # time blocks: the state's
    if spikes + weights + outputs > glb_bytes:
        return None     # does not fit: check_fits names the layer
    rows, bits = parameters["rows"], parameters["weight_bits"]
    spike_bytes = spike_word_bytes(parameters["max_timesteps"])
    weight_options, output_options = [], []        # (share bytes a layer's ping-pong needs, bytes hidden)
    for layer in net.layers:
        groups = -(-layer.out_shape[0] // rows)
        if not blocked:
            weight_options.append((weight_share_bytes(layer.fan_in, rows, bits, pingpong=True),
                                   (groups - 1) * weight_share_bytes(layer.fan_in, rows, bits)))
        group = min(layer.out_shape[0], rows) * int(np.prod(layer.out_shape[1:])) * spike_bytes
        output_options.append((2 * group, (groups - 1) * group))

    def hidden(options, share):
        return sum(saved for need, saved in options if need <= share)

    best = None
    for w in {weights, *(need for need, _ in weight_options if need > weights)}:
        for o in {outputs, *(need for need, _ in output_options if need > outputs)}:
            if spikes + w + o <= glb_bytes:
                key = (hidden(weight_options, w) + hidden(output_options, o), -(w + o))
                if best is None or key > best[0]:
                    best = key, (w, o)
    w, o = best[1]
    return [glb_bytes - w - o, w, o]


def glb_needs(net, parameters):
    """Bytes of each GLB share the largest layer needs: ``{share: (bytes, layer index)}``.

    Input spikes: one word of ``max_timesteps`` bits per input of a layer, and per output
    (the next layer's input; also the size of the output tag memory); weights: one row
    group's (``rows`` weights per fan-in input); output spikes: one row group's outputs;
    with time blocks (``max_blocks`` above 1), the state: a word per output position of a
    row group (at least one).
    """
    spike_bytes = spike_word_bytes(parameters["max_timesteps"])
    needs = {"spikes": (0, 0), "weights": (0, 0), "outputs": (0, 0)}
    if parameters["max_blocks"] > 1:
        word = state_word_bytes(parameters["rows"], parameters["v_bits"])
        needs["state"] = max((int(np.prod(layer.out_shape[1:])) * word, k)
                             for k, layer in enumerate(net.layers))
    for k, layer in enumerate(net.layers):
        inputs, outputs = int(np.prod(layer.in_shape)), int(np.prod(layer.out_shape))
        group = min(layer.out_shape[0], parameters["rows"]) * int(np.prod(layer.out_shape[1:]))
        for key, size in (("spikes", max(inputs, outputs) * spike_bytes),
                          ("weights", weight_share_bytes(layer.fan_in, parameters["rows"],
                                                         parameters["weight_bits"])),
                          ("outputs", group * spike_bytes)):
            if size > needs[key][0]:
                needs[key] = (size, k)
    return needs


def check_block(net, block_steps, source):
    """Refuse, naming the layer, a time block (``--time-block``) the accelerator cannot run."""
    if block_steps is None:
        return
    if not isinstance(block_steps, int) or not 1 <= block_steps <= 1024:
        raise SpikexError(f"{source}: --time-block must be 1 to 1024 steps, not {block_steps!r}")
    for k, layer in enumerate(net.layers):
        if block_steps < net.timesteps and block_steps % layer.tws:
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): tws {layer.tws} does not "
                              f"divide the time block {block_steps} (--time-block)")


def check_fits(net, parameters, source):
    """Refuse, naming the layer and the limit, a layer the accelerator would reject with error 9."""
    glb_kb = parameters["glb_kb"]
    needs = glb_needs(net, parameters)
    if parameters["glb_split"] is None:       # rtl_parameters found no split that fits
        total = sum(size for size, _ in needs.values())
        if total > int(glb_kb * 1024):
            parts = ", ".join(f"{'time-block state' if key == 'state' else key} "
                              f"{size / 1024:.1f} KB (layer {k})" for key, (size, k) in needs.items())
            raise SpikexError(f"{source}: the network needs {total / 1024:.1f} KB of GLB ({parts}), "
                              f"more than --glb-kb {glb_kb}, in time blocks of "
                              f"{parameters['block_steps'] or net.timesteps} steps; fan-in "
                              f"tiling is not implemented in the RTL")
    try:
        shares = _shares(parameters)
    except ValueError as error:
        raise SpikexError(f"{source}: {error} (--glb-kb {glb_kb}, --glb-split)") from None
    for key, (size, k) in needs.items():
        if size > shares[key]:
            layer = net.layers[k]
            what = ("time-block state (what --glb-split leaves of --glb-kb)" if key == "state"
                    else key)
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): needs {size} bytes of GLB "
                              f"{what}, more than the {shares[key]} bytes of its share "
                              f"(--glb-kb {glb_kb}, --glb-split, --time-block); fan-in tiling "
                              f"is not implemented in the RTL")
