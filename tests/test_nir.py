"""NIR import and export (``spikex import``, ``spikex export``, :mod:`model.nirgraph`).

Graphs come from the real exporters (snnTorch's ``export_to_nir``, Norse's ``to_nir``)
and from NIR nodes written by hand for what the exporters cannot make. The integer
reference at the end runs the NIR nodes one by one in integer arithmetic, independently
of the importer, and is compared with the golden model on the imported network.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import nir

from model.nirgraph import float_layers, read_graph, run_float
from sim.golden import predict, run_network
from spikex.cli import main
from spikex.example import example_network
from spikex.netfile import ConvLayer, FcLayer, Network, load, save

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NMNIST_SMALL = Path(__file__).resolve().parents[2] / "shared/data/nmnist-small"
needs_nmnist = pytest.mark.skipif(not (NMNIST_SMALL / "Train").is_dir(),
                                  reason=f"N-MNIST subset not found at {NMNIST_SMALL}")
SHIPPED = ROOT / "model/zoo/nmnist_snntorch.nir"


def leaky(shape, beta=0.875, output=False):
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     reset_mechanism="zero", reset_delay=False, init_hidden=True, output=output)


def snntorch_pool_net(seed):
    """conv 2->4 (10x10, p1) -> LIF -> AvgPool 2 -> conv 4->6 E3 -> LIF -> fc 54->5 -> LIF."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), leaky((4, 10, 10)),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(4, 6, 3, bias=False), leaky((6, 3, 3), beta=0.9),
        torch.nn.Flatten(), torch.nn.Linear(54, 5, bias=False), leaky((5,), output=True))
    for module in net:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.uniform_(module.weight, -0.3, 0.9)
    return net


def snntorch_spikes(net, x):
    """Last layer's spikes ``[B, T, M]`` of an snnTorch net on uint8 ``[B, T, ...]``."""
    snn_utils.reset(net)
    with torch.no_grad():
        return np.stack([net(torch.from_numpy(x[:, t]).float())[0].numpy()
                         for t in range(x.shape[1])], axis=1).astype(np.uint8)


def random_spikes(shape, rate=0.3, seed=0):
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.uint8)


def input_file(path, spikes, labels=None):
    """A network file holding ``spikes`` [B, T, ...] (and labels), for ``--input``."""
    shape = spikes.shape[2:]
    layer = (FcLayer(shape[0], 1, 1, 0, 1) if len(shape) == 1 else
             ConvLayer(shape[0], tuple(shape[1:]), 1, 1, 1, 0, 1, 0, 1))
    save(Network([layer], [np.ones(layer.weight_shape, np.int64)], spikes, labels=labels), path)
    return path


def write(graph, path, compression="gzip"):
    nir.write(path, graph, compression=compression)
    return str(path)


def spikex(*args):
    return main([str(a) for a in args])


def test_snntorch_graph_float_semantics_equal_snntorch(tmp_path):
    """Pools fused, thresholds normalised: the float run equals snnTorch's own forward."""
    net = snntorch_pool_net(0)
    path = write(export_to_nir(net, torch.zeros(1, 2, 10, 10), ignore_dims=[0]), tmp_path / "n.nir")
    layers = float_layers(read_graph(path))
    assert [layer.layer.kind for layer in layers] == ["conv", "conv", "fc"]
    assert layers[1].layer.kernel == 6 and layers[1].layer.stride == 2   # (3 - 1) * 2 + 2
    x = random_spikes((8, 12, 2, 10, 10))
    expected = snntorch_spikes(net, x)
    assert expected.sum() > 0
    np.testing.assert_array_equal(run_float(layers, x)[-1], expected)


def test_snntorch_graph_imports_and_runs_on_golden(tmp_path, capsys):
    net = snntorch_pool_net(1)
    path = write(export_to_nir(net, torch.zeros(1, 2, 10, 10), ignore_dims=[0]), tmp_path / "n.nir")
    source = input_file(tmp_path / "in.npz", random_spikes((6, 12, 2, 10, 10)))
    assert spikex("import", path, "--input", source, "-o", tmp_path / "net.npz") == 0
    report = capsys.readouterr().out
    assert "leak 0.9 -> leak_shift 3 (0.875, error -0.025)" in report
    imported = load(tmp_path / "net.npz")
    assert [layer.leak_shift for layer in imported.layers] == [3, 3, 3]
    assert max(int(np.abs(w).max()) for w in imported.weights) == 127
    outputs = run_network(imported)
    assert outputs[-1].sum() > 0


