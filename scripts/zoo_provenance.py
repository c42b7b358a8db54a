"""Write the provenance JSON of a model in ``model/zoo/``: commands, seed, data, sha256 and
the accuracies measured here.

The model's validation split of Train (the seeded ``val_fraction`` its run held out and
selected on) and all of Test (read only to report), of N-MNIST or DVS128 Gesture as the
network's input says (:func:`model.train.load_data`), are run in float, torch-int and
golden; torch-int and golden must agree bit for bit. ``--baseline`` (the beta = 0 model
trained the same way) is measured too, at its own TWS and at the model's.

    .venv/bin/python scripts/zoo_provenance.py model/zoo/nmnist.pt \\
        --baseline runs/noht/nmnist-noht.pt --command "spikex train ..." -o model/zoo/nmnist.json
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from model.compile import compile_checkpoint, densities, run_integer
from model.train import (evaluate, load_checkpoint, load_data, model_from_checkpoint,
                         split_train_val)
from sim.golden import predict, run_network


def measure(ckpt, spikes, labels, tws):
    """Float, torch-int and golden accuracy and the golden densities of ``ckpt`` at ``tws``."""
    model = model_from_checkpoint(ckpt)
    net = compile_checkpoint(model, tws, spikes.numpy(), labels.numpy())
    golden, integer = run_network(net), run_integer(net)
    for k, (g, i) in enumerate(zip(golden, integer)):
        if not np.array_equal(g, i):
            sys.exit(f"layer {k}: torch-int and golden spikes differ")
    accuracy = float(np.mean(predict(golden[-1])[1] == net.labels))
    spike, active = densities(net, golden)
    return {"samples": len(labels), "tws": list(tws),
            "float": evaluate(model, spikes, labels, tws)["accuracy"],
            "torch_int": float(np.mean(predict(integer[-1])[1] == net.labels)),
            "golden": accuracy, "torch_int_equals_golden": True,
            "spike_density": spike, "active_tw_density": active,
            "thresholds": [layer.threshold for layer in net.layers],
            "leak_shifts": [layer.leak_shift for layer in net.layers]}


def report(path, data, tws=None):
    ckpt = load_checkpoint(path)
    tc = ckpt["train_config"]
    tws = tws or ckpt["tws"]
    spikes, labels = load_data(ckpt["config"], data, "Train", tc.get("samples"), False)
    _, val = split_train_val(len(labels), tc["val_fraction"], tc["seed"])
    test_spikes, test_labels = load_data(ckpt["config"], data, "Test", progress=False)
    return {"train_samples": len(labels),
            "validation": measure(ckpt, spikes[val], labels[val], tws) if len(val) else None,
            "test": measure(ckpt, test_spikes, test_labels, tws)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the exported model (.pt)")
    parser.add_argument("--baseline", default=None, help="the beta = 0 model trained the same way")
    parser.add_argument("--command", action="append", default=[],
                        help="a command that made the model, in order (repeat)")
    parser.add_argument("--data", default="../shared/data/nmnist-small",
                        help="the data set the model was trained on (N-MNIST or DVS128 Gesture)")
    parser.add_argument("--data-note", default=None,
                        help="what the data is, e.g. how a synthetic set was made")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = Path(args.model)
    ckpt = load_checkpoint(path)
    tc = ckpt["train_config"]
    measured = report(path, args.data)
    provenance = {
        "model": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "commands": args.command, "seed": tc["seed"],
        "data": {"root": args.data, **({"note": args.data_note} if args.data_note else {}),
                 "train": f"the Train split ({measured['train_samples']} samples)",
                 "validation": (f"a seeded {tc['val_fraction']:g} of Train (seed {tc['seed']}), "
                                "used for the HAS alpha steps and for choosing the model")
                               if tc["val_fraction"] else
                               "none: trained on all of Train, with the recipe and the TWS "
                               "chosen before on a seeded 0.1 of it (docs/training.md)",
                 "test": f"the Test split ({measured['test']['samples']} samples), read only "
                         "to report"},
        "train_config": tc, "tws": ckpt["tws"],
        "epochs": [{k: v for k, v in record.items() if not isinstance(v, list)}
                   for record in ckpt["history"]],
        "torch": torch.__version__,
        **measured}
    if args.baseline:
        provenance["baseline"] = {"model": args.baseline, **report(args.baseline, args.data),
                                  "at_model_tws": report(args.baseline, args.data, ckpt["tws"])}
    Path(args.output).write_text(json.dumps(provenance, indent=1) + "\n")
    for name, part in [("model", provenance)] + ([("baseline", provenance["baseline"])]
                                                   if args.baseline else []):
        for split in ("validation", "test"):
            m = part[split]
            if m is None:
                continue
            print(f"{name:>8} {split:>10} ({m['samples']:>3}): float {m['float']:.4f}, torch-int "
                  f"{m['torch_int']:.4f}, golden {m['golden']:.4f}, tws {m['tws']}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
