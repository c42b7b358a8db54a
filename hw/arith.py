"""Small arithmetic the accelerator's blocks share."""

from amaranth.hdl import Mux


__all__ = ["times"]


def times(x, y, y_bits):
    """``x * y[:y_bits]`` as shifts and additions: a product by a small factor (``tws``, the
    words per input, the rows of a group, the bytes per weight) that needs no DSP block."""
    return sum(Mux(y[i], x << i, 0) for i in range(y_bits))
