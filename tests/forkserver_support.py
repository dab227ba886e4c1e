"""Helpers of the fork-server tests: kernels forked through the sandbox's provisioner, and their server.

:func:`sandboxed_kernels` starts sandboxed kernels for a fixture; ``forked`` (a fixture) starts
kernels whose slot's fork server imported NumPy, with a notebook folder holding ``data.csv`` and
a notebook (which no kernel may see); :func:`only_server` is the one server the test's process runs.
"""

from __future__ import annotations

import pytest

from autograder.sandbox import forkserver


def sandboxed_kernels(tmp_path, monkeypatch, files: dict[str, str], fork_server: bool):
    """A generator for fixtures: ``start()`` starts a sandboxed kernel (forked by a fork server that
    imported NumPy, or from scratch) in a notebook folder holding ``files``; every kernel and
    server is stopped after the test."""
    from jupyter_client.manager import start_new_kernel

    from autograder.sandbox import KERNEL_NAME, ensure_kernelspec

    monkeypatch.setenv("GD_SANDBOX_DIR", str(tmp_path / "slots"))
    if fork_server:
        monkeypatch.setenv(forkserver.ENV, '["numpy"]')
    else:
        monkeypatch.delenv(forkserver.ENV, raising=False)
    ensure_kernelspec()
    notebook_dir = tmp_path / "nb"
    notebook_dir.mkdir()
    for name, text in files.items():
        (notebook_dir / name).write_text(text)
    started = []

    def start():
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, cwd=str(notebook_dir), startup_timeout=120)
        started.append((km, kc))
        return km, kc

    yield start
    for km, kc in started:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    forkserver.stop_all()


@pytest.fixture
def forked(isolated_jupyter, tmp_path, monkeypatch):
    """Start kernels through the sandbox's provisioner with a fork server that imported NumPy."""
    yield from sandboxed_kernels(tmp_path, monkeypatch, {"data.csv": "1,2\n", "answers.ipynb": "{}"}, True)


def only_server() -> forkserver.ForkServer:
    servers = [server for pool in forkserver._servers.values() for server in pool]
    assert len(servers) == 1, servers
    return servers[0]
