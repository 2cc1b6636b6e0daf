"""Hostile (and NVlabs/TF-shaped) pickles for the checkpoint-safety tests: a helper module, no tests.

Used by the ``tests/test_safety_*.py`` modules, which check that ``stylegan_fast.checkpoints.safe_pickle``
refuses these files and runs nothing of them. It holds:

* a tiny pickle assembler (:class:`Node`, :class:`Raw`, :func:`lit`, :class:`Global`, :class:`Call`,
  :class:`Build`, :func:`assemble`): files are assembled opcode by opcode so that exact global names,
  dotted names and opcodes no normal pickler writes can be expressed, for any protocol 0..5;
* :class:`Marks`, the paths a payload would touch (create CANARY, delete VICTIM, import a canary
  module) and the check that none was touched;
* the payloads: :data:`PAYLOADS` (each builds a node that would leave a mark if it ran),
  :data:`CORE_PAYLOADS`, :data:`SPECIFIC` (abuses of specific allow-list entries), :func:`hostile_src`
  (module source that leaves the mark) and :data:`REAL_PICKLER_PAYLOADS` (objects the real pickler writes);
* the placements, where in a checkpoint a payload sits: :func:`tensor_node`, :func:`persistent_obj`,
  :func:`tf_network`, :func:`legacy_blob`, :func:`zip_blob`, :func:`tar_blob`, the ``place_*`` functions
  (:data:`PLACEMENTS`), :func:`rosinality_zip`, and the hostile matrix :data:`HOSTILE` built from them;
* :func:`standin_modules`: stand-in ``torch_utils``/``dnnlib`` modules that exist only while the real
  pickler writes NVlabs/TF-shaped files;
* :func:`write_hostile` and :func:`expect_refused`, shared by the tests that load these files.
"""
import contextlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import types
import uuid
import warnings
import zipfile

import torch


# ---------------------------------------------------------------------------------------------
# A tiny pickle assembler: nodes that emit opcodes for a given protocol.

class Node:
    def emit(self, proto: int) -> bytes:
        raise NotImplementedError


class Raw(Node):
    def __init__(self, by_proto):
        self.by_proto = by_proto  # callable proto -> bytes

    def emit(self, proto):
        return self.by_proto(proto)


def lit(v) -> Node:
    """A Python literal (None, bool, int, str, bytes, tuple, list, dict) as a node."""
    if isinstance(v, Node):
        return v
    if v is None:
        return Raw(lambda p: pickle.NONE)
    if isinstance(v, bool):
        return Raw(lambda p: (pickle.NEWTRUE if v else pickle.NEWFALSE) if p >= 2 else
                   (pickle.TRUE if v else pickle.FALSE))
    if isinstance(v, int):
        return Raw(lambda p: b"I%d\n" % v if p == 0 else pickle.BININT + v.to_bytes(4, "little", signed=True))
    if isinstance(v, str):
        return Raw(lambda p: _str(v, p))
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v)
        return Raw(lambda p: pickle.BINBYTES + len(v).to_bytes(4, "little") + v if p >= 3 else
                   Call(Global("_codecs", "encode"), [v.decode("latin1"), "latin1"]).emit(p))
    if isinstance(v, tuple):
        items = [lit(x) for x in v]
        return Raw(lambda p: pickle.MARK + b"".join(i.emit(p) for i in items) + pickle.TUPLE)
    if isinstance(v, list):
        items = [lit(x) for x in v]
        return Raw(lambda p: pickle.MARK + b"".join(i.emit(p) for i in items) + pickle.LIST)
    if isinstance(v, dict):
        items = [(lit(k), lit(x)) for k, x in v.items()]
        return Raw(lambda p: pickle.MARK + b"".join(k.emit(p) + x.emit(p) for k, x in items) + pickle.DICT)
    raise TypeError(type(v))


def _str(s: str, proto: int) -> bytes:
    if proto == 0:  # as the pickler escapes protocol-0 unicode
        esc = (s.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a")
               .replace("\r", "\\u000d").replace("\x1a", "\\u001a"))
        return pickle.UNICODE + esc.encode("raw-unicode-escape") + b"\n"
    data = s.encode("utf-8", "surrogatepass")
    return pickle.BINUNICODE + len(data).to_bytes(4, "little") + data


