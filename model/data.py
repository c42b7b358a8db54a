"""Event-camera data sets: N-MNIST, DVS128 Gesture and a synthetic gesture set.

Events are tonic-style numpy structured arrays of dtype :data:`EVENT_DTYPE`,
``x``, ``y`` (pixel), ``t`` (microseconds) and ``p`` (polarity, 1 = ON, 0 = OFF).
Every data set turns one recording into a spike tensor with :func:`bin_events`:

    bin(e)    = floor(t_e * T / duration_us)          for 0 <= t_e < duration_us
    S[b, c, i, j] = 1  if some event e has bin(e) = b, p_e = c,
                       y_e // downsample = i, x_e // downsample = j
                  = 0  otherwise

so a spike tensor is uint8 ``[T, 2, H, W]`` (channel = polarity), holding 0 or 1,
and an event exactly on a bin edge ``k * duration_us / T`` falls in bin ``k``.

File formats:

- N-MNIST (Orchard et al., 2015): ``Train/<digit>/<id>.bin`` and
  ``Test/<digit>/<id>.bin``; each event is 5 bytes, big-endian: bits 39-32 x,
  bits 31-24 y, bit 23 polarity, bits 22-0 timestamp (us).
- DVS128 Gesture (Amir et al., 2017): ``DvsGesture/userXX_<lighting>.aedat`` in
  AEDAT 3.1 (a ``#`` text header ending ``#!END-HEADER\\r\\n``, then packets of a
  28-byte little-endian header and ``eventCapacity * eventSize`` bytes of events),
  ``userXX_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``, class
  1..11) and ``trials_to_train.txt`` / ``trials_to_test.txt`` listing each split.
"""

import csv
import shutil
import struct
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "i1")])

NMNIST_SIZE = 34
NMNIST_SPLITS = ("Train", "Test")
NMNIST_EVENT_BYTES = 5
# The reference N-MNIST reader (Orchard's eventvision.py, also used by tonic)
# treats an event with y == 240 as a timestamp-overflow marker worth 2**13 us.
NMNIST_OVERFLOW_Y = 240
NMNIST_OVERFLOW_US = 2**13

GESTURE_SENSOR_SIZE = 128
GESTURE_CLASSES = 11
GESTURE_SPLITS = ("train", "test")
GESTURE_SIZES = (128, 64, 32)
GESTURE_LABELS_HEADER = ("class", "startTime_usec", "endTime_usec")
# 300 steps of 5 ms: the first 1.5 s of each gesture.
GESTURE_DURATION_US = 1_500_000

AEDAT31_HEADER_LINES = (
    "#!AER-DAT3.1",
    "#Format: RAW",
    "#Source 1: DVS128",
    "#!END-HEADER",
)
AEDAT31_VERSION_LINE = "#!AER-DAT3.1"
AEDAT31_END_LINE = "#!END-HEADER"
# eventType, eventSource, eventSize, eventTSOffset, eventTSOverflow,
# eventCapacity, eventNumber, eventValid (libcaer's caer_event_packet_header).
AEDAT31_PACKET_HEADER = struct.Struct("<hhiiiiii")
AEDAT31_SPECIAL_EVENT = 0
AEDAT31_POLARITY_EVENT = 1
# Polarity and special events are both a uint32 data word and a uint32 timestamp.
AEDAT31_EVENT_SIZE = 8
AEDAT31_TS_OFFSET = 4
AEDAT31_TS_OVERFLOW_SHIFT = 31
AEDAT31_TIMESTAMP_WRAP = 1
AEDAT31_COORD_MASK = 0x7FFF
AEDAT31_X_SHIFT = 17
AEDAT31_Y_SHIFT = 2
AEDAT31_POLARITY_SHIFT = 1
AEDAT31_EVENT_SOURCE = 1

SYNTHETIC_CLASSES = (
    "right", "left", "down", "up",
    "down-right", "up-left", "down-left", "up-right",
    "circle clockwise", "circle anticlockwise", "wave",
)


