"""Loading a checkpoint never runs anything, and a damaged one is a clear CheckpointError
(issue 9, section 1). Every attack file is written by hand here (np.savez of a hand-written
JSON layout, or zip members assembled byte by byte), not by save_state."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib import format as npy

import refopt
from refopt.checkpoint import CheckpointError, load_state, save_state

ROOT = Path(__file__).resolve().parents[2]
ADAM = "refopt.rules.adam:AdamState"


def layout(root):
    return {"format": "refopt-state", "version": 1, "root": root}


def craft(path, doc, **arrays):
    """An .npz as save_state would write it, but with any layout: ``doc`` is a dict or raw text."""
    text = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
    raw = text if isinstance(text, bytes) else text.encode()
    np.savez(path, __state__=np.frombuffer(raw, dtype=np.uint8), **arrays)
    return path


def value(v):
    return {"value": v}


def arr(i, dtype="float64"):
    return {"array": i, "dtype": dtype}


def adam_node(t=value(1), m=None, s=None, fields=None):
    fields = fields if fields is not None else [t, m or arr(0), s or arr(1)]
    return {"state": ADAM, "fields": fields}


TWO = {"a0": np.ones(2), "a1": np.zeros(2)}


# --- 1. attacks: nothing runs, nothing is imported, no file appears -----------------------

ATTACKS = {  # type string -> fields that would do harm if the class were called with them
    "refopt.interop.keras:os.system": ["touch {dir}/pwned"],
    "refopt.vectors:Path.write_text": ["{dir}/pwned", "owned"],
    "refopt.checkpoint:importlib.import_module": ["antigravity"],
    "refopt.oracle.__main__:main": ["--help"],
    "refopt.core:Interval": [0.0],
    "refopt.interop:Adapter": ["x", "y"],
}

ATTACK_SCRIPT = r"""
import json, os, sys
import refopt, refopt.flavors
import numpy as np
from refopt.checkpoint import CheckpointError, load_state, save_state
# what reading any file imports (refopt's table, zipfile's codec) happens before the snapshot
save_state(os.path.join(sys.argv[1], "valid.npz"), refopt.adam().init(np.ones(2)))
load_state(os.path.join(sys.argv[1], "valid.npz"))
out = {}
for path in sys.argv[2:]:
    before, files = set(sys.modules), set(os.listdir(sys.argv[1]))
    try:
        load_state(path)
        out[path] = ["loaded", ""]
    except BaseException as err:  # SystemExit too: the CLI's exit must not happen
        out[path] = [type(err).__name__, str(err)]
    out[path] += [sorted(set(sys.modules) - before), sorted(set(os.listdir(sys.argv[1])) - files)]
