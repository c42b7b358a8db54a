"""Time the analytic simulator on DVSG-Medium (SPEC §2) at T=300, one sample.

Random int8 weights (sim.figures: uniform [-64, 64), threshold 128, leak_shift 2, so the
layers fire sparsely) and Bernoulli input at 1%. Prints the golden-model time, the
schedule-and-count time, and both for PTB.

    .venv/bin/python bench/bench_analytic.py
"""

import time

import numpy as np

from sim.analytic import analyze_layer, layer_membrane
from sim.figures import synthetic_network
from sim.schedule import Hardware


def main():
    net = synthetic_network("dvsg-medium", firing_rate=0.01, tws=5, batch=1, seed=0)
    start = time.perf_counter()
    traces, spikes = [], net.input
    for layer, weights in zip(net.layers, net.weights):
        out, membrane = layer_membrane(layer, weights, spikes, net.v_bits)
        traces.append((layer, spikes, out, membrane))
        spikes = out
    golden_s = time.perf_counter() - start
    rates = ", ".join(f"{float(np.mean(t[2])):.2%}" for t in traces)
    print(f"DVSG-Medium, T={net.timesteps}, 1 sample, input 1%; layer output rates: {rates}")
    print(f"golden spikes and membrane traces: {golden_s:.3f} s")
    for dataflow in ("spikex", "ptb"):
        hw = Hardware(dataflow=dataflow)
        start = time.perf_counter()
        counters = [analyze_layer(layer, x, hw, membrane=m, out_spikes=o) for layer, x, o, m in traces]
        elapsed = time.perf_counter() - start
        cycles = sum(c["cycles"] for c in counters)
        energy = sum(c["energy_pj"] for c in counters)
        print(f"{dataflow:>6}: analytic {elapsed:.3f} s (total with golden {elapsed + golden_s:.3f} s); "
              f"{cycles} cycles, {energy / 1e6:.2f} uJ")


if __name__ == "__main__":
    main()
