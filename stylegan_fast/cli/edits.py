"""``stylegan-fast directions``, ``boundary`` and ``edit``: latent directions and one face moved along one."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..video import VIDEO_SUFFIXES
from .common import (CLASS_OPTION, DEVICE_OPTION, NETWORK_OPTION, NOISE_MODE_OPTION, TRUNC_OPTIONS, WHICH_OPTION,
                     check_writable, class_labels, fail, layers_option, load_network, pick_device, style_network,
                     with_options, writing)

ATTRIBUTE_NAMES = ("beard", "glasses", "smile", "grey_hair")  # stylegan_fast.attribute_classifier.ATTRIBUTES
IDENTIKIT_RESOLUTION = 64


def _bar(total, desc, unit):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)


def _print_directions(d, limit=20):
    for i in range(min(len(d), limit)):
        score = "" if d.scores is None else f"  score {float(d.scores[i]):.4g}"
        rows = "" if d.layers is None else "  ws " + ",".join(str(j) for j in range(d.layers.shape[1])
                                                              if d.layers[i, j])
        click.echo(f"  {i:3d}  {d.names[i]}{score}{rows}")
    if len(d) > limit:
        click.echo(f"  ... and {len(d) - limit} more")


@click.command(epilog="""\b
Examples:
  stylegan-fast directions --method sefa --num 20 --out dirs.npz
  stylegan-fast directions --method sefa --per-group --num 5 --out sefa_groups.npz
  stylegan-fast directions --method pca --num 20 --samples 50000 --layers 0-5 --out pca.npz
  stylegan-fast edit --seed 7 --direction dirs.npz:0 --strength -3:3:7 --out strip.png
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--method", type=click.Choice(["sefa", "pca"]), default="sefa", show_default=True,
              help="sefa: closed-form factorization of the style affine weights (no sampling); pca: principal "
                   "axes of sampled w (GANSpace).")
@click.option("--num", type=click.IntRange(min=1), default=20, show_default=True, help="Directions to keep.")
@click.option("--layers", default=None,
              help="ws layers (coarse, medium, fine, 0-3, ...). sefa: factorize only the styles these rows feed; "
                   "both: edits with these directions move only these rows [default: all].")
@click.option("--per-group", is_flag=True, help="sefa: --num directions for each layer group (coarse, medium, fine).")
@click.option("--samples", type=click.IntRange(min=2), default=20000, show_default=True, help="pca: w samples.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="pca: seed of the z samples.")
@CLASS_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default="out/directions.npz", show_default=True,
              help="Directions file (.npz: directions, names, scores, layers).")
@DEVICE_OPTION
def directions(network, which, method, num, layers, per_group, samples, seed, class_idx, out, device):
    """Unsupervised directions in W: SeFa (eigenvectors of the style weights) or PCA of sampled w.

    Scores: SeFa eigenvalues, or the PCA explained-variance ratio. Signs are fixed so that each direction's
    largest entry is positive; which end of a direction does what is for you to look at (edit)."""
    from .. import directions as dirs

    if not out.lower().endswith(".npz"):
        raise click.BadParameter(f"{out!r}: directions are written as .npz", param_hint="--out")
    if per_group and method != "sefa":
        raise click.BadParameter("--per-group is for --method sefa", param_hint="--per-group")
    if per_group and layers:
        raise click.BadParameter("give either --per-group or --layers", param_hint="--per-group")
    check_writable(out, "--out")
    dev = pick_device(device)
    G = load_network(network, dev, which=which)
    rows = layers_option(G, layers, "--layers") if layers else None
    try:
        if method == "sefa":
            result = dirs.sefa_per_group(G, num) if per_group else dirs.sefa_directions(G, num, rows)
        else:
            c = class_labels(G, class_idx, dev)
            with _bar(samples, "sampling w", "w") as bar:
                result = dirs.pca_directions(G, num, samples, seed, c, rows, progress=bar.update)
    except ValueError as e:
        fail(str(e))
    with writing(out, "--out"):
        dirs.save_directions(out, result)
    what = {"sefa": "SeFa eigenvalue", "pca": "explained variance ratio"}[method]
    click.echo(f"{len(result)} {method} directions (score: {what}) -> {out}")
    _print_directions(result)


