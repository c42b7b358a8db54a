"""Training: warm-up, then SpikeX-HT (and SpikeX-HAS) on the Train split only.

Two phases (paper §IV-A):

1. Warm-up (``warmup_epochs``): ``L = L_acc + L_warm`` with no hardware loss;
   ``L_warm = sum_k relu(r_min - r_k) / r_min`` lifts every layer's firing rate ``r_k``
   to at least ``r_min`` so that gradients reach every layer.
2. Hardware-aware: ``L_tot = L_acc + beta * L_HW`` (:mod:`model.hwloss`). With HAS, each
   weight step on a training batch is followed by an ``alpha`` step on a batch of the
   validation split (:mod:`model.has`); without it every layer keeps the fixed ``tws``.

``L_acc`` is the cross-entropy of the last layer's spike counts (times ``logit_scale``).
The data set follows the network's input (:func:`load_data`): N-MNIST's Train/ folder or
the recordings DVS128 Gesture's ``trials_to_train.txt`` lists. The validation split is a
seeded ``val_fraction`` of that Train split; the Test split is never read here.

A checkpoint (``<out>/last.ckpt``, written after every epoch and when ``max_steps`` stops
the run) holds the model, the optimisers, the search logits, the RNG states, the epoch,
the batch within it and the global step, so ``resume`` continues exactly: the batch
order of an epoch depends only on ``(seed, epoch)``. :func:`export` keeps only what
compiling needs (a few hundred KB).
"""

import math
import random
import time
from dataclasses import dataclass, asdict, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from spikex.netfile import SpikexError
from .has import TwsSearch, fixed_tws_weights
from .hwloss import EdpModel, HardwareLoss, analytic_edp_model, divisor_tws
from .networks import SpikingNet, net_config, spike_counts


__all__ = ["TrainConfig", "load_nmnist", "load_gestures", "load_data", "split_train_val",
           "augment", "learning_rate", "train", "evaluate", "export",
           "load_checkpoint", "model_from_checkpoint"]


@dataclass
class TrainConfig:
    net: str = "nmnist"
    data: str = "../shared/data/nmnist-small"
    samples: int = None            # class-balanced subset of Train/ (None: all)
    val_fraction: float = 0.1
    epochs: int = 10
    warmup_epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    alpha_lr: float = 0.05
    beta: float = 1e-2
    has: bool = True
    tws: list = field(default_factory=list)   # fixed TWS per layer without HAS (default: 5 or 1)
    max_tws: int = 15
    edp_model: str = None          # JSON of sim/edp_fit.py; None: analytic stand-in
    max_steps: int = None
    seed: int = 0
    surrogate: str = "superspike"
    surrogate_alpha: float = 5.0
    leak_shift: float = 3.0
    init_gain: float = 2.0
    logit_scale: float = 0.5
    warmup_rate: float = 0.02
    T: int = None                  # override the preset's T
    augment_shift: int = 0         # random translation of a training sample, up to this many pixels
    augment_drop: float = 0.0      # each sample drops its input spikes with a probability up to this
    augment_time: int = 0          # random shift of a training sample in time, up to this many steps
    augment_rotate: float = 0.0    # random rotation of a training sample, up to this many degrees
    augment_scale: float = 0.0     # random zoom of a training sample by 1 - s .. 1 + s
    lr_schedule: str = "constant"  # or "cosine": lr decays to 0 over the epochs after the warm-up


def load_nmnist(root, split, T, samples=None, progress=True, duration_us=300_000):
    """A whole N-MNIST split in memory: uint8 ``[N, T, 2, 34, 34]`` and int64 labels ``[N]``.

    The first ``duration_us`` of each recording is binned into ``T`` steps.
    """
    from .data import NMNIST
    return _in_memory(lambda: NMNIST(root, split, T=T, duration_us=duration_us, samples=samples),
                      root, split, progress)


def load_gestures(root, split, T, size, samples=None, progress=True):
    """A whole DVS128 Gesture split in memory: uint8 ``[N, T, 2, size, size]``, labels ``[N]``.

    ``split`` "Train" or "Test" (either case) reads the recordings of
    ``trials_to_train.txt`` or ``trials_to_test.txt``; one item per labelled gesture.
    """
    from .data import DVSGesture
    return _in_memory(lambda: DVSGesture(root, split.lower(), T=T, size=size, samples=samples),
                      root, split, progress)


