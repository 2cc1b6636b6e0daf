"""Ahead-of-time compiles of every kernel configuration, for GPU targets, without a GPU.

    from stylegan_fast import kernels
    rows = kernels.compile_report(targets=("sm_80", "sm_90"))     # one dict per (kernel, config, target)
    stylegan-fast kernels --compile sm_80,sm_90 --json kernels.json

Every Triton kernel module ``stylegan_fast/ops/<op>/triton_kernels.py`` lists the configurations
its launcher may pick (``kernel_specs()``, see ``ops/triton_support.KernelSpec``). Each one is
compiled with ``triton.compile`` for each target (the CUDA backend of Triton runs ptxas; no driver
or device is needed), and its cubin is read with ``cuobjdump -res-usage``: registers per thread,
stack and local memory (spills: a configuration that spills must not be chosen by a launcher),
shared memory (static from cuobjdump plus Triton's dynamic shared memory from the kernel's
metadata). A configuration that needs more shared memory than the target has per block would fail
at launch, so it counts as a failure here.

This module and the kernel modules are the only ones that import triton (lazily, at the first
call); without triton installed they raise :class:`TritonNotInstalledError`.

The CUDA kernels (csrc/cuda, backend "cuda") are compiled into ``stylegan_fast._C`` at install
time, with SASS for each architecture of STYLEGAN_FAST_CUDA_ARCHS: :func:`cuda_report` reads their
resource usage from the module itself (``cuobjdump -res-usage -arch sm_XX _C.so``), one row per
kernel instantiation (``config``: its template arguments) and target.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib
import importlib.util
import multiprocessing
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Optional, Sequence

try:
    import resource
except ImportError:  # Windows
    resource = None

BACKEND = "triton"
CUDA_BACKEND = "cuda"
KERNEL_MODULE = "triton_kernels"
DEFAULT_TARGETS = ("sm_80", "sm_90")
# Largest shared memory one block may use (opt-in), per compute capability, in bytes (CUDA guide, table 21).
MAX_SHARED_PER_BLOCK = {80: 163 * 1024, 86: 99 * 1024, 87: 163 * 1024, 89: 99 * 1024, 90: 227 * 1024}
ERROR_LINES = 8  # of a compile error kept in the report
KEYS = ("backend", "kernel", "config", "target", "registers", "spill_bytes", "shared_bytes", "error")


class TritonNotInstalledError(RuntimeError):
    """Ahead-of-time compiles need the triton package (no GPU needed)."""


def require_triton():
    """The triton module; a clear error when it is missing or when the interpreter would replace the compiler."""
    if importlib.util.find_spec("triton") is None:
        raise TritonNotInstalledError(
            "triton is not installed: the kernel compiles need it (no GPU needed); pip install 'stylegan_fast[triton]'")
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("TRITON_INTERPRET=1 is set: kernels defined under the interpreter cannot be compiled; "
                           "unset it for `stylegan-fast kernels`")
    import triton

    return triton


@dataclasses.dataclass
class FoundKernel:
    """One KernelSpec of one op's kernel module, or the error that kept the module from listing its specs."""
    backend: str
    op: str
    module: str
    name: str  # "<op>/<kernel function>": the ``kernel`` of the report
    spec: object = None  # ops.triton_support.KernelSpec
    error: Optional[str] = None

    @property
    def configs(self) -> list:
        return [] if self.spec is None else list(self.spec.configs)


