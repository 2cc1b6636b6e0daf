"""Latent directions: their file format, the ``FILE:INDEX`` spec, and moving ws along one.

A directions file is what ``stylegan-fast directions`` and ``boundary`` write and ``edit``, ``serve``
and the Python API read:

- ``.npz`` with ``directions`` [K, w_dim] float32 (one unit vector per row), optionally ``names`` [K]
  (strings), ``layers`` [K, num_ws] bool (the ws rows a direction was found for, e.g. SeFa per layer
  group; absent means all rows) and ``scores`` [K] (explained variance, eigenvalue, held-out accuracy, or for
  paired directions the attribute classifier's mean probability gain of an edit, see ``paired_direction``).
- ``.npy`` [w_dim] or [1, w_dim] (InterFaceGAN's boundary.npy) or [K, w_dim].

Arrays only: pickled objects are refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np
import torch

from .fileio import atomic_path, read_arrays


@dataclass
class Directions:
    """K directions in W: ``vectors`` [K, w_dim] float32, unit length."""

    vectors: torch.Tensor
    names: list[str] = field(default_factory=list)
    layers: Optional[torch.Tensor] = None  # [K, num_ws] bool, or None: every ws row
    scores: Optional[torch.Tensor] = None  # [K] float

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] == 0:
            raise ValueError(f"directions must be [K, w_dim] with K >= 1, got shape {list(self.vectors.shape)}")
        if not self.names:
            self.names = [f"direction {i}" for i in range(len(self))]
        if len(self.names) != len(self):
            raise ValueError(f"{len(self.names)} names for {len(self)} directions")
        if self.layers is not None and (self.layers.ndim != 2 or self.layers.shape[0] != len(self)):
            raise ValueError(f"layers must be [K={len(self)}, num_ws], got shape {list(self.layers.shape)}")
        if self.scores is not None and self.scores.shape != (len(self),):
            raise ValueError(f"scores must be [K={len(self)}], got shape {list(self.scores.shape)}")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def w_dim(self) -> int:
        return self.vectors.shape[1]

    def layer_rows(self, index: int, num_ws: int) -> list[int]:
        """The ws rows direction ``index`` was found for (all rows when the file says nothing)."""
        if self.layers is None:
            return list(range(num_ws))
        if self.layers.shape[1] != num_ws:
            raise ValueError(f"the directions were found for a generator with num_ws={self.layers.shape[1]}, "
                             f"this one has num_ws={num_ws}")
        return [i for i in range(num_ws) if bool(self.layers[index, i])]


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Each row scaled to length 1 (a zero row is an error: it has no direction)."""
    norms = vectors.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a direction of length zero has no direction")
    return vectors / norms


