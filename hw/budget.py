"""The area budget CI holds the design to: small designs synthesised for an LFE5U-25F, their
figures recorded in ``hw/fpga_budget.json``, and a test (``tests/test_synth.py``) that fails
when LUT4 or block RAM grow by more than :data:`TOLERANCE` over that record.

The whole accelerator takes about eight minutes in ``synth_ecp5`` on a 2-core machine, too
long for every CI run, so the budget holds what can be synthesised in seconds and accounts
for most of its area: the 2x2 PE array (the PEs' arithmetic and registers, about 12 s; serial, sparse and parallel PEs) and
the NTWU dispatcher at the size a 2x2 accelerator with a 4 KB GLB builds it (its list
memory is block RAM, and its arithmetic is the other large block, about 20 s).

Regenerate the record after a deliberate change of area, and say why in the commit::

    python -m hw.budget                  # all of them
    python -m hw.budget pe-array-2x2     # one, keeping the others
"""

import json
import sys
import tempfile
from pathlib import Path

from amaranth.back import verilog


__all__ = ["BUDGET_FILE", "TOLERANCE", "DEVICE", "DESIGNS", "design_verilog", "measure",
           "over_budget"]


BUDGET_FILE = Path(__file__).with_name("fpga_budget.json")
TOLERANCE = 0.10
DEVICE = "ecp5-25k"
GUARDED = ("lut4", "bram")


def _array(pe):
    from .verilog import TOPLEVEL, generate
    return generate(rows=2, cols=2, tws_max=4, pe=pe), TOPLEVEL


def _dispatcher():
    from .dispatch import NtwuDispatcher
    # As a 2x2 accelerator with a 4 KB GLB and 32-step words builds it (hw/top.py): 256
    # output positions, 512 input locations.
    dispatcher = NtwuDispatcher(cols=2, max_positions=256, max_locations=512, max_windows=32,
                                max_entries=4096, dim_bits=12)
    return verilog.convert(dispatcher, name="spikex_dispatcher", emit_src=False), \
        "spikex_dispatcher"


def _output_glb():
    from .output_glb import OutputGlb
    # As a 2x2 accelerator with a 4 KB GLB and 32-step words builds it (hw/top.py): 215
    # output words. Without ``no_rw_check`` on its memories (a read-first bypass for each)
    # it took 518 LUT4 and 377 flip-flops instead of 427 and 85: the budget catches that.
    glb = OutputGlb(cols=2, max_outputs=215, max_timesteps=32)
    return verilog.convert(glb, name="spikex_output_glb", emit_src=False), "spikex_output_glb"


# name -> (the design in words, a function giving its Verilog and top module).
DESIGNS = {
    "pe-array-2x2": ("2x2 PE array of serial PEs (tws_max 4)", lambda: _array("serial")),
    "pe-array-2x2-sparse": ("2x2 PE array of sparse PEs (tws_max 4)", lambda: _array("sparse")),
    "pe-array-2x2-parallel": ("2x2 PE array of parallel PEs (tws_max 4)",
                              lambda: _array("parallel")),
    "dispatcher-2x2-glb4k": ("NTWU dispatcher of a 2x2, 4 KB GLB accelerator", _dispatcher),
    "output-glb-2x2-glb4k": ("output GLB of a 2x2, 4 KB GLB accelerator", _output_glb),
}


def design_verilog(name):
    """``(verilog text, top module)`` of a guarded design."""
    return DESIGNS[name][1]()


def measure(name, workdir, progress=lambda line: None):
    """The synthesis figures ({resource: count}) of a guarded design, on :data:`DEVICE`."""
    from .synth import synthesise
    text, top = design_verilog(name)
    result = synthesise(text, top, DEVICE, what=DESIGNS[name][0], workdir=workdir,
                        place_and_route=False, progress=progress)
    return {key: value["used"] for key, value in result["resources"].items()}


def over_budget(figures, recorded):
    """Sentences naming each guarded resource more than :data:`TOLERANCE` above its record."""
    problems = []
    for key in GUARDED:
        limit = recorded[key] * (1 + TOLERANCE)
        if figures[key] > limit:
            problems.append(f"{key} {figures[key]:,} is more than {TOLERANCE:.0%} above the "
                            f"recorded {recorded[key]:,} (at most {int(limit):,})")
    return problems


def main(argv=sys.argv[1:]):
    """Synthesise the guarded designs named in ``argv`` (none: all) and write
    :data:`BUDGET_FILE`, keeping the others' records."""
    unknown = set(argv) - set(DESIGNS)
    if unknown:
        raise SystemExit(f"python -m hw.budget: no guarded design {sorted(unknown)}; "
                         f"they are {sorted(DESIGNS)}")
    record = {"command": "python -m hw.budget [DESIGN ...]", "device": DEVICE,
              "tolerance": TOLERANCE, "designs": {}}
    if argv and BUDGET_FILE.exists():
        record["designs"] = json.loads(BUDGET_FILE.read_text())["designs"]
    for name in argv or DESIGNS:
        with tempfile.TemporaryDirectory() as workdir:
            record["designs"][name] = measure(name, workdir, progress=lambda line: print(
                f"{name}: {line}", flush=True))
        print(f"{name}: {record['designs'][name]}")
    BUDGET_FILE.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {BUDGET_FILE}")


if __name__ == "__main__":
    sys.exit(main())