class Global(Node):
    """GLOBAL (protocols 0-3) or STACK_GLOBAL (4-5): the exact names given, dots included."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def emit(self, proto):
        if proto >= 4:
            return _str(self.module, proto) + _str(self.name, proto) + pickle.STACK_GLOBAL
        return pickle.GLOBAL + self.module.encode() + b"\n" + self.name.encode() + b"\n"


class Call(Node):
    """func(*args) via REDUCE."""

    def __init__(self, func, args=()):
        self.func, self.args = lit(func), lit(tuple(args))

    def emit(self, proto):
        return self.func.emit(proto) + self.args.emit(proto) + pickle.REDUCE


class Build(Node):
    """obj, then BUILD with state (obj.__setstate__(state) or __dict__/setattr updates)."""

    def __init__(self, obj, state):
        self.obj, self.state = lit(obj), lit(state)

    def emit(self, proto):
        return self.obj.emit(proto) + self.state.emit(proto) + pickle.BUILD


def assemble(node, proto: int) -> bytes:
    head = pickle.PROTO + bytes([proto]) if proto >= 2 else b""
    return head + lit(node).emit(proto) + pickle.STOP


PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))
assert PROTOCOLS == [0, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# Marks, and the payloads: each builds, for the paths of one test, a node that would leave a mark if it ran.

class Marks:
    """The paths a payload would touch, and the check that none was touched."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.canary = str(tmp_path / "CANARY")
        self.victim = tmp_path / "VICTIM"
        self.victim.mkdir()
        (self.victim / "keep").write_text("x")
        self.module = f"canary_mod_{uuid.uuid4().hex}"  # importing it creates CANARY
        (tmp_path / f"{self.module}.py").write_text(f"open({self.canary!r}, 'w').close()\n")
        self.code = f"open({self.canary!r}, 'w').close()"

    def touched(self) -> bool:
        return os.path.exists(self.canary) or not (self.victim / "keep").is_file()

    def assert_untouched(self):
        assert not os.path.exists(self.canary), "the payload ran: CANARY was created"
        assert (self.victim / "keep").is_file(), "the payload ran: VICTIM was deleted"
        assert self.module not in sys.modules, "the payload ran: the canary module was imported"


def _call(module, name, *args):
    return lambda m: Call(Global(module, name), [a(m) if callable(a) else a for a in args])


def _chain_getattr(m):  # builtins.getattr(builtins.__import__('os'), 'system')('touch CANARY')
    os_mod = Call(Global("builtins", "__import__"), ["os"])
    return Call(Call(Global("builtins", "getattr"), [os_mod, "system"]), [f"touch {m.canary}"])


def _inner_pickle(m):  # pickle.loads of a plain (unrestricted) pickle that runs os.system
    return assemble(Call(Global("os", "system"), [f"touch {m.canary}"]), 2)


