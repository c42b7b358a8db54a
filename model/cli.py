"""Subcommands of the co-design flow: ``train``, ``sweep-beta``, ``compile``, ``eval``,
``import`` and ``export`` (NIR graphs, :mod:`model.nirgraph`), and ``gestures`` (the
synthetic gesture set written as DVS128 Gesture files).

``register(subparsers)`` adds them to the ``spikex`` parser; each handler imports torch
and the model code only when it runs.
"""

import math
from pathlib import Path

from spikex.netfile import SpikexError


__all__ = ["register"]

DEFAULT_DATA = "../shared/data/nmnist-small"
DATA_HELP = ("data set of the network's input: N-MNIST root (Train/, Test/) for the nmnist "
             "nets, DVS128 Gesture (DvsGesture/ or a folder holding it) for dvsg-*")
SPLIT_HELP = ("N-MNIST's Train/ or Test/ folder, or the recordings DVS128 Gesture's "
              "trials_to_train.txt or trials_to_test.txt lists (default Test)")
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
                      max_steps=args.steps, seed=args.seed, T=args.timesteps,
                      augment_shift=args.augment_shift, augment_drop=args.augment_drop,
                      augment_time=args.augment_time, augment_rotate=args.augment_rotate,
                      augment_scale=args.augment_scale, lr_schedule=args.lr_schedule)
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
    from .train import train, load_data
    torch.set_num_threads(args.threads)
    betas = _float_list(args.betas)
    cfg = _train_config(args, epochs=args.warmup_epochs)
    config = _preset(args)
    data = load_data(config, args.data, "Train", args.samples)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
    figure.suptitle(f"{args.net}: SpikeX-HT sweep of beta ({len(data[1])} Train samples)")
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
    from .train import load_checkpoint, load_data, model_from_checkpoint
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt)
    if tws:
        ckpt["tws"] = _int_list(tws)
        if len(ckpt["tws"]) != len(model.geometry):
            raise SpikexError(f"--tws lists {len(ckpt['tws'])} values for "
                              f"{len(model.geometry)} layers of {ckpt_path}")
    spikes, labels = load_data(model.config, data, split, samples)
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


NMNIST_DURATION_US = 300_000


def _binning(args):
    """``(T, duration_us)`` of ``--timesteps`` or ``--bin-us`` over N-MNIST's 300 ms."""
    if args.bin_us is None:
        return args.timesteps, NMNIST_DURATION_US
    if args.bin_us < 1 or args.bin_us > NMNIST_DURATION_US:
        raise SpikexError(f"--bin-us must be in 1..{NMNIST_DURATION_US}, not {args.bin_us}")
    steps = NMNIST_DURATION_US // args.bin_us
    return steps, steps * args.bin_us


def _as_input(spikes, shape, what):
    """N-MNIST spikes ``[B, T, 2, 34, 34]`` as input of shape ``shape`` (e.g. flattened)."""
    import numpy as np
    if int(np.prod(spikes.shape[2:])) != int(np.prod(shape)):
        raise SpikexError(f"{what}: the graph's input {list(shape)} does not take N-MNIST's "
                          f"{list(spikes.shape[2:])}")
    return spikes.reshape(*spikes.shape[:2], *shape)


def _import_input(args, shape, T, duration_us):
    """Input spikes and labels of the network file: --input, --data or one silent sample."""
    import numpy as np
    from spikex.netfile import load
    from .train import load_nmnist
    if args.input:
        net = load(args.input)
        return _as_input(net.input, shape, args.input), net.labels
    if args.data:
        spikes, labels = load_nmnist(args.data, args.split, T, args.samples, duration_us=duration_us)
        return _as_input(spikes.numpy(), shape, args.data), labels.numpy()
    return np.zeros((1, T, *shape), np.uint8), None


def _accuracies(float_out, int_out, labels):
    import numpy as np
    from sim.golden import predict
    _, float_pred = predict(float_out[-1])
    _, int_pred = predict(int_out[-1])
    text = f"predictions agree {np.mean(float_pred == int_pred):.4f}"
    if labels is not None:
        text = (f"accuracy float {np.mean(float_pred == labels):.4f}, integer "
                f"{np.mean(int_pred == labels):.4f}, " + text)
    return text


def _leak_text(entry):
    if entry["leak"] == 1 and entry["leak_shift"] == 0:
        return "no leak (IF)"
    k = entry["leak_shift"]
    target = 1 - 2.0 ** -k if k else 1.0
    return (f"leak {entry['leak']:.6g} -> leak_shift {k} ({target:g}, error "
            f"{target - entry['leak']:+.4g})")


