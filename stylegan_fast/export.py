"""The generator as an ONNX graph, for ONNX Runtime, TensorRT and other runtimes.

    from stylegan_fast.export import export_onnx
    info = export_onnx(G, "g.onnx", batch="dynamic")        # z [N, z_dim], truncation_psi [1] -> img
    info = export_onnx(G, "g_ws.onnx", input="ws")          # ws [N, num_ws, w_dim] -> img

The graph is what ``G(z, c, truncation_psi=psi, noise_mode="const")`` computes (or
``G.synthesis(ws, noise_mode="const")`` for ``input="ws"``), traced on the reference backend in
float32 on the CPU by ``torch.onnx.export(dynamo=True)``; standard ONNX operators only (domain
``ai.onnx``), checked with ``onnx.checker``.

Inputs, in this order:

* ``input="z"``: ``z`` float32 [N, z_dim]; ``c`` float32 [N, c_dim] (one-hot class labels, only for a
  class-conditional model); ``truncation_psi`` float32 [1]: the psi of every image of the call
  (1: no truncation). ``truncation_cutoff`` is fixed at export (None: every ws is truncated);
* ``input="ws"``: ``ws`` float32 [N, num_ws, w_dim] (e.g. a projection's ws), no truncation input.

N is fixed (``batch=N``; a runtime rejects another batch size) or free (``batch="dynamic"``).
Output ``img`` float32 [N, img_channels, H, W], nominally in [-1, 1] and not clamped, as NVlabs'
generators give it. Noise is ``noise_mode="const"``: each layer's stored noise map is a constant
of the graph, so the graph is deterministic (there is no random noise input).

The file's metadata_props say what it holds (:data:`METADATA_KEYS`: arch, resolution, z_dim, w_dim,
num_ws, c_dim, input, batch, truncation_cutoff, stylegan_fast_version, ...).

Size: one protobuf message is limited to 2 GiB. A 1024 px StyleGAN2 is about 120 MB (30M float32
parameters), far below; a model whose weights pass :data:`EXTERNAL_DATA_THRESHOLD` (or any model
with ``external_data=True``) is written as two files: the graph at ``path`` and all its weights in
``path + ".data"`` (ONNX external data, found by name beside the graph: keep the two together).

Needs the ``onnx`` and ``onnxscript`` packages (``pip install 'stylegan_fast[export]'``), which
``torch.onnx.export(dynamo=True)`` uses; running the file needs a runtime such as ``onnxruntime``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from .fileio import atomic_path, current_umask
from .version import __version__

FORMATS = ("onnx",)  # what ``stylegan-fast export --format`` accepts
INPUT_KINDS = ("z", "ws")
DEFAULT_OPSET = 18
MIN_OPSET = 18  # the dynamo exporter writes opset 18 or newer (it cannot convert its graph down to 17)
EXPORT_PACKAGES = ("onnx", "onnxscript")
INSTALL_HINT = "pip install 'stylegan_fast[export]'"
PROTOBUF_LIMIT = 2 ** 31  # bytes: the most one protobuf message (an ONNX file without external data) may hold
# Weights above this go to external data: the graph itself and the protobuf framing need some room too.
EXTERNAL_DATA_THRESHOLD = PROTOBUF_LIMIT - 2 ** 27
EXTERNAL_DATA_SUFFIX = ".data"
OUTPUT_NAME = "img"
METADATA_KEYS = ("stylegan_fast_version", "arch", "resolution", "img_channels", "z_dim", "w_dim", "num_ws", "c_dim",
                 "input", "batch", "truncation_cutoff", "paper_truncation_psi", "noise_mode", "output")
STANDARD_DOMAINS = ("", "ai.onnx")

_QUIET_LOGGERS = ("torch.onnx", "torch._export", "torch.export", "onnxscript")


class ExportDependencyError(ImportError):
    """The packages ONNX export needs (onnx, onnxscript) are not installed."""


@dataclasses.dataclass
class OnnxExport:
    """What :func:`export_onnx` wrote."""

    path: Path
    data_path: Optional[Path]  # the external data file, when the weights are not inside ``path``
    bytes: int  # on disk, both files together
    input: str
    batch: Union[int, str]
    opset: int
    inputs: list  # [(name, shape)] with "N" for a dynamic batch
    output_shape: list
    nodes: int
    export_s: float
    metadata: dict


def missing_packages() -> list[str]:
    """The packages of :data:`EXPORT_PACKAGES` that are not installed."""
    return [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]


def check_dependencies() -> None:
    """Raise :class:`ExportDependencyError` naming the missing packages and the pip command."""
    missing = missing_packages()
    if missing:
        raise ExportDependencyError(
            f"ONNX export needs the {' and '.join(EXPORT_PACKAGES)} packages (torch.onnx.export with dynamo=True "
            f"uses them); missing: {', '.join(missing)}. Install them with: {INSTALL_HINT}")


def check_options(batch, input: str, opset: int, truncation_cutoff) -> None:
    """ValueError naming the option and what is accepted, for anything :func:`export_onnx` cannot do."""
    if input not in INPUT_KINDS:
        raise ValueError(f"input must be one of {', '.join(INPUT_KINDS)}, got {input!r}")
    if batch != "dynamic" and not (isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1):
        raise ValueError(f"batch must be an integer >= 1 or 'dynamic', got {batch!r}")
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(f"opset must be an integer, got {opset!r}")
    newest = _newest_opset()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset {opset} is not supported: the exporter writes opsets {MIN_OPSET} to {newest} "
                         f"(the installed onnx package's newest)")
    if truncation_cutoff is not None:
        if input == "ws":
            raise ValueError("truncation_cutoff applies to the z input only: ws are given after truncation")
        if isinstance(truncation_cutoff, bool) or not isinstance(truncation_cutoff, int) or truncation_cutoff < 1:
            raise ValueError(f"truncation_cutoff must be None (every ws) or an integer >= 1, got "
                             f"{truncation_cutoff!r} (0 would leave the truncation_psi input without effect)")


def _newest_opset() -> int:
    try:
        import onnx.defs

        return int(onnx.defs.onnx_opset_version())
    except ImportError:
        return DEFAULT_OPSET


class _ZToImage(nn.Module):
    """z (+ c) and a psi tensor -> images: mapping without truncation, truncation with psi as a tensor (so
    it stays an input of the graph), synthesis with the stored noise."""

    def __init__(self, G, truncation_cutoff):
        super().__init__()
        self.G = G
        cutoff = truncation_cutoff
        self.cutoff = None if cutoff is None or cutoff >= G.num_ws else cutoff

    def truncate(self, ws, psi):
        # As MappingNetwork.forward: w_avg.lerp(ws, psi) on the first `cutoff` ws.
        w_avg = self.G.mapping.w_avg
        if self.cutoff is None:
            return w_avg.lerp(ws, psi)
        return torch.cat([w_avg.lerp(ws[:, :self.cutoff], psi), ws[:, self.cutoff:]], dim=1)

    def images(self, z, c, psi):
        ws = self.G.mapping(z, c, truncation_psi=1)  # psi 1: the mapping leaves ws untruncated
        return self.G.synthesis(self.truncate(ws, psi), noise_mode="const")


class _Unconditional(_ZToImage):
    def forward(self, z, truncation_psi):
        return self.images(z, None, truncation_psi)


class _Conditional(_ZToImage):
    def forward(self, z, c, truncation_psi):
        return self.images(z, c, truncation_psi)


class _WsToImage(nn.Module):
    def __init__(self, G):
        super().__init__()
        self.G = G

    def forward(self, ws):
        return self.G.synthesis(ws, noise_mode="const")


def _graph(G, input: str, batch, truncation_cutoff):
    """(module, example args, input names, input shapes, dynamic_shapes) of the graph to export."""
    n = 2 if batch == "dynamic" else batch  # torch.export specializes sizes 0 and 1: trace a dynamic batch with 2
    draw = torch.Generator().manual_seed(0)
    shape_n = "N" if batch == "dynamic" else batch
    if input == "ws":
        module = _WsToImage(G)
        args = (torch.randn([n, G.num_ws, G.w_dim], generator=draw),)
        names, shapes = ["ws"], [[shape_n, G.num_ws, G.w_dim]]
    else:
        z = torch.randn([n, G.z_dim], generator=draw)
        psi = torch.tensor([0.5])
        if G.c_dim:
            module = _Conditional(G, truncation_cutoff)
            c = torch.nn.functional.one_hot(torch.arange(n) % G.c_dim, G.c_dim).float()
            args, names = (z, c, psi), ["z", "c", "truncation_psi"]
            shapes = [[shape_n, G.z_dim], [shape_n, G.c_dim], [1]]
        else:
            module = _Unconditional(G, truncation_cutoff)
            args, names = (z, psi), ["z", "truncation_psi"]
            shapes = [[shape_n, G.z_dim], [1]]
    dynamic = None
    if batch == "dynamic":
        dim = torch.export.Dim("N", min=1)
        dynamic = tuple({0: dim} if name != "truncation_psi" else None for name in names)
    return module.eval(), args, names, shapes, dynamic


def _export_copy(G):
    """G itself when it is float32 on the CPU, else a float32 CPU copy (the graph is the same for every device;
    the fp16 blocks of a CUDA forward are float32 on the CPU, which is what the export should hold)."""
    tensors = list(G.parameters()) + list(G.buffers())
    if all(t.device.type == "cpu" and (not t.is_floating_point() or t.dtype == torch.float32) for t in tensors):
        return G
    return copy.deepcopy(G).to("cpu", torch.float32)


@contextlib.contextmanager
def _quiet():
    """Keep the exporter's progress lines, its warnings about optional packages (torchvision) and torch's
    deprecation warnings off the console; errors still raise."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def metadata(G, input: str, batch, truncation_cutoff) -> dict:
    """The metadata_props written into the file (all strings)."""
    cutoff = "" if input == "ws" else ("none" if truncation_cutoff is None else str(truncation_cutoff))
    shape = f"[{'N' if batch == 'dynamic' else batch}, {G.img_channels}, {G.img_resolution}, {G.img_resolution}]"
    props = dict(stylegan_fast_version=__version__, arch=G.arch, resolution=G.img_resolution,
                 img_channels=G.img_channels, z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws, c_dim=G.c_dim,
                 input=input, batch=batch, truncation_cutoff=cutoff, paper_truncation_psi=G.paper_truncation[0],
                 noise_mode="const",
                 output=f"{OUTPUT_NAME} float32 {shape}, nominally in [-1, 1], not clamped (as NVlabs' generators)")
    return {k: str(v) for k, v in props.items()}


