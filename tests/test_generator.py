"""Generator end to end: shapes, independent float64 derivations of both synthesis networks,
noise handling, batching, determinism, low precision and config validation."""
import math

import pytest
import torch
import torch.nn.functional as F

import stylegan_fast as sf
from stylegan_fast import ops
from tests.tolerances import TOLERANCES, WINOGRAD_FP32, assert_close

RESOLUTIONS = [8, 16, 32, 64, 128, 256, 512, 1024]


# ----------------------------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("res", RESOLUTIONS)
def test_shapes_every_resolution(arch, res):
    G = sf.Generator.from_config(arch=arch, resolution=res, z_dim=16, w_dim=16, mapping_layers=2,
                                 channel_base=res * 4, channel_max=8).eval()
    n = 2 if res <= 256 else 1  # keep the big ones cheap
    z = torch.randn(n, 16)
    assert G.num_ws == 2 * int(math.log2(res)) - 2
    assert G.img_resolution == res and G.img_channels == 3 and G.z_dim == 16 and G.w_dim == 16
    with torch.no_grad():
        ws = G.mapping(z)
        assert ws.shape == (n, G.num_ws, 16)
        img = G.synthesis(ws, noise_mode="none" if res >= 512 else "const")
    assert img.shape == (n, 3, res, res) and img.dtype == torch.float32
    assert torch.isfinite(img).all()
    if res <= 256:
        with torch.no_grad():
            assert torch.equal(G(z), G.synthesis(ws))


@pytest.mark.parametrize("img_channels", [1, 4])
def test_img_channels(make_generator, arch, img_channels):
    G = make_generator(arch, 16, img_channels=img_channels)
    img = G(torch.randn(2, G.z_dim))
    assert img.shape == (2, img_channels, 16, 16)
    assert img.std() > 0


def test_class_conditional(make_generator):
    G = make_generator("stylegan2", 16, c_dim=3)
    z = torch.randn(3, G.z_dim)
    c = F.one_hot(torch.arange(3), 3).float()
    img = G(z, c)
    assert img.shape == (3, 3, 16, 16)
    other = G(z, c.roll(1, dims=0))
    assert (img - other).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # the class changes every image
    with pytest.raises(ValueError, match=r"class-conditional: c must have shape \[3, 3\].*got None"):
        G(z)
    with pytest.raises(ValueError, match=r"c must have shape \[3, 3\].*got \[3, 2\]"):
        G(z, c[:, :2])


def test_ws_shape_errors(g16):
    G = g16
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 6, 32\]"):
        G.synthesis(torch.randn(1, G.num_ws + 1, G.w_dim))
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.randn(1, G.w_dim))


# ----------------------------------------------------------------------------------------------
# Independent float64 derivations
# ----------------------------------------------------------------------------------------------

def _p(G):
    return {k: v.detach().double() for k, v in G.state_dict().items()}


def _lrelu(x, alpha=0.2):
    return torch.where(x >= 0, x, alpha * x)


def _affine(p, prefix, w, gain=1.0):
    """Equalized-lr dense layer, lr multiplier 1: w @ (A / sqrt(in)).T + b."""
    A, b = p[prefix + ".weight"], p[prefix + ".bias"]
    return (w @ (A / math.sqrt(A.shape[1])).T + b) * gain