# name -> (builder, the global the refusal must name, min protocol the opcodes need)
PAYLOADS = {
    "os.system": (_call("os", "system", lambda m: f"touch {m.canary}"), "os.system", 0),
    "posix.system": (_call("posix", "system", lambda m: f"touch {m.canary}"), "posix.system", 0),
    "builtins.exec": (_call("builtins", "exec", lambda m: m.code), "builtins.exec", 0),
    "builtins.eval": (_call("builtins", "eval", lambda m: m.code), "builtins.eval", 0),
    "__builtin__.eval": (_call("__builtin__", "eval", lambda m: m.code), "__builtin__.eval", 0),
    "builtins.open": (_call("builtins", "open", lambda m: m.canary, "w"), "builtins.open", 0),
    "io.open": (_call("io", "open", lambda m: m.canary, "w"), "io.open", 0),
    "_io.FileIO": (_call("_io", "FileIO", lambda m: m.canary, "w"), "_io.FileIO", 0),
    "subprocess.Popen": (_call("subprocess", "Popen", lambda m: ["touch", m.canary]), "subprocess.Popen", 0),
    "subprocess.check_call": (_call("subprocess", "check_call", lambda m: ["touch", m.canary]),
                              "subprocess.check_call", 0),
    "shutil.rmtree": (_call("shutil", "rmtree", lambda m: str(m.victim)), "shutil.rmtree", 0),
    "importlib.import_module": (_call("importlib", "import_module", lambda m: m.module),
                                "importlib.import_module", 0),
    "builtins.__import__": (_call("builtins", "__import__", lambda m: m.module), "builtins.__import__", 0),
    "builtins.getattr-chain": (_chain_getattr, "builtins.getattr", 0),
    "torch.save": (_call("torch", "save", 0, lambda m: m.canary), "torch.save", 0),
    "numpy.savetxt": (_call("numpy", "savetxt", lambda m: m.canary, [0]), "numpy.savetxt", 0),
    "pickle.loads": (_call("pickle", "loads", _inner_pickle), "pickle.loads", 0),
    # dotted names: plain pickle (protocol 4+) walks attributes: subprocess -> .os -> .system
    "dotted subprocess/os.system": (_call("subprocess", "os.system", lambda m: f"touch {m.canary}"),
                                    "subprocess.os.system", 0),
    "dotted torch/os.system": (_call("torch", "os.system", lambda m: f"touch {m.canary}"), "torch.os.system", 0),
    "dotted os/path.os.system": (_call("os", "path.os.system", lambda m: f"touch {m.canary}"),
                                 "os.path.os.system", 0),
    # an allow-listed module with a dotted name reaching outside the list
    "dotted torch._utils/os.system": (_call("torch._utils", "torch.os.system", lambda m: f"touch {m.canary}"),
                                      "torch._utils.torch.os.system", 0),
    # the inert-record prefix must not hand out anything callable
    "inert-prefix torch.nn.modules.module/os.system": (
        _call("torch.nn.modules.module", "os.system", lambda m: f"touch {m.canary}"),
        "torch.nn.modules.module.os.system", 0),
    # INST (protocol 0) and OBJ (1), NEWOBJ (2), NEWOBJ_EX (4) call classes found by find_class
    "INST os.system": (lambda m: Raw(lambda p: pickle.MARK + lit(f"touch {m.canary}").emit(p) + pickle.INST
                                     + b"os\nsystem\n"), "os.system", 0),
    "OBJ subprocess.Popen": (lambda m: Raw(lambda p: pickle.MARK + Global("subprocess", "Popen").emit(p)
                                           + lit(["touch", m.canary]).emit(p) + pickle.OBJ),
                             "subprocess.Popen", 1),
    "NEWOBJ subprocess.Popen": (lambda m: Raw(lambda p: Global("subprocess", "Popen").emit(p)
                                              + lit((["touch", m.canary],)).emit(p) + pickle.NEWOBJ),
                                "subprocess.Popen", 2),
    "NEWOBJ_EX subprocess.Popen": (lambda m: Raw(lambda p: Global("subprocess", "Popen").emit(p)
                                                 + lit((["touch", m.canary],)).emit(p) + lit({}).emit(p)
                                                 + pickle.NEWOBJ_EX), "subprocess.Popen", 4),
}
CORE_PAYLOADS = ["os.system", "builtins.exec", "subprocess.check_call", "shutil.rmtree", "importlib.import_module",
                 "dotted subprocess/os.system", "pickle.loads"]


def hostile_src(m):
    """Module source (NVlabs ``module_src``, TF ``build_module_src``) that leaves the mark if executed."""
    return f"import os\nos.system('touch {m.canary}')\n{m.code}\n"


# ---------------------------------------------------------------------------------------------
# Placements: where in a checkpoint the payload sits.

