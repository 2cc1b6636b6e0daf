"""``stylegan-fast info`` and ``convert``: look into a generator file, or write it in another format."""
from __future__ import annotations

from pathlib import Path

import click

from ..checkpoints import EXPORT_FORMATS
from .common import WHICH_OPTION, check_writable, fail, load_network, print_notes, writing


@click.command()
@click.argument("path", required=False, metavar="[FILE|URL]")
@WHICH_OPTION
def info(path, which):
    """Format and architecture summary of a generator (default: the built-in model)."""
    import torch

    G = load_network(path, torch.device("cpu"), which=which)
    cfg = G.config
    n_params = sum(p.numel() for p in G.parameters())
    rows = [("source", path or "built-in default model"),
            ("format", G.source_format or "built-in"), ("arch", cfg.arch),
            ("resolution", f"{cfg.resolution}x{cfg.resolution}x{cfg.img_channels}"),
            ("z_dim / w_dim / c_dim", f"{cfg.z_dim} / {cfg.w_dim} / {cfg.c_dim}"),
            ("num_ws", cfg.num_ws), ("mapping layers", cfg.mapping_layers),
            ("channels", ", ".join(f"{r}:{cfg.channels(r)}" for r in cfg.block_resolutions)),
            ("fp16 resolutions", ", ".join(str(r) for r in cfg.block_resolutions if r >= cfg.fp16_resolution)
             or "none"),
            ("conv_clamp", cfg.conv_clamp), ("parameters", f"{n_params:,}"),
            ("paper truncation", "psi {}, cutoff {}".format(*G.paper_truncation))]
    rows += [(f"layers {name}", "ws " + ",".join(map(str, idx))) for name, idx in G.layer_groups.items()]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:<{width}}  {v}")


@click.command()
@click.argument("source", metavar="IN")
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False))
@WHICH_OPTION
@click.option("--to", "target", type=click.Choice(list(EXPORT_FORMATS)), default="safetensors", show_default=True,
              help="; ".join(f"{k}: {v}" for k, v in EXPORT_FORMATS.items()) + ".")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def convert(source, out, which, target, force):
    """Convert any supported checkpoint (file or URL) to OUT."""
    import pickle

    from .. import checkpoints

    if Path(out).exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it")
    check_writable(out, "OUT")
    try:
        ckpt = checkpoints.read(source, which=which)
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        fail(str(e))
    print_notes(ckpt.notes)
    try:
        with writing(out, "OUT"):
            checkpoints.write(out, ckpt.config, ckpt.tensors, to=target)
    except ValueError as e:  # a format that cannot hold this generator, e.g. rosinality for StyleGAN1
        fail(str(e))
    click.echo(f"converted {source} ({ckpt.format}, {ckpt.config.arch} {ckpt.config.resolution}px) "
               f"-> {out} ({target})")
