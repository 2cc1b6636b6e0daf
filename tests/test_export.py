"""ONNX export (stylegan_fast.export, ``stylegan-fast export``): ONNX Runtime's images against ours.

ONNX Runtime's float32 images are compared with the same generator run in float64 (reference
backend), with the float32 tolerance of tests/tolerances.py. (Against our float32 output the
difference is the sum of two float32 errors; StyleGAN1's instance norm on these randomized tiny
models makes ours reach a few times the float32 tolerance from float64, ONNX Runtime's stays below it.)

Each export takes a few seconds, so the exported files are module fixtures shared by the tests.
"""
import copy
import importlib.util
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install 'stylegan_fast[export]')")
pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript "
                                         "(pip install 'stylegan_fast[export]')")
ort = pytest.importorskip("onnxruntime",
                        reason="the exported graphs are run with onnxruntime (pip install onnxruntime)")

import stylegan_fast as sf  # noqa: E402
from stylegan_fast import export as export_mod  # noqa: E402
from stylegan_fast.cli import main  # noqa: E402
from stylegan_fast.export import ExportDependencyError, check_onnxruntime, export_onnx, read_metadata  # noqa: E402
from tests.conftest import build  # noqa: E402  (the g2_16 / g1_16 fixtures' builder, at module scope here)
from tests.tolerances import assert_close  # noqa: E402


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_z(sess, z, psi, c=None):
    feeds = {"z": z.numpy().astype(np.float32), "truncation_psi": np.array([psi], dtype=np.float32)}
    if c is not None:
        feeds["c"] = c.numpy().astype(np.float32)
    return torch.from_numpy(sess.run(None, feeds)[0])


def in_float64(G):
    """A float64 copy of G on the reference backend: the derivation the float32 results are held to."""
    G64 = copy.deepcopy(G).double()
    G64.backend = "reference"
    return G64


