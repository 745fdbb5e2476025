"""A dataset's own label file for ``extract --layout dataset --labels FILE``: DFDC's ``metadata.json`` or a CSV.

``metadata.json`` maps file names to ``{"label": "FAKE" or "REAL", "original": ..., "split": ..., ...}``; a CSV
has a header naming a file column (``path``, ``file``, ``filename``, ``name`` or ``video``), a ``label`` column and
optionally ``original`` and ``split`` columns (a first line ``sep=;``, as Excel writes, names its separator).
Labels, whatever their case: ``fake``, ``df`` or ``1`` (fake); ``real`` or ``0`` (real). An entry without a folder
(``aapnvogymq.mp4``) matches the inputs of that file name; one with a folder (``Celeb-real/id0_0000.mp4``) the file
at that path relative to the labels file's folder; an input matched by neither matches the one entry, if only one,
whose name or path differs from its own by letter case alone. :meth:`Labels.assign` gives each input its label, and
the stem its crops are named after: a fake with an ``original`` is named ``<original>_<fake>`` so that ``train``'s
held-out part keeps it with its original (their shared video id token).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from mesocli.errors import UsageError, printable

FAKE = ("fake", "df", "1")
REAL = ("real", "0")
ACCEPTED = "FAKE/REAL, fake/real, df/real or 1/0 (1 = fake)"
PATH_COLUMNS = ("path", "file", "filename", "name", "video")
_CLASSES = {**dict.fromkeys(FAKE, "df"), **dict.fromkeys(REAL, "real")}


@dataclass(frozen=True)
class Entry:
    """One labelled file: as written in the labels file, its class folder, its original, where it is."""

    key: str
    label: str  # df or real
    original: str | None  # the file it was made from, as written (DFDC: "jdubbvfswz.mp4")
    line: int | None = None  # its line in a CSV (the header is line 1); None: in a metadata.json
    split: str | None = None  # the split the file says it belongs to (DFDC: "train"); None: it says none

    @property
    def row(self) -> str:
        """Where it is, for messages: ``row 3`` (CSV) or ``"aapnvogymq.mp4"`` (metadata.json)."""
        return f"row {self.line}" if self.line is not None else json.dumps(self.key)

    @property
    def is_path(self) -> bool:
        """Whether it names a folder too (matched by path relative to the labels file), not a file name alone."""
        return "/" in self.key or os.sep in self.key


@dataclass
class Labels:
    """The entries of a labels file, by file name (entries without a folder) and by real path (with one)."""

    path: Path
    sha256: str
    by_name: dict[str, Entry] = field(default_factory=dict)
    by_path: dict[str, Entry] = field(default_factory=dict)
    _folded: dict[str, list[Entry]] | None = field(default=None, repr=False)  # by case-folded name and real path

    @property
    def name(self) -> str:
        return self.path.name

    def _add(self, entry: Entry, seen: dict[str, Entry]) -> None:
        key = entry.key
        if not key:
            raise UsageError(f"{self.path}: {entry.row}: no file name")
        if entry.is_path:
            table, where = self.by_path, _nfc(os.path.realpath(self.path.parent / key))
        else:
            table, where = self.by_name, key
        if where in table or key in seen:
            first = table.get(where) or seen[key]
            raise UsageError(f"{self.path}: {entry.row}: {printable(key)} is labelled twice (also {first.row}): "
                             "keep one entry per file")
        seen[key] = entry
        table[where] = entry

    def entry_of(self, file: Path) -> Entry | None:
        """The entry of one input (its name as found, its real path); UsageError when both kinds match."""
        by_path = self.by_path.get(_nfc(os.path.realpath(file)))
        by_name = self.by_name.get(_nfc(Path(file).name))
        if by_path is not None and by_name is not None and by_path is not by_name:
            raise UsageError(f"{file} matches two entries of {self.path} ({by_path.row}, {by_name.row}): "
                             "keep one entry per file")
        return by_path or by_name

    def by_case(self, file: Path) -> list[Entry]:
        """The entries whose name (without a folder) or path (with one) is ``file``'s but for letter case."""
        if self._folded is None:
            self._folded = {}
            for table, prefix in ((self.by_name, "name:"), (self.by_path, "path:")):
                for where, entry in table.items():
                    self._folded.setdefault(prefix + where.casefold(), []).append(entry)
        found = [*self._folded.get("name:" + _nfc(Path(file).name).casefold(), []),
                 *self._folded.get("path:" + _nfc(os.path.realpath(file)).casefold(), [])]
        return list({id(entry): entry for entry in found}.values())

    def assign(self, files: list[Path], by_case: list[int] | None = None) -> list[Entry | None]:
        """Each input's entry (None: not in the file). An entry without a folder that matches two inputs (two
        files of that name in different folders) is ambiguous: UsageError naming both.

        An input that matches no entry as written takes the entry that differs from it by letter case alone
        (``Video.MP4`` for ``video.mp4``: a list written on a file system that ignores case) when that match is
        unique both ways: one such entry, matched by no other input. Their numbers are added to ``by_case``."""
        entries = [self.entry_of(file) for file in files]
        taken = {id(entry) for entry in entries if entry is not None}
        claims: dict[int, list[tuple[int, Entry]]] = {}
        for number, (file, entry) in enumerate(zip(files, entries, strict=True)):
            if entry is None and len(found := self.by_case(file)) == 1 and id(found[0]) not in taken:
                claims.setdefault(id(found[0]), []).append((number, found[0]))
        for claim in claims.values():
            if len(claim) == 1:  # two inputs differing by case alone: neither is told from the other
                number, entries[number] = claim[0]
                if by_case is not None:
                    by_case.append(number)
        holder: dict[int, Path] = {}
        for file, entry in zip(files, entries, strict=True):
            if entry is None or entry.is_path:
                continue
            other = holder.setdefault(id(entry), file)
            if other is not file:
                raise UsageError(f"{self.path}: {entry.row}: {printable(entry.key)} matches two inputs, {other} and "
                                 f"{file}: give its path relative to {self.name}'s folder")
        return entries


