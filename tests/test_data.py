"""Tests of model/data.py: N-MNIST on real files, AEDAT 3.1, DVS-Gesture, binning, and the
synthetic gesture set written as DVS-Gesture files."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import model.data
from model.data import (
    DVSGesture, EVENT_DTYPE, GestureSegment, NMNIST, SyntheticGesture, balanced_subset,
    bin_events, make_events, read_aedat31_events, read_gesture_labels, read_nmnist_events,
    synthetic_trials, write_aedat31, write_synthetic_gestures,
)

NMNIST_ROOT = Path(__file__).resolve().parents[2] / "shared/data/nmnist-small"
needs_nmnist = pytest.mark.skipif(
    not NMNIST_ROOT.is_dir(), reason=f"real N-MNIST subset not found at {NMNIST_ROOT}")

# Per-digit counts 0..9 from the data set's README.md.
TRAIN_PER_DIGIT = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
TEST_PER_DIGIT = [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]

PACKET_HEADER = struct.Struct("<hhiiiiii")


# ------------------------------------------------------------- N-MNIST, real files

@needs_nmnist
def test_nmnist_real_files_match_readme():
    files = sorted(NMNIST_ROOT.glob("*/*/*.bin"))
    assert len(files) == 1100
    counts = []
    for path in files:
        events = read_nmnist_events(path)
        assert events.dtype == EVENT_DTYPE
        counts.append(len(events))
        assert 0 <= events["x"].min() and events["x"].max() <= 33, path
        assert 0 <= events["y"].min() and events["y"].max() <= 33, path
        assert set(np.unique(events["p"])) <= {0, 1}, path
        assert (np.diff(events["t"]) >= 0).all(), f"{path}: timestamps go backwards"
    assert min(counts) == 1069 and max(counts) == 7152


@needs_nmnist
@pytest.mark.parametrize("split, per_digit", [("Train", TRAIN_PER_DIGIT), ("Test", TEST_PER_DIGIT)])
def test_nmnist_split_sizes_and_labels(split, per_digit):
    data = NMNIST(NMNIST_ROOT, split)
    assert len(data) == sum(per_digit)
    assert np.bincount(data.labels).tolist() == per_digit
    assert all(int(path.parent.name) == label for path, label in zip(data.files, data.labels))
    assert data.files == sorted(data.files, key=lambda p: (int(p.parent.name), p.name))


@needs_nmnist
def test_nmnist_item_is_binned_recording():
    data = NMNIST(NMNIST_ROOT, "Test", T=30)
    index = len(data) - 1
    spikes, label = data[index]
    assert spikes.shape == (30, 2, 34, 34) and spikes.dtype == torch.uint8
    assert label == int(data.files[index].parent.name) == 9
    events = read_nmnist_events(data.files[index])
    early = events[events["t"] < 300_000]
    assert spikes.sum() > 0 and set(spikes.unique().tolist()) <= {0, 1}
    # Every kept event lights its (bin, polarity, y, x) entry.
    assert spikes.numpy()[early["t"] // 10_000, early["p"], early["y"], early["x"]].all()


@needs_nmnist
def test_nmnist_samples_is_balanced_and_deterministic():
    full = NMNIST(NMNIST_ROOT, "Train")
    subset = NMNIST(NMNIST_ROOT, "Train", samples=100)
    again = NMNIST(NMNIST_ROOT, "Train", samples=100)
    assert len(subset) == 100 and subset.files == again.files
    assert np.bincount(subset.labels).tolist() == [10] * 10
    assert set(subset.files) <= set(full.files)
    # The subset takes the first files of each class.
    first_zeros = [f for f, label in zip(full.files, full.labels) if label == 0][:10]
    assert [f for f, label in zip(subset.files, subset.labels) if label == 0] == first_zeros


def test_balanced_subset_with_a_short_class():
    labels = [0, 0, 0, 0, 1, 2, 2, 2]
    assert balanced_subset(labels, 5).tolist() == [0, 1, 4, 5, 6]
    with pytest.raises(ValueError, match="samples=9 is more than the 8 available"):
        balanced_subset(labels, 9)


# ------------------------------------------------------ N-MNIST, hand-made files

def nmnist_bytes(rows):
    """Encode (x, y, p, t) rows in the 5-byte big-endian N-MNIST format."""
    return b"".join(bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
                    for x, y, p, t in rows)


def test_nmnist_reader_decodes_bits(tmp_path):
    path = tmp_path / "00001.bin"
    path.write_bytes(nmnist_bytes([(0, 33, 1, 0), (33, 0, 0, 2**23 - 1), (7, 9, 1, 0x5A5A5A)]))
    events = read_nmnist_events(path)
    assert events["x"].tolist() == [0, 33, 7]
    assert events["y"].tolist() == [33, 0, 9]
    assert events["p"].tolist() == [1, 0, 1]
    assert events["t"].tolist() == [0, 2**23 - 1, 0x5A5A5A]


def test_nmnist_overflow_marker_adds_2_to_13_us(tmp_path):
    path = tmp_path / "00001.bin"
    path.write_bytes(nmnist_bytes([(1, 1, 0, 100), (0, 240, 0, 0), (2, 2, 1, 50)]))
    events = read_nmnist_events(path)
    assert events["x"].tolist() == [1, 2]
    assert events["t"].tolist() == [100, 50 + 2**13]


def test_nmnist_bad_size_names_file_and_size(tmp_path):
    path = tmp_path / "broken.bin"
    path.write_bytes(bytes(7))
    with pytest.raises(ValueError, match=r"broken\.bin: size 7 bytes is not a multiple of 5"):
        read_nmnist_events(path)


def test_nmnist_missing_directories_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        NMNIST(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "Test")):
        NMNIST(tmp_path, "Test")
    with pytest.raises(ValueError, match="split must be one of 'Train', 'Test', not 'train'"):
        NMNIST(tmp_path, "train")


# ---------------------------------------------------------------------- binning

def test_bin_events_edges_duration_and_duplicates():
    # T = 4 bins of 100 us over 400 us.
    events = make_events(x=[1, 2, 3, 3, 0, 1, 2],
                         y=[0, 1, 2, 2, 0, 0, 0],
                         t=[99, 100, 399, 399, 400, 1000, -1],
                         p=[0, 1, 1, 1, 0, 0, 1])
    spikes = bin_events(events, T=4, shape=(2, 3, 4), duration_us=400)
    expected = np.zeros((4, 2, 3, 4), np.uint8)
    expected[0, 0, 0, 1] = 1   # t = 99: last microsecond of bin 0
    expected[1, 1, 1, 2] = 1   # t = 100: exactly on the edge, first of bin 1
    expected[3, 1, 2, 3] = 1   # two events in one entry still give 1
    # t = 400 and t = 1000 are past the duration, t = -1 before it: dropped.
    assert spikes.dtype == np.uint8
    np.testing.assert_array_equal(spikes, expected)


def test_bin_events_uneven_bins_and_downsampling():
    # 3 bins over 10 us: bin = floor(t * 3 / 10) -> edges at 3.33 and 6.67 us.
    events = make_events(x=[127, 4, 5], y=[0, 127, 64], t=[3, 4, 7], p=[1, 0, 1])
    spikes = bin_events(events, T=3, shape=(2, 32, 32), duration_us=10, downsample=4)
    assert spikes.sum() == 3
    assert spikes[0, 1, 0, 31] == 1 and spikes[1, 0, 31, 1] == 1 and spikes[2, 1, 16, 1] == 1


def test_bin_events_rejects_out_of_range_events():
    events = make_events(x=[34], y=[0], t=[0], p=[0])
    with pytest.raises(ValueError, match=r"event x=34 \(after downsample 1\) is outside 0..33"):
        bin_events(events, 30, (2, 34, 34), 300_000)
    with pytest.raises(ValueError, match="T must be a positive integer, not 0"):
        bin_events(events, 0, (2, 34, 34), 300_000)


# ---------------------------------------------------------------------- AEDAT 3.1

def gesture_events(rng, count, t_start, t_end):
    """Random DVS128 events in time order over [t_start, t_end)."""
    return make_events(rng.integers(0, 128, count), rng.integers(0, 128, count),
                       np.sort(rng.integers(t_start, t_end, count)), rng.integers(0, 2, count))


def packets(path):
    """(eventType, eventTSOverflow, eventNumber) of each packet, parsed independently."""
    data = path.read_bytes()
    offset = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    found = []
    while offset < len(data):
        kind, _, size, _, overflow, capacity, number, _ = PACKET_HEADER.unpack_from(data, offset)
        found.append((kind, overflow, number))
        offset += PACKET_HEADER.size + capacity * size
    assert offset == len(data)
    return found


def test_aedat31_round_trip_with_overflow_and_special_packets(tmp_path):
    t = [0, 5, 2**31 - 1, 2**31, 2**31 + 7, 2**31 + 8, 3 * 2**31 + 1]
    events = make_events(x=[0, 127, 64, 1, 2, 3, 100], y=[127, 0, 64, 5, 6, 7, 99],
                         t=t, p=[1, 0, 1, 0, 1, 1, 0])
    path = tmp_path / "user01_fluorescent.aedat"
    write_aedat31(path, events, events_per_packet=2)
    assert path.read_bytes().startswith(b"#!AER-DAT3.1\r\n")
    found = packets(path)
    # Epoch 0 holds 3 events (packets of 2 + 1), epoch 1 holds 3, epoch 3 holds 1;
    # a special packet (type 0) marks each wrap.
    assert found == [(1, 0, 2), (1, 0, 1), (0, 0, 1), (1, 1, 2), (1, 1, 1), (0, 1, 1), (1, 3, 1)]
    back = read_aedat31_events(path)
    assert back.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back, events)


def test_aedat31_reader_skips_other_packets_and_invalid_events(tmp_path):
    events = gesture_events(np.random.default_rng(1), 50, 0, 10_000)
    valid = np.arange(50) % 7 != 0
    path = tmp_path / "user02_led.aedat"
    write_aedat31(path, events, valid=valid, events_per_packet=16)
    # Splice in an IMU6 packet (type 3, 36-byte events) whose words would
    # decode as valid polarity events if it were not skipped.
    data = path.read_bytes()
    body = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    imu = PACKET_HEADER.pack(3, 1, 36, 4, 0, 2, 2, 2) + np.full(18, 0x00230007, "<u4").tobytes()
    path.write_bytes(data[:body] + imu + data[body:])
    np.testing.assert_array_equal(read_aedat31_events(path), events[valid])


def write_bytes(path, header, *chunks):
    path.write_bytes(header + b"".join(chunks))
    return path


def test_aedat31_malformed_files_are_named(tmp_path):
    header = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    good = PACKET_HEADER.pack(1, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<II", 0x3, 10)
    wide = PACKET_HEADER.pack(1, 1, 12, 4, 0, 1, 1, 1) + bytes(12)
    cases = [
        (write_bytes(tmp_path / "v2.aedat", b"#!AER-DAT2.0\r\n", good),
         "first line is '#!AER-DAT2.0', expected '#!AER-DAT3.1'"),
        (write_bytes(tmp_path / "open.aedat", b"#!AER-DAT3.1\r\n", good),
         "no '#!END-HEADER' line"),
        (write_bytes(tmp_path / "cut.aedat", header, good[:-3]),
         "file ends 3 bytes short"),
        (write_bytes(tmp_path / "stub.aedat", header, good, good[:10]),
         "truncated packet header at byte 64"),
        (write_bytes(tmp_path / "wide.aedat", header, wide),
         "eventSize 12 and eventTSOffset 4, expected 8 and 4"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=path.name) as error:
            read_aedat31_events(path)
        assert message in str(error.value)
    assert len(read_aedat31_events(write_bytes(tmp_path / "ok.aedat", header, good))) == 1


def test_aedat31_writer_refuses_bad_input(tmp_path):
    events = make_events(x=[0, 0], y=[0, 0], t=[5, 4], p=[0, 1])
    with pytest.raises(ValueError, match="in time order"):
        write_aedat31(tmp_path / "a.aedat", events)
    with pytest.raises(ValueError, match="must start with '#!AER-DAT3.1'"):
        write_aedat31(tmp_path / "a.aedat", events[:1], header_lines=["#!END-HEADER"])


# --------------------------------------------------------------- gesture labels

def write_labels(path, segments):
    rows = [f"{c},{start},{end}" for c, start, end in segments]
    path.write_text("\n".join(["class,startTime_usec,endTime_usec", *rows]) + "\n")
    return path


def test_read_gesture_labels(tmp_path):
    path = write_labels(tmp_path / "user01_led_labels.csv", [(1, 100, 200), (11, 300, 400)])
    assert read_gesture_labels(path) == [GestureSegment(1, 100, 200), GestureSegment(11, 300, 400)]


@pytest.mark.parametrize("text, message", [
    ("cls,start,end\n1,0,10\n", "header is ['cls', 'start', 'end']"),
    ("class,startTime_usec,endTime_usec\n12,0,10\n", "line 2: class 12 is outside 1..11"),
    ("class,startTime_usec,endTime_usec\n1,10,10\n", "line 2: start 10 us is not before end 10 us"),
    ("class,startTime_usec,endTime_usec\n1,0,10\n2,x,20\n", "line 3: expected three integers"),
])
def test_read_gesture_labels_rejects_bad_rows(tmp_path, text, message):
    path = tmp_path / "user03_natural_labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match="user03_natural_labels.csv") as error:
        read_gesture_labels(path)
    assert message in str(error.value)


# ------------------------------------------------------------------ DVS Gesture

def make_gesture_set(root):
    """Two recordings in the real layout: user01 (train, 3 gestures), user02 (test, 2)."""
    directory = root / "DvsGesture"
    directory.mkdir()
    rng = np.random.default_rng(7)
    recordings = {
        "user01_fluorescent": [(1, 1_000, 2_000), (5, 3_000, 4_000), (11, 5_000, 5_500)],
        # Past 2**31 us, so the recording crosses a timestamp overflow.
        "user02_led": [(3, 2**31 - 500, 2**31 + 500), (8, 2**31 + 2_000, 2**31 + 3_000)],
    }
    for name, segments in recordings.items():
        start, end = segments[0][1] - 1_000, segments[-1][2] + 1_000
        write_aedat31(directory / f"{name}.aedat", gesture_events(rng, 3_000, start, end))
        write_labels(directory / f"{name}_labels.csv", segments)
    (directory / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (directory / "trials_to_test.txt").write_text("user02_led.aedat\n\n")
    return directory


def test_dvs_gesture_cuts_recordings_into_labelled_gestures(tmp_path):
    directory = make_gesture_set(tmp_path)
    train = DVSGesture(tmp_path, "train", T=10, size=64, duration_us=1_000)
    test = DVSGesture(directory, "test", T=10, size=32, duration_us=1_000)
    assert len(train) == 3 and len(test) == 2
    assert [train[i][1] for i in range(3)] == [0, 4, 10]
    assert [test[i][1] for i in range(2)] == [2, 7]
    assert train[0][0].shape == (10, 2, 64, 64) and test[0][0].shape == (10, 2, 32, 32)
    for data, downsample in ((train, 2), (test, 4)):
        for index, (path, segment) in enumerate(data.segments):
            events = read_aedat31_events(path)
            inside = events[(events["t"] >= segment.start_us) & (events["t"] < segment.end_us)]
            inside["t"] -= segment.start_us
            size = 128 // downsample
            expected = bin_events(inside, 10, (2, size, size), 1_000, downsample)
            spikes, _ = data[index]
            assert spikes.sum() > 0
            np.testing.assert_array_equal(spikes.numpy(), expected)


def test_dvs_gesture_drops_events_outside_the_gesture(tmp_path):
    directory = tmp_path / "DvsGesture"
    directory.mkdir()
    events = make_events(x=[10, 20, 30, 40], y=[10, 20, 30, 40], t=[999, 1_000, 1_250, 2_000],
                         p=[1, 1, 0, 1])
    write_aedat31(directory / "user05_lab.aedat", events)
    write_labels(directory / "user05_lab_labels.csv", [(2, 1_000, 2_000)])
    (directory / "trials_to_train.txt").write_text("user05_lab.aedat\n")
    spikes, label = DVSGesture(tmp_path, "train", T=4, size=64, duration_us=2_000)[0]
    assert label == 1
    assert spikes.sum() == 2
    assert spikes[0, 1, 10, 10] == 1 and spikes[0, 0, 15, 15] == 1


def test_dvs_gesture_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        DVSGesture(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt does not exist"):
        DVSGesture(tmp_path)
    directory = make_gesture_set(tmp_path)
    with pytest.raises(ValueError, match="size must be one of 128, 64, 32, not 48"):
        DVSGesture(tmp_path, size=48)
    with pytest.raises(ValueError, match="split must be one of 'train', 'test', not 'val'"):
        DVSGesture(tmp_path, split="val")
    (directory / "trials_to_test.txt").write_text("user09_natural.aedat\n")
    with pytest.raises(FileNotFoundError, match="lists user09_natural.aedat"):
        DVSGesture(tmp_path, split="test")
    (directory / "user01_fluorescent_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="lists user01_fluorescent.aedat, but "
                       + str(directory / "user01_fluorescent_labels.csv") + " does not exist"):
        DVSGesture(tmp_path)
    (directory / "trials_to_test.txt").write_text("\n")
    with pytest.raises(ValueError, match="trials_to_test.txt lists no recordings"):
        DVSGesture(tmp_path, split="test")


def test_dvs_gesture_samples_is_a_balanced_subset_in_item_order(tmp_path):
    directory = make_gesture_set(tmp_path)
    (directory / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_led.aedat\n")
    full = DVSGesture(tmp_path, T=10, duration_us=1_000)
    assert full.labels == [0, 4, 10, 2, 7]
    # one gesture of each of the three lowest classes, in item order
    subset = DVSGesture(tmp_path, T=10, duration_us=1_000, samples=3)
    assert subset.labels == [0, 4, 2]
    assert subset.segments == [full.segments[i] for i in (0, 1, 3)]
    np.testing.assert_array_equal(subset[2][0], full[3][0])


# ------------------------------------------------------------- synthetic gestures

def test_synthetic_gesture_is_deterministic_with_all_classes():
    data = SyntheticGesture(22, T=20, size=32, seed=3)
    again = SyntheticGesture(22, T=20, size=32, seed=3)
    other = SyntheticGesture(22, T=20, size=32, seed=4)
    items = [data[i] for i in range(len(data))]
    assert sorted({label for _, label in items}) == list(range(11))
    for index, (spikes, label) in enumerate(items):
        assert spikes.shape == (20, 2, 32, 32) and spikes.dtype == torch.uint8
        assert set(spikes.unique().tolist()) == {0, 1}
        repeat, repeat_label = again[index]
        assert torch.equal(spikes, repeat) and label == repeat_label
    assert not torch.equal(items[0][0], other[0][0])


def test_synthetic_gesture_events_are_ordered_and_on_the_sensor():
    events = SyntheticGesture(11, T=30, size=64, seed=0).events(10)
    assert events.dtype == EVENT_DTYPE and len(events) > 0
    assert (np.diff(events["t"]) >= 0).all()
    assert events["x"].min() >= 0 and events["x"].max() < 128
    assert events["y"].min() >= 0 and events["y"].max() < 128


# -------------------------------------------- the synthetic set as DVS-Gesture files

def test_written_gesture_set_reads_back_as_the_synthetic_items(tmp_path):
    """Written as AEDAT 3.1 recordings and read by the real reader, each labelled gesture
    is, bin for bin, the in-memory item it was made from."""
    trials = write_synthetic_gestures(tmp_path / "set", 2, 1, seed=5)
    assert trials == synthetic_trials(2, 1, seed=5)
    directory = tmp_path / "set" / "DvsGesture"
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.txt", "trials_to_test.txt", "trials_to_train.txt",
        "user01_fluorescent.aedat", "user01_fluorescent_labels.csv",
        "user01_fluorescent_led.aedat", "user01_fluorescent_led_labels.csv",
        "user02_fluorescent.aedat", "user02_fluorescent_labels.csv"]
    assert (directory / "trials_to_test.txt").read_text() == "user02_fluorescent.aedat\n"
    assert "SYNTHETIC" in (directory / "README.txt").read_text()
    assert b"#Synthetic: " in (directory / "user02_fluorescent.aedat").read_bytes()[:200]
    items = SyntheticGesture(33, T=300, size=32, seed=5)
    for split in ("train", "test"):
        data = DVSGesture(tmp_path / "set", split, T=300, size=32)
        made = [item for trial in trials if trial.split == split for item in trial.items]
        assert len(data) == len(made) == 11 * sum(t.split == split for t in trials)
        for index, item in enumerate(made):
            spikes, label = data[index]
            expected, expected_label = items[item]
            assert label == expected_label
            assert torch.equal(spikes, expected), f"{split} gesture {index} (item {item})"
    for trial in trials:
        # every class once a trial; the recording holds noise outside its gestures
        assert sorted(items.label(i) for i in trial.items) == list(range(11))
        events = read_aedat31_events(directory / f"{trial.name}.aedat")
        assert events["t"].min() < trial.starts_us[0] and (np.diff(events["t"]) >= 0).all()
        assert events["t"].max() >= trial.starts_us[-1] + items.duration_us


def test_gesture_set_is_deterministic_and_refuses_an_existing_folder(tmp_path):
    write_synthetic_gestures(tmp_path / "a", 1, 1, seed=2)
    write_synthetic_gestures(tmp_path / "b", 1, 1, seed=2)
    files = sorted(p.name for p in (tmp_path / "a" / "DvsGesture").iterdir())
    for name in files:
        assert (tmp_path / "a/DvsGesture" / name).read_bytes() == \
            (tmp_path / "b/DvsGesture" / name).read_bytes(), name
    with pytest.raises(FileExistsError, match="a already exists"):
        write_synthetic_gestures(tmp_path / "a", 1, 1)
    with pytest.raises(ValueError, match="test_trials must be a positive integer, not 0"):
        write_synthetic_gestures(tmp_path / "c", 1, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_gesture_set_writer_leaves_nothing_on_error(tmp_path, monkeypatch):
    written = []

    def fail_on_the_second(path, events, *args):
        if written:
            raise OSError(f"{path}: disk full")
        written.append(path)
        write_aedat31(path, events, *args)

    monkeypatch.setattr(model.data, "write_aedat31", fail_on_the_second)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_gestures(tmp_path / "set", 2, 1)
    assert written and list(tmp_path.iterdir()) == []
