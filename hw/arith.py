"""Small arithmetic the accelerator's blocks share."""

from amaranth.hdl import Mux, Signal


__all__ = ["times", "ReadAheadIndex"]


def times(x, y, y_bits):
    """``x * y[:y_bits]`` as shifts and additions: a product by a small factor (``tws``, the
    words per input, the rows of a group, the bytes per weight) that needs no DSP block."""
    return sum(Mux(y[i], x << i, 0) for i in range(y_bits))


class ReadAheadIndex:
    """An index (an SP-MB) whose next value addresses a synchronous read port (its tag),
    with ``index + 1`` and ``index == end`` registered beside it.

    Whether it restarts from 0 or advances is often known late in the cycle (a tag bit just
    read), so the next ``up`` and ``at_end`` are each chosen among values computed from
    registers alone: the late condition drives a multiplexer, not an adder and a compare.
    ``end`` must hold between a restart and the last use of ``at_end``; without an ``end``
    (``None``) there is no ``at_end``.

    Attributes
    ----------
    value : Signal(width)
        The index.
    next : Signal(width)
        Its value in the next cycle, for the read port's address.
    up : Signal(width)
        ``value + 1``.
    up_next : Signal(width)
        Its value in the next cycle (a read port's address, to read two ahead).
    at_end : Signal() or None
        ``value == end``.
    """

    def __init__(self, m, end, *, width=32, name):
        self.value = Signal(width, name=name)
        self.next = Signal(width, name=f"{name}_next")
        self.up = Signal(width, name=f"{name}_up")
        self.at_end = None if end is None else Signal(name=f"{name}_end")
        self._restart, self._advance = Signal(name=f"{name}_restart"), Signal(name=f"{name}_advance")
        restart, advance = self._restart, self._advance
        m.d.comb += self.next.eq(Mux(restart, 0, Mux(advance, self.up, self.value)))
        self.up_next = Signal(width, name=f"{name}_up_next")
        m.d.comb += self.up_next.eq(Mux(restart, 1, Mux(advance, self.up + 1, self.up)))
        m.d.sync += [self.value.eq(self.next), self.up.eq(self.up_next)]
        if end is not None:
            m.d.sync += self.at_end.eq(Mux(restart, end == 0,
                                           Mux(advance, self.up == end, self.at_end)))

    def follow(self, m, at_restart, at_advance, *, name):
        """A register that follows the index: ``at_restart`` after a restart, ``at_advance``
        after an advance (values in this cycle), held otherwise."""
        register = Signal(name=name)
        m.d.sync += register.eq(Mux(self._restart, at_restart,
                                    Mux(self._advance, at_advance, register)))
        return register

    def select(self, at_restart, at_advance, at_hold):
        """``at_restart`` after a restart, ``at_advance`` after an advance, else ``at_hold``
        (values in this cycle): a multiplexer on the late conditions, last, for values
        computed from registers (a read address made of ``up`` and a base, say)."""
        return Mux(self._restart, at_restart, Mux(self._advance, at_advance, at_hold))

    def restart(self, m):
        """In this cycle: 0 next."""
        m.d.comb += self._restart.eq(1)

    def advance(self, m):
        """In this cycle: ``value + 1`` next."""
        m.d.comb += self._advance.eq(1)
