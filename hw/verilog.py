"""Verilog of the PE array or of the whole accelerator, for Icarus, Verilator and synthesis
(``spikex verilog``)."""

from amaranth.back import verilog

from spikex.netfile import SpikexError

from .array import PEArray, check_array_parameters
from .config import ARRAY_FIELDS, SKIP_BITS, accelerator_config, as_dict


__all__ = ["TOPLEVEL", "ACCELERATOR_TOPLEVEL", "array_parameters", "make_array", "generate",
           "accelerator_parameters", "make_accelerator", "generate_accelerator"]


TOPLEVEL = "spikex_array"
ACCELERATOR_TOPLEVEL = "spikex_top"


def array_parameters(skip_bits=SKIP_BITS, **given):
    """The hardware parameters of the array as a dict, with the defaults (hw/config.py)
    filled in."""
    unknown = set(given) - set(ARRAY_FIELDS)
    if unknown:
        raise TypeError(f"unknown array parameters {sorted(unknown)}")
    config = accelerator_config(**given)
    return {name: getattr(config, name) for name in ARRAY_FIELDS} | {"skip_bits": skip_bits}


def make_array(**parameters):
    """A :class:`PEArray`; a bad parameter raises :class:`SpikexError` naming it."""
    parameters = array_parameters(**parameters)
    try:
        check_array_parameters(**{name: value for name, value in parameters.items()
                                  if name != "pe"})
    except (TypeError, ValueError) as error:
        raise SpikexError(f"array parameters: {error}") from None
    return PEArray(**parameters)


def generate(**parameters):
    """Verilog text of the array, top module ``spikex_array`` (ports: ``clk``, ``rst`` and the
    four streams, e.g. ``passes__payload``, ``passes__valid``, ``passes__ready``)."""
    array = make_array(**parameters)
    return verilog.convert(array, name=TOPLEVEL, emit_src=False)


def accelerator_parameters(**given):
    """The hardware parameters of the accelerator as a dict, with the defaults (hw/config.py)
    filled in."""
    return as_dict(accelerator_config(**given))


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