def _nfc(name: str) -> str:
    """``name`` in Unicode's composed form: macOS writes ``é`` decomposed (NFD) in file names, a spreadsheet or a
    JSON file on Linux or Windows composed (NFC); the same name either way."""
    return unicodedata.normalize("NFC", name)


def _key(written: str) -> str:
    """An entry's file as matched: trimmed, composed (:func:`_nfc`), ``\\`` read as ``/`` (a list written on
    Windows: ``Celeb-real\\id0_0000.mp4``)."""
    return _nfc(written.strip().replace("\\", "/"))


def _label(value: object) -> str:
    """``df`` or ``real``; ValueError saying why not."""
    if type(value) is str:
        text: str | None = value.strip().lower()
    else:  # a number (1, 0) in a metadata.json; not true or false
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if text not in _CLASSES:
        raise ValueError(f"label {printable(repr(value))} is not {ACCEPTED}")
    return _CLASSES[text]


def _split(split: object) -> str | None:
    """The split an entry names (None: none); ValueError saying why not."""
    if split is None or (isinstance(split, str) and not split.strip()):
        return None
    if not isinstance(split, str):
        raise ValueError(f"split {printable(repr(split))} is not a name")
    return split.strip()


def _original(original: object) -> str | None:
    """The file name of an entry's original (None: none; its stem is taken only for the inputs matched); ValueError
    saying why not."""
    if original is None or (isinstance(original, str) and not original.strip()):
        return None
    if not isinstance(original, str):
        raise ValueError(f"original {printable(repr(original))} is not a file name")
    return _key(original)


