"""Runs inside the student's kernel while nbgrader grades it.

nbgrader runs the test cells in the same kernel as the student's code, so a
student cell can replace what the tests rely on: ``numpy.allclose``,
``builtins.abs``, ``sys.modules['course.checks']``, a check function, an
IPython input transformer.  The autograder inserts hidden cells into the
notebook it executes (see :class:`autograder.preprocessors.GuardTests`):

* first, before any student code, :func:`arm` caps the kernel's memory,
  caps its output, imports ``course.checks`` from the installed course (not
  from a ``course/`` folder a student might submit) and keeps pristine
  copies of the protected modules, ``builtins`` and IPython's hooks;
* before every graded test cell, :meth:`Guard.rearm` puts back whatever
  changed and prints a note naming it, so the test runs against the real
  checks and the student's feedback says what was undone.

This raises the bar; it is not a sandbox.  Student code runs with the
grader's rights in the same process and could, with effort, reach this
object too (see ``autograder/README.md``).  Only the standard library is
imported here: the module must be cheap and must not print.
"""

from __future__ import annotations

import builtins
import os
import sys
import types

#: Packages whose attributes the tests rely on (and their sub-modules, to ``MODULE_DEPTH``).
PROTECTED_PACKAGES = ("numpy", "math", "course", "torch", "tensorflow", "keras")
#: ``numpy.testing`` is depth 2.  Deeper modules are internals the checks do not call.
MODULE_DEPTH = 2
#: Modules whose ``sys.modules`` entry must stay the object imported first.
PINNED_MODULE_PACKAGES = ("numpy", "math", "course")
#: IPython's execution path: a student could override these on the shell.
SHELL_METHODS = ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "transform_cell",
                 "showtraceback", "_showtraceback", "showsyntaxerror", "should_run_async")
#: Builtins that IPython and ipykernel rebind themselves (``input`` on every execute request).
VOLATILE_BUILTINS = {"_", "__", "___", "get_ipython", "exit", "quit", "display", "input", "raw_input"}

_ACTIVE: "Guard | None" = None
#: Set in the kernel's environment when grading without figures (``course.live_figure`` reads it).
NO_FIGURES_ENV = "GD_NO_FIGURES"


def _protected(name: str) -> bool:
    root = name.split(".", 1)[0]
    if root not in PROTECTED_PACKAGES:
        return False
    return root == "course" or name.count(".") < MODULE_DEPTH


def _tracked_items(namespace: dict) -> dict:
    """The attributes worth restoring: functions and classes, not dunders or sub-modules.

    Data attributes are left out on purpose: libraries rebind their own caches
    and settings, and restoring those would report tampering that never was.
    """
    return {key: value for key, value in namespace.items()
            if callable(value) and not isinstance(value, types.ModuleType)
            and not (key.startswith("__") and key.endswith("__"))}


def _trusted_dirs() -> tuple[str, ...]:
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, here)}
    course = sys.modules.get("course")
    if course is not None and getattr(course, "__file__", None):
        dirs.add(os.path.realpath(os.path.dirname(course.__file__)))
    return tuple(d + os.sep for d in dirs)


def _is_library_code(func) -> bool:
    """True when ``func`` comes from an installed library or the course, not from a notebook cell."""
    target = getattr(func, "__func__", func)
    code = getattr(target, "__code__", None)
    if code is None:
        call = getattr(type(target), "__call__", None)
        code = getattr(call, "__code__", None)
    if code is None:
        return True  # implemented in C: not something a cell defined
    filename = os.path.realpath(code.co_filename)
    return filename.startswith(_trusted_dirs())


def _library_wrapper_of(new, old) -> bool:
    """True when ``new`` is a library's ``functools.wraps`` wrapper around ``old``."""
    wrapped, depth = getattr(new, "__wrapped__", None), 0
    while wrapped is not None and depth < 5:
        if wrapped is old:
            return _is_library_code(new)
        wrapped, depth = getattr(wrapped, "__wrapped__", None), depth + 1
    return False


def _restore_list(current: list, pristine: list) -> bool:
    """Put back removed entries and drop ones a notebook cell added; keep library additions."""
    wanted = [item for item in current if item in pristine or _is_library_code(item)]
    wanted += [item for item in pristine if item not in current]
    if current == wanted:
        return False
    current[:] = wanted
    return True