def load_data(config, root, split, samples=None, progress=True):
    """The ``split`` of the data set the network ``config`` reads, by its input, in memory.

    N-MNIST for a ``[2, 34, 34]`` input, DVS128 Gesture (downsampled to the input's
    size) for ``[2, 64, 64]`` or ``[2, 32, 32]`` with 11 classes; ``config["T"]`` steps.
    """
    from .data import GESTURE_CLASSES, GESTURE_SIZES, NMNIST_SIZE
    channels, height, width = config["input_shape"]
    if channels == 2 and height == width == NMNIST_SIZE:
        return load_nmnist(root, split, config["T"], samples, progress)
    if (channels == 2 and height == width and height in GESTURE_SIZES
            and config["classes"] == GESTURE_CLASSES):
        return load_gestures(root, split, config["T"], height, samples, progress)
    raise SpikexError(f"network {config['name']}: no data set has input {config['input_shape']} "
                      f"and {config['classes']} classes (N-MNIST: [2, 34, 34], 10; DVS128 "
                      f"Gesture: [2, 64, 64] or [2, 32, 32], {GESTURE_CLASSES})")


def _in_memory(make_dataset, root, split, progress):
    """Every item of ``make_dataset()`` in one uint8 array; a data error is one line."""
    try:
        dataset = make_dataset()
        if not len(dataset):
            raise ValueError(f"{root}: the {split} split holds no samples")
        first = dataset[0][0].numpy()
        # into place: stacking uint8 tensors is slow
        spikes = np.empty((len(dataset), *first.shape), dtype=np.uint8)
        spikes[0] = first
        for i in tqdm(range(1, len(dataset)), desc=f"read {split}", unit="sample",
                      disable=not progress, leave=False):
            spikes[i] = dataset[i][0].numpy()
    except (FileNotFoundError, ValueError) as error:
        raise SpikexError(str(error)) from None
    return torch.from_numpy(spikes), torch.tensor(dataset.labels)


