"""``mesocli extract``: videos and images → landmark-aligned 256×256 face crops, resumable.

:func:`extract` expands the inputs, takes the output folder's lock, skips what its manifest marks
complete, and works through the rest (:func:`mesocli.crops.extract_one`), one input per process at
a time. Crops are written to a temporary name and renamed; only the main process appends to the
manifest, one block per input. Before an input's first crop, the lock file names it
(:class:`mesocli.manifest.Journal`): the crops of an input that a run did not finish (Ctrl-C, a full
disk, ``kill -9``) are deleted by that run, or else by the next, so that every crop is listed.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mesocli import __version__, digest
from mesocli.crops import ExtractOptions, InputResult, Job, extract_one, input_line
from mesocli.errors import (
    InputError,
    ParameterError,
    UsageError,
    check_callback,
    check_flags,
    check_numbers,
    check_path,
    check_paths,
    check_sampling,
    check_texts,
    check_workers,
    printable,
)
from mesocli.fsutil import check_writable
from mesocli.inputs import alias_notes, expand_inputs, hidden_notes, skipped_notes
from mesocli.labels import Labels, read_labels
from mesocli.manifest import (
    COMPLETE,
    MANIFEST,
    MANIFEST_VERSION,
    Appender,
    Journal,
    Manifest,
    foreign_content,
    key_of,
    locked,
    name_key,
    remove_temporaries,
    reserved_names,
    safe_name,
    unique_name,
)
from mesocli.progress import ExtractProgress, note
from mesocli.provenance import UNKNOWN, utc_now, version_text, versions_text
from mesocli.video import FrameSelection
from mesocli.workers import (
    Lost,
    WorkerPool,
    check_spawnable,
    ignore_ctrl_c,
    run_retrying,
    sent_back,
    stop_if_orphaned,
    usable_cores,
    watch_parent,
)

FORMATS = ("table", "json")


@dataclass
class ExtractSummary:
    """A whole run: one result per input, in input order."""

    out_dir: str
    results: list[InputResult]
    seconds: float
    labels: str | None = None  # the labels file (--labels): its inputs not in it are ``unlabelled``

    def counts(self) -> dict[str, int]:
        counts = {"inputs": len(self.results), "ok": 0, "no_face": 0, "error": 0, "skipped": 0}
        if self.labels is not None:
            counts["unlabelled"] = 0
        for result in self.results:
            counts[result.status] += 1
        counts["frames"] = sum(r.frames for r in self.results if r.status != "skipped")
        counts["faces"] = sum(r.faces for r in self.results if r.status != "skipped")
        return counts

    @property
    def exit_code(self) -> int:
        """3 when an input failed (see the manifest for why), else 0."""
        return InputError.exit_code if any(r.status == "error" for r in self.results) else 0

    def to_dict(self) -> dict:
        """The JSON object of ``mesocli extract --format json`` (``to_dict``, as scan and eval results)."""
        return {"out_dir": self.out_dir, "manifest": str(Path(self.out_dir) / MANIFEST), "seconds": self.seconds,
                "counts": self.counts(), "inputs": [asdict(r) for r in self.results]}

    as_dict = to_dict  # its name in 0.1.0


# ---------------------------------------------------------------------------------------------- workers

_WORKER: dict = {}
Record = Callable[[Job, InputResult, list[dict]], None]


@dataclass(frozen=True)
class ExtractStep:
    """What the ``on_progress`` callback of :func:`mesocli.api.extract` receives, in the calling thread (a callback
    that raises stops the run as Ctrl-C does: the input being extracted leaves no crop and no manifest line, those
    done before stay recorded; the exception comes out of ``extract``).

    ``phase``: ``start`` (an input is being read; ``expected``: the frames it reads, None when unknown), ``frame``
    (one more of them was read: ``frames`` so far), ``done`` (its crops and manifest line are written: ``result``;
    ``frames``: ``result.frames``); each input is started, one that fails before it is read too (its ``start``
    then comes just before its ``done``). A video that shows faces only turned is read again turned: it is started once,
    its ``frames`` counted on through the second read and ``expected`` grown by that read's.
    ``index``: its place among the inputs extracted now (0-based), ``total``: their number (inputs the manifest
    marks done, skipped, are not counted). With ``workers`` > 1, only ``done`` is reported."""

    phase: Literal["start", "frame", "done"]
    index: int
    total: int
    path: str
    frames: int = 0
    expected: int | None = None
    result: InputResult | None = None


class CallbackRaised(BaseException):
    """What the caller's ``on_progress`` raised (``error``), carried past the per-input error handling (which would
    make it that input's ``error`` result) as an interruption is; :func:`extract` raises ``error`` itself."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class _Teller:
    """Tells ``callback`` (:class:`ExtractStep`) of the jobs' progress events and results."""

    def __init__(self, callback: Callable[[ExtractStep], object] | None, jobs: list[Job]) -> None:
        self.callback = callback
        self.jobs = {job.number: (place, job.source) for place, job in enumerate(jobs)}
        self.frames: dict[int, tuple[int, int | None]] = {}  # frames decoded so far, expected, by job number

    def report(self, number: int, event: str, value: int) -> None:
        """A job's ``start`` (``value``: frames expected, 0 unknown) or ``frame`` (``value`` more decoded)."""
        if event == "start" and number in self.frames:  # read again, turned (no face upright): one start an input
            done, expected = self.frames[number]
            self.frames[number] = (done, (expected or 0) + value or None)
            return
        if event == "start":
            self.frames[number] = (0, value or None)
        elif event == "frame":
            done, expected = self.frames.get(number, (0, None))
            self.frames[number] = (done + value, expected)
        else:
            return
        self._tell(event, number)  # type: ignore[arg-type]

    def done(self, number: int, result: InputResult, here: bool = False) -> None:
        """A job recorded: its frames, the result's (in a worker, its frame events are not seen here). ``here``: it
        ran in this process, where an input that failed before it was read (not a video) is started now."""
        if here and number not in self.frames:
            self.frames[number] = (0, None)
            self._tell("start", number)
        self.frames[number] = (result.frames, self.frames.get(number, (0, None))[1])
        self._tell("done", number, result)
        self.frames.pop(number, None)

    def _tell(self, phase: Literal["start", "frame", "done"], number: int, result: InputResult | None = None) -> None:
        if self.callback is None:
            return
        place, path = self.jobs[number]
        frames, expected = self.frames.get(number, (0, None))
        try:
            self.callback(ExtractStep(phase, place, len(self.jobs), path, frames, expected, result))
        except Exception as exc:
            raise CallbackRaised(exc) from exc


