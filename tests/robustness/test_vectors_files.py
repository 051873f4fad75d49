"""A test-vector file is data (issue 9, sections 1 and 3): ``refopt.vectors.load`` refuses
anything but a complete vector with a ValueError naming the file, never runs or imports a
name it reads, and ``recheck`` counts a NaN against a number as an infinite difference."""
import dataclasses
import json
import os
import sys

import numpy as np
import pytest

import refopt
from refopt import vectors


def vector(name="rule-adam-example"):
    """A freshly generated vector (as the JSON-ready dict that ``dumps`` writes)."""
    for stem, kind, optimizer, arguments, make in vectors.settings():
        if stem == name:
            return vectors.generate(stem, kind, optimizer, arguments, make)
    raise LookupError(name)


@pytest.fixture(scope="module")
def adam_vector():
    return vector()


def write(tmp_path, content):
    path = tmp_path / "v.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def changed(v, edit):
    v = json.loads(json.dumps(v))  # a deep copy
    edit(v)
    return v


def nested(depth):
    return {"__state__": "AdamState", "fields": {"t": 1, "m": [[]] if depth == 0 else nested(depth - 1)}}


BAD = {  # case -> (content made from a valid vector, words the message must contain)
    "empty": (lambda v: "", "not a JSON test vector"),
    "not JSON": (lambda v: "hello", "not a JSON test vector"),
    "truncated": (lambda v: vectors.dumps(v)[:4000], "not a JSON test vector"),
    "not UTF-8": (lambda v: b"\xff\xfe" + vectors.dumps(v).encode(), "not a JSON test vector"),
    "NaN token": (lambda v: vectors.dumps(v).replace('"seed": 0', '"seed": NaN'), "NaN is not JSON"),
    "huge int": (lambda v: vectors.dumps(v).replace('"seed": 0', '"seed": ' + "9" * 5000),
                 "not a JSON test vector"),
    "a list": (lambda v: [v], "not a JSON object"),
    "other format": (lambda v: changed(v, lambda x: x.update(format="other")), "not a refopt-test-vector"),
    "version true": (lambda v: changed(v, lambda x: x.update(version=True)), "version True"),
    "version newer": (lambda v: changed(v, lambda x: x.update(version=vectors.VERSION + 1)), "version 2"),
    "version 0": (lambda v: changed(v, lambda x: x.update(version=0)), "version 0"),
    "version str": (lambda v: changed(v, lambda x: x.update(version="1")), "version '1'"),
    "no grads": (lambda v: changed(v, lambda x: x.pop("grads")), "missing grads"),
    "no steps": (lambda v: changed(v, lambda x: x.pop("steps")), "missing steps"),
    "steps removed": (lambda v: changed(v, lambda x: x.update(steps=[])), "'steps': 0"),
    "a step fewer": (lambda v: changed(v, lambda x: x["steps"].pop()), "'steps': 9"),
    "grads not a list": (lambda v: changed(v, lambda x: x.update(grads={"w": 1})), "'grads': 'dict'"),
    "step without state": (lambda v: changed(v, lambda x: x["steps"][3].pop("state")), "steps[3]"),
    "negative shape": (lambda v: changed(v, lambda x: x["params"]["w"].update(__ndarray__=[-3, -2])),
                       "not a list of non-negative ints"),
    "bool shape": (lambda v: changed(v, lambda x: x["params"]["w"].update(__ndarray__=[True, 6])),
                   "not a list of non-negative ints"),
    "data too short": (lambda v: changed(v, lambda x: x["grads"][2]["w"]["data"].pop()),
                       "grads[2]['w']: shape [3, 2] needs 6 numbers, data has 5"),
    "huge shape": (lambda v: changed(v, lambda x: x["params"]["w"].update(__ndarray__=[10**6, 10**6])),
                   "needs 1000000000000 numbers"),
    "int dtype": (lambda v: changed(v, lambda x: x["params"]["b"].update(dtype="int64")), "'int64'"),
    "object dtype": (lambda v: changed(v, lambda x: x["params"]["b"].update(dtype="object")), "'object'"),
    "text in data": (lambda v: changed(v, lambda x: x["params"]["b"]["data"].__setitem__(0, "1.5")),
                     "'1.5', not a number"),
    "bool in data": (lambda v: changed(v, lambda x: x["params"]["b"]["data"].__setitem__(0, True)),
                     "not a number"),
    "array extra key": (lambda v: changed(v, lambda x: x["params"]["b"].update(order="F")), "order"),
    "state fields a list": (lambda v: changed(v, lambda x: x["steps"][0]["state"].update(fields=[1])),
                            "steps[0].state: a state is"),
    "deep nesting": (lambda v: changed(v, lambda x: x["steps"][0].update(state=nested(40))),
                     "deeper than 32"),
    "nesting 100000": (lambda v: vectors.dumps(v).replace('"seed": 0', '"seed": ' + "[" * 10**5 + "]" * 10**5),
                       "nested too deeply"),
    "unknown rule": (lambda v: changed(v, lambda x: x.update(optimizer="adamzz")), "rule 'adamzz' is not"),
    "unknown kind": (lambda v: changed(v, lambda x: x.update(kind="module")), "kind 'module'"),
    "unknown argument": (lambda v: changed(v, lambda x: x["arguments"].update(path="/etc")),
                         "'path' is not an argument of adam"),
    "argument an object": (lambda v: changed(v, lambda x: x["arguments"].update(lr={"__ndarray__": [1]})),
                           "arguments['lr']"),
    "arguments a list": (lambda v: changed(v, lambda x: x.update(arguments=[1e-3])), "must be an object"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_a_value_error_naming_it(tmp_path, adam_vector, case):
    make, words = BAD[case]
    path = write(tmp_path, make(adam_vector))
    with pytest.raises(ValueError) as err:
        vectors.load(path)
    assert str(path) in str(err.value) and words in str(err.value), str(err.value)


@pytest.mark.parametrize("name", ["torch.optim.np.save", "torch.optim.os.system", "os.system",
                                  "refopt.oracle.__main__", "torch.optim.__class__"])
def test_a_flavor_name_is_looked_up_in_the_table_not_walked(tmp_path, name):
    # before, build() walked attributes of the flavor module: "torch.optim.np.save" reached numpy
    v = changed(vector("flavor-torch.optim.Adam"), lambda x: x.update(optimizer=name))
    v["arguments"] = {"file": str(tmp_path / "pwned"), "arr": [1.0]}
    path = write(tmp_path, v)
    before = set(sys.modules)
    with pytest.raises(ValueError, match=f"flavor '{name}' is not one refopt has"):
        vectors.load(path)
    assert set(sys.modules) == before and os.listdir(tmp_path) == ["v.json"]
    with pytest.raises(ValueError, match="not a framework optimizer"):  # a hand-made dict too
        vectors.build({"kind": "flavor", "optimizer": name, "arguments": {}})


def test_a_valid_rule_and_flavor_vector_load_and_replay_exactly(tmp_path):
    for name in ("rule-adam-example", "flavor-torch.optim.Adam", "rule-partition-example"):
        path = write(tmp_path, vectors.dumps(vector(name)))
        assert vectors.recheck(vectors.load(path)) == 0.0, name


def test_a_rule_returning_nan_scores_inf(tmp_path, adam_vector, monkeypatch):
    info = refopt.RULES["adam"]

    def nan_adam(**kwargs):  # adam, but the 4th step puts a NaN into one parameter entry
        opt = info.factory(**kwargs)

        def step(params, grads, state):
            params, state = opt.step(params, grads, state)
            if state.t == 4:
                params = {**params, "b": np.where(np.arange(3) == 1, np.nan, params["b"])}
            return params, state

        return dataclasses.replace(opt, step=step)

    loaded = vectors.load(write(tmp_path, vectors.dumps(adam_vector)))
    monkeypatch.setitem(vectors.RULES, "adam", dataclasses.replace(info, factory=nan_adam))
    assert vectors.recheck(loaded) == np.inf  # max(0.0, nan) used to drop it: 0.0


def test_a_stored_nan_against_a_number_scores_inf(tmp_path, adam_vector):
    loaded = vectors.load(write(tmp_path, vectors.dumps(adam_vector)))
    loaded["steps"][6]["state"]["s"]["w"][1, 0] = np.nan
    assert vectors.recheck(loaded) == np.inf


def test_relative_difference_by_hand():
    rel = vectors._relative
    assert rel(np.array([1.0, np.nan]), np.array([1.0, np.nan])) == 0.0        # NaN where stored NaN
    assert rel(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf])) == 0.0
    assert rel(np.array([np.inf, 2.0]), np.array([1.0, 2.0])) == np.inf
    assert rel(np.array([1.0, 2.0]), np.array([1.0, np.inf])) == np.inf
    assert rel(np.array([np.nan]), np.array([0.0])) == np.inf
    # finite: max |diff| / max |stored| over finite entries, 0.5 / 4 (the inf entries agree)
    assert rel(np.array([1.5, 4.0, np.inf]), np.array([1.0, 4.0, np.inf])) == 0.125


def test_recheck_refuses_a_vector_without_steps_or_with_another_structure(adam_vector, tmp_path):
    loaded = vectors.load(write(tmp_path, vectors.dumps(adam_vector)))
    with pytest.raises(AssertionError, match="0 steps for 10 gradients"):
        vectors.recheck({**loaded, "steps": []})
    del loaded["steps"][2]["state"]["m"]["b"]
    with pytest.raises(AssertionError, match=r"step 3.*keys"):
        vectors.recheck(loaded)
