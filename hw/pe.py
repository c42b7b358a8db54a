"""The SpikeX processing element (paper §III-A, Fig. 1(b)).

A PE does one neuro-temporal work unit (NTWU): one output neuron over one time window of
``tws`` time points, with one reusable accumulator, a scratchpad of ``tws_max`` partial sums
and one comparator. Numerics are those of SPEC §1::

    step 1  psum[t] += w               for each streamed input whose spike bit t is set
    step 2  u = decay(u)               once per skipped time step (early exit at decay(u) == u)
            v = sat(decay(u) + psum[t]),  s[t] = v >= threshold,  u = 0 if s[t] else v
    step 3  the window's spike bits s[0 .. tws-1] are the PE's output

    decay(u) = u if leak_shift == 0 else u - (u >> leak_shift)

Step 1 costs ``tws`` cycles per input (one time point per cycle, ``psum[t] += w`` only when
bit ``t`` is set), one cycle with ``parallel`` (an adder per time point), or with ``sparse``
one cycle per set bit (the serial PE visiting only the set bits); steps 2 and 3
cost ``FIRE_STEP_CYCLES * (decay cycles + tws)`` cycles (``hw.config.FIRE_STEP_CYCLES``, 2:
each decay step and each time point latches its operands in one cycle and adds them in the
next).
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out


__all__ = ["check_parameter", "config_layout", "WeightLink", "SpikeLink", "MembraneLink",
           "ProcessingElement"]


def check_parameter(name, value, minimum=1, maximum=None):
    """Raise if ``value`` is not an integer in ``minimum .. maximum``; the message names the value."""
    if minimum == 1 and maximum is None:
        expected = "a positive integer"
    elif maximum is None:
        expected = f"an integer of at least {minimum}"
    else:
        expected = f"an integer in {minimum}..{maximum}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}, not {value!r}")


def config_layout(tws_max, v_bits):
    """Per-layer run-time parameters, the same for every PE of a pass."""
    return data.StructLayout({
        "tws": range(tws_max + 1),              # 1 .. tws_max time points per window
        "threshold": unsigned(v_bits - 1),      # 1 .. 2**(v_bits-1) - 1
        "leak_shift": range(v_bits),            # 0 .. v_bits-1; 0 is an IF neuron
    })


class WeightLink(wiring.Signature):
    """A weight moving one PE to the right; ``valid`` marks the first cycle of a beat."""

    def __init__(self, weight_bits):
        super().__init__({"valid": Out(1), "weight": Out(signed(weight_bits))})


class SpikeLink(wiring.Signature):
    """A spike word moving one PE down: bit ``t`` is the input spike at time point ``t`` of the window."""

    def __init__(self, tws_max):
        super().__init__({"word": Out(tws_max)})


class MembraneLink(wiring.Signature):
    """A PE's membrane handed to its right neighbour, final once ``done`` is set."""

    def __init__(self, v_bits):
        super().__init__({"done": Out(1), "membrane": Out(signed(v_bits))})


def _carry_save(m, a, b, c, carry_in, width, extend=(True, True, True)):
    """A 3:2 compressor: ``(partial, carry)`` of ``width`` bits with ``a + b + c + carry_in``
    equal to ``partial + carry`` modulo ``2**width``; each operand is sign-extended to
    ``width`` (zero-extended where ``extend`` says False), and ``carry_in`` takes the carry
    word's free low bit."""
    ops = []
    for value, signed_ in zip((a, b, c), extend):
        op = Signal(width)
        m.d.comb += op.eq(value.as_signed() if signed_ else value.as_unsigned())
        ops.append(op)
    x, y, z = ops
    partial, carry = Signal(width), Signal(width)
    m.d.comb += [
        partial.eq(x ^ y ^ z),
        carry.eq(Cat(carry_in, ((x & y) | (x & z) | (y & z))[:width - 1])),
    ]
    return partial, carry


def _lowest_bit(m, value):
    """The index of the lowest set bit of ``value`` (0 if none): ``value & -value`` (a carry
    chain) isolates it, and each index bit is the OR of the one-hot bits whose index has
    it set."""
    width = len(value)
    one_hot = Signal(width)
    m.d.comb += one_hot.eq(value & (~value + 1))
    index = Signal(range(width))
    m.d.comb += index.eq(Cat(Cat(one_hot[i] for i in range(width) if i >> k & 1).any()
                             for k in range(len(index))))
    return index


