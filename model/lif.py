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

Training runs the float mode through :func:`lif_sequence`, which gives the spikes of
:func:`lif_step` looped over time bit for bit but keeps no autograd graph per step: its
forward stores the membrane ``v[t]`` and spikes, its backward runs back-propagation
through time by hand (``g`` the gradients; ``g_u`` starts at 0 after the last step)::

    g_v[t]     = g_s[t] * surrogate(v[t] - threshold) + g_u[t] * (1 - s[t])
    g_C[t]     = g_v[t]
    g_u[t - 1] = lambda * g_v[t]
    g_lambda   = sum_t g_v[t] * u[t - 1]           u[t] = v[t] * (1 - s[t]), u[-1] = 0

the gradient the per-step graph gives (the reset not differentiated through), with four
tensor operations a step forward and none of autograd's per-step bookkeeping.

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
           "lif_sequence", "LIF", "IntegerLIFParameters", "integer_decay", "integer_lif_step", "IntegerLIF"]


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


class _LIFSequence(torch.autograd.Function):
    """:func:`lif_step` over all steps with hand-written BPTT (module docstring)."""

    # Step by step in both directions: one step's tensors stay in cache, where whole
    # [T, B, ...] passes are bound by memory bandwidth.

    @staticmethod
    def forward(ctx, currents, leak, threshold, surrogate, alpha):
        decay = float(leak)                     # exactly 1 - 2**-k, a float32 number
        v = torch.empty_like(currents)
        spikes = torch.empty_like(currents)
        u = torch.zeros_like(currents[0])
        for t in range(len(currents)):
            torch.mul(u, decay, out=u)
            torch.add(u, currents[t], out=v[t])
            torch.ge(v[t], threshold, out=spikes[t])
            torch.addcmul(v[t], v[t], spikes[t], value=-1.0, out=u)    # v - v = 0 where it fired
        ctx.save_for_backward(v, spikes, leak)
        ctx.threshold, ctx.surrogate, ctx.alpha = threshold, surrogate, alpha
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        v, spikes, leak = ctx.saved_tensors
        decay, surrogate = float(leak), SURROGATES[ctx.surrogate]
        grad_v = torch.empty_like(v)
        grad_leak = torch.zeros((), dtype=torch.float64)
        for t in range(len(v) - 1, -1, -1):
            torch.mul(grad_spikes[t], surrogate(v[t] - ctx.threshold, ctx.alpha), out=grad_v[t])
            if t + 1 < len(v):
                kept = 1.0 - spikes[t]
                grad_v[t].addcmul_(grad_v[t + 1], kept, value=decay)
                if ctx.needs_input_grad[1]:
                    grad_leak += torch.vdot(grad_v[t + 1].flatten(), (v[t] * kept).flatten())
        grad_leak = grad_leak.to(leak.dtype).reshape(leak.shape) if ctx.needs_input_grad[1] else None
        return grad_v, grad_leak, None, None, None


def lif_sequence(currents, params):
    """Float LIF over time: currents ``[T, B, ...]`` -> spikes, as :func:`lif_step` looped.

    The forward values are those of the loop bit for bit; the backward is the module
    docstring's BPTT (a few times faster than autograd through the loop).
    """
    if params.surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {params.surrogate!r}; choices: {', '.join(SURROGATES)}")
    return _LIFSequence.apply(currents, params.leak, float(params.threshold), params.surrogate,
                              params.alpha)


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
        return lif_sequence(currents, params)


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
