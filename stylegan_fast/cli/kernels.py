"""``stylegan-fast kernels``: the kernel configurations, and their ahead-of-time compiles per GPU target."""
from __future__ import annotations

import json
import sys
import time

import click

from .common import fail


@click.command()
@click.option("--compile", "compile_targets", metavar="sm_80,sm_90",
              help="compile every configuration for these targets (no GPU needed) and report registers, spills "
                   "and shared memory; without it, list the kernels and their configuration counts")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="write the rows as a JSON list (keys backend, kernel, config, target, registers, spill_bytes, "
                   "shared_bytes; error on failures)")
@click.option("--jobs", type=click.IntRange(min=1), help="compile processes (default: the usable CPU cores)")
@click.option("--kernel", "kernel_filter", multiple=True, metavar="TEXT",
              help="only kernels whose '<op>/<kernel>' name contains TEXT (repeatable)")
@click.option("--sample", type=click.Choice(["all", "pairs"]), default="all", show_default=True,
              help="compile every configuration, or a subset where every pair of settings (constexpr values, "
                   "dtypes, warps) occurs at least once")
@click.option("--quiet", is_flag=True, help="print only failures, spilling configurations and the summary")
@click.option("--backend", type=click.Choice(["all", "triton", "cuda"]), default="all", show_default=True,
              help="the Triton kernels (compiled here), the CUDA kernels of the built module (read from its "
                   "SASS, with --compile), or both")
def kernels(compile_targets, json_path, jobs, kernel_filter, sample, quiet, backend):
    """Kernel configurations; with --compile, compile each for GPU targets and report resource usage.

    With --compile the CUDA kernels of the built module (backend "cuda") are listed too, per target,
    from the SASS it was built with (a module built without CUDA is said so in one line). Exit status 1
    when any configuration fails to compile (or needs more shared memory than the target has), when
    triton is missing, or when a CUDA kernel spills. Triton configurations that spill registers are
    listed under SPILLING: the launchers must not choose them.
    """
    from .. import kernels as K

    with_triton, with_cuda = backend in ("all", "triton"), backend in ("all", "cuda")
    if with_cuda and not with_triton and not compile_targets:
        fail("--backend cuda lists the built module's kernels with --compile (e.g. --compile sm_80,sm_90)")
    if with_cuda and not with_triton and K.cuda_module_path()[0] is None:
        fail(K.cuda_module_path()[1])
    triton_error, found = None, []
    if with_triton:
        try:
            found = K.find_kernel_specs()
        except (K.TritonNotInstalledError, RuntimeError) as e:
            if not (with_cuda and compile_targets and K.cuda_module_path()[0]):  # nothing else to report
                fail(str(e))
            triton_error = str(e)
            click.echo(f"Error: {triton_error} (listing the CUDA kernels only)")
        if kernel_filter:
            found = [k for k in found if any(s in k.name for s in kernel_filter)]
            if not found and not (with_cuda and compile_targets):
                fail(f"no kernel matches --kernel {' '.join(kernel_filter)}")
    if not compile_targets:
        if json_path:
            fail("--json needs --compile")
        _list(found, with_cuda)
        return
    try:
        targets = [t.strip() for t in compile_targets.split(",") if t.strip()]
        for t in targets:
            K.parse_target(t)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--compile")
    if not targets:
        raise click.BadParameter("no target given", param_hint="--compile")
    start = time.perf_counter()
    rows = []
    if found:
        configs = sum(len(K.sample_configs(k.configs, sample)) for k in found)
        total = sum(len(k.configs) for k in found)
        click.echo(f"compiling {configs}{'' if sample == 'all' else f' of {total}'} configurations of {len(found)} "
                   f"kernels for {', '.join(targets)} ({jobs or K.default_jobs()} processes)", err=True)
        rows = K.compile_report(targets, jobs=jobs, progress=True, found=found, sample=sample)
    if with_cuda:
        cuda_rows, cuda_note = K.cuda_report(targets, kernels=kernel_filter or None)
        if cuda_note:
            click.echo(cuda_note)
        rows += cuda_rows
    if kernel_filter and not rows:
        fail(f"no kernel matches --kernel {' '.join(kernel_filter)}")
    seconds = time.perf_counter() - start
    if json_path:
        from ..fileio import atomic_path

        with atomic_path(json_path) as tmp:
            tmp.write_text(json.dumps(K.json_rows(rows), indent=1) + "\n", encoding="utf-8")
    shown = rows if not quiet else K.failures(rows) + K.spilling(rows)
    if shown:
        click.echo(format_rows(shown))
    spills, fails = K.spilling(rows), K.failures(rows)
    cuda_spills = [r for r in spills if r["backend"] == K.CUDA_BACKEND]
    if spills:
        click.echo(f"\nSPILLING ({len(spills)}): these configurations spill registers; the launchers must not "
                   f"choose them (fix the kernel or drop the configuration from kernel_specs; a CUDA kernel "
                   f"that spills fails the command):")
        for r in spills:
            click.echo(f"    {r['kernel']} [{r['config']}] {r['target']}: {r['spill_bytes']} bytes, "
                       f"{r['registers']} registers")
    if fails:
        click.echo(f"\nFAILED ({len(fails)}):")
        for r in fails:
            first, *rest = r["error"].splitlines()
            click.echo(f"    {r['kernel']} [{r['config']}] {r['target']}: {first}")
            for line in rest:
                click.echo(f"        {line}")
    costs = K.cpu_seconds_by_kernel([r for r in rows if r["backend"] == K.BACKEND])  # the CUDA rows compile nothing
    if costs:
        click.echo("\ncompile CPU seconds per kernel: " + ", ".join(f"{k} {v:.0f}" for k, v in costs.items()))
    click.echo(f"{K.summary(rows, targets)} ({seconds:.0f} s, {sum(costs.values()):.0f} CPU s)")
    if json_path:
        click.echo(f"wrote {json_path}")
    if triton_error:
        click.echo(f"Error: {triton_error}")
    if fails or cuda_spills or triton_error:
        sys.exit(1)


