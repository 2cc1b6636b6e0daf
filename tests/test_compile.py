"""torch.compile and CUDA graphs over the op dispatch (stylegan_fast/ops/custom_ops.py, stylegan_fast/cuda_graph.py).

CPU: ``torch.compile(G, fullgraph=True)`` on the reference backend (traced through by inductor) and on
the cpu backend (its kernels as opaque custom ops) gives the eager images, with no graph break; the
custom ops pass ``torch.library.opcheck`` and return what the kernels return; ``G.compile_graph`` off
CUDA raises, and its logic (buckets, static inputs, seeds, model checks) runs with each replay done
eagerly (``EagerReplay``: the capture itself needs a GPU).
GPU (skipped without one; benchmarks/gpu_check.sh runs them): graph replays equal eager forwards on
backends reference, triton and cuda (those that run there), a padded batch gives the same images, and
random noise follows the seeds.

Inductor compiles slowly on two cores: the smallest generators, one compile per case.
"""
import types

import pytest
import torch

from stylegan_fast import backends, cuda_graph, ops
from stylegan_fast.ops import cpu_support, custom_ops
from stylegan_fast.ops.dispatch import REGISTRY
from tests.conftest import build
from tests.tolerances import assert_close

needs_cpu_kernels = pytest.mark.skipif(not cpu_support.kernels_built(), reason="stylegan_fast._C has no CPU kernels")
# The whole generator is ~15 layers: the fp32 table x10, relative to the images' scale (as tests/test_triton_gpu.py).
WHOLE_NETWORK = 10


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _scale(img):
    return WHOLE_NETWORK * max(1.0, float(img.abs().max()))


def tiny(arch, **overrides):
    return build(arch, 16, channel_max=32, **overrides)


# ---- torch.compile ----

@pytest.mark.parametrize("backend", ["reference", pytest.param("cpu", marks=needs_cpu_kernels)])
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_compiled_generator_matches_eager(arch, backend):
    G = tiny(arch)
    G.backend = backend
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1))
    # seeds as a list: a tensor of seeds is range-checked by a data-dependent branch (ops.noise_stream) that
    # fullgraph refuses
    kw = dict(truncation_psi=0.7, noise_mode="random", noise_seeds=[3, 4])
    with torch.no_grad():
        eager = G(z, **kw)
        compiled = torch.compile(G, fullgraph=True)(z, **kw)
    assert eager.abs().max() > 0.1
    assert set(G.last_dispatch.values()) == {backend}
    conv = "styled_conv2d" if arch == "stylegan2" else "stylegan1_conv2d"
    assert conv in G.last_dispatch and "noise_stream" in G.last_dispatch
    assert_close(compiled, eager, dtype=torch.float32, scale=_scale(eager), msg=f"{arch} {backend} compiled vs eager")


@needs_cpu_kernels
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_no_graph_breaks_and_kernels_run_as_custom_ops(arch):
    G = tiny(arch)
    G.backend = "cpu"
    with torch.no_grad():
        explained = torch._dynamo.explain(G)(torch.randn(2, G.z_dim), noise_mode="random", noise_seeds=[1, 2])
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    names = set(_custom_ops_called(explained))
    assert names == set(G.last_dispatch), (names, G.last_dispatch)  # every kernel call is its custom op


def _custom_ops_called(explained) -> list[str]:
    targets = [node.target for graph in explained.graphs for node in graph.graph.nodes if node.op == "call_function"]
    assert targets
    return [t.name().split("::")[1].split(".")[0] for t in targets
            if isinstance(t, torch._ops.OpOverload) and t.namespace == custom_ops.NAMESPACE]


def test_reference_ops_are_traced_through_but_noise_stream():
    x, bias = torch.randn(2, 4, 5, 5), torch.randn(4)
    explained = torch._dynamo.explain(lambda x: ops.noise_bias_act(x, bias, act="lrelu", backend="reference"))(x)
    assert explained.graph_break_count == 0 and _custom_ops_called(explained) == []
    assert custom_ops.OPAQUE_REFERENCES == {"noise_stream"}  # inductor does not finish lowering its Philox rounds
    explained = torch._dynamo.explain(lambda x: x + ops.noise_stream([3, 4], 1, 5, 5, backend="reference"))(x)
    assert explained.graph_break_count == 0 and _custom_ops_called(explained) == ["noise_stream"]


