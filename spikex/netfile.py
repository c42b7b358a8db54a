"""Network files of format ``spikex-net-v1`` (SPEC §4): the one reader and writer.

A network file is a numpy ``.npz`` archive holding the layer list as JSON, one integer
weight array per layer, the input spikes ``[B, T, *input shape]`` and, optionally, the
weight and membrane widths and the labels. :func:`load` refuses anything that breaks
SPEC §4 with a :class:`NetworkFileError` whose message names the file, the key or layer,
and the offending value; :func:`save` writes atomically, so a failed write leaves no file.
"""

import json
import math
import os
import struct
import tempfile
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field, asdict
from pathlib import Path

import numpy as np


__all__ = ["FORMAT", "SpikexError", "NetworkFileError", "ConvLayer", "FcLayer", "Network",
           "load", "save", "validate", "check_fan_in", "write_npz_atomic", "write_atomic"]


FORMAT = "spikex-net-v1"

# Output neurons of one layer: 64 times the largest layer of the paper's networks; a layer
# past it is a corrupt or absurd file, and would exhaust memory before giving a spike.
MAX_NEURONS = 1 << 19


class SpikexError(Exception):
    """An error the user can act on; the command line prints it as one line."""


class NetworkFileError(SpikexError):
    """A network file that breaks SPEC §4."""


@dataclass(frozen=True)
class ConvLayer:
    """A convolution layer: input ``[C, H, W]``, weights ``[M, C, E, E]``, output ``[M, R, R']``."""
    in_channels: int
    in_size: tuple
    out_channels: int
    kernel: int
    stride: int
    padding: int
    threshold: int
    leak_shift: int
    tws: int
    kind: str = field(default="conv", init=False)

    @property
    def in_shape(self):
        return (self.in_channels, *self.in_size)

    @property
    def out_size(self):
        return tuple((n + 2 * self.padding - self.kernel) // self.stride + 1 for n in self.in_size)

    @property
    def out_shape(self):
        return (self.out_channels, *self.out_size)

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels, self.kernel, self.kernel)

    @property
    def fan_in(self):
        return self.in_channels * self.kernel * self.kernel


@dataclass(frozen=True)
class FcLayer:
    """A fully connected layer: input ``[N]`` (a conv output flattened C, H, W), weights ``[M, N]``."""
    in_features: int
    out_features: int
    threshold: int
    leak_shift: int
    tws: int
    kind: str = field(default="fc", init=False)

    @property
    def in_shape(self):
        return (self.in_features,)

    @property
    def out_shape(self):
        return (self.out_features,)

    @property
    def weight_shape(self):
        return (self.out_features, self.in_features)

    @property
    def fan_in(self):
        return self.in_features


_LAYER_KEYS = {
    "conv": ("in_channels", "in_size", "out_channels", "kernel", "stride", "padding",
             "threshold", "leak_shift", "tws"),
    "fc": ("in_features", "out_features", "threshold", "leak_shift", "tws"),
}


@dataclass
class Network:
    """A network with its input, as held in a ``spikex-net-v1`` file.

    ``weights[k]`` are layer ``k``'s weights (int64); ``input`` is uint8
    ``[B, T, *layers[0].in_shape]``.
    """
    layers: list
    weights: list
    input: np.ndarray
    weight_bits: int = 8
    v_bits: int = 16
    labels: np.ndarray = None

    @property
    def batch(self):
        return self.input.shape[0]

    @property
    def timesteps(self):
        return self.input.shape[1]

    def with_input(self, spikes, labels=None):
        """The same network on other input spikes."""
        return Network(self.layers, self.weights, np.asarray(spikes, dtype=np.uint8),
                       self.weight_bits, self.v_bits, labels)


