"""``stylegan-fast serve``: the studio page and the HTTP render API (stylegan_fast.serve) on uvicorn."""
from __future__ import annotations

import ipaddress

import click

from .common import BACKEND_OPTION, DEVICE_OPTION, NETWORK_OPTION, WHICH_OPTION, fail, load_network, pick_device

DEMO_DIRECTIONS = "demo_faces_64_directions.npz"  # beside the demo model, when this installation has it


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@NETWORK_OPTION
@WHICH_OPTION
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback warns: use --token there.")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True)
@DEVICE_OPTION
@BACKEND_OPTION
@click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Most latents synthesized together from concurrent requests.")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Longest a request waits for others to share its batch.")
@click.option("--max-latents", type=click.IntRange(min=1), default=64, show_default=True,
              help="Most latents (images) one request may ask for.")
@click.option("--directions", "directions", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Directions file (.npz/.npy as `stylegan-fast directions` writes) for the edit sliders; "
                   "repeatable. The built-in model brings its own when installed.")
@click.option("--project-steps", type=click.IntRange(min=1), default=None,
              help="Optimisation steps of a photo parent's projection [default: 200; the paper uses 1000].")
@click.option("--token", envvar="STYLEGAN_FAST_TOKEN", default=None,
              help="Requests to /v1/ must carry 'Authorization: Bearer TOKEN' (also from $STYLEGAN_FAST_TOKEN).")
def serve(network, which, host, port, device, backend, max_batch, max_wait_ms, max_latents, directions, project_steps,
          token):
    """Serve the studio (mix and edit faces in the browser) and the JSON render API, batching concurrent requests.

    Only the --network given here is served: no path or URL from a request is ever opened.

    \b
    Example:
      stylegan-fast serve                      # the built-in model: open http://127.0.0.1:7860/
      curl -s localhost:7860/v1/render -H 'Content-Type: application/json' \\
           -d '{"seeds": [1, 2, 3, 4], "truncation_psi": 0.7}' -o grid.png
    """
    import uvicorn

    from ..backends import BackendUnavailableError
    from ..models import DEMO_MODEL_FILE
    from ..serve import create_app
    from ..serve.photos import PROJECTION_STEPS

    if not is_loopback(host):
        click.echo(f"warning: listening on {host}, not only this machine"
                   + ("" if token else ": anyone who can reach it can use it; give --token"), err=True)
    dev = pick_device(device)
    try:
        G = load_network(network, dev, backend, which)
    except BackendUnavailableError as e:
        fail(str(e))
    if G.c_dim:
        click.echo(f"note: class-conditional network ({G.c_dim} classes): requests give 'class'", err=True)
    directions = list(directions)
    demo_directions = DEMO_MODEL_FILE.with_name(DEMO_DIRECTIONS)
    if network is None and demo_directions.is_file():
        directions.insert(0, str(demo_directions))
    try:
        app = create_app(G, directions=directions, max_batch=max_batch, max_wait_ms=max_wait_ms, token=token,
                         max_latents=max_latents, project_steps=project_steps or PROJECTION_STEPS)
    except (OSError, ValueError) as e:
        fail(str(e))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"studio: http://{shown}:{port}/{'?token=TOKEN' if token else ''}   API: http://{shown}:{port}/v1/info "
               f"({G.arch} {G.img_resolution}px on {dev}, batches of up to {max_batch}, wait {max_wait_ms:g} ms)",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
