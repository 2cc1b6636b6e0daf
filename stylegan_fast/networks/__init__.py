from . import stylegan1, stylegan2
from .mapping import MappingNetwork

SYNTHESIS = {"stylegan2": stylegan2.SynthesisNetwork, "stylegan1": stylegan1.SynthesisNetwork}

__all__ = ["MappingNetwork", "SYNTHESIS"]
