"""Command line: ``stylegan-fast render | mix | child | video | info | convert | doctor | bench``.

Also ``python -m stylegan_fast``."""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import click

from .backends import BACKENDS

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _fail(message: str):
    raise click.ClickException(message)


def _pick_device(name):
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        _fail(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
              f"built with CUDA {torch.version.cuda}); use --device cpu")
    return torch.device(name)


def load_network(network, device, backend="auto", which="G_ema"):
    """A Generator from a file or URL (any supported format), or the built-in model when ``network`` is None."""
    import pickle

    from .generator import Generator
    from .models import DEFAULT_MODEL_NOTE, default_model

    if network is None:
        click.echo(f"note: no --network given; using the {DEFAULT_MODEL_NOTE}", err=True)
        return default_model(device=device, backend=backend)
    try:
        return Generator.load(network, which=which, backend=backend, device=device)
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        _fail(str(e))


WHICH_OPTION = click.option("--which", type=click.Choice(["G_ema", "G"]), default="G_ema", show_default=True,
                            help="Which generator of an NVlabs training pickle.")


def _parse_seeds(ctx, param, value):
    from .latents import parse_seeds

    try:
        return parse_seeds(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stylegan_fast", prog_name="stylegan-fast")
def main():
    """stylegan_fast: render, inspect and check StyleGAN generators."""


NETWORK_OPTION = click.option(
    "--network", "network", metavar="PATH|URL",
    help="Generator: our .safetensors, an NVlabs pickle (PyTorch or TF), a rosinality .pt, or an http(s) URL of "
         "one (downloaded once into the cache); default: the built-in model.")


DEVICE_OPTION = click.option("--device", default=None, help="cpu, cuda or cuda:N [default: cuda if available].")
NOISE_MODE_OPTION = click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const",
                                 show_default=True)


def _truncation(G, truncation_psi, truncation_cutoff):
    """--trunc / --trunc-cutoff, defaulting to the model's paper truncation."""
    if truncation_psi is None:
        truncation_psi, paper_cutoff = G.paper_truncation
        truncation_cutoff = paper_cutoff if truncation_cutoff is None else truncation_cutoff
    return truncation_psi, truncation_cutoff


TRUNC_OPTIONS = [
    click.option("--trunc", "truncation_psi", type=float, default=None,
                 help="Truncation psi [default: the model's paper value: 1, or 0.7 for StyleGAN1]."),
    click.option("--trunc-cutoff", "truncation_cutoff", type=click.IntRange(min=0), default=None,
                 help="Truncate only the first N ws [default: all, or 8 for StyleGAN1 at its paper psi]."),
]


def _with(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


@main.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--seeds", callback=_parse_seeds, default="0-7", show_default=True,
              help="Seeds as in NVlabs' gen_images.py, e.g. 0-7,12.")