def _init_worker(events: multiprocessing.Queue | None, parent: int) -> None:
    ignore_ctrl_c()
    _WORKER.update(events=events)
    watch_parent(parent)


def _worker_report(number: int, event: str, value: int) -> None:
    stop_if_orphaned()
    if _WORKER["events"] is not None:
        _WORKER["events"].put((number, event, value))


def _worker_task(job: Job, out_dir: Path, options: ExtractOptions) -> tuple[InputResult, list[dict]]:
    return extract_one(job, out_dir, options, _worker_report)


def default_workers() -> int:
    """All the cores this process may use."""
    return usable_cores()


def _run_jobs(jobs: list[Job], out_dir: Path, options: ExtractOptions, workers: int, record: Record,
              bars: ExtractProgress, discard: Callable[[Job], None] = lambda job: None,
              log: Callable[[str], None] = note, teller: _Teller | None = None) -> None:
    """Extract every job (in this process, or in pools of ``workers`` processes:
    :func:`mesocli.workers.run_retrying`); record each as it finishes.

    A worker process that dies (killed: the OOM killer, kill -9) breaks its pool: the jobs in flight then
    (any may have killed it) are ``discard``-ed (their crops deleted) and extracted again, each alone in a
    pool of its own (``workers`` at once); one whose worker dies again is recorded as failed. The jobs not yet
    started go on in a new pool. When it returns or raises, no worker is left running. ``teller``: told of each
    job's progress (in this process) and of each job recorded."""
    teller = teller or _Teller(None, jobs)
    if workers <= 1 or len(jobs) <= 1:
        def report(number: int, event: str, value: int) -> None:
            bars.report(number, event, value)
            teller.report(number, event, value)

        for job in jobs:
            result, lines = extract_one(job, out_dir, options, report)
            record(job, result, lines)
            bars.done(job.number)
            teller.done(job.number, result, here=True)
        return
    context = multiprocessing.get_context("spawn")
    channel = {"events": context.Queue() if bars.enabled else None}
    stop = threading.Event()

    def relay() -> None:  # progress events from the workers to the bars
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                bars.report(*channel["events"].get(timeout=0.1))

    def make_pool(processes: int) -> ProcessPoolExecutor:
        return WorkerPool(processes, context, _init_worker, (channel["events"], os.getpid()))

    def fresh_events() -> None:  # a worker killed (or stopped) while it held the queue's lock would leave it held
        if bars.enabled:
            channel["events"] = context.Queue()

    def retrying(suspects: list[Job], how: str) -> None:
        fresh_events()
        held = ", ".join(job.source for job in suspects)
        log(f"mesocli: a worker process died ({how}); extracting again, each alone, the {len(suspects)} "
            f"input{'s' if len(suspects) > 1 else ''} it may have held: {held}")
        for job in suspects:
            discard(job)

    relay_thread = threading.Thread(target=relay, daemon=True) if bars.enabled else None
    if relay_thread is not None:
        relay_thread.start()
    try:
        outcomes = run_retrying(jobs, workers, make_pool, lambda job: (_worker_task, (job, out_dir, options)),
                                retrying, fresh_events,
                                lambda how: log(f"mesocli: the worker processes died as they started ({how}); "
                                                "starting them again"))
        def take(job: Job, outcome: Any) -> None:
            if isinstance(outcome, Lost):
                discard(job)
                result = InputResult(job.source, "error", name=job.name,
                                     message=f"{job.source}: the worker process died (killed) while it was "
                                             "extracted, twice")
                outcome = (result, [input_line(job, options, result)])
            record(job, *outcome)
            bars.done(job.number)
            teller.done(job.number, outcome[0])

        with contextlib.closing(outcomes):
            try:
                for job, outcome in outcomes:
                    take(job, outcome)
            except KeyboardInterrupt as halt:  # Ctrl-C, SIGTERM as a result was recorded (or told): the inputs the
                for job, outcome in sent_back(outcomes, halt):  # workers had sent back are recorded too
                    take(job, outcome)
                raise
    finally:
        stop.set()
        if relay_thread is not None:
            relay_thread.join()


# ---------------------------------------------------------------------------------------------- the run


def _refuse_foreign(out_dir: Path, manifest: Manifest, force: bool) -> None:
    """Refuse an OUT_DIR that another tool filled (no manifest of ours) unless ``force``."""
    if not manifest.ours:
        raise UsageError(f"{manifest.path} is not a mesocli manifest: use another OUT_DIR")
    others = [name for name in foreign_content(out_dir) if name != MANIFEST] if out_dir.is_dir() else []
    if manifest.header is None and others and not force:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise UsageError(f"{out_dir} is not empty ({listed}) and holds no mesocli manifest: "
                         "use another OUT_DIR, or --force to write into it")


