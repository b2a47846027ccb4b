"""The exit-status contract every taskfp run is held to, and a runner that checks it.

Contract (one for every command and every input):
  - exit status 0 (success) or 2 (a user error: usage, input, output path, resources);
    3 ("internal error"), any other status, a signal, a hang (timeout) or an allocation beyond
    the address-space limit are bugs;
  - with status 2, stderr holds exactly one line starting with 'taskfp: error: ', which names
    the offending file, task or option; other stderr lines may only be warnings
    ('taskfp: warning: ') or indented continuation lines;
  - nothing half-written: a failed run leaves no new file (no output, no '*.tmp-<pid>') and
    changes no existing one (an extraction's finished chunks excepted: reruns resume from
    them); a successful one leaves no '*.tmp-*' file and its declared outputs exist;
  - no runaway allocation: every run is under an address-space limit (allocations beyond it
    fail) and its peak resident memory must stay under a limit far above what the small inputs
    need; an allocation failure ('std::bad_alloc') surfacing in a message counts as one.

Each run gets an empty output folder of its own and a working folder whose files are listed
before and after the run.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

ERROR_PREFIX = "taskfp: error: "
WARNING_PREFIX = "taskfp: warning: "
# Wall seconds before a run counts as a hang. A store that makes libhdf5 loop is stopped by the
# store check's CPU limit (5 s of CPU, io/hdf5_check.cpp), which takes two to three times that in
# wall time on a loaded 2-core machine: the margin keeps such runs from being taken for hangs,
# and a real hang still never ends.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ADDRESS_SPACE = 4 << 30  # bytes: allocations beyond it fail
DEFAULT_RSS_LIMIT = 1 << 30      # bytes of peak resident memory: the inputs here are tiny
OUTPUT_CAP = 1 << 20             # bytes of stdout/stderr kept per run


@dataclasses.dataclass
class Run:
    """One taskfp invocation and what the contract asks of it."""

    args: list[str]                 # arguments after the taskfp executable
    out_dir: Path                   # the run's own output folder (created empty before the run)
    outputs: list[Path] = dataclasses.field(default_factory=list)  # must exist after status 0
    names: list[str] = dataclasses.field(default_factory=list)  # an error must name one of them
    allowed: tuple[int, ...] = (0, 2)
    timeout: float = DEFAULT_TIMEOUT_S
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    cwd: Path | None = None         # also the tree watched for files left behind (default: out_dir's parent)
    label: str = ""                 # short name of the command, for reports ("distance", ...)
    resumable_parts: bool = False   # extract: finished chunks in <output>.parts/ may stay after a failure


@dataclasses.dataclass
class Outcome:
    run: Run
    status: int | str               # exit status, 'timeout' or 'signal SIGSEGV'
    stdout: str
    stderr: str
    seconds: float
    violations: list[str]           # empty: the run kept the contract
    reproducer: str
    peak_bytes: int = 0             # peak resident memory

    @property
    def ok(self) -> bool:
        return not self.violations

    def stderr_tail(self, lines: int = 6) -> str:
        return "\n".join(self.stderr.rstrip("\n").split("\n")[-lines:])

    def error_line(self) -> str:
        for line in self.stderr.split("\n"):
            if line.startswith(ERROR_PREFIX) or line.startswith("taskfp: internal error"):
                return line
        return ""


class Runner:
    """Runs taskfp under a wall-clock limit and an address-space limit and checks the contract."""

    def __init__(self, taskfp: str, address_space: int = DEFAULT_ADDRESS_SPACE,
                 timeout_scale: float = 1.0, rss_limit: int = DEFAULT_RSS_LIMIT):
        self.taskfp = str(Path(taskfp).resolve())
        self.address_space = address_space
        self.rss_limit = rss_limit
        self.timeout_scale = timeout_scale
        self.prlimit = shutil.which("prlimit")
        base = os.environ.copy()
        # One thread per run: the harness runs several at once, and results must not depend on
        # the machine's core count.
        base["OMP_NUM_THREADS"] = "1"
        base.pop("SLURM_ARRAY_TASK_ID", None)
        base.pop("SLURM_ARRAY_TASK_COUNT", None)
        self.base_env = base

    def argv(self, run: Run) -> list[str]:
        cmd = [self.taskfp, *run.args]
        if self.prlimit:
            cmd = [self.prlimit, f"--as={self.address_space}", "--core=0", "--", *cmd]
        return cmd

    def reproducer(self, run: Run) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(run.env.items()))
        cwd = run.cwd or run.out_dir.parent
        timeout = max(1, int(round(run.timeout * self.timeout_scale)))
        return (f"cd {shlex.quote(str(cwd))} && rm -rf {shlex.quote(str(run.out_dir))} && "
                f"mkdir -p {shlex.quote(str(run.out_dir))} && OMP_NUM_THREADS=1 {env + ' ' if env else ''}"
                f"prlimit --as={self.address_space} --core=0 -- timeout -s KILL {timeout} "
                f"{shlex.join([self.taskfp, *run.args])}; echo \"exit status $?\"")

    def run(self, run: Run) -> Outcome:
        if run.out_dir.exists():
            shutil.rmtree(run.out_dir)
        run.out_dir.mkdir(parents=True)
        env = dict(self.base_env, **run.env)
        timeout = run.timeout * self.timeout_scale
        root = run.cwd or run.out_dir.parent
        before = snapshot(root)
        start = time.monotonic()
        proc = subprocess.Popen(self.argv(run), cwd=root, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        # Reaped with wait4 for the run's own peak memory; pipes drained by threads (bounded).
        streams = {}

        def drain(name, pipe):
            kept, size = [], 0
            for block in iter(lambda: pipe.read(65536), b""):
                if size < OUTPUT_CAP:
                    kept.append(block)
                    size += len(block)
            streams[name] = b"".join(kept)

        readers = [threading.Thread(target=drain, args=(n, p), daemon=True)
                   for n, p in (("out", proc.stdout), ("err", proc.stderr))]
        for t in readers:
            t.start()
        fired = threading.Event()

        def kill():
            fired.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, wstatus, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        code = os.waitstatus_to_exitcode(wstatus)
        proc.returncode = code
        try:  # anything the run left running in its session
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for t in readers:
            t.join(10)
        status: int | str = code
        if fired.is_set():
            status = "timeout"
        elif code < 0:
            status = f"signal {signal.Signals(-code).name}"
        seconds = time.monotonic() - start
        stdout = streams.get("out", b"").decode("utf-8", "replace")
        stderr = streams.get("err", b"").decode("utf-8", "replace")
        peak = usage.ru_maxrss * 1024
        violations = check(run, status, stderr, before, snapshot(root), root)
        if peak > self.rss_limit:
            violations.append(f"runaway allocation: peak resident memory {peak >> 20} MiB "
                              f"(limit {self.rss_limit >> 20} MiB)")
        return Outcome(run, status, stdout, stderr, seconds, violations, self.reproducer(run), peak)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under root, symlinks not followed."""
    out = {}
    for dirpath, _, files in os.walk(root, followlinks=False):
        for name in files:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


