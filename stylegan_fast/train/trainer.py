"""Train a StyleGAN2 generator (reference backend, autograd) on the procedural identikit faces.

The StyleGAN2 recipe, compact: non-saturating logistic loss, lazy R1 regularization on reals,
Adam (betas 0, 0.99) with the lazy-regularization correction, style-mixing regularization,
w_avg tracking, an exponential moving average of G (with ramp-up), periodic sample grids and
snapshots, and resuming from the last state. Runs on CPU and CUDA.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..fileio import atomic_path
from ..generator import Generator
from ..images import make_grid, save_image, to_uint8
from ..networks.layers import NOISE_MODES
from . import attributes, identikit
from .layer_roles import layer_role_loss
from .discriminator import Discriminator

DEMO_CONFIG = dict(arch="stylegan2", resolution=64, z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048,
                   channel_max=64)


@dataclasses.dataclass
class TrainOptions:
    out: str = "runs/demo"
    arch: str = DEMO_CONFIG["arch"]
    resolution: int = DEMO_CONFIG["resolution"]  # 64; 128 or 256 where a GPU makes training cheap
    channel_base: int = DEMO_CONFIG["channel_base"]
    channel_max: int = DEMO_CONFIG["channel_max"]
    iterations: int = 4000
    batch: int = 16
    lr: float = 0.0025
    r1_gamma: Optional[float] = None  # None: 0.0002 * res^2 / batch (NVlabs' auto config)
    r1_interval: int = 16
    style_mixing_prob: float = 0.9
    layer_reg: float = 0.0  # weight of the layer-role regularization (layer_roles.py); 0: off
    layer_reg_interval: int = 4
    layer_reg_batch: int = 8
    layer_reg_shape: float = 1.0  # weight of "a fine swap keeps the shape" against the colour terms
    layer_reg_exact: float = 0.0  # weight of the exact-match terms beside the batch-contrastive ones
    layer_reg_noise: str = "random"  # noise images of the layer-role passes; "const" replays the demo's early phases
    noise: bool = True  # False: noise strengths held at 0 (the identikit faces have no stochastic detail)
    attribute_net: Optional[str] = None  # the AttributeNet (attributes.py) that layer_reg asks; needed with it
    ema_kimg: Optional[float] = None  # None: batch * 10 / 32
    ema_rampup: float = 0.05
    dataset_size: int = 20000
    sample_every: int = 250
    snapshot_every: int = 500
    seed: int = 0
    device: str = "cpu"
    threads: Optional[int] = None


def mixed_ws(G: Generator, z: torch.Tensor, prob: float) -> torch.Tensor:
    """ws for z; with probability ``prob`` the rows from a random cutoff on come from a second z."""
    ws = G.mapping(z)
    if prob > 0 and torch.rand([]) < prob:
        cutoff = int(torch.randint(1, G.num_ws, []))
        ws2 = G.mapping(torch.randn_like(z))
        ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    return ws


def model_config(opts: TrainOptions) -> dict:
    """The generator config of a run: DEMO_CONFIG with the run's resolution and channel counts."""
    return {**DEMO_CONFIG, "arch": opts.arch, "resolution": opts.resolution, "channel_base": opts.channel_base,
            "channel_max": opts.channel_max}


def real_pool(opts: TrainOptions, out: Path) -> torch.Tensor:
    """The training images of a run, [dataset_size, 3, res, res] uint8 (identikit.cached_pool in ``out``)."""
    return identikit.cached_pool(opts.dataset_size, opts.resolution, out)


