"""Command line: ``stylegan-fast render | project | mix | child | video | directions | boundary | edit | serve |
info | convert | export | doctor | bench | kernels``.

Also ``python -m stylegan_fast``. One module per command family (``render``, ``project``, ``mixing``, ``video``,
``edits``, ``serve``, ``networks``, ``export``, ``system``, ``kernels``); what they share is in ``common``. The
commands parse, call the library and print; the work is done in the library.
"""
from __future__ import annotations

import click

from ..memory import keep_freed_memory

from .edits import boundary, directions, edit
from .export import export_cmd
from .kernels import kernels
from .mixing import child, mix
from .networks import convert, info
from .project import project
from .render import render
from .serve import serve
from .system import bench, doctor
from .video import video


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stylegan_fast", prog_name="stylegan-fast")
def main():
    """stylegan_fast: render, mix, edit, project, serve and export StyleGAN generators."""
    keep_freed_memory()  # our own process: reuse freed activations instead of page-faulting fresh memory


for _command in (render, project, info, convert, mix, child, video, directions, boundary, edit, serve, export_cmd,
                 doctor, bench, kernels):
    main.add_command(_command)
del _command

__all__ = ["main"]