def norse_fc_net(seed, steps_trained):
    """Linear 200->6 -> LIFBox -> Linear 6->3 -> IAF, briefly trained on random data."""
    torch.manual_seed(seed)
    first, second = torch.nn.Linear(200, 6), torch.nn.Linear(6, 3)
    net = norse.SequentialState(first, norse.LIFBoxCell(norse.LIFBoxParameters(
        tau_mem_inv=torch.tensor(0.125), v_th=torch.tensor(0.5))), second,
        norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(0.4))))
    with torch.no_grad():             # SpikeX synapses have no bias; Norse's exporter needs one
        first.bias.zero_()
        second.bias.zero_()
    optimiser = torch.optim.SGD([first.weight, second.weight], lr=0.5)
    x = torch.from_numpy(random_spikes((steps_trained, 4, 200), seed=seed)).float()
    for step in range(steps_trained):
        out, _ = net(x[step])
        loss = (out.sum() - 3.0) ** 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net


@pytest.mark.parametrize("steps_trained", [0, 5])
def test_norse_graph_imports(tmp_path, steps_trained, capsys):
    """Norse writes tau = dt / tau_mem_inv with dt = 1e-3: read with --dt 1e-3 it is a leak of 0.875."""
    net = norse_fc_net(2, steps_trained)
    graph = norse.to_nir(net, torch.zeros(1, 200))
    path = write(graph, tmp_path / "norse.nir", compression=None)   # Norse writes 0-d parameters
    source = input_file(tmp_path / "in.npz", random_spikes((4, 8, 200), 0.2))
    assert spikex("import", path, "--dt", "1e-3", "--input", source, "-o", tmp_path / "net.npz") == 0
    assert "leak 0.875 -> leak_shift 3 (0.875, error " in capsys.readouterr().out
    imported = load(tmp_path / "net.npz")
    assert [(layer.kind, layer.leak_shift) for layer in imported.layers] == [("fc", 3), ("fc", 0)]
    layers = float_layers(read_graph(path), dt=1e-3)
    agree = np.mean(run_float(layers, imported.input)[-1] == run_network(imported)[-1])
    assert agree > 0.9


def test_round_trip_is_bit_exact_and_loads_in_snntorch_and_norse(tmp_path):
    net = example_network(batch=3, timesteps=12)
    save(net, tmp_path / "a.npz")
    assert spikex("export", tmp_path / "a.npz", "-o", tmp_path / "a.nir") == 0
    assert spikex("import", tmp_path / "a.nir", "--input", tmp_path / "a.npz",
                  "-o", tmp_path / "b.npz") == 0
    a, b = load(tmp_path / "a.npz"), load(tmp_path / "b.npz")
    assert a.layers == b.layers and (a.weight_bits, a.v_bits) == (b.weight_bits, b.v_bits)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.input, b.input)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert spikex("export", tmp_path / "b.npz", "-o", tmp_path / "b.nir") == 0
    graph = nir.read(tmp_path / "b.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snntorch_module = import_from_nir(graph)
        norse_module = norse.from_nir(graph, ignore_warnings=True)
    names = {name for name, _ in snntorch_module.named_children()}
    assert {"conv0", "lif0", "conv1", "lif1", "flatten2", "fc2", "lif2"} <= names
    assert {"conv0", "lif0", "fc2", "lif2"} <= {name for name, _ in norse_module.named_children()}


def test_per_neuron_fc_thresholds_become_row_scales():
    """An fc layer's neurons may have their own thresholds: each row is scaled by its own."""
    weight = np.random.default_rng(3).uniform(-0.5, 1.0, (3, 20))
    thresholds = np.array([1.0, 2.5, 0.7])
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([20])}),
        "fc": nir.Linear(weight=weight),
        "lif": nir.LIF(tau=np.full(3, 4e-4), r=np.full(3, 4.0), v_leak=np.zeros(3),
                       v_threshold=thresholds),
        "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    spikes = random_spikes((4, 10, 20), 0.3)
    v, expected = np.zeros((4, 3)), np.zeros((4, 10, 3), np.uint8)
    for t in range(10):
        v = 0.75 * v + spikes[:, t] @ weight.T
        expected[:, t] = v > thresholds
        v[expected[:, t] == 1] = 0
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(run_float(float_layers(graph), spikes)[0], expected)


