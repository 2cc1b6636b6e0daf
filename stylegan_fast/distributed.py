"""Rendering past one process: torchrun's environment, seed shards, one summary.

``torchrun --nproc-per-node K -m stylegan_fast render --seeds 0-999999 ...`` starts K processes with
RANK, WORLD_SIZE and LOCAL_RANK set; each renders ``items[rank::world_size]`` on its own device
(``cuda:LOCAL_RANK`` with NCCL, or the CPU with gloo) and rank 0 prints the summary.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str  # torch.distributed backend: gloo or nccl

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True when started by torchrun (or another launcher setting RANK, WORLD_SIZE and LOCAL_RANK)."""
    return all(v in os.environ for v in ENV_VARS)


def init(device: torch.device) -> Optional[Dist]:
    """Join the process group torchrun set up; None when not launched by torchrun.

    ``device``: the device the command would use alone; a CUDA one becomes ``cuda:LOCAL_RANK``
    (NCCL), anything else stays and uses gloo.
    """
    if not launched():
        return None
    import torch.distributed as dist

    rank, world, local = (int(os.environ[v]) for v in ENV_VARS)
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices are visible; "
                               f"start at most that many processes per node (--nproc-per-node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)  # env:// rendezvous: MASTER_ADDR, MASTER_PORT from torchrun
    return Dist(rank, world, local, device, backend)


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """This rank's share of ``items``: every world_size-th from position ``rank``.

    The shards of all ranks are disjoint and together are exactly ``items``, whatever the
    world size; duplicates in ``items`` should be removed first (see ``unique``).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world size {world_size}")
    return list(items)[rank::world_size]


def unique(items: Sequence) -> list:
    """``items`` without repeats, first occurrences in order (a repeated seed is one file)."""
    return list(dict.fromkeys(items))


def in_turn(d: Optional[Dist], fn):
    """``fn()`` on every process, in three turns: rank 0, then the first process of each other node,
    then the rest, so that a network downloaded into the cache is fetched once, not by every process
    into the same file at once. Without torchrun (``d`` None) just ``fn()``."""
    if d is None:
        return fn()
    result = None
    for turn in (d.rank == 0, d.rank != 0 and d.local_rank == 0, d.local_rank != 0):
        if turn:
            result = fn()
        barrier(d)
    return result


def barrier(d: Dist) -> None:
    import torch.distributed as dist

    if d.backend == "nccl":
        dist.barrier(device_ids=[d.device.index])
    else:
        dist.barrier()


def reduce_summary(d: Dist, rendered: int, skipped: int, seconds: float) -> tuple[int, int, float]:
    """(rendered, skipped) summed over the ranks, seconds the slowest rank's; on every rank."""
    import torch.distributed as dist

    counts = torch.tensor([rendered, skipped], dtype=torch.float64, device=d.device)
    longest = torch.tensor([seconds], dtype=torch.float64, device=d.device)
    dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    dist.all_reduce(longest, op=dist.ReduceOp.MAX)
    return int(counts[0].item()), int(counts[1].item()), float(longest.item())


def finish() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
