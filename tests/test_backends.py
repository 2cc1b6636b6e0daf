"""Backend selection: names, availability errors, the STYLEGAN_FAST_BACKEND override."""
import pytest
import torch

import stylegan_fast as sf
from stylegan_fast.backends import ENV_VAR

UNAVAILABLE = ["triton", "cuda", "cpu"]  # no kernels ship in this version


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_backend_names():
    assert sf.BACKENDS == ("auto", "reference", "triton", "cuda", "cpu")
    assert issubclass(sf.BackendUnavailableError, RuntimeError)


def test_default_backend_is_auto_and_reference_works(g16):
    G = g16
    assert G.backend == "auto" and G.mapping.backend == "auto" and G.synthesis.backend == "auto"
    assert "backend=auto" in repr(G)
    z = torch.randn(2, G.z_dim)
    auto = G(z)
    G.backend = "reference"
    assert G.backend == "reference" and G.mapping.backend == "reference" and G.synthesis.backend == "reference"
    # on a CPU without kernels, auto resolves to the reference implementation
    assert sf.resolve_backend("auto", "cpu") == "reference"
    assert torch.equal(G(z), auto)
    H = sf.Generator(G.config, backend="reference")
    assert H.backend == "reference"


@pytest.mark.parametrize("name", ["bogus", "Reference", "", None, 3])
def test_unknown_backend_lists_valid_names(make_generator, name):
    G = make_generator("stylegan2", 8)
    with pytest.raises(ValueError, match="unknown backend.*choose one of: auto, reference, triton, cuda, cpu"):
        G.backend = name
    assert G.backend == "auto"
    with pytest.raises(ValueError, match="unknown backend"):
        sf.Generator(G.config, backend=name)
    with pytest.raises(ValueError, match="unknown backend"):
        sf.backend_status(name)


@pytest.mark.parametrize("name", UNAVAILABLE)
def test_unavailable_backends_raise_with_reason(make_generator, name):
    ok, reason = sf.backend_status(name, "cpu")
    assert ok is False and isinstance(reason, str) and len(reason) > 10
    G = make_generator("stylegan2", 8)
    with pytest.raises(sf.BackendUnavailableError, match=f"backend '{name}' is unavailable on cpu: ") as info:
        G.backend = name
    assert reason in str(info.value)
    assert G.backend == "auto"  # unchanged after the failed switch
    with pytest.raises(sf.BackendUnavailableError):
        sf.Generator(G.config, backend=name)
    with pytest.raises(sf.BackendUnavailableError, match=name):
        sf.resolve_backend(name, "cpu")


def test_backend_status_always_available():
    for name in ("auto", "reference"):
        ok, reason = sf.backend_status(name, "cpu")
        assert ok is True and reason


def test_load_with_unavailable_backend(tmp_path, make_generator):
    G = make_generator("stylegan1", 8)
    G.save(tmp_path / "g.safetensors")
    with pytest.raises(sf.BackendUnavailableError, match="'cuda'"):
        sf.Generator.load(tmp_path / "g.safetensors", backend="cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        sf.Generator.load(tmp_path / "g.safetensors", backend="fast")


def test_env_reference_honored(monkeypatch, g16):
    G = g16
    z = torch.randn(1, G.z_dim)
    before = G(z)
    monkeypatch.setenv(ENV_VAR, "reference")
    assert sf.resolve_backend("auto", "cpu") == "reference"
    assert sf.resolve_backend(None, "cpu") == "reference"
    assert torch.equal(G(z), before)
    # an explicit choice is not overridden by the environment
    monkeypatch.setenv(ENV_VAR, "triton")
    assert sf.resolve_backend("reference", "cpu") == "reference"


def test_env_bogus_raises_on_forward(monkeypatch, make_generator):
    G = make_generator("stylegan2", 8)
    z = torch.randn(1, G.z_dim)
    monkeypatch.setenv(ENV_VAR, "bogus")
    with pytest.raises(ValueError, match="unknown backend 'bogus'"):
        G(z)
    with pytest.raises(ValueError, match="unknown backend 'bogus'"):
        G.synthesis(torch.randn(1, G.num_ws, G.w_dim))
    G.backend = "reference"  # explicit backend: the environment is not consulted
    assert G(z).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("name", UNAVAILABLE)
def test_env_unavailable_backend_raises_on_forward(monkeypatch, make_generator, name):
    G = make_generator("stylegan1", 8)
    monkeypatch.setenv(ENV_VAR, name)
    with pytest.raises(sf.BackendUnavailableError, match=f"'{name}'"):
        G(torch.randn(1, G.z_dim))


@pytest.mark.parametrize("value", ["", "auto"])
def test_env_empty_or_auto_is_auto(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    assert sf.resolve_backend("auto", "cpu") == "reference"
    assert sf.resolve_backend(None, "cpu") == "reference"