def storage_blob(t: torch.Tensor) -> bytes:
    """The bytes torch.storage._load_from_bytes gets for t's storage (legacy torch.save format)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn, args = t.storage().__reduce__()
    assert fn is torch.storage._load_from_bytes
    return args[0]


def tensor_node(t: torch.Tensor, blob=None) -> Node:
    """A tensor as Tensor.__reduce_ex__ writes it: _rebuild_tensor_v2(_load_from_bytes(blob), ...)."""
    storage = Call(Global("torch.storage", "_load_from_bytes"), [blob if blob is not None else storage_blob(t)])
    return Call(Global("torch._utils", "_rebuild_tensor_v2"),
                [storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), False,
                 Call(Global("collections", "OrderedDict"))])


def persistent_obj(state, module_src="", class_name="Generator") -> Node:
    meta = {"type": "class", "version": 4, "module_src": module_src, "class_name": class_name, "state": state}
    return Call(Global("torch_utils.persistence", "_reconstruct_persistent_obj"), [meta])


def tf_network(state) -> Node:
    # protocols 0/1 form: copyreg._reconstructor(Network, object, None), then BUILD(state)
    obj = Call(Global("copyreg", "_reconstructor"),
               [Global("dnnlib.tflib.network", "Network"), Global("builtins", "object"), None])
    return Build(obj, state)


def legacy_blob(main: bytes, magic: bytes = None) -> bytes:
    """A legacy (non-zip) torch.save stream: magic number, protocol, sys info, then ``main``."""
    magic = magic if magic is not None else pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)
    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    return magic + pickle.dumps(1001, protocol=2) + pickle.dumps(sys_info, protocol=2) + main


def zip_blob(data_pkl: bytes) -> bytes:
    """A torch zip file (torch.save default format) whose data.pkl is replaced."""
    buf = io.BytesIO()
    torch.save(torch.ones(2), buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = data_pkl if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


def tar_blob(m) -> bytes:
    """A legacy-.tar torch.save stream whose members escape the extraction dir onto CANARY (torch reads
    the tar format only from real files, and refuses it under weights_only; from bytes it is garbage)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("storages", os.path.relpath(m.canary, "/tmp/x/y"), m.canary):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return out.getvalue()


def place_top(payload, m):
    return {"G_ema": payload, "G": None, "D": None}


def place_bare(payload, m):
    return payload


def place_persistent_state(payload, m):
    state = {"w": tensor_node(torch.ones(2)), "_hook": payload, "training": False}
    return {"G_ema": persistent_obj(state), "G": None, "D": None}


def place_persistent_nested(payload, m):  # deeper: a persistent object inside another's state
    inner = persistent_obj({"payload": [1, 2, (payload,)]}, class_name="MappingNetwork")
    return {"G_ema": persistent_obj({"mapping": inner})}


def place_storage_legacy(payload, m):  # a nested legacy torch.save blob whose main pickle is hostile
    return {"G_ema": tensor_node(torch.ones(2), blob=legacy_blob(assemble(payload, 2)))}


def place_storage_legacy_magic(payload, m):  # the hostile pickle where the magic number goes
    return {"G_ema": tensor_node(torch.ones(2), blob=legacy_blob(b"", magic=assemble(payload, 2)))}


def place_storage_zip(payload, m):  # a nested zip-format blob whose data.pkl is hostile
    return {"G_ema": tensor_node(torch.ones(2), blob=zip_blob(assemble(payload, 2)))}


def place_storage_in_persistent(payload, m):  # hostile storage blob inside a persistent object's state
    return {"G_ema": persistent_obj({"w": tensor_node(torch.ones(2), blob=legacy_blob(assemble(payload, 2)))})}


def place_tf_state(payload, m):
    state = {"version": 4, "name": "G_synthesis", "static_kwargs": {}, "build_module_src": "",
             "build_func_name": "G_synthesis", "variables": [("w", payload)]}
    return (tf_network(state), tf_network({}), tf_network({}))


PLACEMENTS = {
    "top": place_top, "bare": place_bare, "persistent-state": place_persistent_state,
    "persistent-nested": place_persistent_nested, "storage-legacy": place_storage_legacy,
    "storage-legacy-magic": place_storage_legacy_magic, "storage-zip": place_storage_zip,
    "storage-in-persistent": place_storage_in_persistent, "tf-state": place_tf_state,
}


