"""Fuzzing the command line (SPEC §4, §5): broken network files and argument lists.

Whatever goes in, ``spikex`` either succeeds or prints exactly one line on stderr, exits
non-zero and leaves nothing in the output folder (no result, no temporary file); it never
fails with a traceback or an "internal error". Hypothesis breaks a valid network file
(bytes truncated or flipped, arrays replaced by other dtypes, shapes, NaN, infinities or
Python objects, keys dropped or added, layer parameters and labels changed) and draws
argument lists. The cases it found, and those of issue 16, are kept in
``tests/fuzz_corpus/`` and replayed by :func:`test_corpus_file_is_refused_in_one_line`.
Only the golden and analytic backends run here.
"""

import errno
import io
import json
import os
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from sim.energy import SHIPPED_TABLE
from spikex import netfile
from spikex.cli import main
from spikex.example import example_network

CORPUS = Path(__file__).parent / "fuzz_corpus"
BACKENDS = ("golden", "analytic")
# SPIKEX_FUZZ_EXAMPLES=3000 for a longer campaign; 300 keeps the file well under a minute.
FUZZ = settings(max_examples=int(os.environ.get("SPIKEX_FUZZ_EXAMPLES", 300)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _valid_file_bytes():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "net.npz"
        netfile.save(example_network(batch=2, timesteps=6), path)
        return path.read_bytes()


VALID = _valid_file_bytes()


def _entries():
    with np.load(io.BytesIO(VALID)) as archive:
        return {key: archive[key] for key in archive.files}


def spikex(argv):
    """``spikex.cli.main(argv)`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as done:
            status = done.code
    return status, out.getvalue(), err.getvalue()


def check_refused_or_done(argv, folder, output=None):
    """The property: success, or one line, a non-zero exit and nothing new in ``folder``."""
    before = set(Path(folder).iterdir())
    status, _, err = spikex(argv)
    assert "Traceback" not in err and "internal error" not in err, err
    if status == 0:
        assert err == "" or "%" in err, err          # tqdm progress bars are not errors
        assert output is None or Path(output).is_file()
        return status, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {err!r}"
    assert set(Path(folder).iterdir()) == before, "a refused command must leave no file"
    return status, err


def _run_file(data, backend):
    with tempfile.TemporaryDirectory() as folder:
        net, result = Path(folder) / "net.npz", Path(folder) / "out" / "result.npz"
        net.write_bytes(data)
        result.parent.mkdir()
        return check_refused_or_done(["run", net, "--backend", backend, "-o", result],
                                     result.parent, result)


def _npz_bytes(entries):
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    return buffer.getvalue()


# ---------------------------------------------------------------- broken bytes

@FUZZ
@given(cut=st.integers(0, len(VALID) - 1), backend=st.sampled_from(BACKENDS))
@example(cut=0, backend="golden").via("an empty file")
@example(cut=2000, backend="golden").via("issue 16: a truncated archive")
def test_truncated_file_is_refused(cut, backend):
    status, _ = _run_file(VALID[:cut], backend)
    assert status != 0


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)),
                      min_size=1, max_size=8),
       backend=st.sampled_from(BACKENDS))
def test_flipped_bytes_are_refused_or_harmless(flips, backend):
    data = bytearray(VALID)
    for position, mask in flips:
        data[position] ^= mask
    _run_file(bytes(data), backend)


# ---------------------------------------------------------------- broken entries

ARRAY_KEYS = ("input", "weights_0", "weights_1", "weights_2", "labels", "weight_bits", "v_bits",
              "format", "layers")
BAD_ARRAYS = st.sampled_from([
    np.array(np.nan), np.array([np.inf, 1.0]), np.full((2, 6, 2, 10, 10), np.nan),
    np.zeros((2, 6, 2, 10, 10), np.float32), np.ones((2, 6, 2, 10, 10), np.int16),
    np.zeros((2, 6, 2, 10, 10), bool), np.zeros((1,), np.uint8), np.zeros((0, 6, 2, 10, 10), np.uint8),
    np.zeros((2, 0, 2, 10, 10), np.uint8), np.full((2, 6, 2, 10, 10), 2, np.uint8),
    np.array([None, 1], dtype=object), np.array("text"), np.array(b"bytes"), np.array(3),
    np.array(2 ** 40), np.array(-1), np.zeros((4, 2, 3, 3), np.int64), np.full((8, 4, 3, 3), 1000),
    np.array([1.5, 2.5]), np.array([0, 99]), np.array([-1, 0]), np.array([[0, 1]]),
    np.array(json.dumps([])), np.array(json.dumps({})), np.array("[" * 5000),
    np.array(json.dumps([{"kind": "conv"}])), np.array("spikex-net-v0"),
    np.array(["spikex-net-v1"]), np.zeros((10, 128), np.uint64) + 2 ** 63,
    np.array(1.0 + 2.0j), np.array([1e308, -1e308]),
])


@FUZZ
@given(replace=st.dictionaries(st.sampled_from(ARRAY_KEYS), BAD_ARRAYS, max_size=2),
       drop=st.sets(st.sampled_from(ARRAY_KEYS), max_size=2),
       add=st.sampled_from([None, "weights_3", "extra", "labels"]),
       backend=st.sampled_from(BACKENDS))
@example(replace={"input": np.array([None, 1], dtype=object)}, drop=set(), add=None,
         backend="golden").via("issue 16: an object array")
@example(replace={"labels": np.array([0, 99])}, drop=set(), add=None,
         backend="golden").via("issue 16: labels outside the last layer's outputs")
def test_broken_entries_are_refused_or_harmless(replace, drop, add, backend):
    entries = _entries()
    entries.update(replace)
    for key in drop:
        entries.pop(key, None)
    if add is not None:
        entries[add] = np.zeros(3, np.int32)
    _run_file(_npz_bytes(entries), backend)


LAYER_VALUES = st.one_of(
    st.integers(-3, 40), st.integers(-2 ** 70, 2 ** 70), st.sampled_from([0, 1, 2 ** 31, 2 ** 63]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=5), st.lists(st.integers(-2, 2 ** 40), max_size=3),
    st.sampled_from([[10, 10], [10], [0, 10], [2 ** 40, 2 ** 40], "conv", "fc", {"a": 1}]))
LAYER_KEYS = ("kind", "in_channels", "in_size", "out_channels", "kernel", "stride", "padding",
              "threshold", "leak_shift", "tws", "in_features", "out_features", "unknown")


@FUZZ
@given(changes=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(LAYER_KEYS),
                                  st.one_of(st.just("<drop>"), LAYER_VALUES)),
                        min_size=1, max_size=3),
       backend=st.sampled_from(BACKENDS))
@example(changes=[(0, "padding", 10 ** 6)], backend="golden").via("a layer too large to hold")
@example(changes=[(2, "out_features", 2 ** 62)], backend="golden").via("a layer too large to hold")
def test_broken_layer_parameters_are_refused_or_harmless(changes, backend):
    entries = _entries()
    layers = json.loads(str(entries["layers"]))
    for k, key, value in changes:
        if value == "<drop>":
            layers[k].pop(key, None)
        else:
            layers[k][key] = value
    entries["layers"] = np.array(json.dumps(layers))
    _run_file(_npz_bytes(entries), backend)


# ---------------------------------------------------------------- argument lists

OPTION_VALUES = st.one_of(
    st.integers(-5, 70).map(str), st.integers(-2 ** 64, 2 ** 64).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0.0001", "1e9", "", "x", "3,4", "1,1,1e9",
                     "inf,1,1", "20,20,20", "0.01,0.01,0.01",
                     "spikex", "ptb", "rtl", "blocks", "-1"]))
RUN_OPTIONS = ("--rows", "--cols", "--acc-bits", "--tws-max", "--glb-kb", "--lbuf-kb",
               "--glb-split", "--time-block", "--dataflow", "--memory", "--samples",
               "--energy-table")


@FUZZ
@given(command=st.sampled_from(["run", "compare", "info"]),
       backend=st.sampled_from(BACKENDS + ("nope",)),
       options=st.lists(st.tuples(st.sampled_from(RUN_OPTIONS), OPTION_VALUES), max_size=3))
@example(command="run", backend="analytic", options=[("--glb-split", "1,1,1e9")])
@example(command="run", backend="analytic", options=[("--glb-split", "inf,1,1")])
@example(command="compare", backend="golden", options=[])
def test_run_arguments_are_refused_or_harmless(command, backend, options):
    options = options + [("--backend", backend)]     # the RTL backends are not run here
    if command == "info":
        options = [(o, v) for o, v in options if o == "--acc-bits"]
    with tempfile.TemporaryDirectory() as folder:
        net = Path(folder) / "net.npz"
        net.write_bytes(VALID)
        out = Path(folder) / "out"
        out.mkdir()
        argv = [command, net] + [part for option in options for part in option]
        result = out / "result.npz"
        check_refused_or_done(argv + (["-o", result] if command == "run" else []), out,
                              result if command == "run" else None)


@FUZZ
@given(options=st.lists(st.tuples(st.sampled_from(["--batch", "--timesteps", "--firing-rate",
                                                   "--seed"]), OPTION_VALUES), max_size=3))
def test_example_arguments_are_refused_or_harmless(options):
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "net.npz"
        argv = ["example", "-o", result] + [part for option in options for part in option]
        check_refused_or_done(argv, folder, result)


VERILOG_LIMITS = {"--rows": 64, "--cols": 64, "--tws-max": 1024, "--acc-bits": 48, "--v-bits": 48,
                  "--weight-bits": 32, "--skip-bits": 32, "--glb-kb": 65536, "--lbuf-kb": 4096,
                  "--max-layers": 64, "--max-timesteps": 4096, "--max-blocks": 4096,
                  "--max-entries": 2 ** 20}


@FUZZ
@given(option=st.sampled_from(sorted(VERILOG_LIMITS)), above=st.integers(1, 2 ** 70),
       what=st.sampled_from(["array", "accelerator"]))
def test_verilog_refuses_absurd_parameters_before_elaborating(option, above, what):
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "top.v"
        status, err = check_refused_or_done(
            ["verilog", "--what", what, option, VERILOG_LIMITS[option] + above, "-o", result],
            folder)
        assert status != 0 and option in err and str(VERILOG_LIMITS[option]) in err


TOML_VALUES = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", '"x"', "true", "[1]",
                               "{}", "", "= 3", "1_000", "0x10", "2.5"])


@FUZZ
@given(line=st.integers(0, 200), value=TOML_VALUES, cut=st.none() | st.integers(0, 2000),
       junk=st.binary(max_size=8))
def test_broken_energy_table_is_refused_or_harmless(line, value, cut, junk):
    lines = SHIPPED_TABLE.read_text().splitlines()
    numeric = [i for i, text in enumerate(lines)
               if "=" in text and text.split("=")[1].strip()[:1].isdigit()]
    k = numeric[line % len(numeric)]
    lines[k] = f"{lines[k].split('=')[0]}= {value}"
    data = "\n".join(lines).encode()[:cut] + junk
    with tempfile.TemporaryDirectory() as folder:
        table, net = Path(folder) / "energy.toml", Path(folder) / "net.npz"
        table.write_bytes(data)
        net.write_bytes(VALID)
        out = Path(folder) / "out"
        out.mkdir()
        check_refused_or_done(["run", net, "--backend", "analytic", "--energy-table", table,
                               "-o", out / "result.npz"], out, out / "result.npz")


@pytest.mark.parametrize("option", ["-o", "--output"])
def test_output_in_a_missing_directory_is_refused_before_running(tmp_path, option):
    net = tmp_path / "net.npz"
    net.write_bytes(VALID)
    status, err = check_refused_or_done(["run", net, option, tmp_path / "none" / "r.npz"], tmp_path)
    assert status == 1 and f"directory {tmp_path / 'none'} does not exist" in err


def test_output_over_the_input_is_refused(tmp_path):
    net = tmp_path / "net.npz"
    net.write_bytes(VALID)
    status, err = check_refused_or_done(["run", net, "-o", tmp_path / "." / "net.npz"], tmp_path)
    assert status == 1 and "-o would overwrite the file this command reads" in err
    assert net.read_bytes() == VALID


def test_unwritable_output_and_unreadable_input_are_refused_before_running(tmp_path, monkeypatch):
    net = tmp_path / "net.npz"
    net.write_bytes(VALID)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)  # as non-root
    status, err = check_refused_or_done(["run", net, "-o", tmp_path / "r.npz"], tmp_path)
    assert status == 1 and f"directory {tmp_path} is not writable" in err
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != net)
    status, err = check_refused_or_done(["info", net], tmp_path)
    assert status == 1 and f"{net}: not readable, permission denied" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "--net", "nope"], "--net: unknown network 'nope'"),
    (["train", "--tws", "a,b"], "--tws must be a comma list of positive integers"),
    (["train", "--lr", "nan"], "--lr must be a finite number"),
    (["train", "--augment-time", "-1"], "--augment-time must be 0 to 4096"),
    (["train", "--augment-rotate", "200"], "--augment-rotate must be 0 to 180"),
    (["train", "--augment-scale", "0.95"], "--augment-scale must be 0 to 0.9"),
    (["sweep-beta", "--betas", "x"], "--betas must be a comma list"),
    (["sweep-beta", "--betas", "inf"], "--betas must be a comma list"),
    (["train", "--threads", "100000"], "--threads must be 1 to 256"),
    (["train", "--data", "{tmp}/none"], "none: no such file or directory (--data)"),
    (["compile", "{tmp}/none.pt", "-o", "{tmp}/out/n.npz"], "no such file or directory"),
    (["eval", "{tmp}/none.pt"], "none.pt: no such file or directory (the model)"),
])
def test_training_commands_refuse_bad_arguments_before_work(tmp_path, argv, message):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(tmp=tmp_path) for a in argv]
    if argv[0] in ("train", "sweep-beta"):
        argv += ["--out" if argv[0] == "train" else "-o", str(out / "run")]
        argv += [] if "--data" in argv else ["--data", str(tmp_path)]     # any folder
    status, err = check_refused_or_done(argv, out)
    assert status == 1 and message in err, err


# ---------------------------------------------------------------- the corpus

@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.npz")), ids=lambda p: p.stem)
@pytest.mark.parametrize("command", [["run", "--backend", "golden"], ["run", "--backend", "analytic"],
                                     ["info"], ["compare"]], ids=" ".join)
def test_corpus_file_is_refused_in_one_line(path, command, tmp_path):
    """Each file of ``tests/fuzz_corpus/`` is refused; the name's suffix after ``--`` is a
    phrase the message must hold."""
    result = tmp_path / "result.npz"
    argv = [command[0], path, *command[1:]] + (["-o", result] if command[0] == "run" else [])
    status, err = check_refused_or_done(argv, tmp_path)
    assert status != 0
    expected = path.stem.split("--")[1].replace("_", " ") if "--" in path.stem else ""
    assert expected in err, err


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    net = tmp_path / "net.npz"
    net.write_bytes(VALID)
    out = tmp_path / "out"
    out.mkdir()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full)
    status, err = check_refused_or_done(["run", net, "-o", out / "r.npz"], out)
    assert status == 1 and "r.npz: cannot write (No space left on device)" in err
