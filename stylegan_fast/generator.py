"""``Generator``: mapping + synthesis behind the NVlabs-style call, plus save/load."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from .backends import check_backend_name, resolve_backend
from .config import PAPER_TRUNCATION, GeneratorConfig
from .fileio import atomic_path
from .networks import SYNTHESIS, MappingNetwork
from .styles import LayerSpec, layer_groups, parse_layers
from .version import __version__

FORMAT_NAME = "stylegan_fast.generator"
FORMAT_VERSION = "1"


class Generator(nn.Module):
    """A StyleGAN1 or StyleGAN2 generator: ``G(z, c)`` -> images [N, C, H, W], nominally in [-1, 1].

    Like NVlabs' generators the output is not clamped; ``stylegan_fast.to_uint8`` clamps.
    """

    def __init__(self, config: Union[GeneratorConfig, dict, None] = None, backend: str = "auto", **kwargs):
        super().__init__()
        if config is None:
            config = GeneratorConfig(**kwargs)
        elif isinstance(config, dict):
            config = GeneratorConfig.from_dict({**config, **kwargs})
        elif kwargs:
            raise TypeError("pass either a GeneratorConfig or keyword arguments, not both")
        self.config = config
        self.source_format: Optional[str] = None  # set by Generator.load: the checkpoint format read
        self.mapping = MappingNetwork(config)
        self.synthesis = SYNTHESIS[config.arch](config)
        self.backend = backend

    @classmethod
    def from_config(cls, arch="stylegan2", resolution=256, backend="auto", **kwargs) -> "Generator":
        return cls(GeneratorConfig(arch=arch, resolution=resolution, **kwargs), backend=backend)

    # NVlabs attribute names
    z_dim = property(lambda self: self.config.z_dim)
    c_dim = property(lambda self: self.config.c_dim)
    w_dim = property(lambda self: self.config.w_dim)
    num_ws = property(lambda self: self.config.num_ws)
    img_resolution = property(lambda self: self.config.resolution)
    img_channels = property(lambda self: self.config.img_channels)
    arch = property(lambda self: self.config.arch)

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        check_backend_name(name)
        if name != "auto":
            resolve_backend(name, self.device)  # raises with the reason if it cannot run here
        self._backend = name
        self.mapping.backend = name
        self.synthesis.backend = name

    @property
    def paper_truncation(self) -> tuple[float, Optional[int]]:
        """(psi, cutoff) the architecture's paper renders with: StyleGAN1 (0.7, 8), StyleGAN2 (1, None)."""
        return PAPER_TRUNCATION[self.arch]

    @property
    def layer_groups(self) -> dict[str, list[int]]:
        return layer_groups(self.config)

    def style_layers(self, spec: LayerSpec) -> list[int]:
        """ws indices for 'coarse' / 'medium' / 'fine' / '0-3' / [0, 1] ..."""
        return parse_layers(spec, self.num_ws, self.layer_groups)

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    @torch.no_grad()
    def compute_w_avg(self, num_samples: int = 10000, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
        """Set mapping.w_avg to the mean w over ``num_samples`` seeded z (what training tracks)."""
        gen = torch.Generator().manual_seed(seed)
        total = torch.zeros([self.w_dim], dtype=torch.float64)
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            z = torch.randn([n, self.z_dim], generator=gen).to(self.device)
            c = None
            if self.c_dim:
                labels = torch.randint(self.c_dim, [n], generator=gen)
                c = torch.nn.functional.one_hot(labels, self.c_dim).to(self.device, torch.float32)
            total += self.mapping(z, c)[:, 0].double().sum(dim=0).cpu()
        self.mapping.w_avg.copy_((total / num_samples).to(self.mapping.w_avg.dtype))
        return self.mapping.w_avg

    # ---- our own checkpoint format: safetensors with the config in its metadata ----
    def save(self, path) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": self.config.to_json(),
                    "stylegan_fast_version": __version__}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)

    @classmethod
    def load(cls, source, which: str = "G_ema", backend: str = "auto",
             device: Union[str, torch.device] = "cpu", progress: bool = True) -> "Generator":
        """A generator from any supported checkpoint (file or http(s) URL), format detected from the file.

        Our safetensors, NVlabs pytorch pickles (``which`` = 'G_ema' or 'G'), NVlabs TensorFlow
        StyleGAN1/StyleGAN2 pickles and rosinality .pt files (see stylegan_fast.checkpoints).
        Nothing inside a checkpoint is ever executed.
        """
        from .checkpoints import load_generator

        return load_generator(source, which=which, backend=backend, device=device, progress=progress)

    @classmethod
    def read_safetensors(cls, path) -> "Generator":
        """Our own format: safetensors with the config as JSON in the metadata."""
        from safetensors import SafetensorError
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except SafetensorError as e:
            raise ValueError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
        if metadata.get("format") != FORMAT_NAME:
            raise ValueError(f"{str(path)!r} is a safetensors file but not a stylegan_fast generator "
                             f"(metadata 'format' is {metadata.get('format')!r}, expected {FORMAT_NAME!r})")
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} has format_version {metadata.get('format_version')!r}; "
                             f"this stylegan_fast reads version {FORMAT_VERSION}")
        try:
            config = GeneratorConfig.from_dict(json.loads(metadata["config"]))
        except (KeyError, json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{str(path)!r} has no valid generator config in its metadata: {e}") from None
        G = cls(config, backend="auto")
        G.load_tensors(tensors, source=str(path))
        return G

    def load_tensors(self, tensors: dict, source: str = "tensors") -> None:
        """Copy a full state dict in, with an error naming any missing, unexpected or mis-shaped key."""
        expected = self.state_dict()
        missing = [k for k in expected if k not in tensors]
        if missing:
            k = missing[0]
            raise ValueError(f"{source}: missing tensor {k!r} (expected shape {list(expected[k].shape)}); "
                             f"{len(missing)} missing in all")
        unexpected = [k for k in tensors if k not in expected]
        if unexpected:
            raise ValueError(f"{source}: unexpected tensor {unexpected[0]!r} for a {self.config.arch} "
                             f"generator with this config; {len(unexpected)} unexpected in all")
        for k, v in expected.items():
            if tuple(tensors[k].shape) != tuple(v.shape):
                raise ValueError(f"{source}: tensor {k!r} has shape {list(tensors[k].shape)}, "
                                 f"expected {list(v.shape)}")
        self.load_state_dict(tensors, strict=True)

    def extra_repr(self) -> str:
        c = self.config
        return f"arch={c.arch}, resolution={c.resolution}, num_ws={c.num_ws}, backend={self.backend}"