def _read_labels(path, row):
    """(w [N, w_dim], labels [N], note) from a labels .npz: 'w' or 'ws', and 'labels'."""
    import numpy as np
    import torch

    from ..directions import latent_rows

    if not str(path).lower().endswith(".npz"):
        fail(f"--labels {path}: expected an .npz with arrays 'w' (or 'ws') [N, w_dim] or [N, num_ws, w_dim] "
             f"and 'labels' [N]")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        fail(f"--labels {path} does not exist")
    except (OSError, ValueError) as e:
        fail(f"--labels {path}: not a plain numpy .npz file ({e})")
    if not isinstance(data, np.lib.npyio.NpzFile):
        fail(f"--labels {path}: expected an .npz archive with arrays 'w' and 'labels'")
    with data:
        keys = data.files
        key = "w" if "w" in keys else "ws" if "ws" in keys else None
        if key is None:
            fail(f"--labels {path} has no latents: expected an array 'w' or 'ws' ([N, w_dim] or "
                 f"[N, num_ws, w_dim]) next to 'labels' (has: {', '.join(keys) or 'nothing'})")
        if "labels" not in keys:
            fail(f"--labels {path} has no array 'labels' ([N]: 0/1, bool or scores) "
                 f"(has: {', '.join(keys)})")
        w, labels = np.asarray(data[key]), np.asarray(data["labels"])
    if not np.issubdtype(w.dtype, np.floating):
        fail(f"--labels {path}: '{key}' must be floating point, got {w.dtype}")
    if w.ndim not in (2, 3):
        fail(f"--labels {path}: '{key}' has shape {list(w.shape)}; expected [N, w_dim] or [N, num_ws, w_dim]")
    n_labels = labels.shape[0] if labels.ndim else 0
    if w.shape[0] != n_labels or labels.ndim not in (1, 2) or (labels.ndim == 2 and labels.shape[1] != 1):
        fail(f"--labels {path}: {w.shape[0]} latents in '{key}' but labels of shape {list(labels.shape)}; "
             f"expected one label per latent, [{w.shape[0]}]")
    note = ""
    if w.ndim == 3:
        which = "the mean of the ws rows" if row == "mean" else f"ws row {0 if row is None else row}"
        note = f"'{key}' is [N, num_ws, w_dim]: fitting {which} (--layer)"
    try:
        x = latent_rows(torch.from_numpy(np.array(w, dtype=np.float64)), row)
    except ValueError as e:
        fail(f"--labels {path}: {e}")
    return x, labels, note


def _parse_row(ctx, param, value):
    if value is None or value == "mean":
        return value
    if value.isdigit():
        return int(value)
    raise click.BadParameter(f"{value!r}: give a ws row index (e.g. 0) or 'mean'")


