r"""Independent reference transcriptions of the eleven official forward passes.

Written from the official repositories (their forward passes and parameter names), in
plain torch, with the official attribute names so that a state_dict of one of these loads into the
chattn module with ``strict=True``. Each class does the computation the straightforward, official
way (an explicit M x M centering matrix, a B x N x K x D residual tensor, a ``torch.diagonal`` loop,
the MPN-COV Newton–Schulz loop with its explicit first step...), so that the chattn versions,
which take shortcuts, are checked against something that does not share their code.

Only the attention part of each module is transcribed: where the official code fuses the residual
add into the same block (GSoP's Bottleneck, DIANet's ``Attention``), the reference stops at the
product ``X * attention``, which is what a chattn module returns.

=============  ================================================================  ====================
reference      official source                                                    chattn
=============  ================================================================  ====================
SELayer        senet.pytorch ``SELayer`` (bias=False) / Caffe SE (bias=True)     ``SE``
EncModule      PyTorch-Encoding ``encnet.EncModule`` + ``nn.Encoding``, ``Mean``  ``EncModule``
GSoPBlock      GSoP ``resnet.Bottleneck.chan_att`` (attention='1') + MPNCOV        ``GSoP``
MultiSpectral  FcaNet ``MultiSpectralAttentionLayer`` / ``MultiSpectralDCTLayer``   ``FcaNet``
AttentionLayer
BilinearAtt.   Attention-in-Attention ``incep_g_mbi.BilinearAttention``           ``BilinearAttention``
eca_layer      ECANet ``eca_module.eca_layer``                                     ``ECA``
CALayer        RCAN ``rcan.CALayer``                                               ``CALayer``
LSTMCell       DIANet ``dia_resnet.LSTMCell`` / ``small_cell`` / ``Attention``       ``DIA``
SRMLayer       SRM ``recalibration_modules.SRMLayer`` (after commit f6221c7)       ``SRM``
GCT            GCT ``PyTorch/GCT.py``                                              ``GCT``
SOCA           SAN ``san.SOCA`` + MPNCOV ``Covpool`` / ``Sqrtm``                   ``SOCA``
=============  ================================================================  ====================
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


# --- SE ------------------------------------------------------------------------------------------

class SELayer(nn.Module):
    """SE. ``bias=False``: senet.pytorch (``fc.0.weight``, ``fc.2.weight``); ``bias=True``: the
    Caffe prototxt (1x1 convs with bias, here as Linear layers with bias)."""

    def __init__(self, channel, reduction=16, bias=False):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


# --- EncNet --------------------------------------------------------------------------------------

class Encoding(nn.Module):
    """The Encoding layer, computed the naive way: the full (B, N, K, D) residual tensor."""

    def __init__(self, D, K):
        super().__init__()
        self.D, self.K = D, K
        self.codewords = nn.Parameter(torch.empty(K, D))
        self.scale = nn.Parameter(torch.empty(K))
        std1 = 1.0 / math.sqrt(K * D)
        with torch.no_grad():
            self.codewords.uniform_(-std1, std1)
            self.scale.uniform_(-1, 0)

    def forward(self, X):
        B, D = X.shape[:2]
        X = X.view(B, D, -1).transpose(1, 2)                     # B x N x D
        R = X[:, :, None, :] - self.codewords[None, None, :, :]  # B x N x K x D   r_ik = x_i - d_k
        SL = self.scale[None, None, :] * R.pow(2).sum(dim=3)     # B x N x K       scaled_l2 (+s_k)
        A = F.softmax(SL, dim=2)                                 # softmax over the K codewords
        E = (A[:, :, :, None] * R).sum(dim=1)                    # B x K x D       aggregate
        return E


class Mean(nn.Module):
    def __init__(self, dim, keep_dim=False):
        super().__init__()
        self.dim, self.keep_dim = dim, keep_dim

    def forward(self, input):
        return input.mean(self.dim, self.keep_dim)


class EncModule(nn.Module):
    """``EncModule(in_channels, nclass, ncodes, se_loss, norm_layer)`` with BatchNorm2d for the D
    channels and BatchNorm1d for the K codewords. Returns a tuple, as the official module."""

    def __init__(self, in_channels, nclass, ncodes=32, se_loss=True):
        super().__init__()
        self.se_loss = se_loss
        self.encoding = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            Encoding(D=in_channels, K=ncodes),
            nn.BatchNorm1d(ncodes),
            nn.ReLU(inplace=True),
            Mean(dim=1))
        self.fc = nn.Sequential(nn.Linear(in_channels, in_channels), nn.Sigmoid())
        if self.se_loss:
            self.selayer = nn.Linear(in_channels, nclass)

    def forward(self, x):
        en = self.encoding(x)
        b, c = x.shape[:2]
        y = self.fc(en).view(b, c, 1, 1)
        outputs = [F.relu(x + x * y)]
        if self.se_loss:
            outputs.append(self.selayer(en))
        return tuple(outputs)


# --- MPN-COV (GSoP, SAN) ---------------------------------------------------------------------------

def covpool(x):
    """MPN-COV ``Covpool`` forward: (1/M) X I_hat X^T with the explicit M x M centering matrix
    I_hat = (1/M) I - (1/M^2) 1 1^T."""
    B, dim, h, w = x.shape
    M = h * w
    x = x.reshape(B, dim, M)
    I_hat = (-1.0 / M / M) * torch.ones(M, M, dtype=x.dtype) + (1.0 / M) * torch.eye(M, dtype=x.dtype)
    I_hat = I_hat.view(1, M, M).repeat(B, 1, 1)
    return x.bmm(I_hat).bmm(x.transpose(1, 2))


def sqrtm(x, iterN):
    """MPN-COV ``Sqrtm`` forward for iterN >= 2: pre-normalise by the trace, the explicit first
    Newton–Schulz step, iterN - 2 more coupled steps, the last half step, post-compensate."""
    if iterN < 2:
        raise ValueError("the official Sqrtm returns the Z iterate for iterN < 2; not transcribed")
    B, dim = x.shape[:2]
    I3 = 3.0 * torch.eye(dim, dtype=x.dtype).view(1, dim, dim).repeat(B, 1, 1)
    normA = (1.0 / 3.0) * x.mul(I3).sum(dim=1).sum(dim=1)     # the trace
    A = x.div(normA.view(B, 1, 1))
    Y = [None] * iterN
    Z = [None] * iterN
    ZY = 0.5 * (I3 - A)
    Y[0] = A.bmm(ZY)
    Z[0] = ZY
    for i in range(1, iterN - 1):
        ZY = 0.5 * (I3 - Z[i - 1].bmm(Y[i - 1]))
        Y[i] = Y[i - 1].bmm(ZY)
        Z[i] = ZY.bmm(Z[i - 1])
    YZY = 0.5 * Y[iterN - 2].bmm(I3 - Z[iterN - 2].bmm(Y[iterN - 2]))
    return YZY * torch.sqrt(normA).view(B, 1, 1)


# --- GSoP ------------------------------------------------------------------------------------------

class GSoPBlock(nn.Module):
    """The channel attention of GSoP's Bottleneck (attention='1'), flat attributes as there.
    ``forward(x) = x * chan_att(x)`` (the Bottleneck then adds the shortcut and applies a ReLU)."""

    def __init__(self, channels, att_dim=128, stride=1):
        super().__init__()
        self.relu_normal = nn.ReLU(inplace=False)
        self.relu = nn.ReLU(inplace=True)
        self.ch_dim = att_dim
        self.conv_for_DR = nn.Conv2d(channels, self.ch_dim, kernel_size=1, stride=stride, bias=True)
        self.bn_for_DR = nn.BatchNorm2d(self.ch_dim)
        self.row_bn = nn.BatchNorm2d(self.ch_dim)
        # row-wise conv: each row of the d x d covariance -> 4 numbers
        self.row_conv_group = nn.Conv2d(self.ch_dim, 4 * self.ch_dim, kernel_size=(self.ch_dim, 1),
                                        groups=self.ch_dim, bias=True)
        self.fc_adapt_channels = nn.Conv2d(4 * self.ch_dim, channels, kernel_size=1, groups=1, bias=True)
        self.sigmoid = nn.Sigmoid()

    def chan_att(self, out):
        out = self.relu_normal(out)
        out = self.conv_for_DR(out)
        out = self.bn_for_DR(out)
        out = self.relu(out)
        out = covpool(out)                                                    # B x d x d
        out = out.view(out.size(0), out.size(1), out.size(2), 1).contiguous()
        out = self.row_bn(out)
        out = self.row_conv_group(out)                                        # B x 4d x 1 x 1
        out = self.fc_adapt_channels(out)                                     # B x C x 1 x 1
        return self.sigmoid(out)

    def forward(self, x):
        return x * self.chan_att(x)


# --- FcaNet ----------------------------------------------------------------------------------------

FREQ_TOP_X = [0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1]
FREQ_TOP_Y = [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3]
FREQ_LOW_X = [0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
FREQ_LOW_Y = [0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3]
FREQ_BOT_X = [6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6]
FREQ_BOT_Y = [6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3]


def get_freq_indices(method):
    n = int(method[3:])
    tables = {"top": (FREQ_TOP_X, FREQ_TOP_Y), "low": (FREQ_LOW_X, FREQ_LOW_Y),
              "bot": (FREQ_BOT_X, FREQ_BOT_Y)}
    xs, ys = tables[method[:3]]
    return xs[:n], ys[:n]


class MultiSpectralDCTLayer(nn.Module):
    """Fixed DCT filters, a persistent buffer ``weight`` (C x H x W), filled element by element."""

    def __init__(self, height, width, mapper_x, mapper_y, channel):
        super().__init__()
        assert len(mapper_x) == len(mapper_y) and channel % len(mapper_x) == 0
        self.num_freq = len(mapper_x)
        self.register_buffer("weight", self.get_dct_filter(height, width, mapper_x, mapper_y, channel))

    @staticmethod
    def build_filter(pos, freq, POS):
        result = math.cos(math.pi * freq * (pos + 0.5) / POS) / math.sqrt(POS)
        return result if freq == 0 else result * math.sqrt(2)

    def get_dct_filter(self, tile_x, tile_y, mapper_x, mapper_y, channel):
        dct_filter = torch.zeros(channel, tile_x, tile_y)
        c_part = channel // len(mapper_x)
        for i, (u_x, v_y) in enumerate(zip(mapper_x, mapper_y)):
            for t_x in range(tile_x):
                for t_y in range(tile_y):
                    dct_filter[i * c_part:(i + 1) * c_part, t_x, t_y] = (
                        self.build_filter(t_x, u_x, tile_x) * self.build_filter(t_y, v_y, tile_y))
        return dct_filter

    def forward(self, x):
        return torch.sum(x * self.weight, dim=[2, 3])


class MultiSpectralAttentionLayer(nn.Module):
    def __init__(self, channel, dct_h, dct_w, reduction=16, freq_sel_method="top16"):
        super().__init__()
        self.reduction, self.dct_h, self.dct_w = reduction, dct_h, dct_w
        mapper_x, mapper_y = get_freq_indices(freq_sel_method)
        self.num_split = len(mapper_x)
        mapper_x = [u * (dct_h // 7) for u in mapper_x]     # frequencies on the 7x7 grid
        mapper_y = [v * (dct_w // 7) for v in mapper_y]
        self.dct_layer = MultiSpectralDCTLayer(dct_h, dct_w, mapper_x, mapper_y, channel)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid())

    def forward(self, x):
        n, c, h, w = x.shape
        x_pooled = x
        if h != self.dct_h or w != self.dct_w:
            x_pooled = F.adaptive_avg_pool2d(x, (self.dct_h, self.dct_w))
        y = self.dct_layer(x_pooled)
        y = self.fc(y).view(n, c, 1, 1)
        return x * y.expand_as(x)


# --- bilinear attention (BAT-net) --------------------------------------------------------------------

class ConvBlock(nn.Module):
    def __init__(self, in_c, out_c, k, s=1, p=0):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, k, stride=s, padding=p)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class _dim_change(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.add_module("conv", ConvBlock(in_channels, out_channels, k=1, s=1))


class BilinearAttention(nn.Module):
    """Bi-attention, '#No Res setting': sigmoid(inner * outer) * x."""

    def __init__(self, inChannels, outChannels):
        super().__init__()
        mid = inChannels // 16
        self.dimReduceLayer1 = _dim_change(inChannels, mid)
        self.dimReduceLayer2 = _dim_change(mid * (mid + 1) // 2, outChannels)
        self.dimReduceLayer3 = _dim_change(mid * (mid + 1) // 2, outChannels)

    def forward(self, x):
        input_x = x
        x = self.dimReduceLayer1(x)
        batches, channels, rows, cols = x.shape
        x = x.permute(0, 2, 3, 1).contiguous().view(-1, channels)           # (B H W) x c
        x = torch.bmm(x.unsqueeze(2), x.unsqueeze(1))                       # (B H W) x c x c
        x_list = [torch.diagonal(x, offset=-i, dim1=1, dim2=2) for i in range(channels)]
        x = torch.cat(x_list, dim=1)                                        # (B H W) x c2
        x = x.view(batches, rows, cols, -1).permute(0, 3, 1, 2).contiguous()  # B x c2 x H x W
        mCha = self.dimReduceLayer3(F.avg_pool2d(x, x.shape[2:]))           # inner (channel) attention
        output = self.dimReduceLayer2(x)                                    # outer attention map
        output = mCha * output
        return torch.sigmoid(output) * input_x


# --- ECA -------------------------------------------------------------------------------------------

class eca_layer(nn.Module):
    def __init__(self, channel, k_size=3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)                                                  # B x C x 1 x 1
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y).expand_as(x)


# --- RCAN CA ---------------------------------------------------------------------------------------

class CALayer(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(self.avg_pool(x))


# --- DIANet ----------------------------------------------------------------------------------------

class small_cell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(input_size, input_size // 4), nn.ReLU(inplace=True),
                                 nn.Linear(input_size // 4, 4 * hidden_size))

    def forward(self, x):
        return self.seq(x)


class LSTMCell(nn.Module):
    """DIANet's modified LSTM cell; hidden state stacked per layer (nlayers x B x H)."""

    def __init__(self, input_size, hidden_size, nlayers, dropout=0.1):
        super().__init__()
        self.nlayers = nlayers
        self.dropout = nn.Dropout(p=dropout)
        ih, hh = [], []
        for i in range(nlayers):
            if i == 0:
                ih.append(small_cell(input_size, hidden_size))
                hh.append(small_cell(hidden_size, hidden_size))
            else:
                ih.append(nn.Linear(hidden_size, 4 * hidden_size))
                hh.append(nn.Linear(hidden_size, 4 * hidden_size))
        self.w_ih = nn.ModuleList(ih)
        self.w_hh = nn.ModuleList(hh)

    def forward(self, input, hidden):
        hy, cy = [], []
        for i in range(self.nlayers):
            hx, cx = hidden[0][i], hidden[1][i]
            gates = self.w_ih[i](input) + self.w_hh[i](hx)
            i_gate, f_gate, c_gate, o_gate = gates.chunk(4, 1)
            ncx = torch.sigmoid(f_gate) * cx + torch.sigmoid(i_gate) * torch.tanh(c_gate)
            nhx = torch.sigmoid(o_gate) * torch.sigmoid(ncx)     # sigmoid(c), not tanh(c)
            cy.append(ncx)
            hy.append(nhx)
            input = self.dropout(nhx)
        return torch.stack(hy, 0), torch.stack(cy, 0)


