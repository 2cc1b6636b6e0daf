"""Atomic file output: write to a temporary file beside the target, then rename over it."""
from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (reading it means setting it: a lock keeps threads from seeing the 0 in between)."""
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; on success it replaces ``path`` in one rename.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    umask = current_umask()
    try:
        yield Path(tmp)
        # mkstemp makes 0600, and writers that recreate the file (safetensors' save_file) keep that:
        # give the finished file the usual permissions.
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_TMP_NUMBERS = itertools.count()
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def write_atomic(path, data) -> None:
    """Write ``data`` (bytes or any buffer) to ``path`` atomically, as :func:`atomic_path` does.

    The lean form for many small files (the render pipeline writes one per image): the temporary file
    is created with mode 0666, so the umask gives it the usual permissions without a chmod, and its
    name needs no random draw. Four system calls: open, write, close, rename.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_TMP_NUMBERS)}.partial")
        try:
            fd = os.open(tmp, _O_NEW, 0o666)
            break
        except FileExistsError:  # left by a killed process that had this pid
            continue
        except FileNotFoundError:
            if not folder or os.path.isdir(folder):
                raise
            os.makedirs(folder, exist_ok=True)
    try:
        with open(fd, "wb", buffering=0, closefd=True) as f:
            view = memoryview(data).cast("B")
            while view:
                view = view[f.write(view):]
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_arrays(path, what: str, main_key: str, hint: str = ""):
    """The arrays of a .npz (a dict) or the array of a .npy, never unpickling anything.

    ``what`` names the file in errors ("latent file"); ``main_key`` is the array a .npz must hold (``hint``
    ends the error when it is missing).
    """
    import numpy as np

    path = Path(path)
    if path.suffix.lower() not in (".npz", ".npy"):
        raise ValueError(f"{path}: a {what} must be .npz (key {main_key!r}) or .npy")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numpy array file ({e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        return data
    with data:
        if main_key not in data.files:
            raise ValueError(f"{path}: no array named {main_key!r} (has: {', '.join(data.files) or 'nothing'})"
                             + (f"; {hint}" if hint else ""))
        return {name: data[name] for name in data.files}