def save_directions(path, directions: Directions) -> None:
    """Write ``directions`` as .npz (the format above), atomically."""
    arrays = {"directions": directions.vectors.detach().float().cpu().numpy(),
              "names": np.array(directions.names, dtype=np.str_)}
    if directions.layers is not None:
        arrays["layers"] = directions.layers.cpu().numpy().astype(bool)
    if directions.scores is not None:
        arrays["scores"] = directions.scores.detach().float().cpu().numpy()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def save_boundary(path, direction: torch.Tensor) -> None:
    """Write one direction as InterFaceGAN's boundary.npy: [1, w_dim] float32, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, direction.detach().float().cpu().numpy().reshape(1, -1))


def load_directions(path, w_dim: Optional[int] = None) -> Directions:
    """Read a directions file (.npz or .npy, see the module doc); ``w_dim`` checks it fits a generator."""
    path = Path(path)
    data = read_arrays(path, "directions file", "directions",
                       hint="expected directions [K, w_dim] as `stylegan-fast directions` writes")
    names, layers, scores = [], None, None
    if isinstance(data, dict):
        vectors = data["directions"]
        if "names" in data:
            names = [str(n) for n in data["names"]]
        if "layers" in data:
            layers = torch.from_numpy(np.array(data["layers"], dtype=bool))
        if "scores" in data:
            scores = torch.from_numpy(np.array(data["scores"], dtype=np.float32))
    else:
        vectors = data
    vectors = np.asarray(vectors)
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{path}: directions must be floating point, got {vectors.dtype}")
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"{path}: directions have shape {list(vectors.shape)}; expected [w_dim], [1, w_dim] "
                         f"or [K, w_dim]")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{path}: directions contain NaN or infinity")
    if w_dim is not None and vectors.shape[1] != w_dim:
        raise ValueError(f"{path}: directions are {vectors.shape[1]}-dimensional; this generator's w has "
                         f"w_dim={w_dim}")
    vectors = unit_rows(torch.from_numpy(np.array(vectors, dtype=np.float32)))
    return Directions(vectors, names, layers, scores)


def parse_direction_spec(spec: str) -> tuple[str, Optional[int]]:
    """'dirs.npz:3' -> ('dirs.npz', 3); 'smile.npy' -> ('smile.npy', None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head:
        return head, int(tail)
    if sep and head and not tail.isdigit() and head.lower().endswith((".npz", ".npy")):
        raise ValueError(f"bad direction {spec!r}: after ':' comes the index of a direction, e.g. {head}:0")
    return spec, None


def load_direction(spec: str, w_dim: Optional[int] = None, num_ws: Optional[int] = None
                   ) -> tuple[torch.Tensor, Optional[list[int]], str]:
    """One direction from ``FILE`` or ``FILE:INDEX``: (unit vector [w_dim], its ws rows or None, its name)."""
    path, index = parse_direction_spec(spec)
    directions = load_directions(path, w_dim)
    if index is None:
        if len(directions) > 1:
            raise ValueError(f"{path} holds {len(directions)} directions: pick one as {path}:INDEX "
                             f"(0..{len(directions) - 1})")
        index = 0
    if not 0 <= index < len(directions):
        raise ValueError(f"{path} holds {len(directions)} directions (0..{len(directions) - 1}); "
                         f"there is no direction {index}")
    rows = directions.layer_rows(index, num_ws) if (num_ws is not None and directions.layers is not None) else None
    return directions.vectors[index], rows, directions.names[index]


def move(ws: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float],
         layers: Optional[Sequence[int]] = None) -> torch.Tensor:
    """ws [num_ws, w_dim] moved along ``direction`` by each strength: [len(strengths), num_ws, w_dim].

    w' = w + strength * direction on the ws rows ``layers`` (all rows when None); the rest unchanged.
    """
    if ws.ndim != 2:
        raise ValueError(f"ws must be [num_ws, w_dim], got shape {list(ws.shape)}")
    if direction.shape != (ws.shape[1],):
        raise ValueError(f"the direction has shape {list(direction.shape)}; this generator's w needs "
                         f"[{ws.shape[1]}] (w_dim)")
    rows = list(range(ws.shape[0])) if layers is None else list(layers)
    bad = [i for i in rows if not 0 <= i < ws.shape[0]]
    if bad:
        raise ValueError(f"layer indices {bad} out of range: num_ws={ws.shape[0]}")
    s = torch.as_tensor(list(strengths), dtype=ws.dtype, device=ws.device)
    out = ws.unsqueeze(0).repeat(len(s), 1, 1)
    out[:, rows] += s.view(-1, 1, 1) * direction.to(ws.device, ws.dtype).view(1, 1, -1)
    return out


def parse_strengths(spec: str) -> list[float]:
    """'-3:3:7' -> 7 evenly spaced strengths from -3 to 3; '1.5' -> [1.5]; '-2,0,2' -> [-2, 0, 2]."""
    try:
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ValueError
            return [lo] if n == 1 else np.linspace(lo, hi, n).tolist()
        return [float(p) for p in spec.split(",")]
    except ValueError:
        raise ValueError(f"bad strengths {spec!r}: use START:STOP:COUNT (e.g. -3:3:7), a number, "
                         f"or a list like -2,0,2") from None


# ---------------------------------------------------------------------------------------------------------------
# Finding directions: PCA of w (GANSpace), closed-form factorization of the style affines (SeFa), and linear
# boundaries between labelled latents (InterFaceGAN).
# ---------------------------------------------------------------------------------------------------------------

def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Each row flipped, if needed, so that its largest-magnitude entry is positive (eigenvectors have no sign
    of their own; this makes files reproducible across LAPACK builds)."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(vectors.gather(1, idx))
    sign[sign == 0] = 1
    return vectors * sign


def _check_num(num: int, available: int, what: str) -> None:
    if not isinstance(num, int) or num < 1:
        raise ValueError(f"the number of directions must be a positive integer, got {num!r}")
    if num > available:
        raise ValueError(f"asked for {num} directions but {what} gives at most {available}")


def _layer_mask(num_ws: int, rows: Optional[Sequence[int]], k: int) -> Optional[torch.Tensor]:
    if rows is None:
        return None
    mask = torch.zeros([k, num_ws], dtype=torch.bool)
    mask[:, list(rows)] = True
    return mask


