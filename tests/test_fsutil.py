"""fsutil: the mode of files written atomically, and the error for an output below a file."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from mesocli import fsutil
from mesocli.errors import OutputError
from mesocli.fsutil import atomic_path, atomic_write_bytes, atomic_write_text, check_writable


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for the test (and forget fsutil's cached one); restored afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_umask(mask: int) -> None:
        os.umask(mask)
        fsutil._umask.cache_clear()

    yield set_umask
    os.umask(saved)
    fsutil._umask.cache_clear()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _suffix_writer(tmp: Path, data: bytes = b"x", mode: int = 0o666) -> None:
    """A writer that creates the file itself (as Keras does), with ``mode`` before the umask."""
    assert not tmp.exists()
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(handle, data)
    os.close(handle)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask-022", "umask-077", "umask-002"])
def test_a_new_file_gets_the_umask_mode(mask: int, expected: int, tmp_path: Path,
                                        umask: Callable[[int], None]) -> None:
    umask(mask)
    atomic_write_text(tmp_path / "r.csv", "a,b\n")
    atomic_write_bytes(tmp_path / "crop.jpg", b"\xff\xd8")
    with atomic_path(tmp_path / "report.json") as tmp:
        tmp.write_text("{}\n")
    with atomic_path(tmp_path / "run.weights.h5", suffix=".weights.h5") as tmp:
        _suffix_writer(tmp, mode=0o600)  # a writer that creates owner-only still ends with the umask mode
    for name in ("r.csv", "crop.jpg", "report.json", "run.weights.h5"):
        assert _mode(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crop.jpg", "r.csv", "report.json", "run.weights.h5"]


def test_an_existing_target_keeps_its_mode(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o022)
    plain, suffixed = tmp_path / "r.csv", tmp_path / "plot.png"
    for target in (plain, suffixed):
        target.write_text("old\n")
        target.chmod(0o640)
    atomic_write_text(plain, "new\n")
    with atomic_path(suffixed, suffix=".png") as tmp:
        _suffix_writer(tmp, b"new\n")  # created 0o644 under this umask, but replaces a 0o640 file
    for target in (plain, suffixed):
        assert (target.read_text(), _mode(target)) == ("new\n", 0o640)


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert (target.read_text(), _mode(target), list(tmp_path.iterdir())) == ("old\n", 0o640, [target])


@pytest.mark.parametrize(("given", "blocker"), [("notvideo.mp4/res.json", "notvideo.mp4"),
                                                ("notvideo.mp4/a/b/out.json", "notvideo.mp4")])
@pytest.mark.parametrize("check", ["atomic_path", "check_writable"])
def test_an_output_below_a_file_names_the_file(given: str, blocker: str, check: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notvideo.mp4").write_bytes(b"not a video")
    with pytest.raises(OutputError) as caught:
        if check == "check_writable":
            check_writable(Path(given))
        else:
            with atomic_path(Path(given)) as tmp:
                tmp.write_text("{}")
    assert str(caught.value) == f"cannot write {given}: {blocker} is not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["notvideo.mp4"]
    assert Path("notvideo.mp4").read_bytes() == b"not a video"


def test_an_absolute_output_below_a_file_names_it_absolute(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("mine\n")
    target = tmp_path / "file.txt" / "a" / "b" / "out.json"
    expected = f"cannot write {target}: {tmp_path / 'file.txt'} is not a folder"
    with pytest.raises(OutputError) as written:
        atomic_write_text(target, "{}")
    with pytest.raises(OutputError) as checked:
        check_writable(target, folder=True)
    assert str(written.value) == str(checked.value) == expected
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_check_writable_leaves_no_folder_it_made(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    check_writable(tmp_path / "out" / "heatmaps", folder=True)
    check_writable(tmp_path / "new1" / "new2" / "o.json")
    check_writable(tmp_path / "kept" / "o.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and not any((tmp_path / "kept").iterdir())


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path: Path) -> None:
    from mesocli.errors import ParameterError

    target = tmp_path / "same.json"
    with pytest.raises(ParameterError) as caught, atomic_path(target, replace=False) as tmp:
        tmp.write_text("mine")
        target.write_text("theirs")  # another run published meanwhile
    kept = tmp_path / "same-2.json"  # this run's work is not lost
    assert str(caught.value) == (f"{target}: exists (it appeared during the run), so this run's output is in {kept}; "
                                 "pass force to replace the file instead")
    assert target.read_text() == "theirs" and kept.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-2.json", "same.json"]
    with atomic_path(target, replace=True) as tmp:
        tmp.write_text("mine")
    assert target.read_text() == "mine"


def test_a_lock_refusal_names_a_folder_with_braces(tmp_path: Path) -> None:
    from mesocli.errors import UsageError

    lock = tmp_path / "run{x}" / ".lock"
    with fsutil.holding_lock(lock, "held") as fd, pytest.raises(UsageError) as caught:
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # the holder's pid, as extract and train write it
        with fsutil.holding_lock(lock, f"{lock.parent} is in use{{who}}"):  # a second holder (another file handle)
            pass
    assert str(caught.value) == f"{lock.parent} is in use (pid {os.getpid()})"  # it was a KeyError traceback


def test_a_new_file_is_published_without_replace(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "new.json", replace=False) as tmp:
        tmp.write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["new.json"] and (tmp_path / "new.json").read_text() == "{}"


def test_a_name_of_255_bytes_is_written(tmp_path: Path) -> None:
    for name in ("r" * 250 + ".json", "é" * 125 + ".csv"):  # 255 and 254 bytes
        atomic_write_text(tmp_path / name, "x")
        with atomic_path(tmp_path / name, suffix=".csv") as tmp:
            tmp.write_text("y")
        assert (tmp_path / name).read_text() == "y"
    assert len(list(tmp_path.iterdir())) == 2


def test_a_symbolic_link_keeps_its_place_and_its_file_is_written(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    atomic_write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "real.json").read_text() == "new"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to("made.json")
    atomic_write_text(dangling, "made", replace=False)
    assert dangling.is_symlink() and (tmp_path / "made.json").read_text() == "made"


def test_a_stream_is_written_into(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        link = tmp_path / "mystdout"
        link.symlink_to(f"/proc/self/fd/{write}")
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        assert [fsutil.is_stream(p) for p in (link, fifo, "/dev/null", f"/dev/fd/{write}", tmp_path)] == [True] * 4 + [
            False]
        atomic_write_text(link, "through the pipe", replace=False)
        assert link.is_symlink() and os.read(read, 100) == b"through the pipe"
        check_writable(link)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "mystdout"]
    finally:
        os.close(read)
        os.close(write)


def test_an_output_below_a_broken_link_says_so(tmp_path: Path) -> None:
    (tmp_path / "dangl").symlink_to("nowhere")
    with pytest.raises(OutputError) as caught:
        check_writable(tmp_path / "dangl", folder=True)
    assert str(caught.value) == f"cannot write {tmp_path / 'dangl'}: {tmp_path / 'dangl'} is a broken symbolic link"


def test_explain_out_below_a_file_names_the_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mesocli.explain import explain_files

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (8, 8)).save("face.jpg")
    Path("notvideo.mp4").write_bytes(b"not a video")
    with pytest.raises(OutputError) as caught:
        next(explain_files(["face.jpg"], model=None, out_dir=Path("notvideo.mp4/x")))
    assert str(caught.value) == "cannot write notvideo.mp4/x: notvideo.mp4 is not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.jpg", "notvideo.mp4"]


def test_a_signal_that_arrives_while_a_row_is_written_waits_for_the_whole_row() -> None:
    """Ctrl-C in the middle of a row's write ended the scan there: a torn last line (JSON Lines, CSV), or a JSON
    list that the stop could not close, not knowing whether its first row was out. The handler now runs after."""
    import signal

    written: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with fsutil.whole_write():
            written.append("first half")
            os.kill(os.getpid(), signal.SIGINT)
            written.append("second half")
        written.append("after the row")  # never reached: the interrupt comes as the block ends
    assert written == ["first half", "second half"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.fixture
def own_sigterm() -> Iterator[list[int]]:
    """SIGTERM raises RuntimeError (as the CLI's handler raises Terminated) for the test; both handlers restored
    after it. Yields the list of the SIGTERMs that handler ran for."""
    import signal

    ran: list[int] = []

    def terminated(number: int, frame: object) -> None:
        ran.append(number)
        raise RuntimeError("terminated")

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield ran
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_a_signal_that_comes_while_whole_write_sets_its_handlers_leaves_none_of_them_set(
        own_sigterm: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM arriving after whole_write held Ctrl-C but before it held SIGTERM: SIGTERM stops the run as it came,
    and Ctrl-C is no longer held. Ctrl-C was left held for the rest of the process (lost, even in a notebook)."""
    import signal

    real = signal.signal

    def swap(number: int, handler: object) -> object:
        if number == signal.SIGTERM and handler is not signal.getsignal(signal.SIGTERM):
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs now, before the swap
        return real(number, handler)

    monkeypatch.setattr(signal, "signal", swap)
    with pytest.raises(RuntimeError, match="terminated"):
        with fsutil.whole_write():
            pass
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_that_comes_while_whole_write_restores_its_handlers_is_not_lost(
        own_sigterm: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C arriving as whole_write ends, once Ctrl-C's handler is back but not yet SIGTERM's: the interrupt
    comes, and a later SIGTERM still stops the run. SIGTERM was left held by a block long over: every later
    SIGTERM was lost."""
    import signal

    real = signal.signal

    def swap(number: int, handler: object) -> object:
        previous = real(number, handler)
        if number == signal.SIGINT and handler is signal.default_int_handler:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, its own handler back, SIGTERM's not yet
        return previous

    monkeypatch.setattr(signal, "signal", swap)
    with pytest.raises(KeyboardInterrupt):
        with fsutil.whole_write():
            pass
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="terminated"):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # its handler runs at the next instruction: this loop is never done
            pass
    assert own_sigterm == [signal.SIGTERM]


def test_a_second_ctrl_c_stops_a_write_that_waits_for_its_reader() -> None:
    """A row written to a reader that reads no more (``| less`` left open, a stalled log collector) waits in the
    write: the first Ctrl-C waits with it, the second stops the run at once. No Ctrl-C, nor SIGTERM, stopped it:
    each waited for the reader."""
    import signal
    import subprocess
    import sys

    code = ("import os; from mesocli import fsutil\nread, write = os.pipe()\nout = os.fdopen(write, 'w')\n"
            "with fsutil.whole_write():\n    print('writing', flush=True)\n"
            "    out.write('x' * (1 << 20))  # nobody reads it\n    out.flush()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"writing\n"
        for _ in range(300):  # Ctrl-C again and again (a burst may come as one signal): it stops after the second
            child.send_signal(signal.SIGINT)
            try:
                child.wait(0.1)
                break
            except subprocess.TimeoutExpired:
                pass
        stopped = child.poll() is not None
    finally:
        child.kill()
        _, err = child.communicate()
    assert stopped
    assert err.rstrip().endswith(b"KeyboardInterrupt")


def test_a_handler_that_a_second_signal_runs_in_the_block_keeps_what_it_set() -> None:
    """A handler that sets another for the signals that follow, then raises (as the CLI's SIGTERM handler did: it
    heard one SIGTERM only), run by a second signal while a row waits: what it set stays. (Ctrl-C: a SIGTERM that
    soon after the first is the same stop, and waits with it.)"""
    import signal

    def quiet(number: int, frame: object) -> None:
        pass

    def stop(number: int, frame: object) -> None:
        signal.signal(signal.SIGINT, quiet)
        raise RuntimeError("terminated")

    before = signal.signal(signal.SIGINT, stop)
    try:
        with pytest.raises(RuntimeError, match="terminated"):
            with fsutil.whole_write():
                os.kill(os.getpid(), signal.SIGINT)  # waits for the row
                os.kill(os.getpid(), signal.SIGINT)  # the second: now
        assert signal.getsignal(signal.SIGINT) is quiet
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_sigterm_sent_twice_at_once_while_a_row_is_written_is_one_stop() -> None:
    """``timeout``'s SIGTERM (to the process, then to its process group: the process again, at once) while a row is
    written: one stop, after the row, as for one SIGTERM. The second was taken for a user who insists: the row was
    cut short and the run stopped at once."""
    import signal

    from mesocli.cli_base import _sigterm_as_interrupt
    from mesocli.errors import Terminated

    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (as a new process has it: the CLI's handler is set)
    written: list[str] = []
    try:
        with _sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            with pytest.raises(Terminated) as raised:
                with fsutil.whole_write():
                    os.kill(os.getpid(), signal.SIGTERM)
                    os.kill(os.getpid(), signal.SIGTERM)
                    written.append("row")
            assert written == ["row"] and not fsutil.insisted(raised.value)
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("first, then", [("SIGTERM", "SIGHUP"), ("SIGHUP", "SIGTERM")])
def test_sigterm_and_sighup_at_once_while_a_row_is_written_are_one_stop(first: str, then: str) -> None:
    """Found in review: SIGTERM at once followed by SIGHUP (systemd stopping a unit or closing a login session with
    ``SendSIGHUP``) while a row was written was taken for a user who insists: the row was cut short, and the run
    said ``stopped by`` the second signal. Outside a row's write the two were already one stop; inside one they are
    too: the row is written whole, and the run stops on the first, as it would for that one alone."""
    import signal

    from mesocli.cli_base import _sigterm_as_interrupt
    from mesocli.errors import HungUp, Terminated

    numbers = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
    before = {number: signal.signal(number, signal.SIG_DFL) for number in numbers.values()}  # (as a new process)
    written: list[str] = []
    try:
        with _sigterm_as_interrupt():
            with pytest.raises(Terminated) as raised:
                with fsutil.whole_write():
                    os.kill(os.getpid(), numbers[first])
                    os.kill(os.getpid(), numbers[then])
                    written.append("row")
            assert written == ["row"] and not fsutil.insisted(raised.value)
            assert isinstance(raised.value, HungUp) == (first == "SIGHUP")
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