def make_events(x, y, t, p):
    """Build an event array of :data:`EVENT_DTYPE` from four equal-length sequences."""
    events = np.zeros(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, not {value!r}")


def _check_range(name, values, limit, context=""):
    bad = (values < 0) | (values >= limit)
    if bad.any():
        value = int(values[np.argmax(bad)])
        raise ValueError(f"event {name}={value}{context} is outside 0..{limit - 1}")


def bin_events(events, T, shape, duration_us, downsample=1):
    """Bin events into a 0/1 spike array of ``T`` equal time bins.

    Parameters
    ----------
    events : numpy structured array of :data:`EVENT_DTYPE`
        Times relative to the start of the sample, in microseconds.
    T : int
        Number of time bins.
    shape : (C, H, W)
        Output shape of one time step; channel ``c`` holds polarity ``c``.
    duration_us : int
        Time span binned; events outside ``[0, duration_us)`` are dropped.
    downsample : int
        Pixel ``(x, y)`` goes to ``(x // downsample, y // downsample)``.

    Returns
    -------
    numpy.ndarray
        uint8 ``[T, C, H, W]``; an entry is 1 if at least one event falls in it.

    Raises
    ------
    ValueError
        If a parameter is not positive or an event lies outside ``shape``.
    """
    for name, value in (("T", T), ("duration_us", duration_us), ("downsample", downsample)):
        _check_positive(name, value)
    channels, height, width = shape
    t = events["t"].astype(np.int64)
    inside = (t >= 0) & (t < duration_us)
    kept, t = events[inside], t[inside]
    x = kept["x"].astype(np.int64) // downsample
    y = kept["y"].astype(np.int64) // downsample
    p = kept["p"].astype(np.int64)
    context = f" (after downsample {downsample})"
    _check_range("x", x, width, context)
    _check_range("y", y, height, context)
    _check_range("p", p, channels, " (polarity is the channel)")
    time_bin = t * T // duration_us
    spikes = np.zeros(T * channels * height * width, dtype=np.uint8)
    spikes[((time_bin * channels + p) * height + y) * width + x] = 1
    return spikes.reshape(T, channels, height, width)


# --------------------------------------------------------------------- N-MNIST

def read_nmnist_events(path):
    """Read one N-MNIST ``.bin`` recording.

    Returns the events of :data:`EVENT_DTYPE` in file order. Timestamp-overflow
    markers (``y == 240``) are removed and add 2**13 us to every later event, as
    in the reference reader.

    Raises
    ------
    ValueError
        If the file size is not a multiple of 5 bytes.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % NMNIST_EVENT_BYTES:
        raise ValueError(
            f"{path}: size {raw.size} bytes is not a multiple of {NMNIST_EVENT_BYTES} "
            "(N-MNIST events are 5 bytes each)")
    raw = raw.reshape(-1, NMNIST_EVENT_BYTES).astype(np.int64)
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = raw[:, 1] == NMNIST_OVERFLOW_Y
    t = t + np.cumsum(overflow) * NMNIST_OVERFLOW_US
    td = ~overflow
    return make_events(raw[td, 0], raw[td, 1], t[td], raw[td, 2] >> 7)


def _existing_dir(path, what):
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} does not exist or is not a directory")
    return path


def _nmnist_files(split_dir):
    """All ``<digit>/<id>.bin`` files under ``split_dir``, sorted by (digit, name)."""
    digit_dirs = sorted((d for d in split_dir.iterdir() if d.is_dir() and d.name.isdigit()),
                        key=lambda d: int(d.name))
    files = [(int(d.name), f) for d in digit_dirs for f in sorted(d.glob("*.bin"))]
    if not files:
        raise FileNotFoundError(f"N-MNIST split {split_dir} holds no <digit>/<id>.bin files")
    return [f for _, f in files], [label for label, _ in files]


def balanced_subset(labels, samples):
    """Indices of a deterministic, class-balanced subset of ``samples`` items.

    Items are taken round-robin over the classes in their given order: the first
    item of every class, then the second of every class, and so on. Returned in
    increasing index order.
    """
    _check_positive("samples", samples)
    labels = np.asarray(labels)
    if samples > labels.size:
        raise ValueError(f"samples={samples} is more than the {labels.size} available")
    rank = np.zeros(labels.size, dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(members.size)
    order = np.lexsort((labels, rank))
    return np.sort(order[:samples])


class NMNIST(Dataset):
    """N-MNIST from the original ``.bin`` files, binned into spike tensors.

    Parameters
    ----------
    root : path
        Folder holding ``Train/`` and ``Test/``.
    split : "Train" or "Test"
    T : int
        Number of time bins (default 30, Table II of the paper).
    duration_us : int
        Span binned from the recording's time 0; later events are dropped
        (default 300 ms, the three saccades).
    samples : int or None
        If given, a class-balanced deterministic subset of this many recordings.

    Items are ``(spikes, label)``: uint8 tensor ``[T, 2, 34, 34]`` and the digit.
    ``files`` and ``labels`` list the recordings in item order, sorted by
    (digit, file name).
    """

    def __init__(self, root, split="Train", T=30, duration_us=300_000, samples=None):
        _check_choice("split", split, NMNIST_SPLITS)
        _check_positive("T", T)
        _check_positive("duration_us", duration_us)
        root = _existing_dir(root, "N-MNIST root")
        files, labels = _nmnist_files(_existing_dir(root / split, "N-MNIST split"))
        if samples is not None:
            chosen = balanced_subset(labels, samples)
            files, labels = [files[i] for i in chosen], [labels[i] for i in chosen]
        self.files, self.labels = files, labels
        self.T, self.duration_us = T, duration_us

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        events = read_nmnist_events(self.files[index])
        shape = (2, NMNIST_SIZE, NMNIST_SIZE)
        spikes = bin_events(events, self.T, shape, self.duration_us)
        return torch.from_numpy(spikes), self.labels[index]


# -------------------------------------------------------------------- AEDAT 3.1

class _PacketHeader(NamedTuple):
    event_type: int
    event_source: int
    event_size: int
    ts_offset: int
    ts_overflow: int
    capacity: int
    number: int
    valid: int


def _aedat31_data_start(data, path):
    """Byte offset just after the ``#!END-HEADER`` line."""
    position = 0
    while data[position:position + 1] == b"#":
        end = data.find(b"\n", position)
        if end < 0:
            break
        line = data[position:end].rstrip(b"\r").decode("latin-1")
        if position == 0 and line != AEDAT31_VERSION_LINE:
            raise ValueError(f"{path}: first line is {line!r}, expected {AEDAT31_VERSION_LINE!r}")
        position = end + 1
        if line == AEDAT31_END_LINE:
            return position
    raise ValueError(f"{path}: no {AEDAT31_END_LINE!r} line ends the '#' text header")


def _read_packet_header(data, offset, path):
    if offset + AEDAT31_PACKET_HEADER.size > len(data):
        raise ValueError(f"{path}: truncated packet header at byte {offset} "
                         f"({len(data) - offset} bytes left, expected 28)")
    header = _PacketHeader(*AEDAT31_PACKET_HEADER.unpack_from(data, offset))
    if header.event_size < 1 or header.capacity < 0 or not 0 <= header.number <= header.capacity:
        raise ValueError(f"{path}: malformed packet header at byte {offset}: {header}")
    return header


def _decode_polarity_packet(data, offset, header, path):
    """Events of one polarity packet whose events start at ``offset``; invalid ones dropped."""
    if header.event_size != AEDAT31_EVENT_SIZE or header.ts_offset != AEDAT31_TS_OFFSET:
        raise ValueError(
            f"{path}: polarity packet at byte {offset - AEDAT31_PACKET_HEADER.size} has "
            f"eventSize {header.event_size} and eventTSOffset {header.ts_offset}, expected 8 and 4")
    words = np.frombuffer(data, dtype="<u4", count=2 * header.number, offset=offset)
    address = words[0::2].astype(np.int64)
    timestamp = words[1::2].astype(np.int64) | (header.ts_overflow << AEDAT31_TS_OVERFLOW_SHIFT)
    valid = (address & 1) == 1
    address = address[valid]
    return make_events((address >> AEDAT31_X_SHIFT) & AEDAT31_COORD_MASK,
                       (address >> AEDAT31_Y_SHIFT) & AEDAT31_COORD_MASK,
                       timestamp[valid],
                       (address >> AEDAT31_POLARITY_SHIFT) & 1)


def read_aedat31_events(path):
    """Read the polarity events of an AEDAT 3.1 file (e.g. a DVS128 Gesture recording).

    Packets of other event types (special, frame, IMU, ...) are skipped, as are
    events whose validity bit is 0. Timestamps are 64-bit:
    ``(eventTSOverflow << 31) | timestamp``.

    Raises
    ------
    ValueError
        If the header is not AEDAT 3.1, a packet is truncated or malformed, or a
        polarity packet has an event size other than 8 bytes.
    """
    path = Path(path)
    data = path.read_bytes()
    offset = _aedat31_data_start(data, path)
    packets = []
    while offset < len(data):
        header = _read_packet_header(data, offset, path)
        events_at = offset + AEDAT31_PACKET_HEADER.size
        offset = events_at + header.capacity * header.event_size
        if offset > len(data):
            raise ValueError(
                f"{path}: packet at byte {events_at - AEDAT31_PACKET_HEADER.size} declares "
                f"{header.capacity} events of {header.event_size} bytes but the file ends "
                f"{offset - len(data)} bytes short")
        if header.event_type == AEDAT31_POLARITY_EVENT:
            packets.append(_decode_polarity_packet(data, events_at, header, path))
    return np.concatenate(packets) if packets else np.zeros(0, dtype=EVENT_DTYPE)


def _packet_bytes(event_type, ts_overflow, words, valid):
    """One packet of 8-byte events: 28-byte header, then the uint32 words."""
    number = len(words) // 2
    header = AEDAT31_PACKET_HEADER.pack(event_type, AEDAT31_EVENT_SOURCE, AEDAT31_EVENT_SIZE,
                                        AEDAT31_TS_OFFSET, ts_overflow, number, number, valid)
    return header + np.asarray(words, dtype="<u4").tobytes()


def _check_writable(events, valid, header_lines, path):
    if header_lines[0] != AEDAT31_VERSION_LINE or header_lines[-1] != AEDAT31_END_LINE:
        raise ValueError(f"{path}: header_lines must start with {AEDAT31_VERSION_LINE!r} "
                         f"and end with {AEDAT31_END_LINE!r}, not {list(header_lines)!r}")
    for line in header_lines:
        if not line.startswith("#") or "\n" in line or "\r" in line:
            raise ValueError(f"{path}: header line {line!r} must be one line starting with '#'")
    t = events["t"].astype(np.int64)
    if t.size and (t[0] < 0 or (np.diff(t) < 0).any()):
        raise ValueError(f"{path}: event times must be non-negative and in time order")
    for name, limit in (("x", AEDAT31_COORD_MASK), ("y", AEDAT31_COORD_MASK), ("p", 1)):
        values = events[name].astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > limit):
            raise ValueError(f"{path}: event {name} must be in 0..{limit}, found "
                             f"{values.min()}..{values.max()}")
    if valid is not None and len(valid) != len(events):
        raise ValueError(f"{path}: valid has {len(valid)} entries for {len(events)} events")