SOFTWARE = ("mesocli", "mesocli_code", "ffmpeg", "libraries")
"""The header's keys that say which software made the crops (not settings: another version is no refusal)."""


def software() -> dict:
    """This run's :data:`SOFTWARE`: the mesocli version, the ffmpeg that decodes videos (``ffmpeg -version``'s), and
    the versions of the libraries that find, align and write the faces (:func:`mesocli.provenance.library_versions`)."""
    from mesocli.probe import ffmpeg_version
    from mesocli.provenance import code_digest, library_versions

    return {"mesocli": __version__, "mesocli_code": code_digest(), "ffmpeg": ffmpeg_version(),
            "libraries": library_versions()}


def software_change(old: dict, new: dict) -> str | None:
    """What differs between the software a manifest's header records (``old``; a header of an earlier mesocli has
    no ``ffmpeg`` nor ``libraries``) and this run's (``new``, :func:`software`), in words; None when nothing does."""
    was: list[str] = []
    now: list[str] = []

    def differ(name: str, before: object, after: object) -> None:
        was.append(f"{name} {before or '(unknown)'}")
        now.append(f"{name} {after or '(unknown)'}")

    if old.get("mesocli") != new["mesocli"]:
        differ("mesocli", old.get("mesocli"), new["mesocli"])
    if new.get("mesocli_code") and old.get("mesocli_code") != new["mesocli_code"]:  # another build, or not recorded
        differ("mesocli code", old.get("mesocli_code") or "(not recorded)", new["mesocli_code"])
    if "ffmpeg" not in old:
        differ("ffmpeg", "(not recorded)", new["ffmpeg"])
    elif old["ffmpeg"] != new["ffmpeg"]:
        differ("ffmpeg", old["ffmpeg"], new["ffmpeg"])
    libraries = old.get("libraries")
    if not isinstance(libraries, dict):
        was.append("library versions (not recorded)")
        now.append(versions_text(new["libraries"]))
    else:
        for name, version in new["libraries"].items():
            if not _same_version(libraries.get(name), version):
                was.append(version_text(name, libraries[name]) if name in libraries else f"{name} (not recorded)")
                now.append(version_text(name, version))
    return f"its crops so far were made with {', '.join(was)}; this run's with {', '.join(now)}" if was else None


def _same_version(before: object, after: object) -> bool:
    """Whether a header's library version (``before``) is this run's (``after``): equal, or the same version that a
    header of an earlier mesocli recorded bare for a variant that now names itself (``"20.0.1.post1"``, now
    ``"dlib-bin 20.0.1.post1"``)."""
    if before == after:
        return True
    return (isinstance(before, str) and isinstance(after, str) and " " not in before
            and not after.startswith(UNKNOWN) and after.endswith(" " + before))


def _prepare(out_dir: Path, options: ExtractOptions, force: bool, journal: Journal) -> Manifest:
    """Read (and repair) the manifest; refuse an OUT_DIR that is not ours or holds other settings.

    Then delete the unlisted crops of the inputs an earlier run started and did not finish (the
    ``journal``), and, with ``force`` and other settings, the crops the manifest lists. The header it sets is
    this run's; :func:`_keep_software` settles which software it records once the inputs to extract are known."""
    manifest = Manifest.read(out_dir)
    header = {"type": "header", "tool": "mesocli extract", "version": MANIFEST_VERSION, **software(),
              "started_at": utc_now(), "settings": options.settings()}
    _refuse_foreign(out_dir, manifest, force)
    other = manifest.header is not None and (manifest.header.get("settings") != options.settings()
                                             or manifest.header.get("version") != MANIFEST_VERSION)
    if other and not force:
        old, new = manifest.header.get("settings", {}), options.settings()
        if old.get("alignment") != new["alignment"]:  # no option gives the old crops back
            made = f"mesocli {manifest.header.get('mesocli', '?')} with alignment {old.get('alignment') or 'unknown'}"
            raise UsageError(f"{out_dir} holds crops made by {made}, not this mesocli's {new['alignment']}: a resume "
                             "would mix the two; extract into a new OUT_DIR, or --force to start over (deletes the "
                             "crops its manifest lists)")
        changes = [k for k in {**old, **new} if old.get(k) != new.get(k)]
        if changes == ["labels_sha256"] and old.get(k := "labels_sha256") and new.get(k):
            raise UsageError(f"{out_dir} was extracted with another labels file (sha256 {old[k][:12]}, this one's "
                             f"{new[k][:12]}): give the same --labels, use another OUT_DIR, or --force to start over "
                             "(deletes the crops its manifest lists)")
        changed = ", ".join(f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}"
                            for k in changes) or "manifest version"
        raise UsageError(f"{out_dir} was extracted with other settings ({changed}): use another OUT_DIR, "
                         "or --force to start over (deletes the crops its manifest lists)")
    listed = _listed(line for lines in manifest.entries.values() for line in lines)
    _delete_files(out_dir, _crops_of(out_dir, journal.started, journal.since) - listed)
    if other:
        _delete_files(out_dir, listed)
        manifest.entries.clear()
    manifest.earlier = None if other else manifest.header
    manifest.header = header
    return manifest


