"""Subcommands of the co-design flow: ``train``, ``sweep-beta``, ``compile`` and ``eval``.

``register(subparsers)`` adds them to the ``spikex`` parser; each handler imports torch
and the model code only when it runs.
"""

import math
from pathlib import Path

from spikex.netfile import SpikexError


__all__ = ["register"]

DEFAULT_DATA = "../shared/data/nmnist-small"
DEFAULT_BETAS = "5e-5,5e-4,5e-3,5e-2,1e-1"


def _int_list(text, option="--tws"):
    """A comma list of positive integers; anything else is a one-line error naming ``option``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise SpikexError(f"{option} must be a comma list of positive integers, not {text!r}")
    return values


def _float_list(text, option="--betas"):
    """A comma list of finite non-negative numbers; anything else is a one-line error."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise SpikexError(f"{option} must be a comma list of finite numbers of at least 0, "
                          f"not {text!r}")
    return values


def _preset(args):
    """The network preset ``--net`` (with ``--timesteps``), checked before any long work."""
    from .networks import net_config
    try:
        return net_config(args.net, args.timesteps)
    except ValueError as error:
        raise SpikexError(f"--net: {error}") from None


def _train_config(args, **overrides):
    from .train import TrainConfig
    cfg = TrainConfig(net=args.net, data=args.data, samples=args.samples,
                      val_fraction=args.val_fraction, epochs=args.epochs,
                      warmup_epochs=args.warmup_epochs, batch_size=args.batch_size, lr=args.lr,
                      alpha_lr=args.alpha_lr, beta=args.beta, has=not args.no_has,
                      tws=_int_list(args.tws) if args.tws else [], edp_model=args.edp_model,
                      max_steps=args.steps, seed=args.seed, T=args.timesteps)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def _train(args):
    import torch
    from .train import train, export
    torch.set_num_threads(args.threads)
    _preset(args)
    cfg = _train_config(args)
    out = Path(args.out or f"runs/{args.net}")
    ckpt = train(cfg, out, resume=args.resume, progress=not args.quiet)
    measured = [record for record in ckpt["history"] if "val_accuracy" in record]
    val = (f"val accuracy {measured[-1]['val_accuracy']:.4f}" if measured else
           "no validation yet (it runs at the end of each epoch)")
    print(f"{out / 'last.ckpt'}: epoch {ckpt['epoch']}, step {ckpt['step']}, tws {ckpt['tws']}, {val}")
    if args.export:
        export(ckpt, args.export)
        print(f"exported {args.export}")


def _summary(metrics, geometry):
    """Overall spike density (per neuron-step) and active-TW density (per NTWU) of a run."""
    neurons = [math.prod(layer.out_shape) for layer in geometry]
    spike = sum(d * n for d, n in zip(metrics["spike_density"], neurons)) / sum(neurons)
    active = sum(metrics["active_tw_density"]) / len(neurons)
    return spike, active