def write_aedat31(path, events, header_lines=AEDAT31_HEADER_LINES, events_per_packet=4096,
                  valid=None):
    """Write polarity events as an AEDAT 3.1 file, the DVS128 Gesture format.

    Parameters
    ----------
    path : path
        File to write.
    events : numpy structured array of :data:`EVENT_DTYPE`
        In time order; ``t`` may exceed 2**31 us (it sets ``eventTSOverflow``).
    header_lines : sequence of str
        The text header, each line without its ``\\r\\n``, from ``#!AER-DAT3.1``
        to ``#!END-HEADER``.
    events_per_packet : int
        Largest number of events in one polarity packet.
    valid : sequence of bool or None
        Validity bit of each event (default all valid); readers skip invalid ones.

    Each change of ``eventTSOverflow`` is preceded by a special-event packet
    holding a TIMESTAMP_WRAP event, as a DVS camera writes it, so files from this
    writer exercise a reader's skipping of non-polarity packets.
    """
    path = Path(path)
    _check_positive("events_per_packet", events_per_packet)
    _check_writable(events, valid, header_lines, path)
    valid = np.ones(len(events), bool) if valid is None else np.asarray(valid, bool)
    t = events["t"].astype(np.int64)
    address = ((events["x"].astype(np.int64) << AEDAT31_X_SHIFT)
               | (events["y"].astype(np.int64) << AEDAT31_Y_SHIFT)
               | (events["p"].astype(np.int64) << AEDAT31_POLARITY_SHIFT)
               | valid)
    words = np.stack([address, t & 0x7FFFFFFF], axis=1)
    overflow = t >> AEDAT31_TS_OVERFLOW_SHIFT
    with path.open("wb") as f:
        f.write("".join(line + "\r\n" for line in header_lines).encode("latin-1"))
        for start, end in _packet_ranges(overflow, events_per_packet):
            if start > 0 and overflow[start] != overflow[start - 1]:
                wrap = [(AEDAT31_TIMESTAMP_WRAP << 1) | 1, 0x7FFFFFFF]
                f.write(_packet_bytes(AEDAT31_SPECIAL_EVENT, int(overflow[start - 1]), wrap, 1))
            f.write(_packet_bytes(AEDAT31_POLARITY_EVENT, int(overflow[start]),
                                  words[start:end].ravel(), int(valid[start:end].sum())))


