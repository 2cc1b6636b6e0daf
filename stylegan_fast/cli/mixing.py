"""``stylegan-fast mix`` and ``child``: style mixing of faces, saved as a grid or a family strip."""
from __future__ import annotations

import click

from .common import (DEVICE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS, WHICH_OPTION, check_writable,
                     fail, layers_option, parse_seeds_option, style_network, with_options, writing)


def _parent_ws(G, source: str, dev, truncation_psi, truncation_cutoff):
    """A parent given as a seed (mapped with truncation) or a .npz/.npy w file -> [num_ws, w_dim]."""
    import torch

    from ..latents import load_ws, parse_seeds, z_from_seeds

    if source.strip().isdigit():
        try:
            z = z_from_seeds(parse_seeds(source), G.z_dim).to(dev)
        except ValueError as e:
            fail(str(e))
        with torch.inference_mode():
            return G.mapping(z, None, truncation_psi, truncation_cutoff)[0]
    if not source.lower().endswith((".npz", ".npy")):
        fail(f"{source!r} is neither a seed (a non-negative integer) nor a latent file (.npz with key 'w', "
             f"or .npy)")
    try:
        return load_ws(source, G.num_ws, G.w_dim).to(dev)
    except (OSError, ValueError) as e:
        fail(str(e))


@click.command()
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
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/style_mixing.png", show_default=True)
@DEVICE_OPTION
def mix(network, which, row_seeds, col_seeds, styles, truncation_psi, truncation_cutoff, noise_mode, out, device):
    """Style-mixing grid: row faces with the --styles layers of the column faces (NVlabs' style_mixing.py)."""
    import torch

    from ..images import save_image
    from ..latents import z_from_seeds
    from ..styles import style_mixing_grid

    check_writable(out, "--out")
    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "mix", truncation_psi,
                                                               truncation_cutoff)
    layers = layers_option(G, styles, "--styles")
    with torch.inference_mode():
        ws_rows = G.mapping(z_from_seeds(row_seeds, G.z_dim).to(dev), None, truncation_psi, truncation_cutoff)
        ws_cols = G.mapping(z_from_seeds(col_seeds, G.z_dim).to(dev), None, truncation_psi, truncation_cutoff)
    grid = style_mixing_grid(G, ws_rows, ws_cols, layers, noise_mode)
    with writing(out, "--out"):
        save_image(grid, out)
    click.echo(f"style mixing ({styles}: ws {','.join(map(str, layers))} from the columns) -> {out}")


@click.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--parents", nargs=2, default=("0", "1"), show_default=True, metavar="A B",
              help="The two parents, each a seed or a latent file (.npz with key 'w', e.g. from a projector).")
@click.option("--layers", default="coarse", show_default=True,
              help="ws layers the child inherits from parent A (the rest from B): coarse = face shape, "
                   "pose, hair outline; fine = colours. Also medium, ranges like 0-3, or lists: coarse,8.")
@with_options(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/child.png", show_default=True,
              help="Family strip: parent A | child | the reverse child (the --layers from B) | parent B.")
@click.option("--save-w", type=click.Path(dir_okay=False), default=None,
              help="Also write the child's ws as .npz (key 'w', [1, num_ws, w_dim]) for further editing.")
@DEVICE_OPTION
def child(network, which, parents, layers, truncation_psi, truncation_cutoff, noise_mode, out, save_w, device):
    """The child of two faces: the --layers styles of parent A, all other styles of parent B."""
    from ..images import save_image
    from ..latents import save_ws
    from ..styles import family_strip

    check_writable(out, "--out")
    if save_w:
        check_writable(save_w, "--save-w")
    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "child", truncation_psi,
                                                               truncation_cutoff)
    idx = layers_option(G, layers, "--layers")
    ws_a, ws_b = (_parent_ws(G, p, dev, truncation_psi, truncation_cutoff) for p in parents)
    strip, kid = family_strip(G, ws_a, ws_b, idx, noise_mode)
    with writing(out, "--out"):
        save_image(strip, out)
    if save_w:
        with writing(save_w, "--save-w"):
            save_ws(save_w, kid)
    click.echo(f"child of {parents[0]} (ws {','.join(map(str, idx))}) and {parents[1]} (the rest) -> {out}"
               + (f", its ws -> {save_w}" if save_w else ""))
