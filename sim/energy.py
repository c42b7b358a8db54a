"""The per-access energy table of the analytic simulator (a TOML file).

The shipped table is ``sim/energy_32nm.toml``; a user may pass another file of the same
form. Every section needs its numbers and a ``source`` string saying where they come
from. Energies at another word width than the table's are scaled linearly with the width
(SRAM and register accesses per bit moved, adders per bit of width).
"""

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from spikex.netfile import SpikexError


__all__ = ["EnergyTable", "load_energy_table", "counter_energy", "SHIPPED_TABLE", "GLB_WIDTH_BITS",
           "LBUF_WIDTH_BITS"]


SHIPPED_TABLE = Path(__file__).with_name("energy_32nm.toml")

#: The word widths in which GLB and LBUF accesses are counted and costed.
GLB_WIDTH_BITS = LBUF_WIDTH_BITS = 64

_SECTIONS = {
    "dram": ("pj_per_bit",),
    "glb": ("pj_per_access", "width_bits"),
    "lbuf": ("pj_per_access", "width_bits"),
    "rf": ("pj_per_access", "width_bits"),
    "add": ("pj", "bits"),
    "compare": ("pj", "bits"),
}


@dataclass(frozen=True)
class EnergyTable:
    """Energies in pJ; ``*_width`` in bits. Build it with :func:`load_energy_table`."""
    source: str
    dram_pj_per_bit: float
    glb_pj: float
    glb_width: int
    lbuf_pj: float
    lbuf_width: int
    rf_pj: float
    rf_width: int
    add_pj: float
    add_bits: int
    compare_pj: float
    compare_bits: int

    def glb(self, width_bits):
        """Energy of one GLB access of ``width_bits``."""
        return self.glb_pj * width_bits / self.glb_width

    def lbuf(self, width_bits):
        """Energy of one LBUF access of ``width_bits``."""
        return self.lbuf_pj * width_bits / self.lbuf_width

    def rf(self, width_bits):
        """Energy of one register/scratchpad access of ``width_bits``."""
        return self.rf_pj * width_bits / self.rf_width

    def add(self, bits):
        """Energy of one ``bits``-wide addition."""
        return self.add_pj * bits / self.add_bits

    def compare(self, bits):
        """Energy of one ``bits``-wide comparison."""
        return self.compare_pj * bits / self.compare_bits


def load_energy_table(path=None):
    """Read and check an energy table; ``None`` reads the shipped 32 nm table."""
    path = SHIPPED_TABLE if path is None else Path(path)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as error:
        raise SpikexError(f"{path}: cannot read energy table: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpikexError(f"{path}: not a valid TOML file: {error}") from None
    values = {}
    for section, keys in _SECTIONS.items():
        entry = table.get(section)
        if not isinstance(entry, dict):
            raise SpikexError(f"{path}: missing section [{section}]")
        if not isinstance(entry.get("source"), str) or not entry["source"].strip():
            raise SpikexError(f"{path}: [{section}] needs a 'source' string saying where its numbers come from")
        for key in keys:
            value = entry.get(key)
            integral = key in ("width_bits", "bits")
            kind = int if integral else (int, float)
            if value is None:
                raise SpikexError(f"{path}: [{section}] is missing key '{key}'")
            if isinstance(value, float) and math.isinf(value):
                raise SpikexError(f"{path}: [{section}] {key} must be finite, not {value!r}")
            if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
                expected = "a positive integer" if integral else "a positive number"
                raise SpikexError(f"{path}: [{section}] {key} must be {expected}, not {value!r}")
            values[f"{section}.{key}"] = value
    return EnergyTable(
        source=str(path),
        dram_pj_per_bit=float(values["dram.pj_per_bit"]),
        glb_pj=float(values["glb.pj_per_access"]), glb_width=values["glb.width_bits"],
        lbuf_pj=float(values["lbuf.pj_per_access"]), lbuf_width=values["lbuf.width_bits"],
        rf_pj=float(values["rf.pj_per_access"]), rf_width=values["rf.width_bits"],
        add_pj=float(values["add.pj"]), add_bits=values["add.bits"],
        compare_pj=float(values["compare.pj"]), compare_bits=values["compare.bits"])


def counter_energy(counters, table, acc_bits):
    """Energy (pJ) of one layer from the accelerator's counters, by component.

    The one energy function of the RTL and of its analytic model (``memory="rtl"``, whose
    counters equal the RTL's): each counted access costs its table entry: DRAM bytes at
    pJ/bit, GLB and LBUF accesses at their word width (:data:`GLB_WIDTH_BITS`,
    :data:`LBUF_WIDTH_BITS`), psum scratchpad accesses at ``acc_bits``, and one
    ``acc_bits`` addition per accumulation (``acc_ops``). Returns ``{"dram", "glb",
    "lbuf", "rf", "alu"}``.
    """
    c = counters
    return {
        "dram": float((c["dram_read_bytes"] + c["dram_write_bytes"]) * 8 * table.dram_pj_per_bit),
        "glb": float((c["glb_reads"] + c["glb_writes"]) * table.glb(GLB_WIDTH_BITS)),
        "lbuf": float((c["lbuf_reads"] + c["lbuf_writes"]) * table.lbuf(LBUF_WIDTH_BITS)),
        "rf": float(c["scratchpad_accesses"] * table.rf(acc_bits)),
        "alu": float(c["acc_ops"] * table.add(acc_bits)),
    }