def _packet_ranges(overflow, events_per_packet):
    """``(start, end)`` of each packet: one overflow value, at most ``events_per_packet`` events."""
    run_starts = np.concatenate([[0], np.flatnonzero(np.diff(overflow)) + 1])
    run_ends = np.append(run_starts[1:], len(overflow))
    for run_start, run_end in zip(run_starts.tolist(), run_ends.tolist()):
        for start in range(run_start, run_end, events_per_packet):
            yield start, min(start + events_per_packet, run_end)


# ------------------------------------------------------------------ DVS Gesture

class GestureSegment(NamedTuple):
    """One labelled gesture of a recording: class 1..11, ``[start_us, end_us)``."""

    gesture_class: int
    start_us: int
    end_us: int


def read_gesture_labels(csv_path):
    """Read a ``userXX_<lighting>_labels.csv`` file into a list of :class:`GestureSegment`.

    Raises
    ------
    ValueError
        If the header is not ``class,startTime_usec,endTime_usec``, a row does
        not hold three integers, a class is outside 1..11 or a start is not
        before its end.
    """
    csv_path = Path(csv_path)
    rows = [row for row in csv.reader(csv_path.read_text().splitlines()) if row]
    header = [cell.strip() for cell in rows[0]] if rows else None
    if header != list(GESTURE_LABELS_HEADER):
        raise ValueError(f"{csv_path}: header is {header!r}, expected "
                         f"{','.join(GESTURE_LABELS_HEADER)!r}")
    return [_gesture_segment(row, csv_path, number)
            for number, row in enumerate(rows[1:], start=2)]


