"""What grading cheaper must not change (issue 15): figures made but not drawn, bytecode compiled once.

* With ``figures=False`` (the grading default) the guard's arm cell leaves the
  inline backend without a PNG formatter: a shown figure becomes matplotlib's
  own text, the figure object is still made (and closed), and the course's
  sliders skip their draw.  With ``figures=True`` the same cell draws as usual.
* The ``.pyc`` files the grader writes for the ``course`` package and the
  in-kernel guard are what a fresh compilation of the sources gives, and the
  sandbox shows those folders read-only (a student cannot plant bytecode for
  the next student's kernel).
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _arm(figures: bool) -> str:
    from autograder.preprocessors.guard_cells import ARM_SOURCE

    return ARM_SOURCE.format(memory_mb=0, max_output_chars=0, figures=figures)


def _outputs(kc, code: str) -> list[dict]:
    msg_id = kc.execute(code, store_history=False)
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("display_data", "execute_result", "error", "stream"):
            outputs.append({"type": msg["msg_type"], **msg["content"]})
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs


SHOW = """\
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot([0, 1], [1, 0])
plt.show()
print("open figures:", len(plt.get_fignums()), "lines:", len(ax.lines))
"""

SLIDER = """\
from course import data, widgets
explorer = widgets.explore(data.tiny_line(), lr=0.05, epochs=20)
print("png bytes:", len(explorer.png()), "state:", explorer.state)
"""


@pytest.mark.parametrize("figures", [False, True])
def test_figures_are_made_but_not_drawn_unless_asked(isolated_jupyter, figures):
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "GD_NO_FIGURES"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        arm = _outputs(kc, _arm(figures))
        assert not [o for o in arm if o["type"] == "error"], arm
        shown = _outputs(kc, SHOW)
        displays = [o for o in shown if o["type"] == "display_data"]
        assert len(displays) == 1
        data = displays[0]["data"]
        assert ("image/png" in data) is figures
        assert data["text/plain"].startswith("<Figure size 400x300 with 1 Axes>")
        printed = "".join(o.get("text", "") for o in shown if o["type"] == "stream")
        assert "open figures: 0 lines: 1" in printed  # made, shown and closed either way
        slider = "".join(o.get("text", "") for o in _outputs(kc, SLIDER) if o["type"] == "stream")
        assert ("png bytes: 0" in slider) is not figures
        assert "state: ok" in slider
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_grading_draws_no_figures_by_default_and_the_flag_turns_them_on(monkeypatch):
    from autograder.config import Settings, course_config

    monkeypatch.delenv("GD_GRADE_FIGURES", raising=False)
    assert course_config(Settings.from_env(root=ROOT)).GuardTests.figures is False
    monkeypatch.setenv("GD_GRADE_FIGURES", "1")
    assert course_config(Settings.from_env(root=ROOT)).GuardTests.figures is True


def _kernel_sources() -> list[Path]:
    import autograder.kernel
    import course

    return sorted(Path(course.__file__).parent.rglob("*.py")) + \
        sorted(Path(autograder.kernel.__file__).parent.rglob("*.py"))


def test_precompiled_bytecode_equals_a_fresh_compilation():
    from autograder.config import precompile_kernel_code

    precompile_kernel_code.cache_clear()
    precompile_kernel_code()
    sources = _kernel_sources()
    assert len(sources) > 10
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.exists(), cached
        blob = cached.read_bytes()
        assert blob[:4] == importlib.util.MAGIC_NUMBER
        stat = source.stat()
        # the header Python checks before using the file: the source's time stamp and size
        assert int.from_bytes(blob[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        assert int.from_bytes(blob[12:16], "little") == stat.st_size & 0xFFFFFFFF
        fresh = compile(source.read_bytes(), str(source), "exec", dont_inherit=True)
        assert marshal.loads(blob[16:]) == fresh, source


def test_the_sandbox_shows_the_bytecode_read_only():
    from autograder.sandbox.readiness import read_only_paths
    from autograder.sandbox.policy import Layout, Limits, sandbox_command

    import course

    layout = Layout(kernel_dir=Path("/tmp/gd-test-slot"), read_only=read_only_paths(), uid=61000, gid=61000)
    cmd = sandbox_command([sys.executable, "-m", "ipykernel_launcher"], layout, Limits(), {})
    pairs = list(zip(cmd, cmd[1:], cmd[2:]))
    course_dir = Path(course.__file__).resolve().parent
    kernel_dir = (ROOT / "autograder" / "kernel").resolve()
    for folder in (course_dir, kernel_dir):
        covering = [(flag, src) for flag, src, dst in pairs if flag in ("--bind", "--ro-bind")
                    and src == dst and (Path(src) == folder or Path(src) in folder.parents)]
        assert covering and all(flag == "--ro-bind" for flag, _ in covering), (folder, covering)


def test_environment_is_byte_compiled_once_per_set_of_packages(tmp_path, monkeypatch):
    """The sandbox shows the environment read-only: without .pyc files every kernel compiles TensorFlow."""
    import sysconfig

    from autograder import config

    site = tmp_path / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg-1.0.dist-info").mkdir()
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {"purelib": str(site)})
    monkeypatch.setattr(config.sys, "prefix", str(tmp_path))
    assert config.precompile_environment() is True
    assert Path(importlib.util.cache_from_source(str(site / "pkg" / "__init__.py"))).exists()
    assert config.precompile_environment() is False, "the stamp says it is done"
    (site / "other-2.0.dist-info").mkdir()  # a package installed since: compiled again
    assert config.precompile_environment() is True
    assert len(list(tmp_path.glob(".gd-bytecode-*"))) == 1