def _fir(x, f, gain):
    """Valid true 2-D convolution of every channel with filter f, by an explicit loop over taps."""
    kh, kw = f.shape
    ho, wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = torch.zeros(x.shape[0], x.shape[1], ho, wo, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += f[kh - 1 - i, kw - 1 - j] * x[:, :, i:i + ho, j:j + wo]
    return out * gain


def _zero_insert(x):
    n, c, h, w = x.shape
    u = torch.zeros(n, c, 2 * h, 2 * w, dtype=x.dtype)
    u[:, :, ::2, ::2] = x
    return u


def _pad(x, before, after):
    return F.pad(x, [before, after, before, after])


FIR_1331 = torch.outer(torch.tensor([1.0, 3, 3, 1], dtype=torch.float64),
                       torch.tensor([1.0, 3, 3, 1], dtype=torch.float64)) / 64
BLUR_121 = torch.outer(torch.tensor([1.0, 2, 1], dtype=torch.float64),
                       torch.tensor([1.0, 2, 1], dtype=torch.float64)) / 16


def _upsample_fir(x):
    """StyleGAN2 2x upsampling: zero insertion, pad (2, 1), [1,3,3,1] FIR with gain 4."""
    return _fir(_pad(_zero_insert(x), 2, 1), FIR_1331, 4.0)


def _sg2_layer(p, pre, x, w, up, noise_mode, clamp):
    s = _affine(p, pre + ".affine", w)  # [N, I]
    W = p[pre + ".weight"]  # [O, I, 3, 3]
    outs = []
    for n in range(x.shape[0]):
        wn = W * s[n][None, :, None, None]  # modulate
        wn = wn / torch.sqrt((wn * wn).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)  # demodulate
        xn = x[n:n + 1]
        if up:
            # transposed stride-2 conv + FIR, written as: zero insertion, pad, FIR (gain 4), then a
            # valid true convolution with the 3x3 kernel (NVlabs conv2d_resample, slow path).
            u = _fir(_pad(_zero_insert(xn), 3, 2), FIR_1331, 4.0)
            outs.append(F.conv2d(u, wn.flip([2, 3])))
        else:
            outs.append(F.conv2d(xn, wn, padding=1))
    x = torch.cat(outs)
    if noise_mode == "const":
        x = x + p[pre + ".noise.noise_const"][None, None] * p[pre + ".noise_strength"]
    x = _lrelu(x + p[pre + ".bias"][None, :, None, None]) * math.sqrt(2)
    return x if clamp is None else x.clamp(-clamp, clamp)


def _sg2_torgb(p, pre, x, w, clamp):
    s = _affine(p, pre + ".affine", w) / math.sqrt(x.shape[1])
    W = p[pre + ".weight"][:, :, 0, 0]  # [img_C, C]
    y = torch.einsum("nchw,oc,nc->nohw", x, W, s) + p[pre + ".bias"][None, :, None, None]
    return y if clamp is None else y.clamp(-clamp, clamp)


def reference_stylegan2(G, ws, noise_mode="const"):
    """NVlabs StyleGAN2 'skip' synthesis in float64 from G's raw parameters."""
    p, cfg = _p(G), G.config
    ws = ws.double()
    clamp = cfg.conv_clamp
    x = p["synthesis.b4.const"][None].repeat(ws.shape[0], 1, 1, 1)
    x = _sg2_layer(p, "synthesis.b4.conv1", x, ws[:, 0], False, noise_mode, clamp)
    img = _sg2_torgb(p, "synthesis.b4.torgb", x, ws[:, 1], clamp)
    i = 1
    for res in cfg.block_resolutions[1:]:
        b = f"synthesis.b{res}"
        x = _sg2_layer(p, b + ".conv0", x, ws[:, i], True, noise_mode, clamp)
        x = _sg2_layer(p, b + ".conv1", x, ws[:, i + 1], False, noise_mode, clamp)
        img = _upsample_fir(img) + _sg2_torgb(p, b + ".torgb", x, ws[:, i + 2], clamp)
        i += 2
    return img


def _nearest2x(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def _sg1_layer(p, pre, x, w, conv, noise_mode, fused=False):
    if conv != "none":
        W = p[pre + ".weight"]
        W = W * math.sqrt(2) / math.sqrt(W.shape[1] * 9)  # He gain, equalized lr
        if conv == "up":
            x = _nearest2x(x)
            # fused transposed conv (>= 128 px) == nearest upsampling + true convolution (kernel flipped)
            x = F.conv2d(x, W.flip([2, 3]) if fused else W, padding=1)
            x = _fir(_pad(x, 1, 1), BLUR_121, 1.0)
        else:
            x = F.conv2d(x, W, padding=1)
    if noise_mode == "const":
        x = x + p[pre + ".noise.noise_const"][None, None] * p[pre + ".noise_strength"][None, :, None, None]
    x = _lrelu(x + p[pre + ".bias"][None, :, None, None])  # no gain after the activation in StyleGAN1
    x = x - x.mean(dim=(2, 3), keepdim=True)
    x = x / torch.sqrt((x * x).mean(dim=(2, 3), keepdim=True) + 1e-8)
    style = _affine(p, pre + ".style", w)  # gain 1/sqrt(w_dim)
    ys, yb = style[:, :x.shape[1]], style[:, x.shape[1]:]
    return x * (ys[:, :, None, None] + 1) + yb[:, :, None, None]


def reference_stylegan1(G, ws, noise_mode="const"):
    """NVlabs StyleGAN1 G_synthesis in float64 from G's raw parameters."""
    p, cfg = _p(G), G.config
    ws = ws.double()
    x = p["synthesis.const"][None].repeat(ws.shape[0], 1, 1, 1)
    x = _sg1_layer(p, "synthesis.b4_const", x, ws[:, 0], "none", noise_mode)
    x = _sg1_layer(p, "synthesis.b4_conv", x, ws[:, 1], "same", noise_mode)
    i = 2
    for res in cfg.block_resolutions[1:]:
        x = _sg1_layer(p, f"synthesis.b{res}_conv0_up", x, ws[:, i], "up", noise_mode, fused=res >= 128)
        x = _sg1_layer(p, f"synthesis.b{res}_conv1", x, ws[:, i + 1], "same", noise_mode)
        i += 2
    W = p["synthesis.torgb_weight"][:, :, 0, 0] / math.sqrt(x.shape[1])
    return torch.einsum("nchw,oc->nohw", x, W) + p["synthesis.torgb_bias"][None, :, None, None]


REFERENCE = {"stylegan2": reference_stylegan2, "stylegan1": reference_stylegan1}


def _distinct_ws(G, n=2):
    """ws with a different w in every row, so a wrong row->layer assignment shows."""
    z = torch.randn(n * G.num_ws, G.z_dim)
    return G.mapping(z).reshape(n, G.num_ws, G.num_ws, G.w_dim)[:, :, 0]


@pytest.mark.parametrize("res", [8, 16])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_synthesis_matches_float64_derivation(make_generator, arch, res, noise_mode):
    G = make_generator(arch, res)
    ws = _distinct_ws(G)
    img = G.synthesis(ws, noise_mode=noise_mode)
    expected = REFERENCE[arch](G, ws, noise_mode)
    # values of order 1 here (max |img| is checked), so the fp32 table applies unscaled
    assert expected.abs().max() < 20
    assert_close(img, expected, dtype=torch.float32, msg=f"{arch} {res}px {noise_mode}")


def test_float64_generator_matches_derivation_tightly(make_generator, arch):
    """In float64 the generator must agree with the derivation to rounding (no hidden float32 step)."""
    from tests.test_mapping import reference_ws

    G = make_generator(arch, 16).double()
    z = torch.randn(2, G.z_dim, dtype=torch.float64)
    ws = G.mapping(z, truncation_psi=0.6, truncation_cutoff=3)
    assert ws.dtype == torch.float64
    assert_close(ws, reference_ws(G, z, psi=0.6, cutoff=3), dtype=torch.float64, msg="float64 mapping")
    ws = _distinct_ws(G).double()
    img = G.synthesis(ws)
    assert img.dtype == torch.float64
    assert_close(img, REFERENCE[arch](G, ws), dtype=torch.float64, msg=f"{arch} float64 synthesis")


def test_stylegan2_conv_clamp_matches_derivation(make_generator):
    G = make_generator("stylegan2", 16, conv_clamp=0.5)
    ws = _distinct_ws(G)
    img = G.synthesis(ws)
    expected = reference_stylegan2(G, ws)
    assert_close(img, expected, dtype=torch.float32, msg="conv_clamp=0.5")
    unclamped = sf.GeneratorConfig(**{**G.config.to_dict(), "conv_clamp": None})
    G2 = sf.Generator(unclamped)
    G2.load_state_dict(G.state_dict())
    assert (G2.synthesis(ws) - img).abs().max() > 1e-2  # the clamp is active at 0.5


def test_full_generator_matches_derivation(make_generator, arch):
    from tests.test_mapping import reference_ws

    G = make_generator(arch, 16)
    z = torch.randn(3, G.z_dim)
    img = G(z, truncation_psi=0.7, truncation_cutoff=2)
    expected = REFERENCE[arch](G, reference_ws(G, z, psi=0.7, cutoff=2))
    assert_close(img, expected, dtype=torch.float32, msg=f"{arch} G(z)")


def test_stylegan1_128px_fused_upscale_layer(make_generator):
    G = make_generator("stylegan1", 128, channel_base=512, channel_max=4)
    syn = G.synthesis
    assert syn.b128_conv0_up.fused_upscale and not syn.b64_conv0_up.fused_upscale
    # layer level: the fused 128 px layer vs nearest upsampling + flipped-kernel conv, in float64
    x = torch.randn(2, 4, 64, 64, dtype=torch.float64)
    layer = syn.b128_conv0_up
    W = layer.weight.detach().double() * layer.weight_gain
    got = ops.upscale_conv2d(x, W, fused=True)
    expected = F.conv2d(_nearest2x(x), W.flip([2, 3]), padding=1)
    assert got.shape == (2, 4, 128, 128)
    assert_close(got, expected, dtype=torch.float64, msg="fused upscale conv")
    # ... and it is a different operation from the unfused (unflipped) one for a random kernel
    assert (ops.upscale_conv2d(x, W, fused=False) - got).abs().max() > 1e-3
    # whole layer (conv, blur, noise, bias, lrelu, instance norm, AdaIN) in float32
    w = torch.randn(2, G.w_dim)
    got = layer(x.float(), w, "const", None)
    p = {f"l.{k}": v.detach().double() for k, v in layer.state_dict().items()}
    expected = _sg1_layer(p, "l", x, w.double(), "up", "const", fused=True)
    assert_close(got, expected, dtype=torch.float32, msg="128 px layer")


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_stylegan1_128px_full_matches_derivation(make_generator, backend):
    G = make_generator("stylegan1", 128, channel_base=512, channel_max=4)
    G.backend = backend
    ws = _distinct_ws(G, n=1)
    got = G.synthesis(ws)
    # auto runs the cpu backend's Winograd convolutions where they are built: their own tolerance row
    tol = WINOGRAD_FP32 if "cpu" in G.last_dispatch.values() else dict(dtype=torch.float32)
    assert_close(got, reference_stylegan1(G, ws), msg=f"stylegan1 128px on {backend}", **tol)


# ----------------------------------------------------------------------------------------------
# Batching, determinism, noise
# ----------------------------------------------------------------------------------------------

def test_batch_equals_single_calls(g16):
    G = g16
    z = torch.randn(4, G.z_dim)
    batch = G(z, truncation_psi=0.8, noise_mode="const")
    single = torch.cat([G(z[i:i + 1], truncation_psi=0.8, noise_mode="const") for i in range(4)])
    assert_close(batch, single, dtype=torch.float32, msg="batch vs single")


def test_deterministic_for_same_seeds(g16):
    G = g16
    a = G(sf.z_from_seeds("0-2", G.z_dim))
    b = G(sf.z_from_seeds([0, 1, 2], G.z_dim))
    assert torch.equal(a, b)
    c = G(sf.z_from_seeds([3, 1, 2], G.z_dim))
    assert not torch.equal(a[0], c[0]) and torch.equal(a[1:], c[1:])


def test_noise_modes(g16):
    G = g16
    z = torch.randn(2, G.z_dim)
    r1, r2 = G(z, noise_mode="random"), G(z, noise_mode="random")
    assert (r1 - r2).abs().max() > 1e-3
    assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
    assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="none"))
    assert (G(z, noise_mode="none") - G(z, noise_mode="const")).abs().max() > 1e-3
    with pytest.raises(ValueError, match="unknown noise_mode 'bogus'"):
        G(z, noise_mode="bogus")