@click.command(epilog="""\b
Examples:
  stylegan-fast boundary --attribute beard --samples 4000 --out beard.npy
  stylegan-fast boundary --attribute all --samples 4000 --out demo_directions.npz
  stylegan-fast boundary --attribute beard --method paired --pairs 48 --steps 80 --layers 3-4 --out beard.npz
  stylegan-fast boundary --labels labels.npz --out smile.npy
  stylegan-fast edit --seed 7 --direction beard.npy --strength -3:3:7 --out beard.png
\b
A labels file is an .npz with 'w' (or 'ws') [N, w_dim] or [N, num_ws, w_dim] and 'labels' [N]: 0/1, bool, or
scores (thresholded at their median).
\b
--method classifier (default): sample faces, label them with the attribute classifier, fit a logistic boundary
(score: held-out accuracy). --method paired: draw --pairs identikit faces twice, without and with the attribute
(exact labels), project both into W and average w_with - w_without (score: the classifier's mean probability
gain on faces of seeds 0-31, psi 0.7, moved by --score-strength). Paired directions suit the built-in model,
which was trained on identikit faces.
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False), default=None,
              help="Latents and their labels (.npz with 'w' or 'ws', and 'labels').")
@click.option("--attribute", "attributes", multiple=True, type=click.Choice(ATTRIBUTE_NAMES + ("all",)),
              help="Sample faces, label them with the built-in attribute classifier and fit (repeatable; all = "
                   "every attribute, written as one .npz).")
@click.option("--method", type=click.Choice(["classifier", "paired"]), default="classifier", show_default=True,
              help="--attribute: how the faces are labelled (see below).")
@click.option("--pairs", type=click.IntRange(min=1), default=48, show_default=True,
              help="--method paired: identikit face pairs to project.")
@click.option("--steps", type=click.IntRange(min=1), default=80, show_default=True,
              help="--method paired: projection steps per face.")
@click.option("--score-strength", type=float, default=3.0, show_default=True,
              help="--method paired: the edit strength (W distance) at which the score is measured.")
@click.option("--layers", default=None,
              help="--method paired: the ws rows the direction is for (e.g. 3-4, medium), recorded in an .npz so "
                   "that edit moves only them [default: all].")
@click.option("--layer", "row", default=None, callback=_parse_row,
              help="With ws [N, num_ws, w_dim] latents: the ws row to fit, or 'mean' [default: 0].")
@click.option("--samples", type=click.IntRange(min=10), default=4000, show_default=True,
              help="--attribute: faces to sample and label.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
              help="--attribute: truncation psi of the sampled faces.")
@click.option("--keep", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="--attribute: fit only this share of the training samples, the most confidently labelled "
                   "(half each side, as InterFaceGAN); the accuracy is still over every held-out sample.")
@click.option("--held-out", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of the latents kept out of the fit to measure its accuracy.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the held-out split (and of the --attribute samples).")
@click.option("--name", default=None, help="Name of the direction in an .npz [default: the attribute or the "
                                           "labels file's name].")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help=".npy: InterFaceGAN's boundary.npy ([1, w_dim], unit); .npz: a directions file (held-out "
                   "accuracy as score).")
@DEVICE_OPTION
def boundary(network, which, labels_file, attributes, method, pairs, steps, score_strength, layers, row, samples,
             truncation_psi, keep, held_out, seed, name, out, device):
    """A linear boundary in W (InterFaceGAN): from labelled latents, or from faces labelled by the classifier.

    The direction is the boundary's unit normal, pointing towards the attribute; its held-out accuracy is
    reported (and stored as the score in an .npz)."""
    import torch

    from .. import directions as dirs

    if bool(labels_file) == bool(attributes):
        raise click.UsageError("give either --labels FILE or --attribute NAME")
    names = list(ATTRIBUTE_NAMES) if "all" in attributes else list(dict.fromkeys(attributes))
    suffix = Path(out).suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise click.BadParameter(f"{out!r}: use .npy (one boundary) or .npz (directions file)", param_hint="--out")
    if suffix == ".npy" and len(names) > 1:
        raise click.BadParameter(f"{len(names)} attributes need an .npz output", param_hint="--out")
    if name and len(names) > 1:
        raise click.BadParameter("--name is for one boundary", param_hint="--name")
    if method == "paired" and labels_file:
        raise click.UsageError("--method paired draws its own labelled faces: use it with --attribute, "
                               "not --labels")
    if layers and method != "paired":
        raise click.BadParameter("--layers is for --method paired", param_hint="--layers")
    if layers and suffix == ".npy":
        raise click.BadParameter("a boundary.npy cannot record ws rows: use an .npz output", param_hint="--layers")
    check_writable(out, "--out")
    if method == "paired":
        _paired_boundaries(network, which, names, pairs, steps, score_strength, layers, seed, name, out, suffix,
                           device)
        return

    results = []  # (name, Boundary, extra text)
    if labels_file:
        x, labels, note = _read_labels(labels_file, row)
        if note:
            click.echo(f"note: {note}", err=True)
        try:
            fit = dirs.fit_boundary(x, labels, held_out=held_out, seed=seed)
        except ValueError as e:
            fail(f"--labels {labels_file}: {e}")
        positives = int(dirs.binary_labels(labels).sum())
        results.append((name or Path(labels_file).stem, fit, f"{positives}/{len(labels)} positive"))
    else:
        dev = pick_device(device)
        G = load_network(network, dev, which=which)
        if G.c_dim:
            fail("boundary --attribute supports unconditional networks only")
        if network is not None:
            click.echo(f"warning: the attribute classifier was trained on the built-in model's identikit faces "
                       f"({IDENTIKIT_RESOLUTION}x{IDENTIKIT_RESOLUTION} cartoons); its labels of this network's "
                       f"{G.img_resolution}px images may mean little", err=True)
        try:
            with _bar(samples, "labelling faces", "face") as bar:
                w, probs = dirs.attribute_scores(G, samples, seed, truncation_psi, progress=bar.update)
        except (ImportError, FileNotFoundError) as e:
            fail(f"the attribute classifier is not available: {e}")
        for attr in names:
            p = probs[attr]
            try:
                fit = dirs.boundary_from_scores(w, p, held_out, seed, keep)
            except ValueError as e:
                fail(f"{attr}: {e}")
            results.append((name or attr, fit, f"{float((p > 0.5).double().mean()):.1%} of faces positive"))

    for label, fit, extra in results:
        acc = ("n/a (nothing held out)" if fit.accuracy is None else
               f"{fit.accuracy:.3f} (balanced {fit.balanced_accuracy:.3f}) on {fit.num_held_out}")
        click.echo(f"{label}: held-out accuracy {acc}, training accuracy {fit.train_accuracy:.3f} on "
                   f"{fit.num_train} ({extra})")
    scores = torch.tensor([float("nan") if f.accuracy is None else f.accuracy for _, f, _ in results])
    _write_directions(out, suffix, dirs.Directions(torch.stack([f.normal for _, f, _ in results]),
                                                   [n for n, _, _ in results], None, scores))
    click.echo(f"{len(results)} boundar{'y' if len(results) == 1 else 'ies'} -> {out}")


def _write_directions(out, suffix, directions):
    """--out: InterFaceGAN's boundary.npy ([1, w_dim], the first direction) or our directions .npz."""
    from .. import directions as dirs

    with writing(out, "--out"):
        if suffix == ".npy":
            dirs.save_boundary(out, directions.vectors[0])
        else:
            dirs.save_directions(out, directions)


def _paired_boundaries(network, which, names, pairs, steps, score_strength, layers, seed, name, out, suffix,
                       device):
    """boundary --method paired: identikit pairs projected into W (directions.paired_direction)."""
    import torch

    from .. import directions as dirs

    dev = pick_device(device)
    G = load_network(network, dev, which=which)
    if G.c_dim:
        fail("boundary --method paired supports unconditional networks only")
    rows = layers_option(G, layers, "--layers") if layers else None
    if network is not None:
        click.echo("warning: paired directions project identikit cartoon faces; they mean little unless this "
                   "network was trained on them like the built-in model", err=True)
    results = []  # (name, PairedDirection, score)
    for attr in names:
        with _bar(pairs * 2 * steps, f"{attr}: projecting pairs", "img-step") as bar:
            found = dirs.paired_direction(G, attr, pairs=pairs, steps=steps, first_seed=seed, progress=bar.update)
        try:
            effect = dirs.edit_effect(G, found.direction, [0.0, score_strength], layers=rows)
            gain = float(effect[attr][1] - effect[attr][0])
            before, after = float(effect[attr][0]), float(effect[attr][1])
        except (ImportError, FileNotFoundError) as e:
            click.echo(f"warning: no score: the attribute classifier is not available ({e})", err=True)
            gain = before = after = float("nan")
        results.append((name or attr, found, gain))
        click.echo(f"{name or attr}: {pairs} pairs, mean difference length {found.length:.3f} in W, consistency "
                   f"{found.consistency:.3f}; classifier p({attr}) on seeds 0-31 {before:.3f} -> {after:.3f} at "
                   f"strength {score_strength:g} (gain {gain:+.3f})")
    _write_directions(out, suffix, dirs.Directions(torch.stack([r.direction for _, r, _ in results]),
                                                   [n for n, _, _ in results],
                                                   dirs._layer_mask(G.num_ws, rows, len(results)),
                                                   torch.tensor([g for _, _, g in results])))
    click.echo(f"{len(results)} paired direction{'' if len(results) == 1 else 's'} -> {out}")


def _resolve_direction(spec, network, G):
    """(unit direction [w_dim], its own ws rows or None, name) from a file spec or a built-in name."""
    from .. import directions as dirs

    path, _ = dirs.parse_direction_spec(spec)
    is_file = Path(path).suffix.lower() in (".npz", ".npy") or Path(path).exists()
    if not is_file:
        if network is not None:
            fail(f"--direction {spec!r}: named directions belong to the built-in model; with --network give a "
                 f"directions file (FILE.npz[:INDEX] or boundary.npy)")
        if not dirs.BUILTIN_DIRECTIONS_FILE.is_file():
            fail(f"--direction {spec!r}: the built-in model's directions ({dirs.BUILTIN_DIRECTIONS_FILE.name}) are "
                 f"not installed; give a directions file")
        try:
            table = dirs.load_directions(dirs.BUILTIN_DIRECTIONS_FILE, G.w_dim)
            index = dirs.find_direction(table, spec)
        except ValueError as e:
            fail(f"--direction {spec!r} is not a file (.npz/.npy) nor a built-in direction: {e}")
        rows = table.layer_rows(index, G.num_ws) if table.layers is not None else None
        return table.vectors[index], rows, spec
    try:
        return dirs.load_direction(spec, G.w_dim, G.num_ws)
    except (OSError, ValueError) as e:
        fail(f"--direction: {e}")


def _photo_ws(G, photo, steps, dev, c=None):
    """--photo: the photo projected into W (project's defaults: offline loss unless $STYLEGAN_FAST_VGG16)."""
    from .project import project_photo

    result = project_photo(G, photo, dev, steps=steps, space="w", vgg16=None, loss="auto", proj_seed=0,
                           optimize_noise=True, c=c, what="--photo")
    click.echo(f"projected {photo} in {steps} steps ({result.loss_name} loss {result.losses[-1]:.4f})", err=True)
    return result.ws.to(dev)


@click.command(epilog="""\b
Examples:
  stylegan-fast edit --seed 24 --trunc 0.7 --direction grey_hair --strength 0:4:5 --scale 2 --out grey_hair.png
  stylegan-fast edit --seed 5 --trunc 0.7 --direction beard --strength 0:4:5 --scale 2 --out beard.png
  stylegan-fast edit --seed 7 --direction dirs.npz:0 --strength -5:5:11 --out edit.mp4
  stylegan-fast edit --w projected_w.npz --direction smile.npy --strength 0,2,4 --out smile.png --save-w smile.npz
  stylegan-fast edit --photo face.png --direction smile --out smile.gif
\b
Named directions (beard, smile, grey_hair, glasses) are the built-in model's; with --network give a file.
Strengths are distances in W (the directions are unit vectors).
""")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=None, help="The face: this seed (truncated).")
@click.option("--w", "w_file", type=click.Path(dir_okay=False), default=None,
              help="The face: ws from a latent file (.npz key 'w', e.g. a projection, or .npy).")
