"""Verilog of the PE array or of the whole accelerator, for Icarus, Verilator and synthesis
(``spikex verilog``)."""

from amaranth.back import verilog

from spikex.netfile import SpikexError

from .array import PEArray, check_array_parameters


__all__ = ["TOPLEVEL", "ACCELERATOR_TOPLEVEL", "array_parameters", "make_array", "generate",
           "accelerator_parameters", "make_accelerator", "generate_accelerator"]


TOPLEVEL = "spikex_array"
ACCELERATOR_TOPLEVEL = "spikex_top"


def array_parameters(rows=8, cols=8, tws_max=10, weight_bits=8, acc_bits=24, v_bits=16,
                     skip_bits=16):
    """The hardware parameters of the array as a dict, with the defaults filled in."""
    return dict(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                acc_bits=acc_bits, v_bits=v_bits, skip_bits=skip_bits)


def make_array(**parameters):
    """A :class:`PEArray`; a bad parameter raises :class:`SpikexError` naming it."""
    parameters = array_parameters(**parameters)
    try:
        check_array_parameters(**parameters)
    except (TypeError, ValueError) as error:
        raise SpikexError(f"array parameters: {error}") from None
    return PEArray(**parameters)


def generate(**parameters):
    """Verilog text of the array, top module ``spikex_array`` (ports: ``clk``, ``rst`` and the
    four streams, e.g. ``passes__payload``, ``passes__valid``, ``passes__ready``)."""
    array = make_array(**parameters)
    return verilog.convert(array, name=TOPLEVEL, emit_src=False)


def accelerator_parameters(rows=8, cols=8, tws_max=8, weight_bits=8, acc_bits=24, v_bits=16,
                           glb_kb=54, lbuf_kb=2, max_layers=8, data_width=32, max_timesteps=64,
                           max_entries=4096, glb_split=None, max_blocks=16):
    """The hardware parameters of the accelerator as a dict, with the defaults filled in."""
    return dict(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                acc_bits=acc_bits, v_bits=v_bits, glb_kb=glb_kb, lbuf_kb=lbuf_kb,
                max_layers=max_layers, data_width=data_width, max_timesteps=max_timesteps,
                max_entries=max_entries, max_blocks=max_blocks,
                glb_split=None if glb_split is None else tuple(glb_split))


def parse_glb_split(text, option="--glb-split"):
    """``S,W,O`` in KB (input spikes, weights, output spikes) as bytes; raises SpikexError."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(v > 0 for v in values):
        raise SpikexError(f"{option} must be three positive KB sizes S,W,O (input spikes, "
                          f"weights, output spikes), not {text!r}")
    return tuple(int(v * 1024) for v in values)


def make_accelerator(**parameters):
    """A :class:`hw.top.SpikeXAccelerator`; a bad parameter raises :class:`SpikexError` naming it."""
    from .top import SpikeXAccelerator
    try:
        return SpikeXAccelerator(**accelerator_parameters(**parameters))
    except (TypeError, ValueError) as error:
        raise SpikexError(f"accelerator parameters: {error}") from None


def generate_accelerator(**parameters):
    """Verilog text of the whole accelerator, top module ``spikex_top``: ``clk``, ``rst``, the
    AXI4 master ``m_axi_*``, the AXI4-Lite slave ``s_axil_*`` and ``irq_done``."""
    from .axi import verilog as axi_verilog
    return axi_verilog(make_accelerator(**parameters), ACCELERATOR_TOPLEVEL)
