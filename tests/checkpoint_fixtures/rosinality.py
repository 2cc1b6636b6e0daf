"""rosinality/stylegan2-pytorch checkpoints for tests, written without rosinality's code.

``state_dict`` returns the exact key names and shapes of rosinality's ``Generator(size, style_dim,
n_mlp).state_dict()`` (model.py), with a small channel schedule instead of its 512-wide one and
random values everywhere (noise strengths and biases nonzero, as in a trained network).
``reference_forward`` is rosinality's forward pass re-derived from model.py / op/*.py in float64:
the independent oracle the loader is checked against.
"""
from __future__ import annotations

import argparse
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F

LR_MLP = 0.01
BLUR = [1, 3, 3, 1]


def small_channels(size, channel_base=256, channel_max=16) -> dict:
    """{res: channels} following min(channel_base // res, channel_max), e.g. 4..16: 16, 32: 8, 64: 4."""
    return {2 ** i: min(channel_base // 2 ** i, channel_max) for i in range(2, int(math.log2(size)) + 1)}


def make_kernel(k, dtype=torch.float32):
    k = torch.tensor(k, dtype=dtype)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def _signed(shape, gen, lo=0.1, hi=0.5):
    mag = lo + (hi - lo) * torch.rand(shape, generator=gen)
    return torch.where(torch.rand(shape, generator=gen) < 0.5, -mag, mag)


def state_dict(size=32, style_dim=32, n_mlp=2, channels=None, img_channels=3, seed=0) -> OrderedDict:
    """A rosinality g_ema state dict (same keys, order and shapes as model.Generator's)."""
    ch = channels or small_channels(size)
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()

    def randn(*shape):
        return torch.randn(shape, generator=gen)

    for i in range(1, n_mlp + 1):  # style.0 is PixelNorm
        sd[f"style.{i}.weight"] = randn(style_dim, style_dim) / LR_MLP
        sd[f"style.{i}.bias"] = randn(style_dim) * 0.1 / LR_MLP  # used as bias * lr_mul

    def styled(prefix, cin, cout, upsample):
        sd[f"{prefix}.conv.weight"] = randn(1, cout, cin, 3, 3)
        if upsample:
            sd[f"{prefix}.conv.blur.kernel"] = make_kernel(BLUR) * 4
        sd[f"{prefix}.conv.modulation.weight"] = randn(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + 0.2 * randn(cin)
        sd[f"{prefix}.noise.weight"] = _signed([1], gen)
        sd[f"{prefix}.activate.bias"] = _signed([cout], gen)

    def torgb(prefix, cin, upsample):
        sd[f"{prefix}.bias"] = _signed([1, img_channels, 1, 1], gen)
        if upsample:
            sd[f"{prefix}.upsample.kernel"] = make_kernel(BLUR) * 4
        sd[f"{prefix}.conv.weight"] = randn(1, img_channels, cin, 1, 1)
        sd[f"{prefix}.conv.modulation.weight"] = randn(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + 0.2 * randn(cin)

    sd["input.input"] = randn(1, ch[4], 4, 4)
    styled("conv1", ch[4], ch[4], False)
    torgb("to_rgb1", ch[4], False)
    log_size = int(math.log2(size))
    in_ch = ch[4]
    for i in range(3, log_size + 1):
        k, out_ch = i - 3, ch[2 ** i]
        styled(f"convs.{2 * k}", in_ch, out_ch, True)
        styled(f"convs.{2 * k + 1}", out_ch, out_ch, False)
        in_ch = out_ch
    for i in range(3, log_size + 1):
        torgb(f"to_rgbs.{i - 3}", ch[2 ** i], True)
    for j in range((log_size - 2) * 2 + 1):
        r = 2 ** ((j + 5) // 2)
        sd[f"noises.noise_{j}"] = randn(1, 1, r, r)
    # rosinality registers convs before to_rgbs before noises; reorder like module registration order
    order = [k for k in sd if k.startswith("style.")] + ["input.input"]
    order += [k for k in sd if k.startswith(("conv1.", "to_rgb1."))]
    order += [k for k in sd if k.startswith("convs.")] + [k for k in sd if k.startswith("to_rgbs.")]
    order += [k for k in sd if k.startswith("noises.")]
    return OrderedDict((k, sd[k]) for k in order)


def train_args(size, style_dim, n_mlp, channel_multiplier=2):
    """An argparse.Namespace like train.py's (after it sets latent and n_mlp)."""
    return argparse.Namespace(
        path="/data/ffhq_lmdb", arch="stylegan2", iter=800000, batch=16, n_sample=64, size=size, r1=10.0,
        path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9, ckpt=None,
        lr=0.002, channel_multiplier=channel_multiplier, wandb=False, local_rank=0, augment=False,
        augment_p=0.0, ada_target=0.6, ada_length=500000, ada_every=256, distributed=False,
        latent=style_dim, n_mlp=n_mlp, start_iter=0)


def checkpoint(size=32, style_dim=32, n_mlp=2, channels=None, seed=0, latent_avg=True, training=False,
               channel_multiplier=2) -> dict:
    """{'g_ema', 'latent_avg'} as convert_weight.py writes; training=True: train.py's full dict."""
    g_ema = state_dict(size, style_dim, n_mlp, channels, seed=seed)
    ckpt = {"g_ema": g_ema}
    if latent_avg:
        ckpt["latent_avg"] = torch.randn([style_dim], generator=torch.Generator().manual_seed(seed + 7))
    if training:
        g = state_dict(size, style_dim, n_mlp, channels, seed=seed + 100)
        d = OrderedDict([("convs.0.0.weight", torch.randn(8, 3, 1, 1)), ("convs.0.1.bias", torch.zeros(8)),
                         ("final_linear.1.weight", torch.randn(1, 8)), ("final_linear.1.bias", torch.zeros(1))])
        optim = {"state": {i: {"step": torch.tensor(1000.0), "exp_avg": torch.randn(4), "exp_avg_sq": torch.rand(4)}
                           for i in range(2)},
                 "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "eps": 1e-8, "weight_decay": 0,
                                   "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                                   "differentiable": False, "fused": None, "params": [0, 1]}]}  # Adam's layout
        ckpt = {"g": g, "d": d, "g_ema": g_ema, "g_optim": optim, "d_optim": optim,
                "args": train_args(size, style_dim, n_mlp, channel_multiplier), "ada_aug_p": 0.0}
        if latent_avg:  # train.py itself does not store latent_avg; some forks do
            ckpt["latent_avg"] = torch.randn([style_dim], generator=torch.Generator().manual_seed(seed + 7))
    return ckpt


def write(path, **kwargs) -> dict:
    """torch.save a checkpoint (as rosinality does) and return it."""
    ckpt = checkpoint(**kwargs)
    torch.save(ckpt, str(path))
    return ckpt


# ---------------------------------------------------------------------------------------------
# rosinality's forward pass in float64 (model.py: Generator.forward with randomize_noise=False)

def upfirdn2d(x, kernel, up=1, pad=(0, 0)):
    """op/upfirdn2d.py upfirdn2d_native for up in x and y, down 1: zero-stuff, pad, true convolution."""
    n, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros([n, c, h * up, w * up])
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = torch.flip(kernel, [0, 1]).to(x)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def equal_linear(x, weight, bias, lr_mul=1.0, fused_lrelu=False):
    scale = lr_mul / math.sqrt(weight.shape[1])
    if fused_lrelu:
        return F.leaky_relu(F.linear(x, weight * scale) + bias * lr_mul, 0.2) * math.sqrt(2)
    return F.linear(x, weight * scale, bias * lr_mul)


def modulated_conv2d(sd, prefix, x, style, demodulate=True, upsample=False):
    """ModulatedConv2d.forward, fused=True path (per-sample weights, grouped conv)."""
    batch, in_ch, h, w = x.shape
    weight = sd[f"{prefix}.weight"]  # [1, O, I, k, k]
    _, out_ch, _, ks, _ = weight.shape
    scale = 1 / math.sqrt(in_ch * ks * ks)
    s = equal_linear(style, sd[f"{prefix}.modulation.weight"], sd[f"{prefix}.modulation.bias"])
    weight = scale * weight * s.view(batch, 1, in_ch, 1, 1)
    if demodulate:
        demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
        weight = weight * demod.view(batch, out_ch, 1, 1, 1)
    if upsample:
        weight = weight.transpose(1, 2).reshape(batch * in_ch, out_ch, ks, ks)
        out = F.conv_transpose2d(x.reshape(1, batch * in_ch, h, w), weight, padding=0, stride=2, groups=batch)
        out = out.view(batch, out_ch, out.shape[2], out.shape[3])
        # Blur: p = (4 - 2) - (3 - 1) = 0 -> pad (0 + 1, 0 + 1); kernel * factor^2
        return upfirdn2d(out, make_kernel(BLUR, torch.float64) * 4, pad=(1, 1))
    weight = weight.reshape(batch * out_ch, in_ch, ks, ks)
    out = F.conv2d(x.reshape(1, batch * in_ch, h, w), weight, padding=ks // 2, groups=batch)
    return out.view(batch, out_ch, h, w)


def styled_conv(sd, prefix, x, style, noise, upsample=False):
    out = modulated_conv2d(sd, f"{prefix}.conv", x, style, upsample=upsample)
    out = out + sd[f"{prefix}.noise.weight"] * noise  # NoiseInjection
    bias = sd[f"{prefix}.activate.bias"]  # FusedLeakyReLU: bias, lrelu 0.2, * sqrt(2)
    return F.leaky_relu(out + bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)


def to_rgb(sd, prefix, x, style, skip=None):
    out = modulated_conv2d(sd, f"{prefix}.conv", x, style, demodulate=False) + sd[f"{prefix}.bias"]
    if skip is not None:  # Upsample: p = 4 - 2 = 2 -> pad ((2 + 1) // 2 + 1, 2 // 2) = (2, 1)
        out = out + upfirdn2d(skip, make_kernel(BLUR, torch.float64) * 4, up=2, pad=(2, 1))
    return out


def reference_forward(g_ema: dict, latent_avg, z, truncation_psi=1.0, truncation_cutoff=None):
    """Images for z [N, style_dim] in float64, noise = the stored noises (randomize_noise=False).

    Truncation as rosinality (avg + psi * (w - avg)), applied to the first ``truncation_cutoff`` ws.
    """
    sd = {k: v.to(torch.float64) for k, v in g_ema.items()}
    x = z.to(torch.float64)
    x = x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)  # PixelNorm
    n_mlp = len([k for k in sd if k.startswith("style.") and k.endswith(".weight")])
    for i in range(1, n_mlp + 1):
        x = equal_linear(x, sd[f"style.{i}.weight"], sd[f"style.{i}.bias"], LR_MLP, fused_lrelu=True)
    num_blocks = len([k for k in sd if k.startswith("to_rgbs.") and k.endswith(".conv.weight")])
    n_latent = 2 * (num_blocks + 2) - 2
    latent = x.unsqueeze(1).repeat(1, n_latent, 1)
    if truncation_psi != 1:
        avg = latent_avg.to(torch.float64)
        cut = n_latent if truncation_cutoff is None else truncation_cutoff
        latent[:, :cut] = avg + truncation_psi * (latent[:, :cut] - avg)
    noise = [sd[f"noises.noise_{j}"] for j in range(2 * num_blocks + 1)]

    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = styled_conv(sd, "conv1", out, latent[:, 0], noise[0])
    skip = to_rgb(sd, "to_rgb1", out, latent[:, 1])
    i = 1
    for k in range(num_blocks):
        out = styled_conv(sd, f"convs.{2 * k}", out, latent[:, i], noise[2 * k + 1], upsample=True)
        out = styled_conv(sd, f"convs.{2 * k + 1}", out, latent[:, i + 1], noise[2 * k + 2])
        skip = to_rgb(sd, f"to_rgbs.{k}", out, latent[:, i + 2], skip)
        i += 2
    return skip