def _sweep_beta(args):
    import json
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from tqdm import tqdm
    from .networks import layer_geometry
    from .train import train, load_nmnist
    torch.set_num_threads(args.threads)
    betas = _float_list(args.betas)
    cfg = _train_config(args, epochs=args.warmup_epochs)
    config = _preset(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_nmnist(args.data, "Train", config["T"], args.samples)
    train(cfg, out / "warmup", progress=False, data=data, verbose=False)
    warm = out / "warmup" / "last.ckpt"
    geometry = layer_geometry(config)
    rows = []
    for beta in tqdm(betas, desc="sweep beta", unit="beta"):
        run = _train_config(args, beta=beta, epochs=args.warmup_epochs + args.epochs)
        ckpt = train(run, out / f"beta-{beta:g}", resume=warm, progress=False, data=data,
                     verbose=False)
        last = ckpt["history"][-1]
        metrics = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
        spike, active = _summary(metrics, geometry)
        rows.append({"beta": beta, "val_accuracy": metrics["accuracy"], "spike_density": spike,
                     "active_tw_density": active, "tws": ckpt["tws"],
                     "layer_spike_density": metrics["spike_density"],
                     "layer_active_tw_density": metrics["active_tw_density"]})
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    lines = ["| beta | val accuracy | spike density | active-TW density | tws |",
             "|---:|---:|---:|---:|---|"]
    lines += [f"| {r['beta']:g} | {r['val_accuracy']:.4f} | {r['spike_density']:.4%} | "
              f"{r['active_tw_density']:.4%} | {r['tws']} |" for r in rows]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, key, title in zip(axes, ("val_accuracy", "spike_density", "active_tw_density"),
                              ("accuracy (validation)", "spike density", "active-TW density")):
        ax.semilogx(betas, [r[key] for r in rows], "o-")
        ax.set_xlabel("beta")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    figure.suptitle(f"{args.net}: SpikeX-HT sweep of beta ({len(data[1])} Train/ samples)")
    figure.tight_layout()
    figure.savefig(out / "sweep.png", dpi=120)
    print(f"wrote {out / 'sweep.png'}, {out / 'sweep.md'}, {out / 'sweep.json'}")


def _compile_net(ckpt_path, data, split, samples, tws=None, weight_bits=8, v_bits=16,
                 acc_bits=24):
    """(checkpoint, float model, compiled Network) for ``ckpt_path`` on a data split.

    ``tws`` (a comma list) replaces the checkpoint's TWS, e.g. to compare two models at
    the same TWS.
    """
    from .compile import compile_checkpoint
    from .train import load_checkpoint, load_nmnist, model_from_checkpoint
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt)
    if tws:
        ckpt["tws"] = _int_list(tws)
        if len(ckpt["tws"]) != len(model.geometry):
            raise SpikexError(f"--tws lists {len(ckpt['tws'])} values for "
                              f"{len(model.geometry)} layers of {ckpt_path}")
    spikes, labels = load_nmnist(data, split, model.T, samples)
    net = compile_checkpoint(model, ckpt["tws"], spikes.numpy(), labels.numpy(), weight_bits,
                             v_bits, acc_bits, str(ckpt_path))
    return ckpt, model, net


def _compile(args):
    import torch
    from spikex.netfile import save
    torch.set_num_threads(args.threads)
    _, _, net = _compile_net(args.checkpoint, args.data, args.split, args.samples, args.tws,
                             args.weight_bits, args.v_bits, args.acc_bits)
    save(net, args.output)
    print(f"wrote {args.output}: {len(net.layers)} layers, {net.batch} samples of {args.split}, "
          f"T={net.timesteps}, thresholds {[l.threshold for l in net.layers]}, "
          f"leak_shift {[l.leak_shift for l in net.layers]}, tws {[l.tws for l in net.layers]}")


def _eval(args):
    import numpy as np
    import torch
    from sim.golden import predict, run_network
    from spikex.netfile import load
    from .compile import run_integer, densities
    from .train import evaluate
    torch.set_num_threads(args.threads)
    path = Path(args.model)
    float_metrics = None
    if path.suffix == ".npz":
        net = load(path)
    else:
        ckpt, model, net = _compile_net(path, args.data, args.split, args.samples, args.tws)
        spikes = torch.from_numpy(net.input)
        float_metrics = evaluate(model, spikes, torch.from_numpy(net.labels), ckpt["tws"])
    golden = run_network(net, args.acc_bits, str(path))
    integer = run_integer(net)
    for k, (g, i) in enumerate(zip(golden, integer)):
        if not np.array_equal(g, i):
            sample = int(np.argwhere((g != i).reshape(len(g), -1).any(axis=1))[0, 0])
            raise SpikexError(f"{path}: layer {k}: torch-int and golden spikes differ "
                              f"(first at sample {sample})")
    _, golden_pred = predict(golden[-1])
    _, integer_pred = predict(integer[-1])
    assert np.array_equal(golden_pred, integer_pred)
    print(f"{path}: {net.batch} samples, T={net.timesteps}, tws {[l.tws for l in net.layers]}, "
          f"leak_shift {[l.leak_shift for l in net.layers]}")
    print(f"torch-int and golden agree bit for bit on all {net.batch} samples "
          f"(spikes of every layer and predictions)")
    if net.labels is None:
        print("no labels: accuracy not available")
        return
    if float_metrics is not None:
        print(f"accuracy float     {float_metrics['accuracy']:.4f}")
    print(f"accuracy torch-int {np.mean(integer_pred == net.labels):.4f}")
    print(f"accuracy golden    {np.mean(golden_pred == net.labels):.4f}")
    spike, active = densities(net, golden)
    # spike density: of the layer's output; active-TW density: NTWUs of the layer, i.e. of its input
    print(f"{'layer':<6}{'kind':<6}{'tws':>4}{'spike density':>15}{'active-TW density':>19}"
          + (f"{'float spike':>13}{'float active-TW':>17}" if float_metrics else ""))
    for k, layer in enumerate(net.layers):
        row = f"{k:<6}{layer.kind:<6}{layer.tws:>4}{spike[k]:>15.4%}{active[k]:>19.4%}"
        if float_metrics:
            row += (f"{float_metrics['spike_density'][k]:>13.4%}"
                    f"{float_metrics['active_tw_density'][k]:>17.4%}")
        print(row)


