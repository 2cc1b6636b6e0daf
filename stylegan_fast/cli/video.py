"""``stylegan-fast video``: a latent walk through keyframe seeds, as MP4 or GIF."""
from __future__ import annotations

import re
import sys

import click

from ..video import INTERPOLATIONS, VIDEO_SUFFIXES
from .common import (CLASS_OPTION, DEVICE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS, WHICH_OPTION,
                     check_writable, class_labels, layers_option, parse_seeds_option, style_network, with_options,
                     writing)


def _parse_grid(ctx, param, value):
    """click callback: 'COLSxROWS' -> (cols, rows), both at least 1."""
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", value or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise click.BadParameter(f"{value!r}: expected COLSxROWS with both at least 1, e.g. 1x1 or 4x2")
    return int(m.group(1)), int(m.group(2))


@click.command(epilog="""\b
Examples:
  stylegan-fast video --seeds 0-11 --grid 3x1 --w-frames 12 --fps 12 --scale 2 --output walk.gif
  stylegan-fast video --network cond.pkl --class 2 --seeds 0-3 --output walk.mp4
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--seeds", callback=parse_seeds_option, default="0-3", show_default=True,
              help="Keyframe seeds; with a grid, each cell walks through its own consecutive share of them.")
@click.option("--grid", "grid", callback=_parse_grid, default="1x1", show_default=True, help="COLSxROWS of walks.")
@click.option("--w-frames", type=click.IntRange(min=1), default=60, show_default=True,
              help="Frames from one keyframe to the next.")
@click.option("--kind", type=click.Choice(INTERPOLATIONS), default="cubic", show_default=True,
              help="Interpolation in W between keyframes.")
@click.option("--loop/--no-loop", default=True, show_default=True, help="Return to the first keyframe at the end.")
@click.option("--layers", default=None,
              help="Walk only these ws layers (e.g. coarse: outlines and pose move, colours stay); the "
                   "others keep the first keyframe's styles [default: all].")
@with_options(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@CLASS_OPTION
@click.option("--fps", type=click.FloatRange(min=1), default=30, show_default=True)
@click.option("--scale", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="Enlarge frames by this integer factor (nearest neighbour), for small models.")
@click.option("--output", type=click.Path(dir_okay=False), default="out/walk.mp4", show_default=True,
              help=".mp4 (H.264) or .gif.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@DEVICE_OPTION
def video(network, which, seeds, grid, w_frames, kind, loop, layers, truncation_psi, truncation_cutoff, noise_mode,
          class_idx, fps, scale, output, batch_size, device):
    """Latent walk video through keyframe seeds, interpolated in W (NVlabs' gen_video.py)."""
    import torch
    from tqdm import tqdm

    from ..images import make_grid, to_uint8
    from ..latents import z_from_seeds
    from ..video import grid_walks, upscale, video_writer

    if not output.lower().endswith(VIDEO_SUFFIXES):
        raise click.BadParameter(f"{output!r}: use a file name ending in {' or '.join(VIDEO_SUFFIXES)}",
                                 param_hint="--output")
    cols, rows = grid
    cells = cols * rows
    if len(seeds) % cells or len(seeds) < 2 * cells:
        raise click.BadParameter(f"{len(seeds)} seeds for a {cols}x{rows} grid: give a multiple of {cells} "
                                 f"seeds, at least {2 * cells} (two keyframes per cell)", param_hint="--seeds")
    check_writable(output, "--output")
    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "video", truncation_psi,
                                                               truncation_cutoff, conditional=True)
    moving = layers_option(G, layers, "--layers") if layers else list(range(G.num_ws))
    c = class_labels(G, class_idx, dev)
    with torch.inference_mode():
        keys = G.mapping(z_from_seeds(seeds, G.z_dim).to(dev), None if c is None else c.expand(len(seeds), -1),
                         truncation_psi, truncation_cutoff)
        keys = keys.reshape(cells, len(seeds) // cells, G.num_ws, G.w_dim)
        paths = grid_walks(keys, w_frames, kind, loop, moving)  # [T, cells, num_ws, w_dim]
    n_frames = paths.shape[0]
    res = G.img_resolution * scale
    frames_per_batch = max(1, batch_size // cells)
    with writing(output, "--output"), video_writer(output, fps, (cols * res, rows * res)) as append, \
            torch.inference_mode(), tqdm(total=n_frames, unit="frame", desc="video", file=sys.stderr) as bar:
        for start in range(0, n_frames, frames_per_batch):
            ws = paths[start:start + frames_per_batch]
            imgs = to_uint8(G.synthesis(ws.flatten(0, 1), noise_mode=noise_mode)).cpu().numpy()
            for frame in imgs.reshape(ws.shape[0], cells, *imgs.shape[1:]):
                append(upscale(make_grid(frame, cols=cols), scale))
            bar.update(ws.shape[0])
    walked = "all layers" if layers is None else f"ws {','.join(map(str, moving))}"
    click.echo(f"{n_frames} frames ({cols * res}x{rows * res}, {n_frames / fps:.1f}s at {fps:g} fps, {kind} "
               f"walk over {len(seeds) // cells} keyframes, {walked}) -> {output}")
