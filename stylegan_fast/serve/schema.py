"""Request checking: each endpoint's fields, their types and ranges, with messages that say what is accepted.

Every check raises :class:`BadRequest` (answered as 4xx JSON ``{"error": "..."}``); nothing here
touches the generator.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..latents import MAX_SEED, parse_seeds


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def fields(body: Any, accepted: dict[str, str], endpoint: str) -> dict:
    """``body`` as a dict with only the ``accepted`` fields ({name: what it is})."""
    listing = "; ".join(f"{k} ({v})" for k, v in accepted.items())
    if not isinstance(body, dict):
        raise BadRequest(f"{endpoint} takes a JSON object with the fields: {listing}")
    unknown = [k for k in body if k not in accepted]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r} in {endpoint}; accepted fields: {listing}")
    return body


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer from {lo} to {hi}, got {_show(value)}")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} = {value} is out of range: it must be an integer from {lo} to {hi}")
    return value


def number(value: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number, got {_show(value)}")
    if not lo <= value <= hi:
        raise BadRequest(f"{name} = {value} is out of range [{lo}, {hi}]")
    return float(value)


def choice(value: Any, name: str, options) -> str:
    if value not in options:
        raise BadRequest(f"{name} must be one of {', '.join(map(str, options))}; got {_show(value)}")
    return value


def seeds(value: Any, name: str, limit: int) -> list[int]:
    """An integer, a list of integers, or a range string like '0-7,12' -> seeds (at most ``limit``)."""
    if isinstance(value, str):
        if len(value) > 1000:
            raise BadRequest(f"{name}: the seed string is too long (at most 1000 characters)")
        try:
            out = parse_seeds(value)
        except ValueError as e:
            raise BadRequest(f"{name}: {e}") from None
    else:
        items = value if isinstance(value, list) else [value]
        if len(items) > limit:
            raise BadRequest(f"{name}: {len(items)} seeds, but a request takes at most {limit} latents", 413)
        out = [integer(s, f"{name}[{i}]" if isinstance(value, list) else name, 0, MAX_SEED)
               for i, s in enumerate(items)]
    if not out:
        raise BadRequest(f"{name} is empty: give at least one seed (an integer from 0 to {MAX_SEED})")
    if len(out) > limit:
        raise BadRequest(f"{name}: {len(out)} seeds, but a request takes at most {limit} latents", 413)
    return out


def latents(value: Any, name: str, num_ws: int, w_dim: int, limit: int, single: bool = False) -> np.ndarray:
    """ws as nested lists -> float32 [N, num_ws, w_dim].

    ``name`` 'ws': one [num_ws, w_dim] or several [N, num_ws, w_dim]; 'w': one [w_dim] or several
    [N, w_dim], each repeated to every ws row. ``single``: exactly one latent.
    """
    is_w = name.split(".")[-1] == "w"
    want = f"[{w_dim}]" if is_w else f"[{num_ws}, {w_dim}]"
    many = f"[N, {w_dim}]" if is_w else f"[N, {num_ws}, {w_dim}]"
    expected = want if single else f"{want} or {many} with N <= {limit}"
    if not isinstance(value, list):
        raise BadRequest(f"{name} must be a nested list of numbers shaped {expected}, got {_show(value)}")
    count, has_bool = _leaves(value, limit * num_ws * w_dim + 1)
    if count > limit * num_ws * w_dim:
        raise BadRequest(f"{name}: too many numbers; a request takes at most {limit} latents of shape {want}", 413)
    if has_bool:
        raise BadRequest(f"{name} must contain numbers only, not true/false")
    try:
        a = np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise BadRequest(f"{name} must be a nested list of numbers shaped {expected} (rows of equal length, "
                         f"numbers only)") from None
    shape = list(a.shape)
    if a.ndim == (1 if is_w else 2):
        a = a[None]
    if a.ndim != (2 if is_w else 3) or (single and a.shape[0] != 1) or a.shape[0] == 0 \
            or a.shape[1:] != ((w_dim,) if is_w else (num_ws, w_dim)):
        raise BadRequest(f"{name} has shape {shape}; this generator needs {expected} "
                         f"(num_ws={num_ws}, w_dim={w_dim})")
    if a.shape[0] > limit:
        raise BadRequest(f"{name}: {a.shape[0]} latents, but a request takes at most {limit}", 413)
    if not np.isfinite(a).all():
        raise BadRequest(f"{name} contains a number that is not finite")
    if np.abs(a).max() > 1e6:
        raise BadRequest(f"{name} contains a number beyond +-1e6: not a latent of this generator")
    if is_w:
        a = np.repeat(a[:, None], num_ws, axis=1)
    return a.astype(np.float32)


def optional(body: dict, key: str, check, *args) -> Optional[Any]:
    value = body.get(key)
    return None if value is None else check(value, key, *args)


def _leaves(value, stop: int) -> tuple[int, bool]:
    """(how many leaves a nested list has, counting no further than ``stop``; whether one is a bool)."""
    count, has_bool, stack = 0, False, [value]
    while stack and count < stop:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        else:
            count += 1
            has_bool = has_bool or isinstance(v, bool)
    return count, has_bool


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
