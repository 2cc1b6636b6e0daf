"""Projection of a photo into a generator's latent space: find the ws whose rendering looks like it.

    target = load_target("face.png", G.img_resolution)     # any size and mode -> [R, R, 3] uint8
    result = project(G, target, steps=1000, space="w")     # result.ws [num_ws, w_dim], result.losses
    save_ws("latent.npz", result.ws)                       # NVlabs' projected_w.npz layout

The optimisation follows the StyleGAN2 paper's projector (Karras et al. 2020, appendix D): w starts
at the mean w of 10,000 mapped samples; Adam with a learning rate ramped up over the first 5% of the
steps and down (cosine) over the last 25%; Gaussian noise added to w, its scale decaying
quadratically to zero over the first 75% (``w_std * 0.05 * (1 - t / 0.75) ** 2``); the per-pixel
noise maps are optimised too, held to unit variance by renormalising them after every step, with a
penalty on their autocorrelation at every scale of a pyramid (weight 1e5) so that they do not take
over the image. ``space="w+"`` optimises each row of ws on its own.

One departure from the paper: the start is the best (lowest distance to the target) of the mean w and
``init_candidates`` mapped random ws, not the mean w alone. Rendering 128 candidates (forward passes
only) costs about as much as 40 optimisation steps (forward and backward): ~3 s on a CPU for a 64 px
model. Hence the default, 128 candidates up to 256 px and 16 above (large models, few steps' worth).
On the built-in 64 px demo model, six held-out identikit faces projected in W+ for 300 steps gave
24.4 dB mean PSNR from the mean w and 25.0 dB from the best of 128; at 1000 steps the two are level
(25.9 dB): the better start matters for short runs (the studio's 200 steps). The learning rate, the w
noise, the loss weights and W-then-W+ were tried too and left as they are: none helped by more than
~0.2 dB at 300 steps, and lr 0.03 or 0.3 did worse. That model's own renderings project back (W+, 300
steps) at ~41 dB, identikit faces from its training set at ~26 dB: the blur of projected photos there
is the 64 px model's limited reach, not the optimiser's.

Two distances between the rendering and the target:

* ``perceptual``: LPIPS-style, on the VGG16 trunk (features after relu1_2, relu2_2, relu3_3, relu4_3,
  relu5_3; each feature vector normalised to unit length, squared differences summed over channels,
  averaged over pixels, summed over layers), as in the LPIPS paper and NVlabs' projector, but
  *without* LPIPS' learned per-channel linear weights (every channel weighs the same). The weights
  must be torchvision's VGG16 (``features.0.weight``, ...) as safetensors or a plain state dict
  (``torch.save(vgg16().state_dict())``), local or an http(s) URL (downloaded once into the cache).
  They are read with safetensors or ``torch.load(weights_only=True)``; TorchScript archives and
  pickled code are refused, since loading them would run code from the file.
* ``pixel+laplacian`` (offline, no weights): mean squared error plus the mean absolute difference of
  every band of a Laplacian pyramid (fine detail to coarse shape, each band weighted the same).

``loss="auto"`` takes the perceptual distance when VGG16 weights are given (``vgg16=`` or the
environment variable ``STYLEGAN_FAST_VGG16``), the offline one otherwise.

Gradients: the optimisation backpropagates through the synthesis network. Every backend's plan
falls back to the reference implementation for ops whose kernel has no backward
(``backends.Plan.choose``), so projection works whatever ``G.backend`` is.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import sys
import zipfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ENV_VGG16 = "STYLEGAN_FAST_VGG16"
LOSSES = ("auto", "offline", "perceptual")
SPACES = ("w", "w+")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
ACCEPTED_IMAGES = "an image file Pillow can read (PNG, JPEG, WebP, BMP, GIF, TIFF, ...)"

# The StyleGAN2 paper's projector schedule.
W_AVG_SAMPLES = 10_000
INITIAL_LR = 0.1
INITIAL_W_NOISE = 0.05
W_NOISE_RAMP = 0.75
LR_RAMPDOWN = 0.25
LR_RAMPUP = 0.05
NOISE_REG_WEIGHT = 1e5
INIT_CANDIDATES_SMALL = 128  # default init_candidates up to INIT_SMALL_RESOLUTION px
INIT_CANDIDATES_LARGE = 16
INIT_SMALL_RESOLUTION = 256
INIT_BATCH = 16  # candidates rendered at once

# ImageNet normalisation of torchvision's VGG16, on [0, 1] inputs.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG16_TAPS = (3, 8, 15, 22, 29)  # indices in ``features`` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
PERCEPTUAL_MIN_SIZE = 64  # smaller images are upsampled before VGG16 (relu5_3 needs 16 px at least)
PERCEPTUAL_MAX_SIZE = 256  # larger ones are area-downsampled (as NVlabs' projector does)


@dataclasses.dataclass
class ProjectionResult:
    """What ``project`` found.

    ws: [num_ws, w_dim] float32 on the projection's device (in W space every row is the same w);
    losses: the distance to the target at each step; loss_name: "perceptual" or "pixel+laplacian";
    noise: the optimised noise maps (``G.synthesis(ws[None], noise=result.noise)`` renders with them;
    ``render --projected-w`` uses the stored constant maps instead); history: ws after each step
    [steps, num_ws, w_dim] when asked for; target: the target as uint8 [R, R, 3].
    """

    ws: torch.Tensor
    losses: list
    loss_name: str
    noise: Optional[list] = None
    history: Optional[torch.Tensor] = None
    target: Optional[np.ndarray] = None


def _say(note: str, notes: Optional[list]) -> None:
    if notes is None:
        print(f"note: {note}", file=sys.stderr)
    else:
        notes.append(note)


# ---------------------------------------------------------------------------------------------- targets
def _open_image(source):
    """(PIL image, fully decoded, and a name for messages)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        a = source
        if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
            raise ValueError(f"a target array must be uint8 [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got "
                             f"{a.dtype} of shape {list(a.shape)}")
        return Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a), "the target array"
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, fp = "the target bytes", io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        name, fp = str(source), source
        if Path(source).is_dir():
            raise ValueError(f"target {name} is a folder; give {ACCEPTED_IMAGES}")
        if not Path(source).is_file():
            raise FileNotFoundError(f"target image {name} does not exist")
    else:
        raise TypeError(f"a target must be a path, bytes or a uint8 array, got {type(source).__name__}")
    try:
        img = Image.open(fp)
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not an image: expected {ACCEPTED_IMAGES}") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"{name} is too large to be read safely ({e})") from None
    try:
        img.load()
    except Image.DecompressionBombError as e:
        img.close()
        raise ValueError(f"{name} is too large to be read safely ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        img.close()
        raise ValueError(f"{name}: the image is corrupt or truncated ({e}); expected {ACCEPTED_IMAGES}") from None
    return img, name


def _to_rgb(img, say):
    """Any Pillow mode -> RGB, saying what was done: alpha composited on white, greyscale/palette/CMYK converted."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16/32-bit greyscale, float
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if mode == "F" and a.max(initial=0) <= 1 else 65535.0 if a.max(initial=0) > 255 else 255.0
        a = np.clip(np.round(a / top * 255), 0, 255).astype(np.uint8)
        say(f"{mode} greyscale image ({'0..1' if top == 1 else f'0..{top:.0f}'}) scaled to 8 bits and converted "
            f"to RGB")
        return Image.fromarray(a).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        say(f"{mode} image with transparency: composited on white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    what = {"L": "greyscale", "1": "black-and-white", "P": "palette", "CMYK": "CMYK"}.get(mode, mode)
    say(f"{what} image converted to RGB")
    return img.convert("RGB")


def load_target(source, resolution: int, notes: Optional[list] = None) -> np.ndarray:
    """A photo as the generator's target: uint8 [resolution, resolution, 3].

    ``source``: a path, the bytes of an image file, or a uint8 array. Any size and mode: the EXIF
    orientation is applied, transparency composited on white, greyscale/palette/CMYK converted to
    RGB, a non-square image centre-cropped to a square and resized with a Lanczos filter
    (antialiased when shrinking). What was done is said on stderr (or appended to ``notes``).
    A file that is not an image, or a corrupt one, raises ValueError naming it and what is accepted.
    (No face alignment is done: crop the face roughly centred, as FFHQ's faces are.)
    """
    if not (isinstance(resolution, int) and resolution >= 1):
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    opened, name = _open_image(source)
    with opened:
        return _square_rgb(opened, name, resolution, notes)


def _square_rgb(img, name, resolution, notes) -> np.ndarray:
    from PIL import Image, ImageOps

    def say(note):
        _say(f"{name}: {note}", notes)

    if getattr(img, "n_frames", 1) > 1:
        say(f"{img.n_frames} frames: the first one is used")
    rotated = ImageOps.exif_transpose(img)
    if rotated is not None and rotated is not img:
        if rotated.size != img.size or img.getexif().get(0x0112, 1) != 1:
            say("rotated upright as its EXIF orientation says")
        img = rotated
    img = _to_rgb(img, say)
    w, h = img.size
    side = min(w, h)
    if w != h:
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        say(f"{w}x{h} is not square: centre-cropped to {side}x{side}")
    if side != resolution:
        img = img.resize((resolution, resolution), Image.LANCZOS)
        blur = " (upscaled: the target is blurrier than the model's images)" if side < resolution else ""
        say(f"resized {side}x{side} -> {resolution}x{resolution} (Lanczos){blur}")
    out = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(out)


def is_image_path(source) -> bool:
    """True for a path whose name ends like an image file (png, jpg, jpeg, webp, bmp, gif, tif, tiff)."""
    return str(source).lower().endswith(IMAGE_SUFFIXES)


def to_tensor(image_uint8: np.ndarray, device=None) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [1, 3, H, W] in [-1, 1] (the generator's range)."""
    t = torch.from_numpy(np.array(image_uint8, dtype=np.uint8)).permute(2, 0, 1)[None].float()
    return (t / 127.5 - 1).to(device)


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """float [1, 3, H, W] (or [3, H, W]) in [-1, 1] -> uint8 [H, W, 3], rounded as the generator's images are."""
    from .images import to_uint8

    if image.ndim == 3:
        image = image[None]
    return to_uint8(image.detach())[0].cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (inf when equal)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr of images of different shapes {list(a.shape)} and {list(b.shape)}")
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


# ------------------------------------------------------------------------------------------------ losses
_BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur_down(x: torch.Tensor) -> torch.Tensor:
    """5-tap binomial blur (reflect padding) then keep every other pixel: the next Gaussian pyramid level."""
    k = torch.tensor(_BINOMIAL5, dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / 256.0
    c = x.shape[1]
    return F.conv2d(F.pad(x, [2] * 4, mode="reflect"), k.expand(c, 1, 5, 5), stride=2, groups=c)


def laplacian_pyramid(x: torch.Tensor, min_size: int = 4) -> list:
    """[N, C, H, W] -> band-pass levels (finest first), then the low-pass residual of at most ``min_size`` px.

    Level k = G_k - upsample(G_{k+1}) with G_0 = x and G_{k+1} = blur-and-subsample(G_k); the bands and
    the residual add back up to x level by level.
    """
    levels = []
    g = x
    while min(g.shape[-2:]) > max(min_size, 2):  # reflect padding by 2 needs 3 px at least
        down = _blur_down(g)
        up = F.interpolate(down, size=g.shape[-2:], mode="bilinear", align_corners=False)
        levels.append(g - up)
        g = down
    levels.append(g)
    return levels


def offline_distance(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel + multi-scale distance per image [N]: MSE plus the mean |difference| of every Laplacian band."""
    mse = (image - target).square().mean(dim=(1, 2, 3))
    bands = [(a - b).abs().mean(dim=(1, 2, 3)) for a, b in zip(laplacian_pyramid(image), laplacian_pyramid(target))]
    return mse + torch.stack(bands).mean(dim=0)


class VGG16Features(nn.Module):
    """torchvision's VGG16 convolutional trunk under torchvision's parameter names (``features.0.weight``, ...),
    returning the activations after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3.

    Input: images [N, 3, H, W] in [-1, 1] (normalised inside as torchvision's ImageNet weights expect).
    """

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) * 2 - 1, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1) * 2, persistent=False)

    def forward(self, x: torch.Tensor) -> list:
        x = (x - self.mean) / self.std
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG16_TAPS:
                taps.append(x)
                if i == VGG16_TAPS[-1]:
                    break
        return taps


def vgg16_state_shapes() -> dict:
    """{torchvision key: shape} of every parameter VGG16Features needs."""
    return {k: tuple(v.shape) for k, v in VGG16Features().state_dict().items()}


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/" in n or n.endswith("/constants.pkl") or n == "constants.pkl" for n in names)


def _read_vgg16_tensors(path: Path, name: str) -> dict:
    from .checkpoints.safe_pickle import UnsafePickleError, load_torch_file
    from .checkpoints.stylegan_fast import is_safetensors

    how = ("give torchvision's VGG16 weights as .safetensors or as a plain state dict "
           "(torch.save(torchvision.models.vgg16(weights=...).state_dict(), 'vgg16.pth'))")
    with open(path, "rb") as f:
        head = f.read(16)
    if is_safetensors(head):
        from safetensors import SafetensorError, safe_open

        wanted = vgg16_state_shapes()
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
                present = set(keys) & set(wanted)
                # the wanted tensors (not torchvision's 0.5 GB classifier), and the names of the others
                return {k: f.get_tensor(k) for k in keys if k in present} | {k: None for k in keys if k not in present}
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"VGG16 weights {name}: unreadable safetensors file ({e}); {how}") from None
    if _is_torchscript(path):
        raise ValueError(f"VGG16 weights {name} are a TorchScript archive, which holds code; it is not loaded "
                         f"(that would run code from the file). {how}")
    try:
        obj = load_torch_file(path)
    except UnsafePickleError as e:
        raise ValueError(f"VGG16 weights {name}: {e}; pickled objects are never loaded. {how}") from None
    except Exception as e:  # pickle.UnpicklingError and what torch raises on files it cannot parse
        raise ValueError(f"VGG16 weights {name} are not a plain state dict ({e}); {how}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not (isinstance(obj, dict) and all(isinstance(k, str) for k in obj)):
        raise ValueError(f"VGG16 weights {name} hold a {type(obj).__name__}, not a state dict; {how}")
    return obj


def load_vgg16(source, device=None, progress: bool = True) -> VGG16Features:
    """torchvision VGG16 weights (safetensors or plain state dict; a path or an http(s) URL, downloaded once
    into the cache) as a VGG16Features in eval mode. Only ``features.*`` is used (``classifier.*`` is ignored)."""
    from .checkpoints import is_url

    name = str(source)
    if is_url(source):
        from .checkpoints.download import download

        path = download(source, progress=progress)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"VGG16 weights {name} do not exist"
                                    + (" (is a folder)" if path.is_dir() else ""))
    tensors = _read_vgg16_tensors(path, name)
    wanted = vgg16_state_shapes()
    missing = [k for k in wanted if k not in tensors]
    if missing:
        have = list(tensors)[:5]
        raise ValueError(f"VGG16 weights {name} lack {len(missing)} of the {len(wanted)} tensors of torchvision's "
                         f"vgg16().features (first missing: {missing[0]}; the file has e.g. "
                         f"{', '.join(map(str, have)) or 'nothing'}); give torchvision's VGG16 state dict")
    for k, shape in wanted.items():
        t = tensors[k]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or not t.is_floating_point():
            got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"VGG16 weights {name}: {k} should be a float tensor of shape {list(shape)}, got {got}")
    model = VGG16Features()
    model.load_state_dict({k: tensors[k].float() for k in wanted}, strict=True)
    return model.to(device).eval().requires_grad_(False)


class PerceptualDistance(nn.Module):
    """LPIPS-style distance on VGG16 features, without LPIPS' learned linear layers (all channels weigh the same)."""

    def __init__(self, vgg: VGG16Features):
        super().__init__()
        self.vgg = vgg

    @staticmethod
    def _prepare(x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        if size > PERCEPTUAL_MAX_SIZE:
            x = F.interpolate(x, size=(PERCEPTUAL_MAX_SIZE, PERCEPTUAL_MAX_SIZE), mode="area")
        elif size < PERCEPTUAL_MIN_SIZE:
            x = F.interpolate(x, size=(PERCEPTUAL_MIN_SIZE, PERCEPTUAL_MIN_SIZE), mode="bilinear",
                              align_corners=False)
        return x

    def features(self, x: torch.Tensor) -> list:
        return [f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self.vgg(self._prepare(x))]

    def forward(self, image: torch.Tensor, target_features: list) -> torch.Tensor:  # -> [N]
        return sum((a - b).square().sum(dim=1).mean(dim=(1, 2)) for a, b in zip(self.features(image),
                                                                                 target_features))


def perceptual_weights(loss: str = "auto", vgg16=None, device=None, progress: bool = True):
    """The VGG16Features the perceptual loss would use for ``loss`` and ``vgg16`` (None: the offline loss).

    ``vgg16``: a path or URL of VGG16 weights, or a loaded VGG16Features; default $STYLEGAN_FAST_VGG16.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if vgg16 is None and os.environ.get(ENV_VGG16):
        vgg16 = os.environ[ENV_VGG16]
    if loss == "offline" or (loss == "auto" and vgg16 is None):
        return None
    if vgg16 is None:
        raise ValueError(f"the perceptual loss needs VGG16 weights: pass vgg16= (--vgg16 FILE|URL) or set "
                         f"${ENV_VGG16}")
    return vgg16 if isinstance(vgg16, VGG16Features) else load_vgg16(vgg16, device=device, progress=progress)


def choose_loss(loss: str = "auto", vgg16=None, device=None, progress: bool = True):
    """(name, distance(image, target) -> [N]) for ``loss`` = "auto" | "offline" | "perceptual"
    (see ``perceptual_weights``)."""
    vgg = perceptual_weights(loss, vgg16, device, progress)
    if vgg is None:
        return "pixel+laplacian", offline_distance
    dist = PerceptualDistance(vgg.to(device))
    cache: dict = {}

    def perceptual(image, target):
        key = (target.data_ptr(), tuple(target.shape))
        if key not in cache:  # the target's features, once
            cache.clear()
            with torch.no_grad():
                cache[key] = [f.detach() for f in dist.features(target)]
        return dist(image, cache[key])

    return "perceptual", perceptual


LOSS_DESCRIPTIONS = {
    "perceptual": "perceptual (LPIPS-style distance on VGG16 features, without LPIPS' learned linear layers)",
    "pixel+laplacian": "pixel + Laplacian pyramid (offline; give --vgg16 or $STYLEGAN_FAST_VGG16 for the "
                       "perceptual loss)",
}


# ------------------------------------------------------------------------------------------------ noise
def noise_regularization(maps: list) -> torch.Tensor:
    """The StyleGAN2 projector's noise penalty: squared autocorrelation at a shift of one pixel, both ways,
    summed over a pyramid of each map (halving by 2x2 averaging down to 8 px)."""
    total = maps[0].new_zeros([]) if maps else torch.zeros([])
    for n in maps:
        while True:
            total = total + (n * n.roll(1, dims=3)).mean().square() + (n * n.roll(1, dims=2)).mean().square()
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


def _noise_maps(G, device) -> list:
    """The stored constant noise maps of G in ``noise=`` order, [1, 1, r, r] copies (random when not found)."""
    maps = []
    for name, shape in G.synthesis.noise_shapes():
        try:
            const = G.synthesis.get_submodule(name).noise.noise_const
            maps.append(const.detach().clone().reshape(shape).float().to(device))
        except AttributeError:
            maps.append(torch.randn(shape, device=device))
    return maps


def _uses_noise(G) -> bool:
    return any(p.abs().max().item() > 0 for n, p in G.synthesis.named_parameters() if n.endswith("noise_strength"))


# -------------------------------------------------------------------------------------------- projection
def _target_tensor(target, resolution, device) -> tuple:
    if isinstance(target, torch.Tensor):
        t = target[None] if target.ndim == 3 else target
        if t.ndim != 4 or t.shape[0] != 1 or t.shape[1] != 3 or t.shape[2:] != (resolution, resolution):
            raise ValueError(f"a target tensor must be [3, {resolution}, {resolution}] or "
                             f"[1, 3, {resolution}, {resolution}] in [-1, 1], got {list(target.shape)}")
        t = t.detach().float().to(device)
        return t, to_uint8_image(t)
    image = load_target(target, resolution)
    return to_tensor(image, device), image


def w_statistics(G, c=None, seed=0, samples=W_AVG_SAMPLES, batch=2000) -> tuple:
    """(mean w [w_dim], RMS distance of w from it) over ``samples`` mapped random z (for class ``c``)."""
    gen = torch.Generator().manual_seed(seed)
    ws = []
    with torch.no_grad():
        for start in range(0, samples, batch):
            n = min(batch, samples - start)
            z = torch.randn([n, G.z_dim], generator=gen).to(G.device)
            cc = None if c is None else c.reshape(1, -1).expand(n, -1).to(G.device, torch.float32)
            ws.append(G.mapping(z, cc)[:, 0].float())
    ws = torch.cat(ws)
    w_avg = ws.mean(dim=0)
    return w_avg, (ws - w_avg).square().sum(dim=1).mean().sqrt().item()


def default_init_candidates(resolution: int) -> int:
    """How many random ws ``project`` tries as its start by default (see the module docstring)."""
    return INIT_CANDIDATES_SMALL if resolution <= INIT_SMALL_RESOLUTION else INIT_CANDIDATES_LARGE


def best_start(G, target_t, distance, w_avg, candidates: int, seed: int = 0, c=None) -> torch.Tensor:
    """The w [w_dim] nearest to ``target_t`` (by ``distance``) among w_avg and ``candidates`` mapped random z."""
    if candidates <= 0:
        return w_avg
    gen = torch.Generator().manual_seed(seed + 2)
    z = torch.randn([candidates, G.z_dim], generator=gen).to(w_avg.device)
    with torch.no_grad():
        cc = None if c is None else c.reshape(1, -1).expand(candidates, -1).to(w_avg.device, torch.float32)
        ws = torch.cat([w_avg[None], G.mapping(z, cc)[:, 0].float()])
        scores = []
        for start in range(0, len(ws), INIT_BATCH):
            w = ws[start:start + INIT_BATCH]
            image = G.synthesis(w[:, None].expand(-1, G.num_ws, -1), noise_mode="const")
            scores.append(distance(image, target_t).float())  # [1, 3, R, R] broadcasts
        scores = torch.cat(scores)
    return ws[int(torch.nan_to_num(scores, nan=math.inf).argmin())]


def lr_ramp(t: float) -> float:
    """The paper's learning-rate factor at progress ``t`` in [0, 1): linear ramp-up over the first
    LR_RAMPUP, cosine ramp-down over the last LR_RAMPDOWN."""
    down = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    return (0.5 - 0.5 * math.cos(down * math.pi)) * min(1.0, t / LR_RAMPUP)


def project(G, target, *, steps: int = 1000, space: str = "w", seed: int = 0, loss: str = "auto",
            progress: Optional[Callable] = None, device=None, vgg16=None, c: Optional[torch.Tensor] = None,
            optimize_noise: bool = True, keep_history: bool = False, quiet: bool = False,
            init_candidates: Optional[int] = None) -> ProjectionResult:
    """Find ws for which ``G`` renders ``target`` (see the module docstring for the method).

    target: a path or bytes of an image (``load_target``), a uint8 [H, W, 3] array (any size: cropped
    and resized like a file), or a float tensor [3, R, R] in [-1, 1] at G's resolution.
    space: "w" (one w for every layer, NVlabs' default) or "w+" (each ws row on its own).
    seed: the w samples of the mean w and the noise added to w. loss: "auto" | "offline" | "perceptual"
    (see ``choose_loss``; ``vgg16``: weights for the perceptual loss). progress: called as
    ``progress(step, steps, loss)`` after every step. device: where to run (G is moved there);
    default G's device. c: one-hot class [1, c_dim] for a class-conditional G (required there).
    optimize_noise: optimise the per-pixel noise maps too (the paper's method; skipped when G's noise
    strengths are all zero). keep_history: keep ws after every step (for a video). quiet: no stderr note
    on which loss is used. init_candidates: start from the best of the mean w and this many mapped
    random ws (0: the mean w, as in the paper; None: ``default_init_candidates(G.img_resolution)``).
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; use 'w' (one w for all layers) or 'w+' (one per layer)")
    if G.c_dim:
        if c is None or c.numel() != G.c_dim:
            raise ValueError(f"this generator is class-conditional ({G.c_dim} classes): pass c, a one-hot "
                             f"[1, {G.c_dim}] label")
    elif c is not None:
        raise ValueError("this generator is unconditional: c must be None")
    if init_candidates is None:
        init_candidates = default_init_candidates(G.img_resolution)
    if not (isinstance(init_candidates, int) and init_candidates >= 0):
        raise ValueError(f"init_candidates must be an integer >= 0, got {init_candidates!r}")
    device = G.device if device is None else torch.device(device)
    if G.device != device:
        G.to(device)
    target_t, target_u8 = _target_tensor(target, G.img_resolution, device)
    loss_name, distance = choose_loss(loss, vgg16, device=device, progress=not quiet)
    if not quiet:
        print(f"note: projection loss: {LOSS_DESCRIPTIONS[loss_name]}", file=sys.stderr)

    with torch.inference_mode(False), torch.enable_grad():
        w_avg, w_std = w_statistics(G, c, seed)
        w_start = best_start(G, target_t, distance, w_avg.to(device), init_candidates, seed, c)
        rows = 1 if space == "w" else G.num_ws
        w_opt = w_start.reshape(1, -1).repeat(rows, 1).clone().requires_grad_(True)
        noise = _noise_maps(G, device)
        tune_noise = optimize_noise and _uses_noise(G)
        for n in noise:
            n.requires_grad_(tune_noise)
        params = [w_opt] + (noise if tune_noise else [])
        opt = torch.optim.Adam(params, betas=(0.9, 0.999), lr=INITIAL_LR)
        gen = torch.Generator().manual_seed(seed + 1)
        losses, history = [], []
        for step in range(steps):
            t = step / steps
            w_noise_scale = w_std * INITIAL_W_NOISE * max(0.0, 1.0 - t / W_NOISE_RAMP) ** 2
            for group in opt.param_groups:
                group["lr"] = INITIAL_LR * lr_ramp(t)
            w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale
            ws = (w_opt + w_noise).expand(G.num_ws, -1)[None]
            image = G.synthesis(ws, noise_mode="const", noise=noise)
            dist = distance(image, target_t).sum()
            total = dist + NOISE_REG_WEIGHT * noise_regularization(noise) if tune_noise else dist
            grads = torch.autograd.grad(total, params)  # G's own parameters get no .grad
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            with torch.no_grad():
                if tune_noise:
                    for n in noise:
                        n.sub_(n.mean()).div_(n.square().mean().sqrt())
            value = float(dist.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"projection diverged at step {step + 1}: the loss is {value}")
            losses.append(value)
            if keep_history:
                history.append(w_opt.detach().expand(G.num_ws, -1).clone())
            if progress is not None:
                progress(step + 1, steps, value)
    ws = w_opt.detach().expand(G.num_ws, -1).clone().float()
    return ProjectionResult(ws=ws, losses=losses, loss_name=loss_name, noise=[n.detach() for n in noise],
                            history=torch.stack(history) if keep_history else None, target=target_u8)


def render_ws(G, ws: torch.Tensor, noise: Optional[list] = None) -> np.ndarray:
    """ws [num_ws, w_dim] -> uint8 [R, R, 3], with the stored constant noise maps (or the given ``noise``)."""
    with torch.no_grad():
        return to_uint8_image(G.synthesis(ws[None].to(G.device), noise_mode="const", noise=noise))


def side_by_side(*images: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] images next to each other."""
    return np.concatenate(images, axis=1)


__all__ = ["ProjectionResult", "load_target", "project", "choose_loss", "perceptual_weights", "load_vgg16", "VGG16Features",
           "offline_distance", "laplacian_pyramid", "best_start", "default_init_candidates", "noise_regularization",
           "psnr", "render_ws", "w_statistics",
           "is_image_path", "LOSSES", "SPACES", "IMAGE_SUFFIXES"]