def split_train_val(n, val_fraction, seed):
    """Seeded disjoint index sets ``(train, val)`` of ``range(n)``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return order[n_val:].sort().values, order[:n_val].sort().values


def augment(spikes, shift, drop, generator, time=0, rotate=0.0, scale=0.0):
    """Event-data augmentation of a batch ``[B, T, C, H, W]`` (uint8), drawn from ``generator``.

    Each sample is translated by ``(dy, dx)`` uniform in ``-shift..shift`` pixels (what
    leaves the sensor is lost, what comes in is silent), drops each of its input
    spikes with probability ``p``, ``p`` uniform in ``[0, drop)`` per sample, and is
    delayed by ``dt`` uniform in ``-time..time`` steps (what leaves the T steps is lost,
    what comes in is silent). Then it is rotated about the sensor's centre by an angle
    uniform in ``-rotate..rotate`` degrees and zoomed by a factor uniform in
    ``1 - scale .. 1 + scale`` (nearest pixel, the same for every step and polarity).
    Each option draws after the ones before it, so a zero draws as before it existed.
    """
    batch, steps, _, height, width = spikes.shape
    if shift:
        padded = F.pad(spikes, (shift, shift, shift, shift))
        dy, dx = torch.randint(0, 2 * shift + 1, (2, batch, 1), generator=generator)
        rows, cols = dy + torch.arange(height), dx + torch.arange(width)
        # indexing [B, :, :, H, W] with the slices between puts the indexed dims first
        spikes = padded[torch.arange(batch)[:, None, None], :, :, rows[:, :, None],
                        cols[:, None, :]].permute(0, 3, 4, 1, 2)
    if drop:
        p = torch.rand(batch, 1, 1, 1, 1, generator=generator) * drop
        spikes = spikes * (torch.rand(spikes.shape, generator=generator) >= p)
    if time:
        padded = F.pad(spikes, (0, 0, 0, 0, 0, 0, time, time))     # pads dim 1 (T)
        dt = torch.randint(0, 2 * time + 1, (batch, 1), generator=generator)
        rows = (2 * time - dt) + torch.arange(steps)                # source step of each output step
        spikes = padded[torch.arange(batch)[:, None], rows]
    if rotate or scale:
        spikes = _rotate_and_zoom(spikes, rotate, scale, generator)
    return spikes


def _rotate_and_zoom(spikes, rotate, scale, generator):
    """Each sample of ``[B, T, C, H, W]`` rotated by up to ``rotate`` degrees and zoomed by
    ``1 +- scale`` about the centre: every output pixel takes the input pixel nearest to
    where the inverse transform puts it (outside the sensor: silent)."""
    batch, steps, channels, height, width = spikes.shape
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(rotate)
    zoom = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * scale
    cos, sin, zero = torch.cos(angle) / zoom, torch.sin(angle) / zoom, torch.zeros(batch)
    # affine_grid maps output to input coordinates: the inverse of rotate-then-zoom
    inverse = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)
    grid = F.affine_grid(inverse, (batch, 1, height, width), align_corners=False)
    frames = spikes.reshape(batch, steps * channels, height, width).float()
    moved = F.grid_sample(frames, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return moved.to(torch.uint8).reshape(spikes.shape)


def learning_rate(cfg, epoch, progress):
    """The weights' learning rate ``progress`` (0..1) into ``epoch``: ``cfg.lr`` in the warm-up;
    after it, constant or a cosine from ``cfg.lr`` to 0 at the end of ``cfg.epochs``."""
    if cfg.lr_schedule == "constant" or epoch < cfg.warmup_epochs:
        return cfg.lr
    done = (epoch - cfg.warmup_epochs + progress) / max(1, cfg.epochs - cfg.warmup_epochs)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


def time_first(spikes):
    """``[B, T, ...]`` uint8 -> float ``[T, B, ...]``."""
    return spikes.transpose(0, 1).to(torch.get_default_dtype())


def _default_tws(choices):
    return max(c for c in choices if c <= 5)


def layer_inputs(x, outputs):
    return (x,) + tuple(outputs[:-1])


class Trainer:
    """Holds the model, search, optimisers and losses of one training run."""

    def __init__(self, cfg, model_config):
        self.cfg = cfg
        self.model = SpikingNet(model_config, cfg.leak_shift, cfg.surrogate, cfg.surrogate_alpha,
                                cfg.init_gain)
        T = self.model.T
        if cfg.edp_model:
            self.edp = EdpModel.load(cfg.edp_model)
            choices = [[t for t in self.edp.tws_choices(k) if T % t == 0]
                       for k in range(len(self.model.geometry))]
        else:
            base = divisor_tws(T, cfg.max_tws)
            self.edp = analytic_edp_model(self.model.geometry, T, base)
            choices = [base] * len(self.model.geometry)
        for k, c in enumerate(choices):
            if not c:
                raise SpikexError(f"{cfg.edp_model}: layer {k} has no EDP curve at a TWS dividing T={T}")
        self.search = TwsSearch(choices)
        fixed = cfg.tws or [_default_tws(c) for c in choices]
        if len(fixed) != len(choices):
            raise SpikexError(f"--tws lists {len(fixed)} values for {len(choices)} layers")
        try:
            self.fixed_weights = fixed_tws_weights(choices, fixed)
        except ValueError as error:
            raise SpikexError(f"--tws: {error}") from None
        self.fixed_tws = list(fixed)
        self.hw_loss = HardwareLoss(self.model.geometry, self.edp, choices)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.alpha_optimizer = torch.optim.Adam(self.search.parameters(), lr=cfg.alpha_lr)

    def tws(self):
        return self.search.chosen() if self.cfg.has else self.fixed_tws

    def tws_weights(self):
        return self.search.weights() if self.cfg.has else self.fixed_weights

    def loss(self, x, y, warmup):
        outputs = self.model(x)
        logits = spike_counts(outputs[-1]) * self.cfg.logit_scale
        acc_loss = F.cross_entropy(logits, y)
        terms = {"acc": acc_loss}
        if warmup:
            rates = torch.stack([s.mean() for s in outputs])
            floor = self.cfg.warmup_rate
            terms["warm"] = (F.relu(floor - rates) / floor).sum()
        else:
            weights = [w.detach() for w in self.tws_weights()]
            terms["hw"], _ = self.hw_loss(layer_inputs(x, outputs), weights)
            terms["hw"] = self.cfg.beta * terms["hw"]
        correct = int((logits.argmax(1) == y).sum())
        return sum(terms.values()), terms, correct

    def alpha_step(self, x):
        with torch.no_grad():
            outputs = self.model(x)
        hw, _ = self.hw_loss(layer_inputs(x, outputs), self.search.weights())
        self.alpha_optimizer.zero_grad()
        (self.cfg.beta * hw).backward()
        self.alpha_optimizer.step()

    def state(self, epoch, batch, step, history):
        return {"config": self.model.config, "train_config": asdict(self.cfg),
                "state_dict": self.model.state_dict(), "search": self.search.state_dict(),
                "tws_choices": self.search.tws_choices, "tws": self.tws(),
                "optimizer": self.optimizer.state_dict(),
                "alpha_optimizer": self.alpha_optimizer.state_dict(),
                "epoch": epoch, "batch": batch, "step": step, "history": history,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                        "python": random.getstate()}}

    def restore(self, ckpt):
        self.model.load_state_dict(ckpt["state_dict"])
        self.search.load_state_dict(ckpt["search"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.alpha_optimizer.load_state_dict(ckpt["alpha_optimizer"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])


def load_checkpoint(path):
    """Read a checkpoint or exported model; a missing or unreadable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SpikexError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a corrupt file
        raise SpikexError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") \
            from None
    if not isinstance(ckpt, dict) or not {"config", "state_dict", "tws"} <= set(ckpt):
        raise SpikexError(f"{path}: not a spikex checkpoint (needs config, state_dict and tws)")
    return ckpt