def test_eager_forwards_never_call_the_custom_ops(g16, monkeypatch):
    def traced_implementation(*args):
        raise AssertionError("a custom op in eager mode")

    monkeypatch.setattr(custom_ops, "traced_implementation", traced_implementation)
    g16(torch.randn(1, g16.z_dim), noise_mode="random")
    assert g16.last_dispatch and backends._traced == []


def _op_calls():
    """(op name, args, kwargs) of small calls, one per kind of signature."""
    gen = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=gen)

    fir = ops.setup_filter([1, 3, 3, 1])
    return [
        ("noise_bias_act", (r(2, 4, 5, 5), r(4), r(2, 1, 5, 5), torch.tensor(0.5), "lrelu", 0.2, 2 ** 0.5, 0.8), {}),
        ("noise_bias_act", (r(2, 4, 5, 5).to(memory_format=torch.channels_last), r(4), None, None, "lrelu", 0.2,
                            2 ** 0.5, None), {}),
        ("noise_bias_act", (r(3, 8), None, None, None, "linear", 0.0, 1.0, None), {}),  # the identity: a new tensor
        ("styled_conv2d", (r(2, 4, 6, 6), r(5, 4, 3, 3), r(2, 4), r(5), r(2, 1, 12, 12),
                           torch.tensor(0.3, dtype=torch.float64), 2, fir, 256.0), {}),
        ("styled_conv2d_torgb", (r(2, 4, 6, 6), r(4, 4, 3, 3), r(2, 4), r(4), None, None, None, r(3, 4, 1, 1), r(2, 4),
                                 r(3), r(2, 3, 3, 3), fir, None, False), {}),  # -> (None, img)
        ("noise_stream", (torch.tensor([3, 7]), 2, 5, 4), dict(dtype=torch.float32, device=torch.device("cpu"))),
        ("upfirdn2d", (r(1, 3, 7, 7), fir, 2, 1, (2, 1, 2, 1), False, 4.0), {}),
    ]


@needs_cpu_kernels
@pytest.mark.parametrize("name,args,kwargs", _op_calls(), ids=lambda v: v if isinstance(v, str) else "")
def test_custom_op_passes_opcheck_and_returns_the_kernels_result(name, args, kwargs):
    implementation = REGISTRY[name].implementations["cpu"]
    want, structure = custom_ops.flatten(implementation(*args, **kwargs))
    tensors, arguments = custom_ops.split_call(name, args, kwargs)
    op = custom_ops.custom_op(name)
    got = op("cpu", "cpu", tensors, arguments)
    assert len(got) == len(want) == structure.count("t") + (structure == "")
    for g, w in zip(got, want):
        assert torch.equal(g, w) and g.dtype == w.dtype
        assert all(g.untyped_storage().data_ptr() != t.untyped_storage().data_ptr() for t in tensors)
        if args[0].ndim == 4 and not args[0].is_contiguous():  # channels_last in, channels_last out
            assert g.is_contiguous(memory_format=torch.channels_last)
    torch.library.opcheck(op, ("cpu", "cpu", tensors, arguments))


def test_call_arguments_round_trip():
    args = (torch.ones(2), None, True, 3, -0.5, float("inf"), "lrelu", (1, 2), [3, 4.5], torch.float16,
            torch.device("cpu"), torch.zeros(1))
    tensors, arguments = custom_ops.split_call("adain", args, {"dtype": torch.bfloat16, "extra": torch.ones(3)})
    assert len(tensors) == 3 and tensors[0] is args[0] and tensors[1] is args[-1]
    back_args, back_kwargs = custom_ops.join_call(tensors, arguments)
    assert back_args[:-1] == list(args[:-1]) and back_args[-1] is args[-1]
    assert type(back_args[7]) is tuple and type(back_args[8]) is list
    assert back_kwargs["dtype"] == torch.bfloat16 and back_kwargs["extra"] is tensors[2]
    with pytest.raises(TypeError, match=r"op 'adain' under torch.compile: cannot pass an argument of type object"):
        custom_ops.split_call("adain", (object(),), {})


# ---- CUDA graphs: the errors, and the logic with eager replays ----

def test_compile_graph_needs_cuda(g16):
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device; got cpu"):
        g16.compile_graph(4)


