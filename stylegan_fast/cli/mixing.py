"""``stylegan-fast mix`` and ``child``: style mixing of faces, saved as a grid or a family strip."""
from __future__ import annotations

import click

from ..projection import IMAGE_SUFFIXES
from .common import (CLASS_OPTION, DEVICE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS, WHICH_OPTION,
                     check_writable, class_labels, fail, layers_option, parse_seeds_option, style_network,
                     with_options, writing)
from .project import PROJECTION_OPTIONS, project_photo


def _is_photo(source: str) -> bool:
    return source.lower().endswith(IMAGE_SUFFIXES)


def _check_parent(source: str) -> None:
    """Before any work: a parent must be a seed, a latent file or a photo that exists."""
    from pathlib import Path

    if source.strip().isdigit():
        return
    if not source.lower().endswith((".npz", ".npy") + IMAGE_SUFFIXES):
        fail(f"parent {source!r} is neither a seed (a non-negative integer), a latent file (.npz with key 'w', or "
             f".npy) nor a photo ({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)})")
    if not Path(source).is_file():
        fail(f"parent {source!r} does not exist")


def _parent_ws(G, source: str, dev, truncation_psi, truncation_cutoff, c, projection):
    """A parent given as a seed (mapped with truncation), a .npz/.npy w file or a photo (projected with the
    ``projection`` options) -> [num_ws, w_dim]."""
    import torch

    from ..latents import load_ws, parse_seeds, z_from_seeds

    if source.strip().isdigit():
        try:
            z = z_from_seeds(parse_seeds(source), G.z_dim).to(dev)
        except ValueError as e:
            fail(str(e))
        with torch.inference_mode():
            return G.mapping(z, c, truncation_psi, truncation_cutoff)[0]
    if _is_photo(source):
        return project_photo(G, source, dev, c=c, what="--parents", **projection).ws
    try:
        return load_ws(source, G.num_ws, G.w_dim).to(dev)
    except (OSError, ValueError) as e:
        fail(str(e))