def model_from_checkpoint(ckpt):
    """The float :class:`SpikingNet` of a checkpoint, in eval mode."""
    tc = ckpt.get("train_config", {})
    model = SpikingNet(ckpt["config"], tc.get("leak_shift", 3.0), tc.get("surrogate", "superspike"),
                       tc.get("surrogate_alpha", 5.0))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export(ckpt, path):
    """Write only the config, weights, leak shifts and chosen TWS (for compiling and the zoo)."""
    small = {"config": ckpt["config"], "train_config": ckpt["train_config"],
             "state_dict": {k: v.clone() for k, v in ckpt["state_dict"].items()},
             "tws": ckpt["tws"], "tws_choices": ckpt["tws_choices"],
             "search": ckpt["search"], "history": ckpt["history"]}
    torch.save(small, path)


@torch.no_grad()
def evaluate(model, spikes, labels, tws, batch_size=64):
    """Float accuracy, per-layer output spike density and per-layer active-TW density at ``tws``."""
    from .hwloss import active_window_densities
    model.eval()
    correct, n = 0, len(labels)
    spike_sum = [0.0] * len(model.geometry)
    active_sum = [0.0] * len(model.geometry)
    for start in range(0, n, batch_size):
        x = time_first(spikes[start:start + batch_size])
        outputs = model(x)
        correct += int((spike_counts(outputs[-1]).argmax(1) == labels[start:start + batch_size]).sum())
        weight = len(x[0]) / n
        for k, (layer, inp, out) in enumerate(zip(model.geometry, layer_inputs(x, outputs), outputs)):
            spike_sum[k] += float(out.mean()) * weight
            active_sum[k] += float(active_window_densities(layer, inp, [tws[k]])[0]) * weight
    return {"accuracy": correct / n, "spike_density": spike_sum, "active_tw_density": active_sum}


def _epoch_line(record):
    loss = sum(v for k, v in record.items() if k in ("train_acc", "train_warm", "train_hw"))
    val = f", val acc {record['val_accuracy']:.3f}" if "val_accuracy" in record else ""
    return (f"epoch {record['epoch']} ({record['phase']}): train acc {record['train_accuracy']:.3f}, "
            f"loss {loss:.3f}{val}, tws {record['tws']}, {record['seconds']:.0f} s")