def _import(args):
    import torch
    from sim.golden import run_network
    from spikex.netfile import save
    from .hwloss import divisor_tws
    from .nirgraph import (DEFAULT_DT, build_network, float_layers, graph_metadata,
                           quantise_layers, read_graph, run_float)
    from .train import load_nmnist
    torch.set_num_threads(args.threads)
    source = str(args.model)
    graph = read_graph(args.model)
    meta = graph_metadata(graph)
    dt = args.dt if args.dt is not None else meta.get("dt", DEFAULT_DT)
    weight_bits = args.weight_bits or meta.get("weight_bits", 8)
    v_bits = args.v_bits or meta.get("v_bits", 16)
    layers = float_layers(graph, dt, v_bits, weight_bits, source)
    T, duration_us = _binning(args)
    spikes, labels = _import_input(args, layers[0].layer.in_shape, T, duration_us)
    T = spikes.shape[1]
    tws = _int_list(args.tws) if args.tws else meta.get("tws") or [max(divisor_tws(T, 5))] * len(layers)
    if len(tws) != len(layers):
        raise SpikexError(f"{source}: {len(tws)} TWS values for {len(layers)} layers")
    calibration = None
    if args.data:
        calibration, calibration_labels = load_nmnist(args.data, "Train", T, args.calib_samples,
                                                      duration_us=duration_us)
        calibration = _as_input(calibration.numpy(), layers[0].layer.in_shape, args.data)
    int_layers, weights, report = quantise_layers(layers, tws, weight_bits, v_bits, calibration,
                                                  source)
    net = build_network(int_layers, weights, spikes, labels, weight_bits, v_bits, args.acc_bits,
                        source)
    print(f"{source}: {len(layers)} layers (dt {dt:g}, weight_bits {weight_bits}, v_bits {v_bits})")
    for entry, layer in zip(report, int_layers):
        shape = "x".join(map(str, layer.in_shape)) + " -> " + "x".join(map(str, layer.out_shape))
        weights_text = ("integer weights kept" if entry["integer"] else
                        f"weights x {entry['scale']:.4g} (clip {entry['clip']:.2f})")
        correlation = (f", spike-count correlation {entry['count_correlation']:.4f}"
                       if "count_correlation" in entry else "")
        print(f"layer {entry['layer']}: {layer.kind} {shape} from {entry['nodes']}: "
              f"{_leak_text(entry)}; {weights_text}, threshold {layer.threshold}, "
              f"tws {layer.tws}{correlation}")
    if calibration is not None:
        calibrated = net.with_input(calibration, calibration_labels.numpy())
        print(f"calibration on {len(calibration)} Train/ recordings: "
              + _accuracies(run_float(layers, calibration), run_network(calibrated, args.acc_bits),
                            calibrated.labels))
    else:
        print("no --data: weights scaled to their largest value, not calibrated")
    what = args.input or (f"{args.split}/ of {args.data}" if args.data else "a silent sample")
    print(f"input: {net.batch} samples from {what}, T={T}: "
          + _accuracies(run_float(layers, net.input), run_network(net, args.acc_bits), net.labels))
    save(net, args.output)
    print(f"wrote {args.output}")


def _export(args):
    from spikex.netfile import load
    from .nirgraph import DEFAULT_DT, export_graph, write_graph
    net = load(args.net)
    dt = args.dt if args.dt is not None else DEFAULT_DT
    write_graph(export_graph(net, dt), args.output)
    print(f"wrote {args.output}: {len(net.layers)} layers as a NIR graph (integer weights, "
          f"scale 1; dt {dt:g})")


def _gestures(args):
    from tqdm import tqdm
    from .data import GESTURE_CLASSES, write_synthetic_gestures
    try:
        write_synthetic_gestures(args.output, args.train_trials, args.test_trials, args.seed,
                                 lambda trials: tqdm(trials, desc="write", unit="trial",
                                                     leave=False))
    except FileExistsError as error:
        raise SpikexError(str(error)) from None
    print(f"wrote {Path(args.output) / 'DvsGesture'}: {args.train_trials} train and "
          f"{args.test_trials} test trials of {GESTURE_CLASSES} gestures, SYNTHETIC "
          f"(seed {args.seed}); use it as --data {args.output}")


def _add_threads_argument(parser):
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core machine more "
                             "threads contend with other processes and run far slower)")


def _add_network_output_arguments(parser, weight_bits, v_bits, default_text=""):
    """Widths, the written NET.npz and threads, for the commands that write a network file."""
    parser.add_argument("--weight-bits", type=int, default=weight_bits, help=f"{default_text}8")
    parser.add_argument("--v-bits", type=int, default=v_bits, help=f"{default_text}16")
    parser.add_argument("--acc-bits", type=int, default=24)
    parser.add_argument("-o", "--output", required=True, help="NET.npz to write")
    _add_threads_argument(parser)