def train(opts: TrainOptions) -> Path:
    if opts.layer_reg > 0 and not opts.attribute_net:
        raise ValueError("--layer-reg needs --attribute-net: a file written by "
                         "'python -m stylegan_fast.train.attributes --out runs/attributes.pt'")
    if opts.layer_reg_noise not in NOISE_MODES:
        raise ValueError(f"--layer-reg-noise must be one of {', '.join(NOISE_MODES)}, not {opts.layer_reg_noise!r}")
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = torch.device(opts.device)
    torch.manual_seed(opts.seed)

    config = model_config(opts)
    G = Generator.from_config(**config, backend="reference").to(device)
    D = Discriminator(opts.resolution, 3, opts.channel_base, opts.channel_max).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    r1_gamma = opts.r1_gamma if opts.r1_gamma is not None else 0.0002 * opts.resolution ** 2 / opts.batch
    ratio = opts.r1_interval / (opts.r1_interval + 1)  # lazy regularization: keep the effective step size
    opt_G = torch.optim.Adam(G.parameters(), lr=opts.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=opts.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
    # The layer-role steps keep their own Adam moments, so their gradients do not shrink the adversarial steps.
    opt_L = torch.optim.Adam(G.parameters(), lr=opts.lr, betas=(0.0, 0.99), eps=1e-8)
    ema_nimg = (opts.ema_kimg if opts.ema_kimg is not None else opts.batch * 10 / 32) * 1000

    state_path = out / "state.pt"
    start = 0
    if state_path.is_file() and (out / "options.json").is_file():
        saved = json.loads((out / "options.json").read_text()).get("config")
        if saved is not None and saved != config:
            raise ValueError(f"{out} holds a run with generator config {saved}; this one asks for {config}. "
                             f"Pass the same --resolution/--channel-base/--channel-max, or a new --out")
    if state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        G.load_state_dict(state["G"]), D.load_state_dict(state["D"]), G_ema.load_state_dict(state["G_ema"])
        opt_G.load_state_dict(state["opt_G"]), opt_D.load_state_dict(state["opt_D"])
        if "opt_L" in state:
            opt_L.load_state_dict(state["opt_L"])
        torch.set_rng_state(state["rng"].cpu())  # map_location moved it to the device
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        start = int(state["iteration"])
        print(f"resumed from {state_path} at iteration {start}")
    if not opts.noise:
        for model in (G, G_ema):
            for name, p in model.named_parameters():
                if name.endswith("noise_strength"):
                    p.detach().zero_()
                    p.requires_grad_(False)
    with open(out / "options.json", "w") as f:
        json.dump({**dataclasses.asdict(opts), "config": config, "r1_gamma": r1_gamma}, f, indent=2)

    reals = real_pool(opts, out).to(device)  # uint8 on the device: 245 MB at 20,000 faces of 64 px
    attribute_net = attributes.load(opts.attribute_net, device) if opts.attribute_net else None
    grid_z = torch.randn([32, G.z_dim], generator=torch.Generator().manual_seed(123)).to(device)
    log = open(out / "log.jsonl", "a")
    t0 = time.perf_counter()
    bar = tqdm(range(start, opts.iterations), initial=start, total=opts.iterations, desc="train")
    for it in bar:
        idx = torch.randint(len(reals), [opts.batch], device=device)
        real = reals[idx].float() / 127.5 - 1

        # Discriminator: softplus(D(fake)) + softplus(-D(real)) [+ lazy R1 on reals].
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G.synthesis(mixed_ws(G, torch.randn([opts.batch, G.z_dim], device=device), opts.style_mixing_prob),
                               noise_mode="random")
        do_r1 = it % opts.r1_interval == 0
        real.requires_grad_(do_r1)
        logits_real = D(real)
        loss_D = F.softplus(D(fake)).mean() + F.softplus(-logits_real).mean()
        r1 = torch.zeros([], device=device)
        if do_r1:
            (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_D = loss_D + r1 * (r1_gamma / 2) * opts.r1_interval
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()

        # Generator: softplus(-D(G(z))), with style mixing; track w_avg as training does.
        D.requires_grad_(False)
        z = torch.randn([opts.batch, G.z_dim], device=device)
        ws = mixed_ws(G, z, opts.style_mixing_prob)
        with torch.no_grad():
            G.mapping.w_avg.copy_(ws[:, 0].mean(dim=0).lerp(G.mapping.w_avg, G.config.w_avg_beta))
        loss_G = F.softplus(-D(G.synthesis(ws, noise_mode="random"))).mean()
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()

        # Layer roles, lazily: colours follow the fine styles, shape does not (see layer_roles.py).
        loss_L = torch.zeros([])
        if opts.layer_reg > 0 and it % opts.layer_reg_interval == 0:
            zr = torch.randn([2, opts.layer_reg_batch, G.z_dim], device=device)
            loss_L = layer_role_loss(G, attribute_net, zr[0], zr[1], opts.layer_reg_shape, opts.layer_reg_exact,
                                     noise_mode=opts.layer_reg_noise)
            opt_L.zero_grad(set_to_none=True)
            (loss_L * opts.layer_reg).backward()
            opt_L.step()

        # EMA of G (ramped up at the start), buffers copied.
        nimg = (it + 1) * opts.batch
        beta = 0.5 ** (opts.batch / max(min(ema_nimg, nimg * opts.ema_rampup), 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)

        bar.set_postfix(D=f"{loss_D.item():.3f}", G=f"{loss_G.item():.3f}", L=f"{loss_L.item():.3f}", refresh=False)
        if it % 50 == 0:
            log.write(json.dumps(dict(it=it, loss_D=loss_D.item(), loss_G=loss_G.item(), r1=r1.item(),
                                      layer=loss_L.item(), sec=round(time.perf_counter() - t0, 1))) + "\n")
            log.flush()
        last = it + 1 == opts.iterations
        if (it + 1) % opts.sample_every == 0 or last:
            with torch.no_grad():
                imgs = to_uint8(G_ema(grid_z, noise_mode="const")).cpu().numpy()
            save_image(make_grid(imgs, cols=8), out / f"fakes{it + 1:06d}.png")
        if (it + 1) % opts.snapshot_every == 0 or last:
            G_ema.save(out / f"network-{it + 1:06d}.safetensors")  # numbered: layers can be compared over training
            G_ema.save(out / "network-latest.safetensors")
            with atomic_path(state_path) as tmp:
                torch.save(dict(G=G.state_dict(), D=D.state_dict(), G_ema=G_ema.state_dict(),
                                opt_G=opt_G.state_dict(), opt_D=opt_D.state_dict(), opt_L=opt_L.state_dict(),
                                rng=torch.get_rng_state(), iteration=it + 1,
                                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})),
                           tmp)
    log.close()
    return out / "network-latest.safetensors"
