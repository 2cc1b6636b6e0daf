"""``Generator``: mapping + synthesis behind the NVlabs-style call, plus save/load."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch
from torch import nn

from .backends import BackendChoice, check_backend_name, resolve_backend
from .config import PAPER_TRUNCATION, GeneratorConfig
from . import checkpoints
from .networks import SYNTHESIS, MappingNetwork, check_state
from .networks.layers import needs_grad
from .styles import LayerSpec, layer_groups, parse_layers

if TYPE_CHECKING:
    from .cuda_graph import CudaGraphGenerator


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
        self.source_format: Optional[str] = None  # the checkpoint format it was loaded from (Generator.load)
        self.source_notes: list[str] = []  # what the checkpoint reader chose or assumed
        self.mapping = MappingNetwork(config)
        self.synthesis = SYNTHESIS[config.arch](config)
        self.backend_choice = BackendChoice()  # one value, shared by G, G.mapping and G.synthesis
        self.mapping.backend_choice = self.synthesis.backend_choice = self.backend_choice
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
        """The requested backend: "auto" (the default) or one of BACKENDS; resolved once per forward."""
        return self.backend_choice.name

    @backend.setter
    def backend(self, name: str) -> None:
        check_backend_name(name)
        if name != "auto":
            resolve_backend(name, self.device)  # raises with the reason if it cannot run here
        self.backend_choice.name = name

    @property
    def last_dispatch(self) -> dict[str, str]:
        """{op name: backend} of the last forward (of G, G.mapping or G.synthesis)."""
        return dict(self.backend_choice.last_dispatch)

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

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", noise=None,
                noise_seeds=None):
        """z [N, z_dim] (and one-hot c [N, c_dim]) -> images [N, C, H, W].

        noise_mode: "const" (the stored maps), "random" (each image's maps from its noise seed:
        ``noise_seeds``, one int in [0, 2^32) per image, else drawn from torch's RNG) or "none";
        ``noise``: explicit maps, one per noise layer (``G.synthesis.noise_shapes()``).
        """
        with self.backend_choice.dispatching(z.device, needs_grad(self, z)):
            ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
            return self.synthesis(ws, noise_mode=noise_mode, noise=noise, noise_seeds=noise_seeds)

    def compile_graph(self, batch_size: Optional[int] = None, *, batch_sizes: Optional[Sequence[int]] = None,
                      warmup: int = 2, **forward_kwargs) -> "CudaGraphGenerator":
        """This forward (mapping + synthesis, with ``forward_kwargs``: truncation_psi, truncation_cutoff,
        noise_mode) captured in CUDA graphs, for ``batch_size`` or for each of ``batch_sizes`` (a call pads
        its batch up to the next one): ``graph = G.compile_graph(8, truncation_psi=0.7); img = graph(z)``.

        The callable takes z (c, noise_seeds) as this forward does and returns the same images; see
        :mod:`stylegan_fast.cuda_graph`. ``G(z)`` itself stays eager. Raises RuntimeError off CUDA.
        """
        from .cuda_graph import CudaGraphGenerator

        if (batch_size is None) == (batch_sizes is None):
            raise TypeError("compile_graph takes either batch_size or batch_sizes=(...), e.g. compile_graph(8) or "
                            "compile_graph(batch_sizes=(1, 8, 32, 64))")
        sizes = batch_size if batch_sizes is None else batch_sizes
        return CudaGraphGenerator(self, sizes, forward_kwargs, warmup=warmup)

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

    # ---- files: checkpoints.read / checkpoints.write do the formats; the Generator builds and holds ----
    def save(self, path) -> None:
        """Our format: safetensors with the config in the metadata (written atomically)."""
        checkpoints.write(path, self.config, self.state_dict(), to="safetensors")

    @classmethod
    def load(cls, source, which: str = "G_ema", backend: str = "auto",
             device: Union[str, torch.device] = "cpu", progress: bool = True) -> "Generator":
        """A generator from any supported checkpoint (file or http(s) URL), format detected from the file.

        Our safetensors, NVlabs pytorch pickles (``which`` = 'G_ema' or 'G'), NVlabs TensorFlow
        StyleGAN1/StyleGAN2 pickles and rosinality .pt files (see stylegan_fast.checkpoints).
        Nothing inside a checkpoint is ever executed. What the reader chose or assumed is in
        ``G.source_notes``.
        """
        return cls.from_checkpoint(checkpoints.read(source, which=which, progress=progress),
                                   backend=backend, device=device)

    @classmethod
    def from_checkpoint(cls, ckpt: "checkpoints.Checkpoint", backend: str = "auto",
                        device: Union[str, torch.device] = "cpu") -> "Generator":
        """Build the generator a :class:`~stylegan_fast.checkpoints.Checkpoint` describes (eval mode, no grad)."""
        G = cls(ckpt.config)
        G.load_state_dict(ckpt.tensors, strict=True)  # names and shapes were checked by the reader
        G.source_format, G.source_notes = ckpt.format, list(ckpt.notes)
        G = G.to(device).eval().requires_grad_(False)
        G.backend = backend
        return G

    def load_tensors(self, tensors: dict, source: str = "tensors") -> None:
        """Copy a full state dict in, with an error naming any missing, unexpected or mis-shaped key."""
        check_state(self.config, tensors, source=source)
        self.load_state_dict(tensors, strict=True)

    def extra_repr(self) -> str:
        c = self.config
        return f"arch={c.arch}, resolution={c.resolution}, num_ws={c.num_ws}, backend={self.backend}"