def test_noise_none_equals_const_without_noise_strength(make_generator, arch):
    G = make_generator(arch, 16)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.zero_()
    z = torch.randn(2, G.z_dim)
    assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="const"))


def test_explicit_noise_overrides_noise_mode(g16):
    G = g16
    z = torch.randn(2, G.z_dim)
    shapes = G.synthesis.noise_shapes()
    assert len(shapes) == G.num_ws - (1 if G.arch == "stylegan2" else 0)  # one per conv layer
    layers = dict(G.synthesis.named_modules())
    consts = []
    for name, shape in shapes:
        consts.append(layers[name].noise.noise_const[None, None].clone())
        assert list(consts[-1].shape) == shape
    # the stored constants given explicitly == noise_mode 'const', whatever noise_mode says
    assert torch.equal(G(z, noise_mode="none", noise=consts), G(z, noise_mode="const"))
    assert torch.equal(G(z, noise_mode="random", noise=consts), G(z, noise_mode="const"))
    zeros = [torch.zeros(s) for _, s in shapes]
    assert torch.equal(G(z, noise_mode="const", noise=zeros), G(z, noise_mode="none"))
    # per-sample noise [N, 1, r, r]
    per_sample = [torch.randn([2] + s[1:]) for _, s in shapes]
    img = G(z, noise=per_sample)
    first = G(z[:1], noise=[t[:1] for t in per_sample])
    assert_close(img[:1], first, dtype=torch.float32)


