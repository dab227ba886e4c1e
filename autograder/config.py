"""The nbgrader configuration of the course, built in one place.

``nbgrader_config.py`` at the course root calls :func:`configure`, so that
nbgrader's own commands (``nbgrader generate_assignment``, ``autograde``,
``generate_feedback``, ``export``, the formgrader) and this package's CLI
run with exactly the same settings.  Everything nbgrader writes
(``release/``, ``submitted/``, ``autograded/``, ``feedback/``,
``gradebook.db``) lives under the course root and outside git.

Settings can be changed per command with the CLI flags, or for nbgrader's
own commands with environment variables (``GD_CELL_TIMEOUT``,
``GD_MEMORY_MB``, ``GD_DB_URL``, ``GD_MAX_OUTPUT_CHARS``).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

COURSE_ID = "gd-five-ways"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The nbgrader *source* notebooks of the course, one folder per assignment.
DEFAULT_SOURCE = REPO_ROOT / "notebooks"
#: Where this package keeps its own records (status per student, logs); git-ignored.
WORK_DIR_NAME = "nbgrader_work"
#: How long SQLite waits for another grader process's write before giving up (s).
SQLITE_BUSY_TIMEOUT_S = 120

#: Written into a course root other than the repository, so nbgrader's own commands work there too.
CONFIG_FILE_MARKER = "# written by autograder.config.write_course_config"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r} is neither 1 nor 0")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def default_root() -> Path:
    """The course root: ``$GD_COURSE_ROOT`` or the repository."""
    env = os.environ.get("GD_COURSE_ROOT", "").strip()
    return Path(env).resolve() if env else REPO_ROOT


@dataclass(frozen=True)
class Settings:
    """Everything that differs between one grading run and another."""

    root: Path = field(default_factory=default_root)
    source: Path = DEFAULT_SOURCE
    #: ``None``: SQLite ``gradebook.db`` in the course root.
    db_url: str | None = None
    #: Per-cell execution timeout (s); an interrupted cell scores zero.
    cell_timeout: int = 120
    #: Address-space cap of each student's kernel (MiB); 0 switches it off.
    memory_mb: int = 6144
    #: Characters of output kept per cell (the kernel drops the rest, then the grader).
    max_output_chars: int = 100_000
    #: Lines of stream output kept per cell (nbgrader's LimitOutput).
    max_output_lines: int = 1000
    #: Run every graded kernel in the OS sandbox (autograder/sandbox); ``False`` only by the
    #: instructor's choice (``--no-sandbox``, ``GD_SANDBOX=0``).
    sandbox: bool = True
    #: Draw the notebooks' figures while grading.  Off by default: no test looks at their pixels,
    #: and drawing them was most of a notebook's grading CPU; the figure's cell then shows
    #: matplotlib's text for it (``<Figure size 1100x400 with 2 Axes>``).  ``--figures`` or
    #: ``GD_GRADE_FIGURES=1`` draws them (the feedback then has the pictures).
    figures: bool = False
    #: Sandboxed kernels are forked from a fork server per grading process that imported the
    #: assignment's frameworks once (as root; autograder/sandbox/forkserver.py); ``False``
    #: (``--no-fork-server``, ``GD_FORK=0``) starts each kernel from scratch.
    fork_server: bool = True
    #: Grade cells run in a checker process that no student code ran in, asking the student's
    #: kernel for data only (autograder/checker); ``GD_CHECKER=0`` runs them in the kernel, for comparison.
    checker: bool = True

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        base = cls(
            db_url=os.environ.get("GD_DB_URL") or None,
            cell_timeout=_env_int("GD_CELL_TIMEOUT", 120),
            memory_mb=_env_int("GD_MEMORY_MB", 6144),
            max_output_chars=_env_int("GD_MAX_OUTPUT_CHARS", 100_000),
            sandbox=_env_flag("GD_SANDBOX", True),
            figures=_env_flag("GD_GRADE_FIGURES", False),
            fork_server=_env_flag("GD_FORK", True),
            checker=_env_flag("GD_CHECKER", True),
        )
        overrides = {k: v for k, v in overrides.items() if v is not None}
        for key in ("root", "source"):
            if key in overrides:
                overrides[key] = Path(overrides[key]).resolve()
        return replace(base, **overrides)

    @classmethod
    def from_args(cls, args) -> "Settings":
        """Settings from the command line's common options (``--root``, ``--source``, ...) and the environment."""
        return cls.from_env(root=getattr(args, "root", None), source=getattr(args, "source", None),
                            db_url=getattr(args, "db_url", None),
                            cell_timeout=getattr(args, "timeout", None),
                            memory_mb=getattr(args, "memory_mb", None),
                            sandbox=False if getattr(args, "no_sandbox", False) else None,
                            figures=True if getattr(args, "figures", False) else None,
                            fork_server=False if getattr(args, "no_fork_server", False) else None)

    @property
    def work_dir(self) -> Path:
        return self.root / WORK_DIR_NAME

    @property
    def resolved_db_url(self) -> str:
        return gradebook_url(self.root, self.db_url)

    def to_json(self) -> dict:
        data = asdict(self)
        data["root"], data["source"] = str(self.root), str(self.source)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Settings":
        data = dict(data)
        data["root"], data["source"] = Path(data["root"]), Path(data["source"])
        return cls(**data)


