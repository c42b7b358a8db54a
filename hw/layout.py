"""What software and the accelerator must agree on, word by word: the DRAM image's header
and layer descriptor (by name), and the names of the per-layer counter registers.

The packer (``sim/image.py``), the accelerator's controller (``hw/top.py``), the analytic
model of its memory traffic (``sim/schedule.py``) and the RTL runners (``sim/rtl.py``)
all take them from here; docs/image.md and docs/accelerator.md describe them for people.
No Amaranth here, so the analytic simulator does not need it.
"""

__all__ = ["MAGIC", "VERSION", "HEADER_FIELDS", "HEADER_WORDS", "DESCRIPTOR_FIELDS",
           "DESCRIPTOR_WORDS", "SPMB_FC_FEATURES", "COUNTER_NAMES", "Fields", "pack_words"]


MAGIC = 0x584B5053          # the bytes b"SPKX" read as a little-endian word
VERSION = 1

#: fc inputs per SP-MB (an fc layer's spatio-temporal memory block; docs/dataflow.md).
SPMB_FC_FEATURES = 16

#: The run header, one 32-bit word per field, at the image's base.
HEADER_FIELDS = (
    "magic",                # MAGIC
    "version",              # VERSION
    "layers",               # number of layers K
    "batch",                # samples B
    "timesteps",            # time steps T
    "weight_bits",
    "v_bits",
    "weight_bytes",         # bytes per weight: 1 for weight_bits <= 8, else 2
    "descriptors",          # address of the descriptor table
    "descriptor_words",     # words per descriptor (DESCRIPTOR_WORDS)
    "time_block",           # steps per time block; 0: one block of T steps
)
HEADER_WORDS = 16

#: A layer descriptor, one 32-bit word per field; an fc layer is a 1x1 convolution of
#: ``in_channels`` inputs of size 1x1.
DESCRIPTOR_FIELDS = (
    "kind",                 # 0 conv, 1 fc
    "in_channels",          # C (fc: N)
    "in_h", "in_w",         # H, W
    "out_channels",         # M
    "out_h", "out_w",       # R, R'
    "kernel",               # E
    "stride",
    "padding",
    "threshold",
    "leak_shift",
    "tws",
    "fan_in",               # F = C * E * E
    "in_group",             # inputs per SP-MB of this layer's input
    "weights",              # address of the weights
    "weight_row_bytes",     # bytes per weight row (one output channel)
    "in_spikes", "in_sample_bytes",
    "in_tags", "in_tag_sample_bytes",
    "out_spikes", "out_sample_bytes",
    "out_tags", "out_tag_sample_bytes",
    "out_group",            # inputs per SP-MB of the output (the next layer's grouping)
)
DESCRIPTOR_WORDS = 32

#: The per-layer counters, in register order: counter ``j`` of layer ``k`` is register-file
#: counter ``k * len(COUNTER_NAMES) + j`` (hw/axi.py ``ControlRegisters``).
COUNTER_NAMES = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
                 "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
                 "lbuf_reads", "lbuf_writes", "scratchpad_accesses")

assert len(HEADER_FIELDS) <= HEADER_WORDS and len(DESCRIPTOR_FIELDS) <= DESCRIPTOR_WORDS


class Fields:
    """Named access to the words of a header or descriptor.

    ``Fields(words, HEADER_FIELDS).timesteps`` is ``words[4]``; ``words`` is anything
    indexable (an Amaranth ``Array`` of signals in the controller, a list in a test).
    """

    def __init__(self, words, names):
        self._words, self._index = words, {name: i for i, name in enumerate(names)}

    def __getattr__(self, name):
        try:
            return self._words[self._index[name]]
        except KeyError:
            raise AttributeError(f"no field {name!r}") from None


def pack_words(names, count, **values):
    """The ``count`` words of a header or descriptor, each field of ``names`` from ``values``
    (every one required), the rest zero."""
    missing = set(names) - set(values)
    extra = set(values) - set(names)
    if missing or extra:
        raise TypeError(f"fields missing {sorted(missing)}, unknown {sorted(extra)}")
    return [int(values[name]) for name in names] + [0] * (count - len(names))