@torch.no_grad()
def sample_w(G, samples: int, seed: int = 0, c: Optional[torch.Tensor] = None, batch_size: int = 4096,
             progress=None) -> torch.Tensor:
    """w = mapping(z) for ``samples`` z ~ N(0, I) drawn from a torch generator seeded with ``seed``: [samples,
    w_dim] float32 on the CPU, without truncation. ``c`` [1 or samples, c_dim] for a conditional G."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if G.c_dim and c is None:
        raise ValueError(f"this generator is class-conditional ({G.c_dim} classes): pass c (one-hot labels)")
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, samples, batch_size):
        n = min(batch_size, samples - start)
        z = torch.randn([n, G.z_dim], generator=gen).to(G.device)
        cc = None
        if c is not None:
            cc = c.to(G.device, torch.float32)
            cc = cc.expand(n, -1) if cc.shape[0] == 1 else cc[start:start + n]
        out.append(G.mapping(z, cc)[:, 0].float().cpu())
        if progress is not None:
            progress(n)
    return torch.cat(out)


def pca_directions(G, num: int, samples: int = 20000, seed: int = 0, c: Optional[torch.Tensor] = None,
                   layers: Optional[Sequence[int]] = None, progress=None) -> Directions:
    """GANSpace: the top ``num`` principal axes of w = G.mapping(z) (no truncation), z ~ N(0, I).

    scores = the explained variance ratio of each axis. ``layers`` (ws rows) is only recorded in the result,
    so that ``edit`` moves those rows (GANSpace's layer-range edits); PCA itself does not depend on it.
    """
    _check_num(num, min(samples - 1, G.w_dim), f"PCA of {samples} samples in {G.w_dim}-dimensional W")
    w = sample_w(G, samples, seed, c, progress=progress).double()
    return pca_of(w, num, layers=layers, num_ws=G.num_ws)


def pca_of(w: torch.Tensor, num: int, layers: Optional[Sequence[int]] = None,
           num_ws: Optional[int] = None) -> Directions:
    """Principal axes of the rows of ``w`` [N, w_dim] (centred; SVD in float64), largest variance first."""
    w = w.double()
    _check_num(num, min(w.shape[0] - 1, w.shape[1]), f"PCA of {w.shape[0]} samples in {w.shape[1]} dimensions")
    centred = w - w.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    variance = s.square()
    ratio = variance / variance.sum()
    vectors = fix_signs(vh[:num]).float()
    names = [f"pca {i}" for i in range(num)]
    mask = _layer_mask(num_ws, layers, num) if layers is not None else None
    return Directions(vectors.contiguous(), names, mask, ratio[:num].float())


def style_affines(G) -> list[tuple[int, str, torch.Tensor, float]]:
    """Every affine layer that turns a ws row into styles: [(ws row, layer name, stored weight [out, w_dim],
    run-time gain)].

    StyleGAN2: each block's conv0/conv1 ``affine`` and its toRGB ``affine`` (toRGB takes the row after the
    block's last conv, which the next block's conv0 shares). StyleGAN1: each layer's AdaIN ``style`` dense layer
    (scale and shift outputs). The weights are the stored ones: the run-time equalized-lr gain (and toRGB's
    extra 1/sqrt(channels)) is the positive scalar per layer given with it, see ``sefa_directions`` for how it is handled.
    """
    out = []
    syn = G.synthesis
    if G.arch == "stylegan2":
        row = 0
        for block in syn.blocks():
            for k, name in enumerate(block.conv_names):
                layer = getattr(block, name)
                out.append((row + k, f"b{block.resolution}.{name}", layer.affine.weight,
                            layer.affine.weight_gain))
            torgb = block.torgb
            out.append((row + block.num_conv, f"b{block.resolution}.torgb", torgb.affine.weight,
                        torgb.affine.weight_gain * torgb.weight_gain))
            row += block.num_conv
    elif G.arch == "stylegan1":
        for i, name in enumerate(syn.layer_names):
            style = getattr(syn, name).style
            out.append((i, name, style.weight, style.weight_gain))
    else:  # pragma: no cover - GeneratorConfig refuses other archs
        raise ValueError(f"SeFa does not know the architecture {G.arch!r}")
    return out


def sefa_matrix(G, layers: Optional[Sequence[int]] = None, normalize: bool = True) -> torch.Tensor:
    """A [sum of style channels, w_dim] float64: the affine weights of the layers fed by the ws rows ``layers``
    (all when None), stacked; each row scaled to unit length when ``normalize`` (as the SeFa paper's code does),
    otherwise each layer's weight times its run-time gain (the weight the forward pass really applies)."""
    rows = set(range(G.num_ws) if layers is None else layers)
    bad = sorted(r for r in rows if not 0 <= r < G.num_ws)
    if bad:
        raise ValueError(f"layer indices {bad} out of range: this generator has num_ws={G.num_ws}")
    parts = [weight.detach().double().cpu() * gain for row, _, weight, gain in style_affines(G) if row in rows]
    if not parts:
        raise ValueError("no style layers selected")
    A = torch.cat(parts)
    if normalize:
        A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return A


def sefa_directions(G, num: int, layers: Optional[Sequence[int]] = None, normalize: bool = True) -> Directions:
    """SeFa (Shen & Zhou 2021): the top ``num`` eigenvectors of A^T A, A = the stacked style affine weights of
    the layers the ws rows ``layers`` feed (all layers when None); scores = the eigenvalues.

    The top direction n maximizes ||A n|| over unit vectors: moving w along it changes those layers' styles most.
    Equalized learning rate: the forward pass multiplies each stored affine weight by a positive scalar (1/sqrt
    (w_dim), and toRGB's styles by another 1/sqrt(channels)). With ``normalize`` (the default, as in SeFa) every
    row of A is scaled to unit length, which removes any per-layer scalar, so the gains do not matter; without
    it the gains are applied to each layer, so A is the matrix the network really uses.
    """
    _check_num(num, G.w_dim, f"a {G.w_dim}-dimensional W")
    A = sefa_matrix(G, layers, normalize)
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending
    values, vectors = values.flip(0)[:num], vectors.flip(1)[:, :num].T
    vectors = fix_signs(vectors).float().contiguous()
    names = [f"sefa {i}" for i in range(num)]
    return Directions(vectors, names, _layer_mask(G.num_ws, layers, num), values.float())


def sefa_per_group(G, num: int, normalize: bool = True) -> Directions:
    """SeFa separately for each layer group (coarse, medium, fine): ``num`` directions per non-empty group,
    named 'sefa coarse 0', ..., each recording the rows it is for."""
    parts = []
    for group, rows in G.layer_groups.items():
        if not rows:
            continue
        d = sefa_directions(G, num, rows, normalize)
        d.names = [f"sefa {group} {i}" for i in range(num)]
        parts.append(d)
    return Directions(torch.cat([d.vectors for d in parts]), sum((d.names for d in parts), []),
                      torch.cat([d.layers for d in parts]), torch.cat([d.scores for d in parts]))


class Boundary(NamedTuple):
    """A linear boundary in W: ``normal`` [w_dim] unit vector pointing to the positive class; ``accuracy`` on
    held-out latents (None when none were held out); ``offset``: normal . w + offset = 0 on the boundary;
    ``balanced_accuracy``: the held-out accuracy on each class, averaged (says more than ``accuracy`` when one
    class is rare)."""

    normal: torch.Tensor
    accuracy: Optional[float]
    train_accuracy: float
    offset: float
    num_train: int
    num_held_out: int
    balanced_accuracy: Optional[float] = None  # held out: the mean of the accuracies on each class


def binary_labels(labels) -> torch.Tensor:
    """Labels as bool [N]: bool, or 0/1, or scores thresholded at their median (above the median = True)."""
    y = torch.as_tensor(np.asarray(labels))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels must be one value per latent, [N], got shape {list(y.shape)}")
    if y.dtype == torch.bool:
        return y
    if not (y.dtype.is_floating_point or y.dtype in (torch.int8, torch.int16, torch.int32, torch.int64,
                                                     torch.uint8)):
        raise ValueError(f"labels must be bool, 0/1 or numeric scores, got {y.dtype}")
    y = y.double()
    if not bool(torch.isfinite(y).all()):
        raise ValueError("labels contain NaN or infinity")
    if bool(((y == 0) | (y == 1)).all()):
        return y == 1
    return y > y.median()


def _standardize(x: torch.Tensor):
    mu = x.mean(dim=0)
    sd = x.std(dim=0).clamp_min(1e-12)
    return mu, sd


def logistic_fit(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3, steps: int = 200, balanced: bool = False
                 ) -> tuple[torch.Tensor, float]:
    """L2-regularized logistic regression on standardized ``x`` [N, D] (float64), full-batch LBFGS.

    ``balanced``: weight each class's samples so that both classes count equally (for rare attributes).
    Returns (w [D], b) in the original coordinates: the decision function is x @ w + b.
    """
    x = x.double()
    t = y.double()
    weight = None
    if balanced:
        pos = float(t.mean())
        weight = torch.where(y.bool(), 0.5 / max(pos, 1e-12), 0.5 / max(1 - pos, 1e-12)).double()
    mu, sd = _standardize(x)
    xs = (x - mu) / sd
    beta = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([beta], lr=1, max_iter=steps, tolerance_grad=1e-10, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = xs @ beta[:-1] + beta[-1]
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, t, weight=weight)
                + 0.5 * l2 * beta[:-1].square().sum())
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    beta = beta.detach()
    w = beta[:-1] / sd
    b = float(beta[-1] - (mu * w).sum())
    return w, b