@click.option("--photo", type=click.Path(dir_okay=False), default=None,
              help="The face: a photo, projected into W first (see --steps).")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True, help="--photo: projection steps.")
@click.option("--direction", "direction_spec", required=True, metavar="FILE[:INDEX]|NAME",
              help="A directions file and index (dirs.npz:3), a boundary.npy, or a built-in direction name.")
@click.option("--strength", "strength_spec", default="-3:3:7", show_default=True,
              help="START:STOP:COUNT, a list (-2,0,2) or one number: distances along the direction.")
@click.option("--layers", default=None,
              help="ws rows to move: coarse, medium, fine, 0-3, ... [default: the direction's own rows when its "
                   "file has them, else all].")
@with_options(TRUNC_OPTIONS)
@CLASS_OPTION
@NOISE_MODE_OPTION
@click.option("--labels/--no-labels", "draw_labels", default=True, show_default=True,
              help="Strip: write each strength above its image.")
@click.option("--scale", type=click.IntRange(min=1, max=16), default=1, show_default=True,
              help="Enlarge images by this integer factor (nearest neighbour), for small models.")
@click.option("--w-frames", type=click.IntRange(min=1), default=12, show_default=True,
              help="Video: frames from one strength to the next (the video goes there and back, looping).")
@click.option("--fps", type=click.FloatRange(min=1), default=24, show_default=True, help="Video frame rate.")
@click.option("--out", type=click.Path(dir_okay=False), default="out/edit.png", show_default=True,
              help=".png: one strip, a face per strength; .mp4 or .gif: a video.")