@click.command(epilog="""\b
Examples:
  stylegan-fast mix --rows 0-4 --cols 10-14 --styles coarse --out mix.png
  stylegan-fast mix --network cond.pkl --class 3 --styles fine --out mix.png
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--rows", "row_seeds", callback=parse_seeds_option, default="0-3", show_default=True,
              help="Seeds of the faces that give the styles outside --styles (one grid row each).")
@click.option("--cols", "col_seeds", callback=parse_seeds_option, default="10-13", show_default=True,
              help="Seeds of the faces that give the --styles layers (one grid column each).")
@click.option("--styles", default="coarse", show_default=True,
              help="ws layers taken from the column face: coarse, medium, fine, ranges like 0-3, or both: coarse,8.")
@with_options(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@CLASS_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/style_mixing.png", show_default=True)
@DEVICE_OPTION
def mix(network, which, row_seeds, col_seeds, styles, truncation_psi, truncation_cutoff, noise_mode, class_idx, out,
        device):
    """Style-mixing grid: row faces with the --styles layers of the column faces (NVlabs' style_mixing.py)."""
    import torch

    from ..images import save_image
    from ..latents import z_from_seeds
    from ..styles import style_mixing_grid

    check_writable(out, "--out")
    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "mix", truncation_psi,
                                                               truncation_cutoff, conditional=True)
    layers = layers_option(G, styles, "--styles")
    c = class_labels(G, class_idx, dev)

    def mapped(seeds):
        labels = None if c is None else c.expand(len(seeds), -1)
        return G.mapping(z_from_seeds(seeds, G.z_dim).to(dev), labels, truncation_psi, truncation_cutoff)

    with torch.inference_mode():
        ws_rows, ws_cols = mapped(row_seeds), mapped(col_seeds)
    grid = style_mixing_grid(G, ws_rows, ws_cols, layers, noise_mode)
    with writing(out, "--out"):
        save_image(grid, out)
    click.echo(f"style mixing ({styles}: ws {','.join(map(str, layers))} from the columns) -> {out}")


@click.command(epilog="""\b
Examples:
  stylegan-fast child --parents 3 7 --layers coarse --out child.png
  stylegan-fast child --parents mom.png dad.png --steps 500 --save-projections out/parents --out child.png
  stylegan-fast child --parents mom.npz 12 --layers 0-5 --save-w child.npz --out child.png
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--parents", nargs=2, default=("0", "1"), show_default=True, metavar="A B",
              help="The two parents, each a seed, a latent file (.npz with key 'w', e.g. from `project`) or a "
                   "photo (png, jpg, webp, bmp, ...: projected first, with --steps, --space, --vgg16, ...).")
@click.option("--layers", default="coarse", show_default=True,
              help="ws layers the child inherits from parent A (the rest from B): coarse = face shape, "
                   "pose, hair outline; fine = colours. Also medium, ranges like 0-3, or lists: coarse,8.")
@with_options(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@CLASS_OPTION
@with_options(PROJECTION_OPTIONS)
@click.option("--save-projections", type=click.Path(file_okay=False), default=None,
              help="Folder for the projected parents' ws (STEM.npz, key 'w') and target | projection PNGs.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/child.png", show_default=True,
              help="Family strip: parent A | child | the reverse child (the --layers from B) | parent B.")
@click.option("--save-w", type=click.Path(dir_okay=False), default=None,
              help="Also write the child's ws as .npz (key 'w', [1, num_ws, w_dim]) for further editing.")
@DEVICE_OPTION
def child(network, which, parents, layers, truncation_psi, truncation_cutoff, noise_mode, class_idx, steps, space,
          vgg16, loss, proj_seed, optimize_noise, save_projections, out, save_w, device):
    """The child of two faces: the --layers styles of parent A, all other styles of parent B.

    A parent given as a photo is projected first (as `stylegan-fast project` does; a progress bar per
    photo); --save-projections keeps its ws for later (render --projected-w, edit, child)."""
    from pathlib import Path

    from ..images import save_image
    from ..latents import save_ws
    from ..projection import render_ws, side_by_side
    from ..styles import family_strip

    check_writable(out, "--out")
    if save_w:
        check_writable(save_w, "--save-w")
    for parent in parents:
        _check_parent(parent)
    photos = [p for p in parents if _is_photo(p)]
    if save_projections:
        check_writable(save_projections, "--save-projections", folder=True)
        stems = [Path(p).stem for p in photos]
        if len(set(stems)) < len(stems):
            raise click.BadParameter(f"both photos are named {stems[0]!r}: their projections would overwrite each "
                                     f"other; rename one", param_hint="--save-projections")
    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "child", truncation_psi,
                                                               truncation_cutoff, conditional=True)
    idx = layers_option(G, layers, "--layers")
    c = class_labels(G, class_idx, dev)
    if photos:  # the VGG16 weights of the perceptual loss, read once for both photos
        from ..projection import perceptual_weights

        try:
            vgg16 = perceptual_weights(loss, vgg16, device=dev)
        except (OSError, ValueError) as e:
            fail(f"--vgg16: {e}")
    projection = dict(steps=steps, space=space, vgg16=vgg16, loss=loss, proj_seed=proj_seed,
                      optimize_noise=optimize_noise)
    ws_a, ws_b = (_parent_ws(G, p, dev, truncation_psi, truncation_cutoff, c, projection) for p in parents)
    if save_projections and photos:
        from ..projection import load_target

        folder = Path(save_projections)
        with writing(save_projections, "--save-projections"):
            folder.mkdir(parents=True, exist_ok=True)
            for source, ws in zip(parents, (ws_a, ws_b)):
                if _is_photo(source):
                    stem = folder / Path(source).stem
                    save_ws(stem.with_suffix(".npz"), ws)
                    target = load_target(source, G.img_resolution, notes=[])
                    save_image(side_by_side(target, render_ws(G, ws)), stem.with_suffix(".png"))
        click.echo(f"projected parents' ws -> {save_projections}/"
                   f"{{{','.join(Path(p).stem for p in photos)}}}.npz (and target | projection .png)", err=True)
    strip, kid = family_strip(G, ws_a, ws_b, idx, noise_mode)
    with writing(out, "--out"):
        save_image(strip, out)
    if save_w:
        with writing(save_w, "--save-w"):
            save_ws(save_w, kid)
    click.echo(f"child of {parents[0]} (ws {','.join(map(str, idx))}) and {parents[1]} (the rest) -> {out}"
               + (f", its ws -> {save_w}" if save_w else ""))