def _variants():
    """(placement, payload, protocol): every payload x protocol at the top level and in persistent
    state; the core payloads in every other placement, at every protocol."""
    out = []
    for name, (_, _, min_proto) in PAYLOADS.items():
        for proto in PROTOCOLS:
            if proto >= min_proto:
                out.append(("top", name, proto))
        for proto in (min(max(min_proto, 2), 5), 4):
            out.append(("persistent-state", name, proto))
            out.append(("storage-legacy", name, proto))
    for placement in PLACEMENTS:
        for name in CORE_PAYLOADS:
            for proto in PROTOCOLS:
                out.append((placement, name, proto))
    return sorted(set(out), key=lambda v: (list(PLACEMENTS).index(v[0]), list(PAYLOADS).index(v[1]), v[2]))


HOSTILE = _variants()


def write_hostile(tmp_path, placement, payload_name, proto, m) -> str:
    """Write PAYLOADS[payload_name] at PLACEMENTS[placement] with protocol proto; returns the path."""
    build, _, _ = PAYLOADS[payload_name]
    data = assemble(PLACEMENTS[placement](build(m), m), proto)
    path = tmp_path / f"hostile-p{proto}.pkl"
    path.write_bytes(data)
    return str(path)


NESTED = {"storage-legacy", "storage-legacy-magic", "storage-zip", "storage-in-persistent"}


def expect_refused(exc_info, global_name, placement="top"):
    """The refusal in exc_info names global_name (a name, or several the pickler may have written)."""
    msg = str(exc_info.value)
    names = {global_name} if isinstance(global_name, str) else set(global_name)
    names |= {n.replace("__builtin__.", "builtins.") for n in names}  # torch applies fix_imports
    if placement in NESTED and "Unsupported operand" in msg:
        return  # torch's weights-only unpickler refused the opcode (e.g. INST) before reading the global
    assert any(n in msg for n in names), f"the error does not name {global_name!r}: {msg}"