@click.option("--save-w", type=click.Path(dir_okay=False), default=None,
              help="Also write the edited ws, one per strength (.npz key 'w' [K, num_ws, w_dim]).")
@DEVICE_OPTION
def edit(network, which, seed, w_file, photo, steps, direction_spec, strength_spec, layers, truncation_psi,
         truncation_cutoff, class_idx, noise_mode, draw_labels, scale, w_frames, fps, out, save_w, device):
    """One face moved along a direction in W: a strip of images or a video."""
    import torch

    from .. import directions as dirs
    from ..images import save_image
    from ..latents import load_ws, save_ws, z_from_seeds
    from ..video import upscale, video_writer, walk

    sources = [s for s in (seed is not None and "--seed", w_file and "--w", photo and "--photo") if s]
    if len(sources) != 1:
        raise click.UsageError("give exactly one face: --seed N, --w FILE or --photo FILE"
                               + (f" (got {' and '.join(sources)})" if sources else ""))
    try:
        strengths = dirs.parse_strengths(strength_spec)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--strength") from None
    suffix = Path(out).suffix.lower()
    if suffix not in (".png",) + VIDEO_SUFFIXES:
        raise click.BadParameter(f"{out!r}: use .png (a strip) or {' / '.join(VIDEO_SUFFIXES)} (a video)",
                                 param_hint="--out")
    is_video = suffix in VIDEO_SUFFIXES
    if is_video and len(strengths) < 2:
        raise click.BadParameter("a video needs at least two strengths, e.g. -3:3:7", param_hint="--strength")
    if save_w and not save_w.lower().endswith(".npz"):
        raise click.BadParameter(f"{save_w!r}: edited ws are written as .npz", param_hint="--save-w")
    check_writable(out, "--out")
    if save_w:
        check_writable(save_w, "--save-w")

    dev, G, truncation_psi, truncation_cutoff = style_network(network, which, device, "edit", truncation_psi,
                                                               truncation_cutoff, conditional=True)
    c = class_labels(G, class_idx, dev) if (seed is not None or photo) else None
    direction, own_rows, dname = _resolve_direction(direction_spec, network, G)
    rows = layers_option(G, layers, "--layers") if layers else own_rows
    if seed is not None:
        with torch.inference_mode():
            ws = G.mapping(z_from_seeds([seed], G.z_dim).to(dev), c, truncation_psi, truncation_cutoff)[0]
    elif w_file:
        try:
            ws = load_ws(w_file, G.num_ws, G.w_dim).to(dev)
        except (OSError, ValueError) as e:
            fail(f"--w: {e}")
    else:
        ws = _photo_ws(G, photo, steps, dev, c)
    ws = ws.detach().float()
    edited = dirs.move(ws, direction.to(dev), strengths, rows)  # [K, num_ws, w_dim]
    moved = "all ws" if rows is None else f"ws {','.join(map(str, rows))}"

    if not is_video:
        with _bar(len(strengths), "edit", "image") as bar:
            images = dirs.render_edits(G, edited, noise_mode, progress=bar.update)
        strip = dirs.edit_strip(images, strengths if draw_labels else None, scale)
        with writing(out, "--out"):
            save_image(strip, out)
        what = f"{len(strengths)} images"
    else:
        keys = torch.tensor(strengths + strengths[-2:0:-1], dtype=torch.float64)[:, None]  # there and back
        per_frame = walk(keys, w_frames, "linear", loop=True)[:, 0].tolist()
        res = G.img_resolution * scale
        with writing(out, "--out"), video_writer(out, fps, (res, res)) as append, \
                _bar(len(per_frame), "edit video", "frame") as bar:
            for start in range(0, len(per_frame), 16):
                frames = dirs.move(ws, direction.to(dev), per_frame[start:start + 16], rows)
                for frame in dirs.render_edits(G, frames, noise_mode):
                    append(upscale(frame, scale))
                bar.update(frames.shape[0])
        what = f"{len(per_frame)} frames ({len(per_frame) / fps:.1f}s at {fps:g} fps)"
    if save_w:
        with writing(save_w, "--save-w"):
            save_ws(save_w, edited)
    click.echo(f"{dname}: strengths {', '.join(dirs.strength_text(s) for s in strengths)} on {moved}: {what} -> {out}"
               + (f", edited ws -> {save_w}" if save_w else ""))
