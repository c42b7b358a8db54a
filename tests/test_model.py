"""The PyTorch side: LIF modes, integer mode against the golden model, hardware loss, HAS, training."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from sim import golden
from sim.ntwu import active_window_density
from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError
from model.lif import (SURROGATES, LIF, LIFParameters, LIFState, IntegerLIFParameters, heaviside,
                       integer_lif_step, leak_from_shift, lif_sequence, lif_step)
from model.networks import IntegerNet, SpikingNet, layer_geometry, net_config
from model.hwloss import (EdpModel, HardwareLoss, active_window_densities, analytic_edp_model,
                          divisor_tws)
from model.has import TwsSearch, fixed_tws_weights
from model.compile import compile_checkpoint, run_integer
from model.train import TrainConfig, augment, load_nmnist, train


NMNIST_SMALL = Path(__file__).resolve().parents[2] / "shared/data/nmnist-small"
needs_nmnist = pytest.mark.skipif(not (NMNIST_SMALL / "Train").is_dir(),
                                  reason=f"real N-MNIST subset not found at {NMNIST_SMALL}")


# ------------------------------------------------------------------ LIF, float mode

def test_unknown_surrogate_lists_the_choices():
    with pytest.raises(ValueError, match="unknown surrogate 'bogus'; choices: superspike, sigmoid"):
        heaviside(torch.zeros(3), "bogus")
    with pytest.raises(ValueError, match="choices"):
        LIF(surrogate="bogus")


@pytest.mark.parametrize("name", list(SURROGATES))
def test_heaviside_forward_is_a_step_and_backward_the_surrogate(name):
    x = torch.tensor([-1.0, -0.1, 0.0, 0.3], requires_grad=True)
    spikes = heaviside(x, name, 4.0)
    assert spikes.tolist() == [0.0, 0.0, 1.0, 1.0]
    spikes.sum().backward()
    assert torch.allclose(x.grad, SURROGATES[name](x.detach(), 4.0))


def test_superspike_gradient_value():
    x = torch.tensor([0.5], requires_grad=True)
    heaviside(x, "superspike", 5.0).sum().backward()
    assert float(x.grad) == pytest.approx(1 / (5 * 0.5 + 1) ** 2)


def test_leak_is_exactly_a_power_of_two_and_trainable():
    shift = torch.tensor(2.7, requires_grad=True)
    leak = leak_from_shift(shift)
    assert float(leak.detach()) == 1 - 2 ** -3
    leak.backward()
    assert float(shift.grad) == pytest.approx(np.log(2) * 2 ** -3)


def test_float_lif_step_resets_to_zero():
    params = LIFParameters(torch.tensor(0.5), 1.0)
    s, state = lif_step(torch.tensor([0.6, 1.2]), LIFState(torch.tensor([0.8, 0.0])), params)
    assert s.tolist() == [1.0, 1.0] and state.u.tolist() == [0.0, 0.0]
    s, state = lif_step(torch.tensor([0.2]), LIFState(torch.tensor([0.8])), params)
    assert s.tolist() == [0.0] and state.u.tolist() == pytest.approx([0.6])


def _looped_lif(currents, params):
    state, spikes = LIFState(torch.zeros_like(currents[0])), []
    for current in currents:
        s, state = lif_step(current, state, params)
        spikes.append(s)
    return torch.stack(spikes)


@pytest.mark.parametrize("name", list(SURROGATES))
def test_lif_sequence_is_lif_step_looped_with_its_gradients(name):
    """The fused LIF of training: the loop's spikes bit for bit, autograd's BPTT gradients."""
    generator = torch.Generator().manual_seed(len(name))
    currents = torch.randn(20, 3, 40, generator=generator) * 0.7
    currents[4, 0, :5] = 1.0 - 0.875 * currents[3, 0, :5]   # some land exactly on threshold
    upstream = torch.randn(20, 3, 40, generator=generator)
    grads = []
    for run in (_looped_lif, lif_sequence):
        c = currents.clone().requires_grad_()
        shift = torch.tensor(3.2, requires_grad=True)
        spikes = run(c, LIFParameters(leak_from_shift(shift), 1.0, name, 4.0))
        (spikes * upstream).sum().backward()
        grads.append((spikes.detach(), c.grad, shift.grad))
    (want, want_c, want_shift), (got, got_c, got_shift) = grads
    assert 0 < float(want.mean()) < 0.5
    assert torch.equal(got, want)
    assert torch.allclose(got_c, want_c, rtol=1e-5, atol=1e-6)
    assert float(got_shift) == pytest.approx(float(want_shift), rel=1e-4)


# ----------------------------------------------------- LIF, integer mode vs golden

@pytest.mark.parametrize("leak_shift", [0, 1, 3, 7])
@pytest.mark.parametrize("v_bits", [6, 16])
def test_integer_lif_step_matches_golden(leak_shift, v_bits):
    rng = np.random.default_rng(leak_shift * 100 + v_bits)
    v_max = 2 ** (v_bits - 1) - 1
    threshold = int(rng.integers(1, v_max + 1))
    u = rng.integers(-v_max - 1, v_max + 1, size=500)
    current = rng.integers(-2 * v_max, 2 * v_max, size=500)
    current[:5] = [threshold - decay for decay in golden.decay(u[:5], leak_shift)]  # exactly at threshold
    want_s, want_u = golden.lif_step(u, current, threshold, leak_shift, v_bits)
    got_s, got_state = integer_lif_step(torch.from_numpy(current), LIFState(torch.from_numpy(u)),
                                        IntegerLIFParameters(threshold, leak_shift, v_bits))
    assert np.array_equal(got_s.numpy(), want_s)
    assert np.array_equal(got_state.u.numpy(), want_u)


def _random_network(seed, layers, batch=3, T=12, rate=0.2, v_bits=16):
    rng = np.random.default_rng(seed)
    weights = [rng.integers(-128, 128, size=layer.weight_shape) for layer in layers]
    spikes = (rng.random((batch, T, *layers[0].in_shape)) < rate).astype(np.uint8)
    return Network(layers, weights, spikes, 8, v_bits)


def _conv(c, size, m, e, s, p, thr, leak, tws=1):
    return ConvLayer(c, (size, size), m, e, s, p, thr, leak, tws)


NETWORKS = {
    "conv-s1-p1": [_conv(2, 9, 3, 3, 1, 1, 200, 2)],
    "conv-s2-p0-fc": [_conv(2, 11, 4, 3, 2, 0, 150, 3), FcLayer(4 * 5 * 5, 6, 300, 1, 1)],
    "conv-s3-p2-conv": [_conv(3, 10, 5, 5, 3, 2, 100, 0), _conv(5, 4, 4, 3, 1, 1, 90, 4)],
    "fc-fc": [FcLayer(40, 16, 250, 2, 1), FcLayer(16, 5, 120, 5, 1)],
}


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("seed", [0, 1])
def test_integer_net_matches_golden_bit_for_bit(name, seed):
    layers = NETWORKS[name]
    first = layers[0]
    net = _random_network(seed, layers)
    if first.kind == "fc":
        net = net.with_input(net.input.reshape(net.batch, net.timesteps, first.in_features))
    want = golden.run_network(net)
    got = run_integer(net, batch_size=2)
    assert any(w.any() for w in want), "the test network should spike"
    for k, (w, g) in enumerate(zip(want, got)):
        assert np.array_equal(w, g), f"layer {k} differs"


@settings(max_examples=40, deadline=None)
@given(size=st.integers(3, 9), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), leak=st.integers(0, 6), threshold=st.integers(1, 400),
       v_bits=st.integers(6, 16), rate=st.floats(0.0, 0.6), seed=st.integers(0, 2**16))
def test_integer_conv_fc_matches_golden_randomised(size, kernel, stride, padding, leak, threshold,
                                                   v_bits, rate, seed):
    """Random geometry, leak, threshold and membrane width, including saturation and
    thresholds reached exactly; conv then fc, as in the Table II networks."""
    assume(size + 2 * padding >= kernel)
    threshold = min(threshold, 2 ** (v_bits - 1) - 1)
    conv = _conv(2, size, 3, kernel, stride, padding, threshold, leak)
    fc = FcLayer(int(np.prod(conv.out_shape)), 4, max(1, threshold // 2), leak // 2, 1)
    net = _random_network(seed, [conv, fc], batch=2, T=6, rate=rate, v_bits=v_bits)
    for k, (w, g) in enumerate(zip(golden.run_network(net), run_integer(net))):
        assert np.array_equal(w, g), f"layer {k} differs"


def test_integer_net_saturates_like_golden():
    layers = [FcLayer(30, 8, 40, 1, 1)]
    net = _random_network(5, layers, rate=0.6, v_bits=7)  # membrane in -64..63
    net = net.with_input(net.input.reshape(net.batch, net.timesteps, 30))
    assert np.array_equal(golden.run_network(net)[0], run_integer(net)[0])


def test_integer_net_is_time_first():
    net = _random_network(3, NETWORKS["conv-s2-p0-fc"])
    x = torch.from_numpy(net.input).transpose(0, 1)
    outputs = IntegerNet(net)(x)
    assert outputs[0].shape == (net.timesteps, net.batch, 4, 5, 5)


def test_presets_have_the_table_ii_sizes():
    sizes = [layer.out_shape for layer in layer_geometry(net_config("nmnist"))]
    assert sizes == [(12, 16, 16), (32, 14, 14), (64, 6, 6), (10,)]
    medium = layer_geometry(net_config("dvsg-medium"))
    assert [layer.out_shape for layer in medium][:4] == [(8, 32, 32), (16, 8, 8), (16, 8, 8),
                                                         (16, 10, 10)]
    assert medium[4].in_features == 1600
    large = layer_geometry(net_config("dvsg-large"))
    assert large[3].in_features == 2048
    with pytest.raises(ValueError, match="unknown network 'mnist'; choices: nmnist"):
        net_config("mnist")


# ------------------------------------------------------------------ hardware loss

def _windows_density_case(layer, seed, T=12, batch=2, rate=0.03):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, T, *layer.in_shape)) < rate).astype(np.uint8)


@pytest.mark.parametrize("layer", [_conv(3, 10, 4, 3, 2, 1, 1, 0), _conv(2, 9, 2, 5, 1, 2, 1, 0),
                                   FcLayer(20, 3, 1, 0, 1)], ids=["conv-s2", "conv-p2", "fc"])
@pytest.mark.parametrize("tws", [1, 3, 4])
def test_density_forward_is_the_exact_ntwu_density(layer, tws):
    spikes = _windows_density_case(layer, tws)
    x = torch.from_numpy(spikes).transpose(0, 1).float()
    got = active_window_densities(layer, x, [tws])
    assert float(got[0]) == pytest.approx(active_window_density(layer, spikes, tws), abs=1e-6)


def test_density_gradient_reaches_spikes_and_is_largest_for_lone_spikes():
    layer = FcLayer(4, 1, 1, 0, 1)
    x = torch.zeros(4, 1, 4)
    x[0, 0, 0] = 1.0                       # window 0: one spike
    x[2, 0, :] = 1.0                       # window 1: four spikes
    x.requires_grad_(True)
    density = active_window_densities(layer, x, [2])
    assert float(density.detach()) == 1.0
    density.sum().backward()
    assert float(x.grad[0, 0, 0]) > float(x.grad[2, 0, 0]) > 0


def _hand_model():
    # layer 0: tws 1 cheap, tws 2 dear; layer 1 the other way round
    return EdpModel.from_json({"layers": [
        {"1": {"breakpoints": [0, 0.5, 1], "values": [0, 1, 4]},
         "2": {"breakpoints": [0, 1], "values": [0, 40]}},
        {"1": {"breakpoints": [0, 1], "values": [0, 30]},
         "2": {"breakpoints": [0, 0.5, 1], "values": [1, 2, 3]}}]})


def test_edp_model_interpolates_and_holds_the_ends_like_np_interp():
    model = _hand_model()
    d = torch.tensor(0.75, requires_grad=True)
    value = model(0, 1, d)
    assert float(value.detach()) == pytest.approx(2.5)
    value.backward()
    assert float(d.grad) == pytest.approx(6.0)
    for density in (-0.5, 0.0, 0.3, 0.5, 1.0, 1.5):
        want = np.interp(density, [0, 0.5, 1], [0, 1, 4])
        assert float(model(0, 1, torch.tensor(density))) == pytest.approx(want)
    assert model.tws_choices(1) == [1, 2]
    same = EdpModel.from_json({"0": _hand_model().to_json()["layers"][0]})
    assert float(same(0, 2, torch.tensor(0.5))) == pytest.approx(20.0)


def test_edp_model_reads_the_edp_fit_format():
    fitted = {"format": "spikex-edp-v1", "units": "pJ*s per sample", "layers": [
        {"layer": 0, "kind": "conv", "models": {
            "2": {"breakpoints": [0.0, 0.4], "values": [1.0, 5.0], "samples": [[0.1], [2.0]]},
            "5": {"breakpoints": [0.0], "values": [3.0], "samples": [[0.0], [3.0]]}}}]}
    model = EdpModel.from_json(fitted)
    assert model.tws_choices(0) == [2, 5]
    assert float(model(0, 2, torch.tensor(0.2))) == pytest.approx(3.0)
    assert float(model(0, 5, torch.tensor(0.7))) == pytest.approx(3.0)


def test_edp_model_errors_name_layer_and_tws():
    with pytest.raises(SpikexError, match="layer 0 tws 3: breakpoints must be strictly increasing"):
        EdpModel.from_json([{"3": {"breakpoints": [0, 0.5, 0.5], "values": [0, 1, 2]}}])
    with pytest.raises(SpikexError, match="layer 1 tws 2: expected an object"):
        EdpModel.from_json([{}, {"2": [1, 2]}])
    with pytest.raises(SpikexError, match="no EDP curve for layer 0 at tws 5"):
        _hand_model()(0, 5, torch.tensor(0.1))


def test_hardware_loss_is_percent_of_full_activity():
    layers = [FcLayer(4, 4, 1, 0, 1), FcLayer(4, 2, 1, 0, 1)]
    loss = HardwareLoss(layers, _hand_model(), [[1, 2], [1, 2]])
    full = torch.ones(4, 1, 4)
    value, densities = loss((full, full), fixed_tws_weights([[1, 2], [1, 2]], [2, 1]))
    # EDP 40 + 30 at density 1, normalised by max-per-layer 40 + 30
    assert float(value) == pytest.approx(100.0)
    assert [d.tolist() for d in densities] == [[1.0, 1.0], [1.0, 1.0]]


def test_divisor_tws_of_30():
    assert divisor_tws(30) == [1, 2, 3, 5, 6, 10, 15]


def test_has_picks_the_cheaper_tws_per_layer():
    layers = [FcLayer(4, 4, 1, 0, 1), FcLayer(4, 2, 1, 0, 1)]
    choices = [[1, 2], [1, 2]]
    loss = HardwareLoss(layers, _hand_model(), choices)
    search = TwsSearch(choices)
    optimiser = torch.optim.Adam(search.parameters(), lr=0.1)
    x = (torch.rand(6, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    for _ in range(30):
        value, _ = loss((x, x), search.weights())
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    assert search.chosen() == [1, 2]


def test_analytic_edp_model_is_increasing_in_density():
    layers = layer_geometry(net_config("nmnist"))
    model = analytic_edp_model(layers, 30, [1, 5])
    for k in range(len(layers)):
        values = [float(model(k, 5, torch.tensor(d))) for d in (0.0, 0.3, 0.6, 1.0)]
        assert values == sorted(values) and values[0] == 0.0


# ------------------------------------------------------------------ training on real data

@pytest.fixture(scope="module")
def few_samples():
    if not (NMNIST_SMALL / "Train").is_dir():
        pytest.skip(f"real N-MNIST subset not found at {NMNIST_SMALL}")
    return load_nmnist(NMNIST_SMALL, "Train", 10, samples=20, progress=False)


def _tiny_config(**changes):
    cfg = TrainConfig(net="nmnist-tiny", data=str(NMNIST_SMALL), epochs=2, warmup_epochs=1,
                      batch_size=8, val_fraction=0.2, beta=1e-2, seed=3)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


@needs_nmnist
def test_trained_tiny_network_compiles_and_matches_golden_bit_for_bit(tmp_path, few_samples):
    ckpt = train(_tiny_config(), tmp_path, progress=False, verbose=False, data=few_samples)
    assert ckpt["step"] == 4 and (tmp_path / "last.ckpt").is_file()
    assert all(10 % t == 0 for t in ckpt["tws"]) and len(ckpt["tws"]) == 3
    model = SpikingNet(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    spikes, labels = few_samples
    net = compile_checkpoint(model, ckpt["tws"], spikes.numpy(), labels.numpy())
    assert [layer.tws for layer in net.layers] == ckpt["tws"]
    assert all(int(np.abs(w).max()) == 127 for w in net.weights)
    want = golden.run_network(net)
    got = run_integer(net)
    assert sum(int(w.sum()) for w in want) > 0, "the trained network should spike"
    for k, (w, g) in enumerate(zip(want, got)):
        assert np.array_equal(w, g), f"layer {k}: torch-int differs from golden"


@needs_nmnist
def test_resume_continues_exactly(tmp_path, few_samples):
    """Stopped in the warm-up and again inside the HT+HAS epoch, with augmentation and a
    cosine schedule, then resumed: the model, HAS logits and optimiser are bit for bit
    those of the uninterrupted run."""
    cfg = _tiny_config(epochs=2, augment_shift=2, augment_drop=0.3, lr_schedule="cosine")
    straight = train(cfg, tmp_path / "straight", progress=False, verbose=False, data=few_samples)
    ckpt = tmp_path / "resumed" / "last.ckpt"
    stops = []
    for steps in (1, 3, None):      # batch 1 of the warm-up, batch 1 of the second epoch, the end
        stopped = replace(cfg, max_steps=steps)
        state = train(stopped, tmp_path / "resumed", resume=ckpt if stops else None,
                      progress=False, verbose=False, data=few_samples)
        stops.append((state["epoch"], state["batch"], state["step"]))
    assert stops == [(0, 1, 1), (1, 1, 3), (2, 0, 4)]
    resumed = torch.load(ckpt, weights_only=False)
    for part in ("state_dict", "search"):
        assert straight[part].keys() == resumed[part].keys()
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), (part, key)
    for a, b in zip(straight["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
        assert all(torch.equal(a[key], b[key]) for key in a)
    assert straight["tws"] == resumed["tws"]


def test_augment_moves_and_drops_spikes_within_its_bounds():
    spikes = torch.zeros(64, 3, 2, 34, 34, dtype=torch.uint8)
    spikes[:, :, :, 10, 20] = 1
    moved = augment(spikes, 2, 0.0, torch.Generator().manual_seed(0))
    assert moved.shape == spikes.shape and moved.dtype == torch.uint8
    where = [tuple(torch.nonzero(sample[0, 0]).tolist()[0]) for sample in moved]
    assert moved.sum(dim=(1, 2, 3, 4)).tolist() == [6] * 64     # moved, none lost or added
    assert all((moved[:, t, c] == moved[:, 0, 0]).all() for t in range(3) for c in range(2))
    shifts = {(y - 10, x - 20) for y, x in where}
    assert len(shifts) > 15 and shifts <= {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    dense = torch.ones(64, 10, 2, 34, 34, dtype=torch.uint8)
    kept = augment(dense, 0, 0.5, torch.Generator().manual_seed(0)).float().mean(dim=(1, 2, 3, 4))
    assert float(kept.min()) > 0.48 and float(kept.max()) <= 1.0 and float(kept.std()) > 0.05
    edge = torch.zeros(256, 1, 1, 34, 34, dtype=torch.uint8)
    edge[:, :, :, 0, 0] = 1
    assert augment(edge, 2, 0.0, torch.Generator().manual_seed(1)).sum() < 256   # some fall off


def test_augment_time_delays_each_sample_within_its_bounds():
    """--augment-time: each sample moves in time by -2..2 steps as a whole (what leaves the
    T steps is lost, what comes in is silent); without it the draws are those of before."""
    spikes = torch.zeros(64, 10, 2, 34, 34, dtype=torch.uint8)
    spikes[:, 4, 0, 10, 20] = 1
    spikes[:, 5, 1, 3, 7] = 1
    moved = augment(spikes, 0, 0.0, torch.Generator().manual_seed(0), time=2)
    assert moved.shape == spikes.shape and moved.dtype == torch.uint8
    assert moved.sum(dim=(1, 2, 3, 4)).tolist() == [2] * 64
    first = [int(torch.nonzero(sample[:, 0, 10, 20])[0, 0]) for sample in moved]
    assert set(first) == {2, 3, 4, 5, 6}
    assert all(int(sample[t + 1, 1, 3, 7]) == 1 for sample, t in zip(moved, first))
    edge = torch.zeros(256, 10, 1, 4, 4, dtype=torch.uint8)
    edge[:, 0] = 1
    assert augment(edge, 0, 0.0, torch.Generator().manual_seed(1), time=2).sum() < 256 * 16
    both = augment(spikes, 2, 0.3, torch.Generator().manual_seed(3))
    assert torch.equal(both, augment(spikes, 2, 0.3, torch.Generator().manual_seed(3), time=0))


@needs_nmnist
def test_hardware_loss_lowers_activity(tmp_path, few_samples):
    """With a large beta the hidden layers fire less than with beta = 0, from the same start."""
    base = _tiny_config(epochs=1, warmup_epochs=1)
    train(base, tmp_path / "warm", progress=False, verbose=False, data=few_samples)
    warm = tmp_path / "warm" / "last.ckpt"
    rates = {}
    for beta in (0.0, 10.0):
        cfg = _tiny_config(epochs=4, warmup_epochs=1, beta=beta, has=False, lr=5e-3)
        ckpt = train(cfg, tmp_path / f"b{beta}", resume=warm, progress=False, verbose=False,
                     data=few_samples)
        rates[beta] = sum(ckpt["history"][-1]["val_spike_density"][:-1])
    assert rates[10.0] < rates[0.0]


@needs_nmnist
def test_train_command_stopped_mid_epoch_says_no_validation_yet(tmp_path, capsys):
    from spikex.cli import main
    assert main(["train", "--net", "nmnist-tiny", "--data", str(NMNIST_SMALL), "--samples", "40",
                 "--steps", "2", "--batch-size", "8", "--threads", "1", "--quiet",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "step 2" in out and "no validation yet (it runs at the end of each epoch)" in out
    assert "nan" not in out


def test_augment_rotate_and_scale_keep_the_distance_to_the_centre_within_bounds():
    """--augment-rotate / --augment-scale: a spike 9.5 pixels from the centre of the 34x34
    sensor stays at that distance under rotation (nearest pixel: within 0.75) and moves
    to 0.8..1.2 times it under a zoom of 0.2; the angle spreads over -30..30 degrees;
    with both zero the draws are those of before."""
    spikes = torch.zeros(200, 2, 2, 34, 34, dtype=torch.uint8)
    spikes[:, :, :, 16, 26] = 1           # (-0.5, 9.5) from the centre (16.5, 16.5)

    def polar(moved):
        where = torch.cat([torch.nonzero(sample[0, 0]).float() for sample in moved]) - 16.5
        return where.norm(dim=1), torch.rad2deg(torch.atan2(where[:, 0], where[:, 1]))

    rotated = augment(spikes, 0, 0.0, torch.Generator().manual_seed(0), rotate=30)
    assert rotated.shape == spikes.shape and rotated.dtype == torch.uint8
    assert all((rotated[:, t, c] == rotated[:, 0, 0]).all() for t in range(2) for c in range(2))
    radius, angle = polar(rotated)
    assert float((radius - 9.51).abs().max()) < 0.75
    assert float(angle.min()) < -25 and float(angle.max()) > 20 and float(angle.abs().max()) < 34
    radius, angle = polar(augment(spikes, 0, 0.0, torch.Generator().manual_seed(0), scale=0.2))
    assert 0.8 * 9.51 - 0.75 < float(radius.min()) < 0.85 * 9.51
    assert 1.15 * 9.51 < float(radius.max()) < 1.2 * 9.51 + 0.75
    assert float(angle.abs().max()) < 6
    assert torch.equal(augment(spikes, 2, 0.3, torch.Generator().manual_seed(3)),
                       augment(spikes, 2, 0.3, torch.Generator().manual_seed(3), rotate=0, scale=0))
