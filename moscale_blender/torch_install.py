"""Install PyTorch into the extension's user directory (the light build ships without it).

    folder = torch_folder()                                   # survives extension updates
    job = start_install("CPU")                                # pip in a subprocess; refuses when offline
    poll_install(job)                                         # main thread, from a timer: progress, state
    activate()                                                # put the folder on sys.path (also on register)

Only when Blender allows online access (Preferences > System > Network); otherwise the error says how to get
PyTorch without it (the full, offline build). The job is plain Python the tests drive directly.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import bpy
from bpy.props import EnumProperty

PACKAGE = __package__
BUILD_INFO = Path(__file__).resolve().parent / "build_info.json"  # written by `python build.py extension`
# PyTorch's own wheel indexes: the CPU build everywhere, the CUDA 12.8 build for NVIDIA GPUs (Windows, Linux).
INDEX_URLS = {"CPU": "https://download.pytorch.org/whl/cpu", "CUDA": "https://download.pytorch.org/whl/cu128"}
VARIANT_ITEMS = [("CPU", "CPU", "PyTorch for the processor (about 200 MB download)"),
                 ("CUDA", "CUDA", "PyTorch with CUDA for NVIDIA GPUs (about 3 GB download)")]
_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
_POLL_SECONDS = 0.2

# Job states
RUNNING, DONE, FAILED, CANCELLED = "RUNNING", "DONE", "FAILED", "CANCELLED"


class InstallError(RuntimeError):
    """Why PyTorch cannot be installed, worded for the user."""


def build_info() -> dict:
    """What `build.py extension` recorded: variant, platform, torch version ({} in a source checkout)."""
    try:
        return json.loads(BUILD_INFO.read_text())
    except (OSError, ValueError):
        return {}


def torch_folder() -> Path:
    """The extension's user directory for PyTorch (kept across extension updates)."""
    try:
        return Path(bpy.utils.extension_path_user(PACKAGE, path="torch", create=False))
    except ValueError:  # enabled as a plain add-on from a source checkout, not as an extension
        return Path(bpy.utils.user_resource('EXTENSIONS')) / ".user" / PACKAGE.rpartition(".")[2] / "torch"


def activate() -> None:
    """Make a PyTorch installed earlier importable (after the extension's own wheels)."""
    folder = str(torch_folder())
    if Path(folder).is_dir() and folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()


_TORCH_FOUND = False


def torch_available() -> bool:
    """Whether `import torch` can work (panels call this on every redraw: a found torch is remembered)."""
    global _TORCH_FOUND
    if not _TORCH_FOUND:
        _TORCH_FOUND = "torch" in sys.modules or importlib.util.find_spec("torch") is not None
    return _TORCH_FOUND


def torch_requirement() -> str:
    version = build_info().get("torch")
    return f"torch=={version}" if version else "torch"


def check_online() -> None:
    if not bpy.app.online_access:
        override = " (Blender was started with --offline-mode)" if bpy.app.online_access_override else ""
        raise InstallError(
            f"Online access is off{override}: allow it in Preferences > System > Network > Allow Online Access, "
            "then install PyTorch again; or install the full MoScale extension zip, which includes PyTorch and "
            "works offline.")


def install_command(variant: str, target: Path, python: str | None = None) -> list[str]:
    """pip, run by Blender's own Python, installing the PyTorch build ``variant`` into ``target``."""
    if variant not in INDEX_URLS:
        raise InstallError(f"Unknown PyTorch build {variant!r}; use one of {', '.join(INDEX_URLS)}.")
    return [python or sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade",
            "--only-binary=:all:", "--no-input", "--disable-pip-version-check", "--progress-bar", "raw",
            "--index-url", INDEX_URLS[variant], torch_requirement()]


