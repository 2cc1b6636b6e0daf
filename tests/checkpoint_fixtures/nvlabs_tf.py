"""Writes small NVlabs-TensorFlow-structured pickles (G, D, Gs) without TensorFlow.

NVlabs' ``dnnlib.tflib.network.Network.__getstate__`` pickles a dict: version (3 in the StyleGAN
repo, 4 in StyleGAN2), name, static_kwargs, components (sub-Networks), build_module_src,
build_func_name and variables, a list of (name relative to the network, numpy array). Here a
stand-in ``Network`` class in stand-in ``dnnlib`` modules produces the same byte stream, the
tuple is pickled with protocol 4 (what those repos wrote under python 3.6), and the stand-in
modules are removed from ``sys.modules`` again.

Variable names and shapes follow the TF build functions (G_main / G_mapping / G_synthesis_stylegan2
and G_style / G_mapping / G_synthesis); values are random, with nonzero biases, noise strengths,
modulation biases and dlatent_avg so every term shows up in the output.
"""
from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types

import numpy as np

STANDIN_MODULES = ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")


class _NetworkState:
    """Carries a Network's pickled state until the stand-in class exists."""

    def __init__(self, version, name, static_kwargs, build_func_name, variables, components=None):
        self.state = dict(version=version, name=name, static_kwargs=dict(static_kwargs),
                          components=dict(components or {}),
                          build_module_src=f"# stand-in build module for {build_func_name}\n",
                          build_func_name=build_func_name, variables=list(variables))


@contextlib.contextmanager
def standin_dnnlib():
    """A class dnnlib.tflib.network.Network (pickles its state dict) while the block runs."""
    saved = {name: sys.modules.get(name) for name in STANDIN_MODULES}
    mods = {name: types.ModuleType(name) for name in STANDIN_MODULES}

    class Network:
        def __init__(self, state):
            self._state = state

        def __getstate__(self):
            return self._state

    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = Network.__name__ = "Network"
    mods["dnnlib.tflib.network"].Network = Network
    mods["dnnlib"].tflib = mods["dnnlib.tflib"]
    mods["dnnlib.tflib"].network = mods["dnnlib.tflib.network"]
    sys.modules.update(mods)
    try:
        yield Network
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def _to_network(cls, ns: _NetworkState):
    state = dict(ns.state)
    state["components"] = {k: _to_network(cls, v) for k, v in state["components"].items()}
    return cls(state)


# ---------------------------------------------------------------------------------------------

class _Vars:
    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)
        self.items = []

    def randn(self, name, shape, std=1.0):
        self.items.append((name, (self.rng.randn(*shape) * std).astype(np.float32)))

    def signed(self, name, shape, scale=1.0):  # |value| in [0.5, 1] * scale, random sign: never ~0
        mag = 0.5 + 0.5 * self.rng.rand(*shape)
        sign = np.where(self.rng.rand(*shape) < 0.5, -1.0, 1.0)
        self.items.append((name, np.asarray(mag * sign * scale, dtype=np.float32).reshape(shape)))

    def value(self, name, array):
        self.items.append((name, np.asarray(array, dtype=np.float32)))


def _nf(stage, fmap_base, fmap_max, fmap_decay=1.0, fmap_min=1):
    return int(np.clip(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min, fmap_max))


def _mapping_vars(v, latent_size, dlatent_size, mapping_layers, lrmul, label_size=0):
    if label_size:  # StyleGAN2-ADA's LabelEmbed (dense, gain 1, lrmul 1) to latent_size features
        v.randn("LabelEmbed/weight", [label_size, latent_size])
        v.signed("LabelEmbed/bias", [latent_size], 0.5)
    fin = latent_size * (2 if label_size else 1)
    for i in range(mapping_layers):
        v.randn(f"Dense{i}/weight", [fin, dlatent_size], 1 / lrmul)  # TF init std 1 / lrmul
        v.signed(f"Dense{i}/bias", [dlatent_size], 0.2 / lrmul)  # times lrmul at run time: O(0.1)
        fin = dlatent_size


