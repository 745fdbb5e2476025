"""CPU cost of planning a ``scan --resume``: 5,000 input paths against a 20,000-row output, nothing to scan.

    .venv/bin/python benchmarks/resume_plan.py [--inputs 5000] [--rows 20000] [--repeats 3]

Tiny files stand for the inputs (their bytes are not what is measured); the output holds a row (with ``file`` and
``sha256``) for every file. Four cases, each the median CPU time (user+sys, this process) of ``--repeats`` calls of
:func:`mesocli.scan_run.plan_scan`, with ``--no-hash`` (size and mtime only) and hashed:

1. ``same``: the inputs spelt as the rows hold them;
2. ``dot``: spelt ``./inbox/…`` where the rows hold ``inbox/…``;
3. ``absolute``: absolute paths where the rows hold relative ones;
4. ``moved``: the rows written from the parent folder (``case/inbox/…``), the inputs named from inside it;
5. ``new``: the inputs spelt as the rows hold them, but 1 in 50 a new file no row holds (a resume that has work).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import tempfile
from pathlib import Path


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from mesocli.scan_run import plan_scan

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "case")
        (root / "inbox").mkdir(parents=True)
        os.chdir(root)
        rows = []
        for n in range(args.rows):
            name = f"inbox/f{n:06d}.jpg"
            data = n.to_bytes(4, "big") * 8
            Path(name).write_bytes(data)
            info = os.stat(name)
            rows.append({"path": name, "status": "ok", "verdict": "real", "sha256": hashlib.sha256(data).hexdigest(),
                         "file": {"size": info.st_size, "mtime_ns": info.st_mtime_ns}})
        names = [row["path"] for row in rows[: args.inputs]]
        for n in range(0, args.inputs, 50):
            Path(f"inbox/new{n:06d}.jpg").write_bytes(b"new" * 11)
        cases = {"same": names, "dot": [f"./{name}" for name in names],
                 "absolute": [str(root / name) for name in names],
                 "new": [f"inbox/new{n:06d}.jpg" if n % 50 == 0 else name for n, name in enumerate(names)]}
        plain = Path(tmp, "rows.jsonl")
        plain.write_text("".join(json.dumps(row) + "\n" for row in rows))
        moved = Path(tmp, "moved.jsonl")
        moved.write_text("".join(json.dumps({**row, "path": "case/" + row["path"]}) + "\n" for row in rows))
        for case, inputs in [*cases.items(), ("moved", names)]:
            output = moved if case == "moved" else plain
            for rehash in (False, True):
                times, held = [], 0
                for _ in range(args.repeats):
                    before = output.read_bytes()
                    statuses: list[str] = []
                    start = cpu()
                    todo, _ = plan_scan(list(inputs), output, statuses, [], True, log=lambda _line: None,
                                        rehash=rehash)
                    times.append(cpu() - start)
                    held = len(statuses)
                    assert output.read_bytes() == before
                print(f"{case:9} {'hashed' if rehash else '--no-hash':10} {statistics.median(times):6.3f} s CPU  "
                      f"{held} of {len(inputs)} held, {len(todo)} to scan", flush=True)


if __name__ == "__main__":
    main()