def _keep_software(manifest: Manifest, extracting: bool, log: Callable[[str], None]) -> dict | None:
    """On a resume, the header's software: with nothing to extract, the earlier header's as it was (the crops are
    all theirs: the manifest is left unchanged); else this run's, the earlier ones kept in ``earlier`` (oldest first)
    when they differ, and ``log`` told so: crops of two ffmpeg or library versions are mixed, not refused.

    With the same software, the header keeps the earlier ``started_at``: when this software's first run began, so
    that ``started_at`` and ``earlier`` date which software made which crops (an input extracted after a
    ``started_at``, and before the next, was made by that software).

    When they differ, the header stays the earlier one until this run's first input is done: the header this
    returns is then written (:func:`extract`), so that a run stopped before that names no software that made no
    crop. None: the header is already the one to keep."""
    old, header = manifest.earlier, manifest.header
    if old is None or header is None:
        return None
    if not extracting:
        manifest.header = old
        return None
    if not manifest.entries:  # no crop is left of the earlier runs (one stopped before its first input was done)
        return None
    change = software_change(old, header)
    if change is None:  # its crops continue the earlier runs': since when this software made them stays as it was
        if old.get("started_at") is not None:
            header["started_at"] = old["started_at"]
        if "earlier" in old:
            header["earlier"] = old["earlier"]
        return None
    earlier = old.get("earlier") if isinstance(old.get("earlier"), list) else []
    header["earlier"] = [*earlier, {key: old.get(key) for key in (*SOFTWARE, "started_at")}]
    log(f"mesocli: {manifest.path}: {change} (the header records both)")
    manifest.header = old
    return header


def _listed(lines: Iterable[dict]) -> set[str]:
    """The crops that manifest lines list (relative to OUT_DIR)."""
    return {line["file"] for line in lines if line.get("type") == "face" and isinstance(line.get("file"), str)}


def _delete_files(out_dir: Path, files: Iterable[str]) -> None:
    """Delete files given relative to OUT_DIR (only those inside it)."""
    root = os.path.realpath(out_dir)
    for file in files:
        path = os.path.realpath(out_dir / file)
        if path.startswith(root + os.sep):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _started(job: Job, options: ExtractOptions) -> dict:
    """What the lock file keeps of an input being extracted: enough to find its crops (:func:`_crops_of`)."""
    return {"name": job.name, "label": job.label or options.label, "split": options.split, "layout": options.layout,
            "all_faces": options.all_faces}


def _crops_of(out_dir: Path, started: Iterable[dict], since: int) -> set[str]:
    """The files named as mesocli names the crops of ``started`` inputs (:func:`_started`), any frame and track.

    Regular files inside OUT_DIR, in an input's own folder (``<name>/``) or named after it in its
    label's folder (``<split>/<label>/<name>_…``), written since the inputs were started (mtime, ns):
    what the run may have written for them, nothing else (not a file of the same name that was there).
    """
    folders: dict[tuple[str, str], set[str]] = {}  # (folder, crop names with the input's name as group 1) -> names
    for line in started:
        name, all_faces = line.get("name"), line.get("all_faces") is True
        if not isinstance(name, str) or safe_name(name) != name:
            continue
        if line.get("layout") == "dataset":  # <name>_<frame>.jpg, <name>_t<track>_<frame>.jpg
            folder = "/".join(part for part in (line.get("split"), line.get("label")) if isinstance(part, str))
            key = (folder, r"(.+)_t\d+_\d+\.jpg" if all_faces else r"(.+)_\d+\.jpg")
        else:  # <name>/<frame>.jpg, <name>/<frame>_<track>.jpg: the folder is the input's alone
            key, name = (name, r"()\d+_\d+\.jpg" if all_faces else r"()\d+\.jpg"), ""
        folders.setdefault(key, set()).add(name)
    root, files = os.path.realpath(out_dir) + os.sep, set()
    for (folder, pattern), names in folders.items():
        if not os.path.realpath(out_dir / folder).startswith(root):
            continue
        with contextlib.suppress(OSError), os.scandir(out_dir / folder) as entries:
            for entry in entries:
                match = re.fullmatch(pattern, entry.name)
                if (match and match[1] in names and entry.is_file(follow_symlinks=False)
                        and entry.stat(follow_symlinks=False).st_mtime_ns >= since):
                    files.add(f"{folder}/{entry.name}")
    return files


def _stat(path: str) -> tuple[int | None, int | None]:
    try:
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns
    except OSError:
        return None, None


