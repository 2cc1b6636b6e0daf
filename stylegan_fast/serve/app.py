"""The ASGI app of ``stylegan-fast serve``: the studio page and the JSON API, on Starlette.

``create_app(G, ...)`` builds everything once: the generator, the directions, the batcher (its model
thread starts with the app's lifespan). Only the network and directions given here are ever used: no
path or URL from a request is opened.

    GET  /                    the studio page (static/)
    GET  /v1/info             the model, its layer groups, directions, limits
    POST /v1/render           seeds or ws -> image(s)
    POST /v1/child            two parents and a choice per layer group (or ws row) -> the child(ren)
    POST /v1/edit             a latent, a direction, strengths -> one image per strength
    GET  /v1/stats            requests, batches, max_batch, latency percentiles
    POST /v1/project          a photo (multipart, field 'image') -> a projection job id
    GET  /v1/project/{id}     the job's progress, and its ws when done
"""
from __future__ import annotations

import contextlib
import hmac
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..backends import describe_dispatch
from ..directions import Directions, load_directions, move
from ..images import encode_image, make_grid
from ..networks.layers import NOISE_MODES
from . import schema
from .batcher import Batcher, Job, Seed, ServerBusy, Stats
from .photos import MAX_UPLOAD_BYTES, PROJECTION_STEPS, ProjectionJobs, default_projector, read_image
from .schema import BadRequest

STATIC = Path(__file__).with_name("static")
FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "npz": "application/octet-stream"}
PACKS = ("grid", "zip")
MAX_JSON_BYTES = 64 * 1024 * 1024

# Fields every rendering endpoint takes besides its latents.
COMMON_FIELDS = {
    "class": "class label, for class-conditional networks",
    "truncation_psi": "number, truncation of seed latents (default: the model's paper value)",
    "truncation_cutoff": "integer, truncate only the first N ws rows",
    "noise_mode": "const | random | none",
    "format": "png | jpeg | webp | npz (the ws, NVlabs' projected_w layout)",
    "pack": "grid | zip, for several images",
    "cols": "integer, grid columns",
}
LATENT_FIELDS = {"seeds": "integer, list of integers or a range like '0-7,12'",
                 "ws": "[num_ws, w_dim] or [N, num_ws, w_dim] numbers",
                 "w": "[w_dim] or [N, w_dim] numbers (repeated to every ws row)"}


class Direction:
    """A direction loaded at start-up: unit vector [w_dim], the ws rows it moves, the spread of W along it."""

    def __init__(self, index: int, name: str, vector: torch.Tensor, rows: list[int], std: float):
        self.index, self.name, self.vector, self.rows, self.std = index, name, vector, rows, std

    def info(self) -> dict:
        return {"index": self.index, "name": self.name, "rows": self.rows, "std": round(self.std, 4)}


def load_all_directions(G, sources: Sequence[Union[str, Path, Directions]]) -> list[Direction]:
    """Every direction of every source, named uniquely, with the std of G's w along it (slider scale)."""
    loaded = []
    for src in sources:
        d = src if isinstance(src, Directions) else load_directions(src, G.w_dim)
        if d.w_dim != G.w_dim:
            raise ValueError(f"directions of w_dim {d.w_dim} do not fit this generator (w_dim={G.w_dim})")
        stem = "" if isinstance(src, Directions) else Path(src).stem
        loaded += [(stem, d, i) for i in range(len(d))]
    if not loaded:
        return []
    with torch.inference_mode():
        z = torch.from_numpy(np.random.RandomState(0).randn(1000, G.z_dim)).to(G.device)
        c = None
        if G.c_dim:
            c = torch.nn.functional.one_hot(torch.arange(1000) % G.c_dim, G.c_dim).to(G.device, torch.float32)
        w = G.mapping(z, c)[:, 0].float().cpu()  # [1000, w_dim]
    names = [d.names[i] for _, d, i in loaded]
    out = []
    for index, (stem, d, i) in enumerate(loaded):
        name = d.names[i] if names.count(d.names[i]) == 1 or not stem else f"{stem}:{d.names[i]}"
        vector = d.vectors[i].float()
        std = float((w @ vector).std())
        out.append(Direction(index, name, vector.to(G.device), d.layer_rows(i, G.num_ws), std))
    return out


