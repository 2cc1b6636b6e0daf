"""Checks for the optional native extension stylegan_fast._C.

With STYLEGAN_FAST_REQUIRE_NATIVE=1 (CI) a missing extension is a failure,
otherwise the native-only tests are skipped with the import error as reason.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from stylegan_fast import _native

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_NATIVE = os.environ.get("STYLEGAN_FAST_REQUIRE_NATIVE", "0").strip().lower() in ("1", "on", "true", "yes")
CUDA_MODE = os.environ.get("STYLEGAN_FAST_CUDA", "auto").strip().lower()


def _need_native():
    if _native.native_available():
        return _native.get_module()
    if REQUIRE_NATIVE:
        pytest.fail(f"STYLEGAN_FAST_REQUIRE_NATIVE=1 but {_native.native_error()}")
    pytest.skip(_native.native_error() or "native extension unavailable")


def _arch_numbers(archs):
    # "80", "90a", "80-real" -> 80, 90, 80
    out = set()
    for a in archs:
        m = re.match(r"(\d+)", str(a))
        if m:
            out.add(int(m.group(1)))
    return out


def _elf_needed(path):
    """DT_NEEDED entries of a little-endian ELF64 shared object."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        pytest.skip("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        base = shoff + i * shentsize
        sh_type = struct.unpack_from("<I", data, base + 4)[0]
        sh_offset, sh_size = struct.unpack_from("<QQ", data, base + 0x18)
        sh_link = struct.unpack_from("<I", data, base + 0x28)[0]
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    SHT_DYNAMIC, DT_NULL, DT_NEEDED = 6, 0, 1
    needed = []
    for sh_type, off, size, link in sections:
        if sh_type != SHT_DYNAMIC:
            continue
        str_off = sections[link][1]
        for pos in range(off, off + size, 16):
            tag, val = struct.unpack_from("<qQ", data, pos)
            if tag == DT_NULL:
                break
            if tag == DT_NEEDED:
                end = data.index(b"\0", str_off + val)
                needed.append(data[str_off + val : end].decode())
    return needed


def test_native_module_importable_without_raising():
    # The accessors must work whatever the state of the build.
    assert isinstance(_native.native_available(), bool)
    assert isinstance(_native.cuda_compiled(), bool)
    if _native.native_available():
        assert _native.native_error() is None
        assert isinstance(_native.build_info(), dict)
    else:
        assert _native.native_error().startswith("stylegan_fast._C")
        assert _native.build_info() is None
        assert _native.cuda_compiled() is False


def test_native_fallback_when_extension_missing():
    # Simulate an install without _C: importing _native must not raise.
    code = (
        "import sys; sys.modules['stylegan_fast._C'] = None\n"
        "from stylegan_fast import _native as n\n"
        "assert not n.native_available()\n"
        "assert n.build_info() is None and n.cuda_compiled() is False\n"
        "print(n.native_error())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("stylegan_fast._C not built:")


def test_build_info_keys_and_types():
    C = _need_native()
    info = _native.build_info()
    expected = {
        "version": str,
        "compiler_id": str,
        "compiler_version": str,
        "cxx_standard": str,
        "build_type": str,
        "march": str,
        "simd": list,
        "simd_missing_on_this_cpu": list,
        "openmp": bool,
        "cuda_compiled": bool,
        "cuda_archs": list,
        "nvcc_version": str,
        "pybind11_version": str,
    }
    for key, typ in expected.items():
        assert key in info, f"build_info() lacks {key!r}"
        assert isinstance(info[key], typ), f"build_info()[{key!r}] = {info[key]!r} is not {typ.__name__}"
    from stylegan_fast.version import __version__

    assert info["version"] == __version__ == C.__version__
    assert info["compiler_id"] and re.match(r"\d+\.\d+", info["compiler_version"])
    assert re.fullmatch(r"c\+\+\d+", info["cxx_standard"]) and int(info["cxx_standard"][3:]) >= 17
    assert re.match(r"\d+\.\d+\.\d+", info["pybind11_version"])
    assert all(isinstance(s, str) and s for s in info["simd"])
    # Kernels compiled for instructions this CPU lacks would crash.
    assert info["simd_missing_on_this_cpu"] == []
    march_env = os.environ.get("STYLEGAN_FAST_MARCH")
    if march_env == "none":
        assert info["march"] == ""
    elif info["march"]:
        assert info["march"].startswith("-march=")
    assert C.CUDA_COMPILED is info["cuda_compiled"] is _native.cuda_compiled()
    if info["cuda_compiled"]:
        assert info["cuda_archs"] and info["nvcc_version"]
        assert hasattr(C, "cuda_device_count")
    else:
        assert info["cuda_archs"] == [] and info["nvcc_version"] == ""
        assert not hasattr(C, "cuda_device_count")
    assert C.openmp_max_threads() >= 1
    if not info["openmp"]:
        assert C.openmp_max_threads() == 1


def test_cuda_compiled_when_nvcc_present():
    if not REQUIRE_NATIVE:
        pytest.skip("only enforced with STYLEGAN_FAST_REQUIRE_NATIVE=1")
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not on PATH")
    if CUDA_MODE in ("0", "off", "false"):
        pytest.skip("STYLEGAN_FAST_CUDA=0")
    _need_native()
    info = _native.build_info()
    assert _native.cuda_compiled(), "nvcc is on PATH but _C was built without CUDA"
    if "STYLEGAN_FAST_CUDA_ARCHS" not in os.environ:
        assert {80, 90} <= _arch_numbers(info["cuda_archs"]), info["cuda_archs"]
    assert re.search(r"\d+\.\d+", info["nvcc_version"])


def test_cuda_device_query_does_not_crash():
    C = _need_native()
    if not _native.cuda_compiled():
        pytest.skip("_C built without CUDA")
    count, err = C.cuda_device_count()
    assert isinstance(count, int) and count >= 0
    assert isinstance(err, str)
    if count == 0:
        assert err, "zero devices should come with the CUDA error text"
    else:
        assert err == ""
    rt = C.cuda_runtime_version()
    assert rt >= 11000 and rt == _native.build_info()["cuda_runtime_version"]
    assert C.cuda_driver_version() >= 0


def test_extension_does_not_link_torch_or_shared_cudart():
    C = _need_native()
    if not sys.platform.startswith("linux"):
        pytest.skip("ELF inspection is Linux-only")
    needed = _elf_needed(C.__file__)
    assert any(n.startswith("libc.so") for n in needed), needed  # parser sanity
    bad = [n for n in needed if re.match(r"lib(torch|c10|cudart)", n)]
    assert not bad, f"{C.__file__} depends on {bad}"


def test_sources_do_not_include_torch_headers():
    csrc = ROOT / "csrc"
    if not csrc.is_dir():
        pytest.skip("source tree not available")
    pattern = re.compile(r'^\s*#\s*include\s*[<"](torch/|ATen/|c10/)', re.M)
    offenders = [
        str(p.relative_to(ROOT))
        for p in csrc.rglob("*")
        if p.suffix in {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"} and pattern.search(p.read_text(errors="replace"))
    ]
    assert not offenders
    assert (csrc / "bindings.cpp").is_file()