def _plan(files: list[tuple[int, Path, str | None, str]], manifest: Manifest, options: ExtractOptions, out_dir: Path,
          workers: int, log: Callable[[str], None], progress: bool = False,
          quiet: bool = False) -> tuple[list[tuple[int, InputResult]], list[Job]]:
    """Split the inputs into those an earlier run completed (skipped) and those to do (jobs, named).

    An input is redone from scratch (its old crops deleted) when it failed last time or its file
    changed since: its size or mtime, or else (when its line has a sha256 and inputs are hashed) its
    bytes (:func:`_changed_bytes`). It keeps the name it had; a new input gets a name no other uses.
    One done whose file is gone, or cannot be read to check it, is an error of this run alone: its crops
    and lines are kept (among the ``skipped``: nothing is done), for the run that finds it again.
    ``files``: (number, file, label, stem): each input's label (``options.label``, or its own with ``--labels``)
    and the stem its name is made of.
    """
    skipped: list[tuple[int, InputResult]] = []
    todo: list[tuple[int, Path, str, tuple]] = []  # (number, file, real path, manifest key)
    done: list[tuple[int, Path, str, tuple]] = []  # complete, with the same size and mtime
    stems = {number: stem for number, _, _, stem in files}
    same_file = _SameFile(manifest)
    for number, file, label, _ in files:
        path = os.path.realpath(file)
        key = key_of({"path": path, "label": label, "split": options.split})
        if key not in manifest.entries and (other := same_file.key(path, key)) is not None:
            key, path = other, other[0]  # a hard link added since: the file keeps its entry (its crops, its name)
        last = manifest.entries[key][-1] if key in manifest.entries else {}
        if manifest.is_complete(key) and (last.get("size"), last.get("mtime_ns")) == _stat(path):
            done.append((number, file, path, key))
        elif manifest.is_complete(key) and not os.path.exists(path):
            why = "broken symbolic link" if os.path.islink(file) else "no such file"
            skipped.append((number, _kept(file, last, why)))
        else:
            todo.append((number, file, path, key))
    changed, unreadable = _changed_bytes([(file, path, manifest.entries[key][-1]) for _, file, path, key in done],
                                         options, workers, log, progress, quiet)
    for number, file, path, key in done:
        last = manifest.entries[key][-1]
        if path in unreadable:
            skipped.append((number, _kept(file, last, unreadable[path])))
            continue
        if path in changed:
            todo.append((number, file, path, key))
            continue
        skipped.append((number, InputResult(
            str(file), "skipped", last.get("kind"), last.get("name"), "", last.get("frames", 0),
            last.get("frames_with_faces", 0), last.get("faces", 0), sha256=_digest(last),
        )))
    redo: list[tuple[int, Path, str, str | None, str | None]] = []
    for number, file, path, key in sorted(todo, key=lambda item: item[0]):
        lines = manifest.entries.pop(key, [])
        if lines:
            _delete_files(out_dir, _listed(lines))
        redo.append((number, file, path, key[1], lines[-1].get("name") if lines else None))
    taken: dict[str | None, set[str]] = {}  # per label folder, the names in use in it

    def taken_in(label: str | None) -> set[str]:
        if label not in taken:
            taken[label] = reserved_names(options.layout) | {
                name_key(lines[-1].get("name") or "") for key, lines in manifest.entries.items()
                if key[1:] == (label, options.split)}
        return taken[label]

    jobs = []
    for number, file, path, label, previous in redo:
        names = taken_in(label if options.layout == "dataset" else options.label)
        if previous and safe_name(previous) == previous and name_key(previous) not in names:
            names.add(name_key(previous))
            name = previous
        else:
            name = unique_name(stems[number], path, names)
        jobs.append(Job(number, str(file), path, name, *_stat(path), label=label if options.labelled else None))
    return skipped, jobs


class _SameFile:
    """A manifest's entries by the (device, inode) their path names now (:func:`mesocli.inputs.inode`), so that an
    input reached under a name no entry has (a hard link to a file extracted, added since: a realpath does not
    follow one) keeps the entry of its file; the entries' paths are looked at once, at the first such input."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.entries: dict[tuple, tuple] | None = None  # (device, inode, label, split) -> an entry's key

    def key(self, path: str, key: tuple) -> tuple | None:
        """The key of the entry, of ``key``'s label and split, whose path names the file ``path`` names, or None."""
        from mesocli.inputs import inode

        if not self.manifest.entries or (identity := inode(path)) is None:
            return None
        if self.entries is None:
            self.entries = {}
            for held in self.manifest.entries:
                if (found := inode(held[0])) is not None:
                    self.entries.setdefault((*found, *held[1:]), held)
        return self.entries.get((*identity, *key[1:]))


def _kept(file: Path, line: dict, why: str) -> InputResult:
    """The result of an input done by an earlier run that this run cannot check (``why``): its crops are kept."""
    return InputResult(str(file), "error", line.get("kind"), line.get("name"),
                       f"{file}: {why}; its crops of an earlier run are kept")


def _changed_bytes(done: list[tuple[Path, str, dict]], options: ExtractOptions, workers: int,
                   log: Callable[[str], None], progress: bool = False,
                   quiet: bool = False) -> tuple[set[str], dict[str, str]]:
    """The paths of the inputs done whose bytes are no longer those their line's sha256 names (a file replaced
    with the same size and mtime: ``cp -p``, ``rsync -t``), each noted to ``log``; and those that cannot be read
    to tell, with why. Inputs are hashed again (``workers`` at a time, :func:`mesocli.digest.recheck`: a line
    first when that is much, unless ``quiet``; a byte counter with ``progress``) unless ``--no-hash``; a line
    without a sha256 is not checked."""
    checked = [(file, path, _digest(line)) for file, path, line in done if _digest(line) is not None]
    if not options.hash_inputs or not checked:
        return set(), {}
    digests = digest.recheck([path for _, path, _ in checked], workers, done="extracted",
                             bar=progress, log=None if quiet else log)
    changed, unreadable = set(), {}
    for (file, path, old), (new, why) in zip(checked, digests, strict=True):
        if new is None:
            unreadable[path] = why or "cannot read it"
        elif new != old:
            changed.add(path)
            log(f"mesocli: {file}: its bytes changed since it was extracted, though not its size and mtime "
                f"(sha256 {old[:12]} -> {new[:12]}); extracting it again")
    return changed, unreadable


def _digest(line: dict) -> str | None:
    """An input line's sha256; None when it has none (a failed input, ``--no-hash``, an earlier mesocli)."""
    value = line.get("sha256")
    return value if isinstance(value, str) else None


