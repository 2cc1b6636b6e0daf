"""``stylegan-fast doctor`` and ``bench``: what works on this machine, and how fast."""
from __future__ import annotations

import os
import platform
import sys

import click

from ..backends import BACKENDS

BENCH_PROG = "stylegan-fast bench"


@click.command()
def doctor():
    """What is installed, which devices exist, which backends work here and why not."""
    import importlib.util

    import numpy
    import torch

    from .. import _native
    from ..backends import backend_status
    from ..version import __version__

    click.echo(f"stylegan_fast {__version__}   python {platform.python_version()}   {platform.platform()}")
    click.echo(f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'}), numpy {numpy.__version__}, "
               f"CPU threads {torch.get_num_threads()}")
    triton = importlib.util.find_spec("triton")
    if triton is None:
        click.echo("triton: not installed (pip install 'stylegan_fast[triton]')")
    else:
        import importlib.metadata as md

        click.echo(f"triton: {md.version('triton')}")
    if _native.native_available():
        info = _native.build_info()
        click.echo("native module stylegan_fast._C: built")
        for k in sorted(info):
            click.echo(f"    {k}: {info[k]}")
        module = _native.get_module()
        if hasattr(module, "cpu_active_isa"):
            click.echo(f"    cpu kernels: {module.cpu_active_isa()} (this CPU runs: "
                       f"{', '.join(module.cpu_supported_isas())})")
        if info.get("cuda_compiled"):
            note = cuda_driver_note(info.get("cuda_runtime_version") or 0, module.cuda_driver_version())
            click.echo(f"    cuda kernels: {note}")
    else:
        click.echo(f"native module stylegan_fast._C: NOT available: {_native.native_error()}")
    zlib_version = getattr(_native.get_module(), "ZLIB_VERSION", None)
    click.echo("png encoder: " + (f"native batch encoder (zlib {zlib_version})" if zlib_version else
                                  "Pillow (the native module has no png_encode: built without zlib)"))
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append(torch.device("cuda", i))
            click.echo(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        click.echo("cuda: no CUDA device visible to torch")
    click.echo("backends:")
    for dev in devices:
        for name in BACKENDS[1:]:
            ok, reason = backend_status(name, dev)
            click.echo(f"    {str(dev):7} {name:10} {'ok' if ok else 'no'}  {reason}")
    from ..backends import ENV_VAR, dispatch_table
    from ..ops.dispatch import REGISTRY

    env = os.environ.get(ENV_VAR)
    click.echo("ops: the backend each op runs on with --backend auto" + (f" ({ENV_VAR}={env})" if env else "")
               + ", and the implementations it has")
    tables = {str(dev): dispatch_table("auto", dev) for dev in devices}
    width = max(len(name) for name in REGISTRY)
    click.echo(f"    {'op':<{width}}  " + "".join(f"{d:<11}" for d in tables) + "implementations")
    for name, op in REGISTRY.items():
        click.echo(f"    {name:<{width}}  " + "".join(f"{t[name]:<11}" for t in tables.values())
                   + ", ".join(op.implementations))


# The oldest NVIDIA driver (Linux) that runs code built with a CUDA toolkit, per toolkit major version.
MIN_DRIVER = {13: 580, 12: 525, 11: 450}


def _cuda_version(v: int) -> str:  # 13000 -> "13.0"
    return f"{v // 1000}.{v % 1000 // 10}"


def cuda_driver_note(runtime: int, driver: int) -> str:
    """What the module's CUDA runtime ``runtime`` (e.g. 13000) needs from the driver, which supports CUDA ``driver``
    (cudaDriverGetVersion, 0 without a driver), and whether it has it."""
    need = MIN_DRIVER.get(runtime // 1000)
    needs = (f"built with CUDA {_cuda_version(runtime)}, which needs NVIDIA driver {need} or newer" if need
             else f"built with CUDA {_cuda_version(runtime)}")
    if driver == 0:
        return f"{needs}; no NVIDIA driver found"
    if driver // 1000 < runtime // 1000:
        return (f"{needs}; this driver supports CUDA {_cuda_version(driver)} only: backend 'cuda' cannot run "
                f"(update the driver, or build with the CUDA {driver // 1000} toolkit)")
    return f"{needs}; this driver supports CUDA {_cuda_version(driver)}: ok"


# The arguments, --help included, go to the benchmark's own argparse parser (stylegan_fast.bench).
@click.command(add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def bench(ctx):
    """Throughput table per backend; --end-to-end: generator vs files (all options: stylegan-fast bench --help)."""
    from ..bench import main as bench_main

    sys.exit(bench_main(ctx.args, prog=BENCH_PROG))