def _gesture_segment(row, csv_path, line):
    try:
        segment = GestureSegment(*(int(cell) for cell in row))
    except (TypeError, ValueError):
        raise ValueError(f"{csv_path}, line {line}: expected three integers, not {row!r}") from None
    if not 1 <= segment.gesture_class <= GESTURE_CLASSES:
        raise ValueError(f"{csv_path}, line {line}: class {segment.gesture_class} "
                         f"is outside 1..{GESTURE_CLASSES}")
    if segment.start_us >= segment.end_us:
        raise ValueError(f"{csv_path}, line {line}: start {segment.start_us} us "
                         f"is not before end {segment.end_us} us")
    return segment


def _gesture_dir(root):
    root = _existing_dir(root, "DVS-Gesture root")
    return root / "DvsGesture" if (root / "DvsGesture").is_dir() else root


def _trial_files(directory, split):
    """The ``.aedat`` files listed in ``trials_to_<split>.txt``, in listed order."""
    listing = directory / f"trials_to_{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"DVS-Gesture split list {listing} does not exist (the root "
                                "must be the DvsGesture folder or a folder holding it)")
    files = [directory / name.strip() for name in listing.read_text().splitlines() if name.strip()]
    if not files:
        raise ValueError(f"DVS-Gesture split list {listing} lists no recordings")
    for path in files:
        for needed in (path, _labels_path(path)):
            if not needed.is_file():
                raise FileNotFoundError(f"{listing} lists {path.name}, but {needed} does not exist")
    return files


def _labels_path(aedat_path):
    return aedat_path.with_name(aedat_path.stem + "_labels.csv")


def downsample_factor(size, sensor_size=GESTURE_SENSOR_SIZE):
    """Pixel divisor taking the 128x128 DVS128 sensor to ``size`` (64 -> 2, 32 -> 4)."""
    _check_choice("size", size, GESTURE_SIZES)
    return sensor_size // size


