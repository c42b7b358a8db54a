"""``spikex figures`` at the reduced size: PNGs and the markdown table are written."""

import argparse

from sim.cli import register


def test_figures_command_writes_pngs_and_table(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["figures", "-o", str(tmp_path / "figs")])
    args.func(args)
    out = tmp_path / "figs"
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["fig10_dvsg_medium_conv2.png", "fig11_dvsg_large_conv2.png",
                    "fig12_fc_breakdown.png", "fig9_nmnist_conv1.png"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "figures.md").read_text()
    for heading in ("## Fig. 9", "## Fig. 10", "## Fig. 11", "## Fig. 12"):
        assert heading in table
    assert "-46.6%" in table and "7.11x" in table
    assert "wrote 6 files" in capsys.readouterr().out
