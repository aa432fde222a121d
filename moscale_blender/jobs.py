"""Backend jobs off Blender's main thread: plain functions the operators and the tests call.

    job = start_generate_job(request, plan)   # a worker thread runs the backend; the model stays cached
    poll_job(job)                             # main thread, from a timer: drains progress / result / error
    takes.apply_result(context, job)          # main thread: retarget and write keys as a new take

Only the main thread touches bpy: the worker gets plain values (prompt, numbers, numpy arrays) and hands back
``moscale.motion.Motion`` objects through a queue. ``Job.run()`` does the same work synchronously (scripts, EXEC).
This module is the add-on's lowest: it imports neither bpy nor the add-on's other modules (the main thread puts
everything a job needs, the CPU-thread preference too, into its request).
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Job states
PENDING, RUNNING, DONE, CANCELLED, FAILED = "PENDING", "RUNNING", "DONE", "CANCELLED", "FAILED"
FINAL_STATES = (DONE, CANCELLED, FAILED)

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, what) -> None
WARNING = "warning: "  # a progress message starting with it is a warning for the user (kept in Job.warnings)
Work = Callable[[ProgressFn, threading.Event], list]  # -> list of Motion


class BackendError(RuntimeError):
    """A backend problem worded for the user (missing model, missing package, old backend)."""


@dataclass(frozen=True)
class GenerateRequest:
    model_folder: str
    device: str           # "auto" | "cuda" | "cpu"
    prompt: str
    seconds: float
    seed: int
    guidance: float
    quality: str          # "fast" | "best" refinement schedule
    num_samples: int = 1
    segments: tuple[tuple[str, float], ...] = ()  # a timeline (prompt, seconds) instead of `prompt`
    foot_lock: bool = True  # pin the feet where the model predicts contact (moscale.motion.feet)
    threads: int = 1  # torch's CPU threads (the preference, read on the main thread: preferences.resolved_threads)
    # Controls beyond words (moscale.pipeline.control), read from the scene on the main thread (controls.py), in the
    # motion's frame: metres, Y up, x and z on the floor
    path: tuple[tuple[float, float], ...] = ()  # (x, z) points the pelvis travels along, first to last
    path_sets_length: bool = False  # with a path: the length follows from it and the prompt's pace (`seconds` unused)
    poses: tuple[tuple[int, np.ndarray], ...] = ()  # (motion frame at 20 fps, (22, 3) joints) the take passes through
    loop: bool = False
    in_place: bool = False
    notes: tuple[str, ...] = ()  # what the controls did that the user should know (a path's splines joined), shown
    # with the job's warnings


@dataclass(frozen=True)
class EditRequest:
    model_folder: str
    device: str
    source_joints: np.ndarray  # (T, 22, 3) metres, Y up, 20 fps
    start_frame: int           # motion frames at 20 fps, end exclusive
    end_frame: int
    prompt: str
    seed: int
    guidance: float
    quality: str
    foot_lock: bool = True
    threads: int = 1


# ----------------------------------------------------------------------------------------------- model cache

_PIPELINES: dict[tuple[str, str], Any] = {}
_CACHE_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()  # one backend call at a time (a cancelled job may still be finishing its pass)
_DEVICES: str | None = None


def _not_installed(error: ImportError) -> BackendError:
    return BackendError(f"The MoScale backend is not installed in Blender's Python ({error}).")


def _import_pipeline():
    try:
        from moscale.pipeline import MoScalePipeline
    except ImportError as error:
        raise _not_installed(error) from error
    return MoScalePipeline


_CHECKS: Any = None  # moscale.pipeline.checks once imported (it imports torch: the panel never waits for that)
_CHECKS_LOADING: list[threading.Thread] = []


def pipeline_checks():
    """``moscale.pipeline.checks``: the value checks the command line and the Python API share."""
    global _CHECKS
    if _CHECKS is None:
        try:
            from moscale.pipeline import checks
        except ImportError as error:
            raise _not_installed(error) from error
        _CHECKS = checks
    return _CHECKS


def load_checks_later() -> threading.Thread | None:
    """Import ``pipeline_checks`` in a background thread, once; None when loaded or already tried."""
    if _CHECKS is not None or _CHECKS_LOADING:
        return None

    def load() -> None:
        try:
            pipeline_checks()
        except BackendError:
            pass  # no PyTorch yet: the panel shows how to install it, and Generate says so

    thread = threading.Thread(target=load, name="moscale-load-checks", daemon=True)
    _CHECKS_LOADING.append(thread)
    thread.start()
    return thread


def text_warnings(prompt: str) -> list[str] | None:
    """What the command line says about ``prompt`` before generating: why it is refused
    (``checks.check_prompt``), else why the model will not follow it (``checks.prompt_warnings``: not English, no
    motion words); None until ``pipeline_checks`` is loaded."""
    checks, prompt = _CHECKS, prompt.strip()
    if checks is None or not prompt:
        return None if checks is None else []
    try:
        return checks.prompt_warnings(checks.check_prompt(prompt, "Prompt"))
    except (TypeError, ValueError) as error:
        return [str(error)]


def get_pipeline(model_folder: str, device: str) -> Any:
    """The loaded pipeline for (folder, device), loading it once per Blender session."""
    key = (str(model_folder), str(device))
    with _CACHE_LOCK:
        if key not in _PIPELINES:
            pipeline_class = _import_pipeline()
            try:
                _PIPELINES[key] = pipeline_class.from_pretrained(model_folder, device=device)
            except (FileNotFoundError, ValueError) as error:
                raise BackendError(f"Cannot load the MoScale model from {model_folder}: {error}") from error
            except RuntimeError as error:  # e.g. CUDA asked for on a machine without it
                raise BackendError(f"Cannot load the MoScale model on device '{device}': {error}") from error
        return _PIPELINES[key]


def clear_model_cache() -> None:
    """Forget the loaded models, and the prompt checks made with them."""
    with _CACHE_LOCK:
        _PIPELINES.clear()
        _PROMPT_CHECKS.clear()


def detect_devices() -> str:
    """What the backend can run on, in words (cached; imports torch once)."""
    global _DEVICES
    if _DEVICES is None:
        try:
            import torch
        except ImportError:
            _DEVICES = "torch is not installed: the backend cannot run"
        else:
            if torch.cuda.is_available():
                _DEVICES = f"CUDA ({torch.cuda.get_device_name(0)}) and CPU"
            else:
                _DEVICES = "CPU only (no CUDA device)"
    return _DEVICES


def check_model_folder(folder: str) -> None:
    """Fail fast, before any thread starts, when the model folder is missing."""
    from pathlib import Path

    path = Path(folder)
    if not path.is_dir():
        raise BackendError(
            f"MoScale model folder not found: {path}. Set 'Model Folder' in Preferences > Add-ons > MoScale "
            "(the bundled default model may not be installed yet).")
    if not (path / "config.json").is_file():
        raise BackendError(f"{path} is not a MoScale model folder (no config.json). "
                           "Set 'Model Folder' in Preferences > Add-ons > MoScale.")


# ----------------------------------------------------------------------------------------------- work


def _backend_progress(progress: ProgressFn) -> Callable[[int, int, str], None]:
    return lambda done, total, what="": progress(done / max(total, 1), str(what))


def _cancelled_type() -> type[BaseException]:
    try:
        from moscale.model.sampling import Cancelled
    except ImportError:
        return _NeverRaised
    return Cancelled


class _NeverRaised(Exception):
    pass


def _use_threads(pipeline, threads: int) -> None:
    import torch

    threads = pipeline_checks().check_threads(threads)  # scripts' requests too: 100000 made torch crash
    if getattr(pipeline, "device", None) is not None and pipeline.device.type == "cpu":
        torch.set_num_threads(threads)


def warn_out_of_reach(pipeline, prompts, progress: ProgressFn) -> None:
    """Before generating: a warning for each prompt far from everything the model was trained on
    (``MoScalePipeline.prompt_warnings``; older backends have none). Never stops the job."""
    warnings = getattr(pipeline, "prompt_warnings", None)
    for warning in warnings(prompts) if callable(warnings) else ():
        progress(0.0, WARNING + warning)


# Prompt checks while the user types (before Generate): prompt -> warning ("" when the prompt is fine), filled by a
# background thread; the panel reads it on redraw.
_PROMPT_CHECKS: dict[str, str] = {}
_CHECKING: set[str] = set()


def prompt_warning(prompt: str) -> str | None:
    """The out-of-reach warning for `prompt` once its background check has finished ("" when fine), else None."""
    return _PROMPT_CHECKS.get(prompt.strip())


def check_prompt_later(model_folder: str, device: str, prompt: str) -> threading.Thread | None:
    """Score `prompt` against the model's training captions in a background thread; `prompt_warning` has the
    result afterwards. Only with the model already loaded (the first Generate of a session loads it, and its job
    checks the prompt itself): typing never starts a model load. None when nothing was started."""
    prompt = prompt.strip()
    with _CACHE_LOCK:
        pipeline = _PIPELINES.get((str(model_folder), str(device)))
    if pipeline is None or not prompt or prompt in _PROMPT_CHECKS or prompt in _CHECKING:
        return None

    def check() -> None:
        try:
            if not _RUN_LOCK.acquire(blocking=False):
                return  # a job holds the backend: its own check reports the prompt
            try:
                report = pipeline.check_prompt(prompt) if callable(getattr(pipeline, "check_prompt", None)) else None
            finally:
                _RUN_LOCK.release()
            _PROMPT_CHECKS[prompt] = (report.warning or "") if report is not None else ""
        except Exception:  # a check never disturbs the user: Generate reports real problems
            _PROMPT_CHECKS.pop(prompt, None)
        finally:
            _CHECKING.discard(prompt)

    _CHECKING.add(prompt)
    thread = threading.Thread(target=check, name="moscale-prompt-check", daemon=True)
    thread.start()
    return thread


def control_options(request: GenerateRequest) -> dict[str, Any]:
    """The request's controls as ``MoScalePipeline.generate`` takes them; none set: nothing (any backend works).
    Contradicting controls are left for the backend to refuse, in its own words."""
    options: dict[str, Any] = {}
    if request.path:
        from moscale.motion.paths import GroundPath

        options["path"] = GroundPath.from_points(request.path)
    if request.poses:
        options["poses"] = {int(frame): np.asarray(joints, dtype=np.float64) for frame, joints in request.poses}
    if request.loop:
        options["loop"] = True
    if request.in_place:
        options["in_place"] = True
    return options


def generate_work(request: GenerateRequest) -> Work:
    def work(progress: ProgressFn, cancel: threading.Event) -> list:
        controls = control_options(request)  # a bad path fails before the model loads
        if request.segments and set(controls) - {"path"}:
            raise BackendError("A timeline takes a path, but not keyed poses, Loop or In Place: switch those off "
                               "for Generate Timeline.")
        for note in request.notes:
            progress(0.0, WARNING + note)
        progress(0.0, "loading model")
        pipeline = get_pipeline(request.model_folder, request.device)
        _use_threads(pipeline, request.threads)
        warn_out_of_reach(pipeline, [prompt for prompt, _ in request.segments] or [request.prompt], progress)
        if request.segments:
            from moscale.pipeline.timeline import Segment

            return [pipeline.timeline(
                [Segment(prompt, seconds) for prompt, seconds in request.segments],
                seed=request.seed, guidance=request.guidance, schedule=request.quality,
                foot_lock=request.foot_lock, progress=_backend_progress(progress), cancel=cancel, **controls)]
        seconds = None if request.path and request.path_sets_length else request.seconds
        result = pipeline.generate(
            request.prompt, seconds=seconds, seed=request.seed, guidance=request.guidance,
            schedule=request.quality, num_samples=request.num_samples, foot_lock=request.foot_lock,
            progress=_backend_progress(progress), cancel=cancel, **controls)
        return list(result) if isinstance(result, (list, tuple)) else [result]

    return work


def edit_work(request: EditRequest) -> Work:
    def work(progress: ProgressFn, cancel: threading.Event) -> list:
        progress(0.0, "loading model")
        pipeline = get_pipeline(request.model_folder, request.device)
        _use_threads(pipeline, request.threads)
        if not callable(getattr(pipeline, "edit", None)):
            raise BackendError("Editing needs a newer MoScale backend: this moscale.pipeline has no edit(). "
                               "Update the backend (or the extension) and try again.")
        warn_out_of_reach(pipeline, [request.prompt], progress)
        from moscale.motion import Motion

        source = Motion(request.source_joints, fps=pipeline.fps)
        result = pipeline.edit(
            source, request.start_frame, request.end_frame, request.prompt, seed=request.seed,
            guidance=request.guidance, schedule=request.quality, foot_lock=request.foot_lock,
            progress=_backend_progress(progress), cancel=cancel)
        return list(result) if isinstance(result, (list, tuple)) else [result]

    return work


# ----------------------------------------------------------------------------------------------- jobs


class Job:
    """One backend call. The worker only pushes events; ``poll_job`` (main thread) turns them into state."""

    def __init__(self, kind: str, work: Work, plan: Any = None):
        self.kind = kind          # "generate" | "edit"
        self.plan = plan          # what apply_result does with the motions (see takes.GeneratePlan / EditPlan)
        self.state = PENDING
        self.progress = 0.0
        self.message = ""
        self.result: list = []
        self.error = ""
        self.warnings: list[str] = []  # shown while the job runs and reported when it ends
        self._work = work
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    # worker side
    def _execute(self) -> None:
        cancelled = _cancelled_type()
        try:
            with _RUN_LOCK:
                if self._cancel.is_set():
                    raise cancelled("cancelled before it started")
                motions = self._work(lambda fraction, what: self._events.put(("progress", fraction, what)),
                                     self._cancel)
        except cancelled:
            self._events.put(("cancelled",))
        except BackendError as error:
            self._events.put(("error", str(error)))
        except Exception as error:  # the backend's own errors (bad prompt, too long, ...) reach the user verbatim
            self._events.put(("error", f"{type(error).__name__}: {error}"))
        else:
            self._events.put(("done", motions))

    def start(self) -> "Job":
        self.state = RUNNING
        self._thread = threading.Thread(target=self._execute, name=f"moscale-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> "Job":
        """Synchronous: do the work in this thread, then poll once."""
        self.state = RUNNING
        self._execute()
        poll_job(self)
        return self

    def cancel(self) -> None:
        """Stop as soon as the backend checks the flag; whatever it still returns is thrown away."""
        self._cancel.set()
        if self.state not in FINAL_STATES:
            self.state = CANCELLED
            self.message = "cancelled"
        _forget(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread ends (tests); True when it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


_ACTIVE: Job | None = None
_LAST_WARNINGS: list[str] = []  # the last finished job's warnings: the panel keeps showing them until the next job


def last_warnings() -> list[str]:
    return list(_LAST_WARNINGS)


def active_job() -> Job | None:
    """The job the panel shows (one at a time)."""
    return _ACTIVE


def _forget(job: Job) -> None:
    global _ACTIVE
    if _ACTIVE is job:
        _ACTIVE = None


def start_job(kind: str, work: Work, plan: Any = None) -> Job:
    global _ACTIVE
    if _ACTIVE is not None and not _ACTIVE.finished:
        raise BackendError("A MoScale job is already running: wait for it or cancel it first.")
    _LAST_WARNINGS.clear()
    _ACTIVE = Job(kind, work, plan).start()
    return _ACTIVE


def start_generate_job(request: GenerateRequest, plan: Any = None) -> Job:
    return start_job("generate", generate_work(request), plan)


def start_edit_job(request: EditRequest, plan: Any = None) -> Job:
    return start_job("edit", edit_work(request), plan)


def poll_job(job: Job) -> str:
    """Drain the worker's events into ``job`` (main thread); returns the state. Events after cancel are dropped."""
    while True:
        try:
            event = job._events.get_nowait()
        except queue.Empty:
            break
        if job.state == CANCELLED:
            continue
        if event[0] == "progress":
            job.progress, job.message = float(event[1]), event[2]
            if job.message.startswith(WARNING):
                job.warnings.append(job.message[len(WARNING):])
        elif event[0] == "done":
            job.state, job.result, job.progress = DONE, event[1], 1.0
        elif event[0] == "cancelled":
            job.state, job.message = CANCELLED, "cancelled"
        elif event[0] == "error":
            job.state, job.error = FAILED, event[1]
    if job.finished:
        _forget(job)
        if job.state == DONE:
            _LAST_WARNINGS[:] = job.warnings
    return job.state


def shutdown() -> None:
    """On unregister: cancel a running job and drop loaded models."""
    if _ACTIVE is not None:
        _ACTIVE.cancel()
    clear_model_cache()
