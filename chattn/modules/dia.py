r"""DIANet's DIA unit (Huang et al., AAAI 2020, https://arxiv.org/abs/1905.10671)."""
from __future__ import annotations

import torch

from ..base import ChannelAttention
from ..excite import DIALSTMCell
from ..registry import register
from ..squeeze import global_avg_pool
from .. import _validate


@register("dia")
class DIA(ChannelAttention):
    r"""Dense-and-Implicit Attention: one LSTM cell shared by all the blocks of a stage; its hidden
    state carries what the earlier blocks saw.

    .. math::
        m_t = \mathrm{GAP}(X_t), \qquad (h_t, c_t) = \mathrm{LSTM}(m_t, (h_{t-1}, c_{t-1})), \qquad
        Y_t = h_t \cdot X_t

    :math:`h_t = \sigma(o)\sigma(c_t) \in (0, 1)` (see :class:`chattn.excite.DIALSTMCell`). A step:
    ``forward(x, state=None) -> (y, state)``; ``state=None`` starts from :math:`h_0 = c_0 = 0` on
    x's device and dtype (the official code called ``.cuda()`` here). In a ResNet, apply the same
    module to the bn3 output of every block of a stage, passing the state along.
    state_dict ``lstm.w_ih.0.seq.*``, ``lstm.w_hh.0.seq.*``: ``2.5C² + 8.5C`` parameters.

    Args:
        channels: C.
        reduction: bottleneck of the cell's small FCs, 4.

    Shape: ``x (B, C, H, W)``, ``state`` ``((B, C), (B, C))`` -> ``(B, C, H, W)``, state.

    Example::

        >>> dia = DIA(64)
        >>> y, state = dia(torch.randn(2, 64, 8, 8))
        >>> y, state = dia(torch.randn(2, 64, 8, 8), state)
        >>> state[0].shape
        torch.Size([2, 64])
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.channels = _validate.positive_int(channels, "channels")
        self.lstm = DIALSTMCell(channels, channels, reduction)

    def step(self, x: torch.Tensor, state=None):
        """One LSTM step: ``(h, c)`` after seeing ``x``."""
        self.check(x)
        m = global_avg_pool(x)                                        # (B, C)
        if state is None:
            zeros = m.new_zeros(m.shape)
            state = (zeros, zeros)
        else:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError("state must be a pair (h, c) of (B, C) tensors, or None")
            if any(tuple(s.shape) != tuple(m.shape) for s in state):
                raise ValueError(f"state tensors must have shape {tuple(m.shape)}, "
                                 f"got {[tuple(s.shape) for s in state]}")
        return self.lstm(m, tuple(state))

    def attention(self, x: torch.Tensor, state=None) -> torch.Tensor:
        h, _ = self.step(x, state)
        return h[:, :, None, None]                                    # (B, C, 1, 1)

    def forward(self, x: torch.Tensor, state=None):
        h, c = self.step(x, state)
        return x * self.gate(h[:, :, None, None]), (h, c)