class SameBytes:
    """Notes an input whose bytes are those of another input extracted under another path (a renamed or moved
    file, a copy): it is extracted again all the same, since inputs are known by path (the same bytes may be
    listed under two names on purpose), but the dataset now holds them twice, which a user should know.

    Inputs are taken in input order whatever the order they finish in (``--workers``): each as soon as those
    before it are done, the rest when the run ends (:meth:`close`). So the notes are those of a run with one
    worker: each later copy names the first."""

    def __init__(self, manifest: Manifest, log: Callable[[str], None], numbers: Iterable[int] = ()) -> None:
        self.log = log
        self.paths: dict[str, str] = {}  # sha256 -> the path first extracted with those bytes
        for lines in manifest.entries.values():
            if lines[-1].get("status") in COMPLETE:
                self._add(_digest(lines[-1]), lines[-1].get("path"))
        self.waiting = sorted(numbers)  # the inputs of this run not yet checked, in input order
        self.finished: dict[int, tuple[Job, InputResult]] = {}

    def _add(self, sha256: str | None, path: object) -> str | None:
        """The path already known for ``sha256`` (``path`` becomes it when none is)."""
        if sha256 is None or not isinstance(path, str):
            return None
        return self.paths.setdefault(sha256, path)

    def done(self, job: Job, result: InputResult) -> None:
        """``job`` finished: check it, and those after it that finished first, once those before it are done."""
        self.finished[job.number] = (job, result)
        while self.waiting and self.waiting[0] in self.finished:
            self.check(*self.finished.pop(self.waiting.pop(0)))

    def close(self) -> None:
        """The run ended (or stopped): check the inputs that finished, in input order."""
        for number in sorted(self.finished):
            self.check(*self.finished.pop(number))
        self.waiting.clear()

    def check(self, job: Job, result: InputResult) -> None:
        """Note ``job`` when its bytes are another path's; remember them otherwise."""
        if result.status not in COMPLETE or result.sha256 is None:
            return
        old = self._add(result.sha256, job.path)
        if old is not None and old != job.path:
            self.log(f"mesocli: {job.source}: same bytes as {old}, already extracted (sha256 {result.sha256[:12]}); "
                     "extracting it again")


def _refuse_inside(inputs: list[Path], out_dir: Path) -> None:
    """Refuse an input that is OUT_DIR or lies inside it: the output of ``extract`` is never its input."""
    root = os.path.realpath(out_dir)
    for path in inputs:
        real = os.path.realpath(path)
        if real == root or real.startswith(root + os.sep):
            where = "is OUT_DIR" if real == root else f"is inside OUT_DIR {out_dir}"
            fix = "" if real == root else "move it out, or "
            raise UsageError(f"{path} {where}, whose files are never inputs: {fix}use another OUT_DIR")


def _discard(out_dir: Path, job: Job, options: ExtractOptions, since: int) -> None:
    """Delete what a worker killed on ``job`` may have left (no worker is running now): its crops, and the
    temporary files in its folder (a crop it was writing; the next run would delete them, but this one may end
    well)."""
    _delete_files(out_dir, _crops_of(out_dir, [_started(job, options)], since))
    folder = out_dir / Path(options.face_file(job.name, 0, 0, job.label)).parent
    if os.path.realpath(folder).startswith(os.path.realpath(out_dir) + os.sep):
        remove_temporaries(folder)


def _finish(out_dir: Path, journal: Journal, unfinished: list[dict]) -> None:
    """Delete the crops of the inputs this run did not finish (interrupted, failed, their worker killed),
    then clear the lock file's list: every crop left is listed in the manifest."""
    _delete_files(out_dir, _crops_of(out_dir, unfinished, journal.since))
    journal.record([])


def extract(
    inputs: list[Path], out_dir: Path, options: ExtractOptions, *, workers: int | None = None,
    force: bool = False, progress: bool = False, quiet: bool = False, log: Callable[[str], None] = note,
    labels: Labels | None = None, on_progress: Callable[[ExtractStep], object] | None = None,
) -> ExtractSummary:
    """Extract the faces of ``inputs`` (videos, images, folders) into ``out_dir``; see the module doc.
    Hidden files skipped inside folders, and inputs with the bytes of another (:class:`SameBytes`), are
    noted to ``log``; so is a long check of the inputs done (their sha256 read again), unless ``quiet``.
    ``labels`` (``options.labels`` its sha256): each input's label; those not in it are ``unlabelled``
    (:func:`_labelled`). ``on_progress``: see :class:`ExtractStep`."""
    try:
        return _extract(inputs, out_dir, options, workers=workers, force=force, progress=progress, quiet=quiet,
                        log=log, labels=labels, on_progress=on_progress)
    except CallbackRaised as raised:  # (its input's crops were deleted, as an interrupted input's are)
        error = raised.error
    raise error  # outside the handler: with the cause and context the callback gave it, not this carrier