def _fail(source, what):
    raise NetworkFileError(f"{source}: {what}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_layer(source, k, obj):
    if not isinstance(obj, dict):
        _fail(source, f"layer {k}: expected a JSON object, not {obj!r}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _LAYER_KEYS:
        _fail(source, f"layer {k}: kind must be \"conv\" or \"fc\", not {kind!r}")
    keys = _LAYER_KEYS[kind]
    for key in keys:
        if key not in obj:
            _fail(source, f"layer {k} ({kind}): missing key {key!r}")
    unknown = set(obj) - set(keys) - {"kind"}
    if unknown:
        _fail(source, f"layer {k} ({kind}): unknown key {sorted(unknown)[0]!r}")
    for key in keys:
        value = obj[key]
        if key == "in_size":
            if (not isinstance(value, list) or len(value) != 2
                    or not all(_is_int(v) and v > 0 for v in value)):
                _fail(source, f"layer {k} ({kind}): in_size must be [H, W] of positive integers, "
                              f"not {value!r}")
        elif not _is_int(value):
            _fail(source, f"layer {k} ({kind}): {key} must be an integer, not {value!r}")
    minimum = {"padding": 0, "leak_shift": 0}
    for key in keys:
        if key != "in_size" and obj[key] < minimum.get(key, 1) and key != "threshold":
            _fail(source, f"layer {k} ({kind}): {key} must be at least {minimum.get(key, 1)}, "
                          f"not {obj[key]}")
    args = {key: obj[key] for key in keys}
    if kind == "conv":
        args["in_size"] = tuple(args["in_size"])
        layer = ConvLayer(**args)
        if any(n <= 0 for n in layer.out_size):
            _fail(source, f"layer {k} (conv): kernel {layer.kernel} with padding {layer.padding} "
                          f"does not fit input size {list(layer.in_size)}")
    else:
        layer = FcLayer(**args)
    neurons = math.prod(layer.out_shape)
    if neurons > MAX_NEURONS:
        _fail(source, f"layer {k} ({kind}): {neurons} output neurons {list(layer.out_shape)}, "
                      f"more than any backend holds (at most {MAX_NEURONS} per layer)")
    return layer


def _layer_json(layer):
    obj = asdict(layer)
    if layer.kind == "conv":
        obj["in_size"] = list(layer.in_size)
    return {"kind": obj.pop("kind"), **obj}


def validate(net, source="<network>"):
    """Check ``net`` against SPEC §4; raise :class:`NetworkFileError` naming what is wrong."""
    if not _is_int(net.weight_bits) or not 2 <= net.weight_bits <= 32:
        _fail(source, f"weight_bits must be an integer in 2..32, not {net.weight_bits!r}")
    if not _is_int(net.v_bits) or not 2 <= net.v_bits <= 48:
        _fail(source, f"v_bits must be an integer in 2..48, not {net.v_bits!r}")
    if not net.layers:
        _fail(source, "layers: the network has no layers")
    spikes = net.input
    if spikes.dtype != np.uint8:
        _fail(source, f"input: dtype must be uint8, not {_describe(spikes)}")
    expected = (len(spikes) if spikes.ndim else 0, spikes.shape[1] if spikes.ndim > 1 else 0,
                *net.layers[0].in_shape)
    if spikes.ndim != len(expected) or spikes.shape[2:] != tuple(net.layers[0].in_shape):
        _fail(source, f"input: shape must be [B, T, {', '.join(map(str, net.layers[0].in_shape))}], "
                      f"not {list(spikes.shape)}")
    if spikes.shape[0] < 1 or spikes.shape[1] < 1:
        _fail(source, f"input: needs at least one sample and one time step, not shape {list(spikes.shape)}")
    bad = spikes > 1
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(source, f"input: spikes must be 0 or 1, found {int(spikes[index])} at {list(index)}")
    timesteps = spikes.shape[1]
    v_max = 2 ** (net.v_bits - 1) - 1
    w_lo, w_hi = -2 ** (net.weight_bits - 1), 2 ** (net.weight_bits - 1) - 1
    if len(net.weights) != len(net.layers):
        _fail(source, f"weights_{len(net.weights)}: expected {len(net.layers)} weight arrays, "
                      f"found {len(net.weights)}")
    previous = None
    for k, (layer, w) in enumerate(zip(net.layers, net.weights)):
        name = f"layer {k} ({layer.kind})"
        if previous is not None:
            got, want = tuple(layer.in_shape), tuple(previous.out_shape)
            flattens = layer.kind == "fc" and layer.in_features == math.prod(want)
            if got != want and not flattens:
                _fail(source, f"{name}: input shape {list(got)} is not layer {k - 1}'s output "
                              f"shape {list(want)}")
        if not 1 <= layer.threshold <= v_max:
            _fail(source, f"{name}: threshold must be in 1..{v_max} for v_bits={net.v_bits}, "
                          f"not {layer.threshold}")
        if not 0 <= layer.leak_shift <= net.v_bits - 1:
            _fail(source, f"{name}: leak_shift must be in 0..{net.v_bits - 1}, not {layer.leak_shift}")
        if timesteps % layer.tws:
            _fail(source, f"{name}: tws {layer.tws} does not divide T={timesteps}")
        if not np.issubdtype(w.dtype, np.integer):
            _fail(source, f"weights_{k}: dtype must be an integer type, not {_describe(w)}")
        if tuple(w.shape) != tuple(layer.weight_shape):
            _fail(source, f"weights_{k}: shape must be {list(layer.weight_shape)} for {name}, "
                          f"not {list(w.shape)}")
        if w.size and (w.min() < w_lo or w.max() > w_hi):
            value = int(w.min()) if w.min() < w_lo else int(w.max())
            _fail(source, f"weights_{k}: weight {value} is outside {w_lo}..{w_hi} "
                          f"(weight_bits={net.weight_bits})")
        previous = layer
    if net.labels is not None:
        labels = net.labels
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (spikes.shape[0],):
            _fail(source, f"labels: must be an integer array of shape [{spikes.shape[0]}], "
                          f"not {_describe(labels)}")
        classes = math.prod(net.layers[-1].out_shape)
        outside = (labels < 0) | (labels >= classes)
        if outside.any():
            index = int(np.argmax(outside))
            _fail(source, f"labels: label {int(labels[index])} of sample {index} is not one of the "
                          f"last layer's {classes} outputs (0..{classes - 1})")


def check_fan_in(net, acc_bits, source="<network>"):
    """Refuse a layer whose exact current may not fit a signed ``acc_bits`` accumulator (SPEC §1)."""
    limit = 2 ** (acc_bits - 1) - 1
    for k, (layer, w) in enumerate(zip(net.layers, net.weights)):
        bound = int(np.abs(w.reshape(len(w), -1).astype(np.int64)).sum(axis=1).max())
        if bound > limit:
            raise SpikexError(f"{source}: layer {k} ({layer.kind}): sum of |weights| of a neuron "
                              f"reaches {bound}, which does not fit a signed {acc_bits}-bit "
                              f"accumulator (max {limit})")


# What zipfile, zlib and numpy raise for a damaged archive or member (a header that claims
# an unsupported version or encryption, a bad CRC, a short stream, an absurd array size).
# numpy parses a member's header with ast.literal_eval: a damaged one raises SyntaxError or,
# for an unclosed bracket, tokenize.TokenError.
_CORRUPT = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
            struct.error, MemoryError, OverflowError, SyntaxError, tokenize.TokenError)


def _entry(source, archive, key):
    """``archive[key]`` as an array; a member that cannot be read is a one-line error."""
    try:
        return archive[key]
    except ValueError as error:
        if "Object arrays" in str(error):
            _fail(source, f"{key}: holds Python objects (an object array); expected a plain "
                          f"numeric or str array")
        _fail(source, f"{key}: not a readable numpy array ({error})")
    except _CORRUPT as error:
        _fail(source, f"{key}: cannot be read, the archive is corrupt or truncated "
                      f"({type(error).__name__}: {error})")


def _scalar_int(source, archive, key, default):
    if key not in archive:
        return default
    value = _entry(source, archive, key)
    if value.shape != () or not np.issubdtype(value.dtype, np.integer):
        _fail(source, f"{key}: must be a 0-d integer array, not {_describe(value)}")
    return int(value)


def _string(source, archive, key):
    if key not in archive:
        _fail(source, f"missing key {key!r}")
    value = _entry(source, archive, key)
    if value.shape != () or value.dtype.kind != "U":
        _fail(source, f"{key}: must be a 0-d str array, not {_describe(value)}")
    return str(value)


def _describe(array):
    """``dtype [shape]``, and whether a float array holds NaN or infinities."""
    text = f"{array.dtype} {list(array.shape)}"
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        text += " holding NaN or infinity"
    return text


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _open(source, path):
    """The ``.npz`` archive at ``path``; anything else is a one-line error saying what it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except FileNotFoundError:
        _fail(source, "no such file")
    except IsADirectoryError:
        _fail(source, "is a directory, expected a .npz network file")
    except PermissionError:
        _fail(source, "cannot be read (permission denied)")
    except OSError as error:
        _fail(source, f"cannot be read ({error.strerror or error})")
    if not head:
        _fail(source, "is empty, expected a .npz archive (a zip file)")
    if head == b"\x93NUMPY":
        _fail(source, "is a single .npy array, expected a .npz archive of named arrays")
    if head[:4] not in _ZIP_MAGIC:
        _fail(source, f"not a numpy .npz archive (a zip file): it starts with {head!r}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, *_CORRUPT) as error:
        _fail(source, f"not a numpy .npz archive, or a corrupt or truncated one "
                      f"({type(error).__name__}: {error})")


def load(path):
    """Read and validate a ``spikex-net-v1`` file; return a :class:`Network`."""
    source = str(path)
    with _open(source, path) as archive:
        fmt = _string(source, archive, "format")
        if fmt != FORMAT:
            _fail(source, f"format: expected {FORMAT!r}, not {fmt!r}")
        try:
            layer_objs = json.loads(_string(source, archive, "layers"))
        except (ValueError, RecursionError) as error:    # JSONDecodeError is a ValueError
            _fail(source, f"layers: not valid JSON ({type(error).__name__}: {error})")
        if not isinstance(layer_objs, list):
            _fail(source, f"layers: expected a JSON list, not {type(layer_objs).__name__}")
        layers = [_parse_layer(source, k, obj) for k, obj in enumerate(layer_objs)]
        weights = []
        for k in range(len(layers)):
            if f"weights_{k}" not in archive:
                _fail(source, f"missing key 'weights_{k}' for layer {k} ({layers[k].kind})")
            weights.append(_entry(source, archive, f"weights_{k}"))
        if f"weights_{len(layers)}" in archive:
            _fail(source, f"weights_{len(layers)}: no layer {len(layers)} to go with it")
        if "input" not in archive:
            _fail(source, "missing key 'input'")
        net = Network(layers, weights, _entry(source, archive, "input"),
                      _scalar_int(source, archive, "weight_bits", 8),
                      _scalar_int(source, archive, "v_bits", 16),
                      _entry(source, archive, "labels") if "labels" in archive else None)
    validate(net, source)
    net.weights = [w.astype(np.int64) for w in net.weights]
    return net


def save(net, path):
    """Validate ``net`` and write it to ``path`` atomically."""
    validate(net, str(path))
    entries = {
        "format": np.array(FORMAT),
        "layers": np.array(json.dumps([_layer_json(layer) for layer in net.layers])),
        "input": np.asarray(net.input, dtype=np.uint8),
        "weight_bits": np.array(net.weight_bits),
        "v_bits": np.array(net.v_bits),
    }
    for k, w in enumerate(net.weights):
        entries[f"weights_{k}"] = np.asarray(w, dtype=np.int32)
    if net.labels is not None:
        entries["labels"] = np.asarray(net.labels, dtype=np.int64)
    write_npz_atomic(path, entries)


def write_npz_atomic(path, entries):
    """Write a ``.npz`` so that ``path`` either holds the whole archive or does not change."""
    write_atomic(path, lambda f: np.savez_compressed(f, **entries))


def write_atomic(path, write):
    """Call ``write(file)`` on a new file beside ``path``, then rename it to ``path``.

    ``path`` either holds the whole file or does not change; the file is opened for
    reading too (``w+b``), as HDF5 writers need. A folder that is missing or not
    writable, or a write that fails (a full disk), is a :class:`SpikexError` naming
    ``path``; no temporary file is left behind.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as error:
        raise SpikexError(f"{path}: cannot write here ({error.strerror or error})") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)     # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "w+b") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as error:
        os.unlink(tmp)
        raise SpikexError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        os.unlink(tmp)
        raise
