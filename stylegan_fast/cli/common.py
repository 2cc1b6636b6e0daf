"""What every command shares: options, device and network loading, seeds, truncation, output checks."""
from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path

import click

from ..backends import BACKENDS
from ..checkpoints import WHICH
from ..config import DTYPES
from ..networks.layers import NOISE_MODES


def fail(message: str):
    """End the command with ``Error: message`` and exit status 1 (no traceback)."""
    raise click.ClickException(message)


def pick_device(name):
    """--device as a torch.device; default cuda when available, else cpu."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
             f"built with CUDA {torch.version.cuda}); use --device cpu")
    return torch.device(name)


def print_notes(notes):
    """What a checkpoint reader chose or assumed, one ``note: ...`` line each on stderr."""
    for note in notes:
        click.echo(f"note: {note}", err=True)


def load_network(network, device, backend="auto", which="G_ema"):
    """A Generator from a file or URL (any supported format), or the built-in model when ``network`` is None."""
    from .. import checkpoints
    from ..generator import Generator
    from ..models import DEFAULT_MODEL_NOTE, default_model

    if network is None:
        click.echo(f"note: no --network given; using the {DEFAULT_MODEL_NOTE}", err=True)
        return default_model(device=device, backend=backend)
    try:
        ckpt = checkpoints.read(network, which=which)
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        fail(str(e))
    print_notes(ckpt.notes)
    return Generator.from_checkpoint(ckpt, backend=backend, device=device)


def parse_seeds_option(ctx, param, value):
    """click callback: '0-7,12' -> [0, ..., 7, 12], a usage error naming the problem otherwise."""
    from ..latents import parse_seeds

    try:
        return parse_seeds(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def truncation(G, truncation_psi, truncation_cutoff):
    """--trunc / --trunc-cutoff, defaulting to the model's paper truncation."""
    if truncation_psi is None:
        truncation_psi, paper_cutoff = G.paper_truncation
        truncation_cutoff = paper_cutoff if truncation_cutoff is None else truncation_cutoff
    return truncation_psi, truncation_cutoff


def class_labels(G, class_idx, dev):
    """--class as a one-hot [1, c_dim] tensor for a conditional G (None for an unconditional one)."""
    import torch

    if not G.c_dim:
        if class_idx is not None:
            click.echo("warning: --class ignored: this network is unconditional", err=True)
        return None
    if class_idx is None:
        fail(f"this network is class-conditional ({G.c_dim} classes): give --class 0..{G.c_dim - 1}")
    if class_idx >= G.c_dim:
        fail(f"--class {class_idx} out of range: this network has classes 0..{G.c_dim - 1}")
    c = torch.zeros([1, G.c_dim], device=dev)
    c[0, class_idx] = 1
    return c


def style_network(network, which, device, command, truncation_psi, truncation_cutoff, conditional=False):
    """(device, G, psi, cutoff) for the commands that work on ws (mix, child, video, ...).

    conditional=False refuses class-conditional networks; a command that maps its z with ``class_labels``
    passes True."""
    dev = pick_device(device)
    G = load_network(network, dev, which=which)
    if G.c_dim and not conditional:
        fail(f"{command} supports unconditional networks only")
    return (dev, G, *truncation(G, truncation_psi, truncation_cutoff))


def layers_option(G, spec, option_name):
    """A layer selection option (coarse, 0-3, ...) as sorted ws indices of G, a usage error otherwise."""
    try:
        return G.style_layers(spec)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=option_name) from None


def check_writable(path, option: str, folder: bool = False) -> None:
    """Fail before any work if ``path`` (a file, or a folder with ``folder=True``) cannot be written.

    Creates nothing that stays: the nearest existing folder above ``path`` gets a probe file,
    removed at once (os.access would let root through where writing fails, e.g. under /proc).
    """
    target = Path(path)
    try:
        if target.exists() and target.is_dir() != folder:
            fail(f"cannot write {option} {path}: it is a {'file' if folder else 'folder'}, "
                 f"not a {'folder' if folder else 'file'}")
        start = target if folder else target.parent
        while not start.exists() and start != start.parent:
            start = start.parent
        if not start.is_dir():
            fail(f"cannot write {option} {path}: {start} is a file, not a folder")
    except OSError as e:  # a folder on the way that we may not look into
        fail(f"cannot write {option} {path}: {e.strerror or e} ({e.filename})")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylegan-fast-probe-", dir=start)
    except OSError as e:
        fail(f"cannot write {option} {path}: {start} is not writable ({e.strerror or e}); "
             f"give a path in a folder you can write to")
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def writing(path, option: str):
    """Turn an OSError while writing ``path`` into an error naming the path and the reason."""
    try:
        yield
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
        fail(f"cannot write {option} {path}: {e.strerror or e}{where}")


def with_options(options):
    """Apply a list of click options in order (as if stacked as decorators)."""
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


NETWORK_OPTION = click.option(
    "--network", "network", metavar="PATH|URL",
    help="Generator: our .safetensors, an NVlabs pickle (PyTorch or TF), a rosinality .pt, or an http(s) URL of "
         "one (downloaded once into the cache); default: the built-in model.")
WHICH_OPTION = click.option("--which", type=click.Choice(WHICH), default="G_ema", show_default=True,
                            help="Which generator of an NVlabs training pickle.")
DEVICE_OPTION = click.option("--device", default=None, help="cpu, cuda or cuda:N [default: cuda if available].")
BACKEND_OPTION = click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True)
DTYPE_OPTION = click.option("--dtype", type=click.Choice(list(DTYPES)), default="fp32", show_default=True)
CLASS_OPTION = click.option("--class", "class_idx", type=click.IntRange(min=0), default=None,
                            help="Class label (class-conditional models).")
NOISE_MODE_OPTION = click.option("--noise-mode", type=click.Choice(NOISE_MODES), default="const", show_default=True)
TRUNC_OPTIONS = [
    click.option("--trunc", "truncation_psi", type=float, default=None,
                 help="Truncation psi [default: the model's paper value: 1, or 0.7 for StyleGAN1]."),
    click.option("--trunc-cutoff", "truncation_cutoff", type=click.IntRange(min=0), default=None,
                 help="Truncate only the first N ws [default: all, or 8 for StyleGAN1 at its paper psi]."),
]
