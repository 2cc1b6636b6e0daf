"""The Triton kernels against their reference ops, interpreted on the CPU (TRITON_INTERPRET=1).

Triton reads TRITON_INTERPRET when a kernel is defined, so each tests/interpreter/check_*.py runs
in a child pytest process with it set; a GPU run is never put into the interpreter.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).parent / "interpreter"
MODULES = sorted(p.name for p in FOLDER.glob("check_*.py"))


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
@pytest.mark.parametrize("module", MODULES)
def test_triton_kernels_in_the_interpreter(module):
    env = {**os.environ, "TRITON_INTERPRET": "1", "TRITON_DEFAULT_FP_FUSION": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(FOLDER / module)],
                       cwd=FOLDER.parent.parent, env=env, capture_output=True, text=True, timeout=900)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    print(f"{module}: {summary}")
    assert r.returncode == 0, f"{module}:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    assert " passed" in summary and "skipped" not in summary, summary