class InstallJob:
    """One pip run in a subprocess; a reader thread queues its output lines, ``poll_install`` turns them into
    progress (pip's raw progress lines) and a final state."""

    def __init__(self, command: list[str], target: Path):
        self.target = target
        self.state, self.progress, self.message = RUNNING, 0.0, "starting pip"
        self.error = ""
        self.output: list[str] = []
        self.pending: list[list[str]] = []  # commands to run after this one succeeds
        self._lines: queue.Queue = queue.Queue()
        target.mkdir(parents=True, exist_ok=True)
        self.spawn(command)

    def spawn(self, command: list[str]) -> None:
        self.command = command
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         bufsize=1, errors="replace")
        self._reader = threading.Thread(target=self._read, args=(self._process,), name="moscale-install-torch",
                                        daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._lines.put(line.rstrip())
        process.wait()
        self._lines.put(None)  # end of output

    def cancel(self) -> None:
        if self.state == RUNNING:
            self._process.terminate()
            self.state, self.message = CANCELLED, "cancelled"

    def wait(self) -> str:
        """Block until pip is done (scripts, tests); returns the final state."""
        while poll_install(self) == RUNNING:
            self._reader.join(_POLL_SECONDS)
        return self.state


def _describe(line: str) -> str | None:
    """pip's phase lines, shortened for the status bar."""
    line = line.strip()
    if line.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
        return line[:80]
    return None


def poll_install(job: InstallJob) -> str:
    """Drain the job's output (main thread); returns its state."""
    while True:
        try:
            line = job._lines.get_nowait()
        except queue.Empty:
            return job.state
        if line is None:
            if job.state == RUNNING:
                _finish(job)
            return job.state
        job.output.append(line)
        if (match := _PROGRESS.search(line)) and int(match.group(2)) > 0:
            job.progress = min(0.99, int(match.group(1)) / int(match.group(2)))
        elif (text := _describe(line)) is not None:
            job.message = text


def _finish(job: InstallJob) -> None:
    if job._process.returncode == 0 and job.pending:
        job.spawn(job.pending.pop(0))
        return
    if job._process.returncode == 0:
        activate()
        _forget_missing_torch()
        job.state, job.progress, job.message = DONE, 1.0, f"PyTorch installed in {job.target}"
        return
    tail = "\n".join(job.output[-6:])
    if "raw" in tail and "invalid choice" in tail:  # pip older than 24.1 has no raw progress: once more without
        job.spawn([arg for arg in job.command if arg not in ("--progress-bar", "raw")])
        return
    if "No module named pip" in tail and "ensurepip" not in job.command:  # a Python without pip: bootstrap it
        python = job.command[:job.command.index("-m")]
        job.pending = [job.command]
        job.spawn([*python, "-m", "ensurepip", "--upgrade"])
        return
    job.state = FAILED
    job.error = (f"pip failed (exit {job._process.returncode}); is the network reachable? Last lines:\n{tail}")


def _forget_missing_torch() -> None:
    """An earlier failed `import torch` must not stick: drop cached negatives so the backend imports it now."""
    importlib.invalidate_caches()
    from . import jobs

    jobs._DEVICES = None  # the preferences' "Detected:" line is re-measured


def start_install(variant: str, python: str | None = None) -> InstallJob:
    """Start pip; raises InstallError when Blender is offline or the build is unknown."""
    check_online()
    target = torch_folder()
    return InstallJob(install_command(variant, target, python), target)


_ACTIVE: InstallJob | None = None


def active_install() -> InstallJob | None:
    return _ACTIVE


def needs_attention() -> bool:
    """PyTorch is missing, or being installed: the panel shows the install row."""
    return not torch_available() or (_ACTIVE is not None and _ACTIVE.state == RUNNING)


def draw_install(layout, context) -> None:
    """The preferences' PyTorch row: what is installed, and the Install buttons when it is missing."""
    box = layout.box()
    job = _ACTIVE
    if job is not None and job.state == RUNNING:
        box.progress(factor=job.progress, type='BAR', text=f"Installing PyTorch: {job.message}")
        return
    if torch_available():
        box.label(text="PyTorch is installed", icon='CHECKMARK')
        return
    box.label(text="PyTorch is missing: MoScale cannot generate until it is installed", icon='ERROR')
    if not bpy.app.online_access:
        box.label(text="Allow online access (Preferences > System > Network) or use the full MoScale zip",
                  icon='INTERNET_OFFLINE')
    row = box.row(align=True)
    for variant, label, _ in VARIANT_ITEMS:
        row.operator("moscale.install_torch", text=f"Install PyTorch ({label})", icon='IMPORT').variant = variant
    box.label(text=f"Into {torch_folder()}")
    if job is not None and job.state == FAILED:
        box.label(text=job.error.splitlines()[0], icon='CANCEL')


class MOSCALE_OT_install_torch(bpy.types.Operator):
    """Download PyTorch with pip into the extension's user folder (needs online access)"""

    bl_idname = "moscale.install_torch"
    bl_label = "Install PyTorch"
    bl_options = {'REGISTER'}

    variant: EnumProperty(name="Build", items=VARIANT_ITEMS, default="CPU")
    _timer = None

    @classmethod
    def poll(cls, context) -> bool:
        return _ACTIVE is None or _ACTIVE.state != RUNNING

    def _start(self) -> InstallJob | None:
        global _ACTIVE
        try:
            _ACTIVE = start_install(self.variant)
        except (InstallError, OSError) as error:
            self.report({'ERROR'}, str(error))
            return None
        return _ACTIVE

    def execute(self, context) -> set[str]:
        job = self._start()
        return {'CANCELLED'} if job is None else self._finish(job.wait())

    def invoke(self, context, event) -> set[str]:
        if self._start() is None:
            return {'CANCELLED'}
        self._timer = context.window_manager.event_timer_add(_POLL_SECONDS, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event) -> set[str]:
        if event.type == 'ESC' and event.value == 'PRESS':
            _ACTIVE.cancel()
        elif event.type != 'TIMER':
            return {'PASS_THROUGH'}
        state = poll_install(_ACTIVE)
        for area in context.screen.areas if context.screen is not None else ():
            area.tag_redraw()
        if state == RUNNING:
            context.workspace.status_text_set(f"MoScale: installing PyTorch {_ACTIVE.progress:.0%} (Esc to cancel)")
            return {'RUNNING_MODAL'}
        self.cancel(context)
        return self._finish(state)

    def cancel(self, context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def _finish(self, state: str) -> set[str]:
        if state == DONE:
            self.report({'INFO'}, _ACTIVE.message)
            return {'FINISHED'}
        if state == CANCELLED:
            self.report({'WARNING'}, "PyTorch install cancelled")
        else:
            self.report({'ERROR'}, _ACTIVE.error or f"PyTorch install {state.lower()}")
        return {'CANCELLED'}


classes = (MOSCALE_OT_install_torch,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    activate()
    _register_classes()


def unregister() -> None:
    if _ACTIVE is not None:
        _ACTIVE.cancel()
    _unregister_classes()
