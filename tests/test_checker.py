"""The checker (issue 24): grade cells run in a process of their own and ask the learner's kernel for data.

These tests talk to a real agent (:mod:`autograder.kernel.agent`) in a
learner's process, or to a rogue agent that answers with hand-written frames,
through the grader's relay and the sandboxed checker process, exactly as
grading does.  The graded classes (one student per attack) are in
``tests/test_checker_class.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from autograder.checker.client import Checker, AgentLink
from autograder.kernel import wire
from autograder.sandbox.readiness import diagnose

from checker_support import RogueAgent, frame, learner_kernel, names_reply

MSE_TEST = "from course import checks\nchecks.check_mse(mse)\n### BEGIN HIDDEN TESTS\nchecks.check_mse(mse, seed=12)\n### END HIDDEN TESTS"


@pytest.fixture(scope="module")
def checker():
    checker = Checker(sandbox=not diagnose())
    checker.begin(["numpy", "course.checks"])
    yield checker
    checker.close()


@pytest.fixture
def kernel(tmp_path):
    started = []

    def start(code):
        proc, path = learner_kernel(tmp_path, code)
        started.append(proc)
        return AgentLink(path)

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def _run(checker, link, source, timeout=20, labels=None):
    return checker.run_cell(source, link, labels=labels or {}, timeout=timeout)


def _passed(outputs) -> bool:
    return not any(o["output_type"] == "error" or o.get("name") == "stderr" for o in outputs)


def _error(outputs) -> dict:
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert len(errors) == 1, outputs
    return errors[0]


# ---------------------------------------------------------------------------------------------
# The wire


def test_wire_round_trip_of_every_kind_of_data():
    value = [None, True, 3, -2.5, float("inf"), "text", b"\x00raw", 1 + 2j, (1, (2, 3)), {"a": [1], 2: "b"},
             np.arange(6, dtype=np.float32).reshape(2, 3), np.float64(1.25), np.array([True, False]),
             {"numpy", "torch"}, frozenset({1, 2})]
    node, blobs = wire.encode(value)
    raw = wire.pack({"v": node}, blobs)
    header, got_blobs = wire.parse_frame(raw[wire.PREFIX_SIZE:wire.PREFIX_SIZE + wire.parse_prefix(raw[:wire.PREFIX_SIZE])[0]],
                                         raw[wire.PREFIX_SIZE + wire.parse_prefix(raw[:wire.PREFIX_SIZE])[0]:])
    back = wire.Decoder(got_blobs).decode(header["v"])
    assert back[:10] == value[:10]
    assert back[10].dtype == np.float32 and back[10].shape == (2, 3) and (back[10] == value[10]).all()
    assert type(back[11]) is np.float64 and back[11] == 1.25
    assert back[12].tolist() == [True, False]
    assert back[13:] == value[13:] and type(back[14]) is frozenset


@pytest.mark.parametrize("node, blobs, problem", [
    ({"A": ["|O8", [1], 0]}, [b"\0" * 8], "dtype"),
    ({"A": ["<f8", [10], 0]}, [b"\0" * 8], "cannot be 8 bytes"),
    ({"A": ["<f8", [-1], 0]}, [b"\0" * 8], "impossible shape"),
    ({"A": ["<f8", [1] * 40, 0]}, [b"\0" * 8], "impossible shape"),
    ([{"A": ["<f8", [1], 0]}, {"A": ["<f8", [1], 0]}], [b"\0" * 8], "twice"),
    ({"A": ["<f8", [1], 3]}, [b"\0" * 8], "not there"),
    ({"Z": 1}, [], "not accepted"),
    ({"F": ["os.system", {}]}, [], "not accepted"),
    ({"R": [1, {}]}, [], "not accepted"),
    ({"S": [[1], [2]]}, [], "cannot be in a set"),  # a decoder without refs (the agent's side of the wire)
])
def test_wire_refuses_what_breaks_the_protocol(node, blobs, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.Decoder(blobs).decode(node)


def test_wire_refuses_deep_and_huge_values_before_building_them():
    deep = []
    node = deep
    for _ in range(wire.MAX_DEPTH + 5):
        node.append([])
        node = node[0]
    with pytest.raises(wire.WireError, match="nested"):
        wire.Decoder([]).decode(deep)
    with pytest.raises(wire.WireError, match="nested"):
        wire.encode(deep)
    with pytest.raises(wire.WireError, match="more than"):
        wire.Decoder([]).decode([0] * (wire.MAX_NODES + 1))
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.parse_prefix(wire.MAGIC + (2**31).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    with pytest.raises(wire.WireError, match="not valid JSON"):
        wire.parse_frame(b"[" * 100_000, b"")


# ---------------------------------------------------------------------------------------------
# Real learners through the proxies


def test_a_proxy_s_class_comes_from_what_its_kernel_reported_not_from_a_reused_id():
    """Each object's reported type decides ``isinstance``: info dicts freed and made again reuse their
    ids, and a class remembered by id gave a Keras Sequential the class of the object before it."""
    import collections

    from autograder.checker.session import Session

    session = Session(transport=None)
    kinds = {"numpy.ndarray": (["numpy", "ndarray"], np.ndarray),
             "collections.OrderedDict": (["collections", "OrderedDict"], collections.OrderedDict)}
    for round_ in range(200):
        name = list(kinds)[round_ % 2]
        entry, expected = kinds[name]
        info = {"name": entry[1], "module": entry[0], "mro": [entry, ["builtins", "object"]]}
        assert session.local_class(info) is expected, (round_, name)
        del info


def test_right_and_wrong_answers_and_the_learner_s_own_error(checker, kernel):
    link = kernel("""
        import numpy as np
        def mse(y_pred, y):
            return float(np.mean((np.asarray(y_pred) - np.asarray(y)) ** 2))
        def mse_sum(y_pred, y):
            return float(np.sum((np.asarray(y_pred) - np.asarray(y)) ** 2))
        def mse_raises(y_pred, y):
            return y_pred.nope
    """)
    outputs = _run(checker, link, MSE_TEST)
    assert _passed(outputs) and "✓ mse is right (seed 12)." in outputs[0]["text"]
    error = _error(_run(checker, link, MSE_TEST.replace("(mse", "(mse_sum")))
    assert error["ename"] == "CheckFailed" and "[mistake: sum_reduction]" in error["evalue"]
    error = _error(_run(checker, link, MSE_TEST.replace("(mse", "(mse_raises")))
    assert "raised AttributeError" in error["evalue"]
    assert any("return y_pred.nope" in line for line in error["traceback"]), "the learner's own frame"
    assert not any("checker" in line or "course/" in line for line in error["traceback"])


def test_a_kernel_folder_too_long_for_a_unix_socket_address(checker, tmp_path):
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    proc, path = learner_kernel(deep, "first_loss = 15.666666")
    try:
        assert len(path) > 107
        source = "from course import checks\nchecks.check_value(first_loss, 15.666666, name='first_loss', digits=4)"
        assert _passed(_run(checker, AgentLink(path), source))
    finally:
        proc.kill()
        proc.wait()


def test_an_undefined_name_names_its_exercise_and_a_plain_assert_shows_its_message(checker, kernel):
    link = kernel("x = 1")
    error = _error(_run(checker, link, "assert w > 0", labels={"w": "Exercise 7"}))
    assert error["evalue"] == "`w` is not defined yet: Exercise 7 is not answered"
    error = _error(_run(checker, link, "assert x == 2, 'x should be 2'"))
    assert error["ename"] == "AssertionError" and error["traceback"] == ["\x1b[0;31mAssertionError\x1b[0m: x should be 2"]


def test_what_the_learner_prints_or_warns_is_their_output_never_a_failure(checker, kernel):
    link = kernel("""
        import sys, warnings
        import numpy as np
        def mse(y_pred, y):
            print("50%|#####     | 5/10", file=sys.stderr)
            warnings.warn("input_shape is deprecated", UserWarning)
            return float(np.mean((np.asarray(y_pred) - np.asarray(y)) ** 2))
    """)
    outputs = _run(checker, link, MSE_TEST)
    assert _passed(outputs)
    assert "5/10" in outputs[0]["text"] and outputs[0]["name"] == "stdout"


def test_objects_that_lie_about_equality_length_arrays_and_floats_do_not_pass(checker, kernel):
    link = kernel("""
        import sys
        class Liar:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __len__(self): return 7
            def __array__(self, *a, **k): return "not numbers"
            def __float__(self):
                frame = sys._getframe()
                while frame is not None:  # the in-kernel attack: read `expected` from the check's frame
                    if "expected" in frame.f_locals:
                        return float(frame.f_locals["expected"])
                    frame = frame.f_back
                return -1.0
        def mse(y_pred, y):
            return Liar()
        first_loss = Liar()
    """)
    assert _error(_run(checker, link, MSE_TEST))["ename"] == "CheckFailed"
    source = "from course import checks\nchecks.check_value(first_loss, 15.666666, name='first_loss', digits=4)"
    error = _error(_run(checker, link, source))
    assert error["ename"] == "CheckFailed" and "-1" in error["evalue"]
    assert _error(_run(checker, link, "assert first_loss == 15.666666 and len(first_loss) == 0"))


def test_huge_and_deeply_nested_replies_fail_the_check_and_the_next_cell_still_runs(checker, kernel):
    link = kernel("""
        import numpy as np
        def mse(y_pred, y):
            return np.zeros(20_000_000)  # 160 MB: over the wire's limit
        def nested(y_pred, y):
            value = 1.0
            for _ in range(500):
                value = [value]
            return value
        def right(y_pred, y):
            return float(np.mean((np.asarray(y_pred) - np.asarray(y)) ** 2))
    """)
    assert "too large" in _error(_run(checker, link, MSE_TEST))["evalue"]
    assert "nested" in _error(_run(checker, link, MSE_TEST.replace("(mse", "(nested")))["evalue"]
    assert _passed(_run(checker, link, MSE_TEST.replace("(mse", "(right")))


def test_a_reply_that_never_comes_and_a_kernel_that_died(checker, kernel):
    link = kernel("""
        import os, time
        def spin(y_pred, y):
            while True:
                pass
        def sleeps(y_pred, y):
            time.sleep(600)
        def dies(y_pred, y):
            os._exit(3)
    """)
    error = _error(_run(checker, link, MSE_TEST.replace("(mse", "(spin"), timeout=2))
    assert "TimeoutError" in error["evalue"]  # the agent stopped the learner's loop itself
    error = _error(_run(checker, link, MSE_TEST.replace("(mse", "(sleeps"), timeout=2))
    assert error["ename"] == "CheckFailed" and "did not answer within the time limit" in error["evalue"]
    error = _error(_run(checker, link, MSE_TEST.replace("(mse", "(dies"), timeout=5))
    assert error["ename"] == "KernelUnreachable" or "did not answer" in error["evalue"]
    again = _error(_run(checker, link, MSE_TEST.replace("(mse", "(dies"), timeout=5))
    assert again["ename"] == "KernelUnreachable"


# ---------------------------------------------------------------------------------------------
# A rogue agent (the student rewrote it): every frame is checked


def _value_reply(request_id, node, blobs=()):
    return frame({"id": request_id, "v": node, "out": [], "warnings": []}, blobs)


def test_answers_for_other_requests_and_unsolicited_messages_are_dropped(checker, tmp_path):
    def respond(header):
        junk = b"".join(frame({"id": n, "v": 99.0}) for n in (-1, 10_000, "x"))
        if header["op"] == "names":
            return junk + names_reply(header["id"], [["first_loss", 15.666666]])
        return junk

    rogue = RogueAgent(str(tmp_path / "rogue.sock"), respond)
    source = "from course import checks\nchecks.check_value(first_loss, 15.666666, name='first_loss', digits=4)"
    assert _passed(_run(checker, AgentLink(rogue.path), source))
    rogue.close()


@pytest.mark.parametrize("node, blobs, what", [
    ({"A": ["<f8", [3], 0]}, [b"\0" * 8], "cannot be 8 bytes"),
    ({"A": ["|O8", [1], 0]}, [b"\0" * 8], "dtype"),
    ({"A": ["<f8", [2], 0]}, [], "not there"),
])
def test_arrays_with_a_wrong_dtype_or_shape_header_are_refused(checker, tmp_path, node, blobs, what):
    def respond(header):
        return names_reply(header["id"], [["losses", node]], blobs)

    rogue = RogueAgent(str(tmp_path / "rogue.sock"), respond)
    source = "from course import checks, data\nline = data.tiny_line()\nchecks.check_fit(0.0, 0.0, losses, x=line.x, y=line.y, lr=0.05, epochs=3)"
    error = _error(_run(checker, AgentLink(rogue.path), source))
    assert what in error["evalue"]
    rogue.close()


def test_a_frame_that_claims_to_be_huge_or_a_reply_that_never_comes(checker, tmp_path):
    rogue = RogueAgent(str(tmp_path / "big.sock"), lambda h: wire.MAGIC + (2**31).to_bytes(4, "big") + bytes(4))
    error = _error(_run(checker, AgentLink(rogue.path), "assert w"))
    assert error["ename"] == "KernelUnreachable" and "over the limit" in error["evalue"]
    rogue.close()
    silent = RogueAgent(str(tmp_path / "silent.sock"), lambda h: None)
    error = _error(_run(checker, AgentLink(silent.path), "assert w", timeout=2))
    assert error["ename"] == "KernelUnreachable" and "time limit" in error["evalue"]
    silent.close()


def test_no_test_code_in_any_message(checker, tmp_path):
    def respond(header):
        if header["op"] == "names":
            return names_reply(header["id"], [["mse", {"R": [1, {"name": "function", "module": "builtins",
                                                                "callable": True}]}]])
        return _value_reply(header["id"], 0.0)

    rogue = RogueAgent(str(tmp_path / "rogue.sock"), respond)
    _run(checker, AgentLink(rogue.path), MSE_TEST)
    sent = json.dumps(rogue.requests)
    assert [r["op"] for r in rogue.requests] == ["names", "call"]  # the first check failed: the hidden one never ran
    for fragment in ("check", "HIDDEN", "seed", "course", "expected"):
        assert fragment not in sent
    rogue.close()
