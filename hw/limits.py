"""What the accelerator's buffers hold (docs/accelerator.md, "Limits"), in plain Python.

One place for the arithmetic that ``hw/top.py`` sizes its memories with, that ``sim/rtl.py``
checks a network against and that the analytic model of the RTL (``sim/schedule.py``,
``memory="rtl"``) follows; no Amaranth, so the analytic simulator does not need it.
"""

from hw.config import DEFAULTS


__all__ = ["GLB_SHARES", "PAGE_BYTES", "spike_word_bytes", "weight_word_bytes", "weight_slots",
           "weight_share_bytes", "state_word_bytes", "glb_split_bytes", "state_share_bytes",
           "glb_shares", "lbuf_entry_bits", "accelerator_limits"]


#: The GLB's default partition, in the order of ``glb_split``; each share is double
#: buffered where a layer fits half of it. With time blocks, of what the time-block state
#: leaves (:func:`state_share_bytes`).
GLB_SHARES = {"spikes": 0.5, "weights": 0.25, "outputs": 0.25}

#: An AXI burst may not cross a 4 KB boundary: the AXI port (hw/axi.py) cuts a request there.
PAGE_BYTES = 4096


def spike_word_bytes(max_timesteps):
    """Bytes of one GLB spike word: one input's (or output's) ``max_timesteps`` bits."""
    return -(-max_timesteps // 8)


def weight_word_bytes(rows, weight_bits):
    """Bytes of one GLB weight word: ``rows`` weights of one fan-in input."""
    return rows * -(-weight_bits // 8)


def weight_slots(weight_bits):
    """Weights of one row in a 32-bit DRAM bus word: the fan-in inputs a GLB weight word
    holds, so that the weight loader writes a bus word a cycle (hw/weight_loader.py)."""
    return 4 // -(-weight_bits // 8)


def weight_share_bytes(fan_in, rows, weight_bits, pingpong=False):
    """The fewest bytes of GLB weight share whose ``max_fan_in`` (:func:`accelerator_limits`)
    holds a row group of ``fan_in``, or, with ``pingpong``, one in each of two banks."""
    slots = weight_slots(weight_bits)
    inputs = 2 * slots * -(-fan_in // slots) if pingpong else 2 * slots * -(-fan_in // (2 * slots))
    return inputs * weight_word_bytes(rows, weight_bits)


def state_word_bytes(rows, v_bits):
    """Bytes of one word of the time-block state memory: a position's ``rows`` membranes and
    its 16-bit last step (``hw.pass_engine.state_layout``)."""
    return -(-(rows * v_bits + 16) // 8)


def glb_split_bytes(glb_kb, glb_split=None, state_bytes=0):
    """The GLB's bytes for (input spikes, weights, output spikes): ``glb_split``, or by default
    :data:`GLB_SHARES` of ``glb_kb`` less ``state_bytes`` (the time-block state's share).
    Raises :exc:`ValueError` naming a bad split."""
    glb_bytes = int(glb_kb * 1024)
    if glb_split is None:
        return tuple(int((glb_bytes - state_bytes) * share) for share in GLB_SHARES.values())
    split = tuple(glb_split)
    if (len(split) != 3 or any(not isinstance(b, int) or isinstance(b, bool) or b < 1
                               for b in split) or sum(split) > glb_bytes):
        raise ValueError(f"glb_split must be three positive byte counts (spikes, weights, "
                         f"outputs) within the {glb_bytes}-byte GLB, not {glb_split!r}")
    return split


def state_share_bytes(glb_kb, glb_split, *, rows, v_bits, max_timesteps):
    """The GLB's bytes for the time-block state (an accelerator with time blocks).

    With ``glb_split`` given, what its three shares leave of the GLB. By default the fewest
    whole state words that hold a position for each ``rows`` outputs of the default output
    share (a full row group's positions), the three shares :data:`GLB_SHARES` of the rest.
    """
    glb_bytes, word = int(glb_kb * 1024), state_word_bytes(rows, v_bits)
    if glb_split is not None:
        return glb_bytes - sum(glb_split_bytes(glb_kb, glb_split))
    spike_bytes = spike_word_bytes(max_timesteps)
    positions = 0
    while positions * word <= glb_bytes:
        outputs = glb_split_bytes(glb_kb, None, positions * word)[2] // spike_bytes
        if positions >= -(-outputs // rows):
            break
        positions += 1
    return positions * word


def glb_shares(glb_kb, glb_split=None, *, rows, v_bits, max_timesteps, time_blocks):
    """The GLB's bytes for (input spikes, weights, output spikes, time-block state) of an
    accelerator (the state 0 without ``time_blocks``)."""
    state = (state_share_bytes(glb_kb, glb_split, rows=rows, v_bits=v_bits,
                               max_timesteps=max_timesteps) if time_blocks else 0)
    return (*glb_split_bytes(glb_kb, glb_split, state if glb_split is None else 0), state)


def lbuf_entry_bits(*, rows, cols, tws_max, weight_bits, pe=DEFAULTS.pe):
    """Bits of one LBUF entry (``hw.gather.lbuf_entry_layout``): ``cols`` spike words of
    ``tws_max`` bits, ``rows`` weights and, for the sparse PE, the beat's pace (1 ..
    ``tws_max``)."""
    return cols * tws_max + rows * weight_bits + (tws_max.bit_length() if pe == "sparse" else 0)


def accelerator_limits(*, rows, cols, tws_max, weight_bits, glb_kb, lbuf_kb, max_timesteps,
                       glb_split=None, v_bits=16, time_blocks=False, pe=DEFAULTS.pe):
    """Buffer-derived limits of a layer. A layer's weights ping-pong when its fan-in is at
    most ``max_fan_in // 2``; an LBUF beat is :func:`lbuf_entry_bits`. With ``time_blocks``, also
    ``max_positions``: the output positions of a row group the time-block state memory
    holds, in the GLB's bytes (:func:`state_share_bytes`)."""
    spike_share, weight_share, output_share, state = glb_shares(
        glb_kb, glb_split, rows=rows, v_bits=v_bits, max_timesteps=max_timesteps,
        time_blocks=time_blocks)
    spike_bytes = spike_word_bytes(max_timesteps)
    entry_bytes = -(-lbuf_entry_bits(rows=rows, cols=cols, tws_max=tws_max,
                                     weight_bits=weight_bits, pe=pe) // 8)
    positions = {"max_positions": state // state_word_bytes(rows, v_bits)} if time_blocks else {}
    return {
        "max_inputs": spike_share // spike_bytes,           # input spikes of a sample
        # a row group's fan-in: whole GLB weight words in each ping-pong bank
        "max_fan_in": weight_share // weight_word_bytes(rows, weight_bits)
        // (2 * weight_slots(weight_bits)) * (2 * weight_slots(weight_bits)),
        "max_outputs": output_share // spike_bytes,         # one row group's output spikes
        "lbuf_depth": int(lbuf_kb * 1024) // 2 // entry_bytes,               # beats per bank
        **positions,
    }
