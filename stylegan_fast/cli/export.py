"""``stylegan-fast export``: the generator as an ONNX file (for ONNX Runtime, TensorRT, ...)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from ..export import DEFAULT_OPSET, FORMATS, INPUT_KINDS
from .common import (CLASS_OPTION, NETWORK_OPTION, WHICH_OPTION, check_writable, fail, load_network,
                     parse_seeds_option, writing)

OTHER_RUNTIMES = "TensorRT, OpenVINO and most other runtimes read the ONNX file (e.g. trtexec --onnx=g.onnx)"


def parse_format(ctx, param, value):
    name = value.lower()
    if name not in FORMATS:
        raise click.BadParameter(f"{value!r} is not a format export writes; accepted: {', '.join(FORMATS)}. "
                                 f"{OTHER_RUNTIMES}")
    return name


def parse_batch(ctx, param, value):
    """'N' (an integer >= 1) or 'dynamic'."""
    text = str(value).strip().lower()
    if text == "dynamic":
        return text
    try:
        batch = int(text)
    except ValueError:
        batch = 0
    if batch < 1:
        raise click.BadParameter(f"{value!r}: give the batch size the graph takes (an integer >= 1) or 'dynamic' "
                                 f"(any batch size at run time)")
    return batch


@click.command("export", epilog="""\b
Examples:
  stylegan-fast export --format onnx --out g.onnx
  stylegan-fast export --network ffhq.pkl --out ffhq.onnx --batch dynamic
  stylegan-fast export --network ffhq.pkl --out ffhq_ws.onnx --input ws --batch 8

\b
Running it (the built-in model's z_dim is 128):
  python -c "import onnxruntime as ort, numpy as np; s = ort.InferenceSession('g.onnx'); print(s.run(None, \\
    {'z': np.random.randn(1, 128).astype('f4'), 'truncation_psi': np.array([0.7], 'f4')})[0].shape)"
""")
@click.option("--format", "fmt", default="onnx", show_default=True, callback=parse_format,
              help=f"Output format; accepted: {', '.join(FORMATS)}.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The file to write (e.g. g.onnx).")
@click.option("--batch", default="1", show_default=True, callback=parse_batch, metavar="N|dynamic",
              help="Images per call the graph takes: a fixed N, or 'dynamic' (any N at run time).")
@click.option("--input", "input_kind", type=click.Choice(INPUT_KINDS), default="z", show_default=True,
              help="z: inputs z [N, z_dim] (+ c [N, c_dim] for a class-conditional model) and truncation_psi [1]; "
                   "ws: input ws [N, num_ws, w_dim] (e.g. projected ws), no truncation.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset (18 or newer).")
@click.option("--trunc-cutoff", "truncation_cutoff", type=click.IntRange(min=1), default=None,
              help="--input z: truncate only the first N ws with the truncation_psi input [default: the model's "
                   "paper cutoff: all ws for StyleGAN2, 8 for StyleGAN1].")
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--device", type=click.Choice(["cpu"]), default="cpu", show_default=True,
              help="Where the export runs; the graph is the same for every device (run it on a GPU with your "
                   "runtime's GPU provider).")
@CLASS_OPTION
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the file in ONNX Runtime on --check-seeds and print the max abs difference from our "
                   "reference output (if onnxruntime is installed); exit status 1 above the tolerance.")
@click.option("--check-seeds", callback=parse_seeds_option, default="0-3", show_default=True,
              help="Seeds for --check (conditional models: class --class, else seed % classes).")
def export_cmd(fmt, out, batch, input_kind, opset, truncation_cutoff, network, which, device, class_idx, check,
               check_seeds):
    """Write the generator as an ONNX graph: z (+ c) and truncation_psi -> img, or ws -> img.

    The graph computes what G(z, c, truncation_psi, noise_mode="const") does: float32, standard
    ONNX operators only, noise maps stored as constants; output img [N, 3, H, W] nominally in
    [-1, 1], not clamped (as NVlabs' generators). The file's metadata_props give arch, resolution,
    z_dim, w_dim, num_ws, c_dim, input kind, batch and truncation cutoff. Weights over 2 GB would go
    to OUT.data beside OUT (ONNX external data; a 1024 px StyleGAN2 is about 120 MB).
    """
    import torch

    from ..export import CHECK_TOLERANCE, ExportDependencyError, check_dependencies, check_onnxruntime, export_onnx

    try:
        check_dependencies()
    except ExportDependencyError as e:
        fail(str(e))
    if input_kind == "ws" and truncation_cutoff is not None:
        raise click.BadParameter("applies to --input z only (ws come after truncation)", param_hint="--trunc-cutoff")
    check_writable(out, "--out")
    G = load_network(network, torch.device(device), "reference", which)
    if input_kind == "z" and truncation_cutoff is None:
        truncation_cutoff = G.paper_truncation[1]
        if truncation_cutoff is not None and truncation_cutoff < G.num_ws:
            click.echo(f"note: truncation_psi applies to the first {truncation_cutoff} of {G.num_ws} ws (the "
                       f"{G.arch} paper cutoff; --trunc-cutoff to change)", err=True)
    if G.c_dim:
        if class_idx is not None and class_idx >= G.c_dim:
            fail(f"--class {class_idx} out of range: this network has classes 0..{G.c_dim - 1}")
    elif class_idx is not None:
        click.echo("warning: --class ignored: this network is unconditional", err=True)

    click.echo(f"exporting {G.arch} {G.img_resolution}px (input {input_kind}, batch {batch}, opset {opset}) "
               f"to {out} ...", err=True)
    try:
        with writing(out, "--out"):
            info = export_onnx(G, out, batch=batch, input=input_kind, opset=opset,
                               truncation_cutoff=truncation_cutoff if input_kind == "z" else None)
    except ValueError as e:
        fail(str(e))
    except RuntimeError as e:
        fail(f"ONNX export failed: {e}")
    inputs = ", ".join(f"{name} [{', '.join(map(str, shape))}]" for name, shape in info.inputs)
    data = f" + weights in {info.data_path}" if info.data_path else ""
    click.echo(f"wrote {out}{data}: {info.bytes / 1e6:.1f} MB, opset {info.opset}, {info.nodes} nodes, "
               f"{info.export_s:.1f} s; inputs {inputs} -> img [{', '.join(map(str, info.output_shape))}]")

    if not check:
        return
    if importlib.util.find_spec("onnxruntime") is None:
        click.echo("note: onnxruntime is not installed, so the file was not checked (pip install onnxruntime, "
                   "then run export again or load the file in onnxruntime.InferenceSession)", err=True)
        return
    try:
        result = check_onnxruntime(G, Path(out), check_seeds, psis=(1.0, 0.5), class_idx=class_idx)
    except Exception as e:  # noqa: BLE001 - onnxruntime's errors (e.g. an opset newer than it knows) come in many types
        fail(f"onnxruntime could not run {out} for --check: {type(e).__name__}: {e} (the file is kept; "
             f"--no-check skips the check)")
    parts = ", ".join(f"psi {psi:g}: {d:.2e}" for psi, d in result.max_abs_diff.items())
    click.echo(f"check: ONNX Runtime vs stylegan_fast (reference backend) on {result.images} seeds, max abs "
               f"difference {parts} (max |img| {result.ref_abs_max:.2f}; tolerance {result.tolerance:.1e})")
    if not result.ok:
        fail(f"the ONNX file's images differ from ours by {result.worst:.3g} > {result.tolerance:.3g} "
             f"({CHECK_TOLERANCE:g} x max(1, max |img|)); {out} is kept for inspection")