def stylegan2_state(resolution=64, fmap_base=128, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=3,
                    label_size=0, num_channels=3, seed=0, version=4, static=None):
    """(Gs _NetworkState, D _NetworkState) of a G_main / G_synthesis_stylegan2 ('skip') generator."""
    static_kwargs = dict(num_channels=num_channels, resolution=resolution, label_size=label_size,
                         latent_size=latent_size, dlatent_size=dlatent_size, mapping_layers=mapping_layers,
                         mapping_fmaps=dlatent_size, fmap_base=fmap_base, fmap_max=fmap_max,
                         architecture="skip", truncation_psi=0.5, randomize_noise=True)
    static_kwargs.update(static or {})
    log2 = int(math.log2(resolution))
    nf = lambda stage: _nf(stage, fmap_base, fmap_max)  # noqa: E731

    m = _Vars(seed + 1)
    _mapping_vars(m, latent_size, dlatent_size, mapping_layers, 0.01, label_size)

    s = _Vars(seed + 2)
    s.value("lod", np.float32(0))
    for i in range(2 * log2 - 3):
        r = 2 ** ((i + 5) // 2)
        s.randn(f"noise{i}", [1, 1, r, r])

    def layer(scope, cin, cout, kernel, demod=True):
        s.randn(f"{scope}/weight", [kernel, kernel, cin, cout], 1.0 if demod else 0.2)  # ToRGB: images ~O(1)
        s.randn(f"{scope}/mod_weight", [dlatent_size, cin])
        s.randn(f"{scope}/mod_bias", [cin], 0.3)
        if demod:
            s.signed(f"{scope}/noise_strength", [], 0.5)
        s.signed(f"{scope}/bias", [cout], 0.5)

    s.randn("4x4/Const/const", [1, nf(1), 4, 4])
    layer("4x4/Conv", nf(1), nf(1), 3)
    layer("4x4/ToRGB", nf(1), num_channels, 1, demod=False)
    for res in range(3, log2 + 1):
        r = 2 ** res
        layer(f"{r}x{r}/Conv0_up", nf(res - 2), nf(res - 1), 3)
        layer(f"{r}x{r}/Conv1", nf(res - 1), nf(res - 1), 3)
        layer(f"{r}x{r}/ToRGB", nf(res - 1), num_channels, 1, demod=False)

    top = _Vars(seed + 3)
    top.value("lod", np.float32(0))
    top.randn("dlatent_avg", [dlatent_size], 0.5)
    mapping = _NetworkState(version, "G_mapping", dict(static_kwargs, dlatent_broadcast=2 * log2 - 2), "G_mapping",
                            m.items)
    synthesis = _NetworkState(version, "G_synthesis", static_kwargs, "G_synthesis_stylegan2", s.items)
    Gs = _NetworkState(version, "G", static_kwargs, "G_main", top.items,
                       components={"mapping": mapping, "synthesis": synthesis})
    return Gs, _discriminator(version, resolution, seed)


def stylegan1_state(resolution=128, fmap_base=256, fmap_max=16, latent_size=16, dlatent_size=16, mapping_layers=3,
                    num_channels=3, seed=0, version=3, static=None):
    """(Gs, D) _NetworkStates of a G_style / G_synthesis generator (all ToRGB_lod{n} present)."""
    static_kwargs = dict(num_channels=num_channels, resolution=resolution, label_size=0,
                         latent_size=latent_size, dlatent_size=dlatent_size, mapping_layers=mapping_layers,
                         mapping_fmaps=dlatent_size, fmap_base=fmap_base, fmap_max=fmap_max)
    static_kwargs.update(static or {})
    log2 = int(math.log2(resolution))
    nf = lambda stage: _nf(stage, fmap_base, fmap_max)  # noqa: E731

    m = _Vars(seed + 1)
    _mapping_vars(m, latent_size, dlatent_size, mapping_layers, 0.01)

    s = _Vars(seed + 2)
    s.value("lod", np.float32(0))
    for i in range(2 * log2 - 2):
        r = 2 ** (i // 2 + 2)
        s.randn(f"noise{i}", [1, 1, r, r])

    def epilogue(scope, c):
        s.signed(f"{scope}/Noise/weight", [c], 0.5)
        s.signed(f"{scope}/bias", [c], 0.5)
        s.randn(f"{scope}/StyleMod/weight", [dlatent_size, 2 * c])
        s.signed(f"{scope}/StyleMod/bias", [2 * c], 0.3)

    s.randn("4x4/Const/const", [1, nf(1), 4, 4])  # trained constants vary (TF initializes to ones)
    epilogue("4x4/Const", nf(1))
    s.randn("4x4/Conv/weight", [3, 3, nf(1), nf(1)])
    epilogue("4x4/Conv", nf(1))
    for res in range(3, log2 + 1):
        r = 2 ** res
        s.randn(f"{r}x{r}/Conv0_up/weight", [3, 3, nf(res - 2), nf(res - 1)])
        epilogue(f"{r}x{r}/Conv0_up", nf(res - 1))
        s.randn(f"{r}x{r}/Conv1/weight", [3, 3, nf(res - 1), nf(res - 1)])
        epilogue(f"{r}x{r}/Conv1", nf(res - 1))
    for res in range(2, log2 + 1):
        s.randn(f"ToRGB_lod{log2 - res}/weight", [1, 1, nf(res - 1), num_channels], 0.2)
        s.signed(f"ToRGB_lod{log2 - res}/bias", [num_channels], 0.5)

    top = _Vars(seed + 3)
    top.value("lod", np.float32(0))
    top.randn("dlatent_avg", [dlatent_size], 0.5)
    mapping = _NetworkState(version, "G_mapping", dict(static_kwargs, dlatent_broadcast=2 * log2 - 2), "G_mapping",
                            m.items)
    synthesis = _NetworkState(version, "G_synthesis", static_kwargs, "G_synthesis", s.items)
    Gs = _NetworkState(version, "G", static_kwargs, "G_style", top.items,
                       components={"mapping": mapping, "synthesis": synthesis})
    return Gs, _discriminator(version, resolution, seed)


def _discriminator(version, resolution, seed):
    d = _Vars(seed + 9)
    d.randn("Output/weight", [4, 1])
    d.value("Output/bias", np.zeros([1]))
    return _NetworkState(version, "D", dict(resolution=resolution), "D_basic", d.items)


def tf_params(Gs: _NetworkState) -> dict:
    """{TF path: array} the way NVlabs' converter names them: Gs own vars, then 'mapping/...', 'synthesis/...'."""
    out = {name: value for name, value in Gs.state["variables"]}
    for comp, ns in Gs.state["components"].items():
        out.update({f"{comp}/{name}": value for name, value in ns.state["variables"]})
    return out


def edit_variables(ns: _NetworkState, drop=(), replace=None):
    """Remove variables named in ``drop`` and replace others ({name: array}) in one network state."""
    replace = replace or {}
    ns.state["variables"] = [(k, replace.get(k, v)) for k, v in ns.state["variables"] if k not in drop]


def write(path, Gs: _NetworkState, D: _NetworkState, protocol=4):
    """Pickle (G, D, Gs) as NVlabs did; G is a second copy of Gs' structure (the raw generator)."""
    with standin_dnnlib() as Network:
        G = _to_network(Network, Gs)
        G._state = dict(G._state, variables=[(k, v.copy()) for k, v in G._state["variables"]])
        with open(path, "wb") as f:
            pickle.dump((G, _to_network(Network, D), _to_network(Network, Gs)), f, protocol=protocol)
    return path


def write_stylegan2(path, **kwargs):
    Gs, D = stylegan2_state(**kwargs)
    write(path, Gs, D)
    return tf_params(Gs), Gs.state["static_kwargs"]


def write_stylegan1(path, **kwargs):
    Gs, D = stylegan1_state(**kwargs)
    write(path, Gs, D)
    return tf_params(Gs), Gs.state["static_kwargs"]