def _extract(
    inputs: list[Path], out_dir: Path, options: ExtractOptions, *, workers: int | None, force: bool, progress: bool,
    quiet: bool, log: Callable[[str], None], labels: Labels | None, on_progress: Callable[[ExtractStep], object] | None,
) -> ExtractSummary:
    """:func:`extract`'s work; the caller's ``on_progress`` errors come out as :class:`CallbackRaised`."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ParameterError("{workers} must be at least 1, not {value}", value=workers)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    _refuse_inside(inputs, out_dir)
    inside = os.path.realpath(out_dir) + os.sep  # never take our own crops as inputs (a parent folder is scanned)

    def outside(path: Path) -> bool:
        return not os.path.realpath(path).startswith(inside)

    hidden: dict[str, list[Path]] = {}
    skipped: dict[str, list[Path]] = {}
    aliases: list[tuple[str, str]] = []  # a file reached again (a link, another spelling): extracted once, noted
    found = expand_inputs(inputs, missing_ok=True, media_only=True, hidden=hidden, skipped=skipped, aliases=aliases)
    for line in hidden_notes({folder: list(filter(outside, entries)) for folder, entries in hidden.items()}):
        log(f"mesocli: {line}")
    files = list(filter(outside, found))
    if not files:
        raise UsageError("no video or image among the inputs"
                         + (f" (the files inside OUT_DIR {out_dir} are its output, never inputs)" if found else ""))
    own = os.path.realpath(labels.path) if labels is not None else None  # the labels file is no input: no note

    def other(path: Path) -> bool:
        return outside(path) and os.path.realpath(path) != own

    named: dict[str, tuple[str, str]] = {}  # each name once (a link inside a folder given and inside its parent)
    for alias, kept in aliases:
        if outside(Path(alias)) and outside(Path(kept)):
            named.setdefault(os.path.normpath(alias), (alias, kept))
    for line in (skipped_notes({folder: list(filter(other, entries)) for folder, entries in skipped.items()})
                 + alias_notes(list(named.values()), command="extract")):
        log(f"mesocli: {line}")  # after the refusal above: an error stays one line
    notes: list[str] = []
    items, unlabelled = _labelled(files, options, labels, notes.append)
    if workers > 1 and len(items) > 1:  # before the folder is touched
        check_spawnable(min(workers, len(items)))
    _refuse_foreign(out_dir, Manifest.read(out_dir), force)  # before leaving a lock file in someone's folder
    check_writable(out_dir, folder=True)
    done: dict[int, InputResult] = {}
    with locked(out_dir) as journal:
        remove_temporaries(out_dir)
        manifest = _prepare(out_dir, options, force, journal)
        for line in notes:  # once the run is not refused: an error stays one line
            log(line)
        for key in [key for key, lines in manifest.entries.items() if lines[-1].get("status") == UNLABELLED]:
            del manifest.entries[key]  # listed again below, as this run finds them
        skipped, jobs = _plan(items, manifest, options, out_dir, workers, log, progress, quiet)
        switch = _keep_software(manifest, bool(jobs), log)
        same_bytes = SameBytes(manifest, log, [job.number for job in jobs])
        manifest.save()  # the header, minus what is redone now, minus a torn last line
        journal.record([_started(job, options) for job in jobs])  # before their first crop
        appender = Appender(manifest.path)
        if unlabelled:  # (not software-made: a header switch waits for the first input done)
            appender.write([line for _, _, line in unlabelled])

        def record(job: Job, result: InputResult, lines: list[dict]) -> None:
            nonlocal appender, switch
            if switch is not None:  # this run's first input done: the header names this run's software now
                appender.close()  # (before the file is replaced: Windows replaces no open file)
                manifest.header, switch = switch, None
                manifest.save()  # nothing appended yet: the file is the manifest's text, with the new header
                appender = Appender(manifest.path)
            appender.write(lines)
            done[job.number] = result
            same_bytes.done(job, result)

        try:
            with ExtractProgress(progress, jobs) as bars:
                _run_jobs(jobs, out_dir, options, workers, record, bars, log=log,
                          discard=lambda job: _discard(out_dir, job, options, journal.since),
                          teller=_Teller(on_progress, jobs))
        finally:
            appender.close()
            same_bytes.close()
            _finish(out_dir, journal, [_started(job, options) for job in jobs
                                       if job.number not in done or done[job.number].status == "error"])
    results = sorted([*skipped, *done.items(), *((n, r) for n, r, _ in unlabelled)], key=lambda item: item[0])
    return ExtractSummary(str(out_dir), [r for _, r in results], round(time.perf_counter() - started, 3),
                          None if labels is None else str(labels.path))


UNLABELLED = "unlabelled"
"""The status of an input not in the labels file (``--labels``): not extracted, listed in the manifest and summary."""


def _labelled(files: list[Path], options: ExtractOptions, labels: Labels | None, log: Callable[[str], None],
              ) -> tuple[list[tuple[int, Path, str | None, str]], list[tuple[int, InputResult, dict]]]:
    """The inputs to extract as (number, file, label, stem) (:func:`_plan`), and those not in ``labels``, each with
    its result and manifest line (noted to ``log``: none is dropped silently). With ``labels``, a fake whose entry
    names its ``original`` is named ``<original>_<stem>`` unless its own name already carries its original's
    people (:func:`mesocli.datasets.identities`: ``033_097``, ``id0_id16_0003``): ``train`` then holds it out with
    its original. UsageError when no input is in ``labels`` (the wrong labels file)."""
    if labels is None:
        return [(number, file, options.label, file.stem) for number, file in enumerate(files)], []
    from mesocli.datasets import identities

    items, unlabelled, by_case, cased, elsewhere = [], [], [], [], []
    assigned = labels.assign(files, by_case)
    by_case_only = set(by_case)
    for number, (file, entry) in enumerate(zip(files, assigned, strict=True)):
        if entry is None:
            path = os.path.realpath(file)
            message = f"{file}: not in {labels.name}"
            if near := labels.by_case(file):  # by letter case alone, but not uniquely: said, not guessed
                message += (" (by letter case alone it matches " + ", ".join(e.row for e in near)
                            + (", which another input matches too" if len(near) == 1 else "") + ")")
            line = {"type": "input", "source": str(file), "name": None, "label": None, "split": options.split,
                    "path": path, "kind": None, "status": UNLABELLED, "message": message,
                    "size": _stat(path)[0], "mtime_ns": _stat(path)[1]}
            unlabelled.append((number, InputResult(str(file), UNLABELLED, message=message), line))
            continue
        if number in by_case_only:
            cased.append(f"{file} ({json.dumps(entry.key, ensure_ascii=False)})")
        if entry.split is not None and options.split is not None and entry.split != options.split:
            elsewhere.append((file, entry.split))
        stem, original = file.stem, Path(entry.original or "").stem
        if original and entry.label == "df":
            own, theirs = (set(identities(Path(f"{name}_0.jpg"))) for name in (stem, original))
            if not theirs <= own:
                stem = f"{original}_{stem}"
        items.append((number, file, entry.label, stem))
    if not items:
        raise UsageError(f"none of the {len(files)} inputs is in {labels.path}: an entry names a file (matched by "
                         "name) or a path relative to the labels file's folder")
    if cased:  # (a unique match: an input that two entries, or two inputs that one entry, match so is unlabelled)
        log(f"mesocli: {len(cased)} input{'s' if len(cased) > 1 else ''} matched {labels.name} only with letter case "
            f"ignored (a single entry each): {', '.join(cased[:3])}{', ...' if len(cased) > 3 else ''}")
    for split in sorted({split for _, split in elsewhere}):
        listed = [str(file) for file, theirs in elsewhere if theirs == split]
        log(f"mesocli: {len(listed)} input{'s are' if len(listed) > 1 else ' is'} in split {json.dumps(split)} of "
            f"{labels.name}, extracted to --split {options.split}: {', '.join(listed[:3])}"
            f"{', ...' if len(listed) > 3 else ''}")
    if unlabelled:
        named = ", ".join(str(files[number]) for number, _, _ in unlabelled[:3])
        more = ", ..." if len(unlabelled) > 3 else ""
        log(f"mesocli: {len(unlabelled)} input{'s are' if len(unlabelled) > 1 else ' is'} not in {labels.name}, "
            f"not extracted (listed as {UNLABELLED}): {named}{more}")
    return items, unlabelled


# ---------------------------------------------------------------------------------------------- summary


def extract_inputs(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    frames: int | None = None,
    fps: float | None = None,
    every: int | None = None,
    all_frames: bool = False,
    detector: str = "hog",
    all_faces: bool = False,
    layout: str = "video",
    label: str | None = None,
    split: str | None = None,
    quality: int = 95,
    workers: int | None = 1,
    force: bool = False,
    progress: bool = False,
    hash_inputs: bool = True,
    quiet: bool = False,
    labels: str | os.PathLike[str] | None = None,
    on_progress: Callable[[ExtractStep], object] | None = None,
) -> ExtractSummary:
    """:func:`mesocli.api.extract` (see there): every argument checked, then :func:`extract`. Imports neither the
    scan nor the evaluate modules, so ``mesocli extract`` starts without them."""
    check_callback("on_progress", on_progress, "an ExtractStep")
    (quality,) = check_numbers(quality=(quality, int))
    force, progress, hash_inputs, quiet = check_flags(force=force, progress=progress, hash_inputs=hash_inputs,
                                                       quiet=quiet)
    check_texts(label=label, split=split)
    check_path("out_dir", out_dir)
    selection, detector, all_faces = _sampling(frames, fps, every, all_frames, detector, all_faces)
    if labels is not None:
        check_path("labels", labels)
    table = None if labels is None or layout != "dataset" else read_labels(Path(labels))
    options = ExtractOptions(selection, detector, all_faces, layout, label, split, quality, hash_inputs,
                             table.sha256 if table is not None else None if labels is None else "")
    return extract([Path(item) for item in check_paths(inputs)], Path(out_dir), options,
                   workers=check_workers(workers), force=force, progress=progress, quiet=quiet, labels=table,
                   on_progress=on_progress)


def _sampling(frames: int | None = None, fps: float | None = None, every: int | None = None, all_frames: bool = False,
              detector: str = "hog", all_faces: bool = False) -> tuple[FrameSelection, str, bool]:
    """:func:`extract_inputs`'s sampling keywords as a FrameSelection, the detector, and all_faces."""
    frames, fps, every = check_sampling(frames, fps, every)
    all_frames, all_faces = check_flags(all_frames=all_frames, all_faces=all_faces)
    return FrameSelection.from_options(frames, fps, every, all_frames), detector, all_faces


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ParameterError("{fmt} must be one of {choices}, not {value!r}", choices=", ".join(FORMATS), value=fmt)