def integer_reference(graph, spikes):
    """The NIR graph's semantics in integer arithmetic, node by node, for integer weights.

    ``v = decay(u) + I`` with ``decay(u) = u - floor(u / 2**k)`` for a LIF of
    ``dt / tau = 2**-k`` (``u`` for an IF); spike if ``v > v_threshold``; reset to zero.
    Convolutions and pools are plain loops over output positions.
    """
    order = ["input"]
    successor = dict(graph.edges)
    while order[-1] != "output":
        order.append(successor[order[-1]])
    x = spikes.astype(np.int64)                       # [B, T, ...]
    for name in order[1:-1]:
        node = graph.nodes[name]
        if isinstance(node, nir.Conv2d):
            w = node.weight.astype(np.int64)
            s, p = int(np.atleast_1d(node.stride)[0]), int(np.atleast_1d(node.padding)[0])
            padded = np.pad(x, [(0, 0)] * 3 + [(p, p)] * 2)
            e = w.shape[-1]
            rows = (padded.shape[-2] - e) // s + 1
            cols = (padded.shape[-1] - e) // s + 1
            out = np.zeros(x.shape[:2] + (w.shape[0], rows, cols), np.int64)
            for r in range(rows):
                for c in range(cols):
                    patch = padded[..., r * s:r * s + e, c * s:c * s + e]
                    out[..., r, c] = np.einsum("btcij,mcij->btm", patch, w)
            x = out
        elif isinstance(node, nir.SumPool2d):
            k, s = int(node.kernel_size[0]), int(node.stride[0])
            rows, cols = (x.shape[-2] - k) // s + 1, (x.shape[-1] - k) // s + 1
            x = np.stack([np.stack([x[..., r * s:r * s + k, c * s:c * s + k].sum(axis=(-1, -2))
                                    for c in range(cols)], -1) for r in range(rows)], -2)
        elif isinstance(node, nir.Flatten):
            x = x.reshape(*x.shape[:2], -1)
        elif isinstance(node, nir.Linear):
            x = x @ node.weight.astype(np.int64).T
        else:
            shift = 0 if isinstance(node, nir.IF) else int(round(np.log2(node.tau.flat[0] / 1e-4)))
            u = np.zeros_like(x[:, 0])
            out = np.zeros_like(x)
            for t in range(x.shape[1]):
                v = (u - (u >> shift) if shift else u) + x[:, t]
                out[:, t] = v > node.v_threshold
                u = np.where(out[:, t] == 1, 0, v)
            x = out
    return x.astype(np.uint8)


def integer_graph(seed):
    """Integer weights and thresholds: SumPool -> conv -> LIF(k=2) -> conv -> IF -> fc -> LIF(k=1)."""
    rng = np.random.default_rng(seed)

    def lif(shape, threshold, shift):
        return nir.LIF(tau=np.full(shape, 1e-4 * 2 ** shift), r=np.full(shape, 2.0 ** shift),
                       v_leak=np.zeros(shape), v_threshold=np.full(shape, float(threshold)))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 12, 12])}),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "conv_a": nir.Conv2d(input_shape=(6, 6), weight=rng.integers(-30, 32, (3, 2, 3, 3)).astype(float),
                             stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(3)),
        "lif_a": lif((3, 6, 6), 60, 2),
        "conv_b": nir.Conv2d(input_shape=(6, 6), weight=rng.integers(-25, 40, (4, 3, 3, 3)).astype(float),
                             stride=2, padding=0, dilation=1, groups=1, bias=np.zeros(4)),
        "if_b": nir.IF(r=np.ones((4, 2, 2)), v_threshold=np.full((4, 2, 2), 50.0)),
        "flat": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0),
        "fc": nir.Linear(weight=rng.integers(-30, 45, (5, 16)).astype(float)),
        "lif_c": lif((5,), 40, 1),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_golden_equals_integer_nir_semantics(tmp_path, seed):
    graph = integer_graph(seed)
    path = write(graph, tmp_path / "int.nir")
    spikes = random_spikes((3, 8, 2, 12, 12), 0.25, seed)
    source = input_file(tmp_path / "in.npz", spikes)
    assert spikex("import", path, "--input", source, "--tws", "1,2,4", "-o", tmp_path / "n.npz") == 0
    net = load(tmp_path / "n.npz")
    assert [layer.threshold for layer in net.layers] == [61, 51, 41]      # v > 60 is v >= 61
    assert net.layers[0].kernel == 6 and net.layers[0].stride == 2      # the pool, fused
    expected = integer_reference(graph, spikes)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(run_network(net)[-1], expected)


