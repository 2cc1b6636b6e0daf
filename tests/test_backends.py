"""Backend selection and dispatch: names, availability errors, the STYLEGAN_FAST_BACKEND override,
per-op fallback under "auto", explicit backends that lack an op, gradients, where each op ran."""
import inspect

import pytest
import torch

import stylegan_fast as sf
from stylegan_fast import backends, networks, ops
from stylegan_fast.backends import ENV_VAR
from stylegan_fast.ops import cpu_support
from stylegan_fast.ops.dispatch import REGISTRY

# No GPU here; the C++ CPU kernels are there whenever stylegan_fast._C was built with them.
UNAVAILABLE = ["triton", "cuda"] + ([] if cpu_support.kernels_built() else ["cpu"])
AUTO_ON_CPU = "cpu" if cpu_support.kernels_built() else "reference"


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    backends.forget_plans()
    yield
    backends.forget_plans()


@pytest.fixture
def without_cpu_kernels(monkeypatch):
    """The registry as if no C++ CPU kernel were built."""
    for op in REGISTRY.values():
        if "cpu" in op.implementations:
            monkeypatch.delitem(op.implementations, "cpu")
            monkeypatch.delitem(op.dtypes, "cpu")
    backends.forget_plans()


@pytest.fixture
def fake_cpu_kernel(monkeypatch, without_cpu_kernels):
    """A "cpu" implementation of noise_bias_act only (the reference under another name, counting its calls),
    with the cpu backend reported available: what a real kernel registration looks like to the dispatch."""
    op = REGISTRY["noise_bias_act"]
    calls = []

    def kernel(*args):
        calls.append(args[0].shape)
        return op.implementations["reference"](*args)

    monkeypatch.setitem(op.implementations, "cpu", kernel)
    monkeypatch.setitem(op.dtypes, "cpu", (torch.float32, torch.float16))  # as a kernel without float64
    real_status = backends.backend_status
    monkeypatch.setattr(backends, "backend_status",
                        lambda name, device="cpu": (True, "fake") if name == "cpu" else real_status(name, device))
    return calls


def test_backend_names():
    assert sf.BACKENDS == ("auto", "reference", "triton", "cuda", "cpu")
    assert issubclass(sf.BackendUnavailableError, RuntimeError)


def test_default_backend_is_auto_and_one_value_is_shared(g16):
    G = g16
    assert G.backend == "auto" and "backend=auto" in repr(G)
    assert G.mapping.backend_choice is G.backend_choice and G.synthesis.backend_choice is G.backend_choice
    z = torch.randn(2, G.z_dim)
    auto = G(z)
    assert set(G.last_dispatch.values()) == {AUTO_ON_CPU}
    G.backend = "reference"
    assert G.backend == "reference" and G.synthesis.backend_choice.name == "reference"
    G(z)
    assert set(G.last_dispatch.values()) == {"reference"}
    assert sf.resolve_backend("auto", "cpu") == AUTO_ON_CPU
    G.backend = "auto"
    assert torch.equal(G(z), auto)
    assert sf.Generator(G.config, backend="reference").backend == "reference"


def test_last_dispatch_names_every_op_that_ran(g16, without_cpu_kernels):
    G = g16
    G(torch.randn(1, G.z_dim))
    expected = {"stylegan2": {"noise_bias_act", "styled_conv2d", "styled_conv2d_torgb", "modulated_conv2d", "torgb_skip",
                              "upfirdn2d"},
                "stylegan1": {"noise_bias_act", "stylegan1_conv2d", "upscale_conv2d", "upfirdn2d", "adain"}}[G.arch]
    assert G.last_dispatch == {name: "reference" for name in expected}
    G.synthesis(torch.randn(1, G.num_ws, G.w_dim), noise_mode="random")  # a direct call records too
    assert G.last_dispatch["noise_stream"] == "reference"
    G.mapping(torch.randn(1, G.z_dim))
    assert G.last_dispatch == {"noise_bias_act": "reference"}


def test_layers_take_no_backend_argument():
    classes = [c for module in (networks.layers, networks.mapping, networks.stylegan1, networks.stylegan2)
               for c in vars(module).values() if inspect.isclass(c) and issubclass(c, torch.nn.Module)]
    assert len(classes) >= 8
    for cls in classes:
        assert "backend" not in inspect.signature(cls.forward).parameters, cls.__name__


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


@pytest.mark.parametrize("name", ["bogus", "Reference", ""])
def test_unknown_backend_for_a_direct_op_call_raises(name):
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="unknown backend"):
        ops.noise_bias_act(x, torch.zeros(2), backend=name)


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
    with pytest.raises(sf.BackendUnavailableError, match=name):  # a direct op call is never silently reference
        ops.adain(torch.randn(1, 2, 4, 4), torch.ones(1, 2), torch.zeros(1, 2), backend=name)


def test_backend_status_always_available():
    for name in ("auto", "reference"):
        ok, reason = sf.backend_status(name, "cpu")
        assert ok is True and reason


def test_no_kernels_reason_comes_from_the_registry(monkeypatch, without_cpu_kernels):
    """'no ... kernels ship' is what the registry says, not a hard-coded answer: with a kernel it is available."""
    from stylegan_fast import _native

    monkeypatch.setattr(_native, "native_available", lambda: True)
    assert sf.backend_status("cpu", "cpu") == (False, "no C++ CPU kernels ship in this version yet")
    monkeypatch.setitem(REGISTRY["adain"].implementations, "cpu", lambda *a: None)
    assert sf.backend_status("cpu", "cpu") == (True, "kernels for adain")