def _check_standard(model, opset: int) -> None:
    """The graph holds standard ONNX operators only, at the opset asked for."""
    got = model.opset_imports.get("", None)
    if got != opset:
        raise RuntimeError(f"the exporter wrote opset {got}, not the {opset} asked for; use opset {got}")
    custom = sorted({f"{node.domain}::{node.op_type}" for node in model.graph.all_nodes()
                     if node.domain not in STANDARD_DOMAINS})
    if custom or len(model.functions):
        raise RuntimeError(f"the exported graph has operators outside standard ONNX: "
                           f"{', '.join(custom) or f'{len(model.functions)} local functions'}")


def _strip_debug_info(model) -> None:
    """Drop the exporter's per-node debug metadata (the Python stack trace with this machine's paths, the FX
    node, module names): most of a small graph's bytes, and nothing a runtime reads."""
    for node in model.graph.all_nodes():
        node.metadata_props.clear()
        for value in node.outputs:
            value.metadata_props.clear()
    for value in [*model.graph.inputs, *model.graph.outputs, *model.graph.initializers.values()]:
        value.metadata_props.clear()


def _weight_bytes(model) -> int:
    return sum(t.const_value.nbytes for t in model.graph.initializers.values() if t.const_value is not None)


def _save(model, path: Path, external_data: bool) -> Optional[Path]:
    """Write ``model`` (an onnx_ir Model) to ``path`` atomically and check the file with onnx.checker;
    the external data file's path, if any."""
    import onnx
    import onnx_ir as ir

    if not external_data:
        with atomic_path(path) as tmp:
            ir.save(model, tmp, format="protobuf")
            onnx.checker.check_model(str(tmp), full_check=True)
        return None
    # Graph and data are written in a temporary folder beside ``path`` under their final names (the graph
    # refers to the data file by name), checked there, then moved into place: data first, graph last.
    data_path = path.with_name(path.name + EXTERNAL_DATA_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        ir.save(model, tmp_dir / path.name, format="protobuf", external_data=data_path.name)
        onnx.checker.check_model(str(tmp_dir / path.name), full_check=True)
        umask = current_umask()
        for name in (data_path.name, path.name):
            os.chmod(tmp_dir / name, 0o666 & ~umask)
        os.replace(tmp_dir / data_path.name, data_path)
        os.replace(tmp_dir / path.name, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return data_path


def export_onnx(G, path, *, batch: Union[int, str] = 1, input: str = "z", opset: int = DEFAULT_OPSET,
                truncation_cutoff: Optional[int] = None, external_data: Optional[bool] = None) -> OnnxExport:
    """Write generator ``G`` as an ONNX graph to ``path`` (atomically); see the module docstring for the graph.

    batch: an integer (the graph takes exactly that many images) or "dynamic". input: "z" (z [+ c] and
    truncation_psi) or "ws". truncation_cutoff (input "z"): truncate only the first that many ws
    (None: all). external_data: None writes the weights into the graph file unless they pass
    :data:`EXTERNAL_DATA_THRESHOLD`; True / False force either layout.

    Raises :class:`ExportDependencyError` when onnx or onnxscript is missing, ValueError for an
    option it cannot honour, RuntimeError if the exporter fails or leaves non-standard operators.
    """
    check_dependencies()
    check_options(batch, input, opset, truncation_cutoff)
    from .backends import overriding

    path = Path(path)
    G_cpu = _export_copy(G)
    module, args, names, shapes, dynamic = _graph(G_cpu, input, batch, truncation_cutoff)
    start = time.perf_counter()
    with _quiet(), overriding("reference", "cpu"), torch.inference_mode(False), torch.no_grad():
        try:
            program = torch.onnx.export(module, args, None, dynamo=True, opset_version=opset, input_names=names,
                                        output_names=[OUTPUT_NAME], dynamic_shapes=dynamic, optimize=True,
                                        verbose=False, report=False)
        except Exception as e:  # the exporter's own errors come in many types
            raise RuntimeError(f"torch.onnx.export failed for this generator: {type(e).__name__}: {e}") from e
    model = program.model
    _check_standard(model, opset)
    _strip_debug_info(model)
    props = metadata(G_cpu, input, batch, truncation_cutoff)
    model.metadata_props.update(props)
    model.doc_string = (f"stylegan_fast {__version__}: {G_cpu.arch} {G_cpu.img_resolution}px generator, "
                        f"inputs {', '.join(names)} -> {OUTPUT_NAME}; noise_mode const")
    if external_data is None:
        external_data = _weight_bytes(model) > EXTERNAL_DATA_THRESHOLD
    data_path = _save(model, path, bool(external_data))
    export_s = time.perf_counter() - start
    size = path.stat().st_size + (data_path.stat().st_size if data_path else 0)
    out_shape = [shapes[0][0], G_cpu.img_channels, G_cpu.img_resolution, G_cpu.img_resolution]
    return OnnxExport(path=path, data_path=data_path, bytes=size, input=input, batch=batch, opset=opset,
                      inputs=list(zip(names, shapes)), output_shape=out_shape, nodes=len(model.graph),
                      export_s=export_s, metadata=props)


def read_metadata(path) -> dict:
    """The metadata_props of an ONNX file (without loading external weights)."""
    check_dependencies()
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


# Relative bound for :func:`check_onnxruntime` (as benchmarks/cpu_engines.py): max |ORT - ours| may be up to
# CHECK_TOLERANCE * max(1, max |ours|). Both are float32 with different summation orders; what they measure is
# about 1e-5 at order-1 values, so a wrong graph (a lost layer, psi or noise) is far above it.
CHECK_TOLERANCE = 1e-3


@dataclasses.dataclass
class OnnxCheck:
    """:func:`check_onnxruntime`'s comparison: per psi, the largest |ONNX Runtime - ours| over the images."""

    max_abs_diff: dict  # psi -> float
    ref_abs_max: float
    images: int
    tolerance: float

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())

    @property
    def ok(self) -> bool:
        return self.worst <= self.tolerance


def check_onnxruntime(G, path, seeds, psis=(1.0, 0.5), class_idx: Optional[int] = None) -> OnnxCheck:
    """Run the ONNX file at ``path`` in ONNX Runtime (CPU) on the z of ``seeds`` and compare with
    ``G(z, c, psi, cutoff, noise_mode="const")`` on the reference backend, for each psi.

    The file's metadata says its input kind, batch and cutoff: a ws graph gets ``G.mapping``'s ws for
    each psi; a fixed batch runs the seeds in chunks of that size (the last padded with repeats).
    Conditional models: class ``class_idx`` for every image, else seed % c_dim.
    Raises ImportError if onnxruntime is not installed.
    """
    import numpy as np
    import onnxruntime as ort

    from .backends import overriding
    from .latents import z_from_seeds

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    kind = meta.get("input", "z")
    cutoff_text = meta.get("truncation_cutoff", "none")
    cutoff = int(cutoff_text) if cutoff_text.isdigit() else None
    batch = int(meta["batch"]) if meta.get("batch", "dynamic").isdigit() else None
    names = [i.name for i in sess.get_inputs()]

    seeds = list(seeds)
    dev = G.device
    z = z_from_seeds(seeds, G.z_dim).to(dev, torch.float32)
    c = None
    if G.c_dim:
        labels = torch.tensor([class_idx if class_idx is not None else s % G.c_dim for s in seeds])
        c = torch.nn.functional.one_hot(labels, G.c_dim).to(dev, torch.float32)
    diffs, ref_max = {}, 0.0
    for psi in psis:
        with overriding("reference", dev), torch.no_grad():
            ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            ref = G.synthesis(ws, noise_mode="const").float().cpu().numpy()
        feeds_all = {"ws": ws.float().cpu().numpy()} if kind == "ws" else {"z": z.cpu().numpy()}
        if c is not None and "c" in names:
            feeds_all["c"] = c.cpu().numpy()
        step = batch or len(seeds)
        outs = []
        for start in range(0, len(seeds), step):
            rows = list(range(start, min(start + step, len(seeds))))
            rows += [rows[-1]] * (step - len(rows))  # pad a fixed batch's last chunk
            feeds = {k: np.ascontiguousarray(v[rows]) for k, v in feeds_all.items()}
            if "truncation_psi" in names:
                feeds["truncation_psi"] = np.array([psi], dtype=np.float32)
            outs.append(sess.run(None, feeds)[0][: min(step, len(seeds) - start)])
        out = np.concatenate(outs)
        if out.shape != ref.shape:
            raise RuntimeError(f"ONNX Runtime gave images of shape {list(out.shape)}, expected {list(ref.shape)}")
        diffs[psi] = float(np.abs(out.astype(np.float64) - ref).max())
        ref_max = max(ref_max, float(np.abs(ref).max()))
    return OnnxCheck(max_abs_diff=diffs, ref_abs_max=ref_max, images=len(seeds),
                     tolerance=CHECK_TOLERANCE * max(1.0, ref_max))
