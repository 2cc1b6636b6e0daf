"""``stylegan-fast render``: one PNG per seed (or per ws of a latent file), and optionally a grid."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..config import DTYPES
from .common import (BACKEND_OPTION, CLASS_OPTION, DEVICE_OPTION, DTYPE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS,
                     WHICH_OPTION, check_writable, class_labels, fail, load_network, parse_seeds_option, pick_device, truncation,
                     with_options, writing)


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
                   "NVlabs' projector writes, or .npy) as projNN.png.")
@click.option("--outdir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Where seedNNNN.png (or projNN.png) files go.")
@click.option("--grid", type=click.Path(dir_okay=False), default=None, help="Also write all images as one grid PNG.")
@click.option("--no-images", is_flag=True, help="Write only the --grid, not one file per seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@DEVICE_OPTION
@BACKEND_OPTION
@DTYPE_OPTION
def render(network, which, seeds, truncation_psi, truncation_cutoff, noise_mode, class_idx, projected_w, outdir, grid,
           no_images, batch_size, device, backend, dtype):
    """Render one image per seed, or per ws of a latent file (and optionally a grid).

    With --noise-mode random each image's noise comes from its seed (from its index in a latent
    file), so it does not depend on the batch the image is rendered in.
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from ..backends import BackendUnavailableError, describe_dispatch
    from ..images import make_grid, save_image, to_uint8
    from ..latents import load_ws_batch, z_from_seeds

    if no_images and grid is None:
        fail("--no-images needs --grid, otherwise nothing would be written")
    if not no_images:
        check_writable(outdir, "--outdir", folder=True)
    if grid is not None:
        check_writable(grid, "--grid")
    dev = pick_device(device)
    try:
        G = load_network(network, dev, backend, which)
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
        names = [f"proj{i:02d}.png" for i in range(len(ws_file))]
    else:
        names = [f"seed{seed:04d}.png" for seed in seeds]

    def generate(start, stop):
        if projected_w is not None:
            return G.synthesis(ws_file[start:stop].to(dev), noise_mode=noise_mode,
                               noise_seeds=list(range(start, stop)))
        z = z_from_seeds(seeds[start:stop], G.z_dim).to(dev)
        return G(z, None if c is None else c.expand(len(z), -1), truncation_psi=truncation_psi,
                 truncation_cutoff=truncation_cutoff, noise_mode=noise_mode, noise_seeds=seeds[start:stop])

    out = Path(outdir)
    images = []
    t0 = time.perf_counter()
    with torch.inference_mode(), tqdm(total=len(names), unit="img", desc="render", file=sys.stderr,
                                      disable=len(names) < 2) as bar:
        for start in range(0, len(names), batch_size):
            chunk = names[start:start + batch_size]
            batch = to_uint8(generate(start, start + len(chunk))).cpu().numpy()
            for name, im in zip(chunk, batch):
                if not no_images:
                    with writing(out / name, "--outdir"):
                        save_image(im, out / name)
                if grid is not None:
                    images.append(im)
            bar.update(len(chunk))
    elapsed = time.perf_counter() - t0
    if grid is not None:
        with writing(grid, "--grid"):
            save_image(make_grid(np.stack(images)), grid)
    where = [] if no_images else [f"{out}/{'projNN' if projected_w else 'seedNNNN'}.png"]
    where += [grid] if grid else []
    click.echo(f"rendered {len(names)} images ({G.img_resolution}x{G.img_resolution}, {G.arch}, "
               f"{'ws from ' + projected_w if projected_w else f'psi {truncation_psi}'}, backend {G.backend} "
               f"(ops on {describe_dispatch(G.last_dispatch)}), "
               f"{dev}) in {elapsed:.2f}s ({len(names) / elapsed:.1f} img/s) -> {', '.join(where)}")