def _accuracies(scores: torch.Tensor, labels: torch.Tensor) -> tuple[Optional[float], Optional[float]]:
    """(accuracy, balanced accuracy) of the decisions ``scores > 0`` against bool ``labels`` (None if empty)."""
    if len(labels) == 0:
        return None, None
    right = (scores > 0) == labels
    per_class = [float(right[labels == v].double().mean()) for v in (False, True) if bool((labels == v).any())]
    return float(right.double().mean()), sum(per_class) / len(per_class)


def _split(n: int, held_out: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not 0 <= held_out < 1:
        raise ValueError(f"held_out must be a fraction in [0, 1), got {held_out}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * held_out))
    return perm[n_test:], perm[:n_test]


def latent_rows(ws: torch.Tensor, row: Union[int, str, None] = None) -> torch.Tensor:
    """[N, w_dim] from w [N, w_dim] or ws [N, num_ws, w_dim]: ws row ``row``, or 'mean' of the rows; None = row 0."""
    ws = torch.as_tensor(ws)
    if ws.ndim == 2:
        return ws
    if ws.ndim != 3:
        raise ValueError(f"latents must be w [N, w_dim] or ws [N, num_ws, w_dim], got shape {list(ws.shape)}")
    if row == "mean":
        return ws.mean(dim=1)
    row = 0 if row is None else int(row)
    if not 0 <= row < ws.shape[1]:
        raise ValueError(f"ws row {row} out of range: the latents have num_ws={ws.shape[1]} (0..{ws.shape[1] - 1})")
    return ws[:, row]


def fit_boundary(ws_or_w, labels, held_out: float = 0.2, seed: int = 0, row: Union[int, str, None] = None,
                 l2: float = 1e-3) -> Boundary:
    """InterFaceGAN: a linear boundary in W between latents with and without an attribute.

    ``ws_or_w``: w [N, w_dim] or ws [N, num_ws, w_dim] (``row`` picks the ws row, default 0, or 'mean');
    ``labels`` [N]: bool, 0/1, or scores (thresholded at their median). A seeded ``held_out`` fraction is kept
    out of the fit and scores it. Logistic regression (few lines of torch, LBFGS) on standardized inputs; the
    returned normal is the hyperplane's unit normal in W itself, pointing towards the positive labels.
    """
    x = latent_rows(ws_or_w, row).double()
    y = binary_labels(labels)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} latents but {y.shape[0]} labels: give one label per latent")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("latents contain NaN or infinity")
    train, test = _split(x.shape[0], held_out, seed)
    ytr = y[train]
    if bool(ytr.all()) or not bool(ytr.any()):
        raise ValueError(f"the labels (of the {len(train)} latents fitted) are all "
                         f"{'positive' if bool(ytr.all()) else 'negative'}: a boundary needs both")
    w, b = logistic_fit(x[train], ytr, l2=l2)
    norm = float(w.norm())
    if norm == 0:
        raise ValueError("the fit found no direction (the latents do not depend on the labels)")

    acc, balanced = _accuracies(x[test] @ w + b, y[test])
    return Boundary((w / norm).float(), acc, _accuracies(x[train] @ w + b, ytr)[0], b / norm, len(train), len(test),
                    balanced)


# ---------------------------------------------------------------------------------------------------------------
# Attribute boundaries of a generator, labelled by the attribute classifier (stylegan_fast.attribute_classifier).
# ---------------------------------------------------------------------------------------------------------------

# The built-in model's directions: beard, glasses, smile, grey_hair. beard is a paired direction on ws rows 3-4
# (``stylegan-fast boundary --attribute beard --method paired --pairs 48 --steps 80 --layers 3-4``); glasses,
# smile and grey_hair are classifier boundaries on every row (``stylegan-fast boundary --attribute all --samples
# 12000 --trunc 0.7``; paired ones were no better for them). scores: for every direction, the classifier's mean
# probability gain of its attribute on faces of seeds 0-31 (psi 0.7) moved by strength 3 (``edit_effect``).
BUILTIN_DIRECTIONS_FILE = Path(__file__).with_name("data") / "demo_faces_64_directions.npz"


class AttributeBoundary(NamedTuple):
    """An attribute's boundary: ``boundary`` (see Boundary; its accuracy is on every held-out sample, labelled
    by the classifier at p > 0.5), ``positive_rate``: the share of all samples the classifier calls positive."""

    attribute: str
    boundary: Boundary
    positive_rate: float


@torch.no_grad()
def attribute_scores(G, samples: int = 4000, seed: int = 0, truncation_psi: float = 1.0, classifier=None,
                     batch_size: int = 64, noise_mode: str = "const", progress=None
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sample ``samples`` faces (z from a torch generator seeded with ``seed``, truncated with ``truncation_psi``),
    render them and let the attribute classifier label them: (w [N, w_dim] as rendered, {attribute: p [N]})."""
    from . import attribute_classifier

    if G.c_dim:
        raise ValueError("attribute boundaries need an unconditional generator")
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    model = attribute_classifier.load_default(device=G.device) if classifier is None else classifier
    gen = torch.Generator().manual_seed(seed)
    ws, probs = [], {}
    for start in range(0, samples, batch_size):
        n = min(batch_size, samples - start)
        z = torch.randn([n, G.z_dim], generator=gen).to(G.device)
        w = G.mapping(z, None, truncation_psi)
        p = attribute_classifier.predict(model, G.synthesis(w, noise_mode=noise_mode))
        ws.append(w[:, 0].float().cpu())
        for name, value in p.items():
            probs.setdefault(name, []).append(value.detach().float().cpu())
        if progress is not None:
            progress(n)
    return torch.cat(ws), {name: torch.cat(v) for name, v in probs.items()}


def boundary_from_scores(w: torch.Tensor, p: torch.Tensor, held_out: float = 0.2, seed: int = 0,
                         keep: float = 1.0, l2: float = 1e-3, balanced: bool = True) -> Boundary:
    """Fit a boundary to classifier probabilities ``p`` [N] of latents ``w`` [N, w_dim].

    A seeded ``held_out`` share is set aside first. Of the rest, the ``keep`` share with the most confident
    scores is fitted (half the most positive, half the most negative, as InterFaceGAN does; keep=1: all, label
    p > 0.5). ``balanced``: both classes weigh the same in the fit (a rare attribute still shapes the normal).
    The accuracy is measured on every held-out sample (label p > 0.5), not only confident ones.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
    if w.shape[0] != p.shape[0]:
        raise ValueError(f"{w.shape[0]} latents but {p.shape[0]} scores")
    train, test = _split(w.shape[0], held_out, seed)
    y = p > 0.5
    if keep < 1:
        order = train[torch.argsort(p[train])]
        k = max(1, int(round(len(train) * keep / 2)))
        fit_idx = torch.cat([order[:k], order[-k:]])
        fit_y = torch.cat([torch.zeros(k, dtype=torch.bool), torch.ones(k, dtype=torch.bool)])
    else:
        fit_idx, fit_y = train, y[train]
    if bool(fit_y.all()) or not bool(fit_y.any()):
        raise ValueError(f"the classifier calls all {len(fit_idx)} fitted samples "
                         f"{'positive' if bool(fit_y.all()) else 'negative'}: sample more faces")
    x = w.double()
    wv, b = logistic_fit(x[fit_idx], fit_y, l2=l2, balanced=balanced)
    norm = float(wv.norm())
    if keep < 1 and not (bool(y[train].all()) or not bool(y[train].any())):
        # balanced extremes put the threshold midway between them: place it again along the fitted normal,
        # with every training sample (the direction stays the one the confident samples gave)
        scale, bias = logistic_fit((x[train] @ wv)[:, None] / norm, y[train], l2=0.0)
        if float(scale[0]) > 0:
            b = float(bias) / float(scale[0]) * norm

    acc, balanced_acc = _accuracies(x[test] @ wv + b, y[test])
    return Boundary((wv / norm).float(), acc, _accuracies(x[fit_idx] @ wv + b, fit_y)[0], b / norm,
                    len(fit_idx), len(test), balanced_acc)


def attribute_boundary(G, attribute: str, samples: int = 4000, seed: int = 0, truncation_psi: float = 1.0,
                       held_out: float = 0.2, keep: float = 1.0, classifier=None, progress=None
                       ) -> AttributeBoundary:
    """InterFaceGAN with the attribute classifier as labeller: sample, render, label, fit (see attribute_scores
    and boundary_from_scores)."""
    from .attribute_classifier import ATTRIBUTES

    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; the classifier knows: {', '.join(ATTRIBUTES)}")
    w, probs = attribute_scores(G, samples, seed, truncation_psi, classifier, progress=progress)
    p = probs[attribute]
    return AttributeBoundary(attribute, boundary_from_scores(w, p, held_out, seed, keep),
                             float((p > 0.5).double().mean()))


# ---------------------------------------------------------------------------------------------------------------
# Paired directions: the identikit draws the same face with and without an attribute (exact labels); both
# drawings are projected into W and the mean difference w_with - w_without is the direction.
# ---------------------------------------------------------------------------------------------------------------

PAIRED_ATTRIBUTES = ("beard", "glasses", "smile", "grey_hair")
_GREYS = ((150, 150, 150), (235, 235, 235))  # the identikit's grey and white hair colours


def _is_grey(color) -> bool:
    return max(color) - min(color) < 30 and min(color) >= 125


def paired_attributes(attribute: str, seed: int) -> Optional[tuple[dict, dict]]:
    """Identikit face ``seed`` drawn without and with ``attribute``, everything else the same: (attrs without,
    attrs with), or None when the face does not suit the attribute (grey hair: a bald or already grey face, or
    one with a beard, which would grey with the hair).

    beard: none vs full (beard colour = hair colour); glasses: none vs round; smile: a neutral mouth vs a closed
    smile (curve 0.55..1); grey_hair: the face's own hair colour vs the grey or white of the identikit's palette.
    """
    from .train import identikit

    if attribute not in PAIRED_ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; paired directions know: {', '.join(PAIRED_ATTRIBUTES)}")
    base = identikit.sample_attributes(int(seed))
    rng = np.random.default_rng([int(seed), 7919])
    without, with_ = dict(base), dict(base)
    if attribute == "beard":
        without["beard"] = "none"
        with_["beard"], with_["beard_color"] = "full", base["hair_color"]
    elif attribute == "glasses":
        without["glasses"] = "none"
        with_["glasses"] = "round"
    elif attribute == "smile":
        without.update(expression="neutral", mouth_curve=float(rng.uniform(-0.1, 0.1)), mouth_open=False)
        with_.update(expression="smile", mouth_curve=float(rng.uniform(0.55, 1.0)), mouth_open=False)
    else:
        if base["hair_style"] == "bald" or _is_grey(base["hair_color"]) or base["beard"] != "none":
            return None
        grey = _GREYS[int(rng.integers(2))]
        jitter = rng.integers(-8, 9, size=3)
        with_["hair_color"] = tuple(int(min(255, max(0, c + int(e)))) for c, e in zip(grey, jitter))
        with_["beard_color"] = with_["hair_color"]
    return without, with_


def paired_images(attribute: str, pairs: int, first_seed: int = 0, size: int = 64
                  ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``pairs`` identikit faces without and with ``attribute`` (see paired_attributes), from seed
    ``first_seed`` on, skipping faces that do not suit it: (uint8 [pairs, size, size, 3] without, the same with,
    the seeds used)."""
    from .train import identikit

    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    without, with_, seeds = [], [], []
    seed = int(first_seed)
    while len(seeds) < pairs:
        pair = paired_attributes(attribute, seed)
        if pair is not None:
            without.append(identikit.render_face(pair[0], size))
            with_.append(identikit.render_face(pair[1], size))
            seeds.append(seed)
        seed += 1
    return np.stack(without), np.stack(with_), seeds


def project_w_batch(G, targets: torch.Tensor, steps: int = 100, lr: float = 0.1, progress=None,
                    init: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Project a batch of target images into W at once: w [N, w_dim] (one w for every ws row) such that
    ``G.synthesis`` renders each target.

    targets: float [N, 3, R, R] in [-1, 1] at G's resolution. Every w starts at ``init`` [N, w_dim] (default
    ``G.mapping.w_avg``); Adam with
    the learning rate ramped up over the first 5% of the steps and down (cosine) over the last 25%, on the
    offline pixel + Laplacian-pyramid distance (``projection.offline_distance``); noise maps fixed ('const').
    The same deterministic schedule for every target, so two targets that differ only in one detail end at
    nearby w's whose difference is that detail. ``progress(step)`` is called after every step.
    """
    from .projection import lr_ramp, offline_distance

    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    R = G.img_resolution
    if targets.ndim != 4 or targets.shape[1] != 3 or tuple(targets.shape[2:]) != (R, R):
        raise ValueError(f"targets must be [N, 3, {R}, {R}] in [-1, 1], got shape {list(targets.shape)}")
    targets = targets.detach().float().to(G.device)
    w_avg = G.mapping.w_avg.detach().float().to(G.device)
    with torch.inference_mode(False), torch.enable_grad():
        if init is None:
            w = w_avg.reshape(1, -1).repeat(targets.shape[0], 1)
        else:
            if tuple(init.shape) != (targets.shape[0], G.w_dim):
                raise ValueError(f"init must be [{targets.shape[0]}, {G.w_dim}] (one w per target), got shape "
                                 f"{list(init.shape)}")
            w = init.detach().float().to(G.device)
        w = w.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], betas=(0.9, 0.999), lr=lr)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * lr_ramp(step / steps)
            image = G.synthesis(w[:, None].expand(-1, G.num_ws, -1), noise_mode="const")
            loss = offline_distance(image, targets).sum()
            grad, = torch.autograd.grad(loss, [w])
            w.grad = grad
            opt.step()
            if progress is not None:
                progress(1)
    return w.detach().float().cpu()


class PairedDirection(NamedTuple):
    """A paired direction: ``direction`` (unit [w_dim]), ``length``: the mean difference's length in W (the
    strength at which an edit adds the attribute as the pairs did), ``consistency``: the mean cosine between
    each pair's difference and the direction, ``seeds``: the identikit faces used."""

    attribute: str
    direction: torch.Tensor
    length: float
    consistency: float
    seeds: list


def paired_direction(G, attribute: str, pairs: int = 48, steps: int = 100, first_seed: int = 0,
                     batch_size: int = 32, progress=None) -> PairedDirection:
    """The direction of ``attribute`` in W from exact labels: ``pairs`` identikit faces drawn without and with
    it (``paired_images``), both projected into W (``project_w_batch``, ``steps`` steps), and the differences
    w_with - w_without averaged and normalized. Meant for the built-in model (trained on identikit faces);
    ``progress(n)`` counts projection steps times images."""
    if G.c_dim:
        raise ValueError("paired directions need an unconditional generator")
    without, with_, seeds = paired_images(attribute, pairs, first_seed, G.img_resolution)
    from .train.identikit import to_tensor

    diffs = []
    for start in range(0, pairs, max(1, batch_size // 2)):
        stop = min(pairs, start + max(1, batch_size // 2))
        both = to_tensor(np.concatenate([without[start:stop], with_[start:stop]]))
        w = project_w_batch(G, both, steps, progress=None if progress is None
                            else (lambda n, k=both.shape[0]: progress(n * k)))
        diffs.append(w[stop - start:] - w[:stop - start])
    d = torch.cat(diffs).double()
    mean = d.mean(dim=0)
    length = float(mean.norm())
    if length == 0:
        raise ValueError("the pairs' projections do not differ: no direction")
    unit = mean / length
    consistency = float((d @ unit / d.norm(dim=1).clamp_min(1e-12)).mean())
    return PairedDirection(attribute, unit.float(), length, consistency, seeds)


@torch.no_grad()
def edit_effect(G, direction: torch.Tensor, strengths: Sequence[float], seeds: Sequence[int] = range(32),
                truncation_psi: float = 0.7, layers: Optional[Sequence[int]] = None, classifier=None,
                noise_mode: str = "const") -> dict[str, torch.Tensor]:
    """How an edit changes the attribute classifier's view: faces ``seeds`` (NVlabs seeds, truncated) moved by
    each strength along ``direction`` (on ws rows ``layers``); {attribute: mean probability [len(strengths)]}."""
    from . import attribute_classifier
    from .latents import z_from_seeds

    model = attribute_classifier.load_default(device=G.device) if classifier is None else classifier
    z = z_from_seeds(list(seeds), G.z_dim).to(G.device)
    ws = G.mapping(z, None, truncation_psi).float()
    out: dict[str, list] = {}
    for s in strengths:
        moved = torch.cat([move(w, direction.to(ws.device), [s], layers) for w in ws])
        p = attribute_classifier.predict(model, G.synthesis(moved, noise_mode=noise_mode))
        for name, value in p.items():
            out.setdefault(name, []).append(float(value.float().mean()))
    return {name: torch.tensor(v) for name, v in out.items()}


def find_direction(directions: Directions, name: str) -> int:
    """The index of the direction called ``name`` (an error listing the names otherwise)."""
    if name not in directions.names:
        raise ValueError(f"no direction named {name!r}; the file has: {', '.join(directions.names)}")
    return directions.names.index(name)


def builtin_direction_names() -> list[str]:
    """Names of the built-in model's directions (empty when the file is not installed)."""
    if not BUILTIN_DIRECTIONS_FILE.is_file():
        return []
    return load_directions(BUILTIN_DIRECTIONS_FILE).names


# ---------------------------------------------------------------------------------------------------------------
# Edit strips: one face along a direction, with the strengths written above it in a 3x5 pixel font.
# ---------------------------------------------------------------------------------------------------------------

_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    "-": ("000", "000", "111", "000", "000"), "+": ("000", "010", "111", "010", "000"),
    ".": ("0", "0", "0", "0", "1"),
}


def strength_text(s: float) -> str:
    text = f"{s:+.3g}"
    return "0" if float(text) == 0 else text


def text_bitmap(text: str) -> Optional[np.ndarray]:
    """``text`` as a bool [5, width] bitmap (one column between characters), None if a character has no glyph."""
    if any(ch not in _GLYPHS for ch in text):
        return None
    cols = []
    for i, ch in enumerate(text):
        glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[ch]])
        if i:
            cols.append(np.zeros([5, 1], dtype=bool))
        cols.append(glyph)
    return np.concatenate(cols, axis=1)


def label_band(texts: Sequence[str], tile: int, channels: int = 3) -> Optional[np.ndarray]:
    """A uint8 [band, len(texts) * tile, channels] band with each text centred over its tile, or None when a text
    does not fit a tile (or has a character without a glyph)."""
    bitmaps = [text_bitmap(t) for t in texts]
    if any(b is None for b in bitmaps):
        return None
    widest = max(b.shape[1] for b in bitmaps)
    scale = min(max(1, tile // 32), (tile - 2) // widest) if widest else 1
    if scale < 1:
        return None
    pad = max(1, scale)
    band = np.zeros([5 * scale + 2 * pad, len(texts) * tile, channels], dtype=np.uint8)
    for i, b in enumerate(bitmaps):
        big = b.repeat(scale, axis=0).repeat(scale, axis=1)
        x0 = i * tile + (tile - big.shape[1]) // 2
        band[pad:pad + big.shape[0], x0:x0 + big.shape[1]][big] = 230
    if channels == 4:
        band[..., 3] = 255
    return band


@torch.no_grad()
def render_edits(G, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 16, progress=None) -> np.ndarray:
    """ws [K, num_ws, w_dim] -> uint8 images [K, H, W, C], rendered in batches."""
    from .images import to_uint8

    out = []
    for start in range(0, ws.shape[0], batch_size):
        chunk = ws[start:start + batch_size]
        out.append(to_uint8(G.synthesis(chunk, noise_mode=noise_mode)).cpu().numpy())
        if progress is not None:
            progress(chunk.shape[0])
    return np.concatenate(out)


def edit_strip(images: np.ndarray, strengths: Optional[Sequence[float]] = None, scale: int = 1) -> np.ndarray:
    """Images [K, H, W, C] side by side ([H*scale, K*W*scale, C]), with a band of the ``strengths`` above them
    when given (and when they fit the tiles)."""
    from .video import upscale

    strip = upscale(np.concatenate(list(images), axis=1), scale)
    if strengths is not None:
        band = label_band([strength_text(s) for s in strengths], images.shape[2] * scale, strip.shape[2])
        if band is not None:
            strip = np.concatenate([band, strip], axis=0)
    return strip
