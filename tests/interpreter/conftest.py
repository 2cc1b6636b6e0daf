"""Triton kernels run by the interpreter: this folder runs in a child process with TRITON_INTERPRET=1
(tests/test_triton_interpreter.py starts it), never in the main test process."""
import os
from pathlib import Path

import pytest
import torch

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
