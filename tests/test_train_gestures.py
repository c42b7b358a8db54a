"""The DVS-Gesture networks trained, compiled and evaluated from DVS-Gesture files: a tiny
synthetic set written by ``spikex gestures`` and read back through the real reader."""

import shutil
from pathlib import Path

import pytest
import torch

from model.networks import SpikingNet, net_config
from model.train import load_checkpoint
from spikex import netfile
from spikex.cli import main

ZOO = Path(__file__).resolve().parents[1] / "model" / "zoo"


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory):
    """One train and one test trial: 11 gestures each."""
    root = tmp_path_factory.mktemp("gestures") / "set"
    assert main(["gestures", "-o", str(root), "--train-trials", "1", "--test-trials", "1",
                 "--seed", "4"]) == 0
    return root


@pytest.mark.parametrize("net", ["dvsg-large", "dvsg-medium"])
def test_train_compile_and_eval_read_the_gesture_files(gesture_root, tmp_path, capsys, net):
    out = tmp_path / "run"
    assert main(["train", "--net", net, "--data", str(gesture_root), "--timesteps", "10",
                 "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "4",
                 "--val-fraction", "0.2", "--quiet", "--out", str(out),
                 "--export", str(out / "model.pt")]) == 0
    ckpt = load_checkpoint(out / "model.pt")
    # 11 train-trial gestures: 2 held out for validation, 9 trained on in 3 batches an epoch
    assert [record["step"] for record in ckpt["history"]] == [3, 6]
    assert all("val_accuracy" in record for record in ckpt["history"])
    config = net_config(net, 10)
    assert ckpt["config"] == config
    torch.manual_seed(0)            # the run's seed: its initial weights
    start = SpikingNet(config).state_dict()
    for name, value in ckpt["state_dict"].items():
        if name.endswith("weight"):
            assert torch.isfinite(value).all() and not torch.equal(value, start[name]), name
    capsys.readouterr()

    assert main(["eval", str(out / "model.pt"), "--data", str(gesture_root)]) == 0
    text = capsys.readouterr().out
    assert "11 samples, T=10" in text and "torch-int and golden agree bit for bit" in text
    assert "accuracy golden" in text
    assert main(["compile", str(out / "model.pt"), "--data", str(gesture_root),
                 "--split", "Train", "--samples", "5", "-o", str(tmp_path / "net.npz")]) == 0
    compiled = netfile.load(tmp_path / "net.npz")
    size = config["input_shape"][1]
    assert compiled.input.shape == (5, 10, 2, size, size)
    assert sorted(compiled.labels.tolist()) == [0, 1, 2, 3, 4]


def test_sweep_beta_reads_the_gesture_files(gesture_root, tmp_path, capsys):
    assert main(["sweep-beta", "--net", "dvsg-large", "--data", str(gesture_root),
                 "--timesteps", "10", "--samples", "11", "--warmup-epochs", "1", "--epochs", "1",
                 "--batch-size", "4", "--val-fraction", "0.2", "--betas", "0,1",
                 "-o", str(tmp_path / "sweep")]) == 0
    assert "| 1 |" in capsys.readouterr().out
    assert (tmp_path / "sweep" / "sweep.json").is_file()


def _without(root, name):
    (root / "DvsGesture" / name).unlink()


def _truncate(root, name):
    path = root / "DvsGesture" / name
    path.write_bytes(path.read_bytes()[:1000])


def _replace(root, name, text):
    (root / "DvsGesture" / name).write_text(text)


BROKEN = [
    ("missing folder", lambda root: shutil.rmtree(root), "no such file or directory (--data)"),
    ("no split list", lambda root: _without(root, "trials_to_train.txt"),
     "trials_to_train.txt does not exist"),
    ("empty split list", lambda root: _replace(root, "trials_to_train.txt", "\n"),
     "trials_to_train.txt lists no recordings"),
    ("missing recording", lambda root: _without(root, "user01_fluorescent.aedat"),
     "lists user01_fluorescent.aedat, but"),
    ("missing labels", lambda root: _without(root, "user01_fluorescent_labels.csv"),
     "user01_fluorescent_labels.csv does not exist"),
    ("truncated recording", lambda root: _truncate(root, "user01_fluorescent.aedat"),
     "user01_fluorescent.aedat: packet at byte"),
    ("bad labels", lambda root: _replace(root, "user01_fluorescent_labels.csv",
                                         "class,startTime_usec,endTime_usec\n12,0,10\n"),
     "user01_fluorescent_labels.csv, line 2: class 12 is outside 1..11"),
]


@pytest.mark.parametrize("what, spoil, message", BROKEN, ids=[case[0] for case in BROKEN])
def test_bad_gesture_data_is_one_line_naming_the_file(gesture_root, tmp_path, capsys, what,
                                                      spoil, message):
    root = tmp_path / "set"
    shutil.copytree(gesture_root, root)
    spoil(root)
    out = tmp_path / "run"
    assert main(["train", "--net", "dvsg-large", "--data", str(root), "--timesteps", "10",
                 "--quiet", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_an_nmnist_folder_is_not_gesture_data(tmp_path, capsys):
    (tmp_path / "Train" / "0").mkdir(parents=True)
    assert main(["eval", str(ZOO / "nmnist.pt"), "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Test does not exist" in err, err
    assert main(["train", "--net", "dvsg-medium", "--data", str(tmp_path), "--quiet",
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "trials_to_train.txt does not exist" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["Train"]