def rosinality_zip(tmp_path, m, payload="os.system", env=None):
    """A rosinality-style torch zip file (``torch.save`` format) whose data.pkl carries PAYLOADS[payload]."""
    buf = io.BytesIO()
    torch.save({"g_ema": {"style.1.weight": torch.ones(2, 2)}, "latent_avg": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    data_pkl = assemble({"g_ema": PAYLOADS[payload][0](m), "latent_avg": None}, 2)
    path = tmp_path / "rosinality.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data_pkl if info.filename.endswith("/data.pkl") else src.read(info))
    return path


# ---------------------------------------------------------------------------------------------
# The real pickler, with stand-in torch_utils / dnnlib modules present only while writing.

class _Evil:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@contextlib.contextmanager
def standin_modules():
    """torch_utils.persistence and dnnlib.tflib.network as NVlabs pickles name them, for writing."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"]
    assert not any(n in sys.modules for n in names)
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("stand-in: never called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class Network:
        def __init__(self, state):
            self._state = state

        def __getstate__(self):
            return self._state

    Network.__module__ = "dnnlib.tflib.network"
    Network.__qualname__ = "Network"
    mods["dnnlib.tflib.network"].Network = Network

    class Persistent:
        def __init__(self, meta):
            self.meta = meta

        def __reduce__(self):
            return _reconstruct_persistent_obj, (self.meta,)

    sys.modules.update(mods)
    try:
        yield types.SimpleNamespace(Persistent=Persistent, Network=Network)
    finally:
        for n in names:
            del sys.modules[n]
    assert not any(n in sys.modules for n in names)


# name -> (object whose pickling names the global, the names the refusal may give)
REAL_PICKLER_PAYLOADS = {
    # the name the pickler writes: protocols 0-2 apply fix_imports (builtins -> __builtin__, ...)
    "os.system": (lambda m: _Evil(os.system, f"touch {m.canary}"), (f"{os.system.__module__}.system",)),
    "builtins.exec": (lambda m: _Evil(exec, m.code), ("builtins.exec", "__builtin__.exec")),
    "subprocess.run": (lambda m: _Evil(subprocess.run, ["touch", m.canary]), ("subprocess.run", "commands.run")),
    "torch.save": (lambda m: _Evil(torch.save, 0, m.canary), ("torch.serialization.save",)),
}


# ---------------------------------------------------------------------------------------------
# Specific allow-list entries abused: case -> (builder, text the refusal must contain).

SPECIFIC = {
    # copyreg._reconstructor builds only our inert records
    "reconstructor-OrderedDict": (lambda m: Call(Global("copyreg", "_reconstructor"),
                                                 [Global("collections", "OrderedDict"), Global("builtins", "object"),
                                                  None]), "_reconstructor"),
    "reconstructor-copy_reg-set": (lambda m: Call(Global("copy_reg", "_reconstructor"),
                                                  [Global("builtins", "set"), Global("builtins", "set"), [1]]),
                                   "_reconstructor"),
    "reconstructor-torch.device": (lambda m: Call(Global("copyreg", "_reconstructor"),
                                                  [Global("torch", "device"), Global("builtins", "object"), None]),
                                   "_reconstructor"),
    # _codecs.encode only str -> latin1
    "codecs-rot13": (lambda m: Call(Global("_codecs", "encode"), ["abc", "rot13"]), "_codecs.encode"),
    "codecs-hex": (lambda m: Call(Global("_codecs", "encode"), ["abc", "hex"]), "_codecs.encode"),
    "codecs-utf16": (lambda m: Call(Global("_codecs", "encode"), ["abc", "utf-16"]), "_codecs.encode"),
    "codecs-canary-module-as-codec": (lambda m: Call(Global("_codecs", "encode"), ["abc", m.module]),
                                      "_codecs.encode"),
    "codecs-bytes-input": (lambda m: Call(Global("_codecs", "encode"), [b"abc", "latin1"]), "_codecs.encode"),
    "bytes-with-args": (lambda m: Call(Global("builtins", "bytes"), [10 ** 9]), "builtins.bytes"),
    # numpy reconstructors
    "frombuffer-str-dtype": (lambda m: Call(Global("numpy._core.numeric", "_frombuffer"),
                                            [b"\0" * 8, "f8", (1,), "C"]), "_frombuffer"),
    "frombuffer-class-dtype": (lambda m: Call(Global("numpy.core.numeric", "_frombuffer"),
                                              [b"\0" * 8, Global("collections", "OrderedDict"), (1,), "C"]),
                               "_frombuffer"),
    "numpy-reconstruct-non-ndarray": (lambda m: Call(Global("numpy.core.multiarray", "_reconstruct"),
                                                     [Global("collections", "OrderedDict"), (0,), b"b"]),
                                      "_reconstruct"),
    "numpy-scalar-str-dtype": (lambda m: Call(Global("numpy._core.multiarray", "scalar"), ["f8", b"\0" * 8]),
                               "scalar"),
    # tensors: hooks are callables; the storage must be a storage
    "tensor-backward-hooks": (lambda m: Call(Global("torch._utils", "_rebuild_tensor_v2"),
                                             [Call(Global("torch.storage", "_load_from_bytes"),
                                                   [storage_blob(torch.ones(2))]), 0, (2,), (1,), False,
                                              {0: Global("torch._utils", "_rebuild_tensor")}]), "backward hooks"),
    "parameter-backward-hooks": (lambda m: Call(Global("torch._utils", "_rebuild_parameter"),
                                                [tensor_node(torch.ones(2)), False,
                                                 {0: Global("builtins", "set")}]), "backward hooks"),
    "storage-not-bytes": (lambda m: Call(Global("torch.storage", "_load_from_bytes"), ["abc"]), "must be bytes"),
    # persistent ids do not exist in plain checkpoints
    "persid-p0": (lambda m: Raw(lambda p: pickle.PERSID + b"os.system\n"), "persistent id"),
    "binpersid": (lambda m: Raw(lambda p: lit(("storage", m.canary)).emit(p) + pickle.BINPERSID), "persistent id"),
    # persistent-object record with the wrong shape
    "persistent-meta-not-class": (lambda m: Call(Global("torch_utils.persistence", "_reconstruct_persistent_obj"),
                                                 [{"type": "function", "module_src": hostile_src(m)}]),
                                  "persistent-object record"),
}
