"""What every checkpoint reader returns and shares: :class:`Checkpoint`, the errors, the channel solver.

The format modules import from here (never from the package ``__init__``, which imports them).
"""
from __future__ import annotations

import dataclasses

from ..config import GeneratorConfig
from ..networks import check_state

FORMATS = ("stylegan_fast", "nvlabs-pytorch", "nvlabs-tf-stylegan2", "nvlabs-tf-stylegan1", "rosinality")
WHICH = ("G_ema", "G")  # for training snapshots: the EMA generator (default) or the raw one


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: names the file, the key and what was expected."""


@dataclasses.dataclass
class Checkpoint:
    """A generator as a reader found it: our config and our complete, checked state dict.

    ``notes`` say what the reader chose or assumed (e.g. "used G_ema", "w_avg is zero"); the
    command line prints them.
    """
    format: str  # one of FORMATS
    config: GeneratorConfig
    tensors: dict  # our state-dict name -> tensor, exactly the names and shapes of state_shapes(config)
    notes: list = dataclasses.field(default_factory=list)
    source: str = ""  # the file or URL it was read from (set by checkpoints.read)


def checked(fmt: str, config: GeneratorConfig, tensors: dict, notes: list, source: str) -> Checkpoint:
    """A Checkpoint whose tensors match ``state_shapes(config)`` name for name and shape for shape."""
    try:
        check_state(config, tensors, source=f"{source} ({fmt})")
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return Checkpoint(format=fmt, config=config, tensors=tensors, notes=notes, source=source)


def fit_channel_schedule(channels: dict, preferred=(), source: str = "checkpoint") -> tuple[int, int]:
    """(channel_base, channel_max) with ``min(channel_base // res, channel_max) == channels[res]`` for every res.

    ``channels``: {resolution: feature maps} as found in a file. The channel_base values that fit
    form an interval; the first of ``preferred`` inside it wins (what the file's own settings
    suggest, e.g. 2 * TF fmap_base or 16384 * rosinality's channel_multiplier), else its lowest.
    """
    channel_max = max(channels.values())
    lo, hi = 1, None
    for res, c in channels.items():
        if c < channel_max:  # channel_base // res == c
            lo, hi = max(lo, c * res), min(c * res + res - 1, hi if hi is not None else c * res + res - 1)
        else:  # channel_base // res >= channel_max
            lo = max(lo, channel_max * res)
    if hi is not None and lo > hi:
        schedule = ", ".join(f"{res}: {c}" for res, c in sorted(channels.items()))
        raise CheckpointError(f"{source}: the generator's channels per resolution {{{schedule}}} do not follow "
                              f"min(channel_base // res, channel_max) for any channel_base, which is the only "
                              f"schedule stylegan_fast supports")
    for base in preferred:
        if base is not None and lo <= base and (hi is None or base <= hi):
            return int(base), channel_max
    return lo, channel_max