class DVSGesture(Dataset):
    """DVS128 Gesture from its AEDAT 3.1 recordings, one item per labelled gesture.

    Parameters
    ----------
    root : path
        The ``DvsGesture`` folder (with the ``.aedat`` files, their
        ``_labels.csv`` and ``trials_to_train.txt`` / ``trials_to_test.txt``),
        or a folder holding it.
    split : "train" or "test"
    T : int
        Number of time bins (default 300, Table II of the paper).
    size : 64 or 32 (or 128)
        Output size; the 128x128 sensor is downsampled by ``x // 2`` or ``x // 4``.
    duration_us : int
        Span binned from each gesture's start; the gesture is cut at its end
        time, so a shorter gesture leaves the last bins empty (default 1.5 s).
    samples : int or None
        If given, a class-balanced deterministic subset of this many gestures.

    Items are ``(spikes, label)``: uint8 tensor ``[T, 2, size, size]`` and the
    class minus 1 (0..10). ``segments`` lists ``(aedat_path, GestureSegment)``
    and ``labels`` the item labels, in item order (the listed recordings in turn,
    each one's gestures in the order of its labels file). The last recording read
    is kept in memory, so items taken in order read each file once.
    """

    def __init__(self, root, split="train", T=300, size=64, duration_us=GESTURE_DURATION_US,
                 samples=None):
        _check_choice("split", split, GESTURE_SPLITS)
        _check_positive("T", T)
        _check_positive("duration_us", duration_us)
        self.downsample = downsample_factor(size)
        self.T, self.size, self.duration_us = T, size, duration_us
        files = _trial_files(_gesture_dir(root), split)
        segments = [(path, segment) for path in files
                    for segment in read_gesture_labels(_labels_path(path))]
        if samples is not None:
            chosen = balanced_subset([segment.gesture_class for _, segment in segments], samples)
            segments = [segments[i] for i in chosen]
        self.segments = segments
        self.labels = [segment.gesture_class - 1 for _, segment in segments]
        self._cached = (None, None)

    def __len__(self):
        return len(self.segments)

    def _recording(self, path):
        if self._cached[0] != path:
            self._cached = (path, read_aedat31_events(path))
        return self._cached[1]

    def __getitem__(self, index):
        path, segment = self.segments[index]
        events = self._recording(path)
        t = events["t"]
        gesture = events[(t >= segment.start_us) & (t < segment.end_us)].copy()
        gesture["t"] -= segment.start_us
        shape = (2, self.size, self.size)
        spikes = bin_events(gesture, self.T, shape, self.duration_us, self.downsample)
        return torch.from_numpy(spikes), segment.gesture_class - 1


# ------------------------------------------------------------ synthetic gestures

_DIAGONAL = 1 / np.sqrt(2)
_STROKE_DIRECTIONS = (
    (1, 0), (-1, 0), (0, 1), (0, -1),
    (_DIAGONAL, _DIAGONAL), (-_DIAGONAL, -_DIAGONAL),
    (-_DIAGONAL, _DIAGONAL), (_DIAGONAL, -_DIAGONAL),
)


def _trajectory(label, phase, amplitude, start_angle):
    """Blob centre offset (dx, dy) from the image centre, in sensor widths, at ``phase`` 0..1.

    y grows downwards, so an increasing angle turns clockwise on screen.
    """
    if label < len(_STROKE_DIRECTIONS):
        dx, dy = _STROKE_DIRECTIONS[label]
        return amplitude * dx * (2 * phase - 1), amplitude * dy * (2 * phase - 1)
    if label < GESTURE_CLASSES - 1:
        turn = 1 if SYNTHETIC_CLASSES[label] == "circle clockwise" else -1
        angle = start_angle + turn * 2 * np.pi * phase
        return amplitude * np.cos(angle), amplitude * np.sin(angle)
    return amplitude * np.sin(4 * np.pi * phase), 0 * phase


