"""The grading sandbox: every graded kernel runs in bubblewrap, without the network or the course.

* :mod:`.policy` - what the kernel may see and use (the bubblewrap command);
* :mod:`.slots` - one lock, uid and private folder per running kernel;
* :mod:`.cgroups` - a memory and process cap for the whole sandbox, and for each grading worker, as root;
* :mod:`.seccomp` - the system calls every graded kernel is refused (keyrings, mounts, namespaces, ...);
* :mod:`.provisioner` - the jupyter_client provisioner that starts the kernel;
* :mod:`.kernelspec` - the ``gd-sandbox`` kernelspec that names it;
* :mod:`.readiness` - can it start here, and if not, why and what to do;
* :mod:`.forkserver`, :mod:`.fork_client`, :mod:`.preload` - as root, kernels forked from a
  sandboxed server that imported the assignment's frameworks once, each into a sandbox of its own.
"""

from .readiness import SandboxUnavailable, diagnose
from .kernelspec import KERNEL_NAME, ensure_kernelspec

__all__ = ["KERNEL_NAME", "SandboxUnavailable", "diagnose", "ensure_kernelspec"]
