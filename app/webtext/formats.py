"""Format detection for uploaded crawl files, and the checks on zip member names.

The records readers yield live in records.py, compressed streams in compression.py; the readers themselves in
web_archives.py (WARC, WET, ARC) and readers.py (JSONL, text, HTML, DocRED, zip, and iter_records, which
dispatches on detect_format).
"""

import io
import json
import re
import zipfile
from pathlib import Path
from typing import IO, Literal

import ijson  # type: ignore[import-untyped]

from app.webtext.compression import DECOMPRESSION_ERRORS, open_decompressed
from app.webtext.records import SNIFF_BYTES, FormatError, LimitExceededError, ReadProgress

Format = Literal["warc", "wet", "arc", "jsonl", "docred", "txt", "html", "zip"]

# Reading the first JSON object of a CCNet file may take more than the sniff sample, but never more than this.
MAX_SNIFF_BYTES = 16 * 1024**2
TEXT_FIELDS = ("raw_content", "text", "content")
DOCRED_FIELDS = frozenset({"title", "sents", "vertexSet"})

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
FOREIGN_MAGICS = (
    (b"%PDF-", "PDF document"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"7z\xbc\xaf", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
    (b"PAR1", "Parquet file"),
    (b"SQLite format 3", "SQLite database"),
)
_COMPRESSION_SUFFIXES = (".gz", ".zst", ".lz4", ".bz2", ".xz")
_DESCRIPTIONS: dict[str, str] = {
    "warc": "a WARC archive",
    "wet": "a WET (WARC text conversion) archive",
    "arc": "an ARC archive",
    "jsonl": "JSON Lines",
    "docred": "a DocRED JSON array",
    "txt": "plain text",
    "html": "an HTML page",
    "zip": "a zip archive",
}
_HTML_MARKER = re.compile(rb"<!doctype\s+html|<html|<head|<body|<meta\s|<title", re.IGNORECASE)
_WARC_TYPE = re.compile(rb"\nWARC-Type:[ \t]*([A-Za-z]+)", re.IGNORECASE)
# C0 controls except tab, LF, FF, CR and ESC, plus DEL: text files have (almost) none, binary files plenty.
_CONTROL_BYTES = bytes([*range(9), 11, *range(14, 27), *range(28, 32), 127])
_MAX_CONTROL_SHARE = 0.01
_WINDOWS_DRIVE = re.compile(r"\A[A-Za-z]:")


def detect_format(path: Path, filename: str) -> Format:
    """Identify the format of path by its content; filename only guards against contradictions."""
    size = path.stat().st_size
    if size == 0:
        raise FormatError(f"{filename} is empty")
    with path.open("rb") as file:
        head = file.read(16)
    if head.startswith(ZIP_MAGICS):
        check_zip_members(path, filename)
        fmt: Format = "zip"
    else:
        fmt = _sniff(path, filename)
    _check_name_agrees(fmt, filename)
    return fmt


def check_zip_members(path: Path, filename: str) -> list[zipfile.ZipInfo]:
    """Return the file members of a zip, rejecting archives with absolute or '..' member names."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"{filename} is not a readable zip archive: {exc}") from exc
    for info in infos:
        if is_unsafe_member_name(info.filename):
            raise FormatError(f"{filename} was rejected: member {info.filename!r} has an absolute or '..' path")
    files = [info for info in infos if not info.is_dir()]
    if not files:
        raise FormatError(f"{filename} is a zip archive without files")
    return files


def is_unsafe_member_name(name: str) -> bool:
    """True for archive member names that could escape an extraction directory."""
    parts = re.split(r"[\\/]", name)
    return (
        not name or "\x00" in name or name.startswith(("/", "\\")) or bool(_WINDOWS_DRIVE.match(name)) or ".." in parts
    )


def _sniff(path: Path, filename: str) -> Format:
    try:
        with open_decompressed(path, progress=ReadProgress(), max_total_bytes=MAX_SNIFF_BYTES) as stream:
            sample, damage = _read_sample(stream)
        if not sample and damage is not None:
            raise FormatError(f"{filename}: compressed data is corrupt or truncated ({damage})")
        if sample.startswith(b"WARC/"):
            return "wet" if _is_wet(sample) else "warc"
        if sample.startswith(b"filedesc://"):
            return "arc"
        text = _strip_bom(sample).lstrip()
        if text[:1] in (b"[", b"{"):
            if damage is not None:
                # A small damaged file fits in the sample: judge what precedes the damage (the reader then keeps
                # those records and reports the damage after them).
                return _sniff_json(io.BytesIO(sample), text, filename)
            with open_decompressed(path, progress=ReadProgress(), max_total_bytes=MAX_SNIFF_BYTES) as stream:
                return _sniff_json(stream, text, filename)
    except LimitExceededError as exc:
        raise FormatError(f"{filename}: the first record is too large to inspect ({exc})") from exc
    except DECOMPRESSION_ERRORS as exc:
        raise FormatError(f"{filename}: compressed data is corrupt or truncated ({exc})") from exc
    if not sample:
        raise FormatError(f"{filename} is empty after decompression")
    if not text:
        raise FormatError(f"{filename} contains only whitespace")
    for magic, description in FOREIGN_MAGICS:
        if sample.startswith(magic):
            raise FormatError(f"{filename} is a {description}, which is not a supported format")
    if looks_binary(sample):
        raise FormatError(f"{filename} holds binary data that is not a supported format")
    if text[:1] == b"<" and _HTML_MARKER.search(text[:4096]):
        return "html"
    return "txt"


def _read_sample(stream: io.BufferedReader) -> tuple[bytes, BaseException | None]:
    """Up to SNIFF_BYTES of the decompressed start, and the damage that ended it early, if any: read step by step,
    as one read() would lose the bytes decoded before a truncated or corrupt stream raises."""
    parts: list[bytes] = []
    size = 0
    while size < SNIFF_BYTES:
        try:
            chunk = stream.read1(SNIFF_BYTES - size)
        except DECOMPRESSION_ERRORS as exc:
            return b"".join(parts), exc
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), None


def _sniff_json(stream: IO[bytes], text: bytes, filename: str) -> Format:
    if text[:1] == b"[":
        keys = _first_array_item_keys(stream, filename)
        if keys >= DOCRED_FIELDS:
            return "docred"
        missing = ", ".join(sorted(DOCRED_FIELDS - keys))
        raise FormatError(f"{filename} is a JSON array, but not DocRED: its first object lacks {missing}")
    newline = text.find(b"\n")
    if newline >= 0:
        try:
            first = json.loads(text[:newline])
        except ValueError as exc:
            raise FormatError(
                f"{filename}: the first line is not a JSON object; expected JSON Lines, one object per line"
            ) from exc
        keys = set(first) if isinstance(first, dict) else set()
        text_keys = {key for key in TEXT_FIELDS if isinstance(first.get(key), str)} if keys else set()
    else:
        keys, text_keys = _first_object_keys(stream, filename)
    if not text_keys:
        fields = "/".join(TEXT_FIELDS)
        raise FormatError(f"{filename}: JSON lines need a string field {fields}; found {sorted(keys)[:10]}")
    return "jsonl"


def _first_array_item_keys(stream: IO[bytes], filename: str) -> set[str]:
    keys: set[str] = set()
    try:
        for prefix, event, value in ijson.parse(stream):
            if prefix == "item" and event == "map_key":
                keys.add(value)
            elif prefix == "item" and event == "end_map":
                return keys
            elif (prefix, event) == ("", "end_array"):
                raise FormatError(f"{filename} is an empty JSON array")
            elif prefix == "item" and event != "start_map":
                raise FormatError(f"{filename} is a JSON array of {event} values, not of objects")
    except ijson.JSONError as exc:
        raise FormatError(f"{filename} is not valid JSON: {_first_line(exc)}") from exc
    raise FormatError(f"{filename} is not valid JSON: it ends inside the first object")


def _first_object_keys(stream: IO[bytes], filename: str) -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    text_keys: set[str] = set()
    try:
        for prefix, event, value in ijson.parse(stream, multiple_values=True):
            if prefix == "" and event == "map_key":
                keys.add(value)
            elif prefix in TEXT_FIELDS and event == "string":
                text_keys.add(prefix)
            elif prefix == "" and event == "end_map":
                break
    except ijson.JSONError as exc:
        raise FormatError(f"{filename} is not valid JSON Lines: {_first_line(exc)}") from exc
    return keys, text_keys


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _is_wet(sample: bytes) -> bool:
    types = {value.lower() for value in _WARC_TYPE.findall(b"\n" + sample)}
    return b"conversion" in types and not types & {b"response", b"resource", b"request", b"revisit"}


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def looks_binary(sample: bytes) -> bool:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 text is full of NULs; judge the decoded text instead.
        sample = sample.decode("utf-16", "replace").encode("utf-8")
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > _MAX_CONTROL_SHARE * len(sample)


def _check_name_agrees(fmt: Format, filename: str) -> None:
    name = filename.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    claims: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
        ((".warc", ".wet", ".arc"), frozenset({"warc", "wet", "arc"})),
        ((".zip",), frozenset({"zip"})),
        ((".json", ".jsonl", ".ndjson"), frozenset({"jsonl", "docred"})),
    )
    for suffixes, allowed in claims:
        if name.endswith(suffixes) and fmt not in allowed:
            raise FormatError(f"{filename} is named like {_describe_suffix(suffixes)}, but holds {_DESCRIPTIONS[fmt]}")


def _describe_suffix(suffixes: tuple[str, ...]) -> str:
    if ".zip" in suffixes:
        return "a zip archive"
    if ".json" in suffixes:
        return "a JSON file"
    return "a web archive (WARC/ARC)"