class DIAttention(nn.Module):
    """The attention part of DIANet's ``Attention`` wrapper: one ``lstm`` shared by a stage.
    ``forward(xs)`` takes the bn3 outputs of the stage's blocks and returns ``x_t * h_t`` for each
    (the official code then adds the shortcut and applies a ReLU). h0 = c0 = 0, on the CPU."""

    def __init__(self, channels):
        super().__init__()
        self.lstm = LSTMCell(channels, channels, 1)
        self.GlobalAvg = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, xs):
        outs = []
        for idx, x in enumerate(xs):
            seq = self.GlobalAvg(x)
            seq = seq.view(seq.size(0), seq.size(1))
            if idx == 0:
                ht = torch.zeros(1, seq.size(0), seq.size(1), dtype=x.dtype)
                ct = torch.zeros(1, seq.size(0), seq.size(1), dtype=x.dtype)
            ht, ct = self.lstm(seq, (ht, ct))
            outs.append(x * ht[-1].view(ht.size(1), ht.size(2), 1, 1))
        return outs


# --- SRM -------------------------------------------------------------------------------------------

class SRMLayer(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.cfc = nn.Parameter(torch.zeros(channel, 2))
        self.bn = nn.BatchNorm2d(channel)
        self.activation = nn.Sigmoid()

    def _style_pooling(self, x, eps=1e-5):
        N, C = x.shape[:2]
        channel_mean = x.view(N, C, -1).mean(dim=2).view(N, C, -1)
        channel_var = x.view(N, C, -1).var(dim=2).view(N, C, -1) + eps   # unbiased (N - 1)
        channel_std = channel_var.sqrt()
        return torch.cat((channel_mean, channel_std), dim=2)               # B x C x 2

    def _style_integration(self, t):
        z = t * self.cfc[None, :, :]
        z = torch.sum(z, dim=2)[:, :, None, None]
        return self.activation(self.bn(z))

    def forward(self, x):
        return x * self._style_integration(self._style_pooling(x))


# --- GCT -------------------------------------------------------------------------------------------

class GCT(nn.Module):
    def __init__(self, num_channels, epsilon=1e-5, mode="l2", after_relu=False):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, num_channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.epsilon, self.mode, self.after_relu = epsilon, mode, after_relu

    def forward(self, x):
        if self.mode == "l2":
            embedding = (x.pow(2).sum((2, 3), keepdim=True) + self.epsilon).pow(0.5) * self.alpha
            norm = self.gamma / (embedding.pow(2).mean(dim=1, keepdim=True) + self.epsilon).pow(0.5)
        elif self.mode == "l1":
            _x = x if self.after_relu else torch.abs(x)
            embedding = _x.sum((2, 3), keepdim=True) * self.alpha
            norm = self.gamma / (torch.abs(embedding).mean(dim=1, keepdim=True) + self.epsilon)
        else:
            raise ValueError(self.mode)
        gate = 1.0 + torch.tanh(embedding * norm + self.beta)
        return x * gate


# --- SoCA (SAN) --------------------------------------------------------------------------------------

class SOCA(nn.Module):
    def __init__(self, channel, reduction=8, iterN=5):
        super().__init__()
        self.iterN = iterN
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid())

    def forward(self, x):
        batch_size, C, h, w = x.shape
        h1, w1 = 1000, 1000
        if h < h1 and w < w1:
            x_sub = x
        elif h < h1 and w > w1:
            W = (w - w1) // 2
            x_sub = x[:, :, :, W:(W + w1)]
        elif w < w1 and h > h1:
            H = (h - h1) // 2
            x_sub = x[:, :, H:H + h1, :]
        else:
            H = (h - h1) // 2
            W = (w - w1) // 2
            x_sub = x[:, :, H:(H + h1), W:(W + w1)]
        cov_mat = covpool(x_sub)
        cov_mat_sqrt = sqrtm(cov_mat, self.iterN)
        cov_mat_sum = torch.mean(cov_mat_sqrt, 1)                 # B x C (mean over rows)
        cov_mat_sum = cov_mat_sum.view(batch_size, C, 1, 1)
        y_cov = self.conv_du(cov_mat_sum)
        return y_cov * x