def test_explicit_noise_errors(g16):
    G = g16
    z = torch.randn(2, G.z_dim)
    shapes = G.synthesis.noise_shapes()
    noise = [torch.randn(s) for _, s in shapes]
    with pytest.raises(ValueError, match=f"noise must be a list of {len(shapes)} tensors.*got {len(shapes) - 1}"):
        G(z, noise=noise[:-1])
    with pytest.raises(ValueError, match=f"list of {len(shapes)} tensors"):
        G(z, noise=noise + noise[:1])
    bad = list(noise)
    bad[-1] = torch.randn(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"16x16 layer must have shape \[N or 1, 1, 16, 16\], got \[1, 1, 8, 8\]"):
        G(z, noise=bad)
    bad[-1] = torch.randn(3, 1, 16, 16)  # batch of 3 for N=2
    with pytest.raises(ValueError, match=r"got \[3, 1, 16, 16\]"):
        G(z, noise=bad)
    bad[-1] = torch.randn(16, 16)
    with pytest.raises(ValueError, match="must have shape"):
        G(z, noise=bad)


# ----------------------------------------------------------------------------------------------
# Low precision
# ----------------------------------------------------------------------------------------------

# float16 / bfloat16 vs float32: every layer rounds its activations and weights (bf16 has an 8-bit
# mantissa, relative step 2^-8 ~ 4e-3; fp16 10 bits, ~1e-3), and the errors of the
# 2*log2(res)-2 layers add up (instance norm / demodulation keep them from compounding).
# Measured at 16 px on these randomized tiny nets (3 seeds, both archs, images with |x| up to ~13):
# bf16 max abs err 0.13-0.25, mean 0.02-0.035; fp16 max 0.015-0.05, mean 0.002-0.004.
# The table's entries are sized for one op on order-1 values, so the whole network gets scale=2:
# bf16 allows 0.2 + 0.1*|x|, fp16 0.04 + 0.04*|x| (about 2x the worst measured error). A broken
# layer (wrong dtype path, overflow, a lost term) gives errors of order 1 and still fails; the mean
# error is also held to the unscaled atol.
LOW_PRECISION_SCALE = 2.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_close_to_fp32(make_generator, arch, dtype):
    G = make_generator(arch, 16)
    z = torch.randn(2, G.z_dim)
    ref = G(z, truncation_psi=0.7)
    try:
        probe = F.conv2d(torch.ones(1, 1, 3, 3, dtype=dtype), torch.ones(1, 1, 3, 3, dtype=dtype))
        assert probe.dtype == dtype
    except (RuntimeError, NotImplementedError) as e:
        pytest.skip(f"CPU conv2d does not support {dtype}: {e}")
    Glow = G.to(dtype)
    assert Glow.mapping.w_avg.dtype == dtype
    img = Glow(z, truncation_psi=0.7)
    assert img.dtype == dtype and torch.isfinite(img).all()
    assert_close(img, ref, dtype=dtype, scale=LOW_PRECISION_SCALE, msg=f"{arch} {dtype} vs fp32")
    mean_err = (img.double() - ref.double()).abs().mean()
    assert mean_err < TOLERANCES[dtype]["atol"]  # typical pixel well inside the bound