def test_load_with_unavailable_backend(tmp_path, make_generator):
    G = make_generator("stylegan1", 8)
    G.save(tmp_path / "g.safetensors")
    with pytest.raises(sf.BackendUnavailableError, match="'cuda'"):
        sf.Generator.load(tmp_path / "g.safetensors", backend="cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        sf.Generator.load(tmp_path / "g.safetensors", backend="fast")


def test_auto_falls_back_per_op(fake_cpu_kernel, g2_16):
    G = g2_16
    z = torch.randn(2, G.z_dim)
    G.backend = "reference"
    ref = G(z)
    assert not fake_cpu_kernel
    G.backend = "auto"
    assert torch.equal(G(z), ref)
    assert fake_cpu_kernel, "auto did not pick the registered cpu kernel"
    assert G.last_dispatch == {"noise_bias_act": "cpu", "styled_conv2d": "reference", "modulated_conv2d": "reference",
                               "styled_conv2d_torgb": "reference", "torgb_skip": "reference", "upfirdn2d": "reference"}


def test_explicit_backend_without_the_op_names_it(fake_cpu_kernel, g2_16):
    G = g2_16
    G.backend = "cpu"  # available (it has noise_bias_act) ...
    with pytest.raises(sf.BackendUnavailableError, match=r"backend 'cpu' has no implementation of op "
                                                         r"'styled_conv2d_torgb' \(it has: reference(, triton)?(, cuda)?\)"):
        G(torch.randn(1, G.z_dim))  # ... but not every op the generator needs
    x = torch.randn(1, 4, 8, 8)
    fake_cpu_kernel.clear()
    y = ops.noise_bias_act(x, torch.ones(4), backend="cpu")  # the op it has runs on it
    assert fake_cpu_kernel == [x.shape] and torch.equal(y, ops.noise_bias_act(x, torch.ones(4), backend="reference"))


def test_gradients_use_the_reference_where_a_kernel_has_no_backward(fake_cpu_kernel, g2_16):
    G = g2_16
    ws = G.mapping(torch.randn(1, G.z_dim)).requires_grad_(True)  # projection: grad w.r.t. ws
    assert G.last_dispatch["noise_bias_act"] == "cpu"
    calls = len(fake_cpu_kernel)
    G.synthesis(ws).square().sum().backward()
    assert ws.grad is not None and G.last_dispatch["noise_bias_act"] == "reference"
    assert len(fake_cpu_kernel) == calls
    REGISTRY["noise_bias_act"].differentiable.add("cpu")  # a kernel with a backward is used
    try:
        backends.forget_plans()
        G.synthesis(ws).sum().backward()
        assert G.last_dispatch["noise_bias_act"] == "cpu" and len(fake_cpu_kernel) > calls
    finally:
        REGISTRY["noise_bias_act"].differentiable.discard("cpu")


def test_dtypes_a_kernel_lacks_fall_back_under_auto_and_raise_when_explicit(fake_cpu_kernel):
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    ops.noise_bias_act(x, torch.ones(4))  # auto: the cpu kernel takes no float64, the reference runs
    assert not fake_cpu_kernel
    with pytest.raises(sf.BackendUnavailableError,
                       match=r"backend 'cpu' has no implementation of op 'noise_bias_act' for torch.float64 "
                             r"\(it takes torch.float32"):
        ops.noise_bias_act(x, torch.ones(4), backend="cpu")
    ops.noise_bias_act(x.float(), torch.ones(4), backend="cpu")
    assert len(fake_cpu_kernel) == 1


def test_direct_op_calls_follow_auto(fake_cpu_kernel):
    x = torch.randn(1, 4, 8, 8)
    ops.noise_bias_act(x, torch.ones(4))
    assert len(fake_cpu_kernel) == 1


def test_plan_is_resolved_once_per_forward(monkeypatch, g16):
    G = g16
    made = []
    real = backends._make_plan
    z = torch.randn(1, G.z_dim)
    G(z)  # the cpu backend's first forward also probes its upsampling weights on the reference
    backends.forget_plans()
    monkeypatch.setattr(backends, "_make_plan", lambda *a: made.append(a) or real(*a))
    G(z)
    G(z)
    assert len(made) == 1  # one plan for the first forward, cached after; no op resolved its own


def test_register_rejects_unknown_backends():
    with pytest.raises(ValueError, match="cannot register 'fast' for op 'adain'"):
        REGISTRY["adain"].register("fast", lambda *a: None)
    with pytest.raises(ValueError, match="cannot register 'reference'"):
        REGISTRY["adain"].register("reference", lambda *a: None)


def test_env_reference_honored(monkeypatch, g16):
    G = g16
    z = torch.randn(1, G.z_dim)
    G.backend = "reference"
    before = G(z)
    G.backend = "auto"
    monkeypatch.setenv(ENV_VAR, "reference")
    assert sf.resolve_backend("auto", "cpu") == "reference"
    assert sf.resolve_backend(None, "cpu") == "reference"
    assert torch.equal(G(z), before) and set(G.last_dispatch.values()) == {"reference"}
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
    assert sf.resolve_backend("auto", "cpu") == AUTO_ON_CPU
    assert sf.resolve_backend(None, "cpu") == AUTO_ON_CPU
