"""SpikeX-HAS (paper §IV-B): search each layer's time-window size with the network weights.

The discrete choice of TWS per layer is relaxed as in DARTS (Liu et al., ref. [13]): layer
``k`` keeps logits ``alpha_k`` over its candidate TWS (divisors of T) and the hardware loss
is the mixture ``sum_tws softmax(alpha_k)[tws] * EDP_k,tws(d_k(tws))`` (see
:mod:`model.hwloss`). The bilevel problem of eq. (5)-(6) is solved by alternating, first
order: one step on the weights ``W`` with ``L_tot`` on a training batch, one step on
``alpha`` with ``L_tot`` on a held-out batch of the *training* set (the validation split;
never Test/). ``L_acc`` does not depend on ``alpha``, so the alpha step follows
``beta * dL_HW/dalpha``. The final TWS of each layer is ``argmax alpha_k``.
"""

import torch
from torch import nn


__all__ = ["TwsSearch", "fixed_tws_weights"]


class TwsSearch(nn.Module):
    """Architecture logits over per-layer TWS choices.

    Parameters
    ----------
    tws_choices : list of list of int
        Candidate TWS per layer.
    """

    def __init__(self, tws_choices):
        super().__init__()
        self.tws_choices = [list(choices) for choices in tws_choices]
        self.alpha = nn.ParameterList(nn.Parameter(torch.zeros(len(choices)))
                                      for choices in self.tws_choices)

    def weights(self):
        """Selection probabilities ``softmax(alpha_k)`` per layer."""
        return [torch.softmax(a, dim=0) for a in self.alpha]

    def chosen(self):
        """The TWS of highest probability per layer (ties: the smaller TWS)."""
        return [choices[int(torch.argmax(a.detach()))]
                for choices, a in zip(self.tws_choices, self.alpha)]


def fixed_tws_weights(tws_choices, tws):
    """One-hot weights selecting ``tws[k]`` among ``tws_choices[k]`` (SpikeX-HT without HAS)."""
    weights = []
    for k, (choices, t) in enumerate(zip(tws_choices, tws)):
        if t not in choices:
            raise ValueError(f"layer {k}: tws {t} is not among the choices {choices}")
        weights.append(torch.tensor([1.0 if c == t else 0.0 for c in choices]))
    return weights
