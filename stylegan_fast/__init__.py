"""stylegan_fast: a StyleGAN1/StyleGAN2 inference engine.

    import stylegan_fast as sf
    G = sf.Generator.load("model.safetensors")          # or sf.default_model()
    z = sf.z_from_seeds([0, 1, 2], G.z_dim)             # same z as NVlabs' gen_images.py
    img = sf.to_uint8(G(z, truncation_psi=0.7))         # [N, H, W, 3] uint8
"""
from .backends import BACKENDS, BackendUnavailableError, backend_status, resolve_backend
from .config import GeneratorConfig
from .generator import Generator
from .images import make_grid, save_image, to_uint8
from .memory import keep_freed_memory
from .latents import load_ws, parse_seeds, save_ws, z_from_seeds
from .models import default_model, random_model
from .styles import family_strip, layer_groups, mix, parse_layers, style_mixing_grid
from .version import __version__

__all__ = ["BACKENDS", "BackendUnavailableError", "Generator", "GeneratorConfig", "backend_status",
           "keep_freed_memory", "default_model", "family_strip", "layer_groups", "load_ws", "random_model",
           "make_grid", "mix", "parse_layers", "parse_seeds", "resolve_backend", "save_image", "save_ws",
           "style_mixing_grid", "to_uint8", "z_from_seeds", "__version__"]