def find_kernel_specs(backend: str = BACKEND) -> list[FoundKernel]:
    """Every KernelSpec of every op package that has a ``triton_kernels`` module, in op order.

    A module that fails to import, or whose ``kernel_specs()`` fails, is one entry with ``error``
    set (the report counts it as a failure on every target) rather than an exception.
    """
    if backend != BACKEND:
        raise ValueError(f"ahead-of-time compiles exist for backend {BACKEND!r} only, not {backend!r}")
    require_triton()
    from . import ops

    found = []
    for info in sorted(pkgutil.iter_modules(ops.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        op = info.name
        module = f"{ops.__name__}.{op}.{KERNEL_MODULE}"
        if importlib.util.find_spec(module) is None:
            continue
        try:
            specs = importlib.import_module(module).kernel_specs()
        except Exception as e:  # noqa: BLE001 - a broken module is a row in the report, not a crash
            found.append(FoundKernel(backend, op, module, f"{op}/{KERNEL_MODULE}", error=_first_lines(e)))
            continue
        for spec in specs:
            found.append(FoundKernel(backend, op, module, f"{op}/{spec.name}", spec=spec))
    return found


def config_label(config: dict) -> str:
    """A short readable name: pointer dtypes, constexprs, warps; e.g. ``fp16/fp32 ACT=2 BLOCK=1024 w4``."""
    dtypes = _dtypes(config)
    parts = [dtypes] if dtypes else []
    for name, value in config.get("constexprs", {}).items():
        value = int(value) if isinstance(value, bool) else value
        parts.append(f"{name}={value}")
    parts.append(f"w{config.get('num_warps', 4)}")
    if "num_stages" in config:
        parts.append(f"s{config['num_stages']}")
    return " ".join(parts)


def _dtypes(config: dict) -> str:
    """The pointer element types of the signature, in order, without repeats: 'fp16/fp32'."""
    dtypes = []
    for ty in config["signature"].values():
        if ty.startswith("*") and ty[1:] not in dtypes:
            dtypes.append(ty[1:])
    return "/".join(dtypes)


def sample_configs(configs: Sequence[dict], sample: str = "all") -> list[dict]:
    """``"all"``: every configuration; ``"pairs"``: a subset in which every pair of settings occurs.

    A setting is one constexpr's value, the pointer dtypes or num_warps; every combination of two
    settings that some configuration has is kept in one chosen configuration (greedy all-pairs
    cover, starting from the heaviest configuration: most flags on, largest blocks, most warps).
    A few percent of the configurations, for when compiling all of them takes too long.
    """
    configs = list(configs)
    if sample == "all":
        return configs
    if sample != "pairs":
        raise ValueError(f"unknown sample {sample!r}; choose 'all' or 'pairs'")

    def settings(config):
        items = [("dtypes", _dtypes(config))]
        items += sorted((k, repr(v)) for k, v in config.get("constexprs", {}).items())
        items.append(("num_warps", repr(config.get("num_warps", 4))))
        return items

    def pairs(config):
        s = settings(config)
        return {(a, b) for i, a in enumerate(s) for b in s[i + 1:]}

    def weight(config):
        values = [float(v) for v in config.get("constexprs", {}).values() if isinstance(v, (bool, int, float))]
        return (sum(values), config.get("num_warps", 4))

    candidates = sorted(range(len(configs)), key=lambda i: weight(configs[i]), reverse=True)
    candidate_pairs = {i: pairs(configs[i]) for i in candidates}
    uncovered = set().union(*candidate_pairs.values()) if candidates else set()
    chosen = []
    while uncovered:
        best = max(candidates, key=lambda i: len(candidate_pairs[i] & uncovered))  # first of the heaviest on ties
        chosen.append(best)
        uncovered -= candidate_pairs[best]
        candidates.remove(best)
    return [configs[i] for i in sorted(chosen)]


def parse_target(target: str) -> int:
    """'sm_90' (also 'sm_90a', '90') -> 90."""
    m = re.fullmatch(r"(?:sm_?)?(\d{2,3})a?", target.strip().lower())
    if not m:
        raise ValueError(f"unknown GPU target {target!r}; expected e.g. sm_80 or sm_90")
    return int(m.group(1))


_FUNCTION = re.compile(r"Function\s+([^\s:]+)\s*:")
_FIELD = re.compile(r"\b([A-Z]+(?:\[\d+\])?):(\d+)")


def parse_res_usage(text: str) -> dict[str, dict[str, int]]:
    """``cuobjdump -res-usage`` output -> {function name: {"REG": 26, "STACK": 0, "SHARED": 0, "LOCAL": 0, ...}}.

    Accepts the fields on the function's line or on the next ones (cuobjdump versions differ);
    the ``Common:`` section before the first function is ignored.
    """
    usage = {}
    matches = list(_FUNCTION.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        usage[m.group(1)] = {key: int(value) for key, value in _FIELD.findall(text, m.end(), end)}
    return usage


def resources(usage: dict[str, int]) -> dict:
    """One function's cuobjdump fields -> registers, spill bytes (stack frame + local memory), static shared."""
    return {"registers": usage.get("REG", 0), "spill_bytes": usage.get("STACK", 0) + usage.get("LOCAL", 0),
            "shared_bytes": usage.get("SHARED", 0)}


def cuobjdump_path() -> str:
    triton = require_triton()
    try:
        return triton.knobs.nvidia.cuobjdump.path
    except (AttributeError, RuntimeError):
        bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
        return str(bundled) if bundled.exists() else "cuobjdump"


def read_res_usage(cubin: bytes) -> dict[str, dict[str, int]]:
    """Run cuobjdump on ``cubin`` (written to a temporary file) and parse its resource usage."""
    with tempfile.TemporaryDirectory(prefix="stylegan_fast_cubin_") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        r = subprocess.run([cuobjdump_path(), "-res-usage", str(path)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"cuobjdump -res-usage failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    return parse_res_usage(r.stdout)


def _first_lines(e: BaseException, n: int = ERROR_LINES) -> str:
    lines = [line for line in f"{type(e).__name__}: {e}".strip().splitlines() if line.strip()]
    return "\n".join(lines[:n] + (["..."] if len(lines) > n else []))


def _specs_of(module: str) -> dict:
    """kernel function name -> KernelSpec of one kernel module (cached per process)."""
    cached = _SPECS.get(module)
    if cached is None:
        cached = _SPECS[module] = {spec.name: spec for spec in importlib.import_module(module).kernel_specs()}
    return cached


_SPECS: dict = {}


def compile_one(module: str, kernel: str, config: dict, target: str, fn=None) -> dict:
    """Compile one configuration of ``module``'s kernel ``kernel`` for ``target``: its resource usage.

    Returns ``registers``, ``spill_bytes``, ``shared_bytes``, ``error`` (None on success) and
    ``cpu_seconds`` (this process and ptxas/cuobjdump: does not grow with the machine's load).
    ``fn``: the @triton.jit function (default: looked up by name in ``module``, which a pool worker
    imports itself).
    """
    start = _cpu_seconds()
    out = {"registers": None, "spill_bytes": None, "shared_bytes": None, "error": None}
    try:
        triton = require_triton()
        from triton.backends.compiler import GPUTarget

        fn = _specs_of(module)[kernel].fn if fn is None else fn
        capability = parse_target(target)
        options = {k: config[k] for k in ("num_warps", "num_stages", "maxnreg") if k in config}
        source = triton.compiler.ASTSource(fn=fn, signature=config["signature"],
                                           constexprs=config.get("constexprs", {}))
        with warnings.catch_warnings():
            # Triton 3.9 warns once that its FP-fusion default will change; the default is what launchers get.
            warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION.*")
            compiled = triton.compile(source, target=GPUTarget("cuda", capability, 32), options=options)
        usage = read_res_usage(compiled.asm["cubin"])
        name = compiled.metadata.name
        if name not in usage:
            if len(usage) != 1:
                raise RuntimeError(f"cuobjdump lists {sorted(usage)}, not the kernel {name!r}")
            name = next(iter(usage))
        out.update(resources(usage[name]))
        out["shared_bytes"] += int(getattr(compiled.metadata, "shared", 0) or 0)  # Triton's dynamic shared memory
        limit = MAX_SHARED_PER_BLOCK.get(capability)
        if limit is not None and out["shared_bytes"] > limit:
            out["error"] = (f"needs {out['shared_bytes']} bytes of shared memory per block; sm_{capability} allows "
                            f"at most {limit} (the launch would fail)")
    except Exception as e:  # noqa: BLE001 - every failure is a row of the report
        out = {"registers": None, "spill_bytes": None, "shared_bytes": None, "error": _first_lines(e)}
        if os.environ.get("STYLEGAN_FAST_KERNELS_TRACEBACK") == "1":
            traceback.print_exc()
    out["cpu_seconds"] = _cpu_seconds() - start
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ptxas, cuobjdump)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    return time.process_time() + (children.ru_utime + children.ru_stime if children else 0.0)


def _compile_task(task):
    module, kernel, config, target = task
    return compile_one(module, kernel, config, target)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def compile_report(targets: Sequence[str] = DEFAULT_TARGETS, jobs: Optional[int] = None, progress: bool = True,
                   kernels: Optional[Sequence[str]] = None, found: Optional[list] = None,
                   sample: str = "all") -> list[dict]:
    """One dict per (backend, kernel, config, target), in spec order then target order.

    Keys: ``backend``, ``kernel`` ("<op>/<kernel function>"), ``config`` (:func:`config_label`),
    ``target``, ``registers``, ``spill_bytes``, ``shared_bytes``, ``error`` (None, or the first
    lines of the compile error); and ``cpu_seconds``, what the compile cost (not in the JSON
    form, :func:`json_rows`). ``jobs``: worker processes (default: the usable cores; 1
    compiles in this process). ``kernels``: only kernels whose name contains one of these
    strings. ``progress``: a progress line on stderr. ``found``: the kernels to compile
    (default :func:`find_kernel_specs`). ``sample``: "all" configurations, or "pairs"
    (:func:`sample_configs`).
    """
    require_triton()
    targets = list(targets)
    for target in targets:
        parse_target(target)
    if found is None:
        found = find_kernel_specs()
    if kernels:
        found = [k for k in found if any(s in k.name for s in kernels)]
    rows, tasks = [], []
    for k in found:
        if k.error is not None:
            for target in targets:
                rows.append(_row(k, KERNEL_MODULE, target, {"error": k.error}))
            continue
        labels = dict(zip(map(id, k.configs), _unique_labels(k.configs)))
        for config in sample_configs(k.configs, sample):
            label = labels[id(config)]
            for target in targets:
                rows.append(_row(k, label, target, None))
                tasks.append((len(rows) - 1, (k.module, k.spec.name, config, target), k.spec.fn))
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    start, done = time.perf_counter(), 0
    report = _progress_printer(len(tasks)) if progress else (lambda done, elapsed: None)
    if jobs == 1 or len(tasks) <= 1:
        for index, task, fn in tasks:
            _fill(rows[index], compile_one(*task, fn=fn))
            done += 1
            report(done, time.perf_counter() - start)
    else:
        # spawn: workers import torch and the kernel modules afresh (no state forked from this process)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
            futures = {pool.submit(_compile_task, task): index for index, task, _ in tasks}
            for future in concurrent.futures.as_completed(futures):
                try:
                    result = future.result()
                except Exception as e:  # noqa: BLE001 - a dead worker fails its row, not the report
                    result = {"error": _first_lines(e)}
                _fill(rows[futures[future]], result)
                done += 1
                report(done, time.perf_counter() - start)
    return rows


def _row(k: FoundKernel, label: str, target: str, result: Optional[dict]) -> dict:
    row = {"backend": k.backend, "kernel": k.name, "config": label, "target": target, "registers": None,
           "spill_bytes": None, "shared_bytes": None, "error": None, "cpu_seconds": 0.0}
    if result is not None:
        _fill(row, result)
    return row


def _fill(row: dict, result: dict) -> None:
    for key in ("registers", "spill_bytes", "shared_bytes", "error"):
        row[key] = result.get(key)
    row["cpu_seconds"] = result.get("cpu_seconds", 0.0)


def _unique_labels(configs: list) -> list[str]:
    labels = [config_label(c) for c in configs]
    seen: dict = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    counts: dict = {}
    out = []
    for label in labels:
        if seen[label] > 1:  # configs differing only in scalar types: number them
            counts[label] = counts.get(label, 0) + 1
            label = f"{label} #{counts[label]}"
        out.append(label)
    return out


def _progress_printer(total: int):
    step = max(1, total // 20)
    tty = sys.stderr.isatty()

    def report(done: int, elapsed: float) -> None:
        if done == total or done % step == 0 or tty:
            end = "\n" if (done == total or not tty) else ""
            sys.stderr.write(f"\rcompiled {done}/{total} ({elapsed:.0f} s){end}")
            sys.stderr.flush()

    return report


def spilling(rows: Sequence[dict]) -> list[dict]:
    """Rows whose configuration spills registers (stack or local memory): launchers must not choose them."""
    return [r for r in rows if not r.get("error") and (r.get("spill_bytes") or 0) > 0]


def failures(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if r.get("error")]


def summary(rows: Sequence[dict], targets: Sequence[str]) -> str:
    """``N configs compiled for sm_80, N for sm_90; M failures, K spilling``."""
    per_target = []
    for target in targets:
        ok = sum(1 for r in rows if r["target"] == target and not r.get("error"))
        per_target.append(f"{ok} for {target}")
    fails, spills = len(failures(rows)), len(spilling(rows))
    kernels = len({r["kernel"] for r in rows})
    return (f"{kernels} kernels: configs compiled: {', '.join(per_target) or 'none'}; "
            f"{fails} failure{'s' * (fails != 1)}, {spills} spilling")


def cpu_seconds_by_kernel(rows: Sequence[dict]) -> dict[str, float]:
    """Compile CPU seconds per kernel, most expensive first (what to sample when CI is too slow)."""
    total: dict = {}
    for r in rows:
        total[r["kernel"]] = total.get(r["kernel"], 0.0) + r.get("cpu_seconds", 0.0)
    return dict(sorted(total.items(), key=lambda item: -item[1]))


def json_rows(rows: Sequence[dict]) -> list[dict]:
    """The JSON form: the fixed keys, ``error`` only on failures."""
    out = []
    for r in rows:
        item = {k: r.get(k) for k in KEYS if k != "error"}
        if r.get("error"):
            item["error"] = r["error"]
        out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# The CUDA kernels of the built module
# ---------------------------------------------------------------------------------------------

CUDA_TYPE_NAMES = {"float": "fp32", "__half": "fp16", "__nv_bfloat16": "bf16"}


def cuda_module_path() -> tuple[Optional[str], Optional[str]]:
    """(path of stylegan_fast._C when it holds CUDA kernels, else None; why not)."""
    from . import _native

    if not _native.native_available():
        return None, f"no CUDA kernels to list: {_native.native_error() or 'stylegan_fast._C is not built'}"
    if not _native.cuda_compiled():
        return None, ("no CUDA kernels to list: stylegan_fast._C was built without CUDA (nvcc was not found at "
                      "install time, or STYLEGAN_FAST_CUDA=0)")
    return _native.get_module().__file__, None


def _cuda_cuobjdump() -> Optional[str]:
    """Triton's cuobjdump, else the CUDA toolkit's (PATH, CUDA_HOME, beside nvcc)."""
    try:
        return cuobjdump_path()
    except (TritonNotInstalledError, RuntimeError):
        pass
    candidates = [shutil.which("cuobjdump")]
    candidates += [str(Path(os.environ[v]) / "bin" / "cuobjdump") for v in ("CUDA_HOME", "CUDA_PATH")
                   if v in os.environ]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent / "cuobjdump"))
    return next((c for c in candidates if c and Path(c).is_file()), None)


def demangle(names: Sequence[str]) -> dict[str, str]:
    """Mangled C++ names -> readable ones (c++filt or the CUDA toolkit's cu++filt; unchanged without either)."""
    tool = shutil.which("c++filt") or shutil.which("cu++filt")
    if not tool or not names:
        return {n: n for n in names}
    r = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True, text=True, timeout=60)
    out = r.stdout.splitlines()
    if r.returncode != 0 or len(out) != len(names):
        return {n: n for n in names}
    return dict(zip(names, out))


_TEMPLATE_NAME = re.compile(r"([A-Za-z_]\w*)(?:<(.*)>)?$")


def cuda_kernel_and_config(mangled: str, readable: str) -> tuple[str, str]:
    """'void stylegan_fast::cuda::(anonymous namespace)::k<__half, true>(...)' -> ('k', 'fp16, true').

    Without a demangler the name comes from the mangled symbol's length-prefixed identifiers (the
    last one ending in '_kernel') and the config is left empty."""
    if readable != mangled:
        head = readable.replace("(anonymous namespace)::", "").split("(", 1)[0].strip()
        m = _TEMPLATE_NAME.search(head)
        if m:
            args = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
            return m.group(1), ", ".join(CUDA_TYPE_NAMES.get(a, a) for a in args)
    names, i = [], mangled.find("_Z")
    while 0 <= i < len(mangled):
        m = re.compile(r"\d+").search(mangled, i)
        if not m:
            break
        length = int(m.group())
        names.append(mangled[m.end(): m.end() + length])
        i = m.end() + length
    kernels = [n for n in names if n.endswith("_kernel")]
    return (kernels[-1] if kernels else mangled), ""


def cuda_report(targets: Sequence[str] = DEFAULT_TARGETS, module_path: Optional[str] = None,
                kernels: Optional[Sequence[str]] = None) -> tuple[list[dict], Optional[str]]:
    """(one row per CUDA kernel instantiation and target, with the keys of :func:`compile_report`; a note
    saying why there are no rows, else None). The SASS the module was built with is read, nothing is
    compiled; a target the module has no SASS for is a failed row. ``kernels``: only kernels whose name
    contains one of these strings."""
    if module_path is None:
        module_path, note = cuda_module_path()
        if module_path is None:
            return [], note
    tool = _cuda_cuobjdump()
    rows = []
    for target in targets:
        arch = f"sm_{parse_target(target)}"
        if tool is None:
            rows.append(_cuda_row("*", "", target, error="cuobjdump not found (install triton or the CUDA toolkit)"))
            continue
        r = subprocess.run([tool, "-res-usage", "-arch", arch, module_path], capture_output=True, text=True,
                           timeout=120)
        usage = parse_res_usage(r.stdout) if r.returncode == 0 else {}
        if not usage:
            reason = (f"cuobjdump failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:300]}" if r.returncode
                      else f"{Path(module_path).name} holds no {arch} code (built for {_built_archs()})")
            rows.append(_cuda_row("*", "", target, error=reason))
            continue
        readable = demangle(list(usage))
        found = []
        for mangled, fields in usage.items():
            kernel, config = cuda_kernel_and_config(mangled, readable[mangled])
            if not kernels or any(k in kernel for k in kernels):
                found.append(_cuda_row(kernel, config, target, **resources(fields)))
        rows += sorted(found, key=lambda row: (row["kernel"], row["config"]))
    return rows, None


def _cuda_row(kernel: str, config: str, target: str, registers=None, spill_bytes=None, shared_bytes=None,
              error=None) -> dict:
    return {"backend": CUDA_BACKEND, "kernel": kernel, "config": config, "target": target, "registers": registers,
            "spill_bytes": spill_bytes, "shared_bytes": shared_bytes, "error": error, "cpu_seconds": 0.0}


def _built_archs() -> str:
    from . import _native

    return ", ".join((_native.build_info() or {}).get("cuda_archs") or []) or "unknown archs"
