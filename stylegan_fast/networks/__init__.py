"""The networks of both architectures, and the one source of their parameter names and shapes."""
from __future__ import annotations

import functools

import torch

from ..config import GeneratorConfig
from . import stylegan1, stylegan2
from .mapping import MappingNetwork

SYNTHESIS = {"stylegan2": stylegan2.SynthesisNetwork, "stylegan1": stylegan1.SynthesisNetwork}


@functools.lru_cache(maxsize=32)
def _state_shapes(config: GeneratorConfig) -> tuple:
    with torch.device("meta"):  # no memory, no random init: only the names and shapes
        mapping, synthesis = MappingNetwork(config), SYNTHESIS[config.arch](config)
    state = {**{f"mapping.{k}": v for k, v in mapping.state_dict().items()},
             **{f"synthesis.{k}": v for k, v in synthesis.state_dict().items()}}
    return tuple((k, tuple(v.shape)) for k, v in state.items())


def state_shapes(config: GeneratorConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a generator's state dict for ``config``: {name: shape}, in state-dict order.

    Read off the networks themselves, built on the meta device (no memory, no initialization).
    """
    return dict(_state_shapes(config))


def check_state(config: GeneratorConfig, tensors: dict, source: str = "tensors") -> None:
    """Raise ValueError naming the first missing, unexpected or mis-shaped tensor for ``config``."""
    expected = state_shapes(config)
    missing = [k for k in expected if k not in tensors]
    if missing:
        k = missing[0]
        raise ValueError(f"{source}: missing tensor {k!r} (expected shape {list(expected[k])}); "
                         f"{len(missing)} missing in all")
    unexpected = [k for k in tensors if k not in expected]
    if unexpected:
        raise ValueError(f"{source}: unexpected tensor {unexpected[0]!r} for a {config.arch} "
                         f"generator with this config; {len(unexpected)} unexpected in all")
    for k, shape in expected.items():
        if tuple(tensors[k].shape) != shape:
            raise ValueError(f"{source}: tensor {k!r} has shape {list(tensors[k].shape)}, expected {list(shape)}")


__all__ = ["MappingNetwork", "SYNTHESIS", "check_state", "state_shapes"]
