"""The jupyter_client kernel provisioner that starts every graded kernel inside the sandbox.

nbgrader's ``Execute`` ignores a configured kernel manager class, but it
honours ``kernel_name``: the course's configuration names the ``gd-sandbox``
kernelspec (:mod:`autograder.sandbox.kernelspec`), whose metadata names this
provisioner (entry point group ``jupyter_client.kernel_provisioners``).  So
the CLI's workers, ``nbgrader autograde`` run from the course root and the
formgrader's autograde button all start their kernels here.

The kernel talks to the grader over ZMQ's ``ipc`` transport: unix sockets in
the slot's ``conn/`` folder, the one writable folder the sandbox shares with
the host (TCP on 127.0.0.1 would be the sandbox's own, empty loopback).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Integer

from . import cgroups, forkserver, seccomp, slots
from .readiness import SandboxUnavailable, diagnose, import_roots, read_only_paths
from .policy import LAUNCHER_ENV, Layout, Limits, sandbox_command, sandbox_env


def _sockets_in(km, conn_dir) -> None:
    """The kernel's ZMQ sockets: unix sockets in ``conn_dir``, with the connection file beside them."""
    km.transport = "ipc"
    km.cache_ports = False
    km.ip = str(conn_dir / "kernel")
    km.connection_file = str(conn_dir / "kernel.json")
    km.shell_port = km.iopub_port = km.stdin_port = km.hb_port = km.control_port = 0


class SandboxProvisioner(LocalProvisioner):
    """A ``LocalProvisioner`` whose kernel runs in bubblewrap, in a slot of its own."""

    memory_mb = Integer(Limits.memory_mb, help="Memory cap of the sandbox in MiB (0: none)").tag(config=True)
    max_processes = Integer(Limits.max_processes, help="Processes and threads of the sandbox").tag(config=True)
    max_open_files = Integer(Limits.max_open_files).tag(config=True)
    max_file_mb = Integer(Limits.max_file_mb, help="Largest file the kernel may write (MiB)").tag(config=True)
    tmp_mb = Integer(Limits.tmp_mb, help="Size of the sandbox's /tmp, /dev/shm and home (MiB each)").tag(config=True)
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU seconds per process in the sandbox").tag(config=True)

    _slot: slots.Slot | None = None
    _cgroup: cgroups.SandboxCgroup | None = None
    _server: forkserver.ForkServer | None = None

    @property
    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb, max_processes=self.max_processes,
                      max_open_files=self.max_open_files, max_file_mb=self.max_file_mb,
                      tmp_mb=self.tmp_mb, cpu_seconds=self.cpu_seconds)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        problems = diagnose()
        if problems:
            raise SandboxUnavailable(problems)
        km = self.parent
        preload = forkserver.requested_preload()
        if preload is not None and self._slot is None:
            env = forkserver.kernel_env(kwargs.get("env") or os.environ)
            server = self._server or await asyncio.to_thread(forkserver.acquire, self.limits, preload, env)
            if server is not None:
                return await self._pre_launch_forked(server, **kwargs)
        if self._slot is None:  # a restart keeps its slot
            self._slot = slots.acquire()
        else:
            slots.empty_folder(self._slot.kernel_dir)
        slot = self._slot
        slots.prepare(slot, kwargs.get("cwd"))
        _sockets_in(km, slot.kernel_dir / "conn")
        parent_env = dict(kwargs.get("env") or os.environ)
        result = await super().pre_launch(**kwargs)
        if slot.uid is not None:
            os.chown(km.connection_file, slot.uid, slot.gid)
        self._cgroup = cgroups.SandboxCgroup(slot.index, self.memory_mb, self.max_processes)
        layout = Layout(kernel_dir=slot.kernel_dir, read_only=read_only_paths(),
                        uid=slot.uid, gid=slot.gid)
        env = sandbox_env(parent_env, os.path.dirname(sys.executable), import_roots())
        limits = replace(self.limits, max_processes=slots.process_cap(slot, self.max_processes))
        result["cmd"] = (cgroups.launcher(self._cgroup.procs_files)
                         + sandbox_command(result["cmd"], layout, limits, env,
                                           seccomp.program_file(slots.lock_dir())))
        result["env"] = dict(LAUNCHER_ENV)
        result["cwd"] = str(slot.kernel_dir)
        self.log.debug("sandbox slot %s (uid %s, cgroup %s)", slot.index, slot.uid, self._cgroup.kind)
        return result

    async def _pre_launch_forked(self, server: forkserver.ForkServer, **kwargs: Any) -> dict[str, Any]:
        """The kernel is forked by the process's fork server, into a sandbox of its own (see .forkserver)."""
        km = self.parent
        self._server = server
        conn_dir = await asyncio.to_thread(server.prepare_kernel, kwargs.get("cwd"))
        _sockets_in(km, conn_dir)
        result = await super().pre_launch(**kwargs)
        os.chown(km.connection_file, server.slot.uid, server.slot.gid)
        result["cmd"] = server.client_command(result["cmd"])
        result["env"] = dict(LAUNCHER_ENV)
        result["cwd"] = str(server.slot.kernel_dir)
        self.log.debug("forked kernel in slot %s (uid %s)", server.slot.index, server.slot.uid)
        return result

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        """How long a shutting-down kernel may take before it is stopped (SIGTERM at half of it).

        Every output is in by the time the grader shuts the kernel down, and stopping the
        sandbox loses nothing; inside bubblewrap ipykernel took ~2.6 s to exit on its own (until
        jupyter_client's SIGTERM at half of the default 5 s), which was most of the sandbox's
        wall-time cost per student.
        """
        return min(recommended, 1.0)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # forked: the server then kills the kernel and its PID namespace
            await asyncio.sleep(0)
        if self._server is not None:
            if not restart:  # the slot, its cgroup and its folders stay with the fork server
                forkserver.release(self._server)
                self._server = None
            return
        if self._cgroup is not None:
            self._cgroup.remove()  # whatever a student left running in the slot is killed here
            self._cgroup = None
        if not restart and self._slot is not None:
            self._slot.release()
            self._slot = None

