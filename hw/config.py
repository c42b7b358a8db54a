"""The accelerator's hardware parameters and their defaults, in one place.

``spikex verilog`` and ``spikex synth`` (hw/cli.py), the accelerator itself
(``hw.top.SpikeXAccelerator``), the RTL runners (``sim/configure.py``, ``sim/rtl.py``) and
the analytic model (``sim.schedule.Hardware``) all take their defaults from
:data:`DEFAULTS`. No Amaranth here, so the analytic simulator does not need it.
"""

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

__all__ = ["PE_KINDS", "DATA_WIDTHS", "AcceleratorConfig", "DEFAULTS", "ARRAY_FIELDS", "SKIP_BITS",
           "CLOCK_MHZ", "FIRE_STEP_CYCLES", "check_pe", "accelerator_config", "beat_cycles"]


#: The processing elements the array can be built of (``hw.pe.ProcessingElement``):
#: ``serial``, one accumulator and a LUT-RAM scratchpad, a beat in ``tws`` cycles, one time
#: point each; ``sparse``, the same visiting only the set bits of its word, a beat in as
#: many cycles as the most set bits of any column's word (at least one); ``parallel``, an
#: adder and a register per time point, a beat in one cycle.
PE_KINDS = ("serial", "sparse", "parallel")

#: The AXI data widths the DRAM port takes (``data_width``), in bits.
DATA_WIDTHS = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class AcceleratorConfig:
    """The parameters the accelerator is elaborated with (paper §V-A: 8x8 PEs, 54 KB GLB,
    2 KB LBUF).

    rows, cols : PE array.
    tws_max : largest time-window size a PE integrates.
    pe : the processing element, one of :data:`PE_KINDS` (:func:`beat_cycles`). The
        default, ``sparse``, takes the serial PE's area (about 5% more LUT4 at 2x2) and clock
        for about a third of its cycles on N-MNIST (README, "The PE").
    weight_bits, acc_bits, v_bits : weight, partial-sum and membrane widths.
    glb_kb, lbuf_kb : global and local buffer sizes.
    glb_split : bytes of the GLB for input spikes, weights and output spikes (None: half, a
        quarter and a quarter; ``hw.limits.GLB_SHARES``).
    max_layers : layers with counter registers.
    data_width : AXI4 data width.
    max_timesteps : steps of one GLB spike word (a time block).
    max_blocks : time blocks of a sample (1: no time blocks, no state memory).
    max_entries : active NTWUs of a layer and sample (dispatcher list depth).
    """
    rows: int = 8
    cols: int = 8
    tws_max: int = 10
    pe: str = "sparse"
    weight_bits: int = 8
    acc_bits: int = 24
    v_bits: int = 16
    glb_kb: float = 54.0
    lbuf_kb: float = 2.0
    glb_split: tuple = None
    max_layers: int = 8
    data_width: int = 32
    max_timesteps: int = 64
    max_blocks: int = 16
    max_entries: int = 4096


DEFAULTS = AcceleratorConfig()

#: The parameters of the PE array alone (``hw.array.PEArray``), with :data:`SKIP_BITS`.
ARRAY_FIELDS = ("rows", "cols", "tws_max", "weight_bits", "acc_bits", "v_bits", "pe")

#: Width of a PE's skipped-step count.
SKIP_BITS = 16

#: The clock latency and EDP are quoted at, in MHz (our choice; the paper gives none).
CLOCK_MHZ = 500.0


#: Cycles of one firing step of a PE (a decay step or a fired time point,
#: ``hw.pe.ProcessingElement``): the first latches the operands (the membrane, its shift
#: by ``leak_shift``, ``psum[t]``), the second adds, compares and resets. Two cycles cut
#: the membrane loop, which in one cycle bounded the array's clock (about 72 MHz on an ECP5).
FIRE_STEP_CYCLES = 2


def check_pe(pe):
    """Raise :exc:`ValueError` unless ``pe`` is one of :data:`PE_KINDS`."""
    if pe not in PE_KINDS:
        raise ValueError(f"pe must be one of {', '.join(PE_KINDS)}, not {pe!r}")


def beat_cycles(tws, pe, most_bits=0):
    """Cycles the PE array takes a beat in (``hw.pe.ProcessingElement``,
    ``hw.array.PEArray``): ``tws`` for the serial PE, 1 for the parallel one, and for the
    sparse PE the most set bits of any column's spike word of the beat (``most_bits``, an
    int or a numpy array of them), at least one. The gather writes this figure into each
    LBUF entry (``hw.gather``), the array paces its beats by it."""
    check_pe(pe)
    if pe == "parallel":
        return 1
    if pe == "sparse":
        return np.maximum(1, most_bits)
    return tws


def accelerator_config(**given):
    """:data:`DEFAULTS` with the ``given`` parameters (None: the default) replaced; an
    unknown name raises :exc:`TypeError`."""
    names = {f.name for f in fields(AcceleratorConfig)}
    unknown = set(given) - names
    if unknown:
        raise TypeError(f"unknown accelerator parameters {sorted(unknown)}")
    config = replace(DEFAULTS, **{k: v for k, v in given.items() if v is not None})
    check_pe(config.pe)
    if config.glb_split is not None:
        config = replace(config, glb_split=tuple(config.glb_split))
    return config


def as_dict(config):
    """``config`` as a plain dict (for JSON and ``**`` calls)."""
    return asdict(config)