def _add_training_arguments(parser, epochs, warmup):
    parser.add_argument("--net", default="nmnist", help="network preset (default nmnist)")
    parser.add_argument("--data", default=DEFAULT_DATA, help=DATA_HELP + "; only Train is read")
    parser.add_argument("--samples", type=int, default=None,
                        help="class-balanced subset of Train (default: all)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="part of Train held out for validation and the HAS alpha steps")
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
    parser.add_argument("--augment-shift", type=int, default=0, metavar="PIXELS",
                        help="translate each training sample by up to this many pixels (default 0)")
    parser.add_argument("--augment-drop", type=float, default=0.0, metavar="P",
                        help="each training sample drops its input spikes with a probability "
                             "drawn from [0, P) (default 0)")
    parser.add_argument("--augment-time", type=int, default=0, metavar="STEPS",
                        help="shift each training sample in time by up to this many steps, "
                             "earlier or later (default 0)")
    parser.add_argument("--augment-rotate", type=float, default=0.0, metavar="DEGREES",
                        help="rotate each training sample about the centre by up to this many "
                             "degrees either way (default 0)")
    parser.add_argument("--augment-scale", type=float, default=0.0, metavar="S",
                        help="zoom each training sample by a factor drawn from [1 - S, 1 + S] "
                             "(default 0)")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                        help="after the warm-up: constant lr, or a cosine decay to 0 at --epochs")
    parser.add_argument("--seed", type=int, default=0)
    _add_threads_argument(parser)


def register(subparsers):
    train = subparsers.add_parser("train", help="train an SNN with SpikeX-HT/HAS on the Train "
                                  "split of N-MNIST or DVS128 Gesture")
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
    comp.add_argument("--data", default=DEFAULT_DATA, help=DATA_HELP)
    comp.add_argument("--split", default="Test", choices=("Train", "Test"), help=SPLIT_HELP)
    comp.add_argument("--samples", type=int, default=None, help="class-balanced subset of the split")
    comp.add_argument("--tws", default=None, help="comma list replacing the checkpoint's TWS")
    _add_network_output_arguments(comp, 8, 16, "default ")
    comp.set_defaults(func=_compile)

    imp = subparsers.add_parser("import", help="NIR graph -> spikex-net-v1 network file")
    imp.add_argument("model", help="NIR graph (.nir), e.g. from snnTorch's export_to_nir")
    imp.add_argument("--data", default=None,
                     help="N-MNIST root: input spikes (--split) and calibration (always Train/)")
    imp.add_argument("--split", default="Train", choices=("Train", "Test"),
                     help="split whose recordings become the file's input (default Train)")
    imp.add_argument("--samples", type=int, default=100,
                     help="class-balanced recordings of --split in the file (default 100)")
    imp.add_argument("--calib-samples", type=int, default=100,
                     help="class-balanced Train/ recordings to calibrate on (default 100)")
    imp.add_argument("--input", default=None,
                     help="take input spikes and labels from this network file instead")
    binning = imp.add_mutually_exclusive_group()
    binning.add_argument("--timesteps", type=int, default=30,
                         help="time steps over N-MNIST's 300 ms (default 30)")
    binning.add_argument("--bin-us", type=int, default=None, help="microseconds per time step")
    imp.add_argument("--tws", default=None,
                     help="TWS per layer, e.g. 5,5,5 (default: the graph's, else 5 or less)")
    imp.add_argument("--dt", type=float, default=None,
                     help="time step of the NIR neurons in seconds (default: the graph's, "
                          "else 1e-4, snnTorch's)")
    _add_network_output_arguments(imp, None, None, "default: the graph's, else ")
    imp.set_defaults(func=_import)

    exp = subparsers.add_parser("export", help="spikex-net-v1 network file -> NIR graph")
    exp.add_argument("net", help="network file (spikex-net-v1 .npz)")
    exp.add_argument("--dt", type=float, default=None, help="time step written for the LIF "
                     "time constants (default 1e-4, snnTorch's)")
    exp.add_argument("-o", "--output", required=True, help="MODEL.nir to write")
    exp.set_defaults(func=_export)

    ev = subparsers.add_parser("eval", help="accuracy in float, torch-int and golden")
    ev.add_argument("model", help="checkpoint (.pt/.ckpt) or network file (.npz)")
    ev.add_argument("--data", default=DEFAULT_DATA, help=DATA_HELP + " (checkpoints only)")
    ev.add_argument("--split", default="Test", choices=("Train", "Test"), help=SPLIT_HELP)
    ev.add_argument("--samples", type=int, default=None)
    ev.add_argument("--tws", default=None, help="comma list replacing the checkpoint's TWS")
    ev.add_argument("--acc-bits", type=int, default=24)
    _add_threads_argument(ev)
    ev.set_defaults(func=_eval)

    gestures = subparsers.add_parser(
        "gestures", help="write the synthetic gesture set as DVS128 Gesture files (AEDAT 3.1)")
    gestures.add_argument("-o", "--output", required=True,
                          help="folder to create; it receives DvsGesture/ (refused if it exists)")
    gestures.add_argument("--train-trials", type=int, default=20,
                          help="recordings in trials_to_train.txt, 11 gestures each (default 20)")
    gestures.add_argument("--test-trials", type=int, default=5,
                          help="recordings in trials_to_test.txt, of other users (default 5)")
    gestures.add_argument("--seed", type=int, default=0)
    gestures.set_defaults(func=_gestures)