def train(cfg, out_dir, resume=None, progress=True, data=None, verbose=True):
    """Train per ``cfg``; write ``out_dir/last.ckpt`` each epoch; return the last checkpoint dict.

    ``data`` may pass ``(spikes, labels)`` of Train/ already in memory; ``progress`` shows
    progress bars, ``verbose`` a line per epoch.
    """
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    config = net_config(cfg.net, cfg.T)
    trainer = Trainer(cfg, config)
    epoch, batch_start, step, history = 0, 0, 0, []
    if resume is not None:
        ckpt = load_checkpoint(resume)
        if ckpt.get("optimizer") is None:
            raise SpikexError(f"{resume}: an exported model, not a training checkpoint; cannot resume")
        if ckpt["config"] != config:
            raise SpikexError(f"{resume}: trained network {ckpt['config']['name']} differs from --net {cfg.net}")
        trainer.restore(ckpt)
        epoch, batch_start, step = ckpt["epoch"], ckpt["batch"], ckpt["step"]
        history = ckpt["history"]
    spikes, labels = data if data is not None else load_data(config, cfg.data, "Train",
                                                             cfg.samples, progress)
    train_idx, val_idx = split_train_val(len(labels), cfg.val_fraction, cfg.seed)
    batches = (len(train_idx) + cfg.batch_size - 1) // cfg.batch_size
    out_dir.mkdir(parents=True, exist_ok=True)     # only now: a refused run leaves no folder
    ckpt_path = out_dir / "last.ckpt"
    while epoch < cfg.epochs and (cfg.max_steps is None or step < cfg.max_steps):
        warmup = epoch < cfg.warmup_epochs
        order = train_idx[torch.randperm(len(train_idx),
                                         generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch))]
        val_order = val_idx[torch.randperm(len(val_idx),
                                           generator=torch.Generator().manual_seed(cfg.seed * 100019 + epoch))]
        phase = ("warm-up" if warmup else "no HW loss" if cfg.beta == 0
                 else "HT+HAS" if cfg.has else "HT")
        bar = tqdm(range(batch_start, batches), desc=f"epoch {epoch + 1}/{cfg.epochs} {phase}",
                   unit="batch", disable=not progress, leave=False)
        started, totals, seen = time.time(), {}, 0
        for b in bar:
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            trainer.model.train()
            x = spikes[idx]
            if (cfg.augment_shift or cfg.augment_drop or cfg.augment_time or cfg.augment_rotate
                    or cfg.augment_scale):
                # its own generator per (seed, epoch, batch): a resumed run draws the same
                draws = torch.Generator().manual_seed((cfg.seed * 100003 + epoch) * 100019 + b)
                x = augment(x, cfg.augment_shift, cfg.augment_drop, draws, cfg.augment_time,
                            cfg.augment_rotate, cfg.augment_scale)
            for group in trainer.optimizer.param_groups:
                group["lr"] = learning_rate(cfg, epoch, b / batches)
            loss, terms, correct = trainer.loss(time_first(x), labels[idx], warmup)
            trainer.optimizer.zero_grad()
            loss.backward()
            trainer.optimizer.step()
            if cfg.has and not warmup and len(val_order):
                v = b % max(1, (len(val_order) + cfg.batch_size - 1) // cfg.batch_size)
                trainer.alpha_step(time_first(spikes[val_order[v * cfg.batch_size:(v + 1) * cfg.batch_size]]))
            step += 1
            seen += len(idx)
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) * len(idx)
            totals["correct"] = totals.get("correct", 0) + correct
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", tws=",".join(map(str, trainer.tws())))
        else:
            b = batches
        finished = b >= batches
        record = {"epoch": epoch + 1, "phase": phase, "step": step, "seconds": time.time() - started,
                  "tws": trainer.tws(),
                  **{f"train_{k}": v / max(seen, 1) for k, v in totals.items() if k != "correct"},
                  "train_accuracy": totals.get("correct", 0) / max(seen, 1)}
        if finished and len(val_idx):
            metrics = evaluate(trainer.model, spikes[val_idx], labels[val_idx], trainer.tws())
            record.update({f"val_{k}": v for k, v in metrics.items()})
        history.append(record)
        if verbose:
            tqdm.write(_epoch_line(record))
        epoch, batch_start = (epoch + 1, 0) if finished else (epoch, b)
        ckpt = trainer.state(epoch, batch_start, step, history)
        torch.save(ckpt, ckpt_path)
    return trainer.state(epoch, batch_start, step, history)