@pytest.mark.parametrize("call,error,match", [
    (dict(), TypeError, "either batch_size or batch_sizes"),
    (dict(batch_size=2, batch_sizes=(2, 4)), TypeError, "either batch_size or batch_sizes"),
    (dict(batch_sizes=(2, 0)), ValueError, r"batch sizes must be ints >= 1, got \(2, 0\)"),
    (dict(batch_size=2.0), ValueError, "batch sizes must be ints >= 1, got 2.0"),
    (dict(batch_size=2, noise_mode="rnd"), ValueError, "unknown noise_mode 'rnd'"),
    (dict(batch_size=2, noise=[]), ValueError, "explicit noise maps are not captured"),
    (dict(batch_size=2, noise_seeds=[1, 2]), ValueError, r"noise_seeds= is given per call"),
    (dict(batch_size=2, psi=0.5), TypeError, r"unexpected options \['psi'\]"),
    (dict(batch_size=2, warmup=0), ValueError, "warmup must be an int >= 1"),
])
def test_compile_graph_rejects_bad_arguments(make_generator, call, error, match):
    with pytest.raises(error, match=match):
        make_generator("stylegan2", 8).compile_graph(**call)


class EagerReplay(cuda_graph.CudaGraphGenerator):
    """CudaGraphGenerator whose "graphs" run the captured forward eagerly into the static output, on any device."""

    _check_device = staticmethod(lambda device: None)

    def _capture(self, batch, warmup):
        z, c, seeds = self._static_inputs(batch)
        images = self._forward(z, c, seeds)
        replay = types.SimpleNamespace(replay=lambda: images.copy_(self._forward(z, c, seeds)))
        return cuda_graph._Captured(replay, z, c, seeds, images)


@needs_cpu_kernels
def test_graph_logic_pads_to_the_next_batch_size_and_honours_seeds():
    G = tiny("stylegan2")
    G.backend = "cpu"
    kw = dict(truncation_psi=0.7, noise_mode="random")
    graph = EagerReplay(G, (4, 2), kw)
    assert graph.batch_sizes == (2, 4) and graph.last_dispatch["noise_stream"] == "cpu"
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = G(z, noise_seeds=[5, 6, 7, 8], **kw)
        first = graph(z, noise_seeds=[5, 6, 7, 8])
        assert_close(first, want, dtype=torch.float32, scale=_scale(want))
        padded = graph(z[:3], noise_seeds=[5, 6, 7])  # batch 4, its last row left from the call before
        graph(torch.randn(4, G.z_dim), noise_seeds=[1, 2, 3, 4])
        assert torch.equal(graph(z[:3], noise_seeds=[5, 6, 7]), padded)  # whatever the padding holds
        assert torch.equal(padded, first[:3])
        assert_close(graph(z[:1], noise_seeds=[6]), G(z[:1], noise_seeds=[6], **kw), dtype=torch.float32,
                     scale=_scale(want))
        assert not torch.allclose(graph(z[:2], noise_seeds=[9, 10]), first[:2], atol=1e-3)  # the seeds matter
        torch.manual_seed(11)
        drawn = graph(z[:2])  # no seeds: from torch's RNG, as G draws them
        torch.manual_seed(11)
        assert torch.equal(drawn, G(z[:2], **kw))
    view = graph(z[:2], noise_seeds=[5, 6], clone=False)
    assert view.data_ptr() == graph._graphs[2].images.data_ptr()
    assert graph(z[:2], noise_seeds=[5, 6]).data_ptr() != view.data_ptr()


@needs_cpu_kernels
def test_graph_made_in_inference_mode_runs_outside_it_and_back():
    G = tiny("stylegan1")
    G.backend = "cpu"
    z = torch.randn(2, G.z_dim)
    with torch.inference_mode():
        graph = EagerReplay(G, (2,), dict(truncation_psi=0.5))
        inside = graph(z)
    outside = graph(z)
    assert torch.equal(inside, outside) and not outside.is_inference()
    with torch.inference_mode():
        assert torch.equal(graph(z), outside)


@needs_cpu_kernels
def test_graph_logic_checks_its_inputs():
    G = tiny("stylegan2", c_dim=3)
    G.backend = "cpu"
    graph = EagerReplay(G, (2,), dict(noise_mode="random"))
    z, c = torch.randn(2, G.z_dim), torch.eye(3)[:2]
    with pytest.raises(ValueError, match=r"a batch of 3 images is larger than every captured batch size \(2\)"):
        graph(torch.randn(3, G.z_dim), torch.eye(3))
    with pytest.raises(ValueError, match=rf"z must have shape \[N, {G.z_dim}\] with N >= 1, got \[2, 5\]"):
        graph(torch.randn(2, 5), c)
    with pytest.raises(ValueError, match=r"c must have shape \[2, 3\] \(one-hot labels\), got None"):
        graph(z)
    with pytest.raises(ValueError, match="one seed per image: 2 images, 1 seeds"):
        graph(z, c, noise_seeds=[1])
    with pytest.raises(ValueError, match=r"noise seeds must be in \[0, 4294967295\]"):
        graph(z, c, noise_seeds=torch.tensor([1, -1]))
    with torch.no_grad():
        want = G(z, c, noise_mode="random", noise_seeds=[1, 2])
        assert_close(graph(z, c, noise_seeds=[1, 2]), want, dtype=torch.float32, scale=_scale(want))


