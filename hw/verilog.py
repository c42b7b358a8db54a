"""Verilog of the PE array, for Icarus, Verilator and synthesis (``spikex verilog``)."""

from amaranth.back import verilog

from spikex.netfile import SpikexError

from .array import PEArray, check_array_parameters


__all__ = ["TOPLEVEL", "array_parameters", "make_array", "generate"]


TOPLEVEL = "spikex_array"


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