@_with(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@click.option("--class", "class_idx", type=click.IntRange(min=0), default=None, help="Class label (conditional models).")
@click.option("--projected-w", type=click.Path(dir_okay=False), default=None,
              help="Render the ws in this latent file instead of seeds (.npz with key 'w' [N, num_ws, w_dim], as "
                   "NVlabs' projector writes, or .npy) as projNN.png.")
@click.option("--outdir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Where seedNNNN.png (or projNN.png) files go.")
@click.option("--grid", type=click.Path(dir_okay=False), default=None, help="Also write all images as one grid PNG.")
@click.option("--no-images", is_flag=True, help="Write only the --grid, not one file per seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@DEVICE_OPTION
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(sorted(DTYPES)), default="fp32", show_default=True)
def render(network, which, seeds, truncation_psi, truncation_cutoff, noise_mode, class_idx, projected_w, outdir, grid,
           no_images, batch_size, device, backend, dtype):
    """Render one image per seed, or per ws of a latent file (and optionally a grid)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from .backends import BackendUnavailableError
    from .images import make_grid, save_image, to_uint8
    from .latents import load_ws_batch, z_from_seeds

    if no_images and grid is None:
        _fail("--no-images needs --grid, otherwise nothing would be written")
    dev = _pick_device(device)
    try:
        G = load_network(network, dev, backend, which)
    except BackendUnavailableError as e:
        _fail(str(e))
    G = G.to(getattr(torch, DTYPES[dtype]))
    truncation_psi, truncation_cutoff = _truncation(G, truncation_psi, truncation_cutoff)

    c = None
    if G.c_dim:
        if class_idx is None:
            _fail(f"this network is class-conditional ({G.c_dim} classes): give --class 0..{G.c_dim - 1}")
        if class_idx >= G.c_dim:
            _fail(f"--class {class_idx} out of range: this network has classes 0..{G.c_dim - 1}")
        c = torch.zeros([1, G.c_dim], device=dev)
        c[0, class_idx] = 1
    elif class_idx is not None:
        click.echo("warning: --class ignored: this network is unconditional", err=True)

    if projected_w is not None:
        try:
            ws_file = load_ws_batch(projected_w, G.num_ws, G.w_dim)
        except (OSError, ValueError) as e:
            _fail(str(e))
        click.echo(f"note: rendering the {len(ws_file)} ws of {projected_w}; --seeds and --trunc do not apply",
                   err=True)
        names = [f"proj{i:02d}.png" for i in range(len(ws_file))]
    else:
        names = [f"seed{seed:04d}.png" for seed in seeds]

    def generate(start, stop):
        if projected_w is not None:
            return G.synthesis(ws_file[start:stop].to(dev), noise_mode=noise_mode)
        z = z_from_seeds(seeds[start:stop], G.z_dim).to(dev)
        return G(z, None if c is None else c.expand(len(z), -1), truncation_psi=truncation_psi,
                 truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)

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
                    save_image(im, out / name)
                if grid is not None:
                    images.append(im)
            bar.update(len(chunk))
    elapsed = time.perf_counter() - t0
    if grid is not None:
        save_image(make_grid(np.stack(images)), grid)
    where = [] if no_images else [f"{out}/{'projNN' if projected_w else 'seedNNNN'}.png"]
    where += [grid] if grid else []
    click.echo(f"rendered {len(names)} images ({G.img_resolution}x{G.img_resolution}, {G.arch}, "
               f"{'ws from ' + projected_w if projected_w else f'psi {truncation_psi}'}, backend {G.backend}, "
               f"{dev}) in {elapsed:.2f}s ({len(names) / elapsed:.1f} img/s) -> {', '.join(where)}")


def _ws_of(G, source: str, dev, truncation_psi, truncation_cutoff):
    """A parent or keyframe given as a seed (mapped with truncation) or a .npz/.npy w file -> [num_ws, w_dim]."""
    import torch

    from .latents import load_ws, parse_seeds, z_from_seeds

    if source.strip().isdigit():
        try:
            z = z_from_seeds(parse_seeds(source), G.z_dim).to(dev)
        except ValueError as e:
            _fail(str(e))
        with torch.inference_mode():
            return G.mapping(z, None, truncation_psi, truncation_cutoff)[0]
    if not source.lower().endswith((".npz", ".npy")):
        _fail(f"{source!r} is neither a seed (a non-negative integer) nor a latent file (.npz with key 'w', "
              f"or .npy)")
    try:
        return load_ws(source, G.num_ws, G.w_dim).to(dev)
    except (OSError, ValueError) as e:
        _fail(str(e))


def _style_network(network, which, device, command, truncation_psi, truncation_cutoff):
    """(device, G, psi, cutoff) for the commands that work on ws (mix, child, video): unconditional only."""
    dev = _pick_device(device)
    G = load_network(network, dev, which=which)
    if G.c_dim:
        _fail(f"{command} supports unconditional networks only")
    return (dev, G, *_truncation(G, truncation_psi, truncation_cutoff))


def _layers_option(G, spec, option_name):
    try:
        return G.style_layers(spec)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=option_name) from None


@main.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--rows", "row_seeds", callback=_parse_seeds, default="0-3", show_default=True,
              help="Seeds of the faces that give the styles outside --styles (one grid row each).")
@click.option("--cols", "col_seeds", callback=_parse_seeds, default="10-13", show_default=True,
              help="Seeds of the faces that give the --styles layers (one grid column each).")
@click.option("--styles", default="coarse", show_default=True,
              help="ws layers taken from the column face: coarse, medium, fine, ranges like 0-3, or both: coarse,8.")
@_with(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/style_mixing.png", show_default=True)
@DEVICE_OPTION
def mix(network, which, row_seeds, col_seeds, styles, truncation_psi, truncation_cutoff, noise_mode, out, device):
    """Style-mixing grid: row faces with the --styles layers of the column faces (NVlabs' style_mixing.py)."""
    import numpy as np
    import torch

    from .images import make_grid, save_image, to_uint8
    from .latents import z_from_seeds
    from .styles import mix as mix_ws

    dev, G, truncation_psi, truncation_cutoff = _style_network(network, which, device, "mix", truncation_psi,
                                                                truncation_cutoff)
    layers = _layers_option(G, styles, "--styles")
    with torch.inference_mode():
        ws_rows = G.mapping(z_from_seeds(row_seeds, G.z_dim).to(dev), None, truncation_psi, truncation_cutoff)
        ws_cols = G.mapping(z_from_seeds(col_seeds, G.z_dim).to(dev), None, truncation_psi, truncation_cutoff)
        render_ws = lambda ws: to_uint8(G.synthesis(ws, noise_mode=noise_mode)).cpu().numpy()  # noqa: E731
        rows_img, cols_img = render_ws(ws_rows), render_ws(ws_cols)
        cells = [render_ws(mix_ws(ws_rows, ws_cols[j:j + 1], layers)) for j in range(len(col_seeds))]
    blank = np.zeros_like(rows_img[0])
    tiles = [blank, *cols_img]  # header row: the column faces
    for i in range(len(row_seeds)):
        tiles += [rows_img[i], *(cells[j][i] for j in range(len(col_seeds)))]
    save_image(make_grid(np.stack(tiles), cols=len(col_seeds) + 1), out)
    click.echo(f"style mixing ({styles}: ws {','.join(map(str, layers))} from the columns) -> {out}")


@main.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--parents", nargs=2, default=("0", "1"), show_default=True, metavar="A B",
              help="The two parents, each a seed or a latent file (.npz with key 'w', e.g. from a projector).")
@click.option("--layers", default="coarse", show_default=True,
              help="ws layers the child inherits from parent A (the rest from B): coarse = face shape, "
                   "pose, hair outline; fine = colours. Also medium, ranges like 0-3, or lists: coarse,8.")
@_with(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@click.option("--out", "out", type=click.Path(dir_okay=False), default="out/child.png", show_default=True,
              help="Family strip: parent A | child | the reverse child (the --layers from B) | parent B.")
@click.option("--save-w", type=click.Path(dir_okay=False), default=None,
              help="Also write the child's ws as .npz (key 'w', [1, num_ws, w_dim]) for further editing.")
@DEVICE_OPTION
def child(network, which, parents, layers, truncation_psi, truncation_cutoff, noise_mode, out, save_w, device):
    """The child of two faces: the --layers styles of parent A, all other styles of parent B."""
    import numpy as np
    import torch

    from .images import save_image, to_uint8
    from .latents import save_ws
    from .styles import mix as mix_ws

    dev, G, truncation_psi, truncation_cutoff = _style_network(network, which, device, "child", truncation_psi,
                                                                truncation_cutoff)
    idx = _layers_option(G, layers, "--layers")
    ws_a, ws_b = (_ws_of(G, p, dev, truncation_psi, truncation_cutoff)[None] for p in parents)
    kid, reverse_kid = mix_ws(ws_b, ws_a, idx), mix_ws(ws_a, ws_b, idx)
    with torch.inference_mode():
        imgs = to_uint8(G.synthesis(torch.cat([ws_a, kid, reverse_kid, ws_b]), noise_mode=noise_mode))
    save_image(np.concatenate(list(imgs.cpu().numpy()), axis=1), out)
    if save_w:
        save_ws(save_w, kid[0])
    click.echo(f"child of {parents[0]} (ws {','.join(map(str, idx))}) and {parents[1]} (the rest) -> {out}"
               + (f", its ws -> {save_w}" if save_w else ""))


def _parse_grid(ctx, param, value):
    import re

    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", value or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise click.BadParameter(f"{value!r}: expected COLSxROWS with both at least 1, e.g. 1x1 or 4x2")
    return int(m.group(1)), int(m.group(2))


@main.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--seeds", callback=_parse_seeds, default="0-3", show_default=True,
              help="Keyframe seeds; with a grid, each cell walks through its own consecutive share of them.")
@click.option("--grid", "grid", callback=_parse_grid, default="1x1", show_default=True, help="COLSxROWS of walks.")
@click.option("--w-frames", type=click.IntRange(min=1), default=60, show_default=True,
              help="Frames from one keyframe to the next.")
@click.option("--kind", type=click.Choice(["cubic", "linear"]), default="cubic", show_default=True,
              help="Interpolation in W between keyframes.")
@click.option("--loop/--no-loop", default=True, show_default=True, help="Return to the first keyframe at the end.")
@click.option("--layers", default=None,
              help="Walk only these ws layers (e.g. coarse: outlines and pose move, colours stay); the "
                   "others keep the first keyframe's styles [default: all].")
@_with(TRUNC_OPTIONS)
@NOISE_MODE_OPTION
@click.option("--fps", type=click.FloatRange(min=1), default=30, show_default=True)
@click.option("--scale", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="Enlarge frames by this integer factor (nearest neighbour), for small models.")
@click.option("--output", type=click.Path(dir_okay=False), default="out/walk.mp4", show_default=True,
              help=".mp4 (H.264) or .gif.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@DEVICE_OPTION
def video(network, which, seeds, grid, w_frames, kind, loop, layers, truncation_psi, truncation_cutoff, noise_mode,
          fps, scale, output, batch_size, device):
    """Latent walk video through keyframe seeds, interpolated in W (NVlabs' gen_video.py)."""
    import torch
    from tqdm import tqdm

    from .images import make_grid, to_uint8
    from .latents import z_from_seeds
    from .video import VIDEO_SUFFIXES, grid_walks, upscale, video_writer

    if not output.lower().endswith(VIDEO_SUFFIXES):
        raise click.BadParameter(f"{output!r}: use a file name ending in {' or '.join(VIDEO_SUFFIXES)}",
                                 param_hint="--output")
    cols, rows = grid
    cells = cols * rows
    if len(seeds) % cells or len(seeds) < 2 * cells:
        raise click.BadParameter(f"{len(seeds)} seeds for a {cols}x{rows} grid: give a multiple of {cells} "
                                 f"seeds, at least {2 * cells} (two keyframes per cell)", param_hint="--seeds")
    dev, G, truncation_psi, truncation_cutoff = _style_network(network, which, device, "video", truncation_psi,
                                                                truncation_cutoff)
    moving = _layers_option(G, layers, "--layers") if layers else list(range(G.num_ws))
    with torch.inference_mode():
        keys = G.mapping(z_from_seeds(seeds, G.z_dim).to(dev), None, truncation_psi, truncation_cutoff)
        keys = keys.reshape(cells, len(seeds) // cells, G.num_ws, G.w_dim)
        paths = grid_walks(keys, w_frames, kind, loop, moving)  # [T, cells, num_ws, w_dim]
    n_frames = paths.shape[0]
    res = G.img_resolution * scale
    frames_per_batch = max(1, batch_size // cells)
    with video_writer(output, fps, (cols * res, rows * res)) as append, torch.inference_mode(), \
            tqdm(total=n_frames, unit="frame", desc="video", file=sys.stderr) as bar:
        for start in range(0, n_frames, frames_per_batch):
            ws = paths[start:start + frames_per_batch]
            imgs = to_uint8(G.synthesis(ws.flatten(0, 1), noise_mode=noise_mode)).cpu().numpy()
            for frame in imgs.reshape(ws.shape[0], cells, *imgs.shape[1:]):
                append(upscale(make_grid(frame, cols=cols), scale))
            bar.update(ws.shape[0])
    walked = "all layers" if layers is None else f"ws {','.join(map(str, moving))}"
    click.echo(f"{n_frames} frames ({cols * res}x{rows * res}, {n_frames / fps:.1f}s at {fps:g} fps, {kind} "
               f"walk over {len(seeds) // cells} keyframes, {walked}) -> {output}")


@main.command()
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


CONVERT_TARGETS = ("safetensors", "nvlabs-state-dict", "rosinality")


@main.command()
@click.argument("source", metavar="IN")
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False))
@WHICH_OPTION
@click.option("--to", "target", type=click.Choice(CONVERT_TARGETS), default="safetensors", show_default=True,
              help="safetensors: our format (fastest to load); nvlabs-state-dict: a torch.save'd state dict "
                   "under stylegan2-ada-pytorch's parameter names; rosinality: a stylegan2-pytorch checkpoint "
                   "{'g_ema', 'latent_avg'} (both StyleGAN2 only).")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def convert(source, out, which, target, force):
    """Convert any supported checkpoint (file or URL) to OUT."""
    import torch

    from . import ops
    from .fileio import atomic_path

    out_path = Path(out)
    if out_path.exists() and not force:
        _fail(f"{out} exists; pass --force to overwrite it")
    G = load_network(source, torch.device("cpu"), which=which)
    if target == "safetensors":
        G.save(out_path)
    elif target == "rosinality":
        from .checkpoints import rosinality

        try:
            ckpt = rosinality.export(G)
        except ValueError as e:
            _fail(str(e))
        with atomic_path(out_path) as tmp:
            torch.save(ckpt, tmp)
    else:
        if G.arch != "stylegan2":
            _fail(f"--to nvlabs-state-dict needs a StyleGAN2 generator, this one is {G.arch}")
        state = {k.replace(".noise.noise_const", ".noise_const"): v.contiguous() for k, v in G.state_dict().items()}
        # NVlabs also keeps the [1, 3, 3, 1] FIR filter as a buffer of every block and every conv layer.
        fir = ops.setup_filter([1, 3, 3, 1], separable=False)
        prefixes = {f"synthesis.b{res}" for res in G.config.block_resolutions}
        prefixes |= {k[: -len(".noise_strength")] for k in state if k.endswith(".noise_strength")}
        state.update({f"{p}.resample_filter": fir.clone() for p in prefixes})
        with atomic_path(out_path) as tmp:
            torch.save(state, tmp)
    click.echo(f"converted {source} ({G.source_format}, {G.arch} {G.img_resolution}px) "
               f"-> {out} ({target})")


@main.command()
def doctor():
    """What is installed, which devices exist, which backends work here and why not."""
    import importlib.util

    import numpy
    import torch

    from . import _native
    from .backends import backend_status
    from .version import __version__

    click.echo(f"stylegan_fast {__version__}   python {platform.python_version()}   {platform.platform()}")
    click.echo(f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'}), numpy {numpy.__version__}, "
               f"CPU threads {torch.get_num_threads()}")
    triton = importlib.util.find_spec("triton")
    if triton is None:
        click.echo("triton: not installed (pip install 'stylegan_fast[triton]')")
    else:
        import importlib.metadata as md

        click.echo(f"triton: {md.version('triton')}")
    if _native.native_available():
        info = _native.build_info()
        click.echo("native module stylegan_fast._C: built")
        for k in sorted(info):
            click.echo(f"    {k}: {info[k]}")
    else:
        click.echo(f"native module stylegan_fast._C: NOT available: {_native.native_error()}")
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append(torch.device("cuda", i))
            click.echo(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        click.echo("cuda: no CUDA device visible to torch")
    click.echo("backends:")
    for dev in devices:
        for name in BACKENDS[1:]:
            ok, reason = backend_status(name, dev)
            click.echo(f"    {str(dev):7} {name:10} {'ok' if ok else 'no'}  {reason}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def bench(ctx):
    """Throughput table per backend (see python -m stylegan_fast.bench --help)."""
    from .bench import main as bench_main

    sys.exit(bench_main(ctx.args))


if __name__ == "__main__":
    main()