class _CappedStream:
    """Passes writes through to ``stream`` until ``budget`` characters per cell, then one notice."""

    def __init__(self, stream, budget: int):
        self._stream, self._budget, self._used, self._noted = stream, budget, 0, False

    def reset(self) -> None:
        self._used, self._noted = 0, False

    def write(self, text):
        if not isinstance(text, str):
            return self._stream.write(text)
        room = self._budget - self._used
        if room <= 0:
            if not self._noted:
                self._noted = True
                self._stream.write(f"\n... output cut by the grader after {self._budget} characters ...\n")
            return len(text)
        self._used += len(text)
        if len(text) > room:
            self._stream.write(text[:room])
            self._noted = True
            self._stream.write(f"\n... output cut by the grader after {self._budget} characters ...\n")
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Guard:
    """Pristine copies of what the tests use, and the means to put them back."""

    def __init__(self) -> None:
        self._modules: dict[str, tuple[types.ModuleType, dict]] = {}
        self._builtins = dict(builtins.__dict__)
        self._sys = {name: getattr(sys, name) for name in ("stdout", "stderr", "displayhook")}
        self._trace = (sys.gettrace(), sys.getprofile())
        self._shell = self._shell_state()
        self.extend()

    # -- snapshot ---------------------------------------------------------------------------
    def extend(self) -> None:
        """Keep copies of protected modules imported since the last call (e.g. by a set-up cell)."""
        for name, module in list(sys.modules.items()):
            if name not in self._modules and isinstance(module, types.ModuleType) and _protected(name):
                self._modules[name] = (module, _tracked_items(vars(module)))

    @staticmethod
    def _shell_state() -> dict | None:
        try:
            shell = get_ipython()  # noqa: F821 (defined in an IPython kernel)
        except NameError:
            return None
        class_methods = {}
        for cls in type(shell).__mro__:
            for name in SHELL_METHODS:
                if name in vars(cls):
                    class_methods[(cls, name)] = vars(cls)[name]
        return {
            "shell": shell,
            "instance": {name: vars(shell)[name] for name in SHELL_METHODS if name in vars(shell)},
            "class": class_methods,
            "input_transformers_cleanup": list(shell.input_transformers_cleanup),
            "input_transformers_post": list(shell.input_transformers_post),
            "ast_transformers": list(shell.ast_transformers),
            "custom_exceptions": shell.custom_exceptions,
            "CustomTB": vars(shell).get("CustomTB"),
            "events": {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
        }

    # -- restore ----------------------------------------------------------------------------
    def rearm(self) -> list[str]:
        """Undo changes to the protected state; print and return what was undone."""
        restored: list[str] = []
        self._restore_builtins(restored)
        self._restore_modules(restored)
        self._restore_sys(restored)
        self._restore_shell(restored)
        self.extend()
        for stream in (self._sys["stdout"], self._sys["stderr"]):
            if isinstance(stream, _CappedStream):
                stream.reset()
        if restored:
            shown = ", ".join(restored[:8]) + (f" and {len(restored) - 8} more" if len(restored) > 8 else "")
            print(f"Grader note: your code had replaced {shown}; the grader put the original back "
                  "before running the next test.")
        return restored

    def _restore_builtins(self, restored: list[str]) -> None:
        current = builtins.__dict__
        for name, value in self._builtins.items():
            if name in VOLATILE_BUILTINS:
                continue
            if current.get(name, _MISSING) is not value:
                current[name] = value
                restored.append(f"builtins.{name}")

    def _restore_modules(self, restored: list[str]) -> None:
        for name, (module, pristine) in self._modules.items():
            if name.split(".", 1)[0] in PINNED_MODULE_PACKAGES and sys.modules.get(name) is not module:
                sys.modules[name] = module
                restored.append(f"sys.modules[{name!r}]")
            namespace = vars(module)
            for key, value in pristine.items():
                if namespace.get(key, _MISSING) is not value:
                    now = namespace.get(key, _MISSING)
                    if isinstance(now, types.ModuleType):
                        continue  # a lazy loader replaced itself: not tampering
                    if _library_wrapper_of(now, value):
                        pristine[key] = now  # e.g. torch._dynamo wraps torch.manual_seed on import
                        continue
                    namespace[key] = value
                    restored.append(f"{name}.{key}")
        # `import course.checks` inside a test must find the real sub-modules again.
        for name, (module, _) in self._modules.items():
            parent, _, child = name.rpartition(".")
            if parent in self._modules and parent.split(".", 1)[0] in PINNED_MODULE_PACKAGES:
                parent_ns = vars(self._modules[parent][0])
                if child in parent_ns and parent_ns[child] is not module:
                    parent_ns[child] = module
                    restored.append(f"{parent}.{child}")

    def _restore_sys(self, restored: list[str]) -> None:
        for name, value in self._sys.items():
            if getattr(sys, name) is not value:
                setattr(sys, name, value)
                restored.append(f"sys.{name}")
        if (sys.gettrace(), sys.getprofile()) != self._trace:
            sys.settrace(self._trace[0])
            sys.setprofile(self._trace[1])
            restored.append("sys.settrace/setprofile")

    def _restore_shell(self, restored: list[str]) -> None:
        state = self._shell
        if state is None:
            return
        shell = state["shell"]
        for name in SHELL_METHODS:
            if vars(shell).get(name, _MISSING) is not state["instance"].get(name, _MISSING):
                if name in state["instance"]:
                    setattr(shell, name, state["instance"][name])
                else:
                    delattr(shell, name)
                restored.append(f"IPython shell.{name}")
        for (cls, name), value in state["class"].items():
            if vars(cls).get(name, _MISSING) is not value:
                setattr(cls, name, value)
                restored.append(f"{cls.__name__}.{name}")
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            if _restore_list(getattr(shell, attr), state[attr]):
                restored.append(f"IPython {attr}")
        if shell.custom_exceptions != state["custom_exceptions"]:
            shell.custom_exceptions = state["custom_exceptions"]
            if state["CustomTB"] is None:
                vars(shell).pop("CustomTB", None)
            else:
                shell.CustomTB = state["CustomTB"]
            restored.append("IPython custom exception handler")
        # matplotlib's inline backend registers callbacks after the snapshot: those stay.
        for name, callbacks in shell.events.callbacks.items():
            if _restore_list(callbacks, state["events"].get(name, [])):
                restored.append(f"IPython event {name!r}")


_MISSING = object()


def _cap_memory(memory_mb: int) -> None:
    if memory_mb <= 0:
        return
    try:
        import resource
    except ImportError:  # not on Linux/macOS: no cap
        return
    limit = memory_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cap_output(max_output_chars: int) -> None:
    if max_output_chars <= 0:
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _CappedStream):
            setattr(sys, name, _CappedStream(stream, max_output_chars))
    try:
        shell = get_ipython()  # noqa: F821
    except NameError:
        return

    def reset_budget(*_args) -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _CappedStream):
                stream.reset()

    shell.events.register("pre_run_cell", reset_budget)


