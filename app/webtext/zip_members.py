"""Unpacking one zip member for its reader: under the batch's size budget, next to the upload, judged by its
first bytes before the rest is unpacked."""

import zipfile
from pathlib import Path

from app.webtext.compression import compression_of
from app.webtext.formats import FOREIGN_MAGICS, ZIP_MAGICS, looks_binary
from app.webtext.records import LimitExceededError

# Members are copied this many bytes at a time; the first step's bytes decide whether the rest is copied at all.
COPY_CHUNK = 1024 * 1024


def workdir_for(path: Path) -> Path:
    """Where a zip's members are unpacked: beside the zip itself (in the data directory, never the system temp
    directory), under a name of its own, so that a rerun after a crash finds and replaces its leftovers."""
    return path.with_name(f".{path.name}.members")


def head_problem(head: bytes) -> str | None:
    """Why a member that starts with these (still compressed) bytes cannot be read, or None if it may be."""
    if not head:
        return "is empty"
    if compression_of(head) is not None:
        # Judged once decompressed, by its reader; the decompressed bytes count toward the budget there.
        return None
    if head.startswith(ZIP_MAGICS):
        return "nested zip archives are not read"
    for magic, description in FOREIGN_MAGICS:
        if head.startswith(magic):
            return f"is a {description}, which is not a supported format"
    if looks_binary(head[:65536]):
        return "holds binary data that is not a supported format"
    return None


def unpack_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> str | None:
    """Copy a member to target, or stop at its first bytes and return why it cannot be read.

    The member's declared size is charged to the budget up front (zipfile never yields more than it, so the
    charge bounds what is unpacked, readable or not); the copy is counted too, in case of a bug there.
    """
    if info.file_size > budget:
        raise LimitExceededError(
            f"the member's {info.file_size:,} bytes exceed what remains of the batch limit ({max(budget, 0):,} bytes)"
        )
    copied = 0
    with archive.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(COPY_CHUNK):
            if copied == 0 and (problem := head_problem(chunk)) is not None:
                return problem
            copied += len(chunk)
            if copied > budget:
                raise LimitExceededError(f"the member inflates beyond the remaining batch limit of {budget:,} bytes")
            sink.write(chunk)
    return None if copied else head_problem(b"")
