"""Leaky integrate-and-fire neurons in PyTorch: a trainable float mode and an exact integer mode.

Both modes run the LIF of SPEC §1 with reset to zero. Time is dimension 0 of every
tensor (``[T, B, ...]``, as in Norse); :class:`LIF` and :class:`IntegerLIF` loop over it.

Float mode (training), per step, with a surrogate gradient for the Heaviside step ``H``::

    v    = lambda * u + C[t]          lambda = 1 - 2**-leak_shift
    s[t] = H(v - threshold)
    u    = v * (1 - s[t])             (the reset is not differentiated through)

Integer mode (SPEC §1 bit for bit; ``>>`` is the arithmetic shift, i.e. floor)::

    v    = sat(u - (u >> leak_shift) + C[t])      (u itself when leak_shift == 0)
    s[t] = v >= threshold
    u    = 0 if s[t] else v

``leak_shift`` is trained in float mode through :func:`leak_from_shift`: the forward pass
rounds it to an integer ``k >= 1`` (straight-through), so the float leak is always exactly
``1 - 2**-k``, the leak the integer mode and the hardware apply.

Surrogate gradients (``d s / d x`` with ``x = v - threshold`` and sharpness ``a``):

- ``"superspike"`` (fast sigmoid, Zenke & Ganguli 2018): ``1 / (a |x| + 1)**2``
- ``"sigmoid"``: ``a * sig(a x) * (1 - sig(a x))``
- ``"triangle"``: ``max(0, 1 - a |x|)`` (zero outside ``|x| < 1 / a``, a temporal cutoff)
- ``"arctan"``: ``1 / (1 + (pi a x / 2)**2)``
"""

import math
from typing import NamedTuple

import torch
from torch import nn


__all__ = ["SURROGATES", "heaviside", "leak_from_shift", "LIFParameters", "LIFState", "lif_step",
           "LIF", "IntegerLIFParameters", "integer_decay", "integer_lif_step", "IntegerLIF"]


def _superspike(x, a):
    return 1.0 / (a * x.abs() + 1.0) ** 2


def _sigmoid(x, a):
    sig = torch.sigmoid(a * x)
    return a * sig * (1.0 - sig)


def _triangle(x, a):
    return torch.clamp(1.0 - a * x.abs(), min=0.0)


def _arctan(x, a):
    return 1.0 / (1.0 + (math.pi / 2 * a * x) ** 2)


SURROGATES = {"superspike": _superspike, "sigmoid": _sigmoid, "triangle": _triangle,
              "arctan": _arctan}


class _Heaviside(torch.autograd.Function):
    """Forward: ``x >= 0`` as 0/1. Backward: ``grad * surrogate(x, a)``."""

    @staticmethod
    def forward(ctx, x, surrogate, alpha):
        ctx.save_for_backward(x)
        ctx.surrogate, ctx.alpha = surrogate, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * SURROGATES[ctx.surrogate](x, ctx.alpha), None, None


def heaviside(x, surrogate="superspike", alpha=5.0):
    """Spike where ``x >= 0``; gradient from the surrogate named ``surrogate``."""
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; choices: {', '.join(SURROGATES)}")
    return _Heaviside.apply(x, surrogate, alpha)


def leak_from_shift(shift, max_shift=15):
    """Float leak ``1 - 2**-k`` with ``k = round(shift)`` in 1..max_shift, straight-through.

    The gradient flows to ``shift`` as if it were not rounded, so the leak is trainable
    while every forward pass uses a leak the integer hardware can apply exactly.
    """
    k = shift.clamp(1.0, float(max_shift))
    k = k + (torch.round(k) - k).detach()
    return 1.0 - torch.pow(2.0, -k)


class LIFParameters(NamedTuple):
    """Float-mode parameters: leak ``lambda`` (tensor), threshold, surrogate name and sharpness."""
    leak: torch.Tensor
    threshold: float = 1.0
    surrogate: str = "superspike"
    alpha: float = 5.0


class LIFState(NamedTuple):
    """Membrane after the previous step."""
    u: torch.Tensor


def lif_step(current, state, params):
    """One float LIF step: ``(spikes, new state)`` for input current ``current``."""
    v = params.leak * state.u + current
    spikes = heaviside(v - params.threshold, params.surrogate, params.alpha)
    return spikes, LIFState(v * (1.0 - spikes.detach()))


class LIF(nn.Module):
    """Float LIF over time: currents ``[T, B, ...]`` -> spikes ``[T, B, ...]``.

    Parameters
    ----------
    leak_shift : float
        Initial ``k`` of ``lambda = 1 - 2**-k``; trained unless ``train_leak`` is false.
    threshold, surrogate, alpha
        As in :class:`LIFParameters`.
    """

    def __init__(self, leak_shift=3.0, threshold=1.0, surrogate="superspike", alpha=5.0,
                 train_leak=True):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; choices: {', '.join(SURROGATES)}")
        self.leak_shift = nn.Parameter(torch.tensor(float(leak_shift)), requires_grad=train_leak)
        self.threshold, self.surrogate, self.alpha = threshold, surrogate, alpha

    @property
    def integer_leak_shift(self):
        """The ``k`` the forward pass uses (what the compiler writes as ``leak_shift``)."""
        return int(round(float(self.leak_shift.detach().clamp(1.0, 15.0))))

    def forward(self, currents):
        params = LIFParameters(leak_from_shift(self.leak_shift), self.threshold,
                               self.surrogate, self.alpha)
        state = LIFState(torch.zeros_like(currents[0]))
        spikes = []
        for current in currents:
            s, state = lif_step(current, state, params)
            spikes.append(s)
        return torch.stack(spikes)


class IntegerLIFParameters(NamedTuple):
    """Integer-mode parameters of SPEC §1."""
    threshold: int
    leak_shift: int
    v_bits: int = 16


def integer_decay(u, leak_shift):
    """``u - (u >> leak_shift)`` on int64 (floor shift), or ``u`` when ``leak_shift == 0``."""
    return u if leak_shift == 0 else u - (u >> leak_shift)


def integer_lif_step(current, state, params):
    """One integer LIF step of SPEC §1 on int64 tensors: ``(spikes uint8, new state)``."""
    v_max = 2 ** (params.v_bits - 1) - 1
    v = torch.clamp(integer_decay(state.u, params.leak_shift) + current, -v_max - 1, v_max)
    fired = v >= params.threshold
    return fired.to(torch.uint8), LIFState(torch.where(fired, torch.zeros_like(v), v))


class IntegerLIF(nn.Module):
    """Integer LIF over time: int64 currents ``[T, B, ...]`` -> uint8 spikes ``[T, B, ...]``."""

    def __init__(self, threshold, leak_shift, v_bits=16):
        super().__init__()
        self.params = IntegerLIFParameters(int(threshold), int(leak_shift), int(v_bits))

    def forward(self, currents):
        state = LIFState(torch.zeros_like(currents[0]))
        spikes = []
        for current in currents:
            s, state = integer_lif_step(current, state, self.params)
            spikes.append(s)
        return torch.stack(spikes)
