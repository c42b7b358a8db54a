"""Checks the ``spikex`` command makes before any long work (SPEC §4: one clear line, a
non-zero exit and no partial output).

:func:`check_arguments` refuses, with a :class:`~spikex.netfile.SpikexError` that names the
option and the limit, a number no simulator or device could hold (``--rows 100000``), a
NaN or infinity, an input path that is missing or unreadable and an output path whose
directory is missing or not writable. The limits are here, once; the backends keep their
own checks of what a particular network needs.
"""

import math
import os
from pathlib import Path

from .netfile import SpikexError


__all__ = ["LIMITS", "check_arguments", "check_output_file", "check_output_dir", "check_input"]


# option (argparse dest) -> (smallest, largest, what the limit is about). Sizes beyond
# these are far past any accelerator the paper describes (8x8 PEs, 54 KB GLB, 2 KB LBUF)
# and past what the simulators could elaborate or the analytic model could count.
LIMITS = {
    "rows": (1, 64, "PE array rows"),
    "cols": (1, 64, "PE array columns"),
    "tws_max": (1, 1024, "time steps of a window"),
    "glb_kb": (1 / 16, 65536, "KB of on-chip GLB"),
    "lbuf_kb": (1 / 16, 4096, "KB of on-chip LBUF"),
    "acc_bits": (2, 48, "bits of the accumulator; the golden model is exact to 48"),
    "weight_bits": (2, 32, "bits of a weight"),
    "v_bits": (2, 48, "bits of the membrane"),
    "skip_bits": (1, 32, "bits of the skipped-step count"),
    "max_layers": (1, 64, "layers"),
    "max_timesteps": (1, 4096, "time steps of a time block"),
    "max_blocks": (1, 4096, "time blocks of a sample"),
    "max_entries": (1, 1 << 20, "active NTWUs of a layer"),
    "block_steps": (1, 1024, "time steps of a time block"),
    "batch": (1, 4096, "samples"),
    "timesteps": (1, 4096, "time steps"),
    "firing_rate": (0, 1, "a probability"),
    "val_fraction": (0, 0.9, "a fraction of the data"),
    "threads": (1, 256, "CPU threads"),
    "jobs": (1, 256, "simulations at once"),
    "calib_samples": (1, 1 << 20, "calibration recordings"),
    "bin_us": (1, 10 ** 9, "microseconds per time step"),
    "dt": (1e-12, 1e6, "seconds per time step"),
    "epochs": (0, 100000, "epochs"),
    "warmup_epochs": (0, 100000, "epochs"),
    "batch_size": (1, 65536, "samples per batch"),
    "steps": (1, 1 << 30, "optimiser steps"),
    "knots": (2, 64, "breakpoints of a curve"),
    "augment_shift": (0, 16, "pixels"),
    "augment_drop": (0, 1, "a probability"),
    "augment_time": (0, 4096, "time steps"),
    "augment_rotate": (0, 180, "degrees"),
    "augment_scale": (0, 0.9, "a fraction of the size"),
    "seed": (0, 2 ** 63 - 1, "a seed"),
    "train_trials": (1, 100000, "recordings"),
    "test_trials": (1, 100000, "recordings"),
    "freq": (1, 1000, "MHz of the clock"),
}

# command -> (the argparse dests of files it writes, of folders it writes into, of files
# and folders it reads). Folders it writes into are created if missing.
PATHS = {
    "run": (("output",), (), ("net", "energy_table")),
    "compare": ((), (), ("net", "energy_table")),
    "info": ((), (), ("net",)),
    "example": (("output",), (), ()),
    "verilog": (("output",), (), ()),
    "synth": ((), ("output",), ()),
    "compile": (("output",), (), ("checkpoint", "data")),
    "eval": ((), (), ("model",)),
    "import": (("output",), (), ("model", "data", "input")),
    "export": (("output",), (), ("net",)),
    "train": (("export",), ("out",), ("data", "resume", "edp_model")),
    "sweep-beta": ((), ("out",), ("data", "edp_model")),
    "figures": ((), ("output",), ()),
    "fit-edp": (("output",), (), ("net", "energy_table")),
    "gestures": ((), ("output",), ()),
}