# A task named in quotes: "task 'x' has ...", "2 task(s) missing from ...: 'x' 'y'".
TASK_NAMED = re.compile(r"\btask(?:\(s\)|s)?\b[^'\n]*'[^'\n]")


def _names_in(message: str, names: list[str]) -> bool:
    """Whether an error message names one of the run's inputs (a file, its stem, an option) or
    a task."""
    return any(n and n in message for n in names) or bool(TASK_NAMED.search(message))


TMP = re.compile(r"\.tmp-\d+")


def _allowed_after_failure(run: Run, new: list[str]) -> list[str]:
    """New files that may stay after a failed run: an extraction's finished chunks (and their
    plan), which a rerun resumes from. Everything else is left behind."""
    if not run.resumable_parts:
        return new
    parts = [p for p in new if re.search(r"\.parts/task\d+-\d+\.h5$", p)]
    keep = set(parts)
    if parts:
        keep.update(p for p in new if p.endswith(".parts/plan.txt"))
    return [p for p in new if p not in keep]


def check(run: Run, status: int | str, stderr: str, before: dict, after: dict, root: Path) -> list[str]:
    """The contract's violations for one finished run (empty when it kept the contract)."""
    v: list[str] = []
    lines = stderr.split("\n")  # terminal lines: a stray \r or \x1c inside a message is not a break
    if status == "timeout":
        v.append(f"hang: no exit within {run.timeout:g} s")
    elif isinstance(status, str):
        v.append(f"crash: {status}")
    elif status == 3 or any("internal error" in line for line in lines):
        v.append(f"internal error (status {status})")
    elif status not in run.allowed:
        v.append(f"status {status}, expected {' or '.join(map(str, run.allowed))}")
    if "terminate called" in stderr:
        v.append("uncaught C++ exception (terminate called)")
    if "bad_alloc" in stderr or "cannot allocate memory" in stderr.lower():
        v.append("runaway allocation: an allocation failed (std::bad_alloc reached the message)")

    if status == 2:
        errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
        if len(errors) != 1:
            v.append(f"message: {len(errors)} lines start with '{ERROR_PREFIX.strip()}', expected 1")
        else:
            message = errors[0][len(ERROR_PREFIX):]
            if not message.strip():
                v.append("message: empty error message")
            elif run.names and not _names_in(message, run.names):
                v.append("message: names none of " + ", ".join(repr(n) for n in run.names[:6]))
        stray = [line for line in lines
                 if line.strip() and not line.startswith((ERROR_PREFIX, WARNING_PREFIX, " ", "\t"))]
        if stray:
            v.append(f"message: stray stderr line {stray[0][:120]!r}")

    new = sorted(set(after) - set(before))
    changed = sorted(p for p in before if p in after and after[p] != before[p])
    if status == 0:
        tmp = [p for p in new if TMP.search(p)]
        if tmp:
            v.append(f"temporary file left after success: {tmp[0]}")
        missing = [p for p in run.outputs if not p.exists()]
        if missing:
            v.append(f"status 0 but no output {missing[0].name}")
    elif status != "timeout":  # a killed run cannot clean up
        left = _allowed_after_failure(run, new)
        if left:
            v.append("left behind after failure: " + ", ".join(left[:4]) + (" ..." if len(left) > 4 else ""))
        if changed:
            v.append("changed by a failed run: " + ", ".join(changed[:4]))
    return v


def violation_class(violation: str) -> str:
    """The kind of a violation without its specifics, for grouping reports."""
    return re.split(r"[:(]", violation, maxsplit=1)[0].strip()


def normalize_message(line: str) -> str:
    """An error line with paths, numbers and quoted names blanked, for grouping."""
    s = re.sub(r"'[^']*'", "'…'", line)
    s = re.sub(r"/[\w./+%:-]+", "PATH", s)
    s = re.sub(r"\b\d+\b", "N", s)
    return s[:160]