@needs_cpu_kernels
@pytest.mark.parametrize("change,match", [
    (lambda G: G.synthesis.b8.conv0.weight.mul_(2), r"parameters changed .* modified in place"),
    (lambda G: G.to(torch.float64), r"parameters changed .*now torch.float64 on cpu"),
    (lambda G: setattr(G, "backend", "reference"), r"G.backend changed from 'cpu' to 'reference'"),
])
def test_graph_refuses_a_model_changed_after_capture(change, match):
    G = tiny("stylegan2")
    G.backend = "cpu"
    graph = EagerReplay(G, (1,), {})
    z = torch.randn(1, G.z_dim)
    with torch.no_grad():
        graph(z)
        change(G)
    with pytest.raises(RuntimeError, match=match + r".*call G.compile_graph\(...\) again"):
        graph(z)


# ---- CUDA graphs on a GPU ----

def _gpu_backends():
    marks = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    params = []
    for name in ("reference", "triton", "cuda"):
        ok, reason = backends.backend_status(name, "cuda") if torch.cuda.is_available() else (True, "")
        params.append(pytest.param(name, marks=[marks] + ([] if ok else [pytest.mark.skip(reason=reason)])))
    return params


@pytest.fixture
def gpu_generator():
    """build(arch) on the GPU, fp32 without TF32 on both sides."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield lambda arch, backend: _on_gpu(build(arch, 32, channel_max=32), backend)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _on_gpu(G, backend):
    G = G.to("cuda")
    G.backend = backend
    return G


@pytest.mark.parametrize("backend", _gpu_backends())
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan1"])
def test_graph_replay_matches_eager_on_gpu(gpu_generator, arch, backend):
    G = gpu_generator(arch, backend)
    kw = dict(truncation_psi=0.7, truncation_cutoff=4, noise_mode="const")
    graph = G.compile_graph(batch_sizes=(2, 4), **kw)
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(3)).cuda()
    with torch.no_grad():
        want = G(z, **kw)
        got = graph(z)
        assert_close(got, want, dtype=torch.float32, scale=_scale(want), msg=f"{arch} {backend} graph vs eager")
        padded = graph(z[:3])
        graph(torch.randn(4, G.z_dim, device="cuda"))  # other rows in the padding
        assert torch.equal(graph(z[:3]), padded)
        assert_close(padded, G(z[:3], **kw), dtype=torch.float32, scale=_scale(want), msg="3 images padded to 4")
        assert_close(graph(z[:1]), G(z[:1], **kw), dtype=torch.float32, scale=_scale(want), msg="1 image of 2")
    assert set(graph.last_dispatch.values()) == {backend}
    G.to("cpu")
    with pytest.raises(RuntimeError, match="parameters changed"):
        graph(z)


_RANDOM_BACKENDS = [pytest.param(*p.values, marks=list(p.marks) + (
    [pytest.mark.xfail(raises=RuntimeError, strict=False, reason="the reference noise_stream makes its constants with "
                       "torch.tensor(..., device=...), a host copy that a capture cannot hold")]
    if p.values[0] == "reference" else [])) for p in _gpu_backends()]


@pytest.mark.parametrize("backend", _RANDOM_BACKENDS)
def test_graph_random_noise_follows_the_seeds_on_gpu(gpu_generator, backend):
    G = gpu_generator("stylegan2", backend)
    graph = G.compile_graph(4, noise_mode="random")
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(5)).cuda()
    with torch.no_grad():
        want = G(z, noise_mode="random", noise_seeds=[7, 8, 9])
        got = graph(z, noise_seeds=[7, 8, 9])
        assert_close(got, want, dtype=torch.float32, scale=_scale(want), msg=f"{backend} random noise")
        assert torch.equal(graph(z[:2], noise_seeds=[7, 8]), got[:2])  # the third row is padding now
        assert not torch.allclose(graph(z, noise_seeds=[1, 2, 3]), got, atol=1e-3)
    assert graph.last_dispatch["noise_stream"] == backend