def _add_threads_argument(parser):
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core machine more "
                             "threads contend with other processes and run far slower)")


def _add_training_arguments(parser, epochs, warmup):
    parser.add_argument("--net", default="nmnist", help="network preset (default nmnist)")
    parser.add_argument("--data", default=DEFAULT_DATA, help="N-MNIST root with Train/ (only Train/ is read)")
    parser.add_argument("--samples", type=int, default=None,
                        help="class-balanced subset of Train/ (default: all)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="part of Train/ held out for validation and the HAS alpha steps")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--warmup-epochs", type=int, default=warmup,
                        help="epochs of pre-training without the hardware loss")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate of the weights")
    parser.add_argument("--alpha-lr", type=float, default=0.05, help="Adam learning rate of HAS alpha")
    parser.add_argument("--beta", type=float, default=1e-2, help="weight of L_HW in L_tot")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps")
    parser.add_argument("--no-has", action="store_true", help="keep the fixed --tws (HT only)")
    parser.add_argument("--tws", default=None, help="fixed TWS per layer, e.g. 5,5,5,5 (default 5)")
    parser.add_argument("--edp-model", default=None,
                        help="EDP model JSON from sim/edp_fit.py (default: analytic stand-in)")
    parser.add_argument("--timesteps", type=int, default=None, help="override the preset's T")
    parser.add_argument("--seed", type=int, default=0)
    _add_threads_argument(parser)


def register(subparsers):
    train = subparsers.add_parser("train", help="train an SNN with SpikeX-HT/HAS on N-MNIST Train/")
    _add_training_arguments(train, epochs=10, warmup=3)
    train.add_argument("--out", default=None, help="run folder for last.ckpt (default runs/NET)")
    train.add_argument("--resume", default=None, help="checkpoint to continue exactly from")
    train.add_argument("--export", default=None, help="also write the small model file (e.g. model/zoo/nmnist.pt)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    sweep = subparsers.add_parser("sweep-beta", help="accuracy and sparsity versus beta (paper Fig. 7)")
    _add_training_arguments(sweep, epochs=3, warmup=2)
    sweep.set_defaults(samples=300)
    sweep.add_argument("--betas", default=DEFAULT_BETAS, help=f"comma list (default {DEFAULT_BETAS})")
    sweep.add_argument("-o", "--out", default="runs/sweep-beta", help="folder for sweep.png/.md/.json")
    sweep.set_defaults(func=_sweep_beta)

    comp = subparsers.add_parser("compile", help="checkpoint -> spikex-net-v1 network file")
    comp.add_argument("checkpoint", help="checkpoint or exported model (.pt/.ckpt)")
    comp.add_argument("--data", default=DEFAULT_DATA, help="N-MNIST root")
    comp.add_argument("--split", default="Test", choices=("Train", "Test"))
    comp.add_argument("--samples", type=int, default=None, help="class-balanced subset of the split")
    comp.add_argument("--tws", default=None, help="comma list replacing the checkpoint's TWS")
    comp.add_argument("--weight-bits", type=int, default=8)
    comp.add_argument("--v-bits", type=int, default=16)
    comp.add_argument("--acc-bits", type=int, default=24)
    comp.add_argument("-o", "--output", required=True, help="NET.npz to write")
    _add_threads_argument(comp)
    comp.set_defaults(func=_compile)

    ev = subparsers.add_parser("eval", help="accuracy in float, torch-int and golden")
    ev.add_argument("model", help="checkpoint (.pt/.ckpt) or network file (.npz)")
    ev.add_argument("--data", default=DEFAULT_DATA, help="N-MNIST root (checkpoints only)")
    ev.add_argument("--split", default="Test", choices=("Train", "Test"))
    ev.add_argument("--samples", type=int, default=None)
    ev.add_argument("--tws", default=None, help="comma list replacing the checkpoint's TWS")
    ev.add_argument("--acc-bits", type=int, default=24)
    _add_threads_argument(ev)
    ev.set_defaults(func=_eval)