def create_app(G, directions: Optional[Sequence] = None, max_batch: int = 32, max_wait_ms: float = 5.0,
               token: Optional[str] = None, max_latents: int = 64, projector="default",
               project_steps: int = PROJECTION_STEPS) -> Starlette:
    """The studio and API for generator ``G`` (built once here; the model thread starts with the lifespan).

    directions: directions files (or Directions) offered to /v1/edit and the studio's sliders.
    token: when given, every /v1/ request must carry ``Authorization: Bearer TOKEN``.
    projector: for photo parents, ``fn(G, target uint8 [R, R, 3], steps, progress) -> ws``; "default"
    uses stylegan_fast.projection when installed, None turns photos off. project_steps: its steps.
    """
    projector = default_projector() if projector == "default" else projector
    photos = ProjectionJobs(G, projector, project_steps) if projector is not None else None
    state = Server(G, load_all_directions(G, directions or []), max_batch, max_wait_ms, max_latents, photos)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state.batcher.start()
        await state.batcher.run_in_model_thread(state.warm_up)
        try:
            yield
        finally:
            await state.batcher.stop()
            if state.photos is not None:
                state.photos.close()

    routes = [
        Route("/", state.index, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Route("/v1/info", state.info, methods=["GET"]),
        Route("/v1/stats", state.stats_endpoint, methods=["GET"]),
        Route("/v1/render", state.render, methods=["POST"]),
        Route("/v1/child", state.child, methods=["POST"]),
        Route("/v1/edit", state.edit, methods=["POST"]),
        Route("/v1/project", state.project, methods=["POST"]),
        Route("/v1/project/{job_id}", state.project_status, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, BadRequest: _bad_request})
    app.state.server = state
    return BearerToken(app, token) if token else app


class BearerToken:
    """ASGI middleware: /v1/ requests need ``Authorization: Bearer TOKEN`` (the page itself is public)."""

    def __init__(self, app, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse({"error": "this server needs a token: send the header "
                                                  "'Authorization: Bearer TOKEN' (the studio: open it as /?token=TOKEN)"},
                                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


async def _http_error(request, exc: HTTPException):
    messages = {404: f"no such endpoint {request.url.path}; see GET /v1/info and the README for the API",
                405: f"{request.method} is not allowed on {request.url.path}"}
    return JSONResponse({"error": messages.get(exc.status_code, exc.detail)}, status_code=exc.status_code)


async def _bad_request(request, exc: BadRequest):
    state = request.app.state.server
    state.stats.errors += 1
    return JSONResponse({"error": exc.message}, status_code=exc.status)


class Server:
    """The model, its directions and the batcher, and one method per endpoint."""

    def __init__(self, G, directions: list[Direction], max_batch: int, max_wait_ms: float, max_latents: int,
                 photos: Optional[ProjectionJobs]):
        self.G = G
        self.directions = directions
        self.max_latents = max_latents
        self.stats = Stats()
        self.batcher = Batcher(G, max_batch=max_batch, max_wait_ms=max_wait_ms, stats=self.stats)
        self.photos = photos

    def warm_up(self) -> None:
        """One image before the first request (kernels chosen, workspaces made; info can name the backend)."""
        with torch.inference_mode():
            z = torch.zeros([1, self.G.z_dim], device=self.G.device)
            c = torch.zeros([1, self.G.c_dim], device=self.G.device) if self.G.c_dim else None
            if c is not None:
                c[0, 0] = 1
            self.G.synthesis(self.G.mapping(z, c), noise_mode="const")

    # ---- pages and JSON ----
    async def index(self, request: Request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def info(self, request: Request):
        G = self.G
        psi, cutoff = G.paper_truncation
        return JSONResponse({
            "arch": G.arch, "resolution": G.img_resolution, "img_channels": G.img_channels,
            "num_ws": G.num_ws, "w_dim": G.w_dim, "z_dim": G.z_dim, "c_dim": G.c_dim,
            "layer_groups": G.layer_groups,
            "backend": G.backend, "ops": G.last_dispatch, "ran_on": describe_dispatch(G.last_dispatch),
            "device": str(G.device),
            "paper_truncation": {"psi": psi, "cutoff": cutoff},
            "directions": [d.info() for d in self.directions],
            "noise_modes": list(NOISE_MODES), "formats": list(FORMATS), "packs": list(PACKS),
            "limits": {"max_latents": self.max_latents, "max_batch": self.batcher.max_batch,
                       "max_wait_ms": self.batcher.max_wait * 1000, "max_upload_bytes": MAX_UPLOAD_BYTES},
            "projection": self.photos is not None,
            "truncation": "applies to seeds (z is mapped, then truncated); ws are used as given",
        })

    async def stats_endpoint(self, request: Request):
        return JSONResponse(self.stats.as_dict())

    # ---- rendering endpoints ----
    async def render(self, request: Request):
        body = schema.fields(await _json(request), {**LATENT_FIELDS, **COMMON_FIELDS,
                                                    "noise_seeds": "one integer per image (noise_mode random); "
                                                                   "default: the seeds, or 0..N-1 for ws"},
                             "POST /v1/render")
        given = [k for k in LATENT_FIELDS if body.get(k) is not None]
        if len(given) != 1:
            raise BadRequest("POST /v1/render needs exactly one of 'seeds', 'ws' or 'w'"
                             + (f" (got {', '.join(given)})" if given else ""))
        if given[0] == "seeds":
            truncation = self._truncation(body)
            class_idx = self._class(body)
            seeds = schema.seeds(body["seeds"], "seeds", self.max_latents)
            sources = [Seed(s, *truncation, class_idx) for s in seeds]
            default_noise = seeds
        else:
            if body.get("truncation_psi") is not None or body.get("truncation_cutoff") is not None:
                raise BadRequest("truncation_psi and truncation_cutoff apply to seeds (z is mapped, then truncated); "
                                 "ws are rendered as given")
            if body.get("class") is not None:
                raise BadRequest("class applies to seeds; ws are rendered as given")
            sources = list(torch.from_numpy(self._latents(body, given[0])))
            default_noise = list(range(len(sources)))
        noise_mode = self._noise_mode(body)
        noise_seeds = default_noise
        if body.get("noise_seeds") is not None:
            noise_seeds = schema.seeds(body["noise_seeds"], "noise_seeds", self.max_latents)
            if len(noise_seeds) != len(sources):
                raise BadRequest(f"noise_seeds: {len(noise_seeds)} given for {len(sources)} images (one each)")
        return await self._respond(body, Job(sources, len(sources), noise_mode, noise_seeds))

    async def child(self, request: Request):
        choice_fields = {"groups": "{coarse|medium|fine: 'a' | 'b' | t in [0, 1]} (default 'a')",
                         "rows": "{ws row index: 'a' | 'b' | t}, overrides its group"}
        body = schema.fields(await _json(request), {
            "a": "parent A: a seed, {'seed': n}, {'ws': [[...]]} or {'w': [...]}", "b": "parent B, the same",
            **choice_fields, "children": "list of {groups, rows}: several children (instead of groups/rows)",
            "edits": "list of {direction: name or index, strength: number}, applied to the child",
            "noise_seed": "integer, the noise of every image (noise_mode random)", **COMMON_FIELDS},
            "POST /v1/child")
        for parent in ("a", "b"):
            if body.get(parent) is None:
                raise BadRequest(f"POST /v1/child needs parents 'a' and 'b' (each a seed, {{'seed': n}}, "
                                 f"{{'ws': [[...]]}} or {{'w': [...]}}); '{parent}' is missing")
        truncation, class_idx = self._truncation(body), self._class(body)
        sources = [self._parent(body[p], p, truncation, class_idx) for p in ("a", "b")]
        if body.get("children") is not None:
            if any(body.get(k) is not None for k in choice_fields):
                raise BadRequest("give either 'children' or 'groups'/'rows', not both")
            children = body["children"]
            if not isinstance(children, list) or not children:
                raise BadRequest("children must be a non-empty list of {groups, rows} objects")
            if len(children) > self.max_latents:
                raise BadRequest(f"children: {len(children)}, but a request takes at most {self.max_latents}", 413)
            blends = [self._blend(schema.fields(ch, choice_fields, f"children[{i}]"), f"children[{i}].")
                      for i, ch in enumerate(children)]
        else:
            blends = [self._blend(body, "")]
        t = torch.tensor(blends, dtype=torch.float32)  # [n, num_ws], 0 = parent A, 1 = parent B
        edits = self._edits(body.get("edits"))

        def compose(ws):  # [2, num_ws, w_dim] -> [n, num_ws, w_dim]
            kids = ws[0:1].lerp(ws[1:2], t.to(ws.device, ws.dtype)[:, :, None])  # exactly A at 0, B at 1
            for direction, strength in edits:
                kids[:, direction.rows] += strength * direction.vector.to(kids.dtype)
            return kids

        noise_seed = schema.optional(body, "noise_seed", schema.integer, 0, 2 ** 32 - 1) or 0
        job = Job(sources, len(blends), self._noise_mode(body), [noise_seed] * len(blends), compose)
        return await self._respond(body, job)

    async def edit(self, request: Request):
        body = schema.fields(await _json(request), {
            "seed": "integer", "ws": "[num_ws, w_dim] numbers", "w": "[w_dim] numbers",
            "direction": "name or index of a direction (GET /v1/info lists them)",
            "strengths": "number, list of numbers, or 'START:STOP:COUNT'",
            "layers": "the ws rows to move (coarse, medium, fine, 0-3, ...); default: the direction's own",
            "noise_seed": "integer, the noise of every image (noise_mode random)", **COMMON_FIELDS},
            "POST /v1/edit")
        given = [k for k in ("seed", "ws", "w") if body.get(k) is not None]
        if len(given) != 1:
            raise BadRequest("POST /v1/edit needs exactly one latent: 'seed', 'ws' or 'w'"
                             + (f" (got {', '.join(given)})" if given else ""))
        truncation, class_idx = self._truncation(body), self._class(body)
        source = self._parent({given[0]: body[given[0]]}, "the latent", truncation, class_idx)
        if body.get("direction") is None:
            raise BadRequest("POST /v1/edit needs 'direction': " + self._direction_help())
        direction = self._direction(body["direction"], "direction")
        strengths = self._strengths(body.get("strengths"))
        rows = direction.rows
        if body.get("layers") is not None:
            if not isinstance(body["layers"], (str, int, list)):
                raise BadRequest("layers must be a group (coarse, medium, fine), a range like '0-3' or a list of rows")
            try:
                rows = self.G.style_layers(body["layers"])
            except (ValueError, TypeError) as e:
                raise BadRequest(f"layers: {e}") from None

        def compose(ws):  # [1, num_ws, w_dim] -> [len(strengths), num_ws, w_dim]
            return move(ws[0], direction.vector, strengths, rows)

        noise_seed = schema.optional(body, "noise_seed", schema.integer, 0, 2 ** 32 - 1) or 0
        job = Job([source], len(strengths), self._noise_mode(body), [noise_seed] * len(strengths), compose)
        return await self._respond(body, job)

    # ---- photos ----
    async def project(self, request: Request):
        length = request.headers.get("content-length")
        if length is None:
            raise BadRequest("send the photo as multipart/form-data with a Content-Length", 411)
        if not length.isdigit() or int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
            raise BadRequest(f"the upload is too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", 413)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise BadRequest("send the photo as multipart/form-data with the file in the field 'image'", 415)
        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception as e:  # noqa: BLE001 - a malformed body is the client's error
            raise BadRequest(f"could not read the form: {e}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise BadRequest("the form needs a file in the field 'image'")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise BadRequest(f"the upload is too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", 413)
        if self.photos is None:
            raise BadRequest("photo parents are not available here: this installation has no projection "
                             "(stylegan_fast.projection); use seeds or ws", 501)
        if self.G.c_dim or self.G.img_channels != 3:
            raise BadRequest("photo parents need an unconditional RGB generator", 501)
        image, notes = read_image(data, self.G.img_resolution)
        return JSONResponse({"job": self.photos.submit(image, notes), "steps": self.photos.steps}, status_code=202)

    async def project_status(self, request: Request):
        if self.photos is None:
            raise BadRequest("photo parents are not available here: this installation has no projection", 501)
        return JSONResponse(self.photos.get(request.path_params["job_id"]))

    # ---- helpers ----
    async def _respond(self, body: dict, job: Job) -> Response:
        fmt = schema.choice(body.get("format", "png"), "format", list(FORMATS))
        pack = schema.choice(body.get("pack", "grid"), "pack", PACKS)
        cols = schema.optional(body, "cols", schema.integer, 1, self.max_latents)
        job.images = fmt != "npz"
        t0 = time.perf_counter()
        try:
            result = await self.batcher.submit(job)
        except ServerBusy as e:
            raise BadRequest(str(e), 503) from None
        content, media, name = await run_in_threadpool(_encode, result, fmt, pack, cols)
        ms = (time.perf_counter() - t0) * 1000
        self.stats.requests += 1
        self.stats.images += job.rows if job.images else 0
        self.stats.latencies_ms.append(ms)
        return Response(content, media_type=media, headers={
            "Content-Disposition": f'inline; filename="{name}"', "X-Render-Ms": f"{ms:.1f}",
            "X-Synthesis-Ms": f"{result.synth_ms:.1f}", "X-Batch-Size": str(result.batch_rows),
            "Cache-Control": "no-store"})

    def _truncation(self, body: dict) -> tuple[float, Optional[int]]:
        psi = schema.optional(body, "truncation_psi", schema.number, -4.0, 4.0)
        cutoff = schema.optional(body, "truncation_cutoff", schema.integer, 0, self.G.num_ws)
        if psi is None:
            psi, paper_cutoff = self.G.paper_truncation
            cutoff = paper_cutoff if cutoff is None else cutoff
        return psi, cutoff

    def _class(self, body: dict) -> Optional[int]:
        G = self.G
        if not G.c_dim:
            if body.get("class") is not None:
                raise BadRequest("class: this network is unconditional (it has no classes)")
            return None
        if body.get("class") is None:
            raise BadRequest(f"this network is class-conditional ({G.c_dim} classes): give 'class' 0..{G.c_dim - 1}")
        return schema.integer(body["class"], "class", 0, G.c_dim - 1)

    def _noise_mode(self, body: dict) -> str:
        return schema.choice(body.get("noise_mode", "const"), "noise_mode", NOISE_MODES)

    def _latents(self, body: dict, key: str, single: bool = False) -> np.ndarray:
        return schema.latents(body[key], key, self.G.num_ws, self.G.w_dim, self.max_latents, single)

    def _parent(self, value, name: str, truncation, class_idx):
        """A seed, {'seed': n}, {'ws': ...} or {'w': ...} -> a Seed or ws [num_ws, w_dim]."""
        if isinstance(value, dict):
            keys = [k for k in value if value[k] is not None]
            if len(keys) != 1 or keys[0] not in ("seed", "ws", "w"):
                raise BadRequest(f"{name} must be a seed or an object with one of 'seed', 'ws', 'w'; "
                                 f"got the keys {sorted(value)}")
            key = keys[0]
            if key != "seed":
                return torch.from_numpy(schema.latents(value[key], f"{name}.{key}", self.G.num_ws, self.G.w_dim,
                                                       1, single=True)[0])
            value = value["seed"]
        return Seed(schema.integer(value, f"{name} (a seed)", 0, 2 ** 32 - 1), *truncation, class_idx)

    def _blend(self, body: dict, where: str) -> list[float]:
        """groups/rows choices -> t per ws row (0: parent A, 1: parent B)."""
        G = self.G
        t = [0.0] * G.num_ws
        groups = body.get("groups") or {}
        if not isinstance(groups, dict):
            raise BadRequest(f"{where}groups must be an object like {{'coarse': 'a', 'medium': 0.5, 'fine': 'b'}}")
        for name, value in groups.items():
            if name not in G.layer_groups:
                raise BadRequest(f"{where}groups: unknown group {name!r}; this generator has "
                                 f"{', '.join(G.layer_groups)}")
            for row in G.layer_groups[name]:
                t[row] = _t(value, f"{where}groups.{name}")
        rows = body.get("rows") or {}
        if not isinstance(rows, dict):
            raise BadRequest(f"{where}rows must be an object like {{'3': 'b', '4': 0.25}} (ws row -> choice)")
        for key, value in rows.items():
            if not (isinstance(key, str) and key.isdigit() and int(key) < G.num_ws):
                raise BadRequest(f"{where}rows: {key!r} is not a ws row of this generator (0..{G.num_ws - 1})")
            t[int(key)] = _t(value, f"{where}rows.{key}")
        return t

    def _direction_help(self) -> str:
        if not self.directions:
            return "this server has no directions (start it with --directions FILE)"
        return "one of " + ", ".join(f"{d.index} ({d.name})" for d in self.directions)

    def _direction(self, value, name: str) -> Direction:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self.directions):
            return self.directions[value]
        if isinstance(value, str):
            for d in self.directions:
                if d.name == value:
                    return d
        raise BadRequest(f"{name}: no direction {value!r}; {self._direction_help()}")

    def _edits(self, value) -> list[tuple[Direction, float]]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > 64:
            raise BadRequest("edits must be a list of at most 64 {direction: name or index, strength: number}")
        out = []
        for i, edit in enumerate(value):
            edit = schema.fields(edit, {"direction": "name or index", "strength": "number"}, f"edits[{i}]")
            if edit.get("direction") is None or edit.get("strength") is None:
                raise BadRequest(f"edits[{i}] needs 'direction' and 'strength'")
            out.append((self._direction(edit["direction"], f"edits[{i}].direction"),
                        schema.number(edit["strength"], f"edits[{i}].strength", -100, 100)))
        return out

    def _strengths(self, value) -> list[float]:
        from ..directions import parse_strengths

        if value is None:
            raise BadRequest("POST /v1/edit needs 'strengths': a number, a list of numbers or 'START:STOP:COUNT'")
        if isinstance(value, str):
            try:
                value = parse_strengths(value)
            except ValueError as e:
                raise BadRequest(f"strengths: {e}") from None
        items = value if isinstance(value, list) else [value]
        if not items or len(items) > self.max_latents:
            raise BadRequest(f"strengths: give 1 to {self.max_latents} strengths, got {len(items)}",
                             413 if items else 400)
        return [schema.number(s, f"strengths[{i}]", -100, 100) for i, s in enumerate(items)]


def _t(value, name: str) -> float:
    if value == "a":
        return 0.0
    if value == "b":
        return 1.0
    if isinstance(value, str):
        raise BadRequest(f"{name} must be 'a', 'b' or a blend t in [0, 1] (0 = parent A, 1 = parent B); got {value!r}")
    return schema.number(value, name, 0.0, 1.0)


async def _json(request: Request):
    """The request body as JSON, read up to MAX_JSON_BYTES."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_JSON_BYTES):
        raise BadRequest(f"the request body is too large: at most {MAX_JSON_BYTES // (1024 * 1024)} MB", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise BadRequest(f"the request body is too large: at most {MAX_JSON_BYTES // (1024 * 1024)} MB", 413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the request body is not valid JSON ({e}); send a JSON object "
                         f"with Content-Type: application/json") from None


def _encode(result, fmt: str, pack: str, cols: Optional[int]) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of a job's result in the requested format."""
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez(buf, w=result.ws.numpy())  # [N, num_ws, w_dim]: NVlabs' projected_w.npz for N = 1
        return buf.getvalue(), FORMATS["npz"], "ws.npz"
    images = result.images
    if len(images) > 1 and pack == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for i, im in enumerate(images):
                z.writestr(f"image{i:04d}.{fmt}", _image_bytes(im, fmt))
        return buf.getvalue(), "application/zip", "images.zip"
    image = images[0] if len(images) == 1 else make_grid(images, cols=min(cols or 0, len(images)) or None)
    return _image_bytes(image, fmt), FORMATS[fmt], f"image.{fmt}"


def _image_bytes(array_hwc: np.ndarray, fmt: str) -> bytes:
    """One image encoded for a response: PNG with zlib's run-length strategy (fast), JPEG/WebP at quality 92."""
    return encode_image(array_hwc, fmt, quality=92, png_compression="rle")
