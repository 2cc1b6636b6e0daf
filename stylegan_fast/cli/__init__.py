"""Command line: ``stylegan-fast render | mix | child | video | info | convert | doctor | bench | kernels``.

Also ``python -m stylegan_fast``. One module per command family (``render``, ``mixing``, ``video``,
``networks``, ``system``, ``kernels``); what they share is in ``common``. The commands parse, call the library
and print; the work is done in the library.
"""
from __future__ import annotations

import click

from ..memory import keep_freed_memory

from .kernels import kernels
from .mixing import child, mix
from .networks import convert, info
from .render import render
from .system import bench, doctor
from .video import video


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stylegan_fast", prog_name="stylegan-fast")
def main():
    """stylegan_fast: render, inspect and check StyleGAN generators."""
    keep_freed_memory()  # our own process: reuse freed activations instead of page-faulting fresh memory


for _command in (render, info, convert, mix, child, video, doctor, bench, kernels):
    main.add_command(_command)
del _command

__all__ = ["main"]
