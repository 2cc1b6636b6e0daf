"""A small classifier that labels the built-in demo model's faces: beard, glasses, smile, grey hair.

The demo model (``models.default_model()``) was trained on procedural identikit faces
(``train/identikit.py``). The identikit knows which attributes it drew, so a classifier trained on
(face, attributes) pairs can label any face in that style, the generator's included; the labels give
the built-in model its edit directions (``stylegan-fast boundary``). Its weights ship as
``stylegan_fast/data/identikit_attributes_64.safetensors``; ``python -m
stylegan_fast.train.attribute_classifier`` retrains them (docs/attribute_classifier.md).

    from stylegan_fast import attribute_classifier as ac
    model = ac.load_default()
    probs = ac.predict(model, images)     # images [N, 3, H, W] in [-1, 1] -> {"beard": [N], ...}

What each label means (on the identikit's own attributes, see ``train.attribute_classifier.labels``):
    beard      a beard is drawn, stubble or full
    glasses    glasses are drawn (round or square frames)
    smile      the expression is a smile (mouth curving up, open or closed)
    grey_hair  the hair is grey or white, and there is hair (not bald)

The file is safetensors: the weights (stored as float16, run in float32) and, in the metadata, ``format``,
``format_version``, ``config`` (JSON: width, resolution, attributes) and ``report`` (JSON: held-out figures).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ATTRIBUTES = ("beard", "glasses", "smile", "grey_hair")
RESOLUTION = 64
DEFAULT_FILE = Path(__file__).with_name("data") / "identikit_attributes_64.safetensors"
FORMAT_NAME = "stylegan_fast.attribute_classifier"
FORMAT_VERSION = "1"
_CHUNK = 256  # images per forward pass in predict()


class AttributeClassifier(nn.Module):
    """[N, 3, resolution, resolution] in [-1, 1] -> logits [N, len(attributes)], one binary head each.

    Six 3x3 convolutions (GroupNorm, SiLU; 64 -> 32 -> 16 -> 8 px), mean and max pooled over the image,
    then a small MLP with one output per attribute. GroupNorm keeps every image's result independent of
    the others in its batch."""

    def __init__(self, width: int = 24, attributes=ATTRIBUTES, resolution: int = RESOLUTION):
        super().__init__()
        if width < 8 or width % 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        self.width = int(width)
        self.attributes = tuple(attributes)
        self.resolution = int(resolution)
        w = self.width
        plan = [(3, w, 2), (w, w, 1), (w, 2 * w, 2), (2 * w, 2 * w, 1), (2 * w, 4 * w, 2), (4 * w, 4 * w, 1)]
        layers = []
        for cin, cout, stride in plan:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(8 * w, 4 * w), nn.SiLU(), nn.Linear(4 * w, len(self.attributes)))

    def config(self) -> dict:
        return {"width": self.width, "attributes": list(self.attributes), "resolution": self.resolution}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.features(images)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def check_images(images) -> None:
    """Raise a ValueError naming the problem unless ``images`` is a float tensor [N, 3, H, H]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor [N, 3, H, W] in [-1, 1], got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must be [N, 3, H, W] (4 dimensions), got shape {list(images.shape)}")
    if images.shape[1] != 3:
        raise ValueError(f"images must have 3 colour channels (RGB) in dimension 1, got shape "
                         f"{list(images.shape)}")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be square (H = W), got {images.shape[2]}x{images.shape[3]}")
    if images.shape[2] < 8:
        raise ValueError(f"images must be at least 8x8 pixels, got {images.shape[2]}x{images.shape[3]}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [-1, 1], got dtype {images.dtype} "
                         f"(convert uint8 pictures with x / 127.5 - 1)")


def resize(images: torch.Tensor, resolution: int = RESOLUTION) -> torch.Tensor:
    """Square images to ``resolution`` (bilinear with antialiasing; unchanged if already that size)."""
    if images.shape[-1] == resolution:
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False,
                         antialias=True)


@torch.no_grad()
def predict(model: AttributeClassifier, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per attribute, the probability [N] that each face has it (float32, on the images' device).

    ``images``: float [N, 3, H, W] in [-1, 1], any square size (resized to the classifier's 64x64)."""
    check_images(images)
    param = next(model.parameters())
    out = []
    for chunk in images.split(_CHUNK):
        x = resize(chunk.to(device=param.device, dtype=torch.float32), model.resolution)
        out.append(torch.sigmoid(model(x)).to(images.device))
    probs = torch.cat(out) if out else torch.zeros(0, len(model.attributes), device=images.device)
    return {name: probs[:, i].contiguous() for i, name in enumerate(model.attributes)}


def save(model: AttributeClassifier, path, report: dict | None = None) -> None:
    """Write ``model`` to ``path`` atomically as safetensors (float16 weights, config in the metadata)."""
    from safetensors.torch import save_file

    from .fileio import atomic_path
    from .version import __version__

    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": json.dumps(model.config()),
                "report": json.dumps(report or {}), "stylegan_fast_version": __version__}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)  # atomic_path gives it the usual permissions


def read_metadata(path) -> dict:
    """The metadata of a classifier file (``config`` and ``report`` decoded from JSON)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attribute classifier file {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
    except SafetensorError as e:
        raise ValueError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not an attribute classifier (metadata 'format' is "
                         f"{metadata.get('format')!r}, expected {FORMAT_NAME!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {metadata.get('format_version')!r}; "
                         f"this stylegan_fast reads version {FORMAT_VERSION}")
    try:
        metadata["config"] = json.loads(metadata["config"])
        metadata["report"] = json.loads(metadata.get("report") or "{}")
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{str(path)!r} has no valid classifier config in its metadata: {e}") from None
    return metadata


def load(path, device="cpu") -> AttributeClassifier:
    """The classifier in ``path`` (safetensors), float32, frozen and in eval mode on ``device``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_metadata(path)["config"]
    try:
        model = AttributeClassifier(width=int(config["width"]), attributes=tuple(config["attributes"]),
                                    resolution=int(config["resolution"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{str(path)!r} has an invalid classifier config {config!r}: {e}") from None
    try:
        state = load_file(str(path), device="cpu")
    except SafetensorError as e:
        raise ValueError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise ValueError(f"{str(path)!r} does not hold the weights its config describes: {e}") from None
    return model.to(device).eval().requires_grad_(False)


def load_default(device="cpu") -> AttributeClassifier:
    """The shipped classifier for the built-in demo model's faces (``DEFAULT_FILE``)."""
    if not DEFAULT_FILE.is_file():
        raise FileNotFoundError(f"the built-in attribute classifier {DEFAULT_FILE} is missing from this "
                                f"installation; reinstall stylegan_fast")
    return load(DEFAULT_FILE, device)


__all__ = ["ATTRIBUTES", "DEFAULT_FILE", "RESOLUTION", "AttributeClassifier", "check_images", "load",
           "load_default", "predict", "read_metadata", "resize", "save"]
