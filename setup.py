"""Build script for stylegan_fast.

The native module ``stylegan_fast._C`` is built by CMake (Ninja generator)
from ``csrc/``. Environment knobs:

  STYLEGAN_FAST_CUDA=auto|0|1      CUDA sources: auto (if nvcc found), never, required
  STYLEGAN_FAST_CUDA_ARCHS  CMake CUDA_ARCHITECTURES list (default: CMakeLists.txt's, sm_75..sm_90 + PTX)
  STYLEGAN_FAST_MARCH=none|native|<arch>   -march for CPU sources (default none: runs on any CPU;
                                   the kernels pick AVX2/AVX-512 variants at run time)
  STYLEGAN_FAST_SANITIZE=address,undefined   sanitizer build (for the kernel tests)
  STYLEGAN_FAST_OPENMP=1|0         use OpenMP if found
  STYLEGAN_FAST_BUILD_TYPE=Release  CMake build type
  STYLEGAN_FAST_REQUIRE_NATIVE=1   fail the install if the native build fails
                                   (default: warn and install the pure-Python package)
  MAX_JOBS=<n>                     parallel compile jobs (default: all cores)
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap

from setuptools import Extension, find_namespace_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_ERROR_FILE = "_native_build_error.txt"  # read by stylegan_fast/_native.py


def read_version():
    with open(os.path.join(ROOT, "stylegan_fast", "version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', f.read(), re.M)
    if not m:
        raise RuntimeError("cannot find __version__ in stylegan_fast/version.py")
    return m.group(1)


def env_flag(name, default="0"):
    return os.environ.get(name, default).strip().lower() in ("1", "on", "true", "yes")


def find_tool(name):
    """Prefer the PyPI cmake/ninja of the build environment, then PATH."""
    try:
        if name == "cmake":
            import cmake  # type: ignore

            cand = os.path.join(cmake.CMAKE_BIN_DIR, "cmake")
        else:
            import ninja  # type: ignore

            cand = os.path.join(ninja.BIN_DIR, "ninja")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    except Exception:
        pass
    return shutil.which(name)


def cmake_version(cmake):
    try:
        out = subprocess.run([cmake, "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
        m = re.search(r"version\s+(\d+)\.(\d+)", out)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    except Exception:
        return (0, 0)


def find_nvcc():
    nvcc = shutil.which("nvcc")
    if nvcc:
        return nvcc
    for var in ("CUDA_HOME", "CUDA_PATH"):
        home = os.environ.get(var)
        if home and os.path.isfile(os.path.join(home, "bin", "nvcc")):
            return os.path.join(home, "bin", "nvcc")
    if os.path.isfile("/usr/local/cuda/bin/nvcc"):
        return "/usr/local/cuda/bin/nvcc"
    return None


class CMakeExtension(Extension):
    def __init__(self, name):
        # optional=True: setuptools then skips copying a module that was not
        # built (editable/inplace). Whether a failure is fatal is decided in
        # CMakeBuild.build_extension (STYLEGAN_FAST_REQUIRE_NATIVE).
        super().__init__(name, sources=[], optional=True)


class CMakeBuild(build_ext):
    """build_ext that delegates to CMake; a failure only warns unless
    STYLEGAN_FAST_REQUIRE_NATIVE=1."""

    def run(self):
        self._sgf_inplace = bool(self.inplace or getattr(self, "editable_mode", False))
        super().run()

    def build_extension(self, ext):
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        error_files = [os.path.join(os.path.dirname(target), BUILD_ERROR_FILE)]
        if getattr(self, "_sgf_inplace", False):
            error_files.append(os.path.join(ROOT, *ext.name.split(".")[:-1], BUILD_ERROR_FILE))
        for path in error_files:
            if os.path.isfile(path):
                os.remove(path)
        try:
            self._cmake_build(ext, target)
        except Exception as exc:  # noqa: BLE001 - any failure must be reportable
            # Kept beside the package so that `stylegan-fast doctor` can say why _C is missing.
            for path in error_files:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(str(exc))
            if env_flag("STYLEGAN_FAST_REQUIRE_NATIVE"):
                raise RuntimeError(
                    f"stylegan_fast: native build failed and STYLEGAN_FAST_REQUIRE_NATIVE=1: {exc}"
                ) from exc
            self._remove_stale(ext, target)
            bar = "!" * 78
            msg = textwrap.fill(
                f"stylegan_fast: building the native extension {ext.name} FAILED; "
                "installing without it (pure PyTorch/Triton paths still work). "
                "Set STYLEGAN_FAST_REQUIRE_NATIVE=1 to make this an error.",
                78,
            )
            sys.stderr.write(f"\n{bar}\n{msg}\nReason: {exc}\n{bar}\n\n")
            sys.stderr.flush()

    def _remove_stale(self, ext, target):
        # An old module left next to the sources (editable/inplace) would
        # otherwise be imported although this build failed.
        stale = [target]
        if getattr(self, "_sgf_inplace", False):
            stale.append(os.path.join(ROOT, *ext.name.split(".")[:-1], os.path.basename(target)))
        for path in stale:
            if os.path.isfile(path):
                os.remove(path)
                sys.stderr.write(f"stylegan_fast: removed stale {path}\n")

    def _cmake_build(self, ext, target):
        cmake = find_tool("cmake")
        if not cmake:
            raise RuntimeError("cmake not found (pip install cmake, or put cmake on PATH)")
        ninja = find_tool("ninja")
        if not ninja:
            raise RuntimeError("ninja not found (pip install ninja, or put ninja on PATH)")

        import pybind11

        build_temp = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        out_dir = os.path.join(build_temp, "out")
        os.makedirs(build_temp, exist_ok=True)

        cuda_mode = os.environ.get("STYLEGAN_FAST_CUDA", "auto").strip().lower() or "auto"
        build_type = os.environ.get("STYLEGAN_FAST_BUILD_TYPE", "Release")
        args = [
            cmake, "-S", ROOT, "-B", build_temp, "-G", "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja}",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DSGF_OUTPUT_DIR={out_dir}",
            f"-DSTYLEGAN_FAST_CUDA={cuda_mode}",
            "-DSTYLEGAN_FAST_MARCH=" + os.environ.get("STYLEGAN_FAST_MARCH", "none"),
            "-DSTYLEGAN_FAST_SANITIZE=" + os.environ.get("STYLEGAN_FAST_SANITIZE", ""),
            "-DSTYLEGAN_FAST_OPENMP=" + ("ON" if env_flag("STYLEGAN_FAST_OPENMP", "1") else "OFF"),
        ]
        if os.environ.get("STYLEGAN_FAST_CUDA_ARCHS"):  # else CMakeLists.txt's default
            args.append("-DSTYLEGAN_FAST_CUDA_ARCHS=" + os.environ["STYLEGAN_FAST_CUDA_ARCHS"])
        if cuda_mode not in ("0", "off", "false"):
            nvcc = find_nvcc()
            if nvcc:
                args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
            elif cuda_mode in ("1", "on", "true"):
                raise RuntimeError("STYLEGAN_FAST_CUDA=1 but nvcc was not found (PATH, CUDA_HOME)")
        # Configure from a clean cache so changed env knobs (CUDA on/off, archs,
        # compilers, another cmake) always take effect; Ninja still reuses
        # object files whose command line did not change.
        if cmake_version(cmake) >= (3, 24):
            args.insert(1, "--fresh")
        else:
            for stale in ("CMakeCache.txt", "CMakeFiles"):
                p = os.path.join(build_temp, stale)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                elif os.path.exists(p):
                    os.remove(p)

        jobs = os.environ.get("MAX_JOBS") or str(os.cpu_count() or 1)
        self._run(args)
        self._run([cmake, "--build", build_temp, "--config", build_type, "--parallel", jobs])

        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        built = [f for f in os.listdir(out_dir) if f.startswith("_C.") and f.endswith(suffix)]
        if not built:
            built = [f for f in os.listdir(out_dir) if f.startswith("_C.")]
        if len(built) != 1:
            raise RuntimeError(f"expected one _C module in {out_dir}, found {built}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(out_dir, built[0]), target)

    def _run(self, cmd):
        print("stylegan_fast: $ " + " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
            raise RuntimeError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def package_data():
    data_dir = os.path.join(ROOT, "stylegan_fast", "data")
    return {"stylegan_fast": ["serve/static/*"] + (["data/*"] if os.path.isdir(data_dir) else [])}


setup(
    name="stylegan_fast",
    version=read_version(),
    description="Fast StyleGAN inference engine",
    python_requires=">=3.9",
    # Namespace-aware so that subpackages are found even before every folder
    # has an __init__.py.
    packages=find_namespace_packages(
        include=["stylegan_fast", "stylegan_fast.*"], exclude=["*.__pycache__", "*.__pycache__.*"]
    ),
    package_data=package_data(),
    include_package_data=True,
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "safetensors>=0.4",
        "Pillow>=9.0",
        "tqdm>=4.60",
        "click>=8.1",
        "imageio-ffmpeg>=0.5",
        # stylegan-fast serve
        "starlette>=0.40",
        "uvicorn>=0.30",
        "python-multipart>=0.0.9",
    ],
    extras_require={
        # triton: the tests check ops.noise_stream against its tl.randn (and will run the Triton kernels)
        "test": ["pytest>=7.4", "pytest-benchmark>=4.0", "triton>=3.2,<4",
                 "httpx>=0.27", "selenium>=4.11",
                 "onnxruntime>=1.18", "onnx>=1.17", "onnxscript>=0.3", "onnx-ir>=1.0"],
        # stylegan-fast export --format onnx
        "export": ["onnx>=1.17", "onnxscript>=0.3", "onnx-ir>=1.0"],
        # benchmarks/cpu_engines.py: ONNX export of the generator and ONNX Runtime as a competitor
        "bench": ["onnxruntime>=1.18", "onnx>=1.17", "onnxscript>=0.3", "onnx-ir>=1.0"],
        "triton": ["triton>=3.0"],
    },
    entry_points={"console_scripts": ["stylegan-fast = stylegan_fast.cli:main"]},
    ext_modules=[CMakeExtension("stylegan_fast._C")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