def cli(*args):
    return CliRunner().invoke(main, ["export", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module")
def g2():
    return build("stylegan2", 16)


@pytest.fixture(scope="module")
def g1():
    return build("stylegan1", 16)


@pytest.fixture(scope="module")
def g2_64(g2):
    return in_float64(g2)


@pytest.fixture(scope="module")
def g1_64(g1):
    return in_float64(g1)


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def g2_dynamic(g2, onnx_dir):
    return export_onnx(g2, onnx_dir / "g2_z_dynamic.onnx", batch="dynamic")


@pytest.fixture(scope="module")
def g1_fixed(g1, onnx_dir):
    # StyleGAN1 16 px has 6 ws; a cutoff of 3 truncates the coarse half only.
    return export_onnx(g1, onnx_dir / "g1_z_batch2.onnx", batch=2, truncation_cutoff=3)


@pytest.fixture(scope="module")
def g2_ws(g2, onnx_dir):
    """g2 with input ws, exported by the CLI while onnxruntime looks uninstalled: (OnnxExport-like paths, result)."""
    g2.save(onnx_dir / "g2.safetensors")
    out = onnx_dir / "g2_ws.onnx"
    real = importlib.util.find_spec
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
        result = cli("--network", onnx_dir / "g2.safetensors", "--out", out, "--input", "ws", "--batch", "dynamic")
    return out, result


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    """A class-conditional generator exported by the CLI (with --check): (G, onnx path, CLI result)."""
    folder = tmp_path_factory.mktemp("cond")
    G = build("stylegan2", 8, c_dim=4)
    G.save(folder / "cond.safetensors")
    out = folder / "cond.onnx"
    result = cli("--network", folder / "cond.safetensors", "--out", out, "--batch", "dynamic", "--class", 1)
    return G, out, result


# ---- z input: psi is an input of the graph ------------------------------------------------------------------

@pytest.mark.parametrize("psi", [1.0, 0.5])
def test_z_input_matches_generator_at_any_psi_and_batch(g2, g2_64, g2_dynamic, psi):
    sess = session(g2_dynamic.path)
    z = torch.randn([3, g2.z_dim], generator=torch.Generator().manual_seed(7))
    ours = g2_64(z.double(), truncation_psi=psi, noise_mode="const")
    out3 = run_z(sess, z, psi)
    assert out3.shape == (3, 3, 16, 16)
    assert_close(out3, ours, msg=f"psi {psi}, batch 3:")
    out1 = run_z(sess, z[1:2], psi)  # the same file, batch 1
    assert_close(out1, ours[1:2], msg=f"psi {psi}, batch 1:")


def test_psi_input_and_const_noise_are_what_the_images_depend_on(g2, g2_64, g2_dynamic):
    sess = session(g2_dynamic.path)
    z = torch.randn([2, g2.z_dim], generator=torch.Generator().manual_seed(8))
    at_1, at_half = run_z(sess, z, 1.0), run_z(sess, z, 0.5)
    assert (at_1 - at_half).abs().max() > 0.01  # psi reaches the graph (w_avg is random and nonzero)
    # psi 0.5 is the lerp towards w_avg: the graph agrees with truncating by hand
    ws, w_avg = g2_64.mapping(z.double()), g2_64.mapping.w_avg
    by_hand = g2_64.synthesis(w_avg + 0.5 * (ws - w_avg), noise_mode="const")
    assert_close(at_half, by_hand)
    # the stored noise maps are in the graph: without them the images differ (noise strengths are nonzero)
    assert (at_1 - g2(z, noise_mode="none")).abs().max() > 0.01


# ---- fixed batch, StyleGAN1, truncation cutoff -----------------------------------------------------------------

@pytest.mark.parametrize("psi", [0.7, 1.0])
def test_stylegan1_fixed_batch_with_cutoff(g1, g1_64, g1_fixed, psi):
    sess = session(g1_fixed.path)
    assert [i.shape for i in sess.get_inputs()] == [[2, g1.z_dim], [1]]
    z = torch.randn([2, g1.z_dim], generator=torch.Generator().manual_seed(9))
    out = run_z(sess, z, psi)
    assert_close(out, g1_64(z.double(), truncation_psi=psi, truncation_cutoff=3, noise_mode="const"), msg=f"psi {psi}:")
    if psi != 1:  # the cutoff is baked in: truncating every ws gives other images
        assert (out - g1(z, truncation_psi=psi, noise_mode="const")).abs().max() > 0.01


@pytest.mark.parametrize("n", [1, 3])
def test_fixed_batch_rejects_another_batch_size(g1, g1_fixed, n):
    sess = session(g1_fixed.path)
    with pytest.raises(Exception, match="(?i)dimension"):
        run_z(sess, torch.zeros([n, g1.z_dim]), 1.0)


# ---- ws input ---------------------------------------------------------------------------------------------------

def test_ws_input_matches_synthesis(g2, g2_64, g2_ws):
    out_path, result = g2_ws
    assert result.exit_code == 0, result.output
    assert "onnxruntime is not installed, so the file was not checked (pip install onnxruntime" in result.output
    assert "check:" not in result.output
    sess = session(out_path)
    assert [(i.name, i.shape) for i in sess.get_inputs()] == [("ws", ["N", g2.num_ws, g2.w_dim])]
    gen = torch.Generator().manual_seed(10)
    # every layer its own w (as after style mixing or a w+ projection): each ws row must reach its layer
    ws = g2.mapping(torch.randn([3, g2.z_dim], generator=gen)) + 0.5 * torch.randn([3, g2.num_ws, g2.w_dim],
                                                                                    generator=gen)
    out = torch.from_numpy(sess.run(None, {"ws": ws.numpy()})[0])
    assert_close(out, g2_64.synthesis(ws.double(), noise_mode="const"))
    out1 = torch.from_numpy(sess.run(None, {"ws": ws[2:].numpy()})[0])
    assert_close(out1, out[2:])


def test_external_data_layout(g2, g2_64, g2_dynamic, tmp_path):
    import onnx_ir as ir

    path = tmp_path / "g.onnx"
    data = export_mod._save(ir.load(str(g2_dynamic.path)), path, external_data=True)
    assert data == tmp_path / "g.onnx.data"
    weights = sum(p.numel() * 4 for p in g2.parameters())
    assert data.stat().st_size >= weights // 2  # the weights are in the data file ...
    assert path.stat().st_size < g2_dynamic.bytes - weights // 2  # ... not in the graph file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx", "g.onnx.data"]  # no temporary files left
    z = torch.randn([2, g2.z_dim], generator=torch.Generator().manual_seed(12))
    assert_close(run_z(session(path), z, 0.5), g2_64(z.double(), truncation_psi=0.5, noise_mode="const"))


# ---- the file: metadata, standard operators, atomic writing ------------------------------------------------------

def test_metadata(g2, g1, g2_dynamic, g1_fixed, g2_ws):
    for G, path, kind, batch, cutoff in ((g2, g2_dynamic.path, "z", "dynamic", "none"),
                                         (g1, g1_fixed.path, "z", "2", "3"), (g2, g2_ws[0], "ws", "dynamic", "")):
        meta = read_metadata(path)
        expected = dict(arch=G.arch, resolution=str(G.img_resolution), z_dim=str(G.z_dim), w_dim=str(G.w_dim),
                        num_ws=str(G.num_ws), c_dim="0", input=kind, batch=batch, truncation_cutoff=cutoff,
                        stylegan_fast_version=sf.__version__, noise_mode="const")
        assert {k: meta.get(k) for k in expected} == expected
        assert set(meta) == set(export_mod.METADATA_KEYS)
    assert read_metadata(g2_dynamic.path) == g2_dynamic.metadata
    assert read_metadata(g1_fixed.path)["arch"] == "stylegan1"


def test_graph_is_standard_onnx(g2_dynamic, g1_fixed):
    for info in (g2_dynamic, g1_fixed):
        proto = onnx.load(str(info.path))
        onnx.checker.check_model(proto, full_check=True)
        assert {o.domain or "ai.onnx": o.version for o in proto.opset_import} == {"ai.onnx": 18}
        assert {n.domain for n in proto.graph.node} <= {"", "ai.onnx"}
        assert len(proto.functions) == 0
        assert [o.name for o in proto.graph.output] == ["img"]
        assert info.nodes == len(proto.graph.node)
        # the exporter's debug metadata (stack traces with this machine's paths) is not in the file
        assert not any(n.metadata_props for n in proto.graph.node)
        assert "stack_trace" not in proto.SerializeToString().decode("latin-1")


def test_failed_write_leaves_nothing(g2_dynamic, tmp_path, monkeypatch):
    import onnx_ir as ir

    model = ir.load(str(g2_dynamic.path))
    target = tmp_path / "g.onnx"
    export_mod._save(model, target, external_data=False)  # a good write first: it must survive the failed one
    good = target.read_bytes()

    def refuse(*args, **kwargs):
        raise onnx.checker.ValidationError("refused")

    monkeypatch.setattr(onnx.checker, "check_model", refuse)
    for external in (False, True):
        with pytest.raises(onnx.checker.ValidationError):
            export_mod._save(model, target, external_data=external)
        assert target.read_bytes() == good
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]


# ---- check_onnxruntime ------------------------------------------------------------------------------------------

def test_check_onnxruntime_passes_and_catches_another_model(g2, g1, g2_dynamic, g1_fixed):
    good = check_onnxruntime(g2, g2_dynamic.path, seeds=[0, 1, 2])
    assert good.ok and set(good.max_abs_diff) == {1.0, 0.5} and good.images == 3
    fixed = check_onnxruntime(g1, g1_fixed.path, seeds=[0, 1, 2])  # batch 2: chunks 2 + 1 (padded)
    assert fixed.ok
    other = check_onnxruntime(build("stylegan2", 16, seed=5), g2_dynamic.path, seeds=[0, 1])
    assert not other.ok and other.worst > 100 * other.tolerance


# ---- class-conditional model, through the CLI ------------------------------------------------------------------

def test_cli_writes_a_checked_conditional_graph(conditional):
    G, out, result = conditional
    assert result.exit_code == 0, result.output
    assert out.is_file()
    match = re.search(r"max abs difference psi 1: (\S+), psi 0.5: (\S+) .*tolerance (\S+)\)", result.output)
    assert match, result.output
    diffs, tol = [float(match[1].rstrip(",")), float(match[2])], float(match[3])
    assert all(0 <= d <= tol for d in diffs)
    meta = read_metadata(out)
    assert (meta["c_dim"], meta["batch"], meta["input"]) == ("4", "dynamic", "z")

    sess = session(out)
    assert [i.name for i in sess.get_inputs()] == ["z", "c", "truncation_psi"]
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(11))
    c = torch.nn.functional.one_hot(torch.tensor([0, 3]), 4).float()
    out_a = run_z(sess, z, 0.5, c)
    G64 = in_float64(G)
    assert_close(out_a, G64(z.double(), c.double(), truncation_psi=0.5, noise_mode="const"))
    out_b = run_z(sess, z, 0.5, c.flip(0))  # the class reaches the graph
    assert (out_a - out_b).abs().max() > 0.01
    assert_close(out_b, G64(z.double(), c.flip(0).double(), truncation_psi=0.5, noise_mode="const"))