_POSITIONAL = {"net": "the network file", "checkpoint": "the checkpoint", "model": "the model"}


def _option(dest):
    return "--" + dest.replace("_", "-")


def _check_number(dest, value):
    if isinstance(value, float) and not math.isfinite(value):
        raise SpikexError(f"{_option(dest)} must be a finite number, not {value}")
    if dest not in LIMITS:
        return
    low, high, what = LIMITS[dest]
    if not low <= value <= high:
        raise SpikexError(f"{_option(dest)} must be {_number(low)} to {_number(high)} ({what}), "
                          f"not {_number(value)}")


def _number(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_glb_split(text, glb_kb):
    """``--glb-split S,W,O``: three finite positive KB sizes that fit ``--glb-kb``."""
    try:
        sizes = [float(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) != 3 or not all(math.isfinite(v) and v > 0 for v in sizes):
        raise SpikexError(f"--glb-split must be three positive KB sizes S,W,O (input spikes, "
                          f"weights, output spikes), not {text!r}")
    if glb_kb is not None and sum(sizes) > glb_kb:
        raise SpikexError(f"--glb-split {text} adds up to {_number(sum(sizes))} KB, more than "
                          f"the {_number(glb_kb)} KB of --glb-kb")


def check_output_file(path, option="-o"):
    """Refuse an output file whose folder is missing or not writable, or that is a folder."""
    path = Path(path)
    if path.is_dir():
        raise SpikexError(f"{path}: {option} names a directory, expected a file to write")
    _check_writable_dir(path.parent if str(path.parent) else Path("."), path, option)


def check_output_dir(path, option="-o"):
    """Refuse an output folder that is a file, or that cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SpikexError(f"{path}: {option} names a file, expected a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    _check_writable_dir(existing, path, option)


def _check_writable_dir(directory, path, option):
    directory = directory if str(directory) else Path(".")
    if not directory.is_dir():
        raise SpikexError(f"{path}: {option}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SpikexError(f"{path}: {option}: directory {directory} is not writable")


def check_input(path, option):
    """Refuse an input path that does not exist or cannot be read."""
    path = Path(path)
    if not path.exists():
        raise SpikexError(f"{path}: no such file or directory ({option})")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise SpikexError(f"{path}: not readable, permission denied ({option})")


def check_arguments(command, args):
    """Every check above that applies to ``args`` of ``command``; raise on the first failure."""
    for dest, value in sorted(vars(args).items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_number(dest, value)
    if getattr(args, "glb_split", None) is not None:
        _check_glb_split(args.glb_split, getattr(args, "glb_kb", None))
    writes, folders, reads = PATHS.get(command, ((), (), ()))
    for dest in reads:
        if getattr(args, dest, None) is not None:
            check_input(getattr(args, dest), _POSITIONAL.get(dest, _option(dest)))
    inputs = {Path(getattr(args, dest)).resolve() for dest in reads
              if getattr(args, dest, None) is not None}
    created = {Path(getattr(args, dest)).resolve() for dest in folders
               if getattr(args, dest, None) is not None}
    for dest in writes:
        if getattr(args, dest, None) is not None:
            option = "-o" if dest == "output" else _option(dest)
            # a file in a folder the command makes (train --export into its --out) is
            # checked with that folder, below
            if Path(getattr(args, dest)).resolve().parent not in created:
                check_output_file(getattr(args, dest), option)
            if Path(getattr(args, dest)).resolve() in inputs:
                raise SpikexError(f"{getattr(args, dest)}: {option} would overwrite the file "
                                  f"this command reads")
    for dest in folders:
        if getattr(args, dest, None) is not None:
            check_output_dir(getattr(args, dest), "-o" if dest == "output" else _option(dest))