print(json.dumps(out))
"""


def test_no_crafted_type_is_imported_called_or_loaded(tmp_path):
    files = {}
    for i, (name, fields) in enumerate(ATTACKS.items()):
        nodes = [value(f.format(dir=tmp_path)) if isinstance(f, str) else {"float": repr(f)} for f in fields]
        files[name] = str(craft(tmp_path / f"attack{i}.npz", layout({"state": name, "fields": nodes})))
    # a fresh process: this one may already hold refopt.oracle.__main__ from other tests
    done = subprocess.run([sys.executable, "-c", ATTACK_SCRIPT, str(tmp_path), *files.values()],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name, path in files.items():
        kind, message, new_modules, new_files = result[path]
        assert kind == "CheckpointError", (name, kind, message)
        assert path in message and name in message, message
        assert new_modules == [] and new_files == [], (name, new_modules, new_files)
    assert not (tmp_path / "pwned").exists()


def test_a_state_class_of_another_module_with_a_table_name_is_refused(tmp_path):
    # the table is keyed by module:qualname; the same qualname in another module is not a state
    path = craft(tmp_path / "x.npz", layout({"state": "refopt.core:AdamState", "fields": []}))
    with pytest.raises(CheckpointError, match="refopt.core:AdamState"):
        load_state(path)


def test_table_holds_every_rule_partition_and_flavor_state():
    from refopt import flavors
    from refopt.combine import PartitionState
    table = refopt.checkpoint.state_types()
    for info in refopt.RULES.values():  # every rule's state, found by running its init
        opt = info.make_example()
        state = opt.init({"w": np.ones((2, 3))})
        assert table[f"{type(state).__module__}:{type(state).__qualname__}"] is type(state), info.name
    assert table["refopt.combine:PartitionState"] is PartitionState
    for qualname, make in flavors.EXAMPLES.items():  # 2-D leaves: the Muon flavors take only those
        state = make().init({"w": np.ones((2, 3))})
        assert table.get(f"{type(state).__module__}:{type(state).__qualname__}") is type(state), qualname


def test_register_state_adds_a_wrapper_class_and_save_refuses_unregistered(tmp_path):
    from typing import NamedTuple

    class QuantState(NamedTuple):
        t: int
        q: dict

    with pytest.raises(TypeError, match="QuantState"):  # not in the table: never written
        save_state(tmp_path / "q.npz", QuantState(1, {"w": np.ones(2)}))
    assert list(tmp_path.iterdir()) == []
    refopt.checkpoint.register_state(QuantState)
    try:
        save_state(tmp_path / "q.npz", QuantState(1, {"w": np.ones(2)}))
        back = load_state(tmp_path / "q.npz")
        assert type(back) is QuantState and back.t == 1 and np.array_equal(back.q["w"], np.ones(2))
    finally:
        refopt.checkpoint._REGISTERED.pop(f"{__name__}:{QuantState.__qualname__}")
    with pytest.raises(TypeError, match="first field is t"):
        refopt.checkpoint.register_state(refopt.Interval)


# --- 2. corrupt files: CheckpointError naming the file and the fault ----------------------

def npy_member(shape, descr, data):
    """The bytes of a .npy member with any header (shape and dtype need not match the data)."""
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def zip_of(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return path


def state_member(root):
    return npy_member((len(json.dumps(layout(root))),), "|u1", json.dumps(layout(root)).encode())


def deep(n):
    return '{"format": "refopt-state", "version": 1, "root": ' + '{"list": [' * n + ']}' * n + "}"


CORRUPT = {  # case -> (builder(tmp_path) -> path, words the message must contain)
    "not a zip": (lambda d: (d / "x.npz").write_bytes(b"hello, world") and d / "x.npz", "not a readable"),
    "empty": (lambda d: (d / "x.npz").write_bytes(b"") == 0 and d / "x.npz", "not a readable"),
    "no __state__": (lambda d: np.savez(d / "x.npz", a0=np.ones(2)) or d / "x.npz", "no __state__"),
    "missing a1": (lambda d: craft(d / "x.npz", layout(adam_node()), a0=np.ones(2)), "not in the file"),
    "unused a2": (lambda d: craft(d / "x.npz", layout(adam_node()), **TWO, a2=np.ones(1)), "no place"),
    "foreign member": (lambda d: craft(d / "x.npz", layout(adam_node()), **TWO, evil=np.ones(1)),
                       "unexpected members"),
    "array used twice": (lambda d: craft(d / "x.npz", layout(adam_node(s=arr(0))), **TWO), "used twice"),
    "old layout kind": (lambda d: craft(d / "x.npz", layout({"namedtuple": ADAM, "fields": []})),
                        "node kind"),
    "node is a list": (lambda d: craft(d / "x.npz", layout(adam_node(m=[1, 2]))), "not a node"),
    "extra key": (lambda d: craft(d / "x.npz", layout({"value": 1, "x": 2})), "node kind"),
    "field count": (lambda d: craft(d / "x.npz", layout(adam_node(fields=[value(1), arr(0)])), a0=np.ones(2)),
                    "needs 3 fields, got 2"),
    "t negative": (lambda d: craft(d / "x.npz", layout(adam_node(t=value(-1))), **TWO), "t = -1"),
    "t bool": (lambda d: craft(d / "x.npz", layout(adam_node(t=value(True))), **TWO), "t = True"),
    "t float": (lambda d: craft(d / "x.npz", layout(adam_node(t={"float": "0.5"})), **TWO), "t = 0.5"),
    "t str": (lambda d: craft(d / "x.npz", layout(adam_node(t=value("3"))), **TWO), "t = '3'"),
    "value a float": (lambda d: craft(d / "x.npz", layout(value(0.5))), "null, bool, int or str"),
    "float not a repr": (lambda d: craft(d / "x.npz", layout({"float": "1e400"})), "not a float's repr"),
    "float a number": (lambda d: craft(d / "x.npz", layout({"float": 3})), "not a float's repr"),
    "dict bool key": (lambda d: craft(d / "x.npz", layout({"dict": [[True, value(1)]]})), "dict entry"),
    "dict repeated key": (lambda d: craft(d / "x.npz", layout({"dict": [["a", value(1)], ["a", value(2)]]})),
                          "dict entry"),
    "array index bool": (lambda d: craft(d / "x.npz", layout(arr(True)), a0=np.ones(1)), "not in the file"),
    "dtype mismatch": (lambda d: craft(d / "x.npz", layout(arr(0, "float32")), a0=np.ones(1)),
                       "says 'float32'"),
    "dtype unknown": (lambda d: craft(d / "x.npz", layout(arr(0, "object")), a0=np.ones(1)), "says 'object'"),
    "not JSON": (lambda d: craft(d / "x.npz", "{'root': 1"), "not JSON"),
    "not UTF-8": (lambda d: craft(d / "x.npz", b"\xff\xfe{}"), "not JSON"),
    "huge int": (lambda d: craft(d / "x.npz", '{"root": ' + "9" * 5000 + "}"), "not JSON"),
    "wrong format": (lambda d: craft(d / "x.npz", {"format": "other", "version": 1, "root": value(1)}),
                     "not a refopt-state v1"),
    "version true": (lambda d: craft(d / "x.npz", {"format": "refopt-state", "version": True,
                                                   "root": value(1)}), "not a refopt-state v1"),
    "bare root": (lambda d: craft(d / "x.npz", adam_node(), **TWO), "not a refopt-state v1"),
    "nesting 100": (lambda d: craft(d / "x.npz", deep(100)), "deeper than 64"),
    "nesting 100000": (lambda d: craft(d / "x.npz", deep(100_000)), "too deeply"),
    "shape 1e12": (lambda d: zip_of(d / "x.npz", {"__state__.npy": state_member(arr(0)),
                                                  "a0.npy": npy_member((10**12,), "<f8", bytes(8))}),
                   "declares shape (1000000000000,)"),
    "object dtype": (lambda d: zip_of(d / "x.npz", {"__state__.npy": state_member(arr(0)),
                                                    "a0.npy": npy_member((1,), "|O", bytes(8))}), "object"),
    "structured dtype": (lambda d: zip_of(d / "x.npz", {
                             "__state__.npy": state_member(arr(0)),
                             "a0.npy": npy_member((1,), [("x", "<f8")], bytes(8))}),
                         "structured"),
    "compressed": (lambda d: np.savez_compressed(d / "x.npz", __state__=np.ones(3, np.uint8)) or d / "x.npz",
                   "compressed"),
    "state member float": (lambda d: zip_of(d / "x.npz",
                                            {"__state__.npy": npy_member((1,), "<f8", bytes(8))}),
                           "not JSON bytes"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_file_is_a_checkpoint_error_naming_file_and_fault(tmp_path, case):
    build, words = CORRUPT[case]
    path = build(tmp_path)
    with pytest.raises(CheckpointError) as err:
        load_state(path)
    assert str(path) in str(err.value) and words in str(err.value), str(err.value)


def valid_file(tmp_path):
    state = refopt.adam().step({"w": np.arange(3.0), 1: np.ones((2, 2))},
                               {"w": np.ones(3), 1: np.full((2, 2), -2.0)},
                               refopt.adam().init({"w": np.arange(3.0), 1: np.ones((2, 2))}))[1]
    save_state(tmp_path / "ok.npz", state)
    return tmp_path / "ok.npz", state


def same_bits(a, b):
    leaves_a, leaves_b = [], []
    for x, out in ((a, leaves_a), (b, leaves_b)):
        todo = [x]
        while todo:
            y = todo.pop()
            if isinstance(y, dict):
                todo += [("key", k) for k in y] + list(y.values())
            elif isinstance(y, tuple) and y[:1] == ("key",):
                out.append((type(y[1]), y[1]))
            elif isinstance(y, (list, tuple)):
                out.append(type(y))
                todo += list(y)
            else:
                out.append((type(y), np.asarray(y).tobytes(), np.asarray(y).dtype.str, np.shape(y)))
    return leaves_a == leaves_b


def test_truncating_anywhere_is_an_error(tmp_path):
    path, _ = valid_file(tmp_path)
    raw = path.read_bytes()
    for n in range(0, len(raw), 7):  # every 7th length: 233 files of a 1.6 kB checkpoint
        path.write_bytes(raw[:n])
        with pytest.raises(CheckpointError, match="ok.npz"):
            load_state(path)


@pytest.mark.slow  # 1628 loads: 7 s on 2 shared cores (1.1k BadZipFile, 300 same bits)
def test_flipping_any_byte_gives_the_same_state_or_an_error(tmp_path):
    path, state = valid_file(tmp_path)
    raw = path.read_bytes()
    for i in range(len(raw)):
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])
        try:
            assert same_bits(load_state(path), state), i  # a flip in a field zip ignores (a date)
        except CheckpointError as err:
            assert str(path) in str(err)


@given(st.data())
def test_random_damage_gives_the_same_state_or_an_error(tmp_path_factory, data):
    path, state = valid_file(tmp_path_factory.mktemp("fuzz"))
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[i] = data.draw(st.integers(0, 255), label="byte")
    raw = raw[:data.draw(st.integers(0, len(raw)), label="keep")]
    path.write_bytes(bytes(raw))
    try:
        assert same_bits(load_state(path), state)
    except CheckpointError as err:
        assert str(path) in str(err)


@pytest.mark.parametrize("old", sorted(refopt.checkpoint.MOVED))
def test_a_checkpoint_saved_before_a_state_class_moved_still_loads(tmp_path, old):
    table = refopt.checkpoint.state_types()
    new = refopt.checkpoint.MOVED[old]
    cls = table[new]
    assert old.split(":")[1] == new.split(":")[1] and old != new   # a move keeps the class's name
    state = cls(1, *(np.arange(3.0) + i for i in range(len(cls._fields) - 1)))
    save_state(tmp_path / "now.npz", state)
    with np.load(tmp_path / "now.npz") as f:   # the same file, naming the class where it used to live
        members = {k: f[k] for k in f.files}
    doc = json.loads(members.pop("__state__").tobytes())
    assert doc["root"]["state"] == new
    doc["root"]["state"] = old
    back = load_state(craft(tmp_path / "before.npz", doc, **members))
    assert type(back) is cls and back.t == 1
    for a, b in zip(back[1:], state[1:]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