def _list(found, with_cuda: bool) -> None:
    width = max([len(k.name) for k in found] + [6])
    click.echo(f"{'kernel':<{width}}  configs")
    for k in found:
        click.echo(f"{k.name:<{width}}  {len(k.configs) if k.error is None else 'ERROR: ' + k.error.splitlines()[0]}")
    click.echo(f"{len(found)} kernels, {sum(len(k.configs) for k in found)} configurations "
               f"(stylegan-fast kernels --compile sm_80,sm_90 compiles them)")
    if with_cuda:
        from .. import kernels as K

        path, note = K.cuda_module_path()  # the CUDA kernels are read from the module with --compile
        click.echo(note or f"CUDA kernels: compiled into {path} (--compile sm_80,sm_90 lists them with their "
                           f"resources)")


def format_rows(rows) -> str:
    """backend | kernel | config | target | regs | spill B | shared B | note."""
    head = ["backend", "kernel", "config", "target", "regs", "spill B", "shared B", "note"]
    body = []
    for r in rows:
        if r.get("error"):
            cells = ["-", "-", "-", "FAILED: " + r["error"].splitlines()[0]]
        else:
            cells = [str(r["registers"]), str(r["spill_bytes"]), str(r["shared_bytes"]),
                     "SPILLS" if r["spill_bytes"] else ""]
        body.append([r["backend"], r["kernel"], r["config"], r["target"]] + cells)
    widths = [max([len(head[i])] + [len(c[i]) for c in body]) for i in range(len(head) - 1)]
    right = {4, 5, 6}

    def fmt(cells):
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells[:-1])]
        return (" | ".join(out) + (" | " + cells[-1] if cells[-1] else "")).rstrip()

    return "\n".join([fmt(head), "-+-".join("-" * w for w in widths)] + [fmt(c) for c in body])
