"""Triton kernels run by the interpreter: this folder runs in a child process with TRITON_INTERPRET=1
(tests/test_triton_interpreter.py starts it), never in the main test process."""
import os
from pathlib import Path

import pytest
import torch

from stylegan_fast.ops.triton_support import POINTER_TYPES

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}


def dtype_id(dtype) -> str:
    return DTYPE_NAMES[dtype]


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests outside the interpreter (the hook sees every collected item: only ours)."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        skip = pytest.mark.skip(reason="Triton interpreter tests run with TRITON_INTERPRET=1 "
                                       "(tests/test_triton_interpreter.py)")
        here = Path(__file__).parent
        for item in items:
            if here in Path(item.fspath).parents:
                item.add_marker(skip)


class LaunchRecorder:
    """Stands in for a kernel: records (signature, constexprs, num_warps[, num_stages]) of each launch, then runs it.

    Tests compare the launches with the op's ``kernel_specs()`` (what CI compiles ahead of time)."""

    def __init__(self, kernel):
        self.kernel, self.launches = kernel, []

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            names = self.kernel.arg_names
            signature = {}
            for name, arg in zip(names, args):
                if isinstance(arg, torch.Tensor):
                    signature[name] = POINTER_TYPES[arg.dtype]
                else:
                    signature[name] = "fp32" if isinstance(arg, float) else "i32"
            constexprs = {k: v for k, v in kwargs.items() if k in names}
            signature.update({k: "constexpr" for k in constexprs})
            options = {k: kwargs[k] for k in ("num_warps", "num_stages") if k in kwargs}
            self.launches.append(dict(signature=signature, constexprs=constexprs, **options))
            return self.kernel[grid](*args, **kwargs)
        return launch
