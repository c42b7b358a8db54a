"""The backends of ``spikex run``: each maps a network to its spikes and, but for the
golden model, the counters of SPEC §5.

A backend is a function ``(net, options, source) -> (outputs, counters)`` where
``outputs`` is the list of each layer's output spikes and ``counters`` a dict or None.
Backends import their heavy dependencies only when they run.
"""

from sim import golden


__all__ = ["BACKENDS", "run_backend"]


def _golden(net, options, source):
    return golden.run_network(net, options.get("acc_bits", 24), source), None


def _analytic(net, options, source):
    from sim.analytic import run_analytic
    return run_analytic(net, options, source)


def _rtl(simulator):
    def backend(net, options, source):
        from sim.rtl import run_rtl
        return run_rtl(net, options, source, simulator)
    return backend


BACKENDS = {
    "golden": _golden,
    "analytic": _analytic,
    "icarus": _rtl("icarus"),
    "verilator": _rtl("verilator"),
}


def run_backend(name, net, options, source="<network>"):
    """Run ``net`` on backend ``name``; the error for an unknown name lists the backends."""
    if name not in BACKENDS:
        from .netfile import SpikexError
        raise SpikexError(f"unknown backend {name!r}; backends: {', '.join(BACKENDS)}")
    return BACKENDS[name](net, options, source)