class SyntheticGesture(Dataset):
    """A synthetic, deterministic 11-class stand-in for DVS128 Gesture.

    Not real data: use it only while the real recordings are absent. Each item
    is a Gaussian blob of events moving on a 128x128 sensor along one of 11
    trajectories (:data:`SYNTHETIC_CLASSES`: four straight strokes, four
    diagonals, a clockwise and an anticlockwise circle, and a left-right wave),
    with a per-item random centre, amplitude, blob width and start angle, plus
    uniformly scattered noise events. Events on the blob's leading edge are ON
    (p = 1), those on its trailing edge OFF. The events are then binned like
    :class:`DVSGesture`.

    Parameters
    ----------
    n_samples : int
        Number of items; item ``i`` has label ``i % 11``.
    T : int
        Number of time bins.
    size : 64 or 32 (or 128)
        Output size, downsampled from the 128x128 sensor.
    seed : int
        Item ``i`` depends only on ``(seed, i)``.
    duration_us : int
        Length of each gesture.
    events_per_step : int
        Mean number of blob events per time bin.
    noise : float
        Noise events as a fraction of blob events.

    Items are ``(spikes, label)``: uint8 tensor ``[T, 2, size, size]`` and 0..10.
    """

    def __init__(self, n_samples, T=300, size=64, seed=0, duration_us=GESTURE_DURATION_US,
                 events_per_step=40, noise=0.1):
        for name, value in (("n_samples", n_samples), ("T", T), ("duration_us", duration_us),
                            ("events_per_step", events_per_step)):
            _check_positive(name, value)
        if not 0 <= noise:
            raise ValueError(f"noise must be a non-negative fraction, not {noise!r}")
        self.downsample = downsample_factor(size)
        self.n_samples, self.T, self.size, self.seed = n_samples, T, size, seed
        self.duration_us, self.events_per_step, self.noise = duration_us, events_per_step, noise

    def __len__(self):
        return self.n_samples

    def label(self, index):
        """Class of item ``index``."""
        return index % GESTURE_CLASSES

    def events(self, index):
        """The synthetic events of item ``index`` on the 128x128 sensor, in time order."""
        if not 0 <= index < self.n_samples:
            raise IndexError(f"index {index} is outside 0..{self.n_samples - 1}")
        rng = np.random.default_rng((self.seed, index))
        blob = self._blob_events(rng, self.label(index))
        scattered = _scattered_events(rng, int(round(self.noise * len(blob))), 0, self.duration_us)
        events = np.concatenate([blob, scattered])
        return events[np.argsort(events["t"], kind="stable")]

    def _blob_events(self, rng, label):
        count = self.events_per_step * self.T
        centre = rng.uniform(0.4, 0.6, size=2)
        amplitude = rng.uniform(0.2, 0.3)
        width = rng.uniform(0.03, 0.06)
        start_angle = rng.uniform(0, 2 * np.pi)
        t = rng.integers(0, self.duration_us, size=count)
        phase = t / self.duration_us
        dx, dy = _trajectory(label, phase, amplitude, start_angle)
        # The direction of motion, by a small step in phase, decides each event's polarity.
        ahead_x, ahead_y = _trajectory(label, phase + 1e-3, amplitude, start_angle)
        offset = rng.normal(0, width, size=(count, 2))
        leading = offset[:, 0] * (ahead_x - dx) + offset[:, 1] * (ahead_y - dy) > 0
        x = np.floor((centre[0] + dx + offset[:, 0]) * GESTURE_SENSOR_SIZE).astype(np.int64)
        y = np.floor((centre[1] + dy + offset[:, 1]) * GESTURE_SENSOR_SIZE).astype(np.int64)
        inside = (x >= 0) & (x < GESTURE_SENSOR_SIZE) & (y >= 0) & (y < GESTURE_SENSOR_SIZE)
        return make_events(x[inside], y[inside], t[inside], leading[inside])

    def noise_rate(self):
        """Mean noise events per microsecond in an item."""
        return self.noise * self.events_per_step * self.T / self.duration_us

    def __getitem__(self, index):
        shape = (2, self.size, self.size)
        spikes = bin_events(self.events(index), self.T, shape, self.duration_us, self.downsample)
        return torch.from_numpy(spikes), self.label(index)


def _scattered_events(rng, count, start_us, end_us):
    """``count`` events uniform over the sensor, both polarities and ``[start_us, end_us)``."""
    return make_events(rng.integers(0, GESTURE_SENSOR_SIZE, size=count),
                       rng.integers(0, GESTURE_SENSOR_SIZE, size=count),
                       rng.integers(start_us, end_us, size=count),
                       rng.integers(0, 2, size=count))


# ------------------------------------- the synthetic set written as DVS128 Gesture files

SYNTHETIC_LIGHTING = ("fluorescent", "fluorescent_led", "lab", "led", "natural")
# A trial's first gesture starts this far into the sensor's clock, and pauses holding
# only noise events separate its gestures and follow the last (microseconds, drawn
# uniformly per trial and per pause).
SYNTHETIC_LEAD_US = (1_000_000, 3_000_000)
SYNTHETIC_PAUSE_US = (300_000, 1_000_000)


class SyntheticTrial(NamedTuple):
    """One recording of the synthetic set as :func:`synthetic_trials` plans it."""

    name: str          # userXX_<lighting>: the file stem
    split: str         # "train" or "test"
    items: tuple       # indices into SyntheticGesture(11 * trials, seed=seed), in recorded order
    starts_us: tuple   # each item's start on the recording's clock
    end_us: int        # end of the recording