def refusal_graphs():
    """(name, graph, words the one-line error must hold) for each refused construct."""
    def lin(m, n, value=0.5):
        return nir.Linear(weight=np.full((m, n), value))

    def lif(n, **overrides):
        fields = dict(tau=np.full(n, 8e-4), r=np.full(n, 8.0), v_leak=np.zeros(n),
                      v_threshold=np.ones(n))
        fields.update(overrides)
        return nir.LIF(**fields)

    def chain(*nodes, extra_edges=()):
        named = {"input": nir.Input(input_type={"input": np.array([4])}),
                 **{f"n{i}": node for i, node in enumerate(nodes)},
                 "output": nir.Output(output_type={"output": np.array([3])})}
        names = list(named)
        return nir.NIRGraph(nodes=named, edges=list(zip(names, names[1:])) + list(extra_edges),
                            type_check=False)

    recurrent = chain(lin(3, 4), lif(3))
    recurrent.nodes["w_rec"] = lin(3, 3)
    recurrent.edges += [("n1", "w_rec"), ("w_rec", "n1")]
    skip = chain(lin(4, 4), lif(4), lin(3, 4), lif(3))
    skip.nodes["n4"] = lin(3, 4)
    skip.edges += [("n1", "n4"), ("n4", "n3")]
    cuba = chain(lin(3, 4), nir.CubaLIF(tau_syn=np.full(3, 1e-3), tau_mem=np.full(3, 1e-3),
                                        r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)))
    conv_thresholds = np.ones((2, 2, 2))
    conv_thresholds[1, 0, 1] = 2.0
    conv = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=0,
                           dilation=1, groups=1, bias=np.zeros(2)),
        "lif": nir.LIF(tau=np.full((2, 2, 2), 8e-4), r=np.full((2, 2, 2), 8.0),
                       v_leak=np.zeros((2, 2, 2)), v_threshold=conv_thresholds),
        "output": nir.Output(output_type={"output": np.array([2, 2, 2])})},
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    return [
        ("recurrent", recurrent, ["'n1'", "'w_rec'", "closes a cycle", "recurrent"]),
        ("skip", skip, ["'n1'", "two outgoing edges", "skip connections"]),
        ("cubalif", cuba, ["'n1' (CubaLIF)", "current-based"]),
        ("delay", chain(lin(3, 4), nir.Delay(delay=np.ones(3)), lif(3)), ["'n1' (Delay)", "delays"]),
        ("v_reset", chain(lin(3, 4), lif(3, v_reset=np.full(3, 0.5))), ["'n1' (LIF)", "v_reset = 0.5"]),
        ("bias", chain(nir.Affine(weight=np.ones((3, 4)), bias=np.array([0.0, 0.1, 0.0])), lif(3)),
         ["'n0' (Affine)", "non-zero bias"]),
        ("conv_threshold", conv, ["'lif' (LIF)", "channel 1", "one threshold per"]),
        ("no_neuron", chain(lin(3, 4)), ["'n0'", "not followed by an IF or LIF"]),
    ]


@pytest.mark.parametrize("name,graph,words", refusal_graphs(), ids=[r[0] for r in refusal_graphs()])
def test_unsupported_graph_refused_in_one_line(tmp_path, capsys, name, graph, words):
    path = write(graph, tmp_path / f"{name}.nir", compression=None)
    out = tmp_path / "net.npz"
    assert spikex("import", path, "-o", out) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("spikex: error: ")
    for word in words:
        assert word in error, error
    assert not out.exists() and list(tmp_path.iterdir()) == [Path(path)]


def test_snntorch_recurrent_and_synaptic_layers_refused(tmp_path, capsys):
    """The real exporter's RLeaky (an edge back to the LIF) and Synaptic (CubaLIF)."""
    shape = (6,)
    rleaky = torch.nn.Sequential(torch.nn.Linear(8, 6, bias=False), snn.RLeaky(
        beta=torch.full(shape, 0.9), threshold=torch.ones(shape), linear_features=6,
        init_hidden=True, output=True))
    synaptic = torch.nn.Sequential(torch.nn.Linear(8, 6, bias=False), snn.Synaptic(
        alpha=torch.full(shape, 0.9), beta=torch.full(shape, 0.8), threshold=torch.ones(shape),
        init_hidden=True, output=True))
    for net, words in ((rleaky, ["'1.lif'", "recurrent"]), (synaptic, ["'1' (CubaLIF)"])):
        path = write(export_to_nir(net, torch.zeros(1, 8), ignore_dims=[0]), tmp_path / "r.nir")
        assert spikex("import", path, "-o", tmp_path / "net.npz") == 1
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and all(word in error for word in words), error
        assert not (tmp_path / "net.npz").exists()


@needs_nmnist
def test_shipped_snntorch_model_on_golden(tmp_path, capsys):
    """The shipped snnTorch N-MNIST graph: --bin-us 10000 is --timesteps 30; golden equals torch-int."""
    out = tmp_path / "net.npz"
    common = ["--data", NMNIST_SMALL, "--split", "Test", "--samples", 10, "--calib-samples", 20]
    assert spikex("import", SHIPPED, *common, "--bin-us", 10000, "-o", out) == 0
    report = capsys.readouterr().out
    assert "calibration on 20 Train/ recordings" in report
    net = load(out)
    assert net.timesteps == 30 and [layer.kind for layer in net.layers] == ["conv", "conv", "fc"]
    assert spikex("import", SHIPPED, *common, "--timesteps", 30, "-o", tmp_path / "t.npz") == 0
    np.testing.assert_array_equal(load(tmp_path / "t.npz").input, net.input)
    from model.compile import run_integer
    golden = run_network(net)
    for g, i in zip(golden, run_integer(net)):
        np.testing.assert_array_equal(g, i)
    _, prediction = predict(golden[-1])
    assert np.mean(prediction == net.labels) >= 0.6