# ----------------------------------------------------------------------------------------------
# Config validation
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [6, 2048, 100, 4, 0, 1024.0])
def test_bad_resolution(resolution):
    with pytest.raises(ValueError, match="resolution"):
        sf.GeneratorConfig(resolution=resolution)
    with pytest.raises(ValueError, match="resolution"):
        sf.Generator.from_config(resolution=resolution)


def test_bad_arch():
    with pytest.raises(ValueError, match=r"arch.*'stylegan3'.*stylegan2, stylegan1"):
        sf.GeneratorConfig(arch="stylegan3")
    with pytest.raises(ValueError, match="arch"):
        sf.Generator.from_config(arch="StyleGAN2")


@pytest.mark.parametrize("field,value", [("c_dim", 1), ("conv_clamp", 256.0), ("num_fp16_res", 2)])
def test_stylegan1_rejects_stylegan2_only_options(field, value):
    with pytest.raises(ValueError, match=f"{field}=.*not supported for stylegan1"):
        sf.GeneratorConfig(arch="stylegan1", resolution=16, **{field: value})


@pytest.mark.parametrize("field,value", [("z_dim", 0), ("w_dim", -1), ("mapping_layers", 0), ("channel_max", 0),
                                         ("img_channels", 0), ("c_dim", -1), ("num_fp16_res", -1),
                                         ("conv_clamp", 0), ("channel_base", 8)])
def test_bad_numeric_fields(field, value):
    with pytest.raises(ValueError, match=field):
        sf.GeneratorConfig(resolution=16, **{field: value})


def test_config_defaults_and_round_trip():
    assert sf.GeneratorConfig(arch="stylegan2").channel_base == 32768
    assert sf.GeneratorConfig(arch="stylegan1").channel_base == 16384
    cfg = sf.GeneratorConfig(arch="stylegan1", resolution=64, z_dim=16, w_dim=8, channel_base=256)
    assert sf.GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown generator config keys \['bogus'\]"):
        sf.GeneratorConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(TypeError, match="not both"):
        sf.Generator(cfg, z_dim=4)
