"""Helpers shared by the op tests: dtype ids, seeded float64 inputs, dtype-aware calls, thread counts."""
import pytest
import torch

DTYPE_NAMES = {torch.float64: "fp64", torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def randn(shape, seed, scale=1.0):
    """Seeded float64 normal samples times ``scale``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * scale


def run_or_skip(fn, dtype):
    """Call ``fn``; skip (not fail) when the CPU kernel lacks ``dtype``."""
    try:
        return fn()
    except (RuntimeError, NotImplementedError) as e:
        if "not implemented" in str(e).lower() or "unsupported" in str(e).lower():
            pytest.skip(f"CPU kernel does not support {dtype}: {e}")
        raise


def with_threads(fn, threads):
    """fn() with torch (and the C++ CPU kernels) on ``threads`` threads; the count is restored after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(saved)


def spy_convolutions(monkeypatch, module):
    """Record (weight shape, groups) of every F.conv2d / F.conv_transpose2d call made through ``module.F``."""
    calls = []
    for name in ("conv2d", "conv_transpose2d"):
        real = getattr(module.F, name)

        def record(x, w, *args, _real=real, **kwargs):
            calls.append((tuple(w.shape), kwargs.get("groups", 1)))
            return _real(x, w, *args, **kwargs)
        monkeypatch.setattr(module.F, name, record)
    return calls


def seeded_generator(config: dict, device, dtype=torch.float32):
    """A generator from ``config`` with seeded weights, nonzero biases and noise strengths, on ``device`` in
    ``dtype`` (the GPU tests' models)."""
    import stylegan_fast as sf
    from tests.conftest import randomize_

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = sf.Generator.from_config(backend="reference", **config)
    randomize_(G, seed=1)
    return G.eval().requires_grad_(False).to(device=device, dtype=dtype)


def render_seeds(G, backend: str, batch: int, device, noise_mode: str = "random"):
    """Images of seeds 0..batch-1 (noise seeds 10..) on ``backend``, psi 0.7; the backend is reset after."""
    import stylegan_fast as sf

    G.backend = backend
    z = sf.z_from_seeds(list(range(batch)), G.z_dim).to(device)
    with torch.no_grad():
        img = G(z, truncation_psi=0.7, noise_mode=noise_mode, noise_seeds=list(range(10, 10 + batch)))
    G.backend = "reference"
    return img