def gradebook_url(root: Path, db_url: str | None = None) -> str:
    """The gradebook's SQLAlchemy URL; SQLite ones get a long busy timeout.

    Several grader processes write the same SQLite file during a parallel
    run.  With the busy timeout a writer waits for the lock instead of failing
    with "database is locked" (pysqlite reads ``timeout`` from the URL).
    """
    url = db_url or f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"
    if url.startswith(("postgresql://", "postgres://")) and not _has_module("psycopg"):
        # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3; psycopg2 is what the test extra installs.
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    if url.startswith("sqlite:") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + f"timeout={SQLITE_BUSY_TIMEOUT_S}"
    return url


def timeout_error(cell_timeout: int) -> dict:
    """The error nbgrader records in a cell stopped by the timeout: say what happened."""
    message = (f"this cell ran for more than {cell_timeout} s and was stopped "
               "(an endless loop, or far too many epochs?)")
    return {
        "ename": "CellTimeoutError",
        "evalue": message,
        "traceback": [f"\x1b[0;31mCellTimeoutError\x1b[0m: {message}"],
    }


@functools.lru_cache(maxsize=1)
def precompile_kernel_code() -> None:
    """Byte-compile the ``course`` package and the in-kernel guard, once per grader process.

    Every student's kernel imports them.  With ``PYTHONDONTWRITEBYTECODE`` set (the sandbox
    sets it, and an editable checkout often has no ``__pycache__``) each kernel compiled
    them from source again: ~70 ms of CPU per student.  The grader writes the ``.pyc``
    files beside the sources (the kernel only reads them: the sandbox shows those folders
    read-only), and Python still checks each against its source's time stamp and size.
    A read-only installation is left as it is.
    """
    import compileall
    import importlib.util

    folders = []
    for name in ("course", "autograder.kernel"):
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:
            continue
        folders += list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        try:
            compileall.compile_dir(folder, quiet=2, force=False)
        except OSError:
            pass


