"""Train a small convolutional SNN on N-MNIST Train/ in snnTorch and export it to NIR.

This is the "bring your own network" example: the network is trained by snnTorch, not by
SpikeX's own flow (``spikex train``), and reaches SpikeX only through the NIR file that
``spikex import`` reads. Input spikes are binned exactly as ``spikex import --timesteps``
bins them (:func:`model.train.load_nmnist`: 300 ms in T steps, a step with an event is a
spike), so the float network sees the same spikes as the imported one.

Network (the geometry of the ``nmnist-small`` preset): conv 2->8 E3 s2 (34->16), conv
8->16 E3 s2 (16->7), fc 784->10, each followed by ``snn.Leaky`` with reset to zero and no
reset delay (NIR's LIF exactly: ``v = beta u + I``, spike if ``v > 1``, ``u = 0`` after a
spike). ``beta`` defaults to 0.875 = 1 - 2**-3, a leak SpikeX's integer LIF applies
exactly (with 0.9, imported as 0.875, the 8-bit network lost 3 points on Test/). Synapses have no bias (SpikeX has none). ``beta`` and the threshold are fixed
per-neuron tensors: snnTorch's exporter writes NIR parameters in the shape of its
``beta``, and NIR's type check needs them in the layer's output shape.

Only Train/ is read for training (a seeded 10 % held out to report validation accuracy);
``--report-test`` also prints the float accuracy on Test/ at the end, for reporting only.

    nice python scripts/train_snntorch_nmnist.py -o model/zoo/nmnist_snntorch.nir
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm import tqdm

import nir
import snntorch as snn
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model.train import load_nmnist, split_train_val  # noqa: E402


def leaky(shape, beta, output=False):
    """An snnTorch LIF of NIR's semantics for a layer of output ``shape``."""
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     reset_mechanism="zero", reset_delay=False, init_hidden=True, output=output)


def build(beta):
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, stride=2, bias=False), leaky((8, 16, 16), beta),
        nn.Conv2d(8, 16, 3, stride=2, bias=False), leaky((16, 7, 7), beta),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10, bias=False), leaky((10,), beta, output=True))


def spike_counts(net, x):
    """Input uint8 ``[B, T, 2, 34, 34]`` -> last layer's spike counts ``[B, 10]``."""
    snn_utils.reset(net)
    x = x.to(torch.float32)
    counts = 0
    for t in range(x.shape[1]):
        spikes, _ = net(x[:, t])
        counts = counts + spikes
    return counts


def accuracy(net, spikes, labels, batch_size=100):
    with torch.no_grad():
        correct = sum(int((spike_counts(net, spikes[i:i + batch_size]).argmax(1)
                           == labels[i:i + batch_size]).sum())
                      for i in range(0, len(labels), batch_size))
    return correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/nmnist-small")
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--beta", type=float, default=0.875,
                        help="membrane decay per step (default 0.875 = 1 - 2**-3, a leak SpikeX "
                             "applies exactly; 0.9 maps to it with an error of 0.025)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-test", action="store_true",
                        help="print the float accuracy on Test/ at the end (reporting only)")
    parser.add_argument("-o", "--output", required=True, help="MODEL.nir to write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    spikes, labels = load_nmnist(args.data, "Train", args.timesteps)
    train_idx, val_idx = split_train_val(len(labels), 0.1, args.seed)
    net = build(args.beta)
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        for batch in tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False):
            counts = spike_counts(net, spikes[batch])
            loss = F.cross_entropy(0.5 * counts, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        net.eval()
        print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy "
              f"{accuracy(net, spikes[val_idx], labels[val_idx]):.3f}, {time.time() - start:.0f} s")

    graph = export_to_nir(net, torch.zeros(1, 2, 34, 34), ignore_dims=[0])
    nir.write(args.output, graph)
    digest = hashlib.sha256(Path(args.output).read_bytes()).hexdigest()
    print(f"wrote {args.output}: sha256 {digest}")
    provenance = {"command": " ".join(["python", *sys.argv]), "seed": args.seed,
                  "epochs": args.epochs, "beta": args.beta, "timesteps": args.timesteps,
                  "train_seconds": round(time.time() - start), "sha256": digest,
                  "snntorch": snn.__version__, "torch": torch.__version__}
    if args.report_test:
        test_spikes, test_labels = load_nmnist(args.data, "Test", args.timesteps)
        provenance["float_test_accuracy"] = accuracy(net, test_spikes, test_labels)
        print(f"float accuracy on the {len(test_labels)} Test/ recordings (snnTorch): "
              f"{provenance['float_test_accuracy']:.4f}")
    Path(args.output).with_suffix(".json").write_text(json.dumps(provenance, indent=1) + "\n")


if __name__ == "__main__":
    main()
