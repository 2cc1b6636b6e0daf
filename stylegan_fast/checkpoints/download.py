"""Download a checkpoint URL once into a cache folder: resumable, size- and (optionally) sha256-checked.

    path = download("https://example.org/ffhq.pt")          # second call: no network at all

Cache folder: ``cache_dir`` if given, else ``$STYLEGAN_FAST_CACHE``, else
``$XDG_CACHE_HOME/stylegan_fast`` (``~/.cache/stylegan_fast``). The file name is the URL's
sanitized basename with a short hash of the whole URL (``ffhq-1a2b3c4d5e.pt``), so different
URLs with the same basename do not collide. Bytes stream into ``<name>.partial``; an interrupted
download is resumed with an HTTP ``Range`` request on the next call (or restarted when the server
ignores the range). The file is renamed into place only once it is complete and verified, so a
file under its final name is always whole. Two processes downloading the same URL at the same
time are not coordinated.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Union

ENV_CACHE = "STYLEGAN_FAST_CACHE"
CHUNK = 1 << 20
TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class DownloadError(OSError):
    """A download failed: names the URL and the HTTP status or the network error."""


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stylegan_fast"


def cache_name(url: str) -> str:
    """'https://host/a/ffhq 1024.pt?x=1' -> 'ffhq_1024-<10 hex of sha256(url)>.pt'."""
    path = urllib.parse.urlsplit(url).path
    base = urllib.parse.unquote(posixpath.basename(path.rstrip("/")))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "download"
    stem, ext = os.path.splitext(base)
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,12}", ext):
        stem, ext = base, ""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return f"{stem[:80]}-{digest}{ext}"


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, sha256: Optional[str] = None, progress: bool = True,
             cache_dir: Union[str, Path, None] = None, timeout: float = TIMEOUT_S) -> Path:
    """The cached local copy of ``url``, downloading it first if it is not cached yet.

    ``sha256`` (hex): the file must have this hash; a download that does not is deleted and
    ValueError names both hashes. ``progress``: a byte progress bar on stderr.
    Network and HTTP failures raise :class:`DownloadError` (an OSError) naming the URL.
    """
    if not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
        raise ValueError(f"download() needs an http(s) URL, got {url!r}")
    expected = None
    if sha256 is not None:
        expected = str(sha256).strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / cache_name(url)
    partial = final.with_name(final.name + ".partial")

    if final.is_file():
        if expected is None or file_sha256(final) == expected:
            return final
        final.unlink()  # cached under this URL but not the file asked for: fetch it again

    _fetch(url, partial, progress, timeout)
    if expected is not None:
        got = file_sha256(partial)
        if got != expected:
            partial.unlink()
            raise ValueError(f"sha256 mismatch for {url}: expected {expected}, got {got}; "
                             f"the downloaded file was deleted")
    os.replace(partial, final)
    return final


def _open(url: str, offset: int, timeout: float):
    from ..version import __version__

    headers = {"User-Agent": f"stylegan_fast/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # the partial file is not a prefix of what the server has
            return None
        raise DownloadError(f"downloading {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"downloading {url} failed: {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:
        raise DownloadError(f"downloading {url} failed: {type(e).__name__}: {e}") from None


def _int_header(resp, name) -> Optional[int]:
    value = (resp.headers.get(name) or "").strip()
    return int(value) if value.isdigit() else None


def _fetch(url: str, partial: Path, progress: bool, timeout: float) -> None:
    """Bring ``partial`` to the complete file: resume it (206) or (re)start it (200)."""
    offset = partial.stat().st_size if partial.is_file() else 0
    resp = _open(url, offset, timeout)
    if resp is None:  # 416 for our range: start again
        partial.unlink()
        offset = 0
        resp = _open(url, 0, timeout)
    with resp:
        length = _int_header(resp, "Content-Length")
        total = None
        if offset and resp.status == 206:
            m = _CONTENT_RANGE.fullmatch((resp.headers.get("Content-Range") or "").strip())
            if not m or int(m.group(1)) != offset:
                raise DownloadError(f"downloading {url} failed: asked to resume at byte {offset}, the server "
                                    f"answered Content-Range {resp.headers.get('Content-Range')!r}")
            if m.group(3) != "*":
                total = int(m.group(3))
            elif length is not None:
                total = offset + length
            if length is not None and total is not None and offset + length != total:
                raise DownloadError(f"downloading {url} failed: Content-Length {length} at offset {offset} does not "
                                    f"add up to the total {total} in Content-Range")
            mode = "ab"
        else:  # 200 (also the answer of servers without range support): from the start
            offset, mode, total = 0, "wb", length
        _stream(url, resp, partial, mode, offset, total, progress)


def _stream(url, resp, partial: Path, mode: str, offset: int, total: Optional[int], progress: bool) -> None:
    from tqdm import tqdm

    received = offset
    error = None
    with open(partial, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                        unit_divisor=1024, desc=partial.name[:-len(".partial")][:40],
                                        file=sys.stderr, disable=not progress, leave=False) as bar:
        while True:
            try:
                chunk = resp.read(CHUNK)
            except (http.client.HTTPException, OSError) as e:  # IncompleteRead, reset, timeout
                error = f"{type(e).__name__}"
                break
            if not chunk:
                break
            f.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if error is not None or (total is not None and received != total):
        of = f" of {total}" if total is not None else ""
        why = f" ({error})" if error else ""
        raise DownloadError(f"downloading {url} was interrupted after {received}{of} bytes{why}; the partial "
                            f"file {str(partial)!r} is kept and the next download resumes from it")