def _import_checks() -> None:
    """Import the course's checks from the installed package, never from the grading folder.

    The kernel runs in ``autograded/<student>/<assignment>/``; a ``course/``
    folder submitted there would otherwise shadow the real package.
    """
    cwd = os.path.realpath(os.getcwd())
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != cwd]
    try:
        import numpy  # noqa: F401  (pristine before any student code)
        try:
            import course.checks  # noqa: F401
        except ImportError:
            pass  # a course without checks (e.g. a test fixture): nothing to protect there
    finally:
        sys.path[:] = saved


def _no_figures() -> None:
    """Grade without drawing figures: nothing graded looks at their pixels.

    The figures are still made (a test that inspects a ``Figure`` sees the same
    object), but the inline backend gets no PNG formatter, so showing one
    records matplotlib's own text (``<Figure size 1100x400 with 2 Axes>``)
    instead of drawing and encoding it, and the course's sliders
    (``course.live_figure``) skip their first draw.  Most of a notebook's
    grading CPU went into those pictures.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        # Read by matplotlib_inline when pyplot's inline backend is set up (not imported here:
        # importing it imports pyplot); where it already is, the formats are changed at once.
        shell.config.InlineBackend.figure_formats = set()
        inline = sys.modules.get("matplotlib_inline.config")
        if inline is not None and inline.InlineBackend.initialized():
            inline.InlineBackend.instance().figure_formats = set()
    os.environ[NO_FIGURES_ENV] = "1"  # read by course.live_figure when it is imported
    live_figure = sys.modules.get("course.live_figure")
    if live_figure is not None:
        live_figure.RENDER = False


def arm(memory_mb: int = 0, max_output_chars: int = 0, figures: bool = True) -> Guard:
    """Set the limits and keep pristine copies; called by the first (hidden) cell.

    ``figures=False``: figures are made but not drawn (see :func:`_no_figures`).
    """
    global _ACTIVE
    _cap_memory(memory_mb)
    if not figures:
        _no_figures()
    _import_checks()
    _cap_output(max_output_chars)
    _ACTIVE = Guard()
    return _ACTIVE


def rearm() -> list[str]:
    """Re-arm from the module's own reference (used when the notebook's name was removed)."""
    if _ACTIVE is None:
        return []
    return _ACTIVE.rearm()
