"""Does the layer's ``tws`` divide the run's time steps and its time block? (error 8, E_TWS)

A variable divider (``T % tws``) on the controller's DERIVE state was the accelerator's
critical path. ``T`` and the block are known once per run, ``tws`` only with each layer's
descriptor, so :class:`TwsDivisibility` computes, for every constant ``t`` in
``1 .. tws_max`` at once, the residues of ``T`` and of the block modulo ``t``, one bit a
cycle from the most significant::

    r_t <- (2 * r_t + bit) mod t        (2 * r_t + bit < 2t: one compare and subtract)

a few LUTs per ``t``. The divisibility mask (``r_t == 0``) is then indexed by the run-time
``tws``: a small multiplexer.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.pe import check_parameter


__all__ = ["TwsDivisibility"]


class TwsDivisibility(wiring.Component):
    """``tws`` divides both ``steps`` and ``block``, from residues computed bit-serially.

    Parameters
    ----------
    tws_max : int
        Largest time-window size: the divisors ``1 .. tws_max``.
    steps_bits : int
        Width of ``steps`` (and of ``block``): the cycles the residues take.

    Ports
    -----
    start : In(1)
        Pulse: sample ``steps`` and ``block`` and compute their residues.
    steps, block : In(steps_bits)
        The run's time steps ``T`` and its time block (``T`` when the sample is one block).
    tws : In(range(tws_max + 1))
        The layer's time-window size; any value, ``divides`` is low outside ``1 .. tws_max``.
    divides : Out(1)
        ``tws`` is in ``1 .. tws_max`` and divides ``steps`` and ``block`` (combinational
        from ``tws``).

    Latency: ``divides`` is valid ``steps_bits`` cycles after the ``start`` pulse (from the
    cycle after the last shift) and stays valid until the next ``start``; before that it
    answers for the previous ``steps`` and ``block``, or a partial residue.
    """

    def __init__(self, *, tws_max, steps_bits):
        check_parameter("tws_max", tws_max)
        check_parameter("steps_bits", steps_bits)
        self.tws_max, self.steps_bits = tws_max, steps_bits
        super().__init__({
            "start": In(1),
            "steps": In(steps_bits),
            "block": In(steps_bits),
            "tws": In(range(tws_max + 1)),
            "divides": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.steps_bits
        steps, block = Signal(width), Signal(width)     # shifted left, MSB first
        left = Signal(range(width + 1))                 # bits still to take
        residues = {t: (Signal(range(t), name=f"steps_mod_{t}"),
                        Signal(range(t), name=f"block_mod_{t}"))
                    for t in range(2, self.tws_max + 1)}

        with m.If(self.start):
            m.d.sync += [steps.eq(self.steps), block.eq(self.block), left.eq(width)]
            m.d.sync += [r.eq(0) for pair in residues.values() for r in pair]
        with m.Elif(left != 0):
            m.d.sync += [steps.eq(steps << 1), block.eq(block << 1), left.eq(left - 1)]
            for t, pair in residues.items():
                for r, value in zip(pair, (steps, block)):
                    doubled = (r << 1) | value[-1]
                    m.d.sync += r.eq(Mux(doubled < t, doubled, doubled - t))

        with m.Switch(self.tws):
            with m.Case(1):
                m.d.comb += self.divides.eq(1)
            for t, (steps_mod, block_mod) in residues.items():
                with m.Case(t):
                    m.d.comb += self.divides.eq((steps_mod == 0) & (block_mod == 0))
        return m
