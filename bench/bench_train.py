"""Time training of the N-MNIST network of Table II (T = 30) on the 1,000 Train/ recordings.

One run of :func:`model.train.train` with one warm-up epoch and one HT+HAS epoch (the
default beta, the analytic EDP stand-in unless ``--edp-model``): 900 recordings trained
on, 100 held out for the HAS alpha steps and the validation at the end of each epoch.
Prints the time of reading Train/, each epoch's training time (the figure ``train``
logs), the wall time of the epoch with its validation and checkpoint, and samples/s.

Then the implementation before the fused LIF (``lif_step`` looped under autograd, the
convolutions in NCHW) against the current one on the same first ``--compare-batches``
batches of each phase, run back to back in this process, and their ratio.

    .venv/bin/python bench/bench_train.py                 # one thread (see --threads)
    .venv/bin/python bench/bench_train.py --threads 2
"""

import argparse
import tempfile
import time
from contextlib import contextmanager

import torch

from model.lif import LIF, LIFParameters, LIFState, leak_from_shift, lif_step
from model.networks import SpikingNet, net_config
from model.train import TrainConfig, Trainer, load_nmnist, split_train_val, time_first, train


def _step_loop_lif(self, currents):
    """The LIF forward before :func:`model.lif.lif_sequence`: autograd through every step."""
    params = LIFParameters(leak_from_shift(self.leak_shift), self.threshold, self.surrogate,
                           self.alpha)
    state, spikes = LIFState(torch.zeros_like(currents[0])), []
    for current in currents:
        s, state = lif_step(current, state, params)
        spikes.append(s)
    return torch.stack(spikes)


def _nchw_forward(self, x):
    """The network forward before the channels-last convolutions."""
    outputs = []
    for layer, synapse, neurons in zip(self.geometry, self.synapses, self.neurons):
        steps, batch = x.shape[:2]
        current = synapse(x.reshape(steps * batch, *layer.in_shape))
        x = neurons(current.reshape(steps, batch, *layer.out_shape))
        outputs.append(x)
    return tuple(outputs)


@contextmanager
def previous_implementation():
    saved = LIF.forward, SpikingNet.forward
    LIF.forward, SpikingNet.forward = _step_loop_lif, _nchw_forward
    try:
        yield
    finally:
        LIF.forward, SpikingNet.forward = saved


def time_batches(cfg, spikes, labels, batches):
    """Seconds of ``batches`` training steps of each phase (warm-up, HT+HAS), from one seed."""
    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, net_config(cfg.net))
    train_idx, val_idx = split_train_val(len(labels), cfg.val_fraction, cfg.seed)
    seconds = []
    for warmup in (True, False):
        started = time.perf_counter()
        for b in range(batches):
            idx = train_idx[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            loss, _, _ = trainer.loss(time_first(spikes[idx]), labels[idx], warmup)
            trainer.optimizer.zero_grad()
            loss.backward()
            trainer.optimizer.step()
            if not warmup:
                trainer.alpha_step(time_first(spikes[val_idx[:cfg.batch_size]]))
        seconds.append(time.perf_counter() - started)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/nmnist-small")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1; on the shared 2-core machine two "
                             "threads can run far slower when other processes are busy)")
    parser.add_argument("--edp-model", default=None, help="spikex-edp-v1 JSON (default: stand-in)")
    parser.add_argument("--compare-batches", type=int, default=4,
                        help="batches per phase timed for the old/new ratio (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    spikes, labels = load_nmnist(args.data, "Train", 30, progress=False)
    read_s = time.perf_counter() - started
    print(f"read Train/: {len(labels)} recordings, T = 30, in {read_s:.2f} s; "
          f"torch threads {torch.get_num_threads()}")

    cfg = TrainConfig(net="nmnist", data=args.data, epochs=2, warmup_epochs=1,
                      edp_model=args.edp_model)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        ckpt = train(cfg, out, progress=False, verbose=False, data=(spikes, labels))
        total_s = time.perf_counter() - started
    print(f"nmnist (Table II), batch {cfg.batch_size}, {len(labels)} recordings per epoch "
          f"({len(labels) - round(len(labels) * cfg.val_fraction)} trained on, the rest for "
          f"alpha steps and validation):")
    for record in ckpt["history"]:
        print(f"  epoch {record['epoch']} ({record['phase']}): training {record['seconds']:.1f} s "
              f"= {len(labels) / record['seconds']:.1f} recordings/s")
    print(f"  both epochs with validation and checkpoints: {total_s:.1f} s "
          f"({total_s / 2:.1f} s per epoch, {2 * len(labels) / total_s:.1f} recordings/s)")

    if args.compare_batches:
        n = args.compare_batches
        new = time_batches(cfg, spikes, labels, n)
        with previous_implementation():
            old = time_batches(cfg, spikes, labels, n)
        print(f"same {n} batches of {cfg.batch_size}, old (autograd per step, NCHW) against new:")
        for phase, o, w in zip(("warm-up", "HT+HAS"), old, new):
            print(f"  {phase:>8}: old {o:.2f} s, new {w:.2f} s, ratio {o / w:.1f}x")


if __name__ == "__main__":
    main()