def _shift_right(m, value, amount, enable):
    """``value >> amount`` (arithmetic), or 0 without ``enable``: a mux stage per bit of
    ``amount``."""
    stage = Signal(signed(len(value)))
    m.d.comb += stage.eq(Mux(enable, value, 0))
    for k in range(len(amount)):
        shifted = Signal(signed(len(value)))
        m.d.comb += shifted.eq(Mux(amount[k], stage >> (1 << k), stage))
        stage = shifted
    return stage


class ProcessingElement(wiring.Component):
    """One PE of the systolic array: integrate, then fire, one NTWU per pass.

    Parameters
    ----------
    tws_max : int
        Largest time-window size (scratchpad depth, spike word width).
    weight_bits, acc_bits, v_bits : int
        Widths of a weight, of a partial sum (the accumulator) and of the membrane.
    skip_bits : int
        Width of the skipped-step count.
    parallel : bool
        False: one accumulator and a scratchpad of ``tws_max`` partial sums (LUT RAM); a
        beat takes ``tws`` cycles, one time point each. True: a register and an adder per
        time point; a beat takes one cycle, every set bit at once (``hw.config.beat_cycles``).
    sparse : bool
        With ``parallel`` False: the accumulator visits only the word's set bits, lowest
        first, one a cycle (a beat of ``n`` set bits takes ``n`` cycles; an all-zero word
        none). The array paces the beats by the most set bits of any column.
        (``hw.config.PE_KINDS``: serial is neither, sparse and parallel exclude each other.)

    Ports
    -----
    west : In(WeightLink)
        A beat's weight, ``valid`` for one cycle when the beat arrives. The PE latches it and
        integrates over the next ``beat_cycles`` cycles; a new beat may arrive on the last of
        them.
    north : In(SpikeLink)
        The same beat's spike word, arriving in the same cycle as ``west.valid``.
    east : Out(WeightLink), south : Out(SpikeLink)
        The latched beat, one cycle after it arrived (to the right and lower neighbours).
    params : In(config_layout)
        ``tws``, ``threshold``, ``leak_shift``; held for the whole pass.
    load : In(1)
        Start of a pass: ``membrane_in`` and ``skip`` are sampled, the spikes cleared.
    membrane_in : In(signed(v_bits)), skip : In(skip_bits)
        Starting membrane and number of skipped time steps to decay first.
    chain : In(1)
        Held for the pass: start from ``prev.membrane`` once ``prev.done`` (the left
        neighbour ran the previous window of the same neuron) instead of ``membrane_in``;
        ``skip`` then counts the steps skipped since that window.
    fire : In(1)
        Level: integration is over in the whole array; run steps 2 and 3.
    prev : In(MembraneLink)
        The left neighbour's ``link``.
    link : Out(MembraneLink)
        ``done`` once the window is fired (held until the next ``load``) and the membrane
        after the window's last time point.
    spikes : Out(tws_max)
        Bit ``t``: spike at time point ``t`` of the window; valid once ``link.done``.

    Latency: a beat arriving in cycle ``a`` is integrated in cycles ``a+1 .. a+beat_cycles``
    (``beat_cycles``: ``tws``, 1 if ``parallel``, its word's set bits if ``sparse``). Once
    firing may start, the PE takes ``FIRE_STEP_CYCLES * (d + tws)`` cycles (2 per decay step
    and per time point), ``d = min(skip, steps to reach a fixed point of decay)``, and
    ``link.done`` rises in the cycle after its last one. Firing starts
    when ``fire`` is high and, if ``chain``, ``prev.done`` is high, with no cycle lost in the
    hand-over.
    """

    def __init__(self, *, tws_max, weight_bits, acc_bits, v_bits, skip_bits, parallel=False,
                 sparse=False):
        if parallel and sparse:
            raise ValueError("a PE is parallel or sparse, not both")
        self.tws_max = tws_max
        self.parallel = bool(parallel)
        self.sparse = bool(sparse)
        self.weight_bits = weight_bits
        self.acc_bits = acc_bits
        self.v_bits = v_bits
        self.skip_bits = skip_bits
        self.scratchpad_data = MemoryData(shape=signed(acc_bits), depth=tws_max, init=[])
        super().__init__({
            "west": In(WeightLink(weight_bits)),
            "north": In(SpikeLink(tws_max)),
            "east": Out(WeightLink(weight_bits)),
            "south": Out(SpikeLink(tws_max)),
            "params": In(config_layout(tws_max, v_bits)),
            "load": In(1),
            "membrane_in": In(signed(v_bits)),
            "skip": In(skip_bits),
            "chain": In(1),
            "fire": In(1),
            "prev": In(MembraneLink(v_bits)),
            "link": Out(MembraneLink(v_bits)),
            "spikes": Out(tws_max),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.params

        # Step 1: integrate one beat, over tws cycles (serial) or in one (parallel).
        weight = Signal(signed(self.weight_bits))
        word = Signal(self.tws_max)
        integrating = Signal()
        t_in = Signal(range(self.tws_max))
        t_out = Signal(range(self.tws_max))
        forward = Signal()
        m.d.sync += forward.eq(self.west.valid)
        m.d.comb += [
            self.east.valid.eq(forward),
            self.east.weight.eq(weight),
            self.south.word.eq(word),
        ]
        # ``psum_fired`` is psum[t_out], read by the firing step; ``clear`` (comb) zeroes it,
        # which leaves the scratchpad zero for the next pass without extra cycles.
        psum_fired = Signal(signed(self.acc_bits))
        clear = Signal()
        if self.parallel:
            # A register per time point and an adder each: the beat's set bits all at once.
            psums = [Signal(signed(self.acc_bits), name=f"psum{t}") for t in range(self.tws_max)]
            m.d.comb += psum_fired.eq(Array(psums)[t_out])
            with m.If(integrating):
                m.d.sync += integrating.eq(0)
                for t, psum in enumerate(psums):
                    with m.If(word[t] & (t < config.tws)):
                        m.d.sync += psum.eq(psum + weight)
            for t, psum in enumerate(psums):
                with m.If(clear & (t_out == t)):
                    m.d.sync += psum.eq(0)
        else:
            # The scratchpad: psum[t] is read and written back in the same cycle, so the
            # one accumulator serves every time point.
            m.submodules.scratchpad = scratchpad = Memory(data=self.scratchpad_data)
            psum = scratchpad.read_port(domain="comb")
            psum_write = scratchpad.write_port()
            # The read address does not wait for the firing step's decision.
            m.d.comb += [psum.addr.eq(Mux(integrating, t_in, t_out)), psum_fired.eq(psum.data)]
            if self.sparse:
                # ``remaining``: the set bits not yet added, ``t_in`` the lowest of them
                # (kept a cycle ahead, so the scratchpad address is a register).
                remaining = Signal(self.tws_max)
                rest = Signal(self.tws_max)
                m.d.comb += rest.eq(remaining & (remaining - 1))
                with m.If(integrating):
                    m.d.comb += [
                        psum_write.addr.eq(t_in),
                        psum_write.data.eq(psum.data + weight),
                        psum_write.en.eq(1),
                    ]
                    m.d.sync += [remaining.eq(rest), t_in.eq(_lowest_bit(m, rest)),
                                 integrating.eq(rest != 0)]
            else:
                with m.If(integrating):
                    m.d.comb += [
                        psum_write.addr.eq(t_in),
                        psum_write.data.eq(psum.data + weight),
                        psum_write.en.eq(word.bit_select(t_in, 1)),
                    ]
                    m.d.sync += t_in.eq(t_in + 1)
                    with m.If(t_in == config.tws - 1):
                        m.d.sync += integrating.eq(0)
            with m.If(clear):
                m.d.comb += [psum_write.addr.eq(t_out), psum_write.data.eq(0), psum_write.en.eq(1)]
        with m.If(self.west.valid):
            m.d.sync += [
                weight.eq(self.west.weight),
                word.eq(self.north.word),
                t_in.eq(0),
                integrating.eq(1),
            ]
            if self.sparse and not self.parallel:
                # The word's bits at or above tws are zero (the gather cuts the window).
                incoming = self.north.word
                m.d.sync += [remaining.eq(incoming), t_in.eq(_lowest_bit(m, incoming)),
                             integrating.eq(incoming != 0)]

        # Steps 2 and 3: decay over the skipped steps, then one time point per cycle.
        membrane = Signal(signed(self.v_bits))
        skip_left = Signal(self.skip_bits)
        started = Signal()
        done = Signal()
        spikes = Signal(self.tws_max)
        m.d.comb += [
            self.link.done.eq(done),
            self.link.membrane.eq(membrane),
            self.spikes.eq(spikes),
        ]

        # Each firing step (a decay step or a time point) takes FIRE_STEP_CYCLES = 2 cycles,
        # so that the membrane loop is cut by a register. The first (``phase`` 0) latches
        # ``decay(u) = u - sh`` with ``sh = u >> leak_shift`` (0 for an IF neuron; ``u`` from
        # ``prev`` at the start of a chain), ``psum[t]`` clamped (below), and whether this
        # step is a decay step (one changes the membrane iff ``sh != 0``). The second adds
        # them (a decay step takes psum as 0); the threshold compare is a carry-save stage
        # and a second adder beside the first, not after it. Saturation needs no compare
        # either: threshold <= v_max, so the sum fires whenever it would saturate high, and a
        # sum that fires is not kept. So psum[t] may be clamped to v_bits + 1 bits: beyond
        # them the sum saturates, and fires or not, as the exact sum does.
        phase = Signal()
        # ``leaky``: leak_shift != 0 (an IF neuron's decay is the identity).
        leaky = Signal()
        m.d.sync += leaky.eq(config.leak_shift != 0)
        current = Signal(signed(self.v_bits))
        m.d.comb += current.eq(Mux(self.chain & ~started, self.prev.membrane, membrane))
        # ``decayed`` fits v_bits: for a shift of at least 1 it lies between u / 2 and u.
        sh = _shift_right(m, current, config.leak_shift, leaky)
        decayed = Signal(signed(self.v_bits))
        addend = Signal(signed(self.v_bits + 1))
        decaying = Signal()
        a_max, a_min = 2 ** self.v_bits - 1, -2 ** self.v_bits
        clamped = Signal(signed(self.v_bits + 1))
        high = psum_fired[self.v_bits:]          # the sign and the bits above v_bits + 1
        m.d.comb += clamped.eq(Mux(high.all() | ~high.any(), psum_fired,
                                   Mux(psum_fired[-1], a_min, a_max)))
        width = self.v_bits + 3
        total = Signal(signed(width))
        m.d.comb += total.eq(decayed + addend)
        threshold = Signal(width)
        m.d.comb += threshold.eq(config.threshold)
        partial_t, carry_t = _carry_save(m, decayed, addend, ~threshold, 1, width,
                                         extend=(True, True, False))
        less = Signal(signed(width))
        m.d.comb += less.eq(partial_t.as_signed() + carry_t.as_signed())
        spike = ~less[-1]                       # total - threshold >= 0
        # Not firing: total < threshold <= v_max, so only the low bound can saturate.
        v_min = -2 ** (self.v_bits - 1)
        kept = Signal(signed(self.v_bits))
        underflow = total[-1] & ~total[self.v_bits - 1:].all()
        m.d.comb += kept.eq(Mux(underflow, v_min, total))

        step = self.fire & ~done & (~self.chain | self.prev.done)
        with m.If(step):
            m.d.sync += [started.eq(1), phase.eq(~phase)]
            with m.If(~phase):
                # A decay step changes the membrane iff u >> leak_shift != 0.
                decay_step = (skip_left != 0) & sh.any()
                m.d.sync += [
                    decayed.eq(current - sh),
                    addend.eq(Mux(decay_step, 0, clamped)),
                    decaying.eq(decay_step),
                ]
            with m.Elif(decaying):
                m.d.sync += [membrane.eq(total), skip_left.eq(skip_left - 1)]
            with m.Else():
                m.d.comb += clear.eq(1)
                # A fixed point ends the skipped steps early: none are left after the
                # window's first time point.
                m.d.sync += [
                    skip_left.eq(0),
                    membrane.eq(Mux(spike, 0, kept)),
                    spikes.bit_select(t_out, 1).eq(spike),
                    t_out.eq(t_out + 1),
                ]
                with m.If(t_out == config.tws - 1):
                    m.d.sync += done.eq(1)
        with m.If(self.load):
            m.d.sync += [
                membrane.eq(self.membrane_in),
                skip_left.eq(self.skip),
                t_out.eq(0),
                started.eq(0),
                phase.eq(0),
                done.eq(0),
                spikes.eq(0),
            ]
        return m