def _count(number: int, noun: str) -> str:
    """``1 face``, ``2 faces``, ``0 new frames``."""
    return f"{number}{noun}" + ("" if number == 1 else "s")

def format_summary(summary: ExtractSummary, fmt: str = "table") -> str:
    """The end-of-run summary: a plain-text table (one row per input, then totals) or JSON; a row's status is the
    JSON's (``no face`` for ``no_face``), and the totals count the rows of each status."""
    check_format(fmt)
    if fmt == "json":
        return json.dumps(summary.to_dict(), indent=2) + "\n"
    rows = [("status", "faces", "frames", "name", "input")]
    for r in summary.results:
        frames = f"{r.frames_with_faces}/{r.frames}" if r.frames else "-"  # with a face / sampled
        rows.append((r.status.replace("_", " "), str(r.faces), frames, printable(r.name or "-"),
                     printable(r.message or r.source)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
             for row in rows]
    c = summary.counts()
    inputs = f"{c['inputs']} input" + ("" if c["inputs"] == 1 else "s")
    new = " new" if c["skipped"] else ""  # the totals count this run's work: not the inputs already done
    faces, frames = _count(c["faces"], new + " face"), _count(c["frames"], new + " frame")
    # each count named as its rows' status (and the JSON's, ``_`` a space), as scan's table does
    lines.append(f"{inputs}: {c['ok']} ok, {c['no_face']} no face, {c['error']} error, "
                 f"{c['skipped']} skipped (already done)"
                 + (f", {c['unlabelled']} unlabelled (not in {Path(summary.labels).name})" if summary.labels else "")
                 + f"; {faces} from {frames} "
                 f"in {summary.seconds:.1f} s -> {Path(summary.out_dir) / MANIFEST}")
    return "\n".join(lines) + "\n"
