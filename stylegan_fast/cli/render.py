"""``stylegan-fast render``: one image file per seed (or per ws of a latent file), and optionally a grid.

The work is done by :mod:`stylegan_fast.pipeline`; under torchrun the seeds are sharded across the
processes (:mod:`stylegan_fast.distributed`)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import DTYPES
from ..images import PNG_COMPRESSION_HELP
from ..pipeline import FORMATS
from .common import (BACKEND_OPTION, CLASS_OPTION, DEVICE_OPTION, DTYPE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS,
                     WHICH_OPTION, check_writable, class_labels, fail, load_network, parse_seeds_option, pick_device, truncation,
                     with_options, writing)


def png_compression_option(ctx, param, value):
    from ..images import check_png_compression

    try:
        return check_png_compression(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--seeds", callback=parse_seeds_option, default="0-7", show_default=True,
              help="Seeds as in NVlabs' gen_images.py, e.g. 0-7,12.")
@with_options(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@CLASS_OPTION
@click.option("--projected-w", type=click.Path(dir_okay=False), default=None,
              help="Render the ws in this latent file instead of seeds (.npz with key 'w' [N, num_ws, w_dim], as "
                   "NVlabs' projector writes, or .npy) as projNN.FORMAT.")
@click.option("--outdir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Where seedNNNN.FORMAT (or projNN.FORMAT) files go.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="png", show_default=True,
              help="png (lossless), jpg or webp (quality 95), or npz: 'img' uint8 [H, W, 3] and 'w' "
                   "[1, num_ws, w_dim] (NVlabs' projected_w layout: --projected-w renders it again).")
@click.option("--png-compression", callback=png_compression_option, default="rle", show_default=True,
              help="PNG files: " + PNG_COMPRESSION_HELP + ". The pixels are the same whatever the choice.")
@click.option("--resume", is_flag=True,
              help="Skip the images whose file is already in --outdir. Files are written atomically, so an "
                   "interrupted run leaves no partial file and resuming it renders exactly what is missing.")
@click.option("--grid", type=click.Path(dir_okay=False), default=None, help="Also write all images as one grid PNG.")
@click.option("--no-images", is_flag=True, help="Write only the --grid, not one file per seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per generator call; halved automatically when the device runs out of memory.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Threads encoding and writing the files [default: the number of CPUs, at most 8].")
@DEVICE_OPTION
@BACKEND_OPTION
@DTYPE_OPTION
def render(network, which, seeds, truncation_psi, truncation_cutoff, noise_mode, class_idx, projected_w, outdir, fmt,
           png_compression, resume, grid, no_images, batch_size, workers, device, backend, dtype):
    """Render one image per seed, or per ws of a latent file (and optionally a grid).

    The generator runs in batches on the device while a pool of threads encodes and writes the
    files (PNGs by the native batch encoder where it is built). On a CPU whose cores the generator
    fills, each batch is encoded on all cores between batches instead. Each image depends on its
    seed only, not on the batch it is rendered in: with --noise-mode random its noise comes from
    its seed too (from its index in a latent file).

    Under torchrun the seeds are split across the processes (each its own device; gloo on the
    CPU, NCCL on cuda:LOCAL_RANK), each logs its share and rank 0 prints the summary.

    \b
    Examples:
      stylegan-fast render --seeds 0-99 --outdir out
      stylegan-fast render --network ffhq.pkl --seeds 0-9999 --format webp --resume --batch-size 32
      torchrun --nproc-per-node 4 -m stylegan_fast render --seeds 0-999999 --outdir /data/out --resume
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from .. import distributed
    from ..backends import BackendUnavailableError, describe_dispatch
    from ..images import make_grid, save_image
    from ..latents import load_ws_batch
    from ..pipeline import OutputError, RenderError, run_pipeline, seed_stems, seeds_generator, ws_generator

    if no_images and grid is None:
        fail("--no-images needs --grid, otherwise nothing would be written")
    if resume and grid is not None:
        fail("--resume renders only the missing files, but --grid needs every image: drop one of them")
    if grid is not None and distributed.launched():
        fail("--grid is not supported under torchrun (each process renders only its share of the seeds): "
             "render the files, then make the grid in one process")
    if not no_images:
        check_writable(outdir, "--outdir", folder=True)
    if grid is not None:
        check_writable(grid, "--grid")
    dev = pick_device(device)
    try:
        dist = distributed.init(dev)
    except RuntimeError as e:
        fail(f"cannot join the torchrun process group: {e}")
    if dist is not None:
        dev = dist.device
    try:
        G = distributed.in_turn(dist, lambda: load_network(network, dev, backend, which))
    except BackendUnavailableError as e:
        fail(str(e))
    G = G.to(getattr(torch, DTYPES[dtype]))
    truncation_psi, truncation_cutoff = truncation(G, truncation_psi, truncation_cutoff)

    c = class_labels(G, class_idx, dev)

    if projected_w is not None:
        try:
            ws_file = load_ws_batch(projected_w, G.num_ws, G.w_dim)
        except (OSError, ValueError) as e:
            fail(str(e))
        click.echo(f"note: rendering the {len(ws_file)} ws of {projected_w}; --seeds and --trunc do not apply",
                   err=True)
        mine = list(range(len(ws_file)))
        if dist is not None:
            mine = distributed.shard(mine, dist.rank, dist.world_size)
        stems = [f"proj{i:02d}" for i in mine]
        generate = ws_generator(G, ws_file[mine], noise_mode=noise_mode, noise_seeds=mine)
    else:
        mine = seeds
        if dist is not None:
            mine = distributed.shard(distributed.unique(seeds), dist.rank, dist.world_size)
        stems = seed_stems(mine)
        generate = seeds_generator(G, mine, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                   noise_mode=noise_mode, c=c)
    if dist is not None:
        click.echo(f"rank {dist.rank} of {dist.world_size}: {len(stems)} {'ws' if projected_w else 'seeds'} "
                   f"on {dev}", err=True)

    collected = [] if grid is not None else None
    out = Path(outdir)
    quiet = len(stems) < 2 or (dist is not None and not dist.is_main)
    with tqdm(total=len(stems), unit="img", desc="render", file=sys.stderr, disable=quiet) as bar:
        try:
            summary = run_pipeline(generate, stems, out, batch_size=batch_size, format=fmt, resume=resume,
                                   write=not no_images, workers=workers, png_compression=png_compression,
                                   progress=bar.update,
                                   on_images=None if collected is None else lambda _, ims: collected.extend(ims))
        except OutputError as e:
            fail(f"cannot write --outdir {e.path}: {e.reason}")
        except RenderError as e:
            fail(str(e))
    rendered, skipped, elapsed = summary.rendered, summary.skipped, summary.seconds
    if dist is not None:
        rendered, skipped, elapsed = distributed.reduce_summary(dist, rendered, skipped, elapsed)
        distributed.finish()
        if not dist.is_main:
            return
    if grid is not None:
        with writing(grid, "--grid"):
            save_image(make_grid(np.stack(collected)), grid)
    where = [] if no_images else [f"{out}/{'projNN' if projected_w else 'seedNNNN'}.{fmt}"]
    where += [grid] if grid else []
    rate = f"{rendered / elapsed:.1f} img/s" if elapsed > 0 and rendered else "nothing to do"
    also = f" ({skipped} already there, skipped)" if resume else ""
    procs = f", {dist.world_size} processes" if dist is not None else ""
    click.echo(f"rendered {rendered} images{also} ({G.img_resolution}x{G.img_resolution}, {G.arch}, "
               f"{'ws from ' + projected_w if projected_w else f'psi {truncation_psi}'}, backend {G.backend} "
               f"(ops on {describe_dispatch(G.last_dispatch)}), "
               f"{dev}{procs}) in {elapsed:.2f}s ({rate}) -> {', '.join(where)}")