def test_cli_bad_options(conditional, tmp_path):
    G, _, _ = conditional
    net = conditional[1].with_name("cond.safetensors")
    out = tmp_path / "x.onnx"
    cases = [
        (["--format", "tensorrt"], "accepted: onnx"),
        (["--batch", "0"], "an integer >= 1) or 'dynamic'"),
        (["--batch", "some"], "an integer >= 1) or 'dynamic'"),
        (["--input", "w"], "'z', 'ws'"),
        (["--opset", "11"], "opset 11 is not supported"),
        (["--input", "ws", "--trunc-cutoff", "2"], "applies to --input z only"),
        (["--class", "4"], "--class 4 out of range: this network has classes 0..3"),
        (["--device", "cuda"], "'cpu'"),
    ]
    for args, message in cases:
        result = cli("--network", net, "--out", out, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("--network", net, "--out", blocker / "x.onnx")
    assert result.exit_code != 0 and "cannot write --out" in result.output
    assert not out.exists()


def test_library_option_errors(g2, tmp_path):
    out = tmp_path / "x.onnx"
    for kwargs, message in [(dict(batch=0), "batch must be an integer >= 1 or 'dynamic'"),
                            (dict(batch="any"), "batch must be"), (dict(input="w"), "input must be one of z, ws"),
                            (dict(opset=17), "opset 17 is not supported"),
                            (dict(truncation_cutoff=0), "truncation_cutoff must be None"),
                            (dict(input="ws", truncation_cutoff=2), "applies to the z input only")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            export_onnx(g2, out, **kwargs)
    assert not out.exists()


def test_missing_packages_named_with_the_pip_command(g2, tmp_path, monkeypatch, conditional):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(ExportDependencyError, match=r"missing: onnxscript.*pip install 'stylegan_fast\[export\]'"):
        export_onnx(g2, tmp_path / "x.onnx")
    result = cli("--network", conditional[1].with_name("cond.safetensors"), "--out", tmp_path / "x.onnx")
    assert result.exit_code == 1
    assert "pip install 'stylegan_fast[export]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.onnx").exists()