def precompile_environment() -> bool:
    """Byte-compile the Python environment's packages once, for the sandboxed kernels.

    The sandbox shows the environment read-only and sets ``PYTHONDONTWRITEBYTECODE``, so a
    package installed without ``.pyc`` files (uv installs none unless asked) is compiled from
    source by every kernel that imports it: TensorFlow and Keras then cost ~12 core-seconds
    more per kernel.  pip compiles at install time; for uv this runs once per set of installed
    packages (a stamp keyed on their ``*.dist-info`` names), with a lock so that parallel
    graders do it once.  Returns whether it compiled anything; an environment this process
    cannot write is left as it is.
    """
    import compileall
    import fcntl
    import hashlib
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    try:
        infos = sorted(p for p in os.listdir(site) if p.endswith(".dist-info"))
    except OSError:
        return False
    key = hashlib.sha256("\n".join(infos).encode()).hexdigest()[:16]
    stamp = Path(sys.prefix) / f".gd-bytecode-{key}"
    if stamp.exists() or not os.access(site, os.W_OK):
        return False
    with open(Path(sys.prefix) / ".gd-bytecode.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return False
        print(f"gd-autograder: byte-compiling {site} once for the sandboxed kernels "
              "(they see it read-only); about a minute", file=sys.stderr, flush=True)
        compileall.compile_dir(str(site), quiet=2, force=False, workers=0)
        for old in Path(sys.prefix).glob(".gd-bytecode-*"):
            old.unlink(missing_ok=True)
        stamp.touch()
    return True


def course_config(settings: Settings):
    """The traitlets ``Config`` for nbgrader with this course's settings."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, IgnorePattern,
        LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
    from traitlets.config import Config

    from .preprocessors import (
        FindEditedTests, GuardTests, NoteSubmissionProblems, ReadableNotebookExporter, RestoreCellOrder,
        SafeExecute, TidyGuardCells)

    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.root = str(settings.root)
    c.CourseDirectory.source_directory = str(settings.source)
    c.CourseDirectory.db_url = gradebook_url(settings.root, settings.db_url)

    # The execution limits (a cell stopped by the timeout scores zero).
    c.Execute.timeout = settings.cell_timeout
    c.ExecutePreprocessor.timeout = settings.cell_timeout
    c.Execute.error_on_timeout = timeout_error(settings.cell_timeout)
    # Output still streaming when a cell's reply arrives: wait up to 10 s for it, then go on.
    # nbgrader's default raises instead, and on a loaded machine that failed a whole
    # submission for a cell that had finished.  A kernel really stuck after a timeout is
    # still caught (SafeExecute asks it to answer before going on).
    c.Execute.iopub_timeout = 10
    c.Execute.raise_on_iopub_timeout = False
    c.SafeExecute.memory_mb = settings.memory_mb
    c.SafeExecute.max_output_chars = settings.max_output_chars
    # Every output is in when the last cell's reply arrives: stop the kernel at once instead of
    # letting it tear down NumPy, Matplotlib, PyTorch... (a graceful exit cost 0.1-0.3 core-s
    # and 0.35 s per student), and no code of the student's runs after grading (atexit hooks).
    c.SafeExecute.shutdown_kernel = "immediate"
    c.GuardTests.memory_mb = settings.memory_mb
    c.GuardTests.figures = settings.figures
    c.GuardTests.checker = c.SafeExecute.checker = settings.checker
    precompile_kernel_code()
    if settings.sandbox:
        # Every graded kernel starts through the sandbox's provisioner (nbgrader honours
        # the kernel name; it would ignore a kernel manager class).  Only SafeExecute, the
        # autograde step, is pointed at it: a student's Validate runs their usual kernel.
        from .sandbox import KERNEL_NAME, ensure_kernelspec

        ensure_kernelspec()
        c.SafeExecute.kernel_name = KERNEL_NAME
        c.SandboxProvisioner.memory_mb = settings.memory_mb
    c.GuardTests.max_output_chars = settings.max_output_chars
    c.LimitOutput.max_lines = settings.max_output_lines
    c.LimitOutput.max_traceback = 100

    # Sanitising: nbgrader's steps plus ours.  RestoreCellOrder puts deleted or
    # moved graded cells back where the assignment has them (before
    # OverwriteCells, which then restores their source from the gradebook);
    # NoteSubmissionProblems tells the student what was restored and flags
    # uses of course.reference.
    c.OverwriteCells.add_missing_cells = False  # RestoreCellOrder does it, in the right place
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, FindEditedTests, RestoreCellOrder, OverwriteCells,
        NoteSubmissionProblems, CheckCellMetadata,
    ]
    # Grading: GuardTests inserts the hidden set-up and re-arm cells; SafeExecute
    # records a dead or stuck kernel in the notebook instead of failing it.
    c.Autograde.autograde_preprocessors = [
        GuardTests, SafeExecute, TidyGuardCells, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    # A submission that is not a readable notebook is graded as the blank assignment.
    c.Autograde.exporter_class = ReadableNotebookExporter
    # Feedback: nbgrader's own, for students (hidden tests hidden, MathJax inlined, no grader paths).
    from .student_feedback import configure as configure_feedback

    configure_feedback(c)
    return c


def configure(c, root: str | os.PathLike | None = None, **overrides) -> None:
    """Apply the course's settings to ``c`` (the ``get_config()`` of ``nbgrader_config.py``)."""
    if root is not None:
        overrides["root"] = root
    settings = Settings.from_env(**overrides)
    c.merge(course_config(settings))


def write_course_config(settings: Settings) -> Path:
    """Give a course root other than the repository its own ``nbgrader_config.py``.

    The file points at this package and at the source directory, so that
    ``nbgrader autograde`` etc. run from that root use the same settings.  An
    ``nbgrader_config.py`` that this function did not write is left alone.
    """
    root = Path(settings.root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "nbgrader_config.py"
    if root.resolve() == REPO_ROOT:
        return path
    text = (
        f"{CONFIG_FILE_MARKER}\n"
        "import os\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from autograder.config import configure\n"
        "# The course root is the folder this file is in, so a copied or moved course grades itself.\n"
        "configure(get_config(), root=os.path.dirname(os.path.abspath(__file__)), "
        f"source={str(settings.source)!r})\n"
    )
    if path.exists():
        current = path.read_text()
        if not current.startswith(CONFIG_FILE_MARKER) or current == text:
            return path
    path.write_text(text)
    return path
