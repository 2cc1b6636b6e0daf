"""Generator hyper-parameters, validated once, stored in checkpoints as JSON."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Optional

ARCHS = ("stylegan2", "stylegan1")
# Paper configurations: StyleGAN2 config-f uses channel_base 32768; StyleGAN1 (fmap_base 8192) is 16384 here.
DEFAULT_CHANNEL_BASE = {"stylegan2": 32768, "stylegan1": 16384}
# Truncation the papers render with (StyleGAN1: psi 0.7 on the first 8 ws); render uses it when --trunc is omitted.
PAPER_TRUNCATION = {"stylegan2": (1.0, None), "stylegan1": (0.7, 8)}
# The dtypes a generator runs in, by short name (render --dtype, bench --dtype): the torch attribute of each.
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    arch: str = "stylegan2"
    resolution: int = 256
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    mapping_layers: int = 8
    channel_base: Optional[int] = None  # None: the architecture's paper value
    channel_max: int = 512
    img_channels: int = 3
    num_fp16_res: int = 0
    conv_clamp: Optional[float] = None
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of: {', '.join(ARCHS)}")
        if self.channel_base is None:
            object.__setattr__(self, "channel_base", DEFAULT_CHANNEL_BASE[self.arch])
        r = self.resolution
        if not isinstance(r, int) or r < 8 or r > 1024 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two from 8 to 1024, got {r!r}")
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "img_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.c_dim, int) or self.c_dim < 0:
            raise ValueError(f"c_dim must be an integer >= 0, got {self.c_dim!r}")
        if not isinstance(self.num_fp16_res, int) or self.num_fp16_res < 0:
            raise ValueError(f"num_fp16_res must be an integer >= 0, got {self.num_fp16_res!r}")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise ValueError(f"conv_clamp must be None or > 0, got {self.conv_clamp!r}")
        if self.channel_base // r < 1:
            raise ValueError(f"channel_base {self.channel_base} gives no channels at {r} px; use at least {r}")
        if self.arch == "stylegan1":
            for name, ok in (("c_dim", self.c_dim == 0), ("num_fp16_res", self.num_fp16_res == 0),
                             ("conv_clamp", self.conv_clamp is None)):
                if not ok:
                    raise ValueError(f"{name}={getattr(self, name)!r} is not supported for stylegan1 "
                                     f"(StyleGAN1 has no {name}); leave it at its default")

    @property
    def log2_resolution(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_ws(self) -> int:
        return 2 * self.log2_resolution - 2

    def channels(self, res: int) -> int:
        """Feature maps at resolution ``res`` (same rule for both architectures)."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, self.log2_resolution + 1)]

    @property
    def fp16_resolution(self) -> int:
        """Blocks at this resolution and above run in float16 on CUDA (NVlabs' num_fp16_res)."""
        if self.num_fp16_res == 0:
            return self.resolution * 2
        return max(2 ** (self.log2_resolution + 1 - self.num_fp16_res), 8)

    def ws_resolution(self, index: int) -> int:
        """The resolution of the convolution layers that ws[:, index] styles."""
        if not 0 <= index < self.num_ws:
            raise IndexError(f"ws index {index} out of range 0..{self.num_ws - 1}")
        if self.arch == "stylegan1":  # two layers per resolution, from 4x4
            res_log2 = index // 2 + 2
        else:  # 4x4 has one conv; each block after has conv0 (sharing ws with the previous toRGB) and conv1
            res_log2 = (index + 1) // 2 + 2
        return min(2 ** res_log2, self.resolution)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        if not isinstance(d, dict):
            raise ValueError(f"a generator config must be a JSON object of settings, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown generator config keys {unknown}; accepted keys: {sorted(known)}")
        return cls(**d)