def synthetic_trials(train_trials, test_trials, seed=0, duration_us=GESTURE_DURATION_US):
    """The recordings :func:`write_synthetic_gestures` writes, as :class:`SyntheticTrial`.

    Trial ``r`` (the train trials first) holds items ``11 r .. 11 r + 10`` of
    ``SyntheticGesture(11 * (train_trials + test_trials), seed=seed)``: one gesture of
    each class, as a subject of DVS128 Gesture performs each gesture once a trial, in
    a seeded order. As there, a user records one trial per lighting
    (:data:`SYNTHETIC_LIGHTING`), and no user is in both splits.
    """
    _check_positive("train_trials", train_trials)
    _check_positive("test_trials", test_trials)
    lightings = len(SYNTHETIC_LIGHTING)
    first_test_slot = -(-train_trials // lightings) * lightings
    trials = []
    for r in range(train_trials + test_trials):
        split, slot = (("train", r) if r < train_trials
                       else ("test", first_test_slot + r - train_trials))
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r,)))
        order = rng.permutation(GESTURE_CLASSES)
        pauses = rng.integers(*SYNTHETIC_PAUSE_US, size=GESTURE_CLASSES)
        ends = rng.integers(*SYNTHETIC_LEAD_US) + np.cumsum(duration_us + pauses) - pauses
        trials.append(SyntheticTrial(
            f"user{slot // lightings + 1:02d}_{SYNTHETIC_LIGHTING[slot % lightings]}", split,
            tuple(int(i) for i in r * GESTURE_CLASSES + order),
            tuple(int(end) - duration_us for end in ends), int(ends[-1] + pauses[-1])))
    return trials


def _synthetic_recording(gestures, trial, rng):
    """Events of ``trial``: its items from their starts, noise alone before and between them."""
    duration = gestures.duration_us
    pauses = zip((0,) + tuple(s + duration for s in trial.starts_us),
                 trial.starts_us + (trial.end_us,))
    parts = [_scattered_events(rng, int(round(gestures.noise_rate() * (end - start))), start, end)
             for start, end in pauses]
    for item, start in zip(trial.items, trial.starts_us):
        events = gestures.events(item)
        events["t"] += start
        parts.append(events)
    events = np.concatenate(parts)
    return events[np.argsort(events["t"], kind="stable")]


def write_synthetic_gestures(root, train_trials, test_trials, seed=0, progress=iter):
    """Write the synthetic gesture set in DVS128 Gesture's layout; return its trials.

    ``root/DvsGesture/`` receives, per :func:`synthetic_trials`, ``userXX_<lighting>.aedat``
    (AEDAT 3.1, a comment line in the header saying it is synthetic),
    ``userXX_<lighting>_labels.csv`` (class = label + 1, each gesture's
    ``[start, start + duration)``), ``trials_to_train.txt``, ``trials_to_test.txt`` and
    a ``README.txt``, so :class:`DVSGesture` reads it as it reads the real set, and gesture
    ``k`` of a trial bins to item ``trial.items[k]`` of :class:`SyntheticGesture`.

    The set is written into a new hidden folder beside ``root`` and renamed to ``root``
    when complete: on any error nothing is left. ``root`` must not exist. ``progress``
    wraps the iteration over the trials (e.g. ``tqdm``).
    """
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"{root} already exists; the gesture set is written only "
                              "into a new folder")
    trials = synthetic_trials(train_trials, test_trials, seed)
    gestures = SyntheticGesture(GESTURE_CLASSES * len(trials), seed=seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.{uuid.uuid4().hex}.partial"
    try:
        directory = staging / "DvsGesture"
        directory.mkdir(parents=True)
        header = (*AEDAT31_HEADER_LINES[:-1],
                  f"#Synthetic: not recorded; spikex gestures, seed {seed}", AEDAT31_END_LINE)
        for r, trial in enumerate(progress(trials)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r, 1)))
            write_aedat31(directory / f"{trial.name}.aedat",
                          _synthetic_recording(gestures, trial, rng), header)
            rows = [(gestures.label(item) + 1, start, start + gestures.duration_us)
                    for item, start in zip(trial.items, trial.starts_us)]
            with (directory / f"{trial.name}_labels.csv").open("w", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows([GESTURE_LABELS_HEADER, *rows])
        for split in GESTURE_SPLITS:
            names = "".join(f"{t.name}.aedat\n" for t in trials if t.split == split)
            (directory / f"trials_to_{split}.txt").write_text(names)
        (directory / "README.txt").write_text(_synthetic_readme(trials, seed))
        staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return trials


def _synthetic_readme(trials, seed):
    classes = "\n".join(f"  {k + 1:2d} {name}" for k, name in enumerate(SYNTHETIC_CLASSES))
    counts = {split: sum(t.split == split for t in trials) for split in GESTURE_SPLITS}
    return (f"SYNTHETIC stand-in for DVS128 Gesture: no recording of a person, written by\n"
            f"`spikex gestures` (model/data.py, SyntheticGesture) with seed {seed}.\n"
            f"{counts['train']} train and {counts['test']} test trials of {GESTURE_CLASSES} "
            f"gestures each, in the layout and AEDAT 3.1 format of the real set.\n"
            f"Classes (the labels files' class column):\n{classes}\n")
