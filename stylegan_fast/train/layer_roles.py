"""Layer-role regularization: teach the layer groups the roles the StyleGAN paper describes.

In the StyleGAN paper's FFHQ models the coarse styles (4-8 px) set pose and face shape and the fine styles
(64 px and up) set the colour scheme. A small 64 px StyleGAN2 trained without help settles on its own split:
it decides outlines in the coarse layers but colours in the 16-32 px layers. This regularizer, applied lazily
to the generator, asks for the paper's split on generated pairs of faces, judged by a frozen network that
reads colours and shape off a picture (``attributes.AttributeNet``, trained on the identikit dataset, whose
attributes are known). The adversarial loss still decides what faces look like.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..styles import layer_groups, mix


def match_loss(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """Cross-entropy of picking row i of ``target`` [N, D] for row i of ``pred`` [N, D], scored by minus the
    mean absolute difference over ``tau``. Near 0 when each prediction is closest to its own target; log N
    when all rows look alike, so making every face the same does not satisfy it."""
    distance = (pred[:, None, :] - target[None, :, :]).abs().mean(dim=-1)  # [N, N]
    return F.cross_entropy(-distance / tau, torch.arange(len(pred), device=pred.device))


def layer_role_loss(G, net, z1: torch.Tensor, z2: torch.Tensor, shape_weight: float = 1.0,
                    exact_weight: float = 0.0, tau: float = 0.05, noise_mode: str = "random") -> torch.Tensor:
    """Layer roles judged by a frozen ``attributes.AttributeNet`` that reads colours and shape off a face.

    For faces 1 and 2 (rows of z1, z2): face 2 with face 1's fine styles has face 1's colours and face 2's
    shape; face 1 with face 2's coarse or medium styles keeps face 1's colours. Each is scored by
    ``match_loss`` against the batch's other faces, with the target faces detached: the loss moves the
    mixed faces, and it cannot be met by making all faces alike. ``shape_weight`` weighs the shape term
    against the colour terms. ``match_loss`` is satisfied once each mixed face is nearer its own target than
    the others; ``exact_weight`` adds the mean absolute differences themselves (over ``tau``, the scale of
    ``match_loss``'s scores), which keep pulling until the colours and shape are the target's.
    """
    groups = layer_groups(G.config)
    ws1, ws2 = G.mapping(z1), G.mapping(z2)
    batch = torch.cat([ws1, ws2, mix(ws2, ws1, groups["fine"]), mix(ws1, ws2, groups["coarse"]),
                       mix(ws1, ws2, groups["medium"])])
    # Random noise by default, as in the adversarial steps: with the constant noise images the generator learns
    # to draw features into that one pattern (speckled faces wherever the noise differs).
    colours, shapes = net(G.synthesis(batch, noise_mode=noise_mode))
    c1, _, c_fine, c_coarse, c_medium = colours.chunk(5)
    _, s2, s_fine, _, _ = shapes.chunk(5)
    c1, s2 = c1.detach(), s2.detach()
    mixed_colours = (c_fine, c_coarse, c_medium)
    loss = sum(match_loss(c, c1, tau) for c in mixed_colours) / 3 + shape_weight * match_loss(s_fine, s2, tau)
    if exact_weight:
        colour_error = sum((c - c1).abs().mean() for c in mixed_colours) / 3
        loss = loss + exact_weight * (colour_error + shape_weight * (s_fine - s2).abs().mean()) / tau
    return loss