def read_labels(path: Path) -> Labels:
    """Read and check a labels file (UsageError naming the file and the row of the first problem)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"labels file not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the labels file ({exc.strerror or exc})") from None
    labels = Labels(path, hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text: not a labels file (metadata.json or CSV)") from None
    seen: dict[str, Entry] = {}
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        for entry in _json_entries(text, path):
            labels._add(entry, seen)
    else:
        for entry in _csv_entries(text, path):
            labels._add(entry, seen)
    if not seen:
        raise UsageError(f"{path}: no entries")
    return labels


def _json_entries(text: str, path: Path) -> list[Entry]:
    def pairs(items: list[tuple[str, object]]) -> dict:
        found = dict(items)
        if len(found) < len(items):  # (the whole file is one object: a count per name would be quadratic)
            seen: set[str] = set()
            twice = next(name for name, _ in items if name in seen or seen.add(name))
            raise UsageError(f"{path}: {json.dumps(twice)} is labelled twice: keep one entry per file")
        return found

    try:
        raw = json.loads(text, object_pairs_hook=pairs)
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc}): a metadata.json maps file names to "
                         '{"label": "FAKE" or "REAL", ...}') from None
    if not isinstance(raw, dict):
        raise UsageError(f'{path}: not a metadata.json: it maps file names to {{"label": "FAKE" or "REAL", ...}}')
    entries = []
    for key, value in raw.items():
        if not isinstance(value, dict) or "label" not in value:
            raise UsageError(f'{path}: {json.dumps(key)}: no "label" (FAKE or REAL)')
        try:
            entries.append(Entry(_key(key), _label(value["label"]), _original(value.get("original")),
                                 split=_split(value.get("split"))))
        except ValueError as exc:
            raise UsageError(f"{path}: {json.dumps(key)}: {exc}") from None
    return entries


def _csv_entries(text: str, path: Path) -> list[Entry]:
    first = text.split("\n", 1)[0]  # a spreadsheet set to a European locale saves "file;label" (Excel, LibreOffice)
    declared = first.rstrip("\r").lstrip(" ")  # Excel's "sep=;" line names the separator (and is no header)
    if len(declared) == 7 and declared[0] == declared[6] == '"':  # written as a CSV cell: '"sep=;"'
        declared = declared[1:6]
    if len(declared) == 5 and declared.lower().startswith("sep="):
        delimiter = declared[4]
    else:
        declared = ""
        delimiter = max((",", ";", "\t"), key=first.count)  # (the header's most frequent; a comma on a tie)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if declared:
        next(reader)  # (read, not cut from the text: a row is still the line of the file)
    header = [cell.strip().lower() for cell in next(reader, [])]
    name_column = next((header.index(name) for name in PATH_COLUMNS if name in header), None)
    if name_column is None or "label" not in header:
        raise UsageError(f"{path}: its header ({','.join(header) or 'empty'}) names no "
                         f"{'file column (' + ', '.join(PATH_COLUMNS) + ')' if name_column is None else 'label column'}"
                         + (f", with cells separated by {json.dumps(delimiter)} as its first line "
                            f"{printable(declared)} says" if declared else "")
                         + ": a CSV of labels needs a header such as file,label")
    label_column = header.index("label")
    original_column = header.index("original") if "original" in header else None
    split_column = header.index("split") if "split" in header else None
    entries = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        row = f"row {reader.line_num}"
        if len(cells) <= max(name_column, label_column):
            raise UsageError(f"{path}: {row}: {len(cells)} column{'s' if len(cells) != 1 else ''}, "
                             f"fewer than its header's {len(header)}")
        original = cells[original_column] if original_column is not None and original_column < len(cells) else None
        split = cells[split_column] if split_column is not None and split_column < len(cells) else None
        try:
            entries.append(Entry(_key(cells[name_column]), _label(cells[label_column]), _original(original),
                                 reader.line_num, _split(split)))
        except ValueError as exc:
            raise UsageError(f"{path}: {row}: {exc}") from None
    return entries
