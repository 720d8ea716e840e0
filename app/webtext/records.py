"""The plain records and errors every reader yields, the counters they update, and the size limits they keep."""

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, overload

RecordKind = Literal["html", "text", "docred"]

MAX_RECORD_BYTES = 20 * 1024**2
MAX_TOTAL_BYTES = 20 * 1024**3
SNIFF_BYTES = 64 * 1024


class FormatError(ValueError):
    """A file that is not (or no longer) readable as a supported crawl format."""


class LimitExceededError(FormatError):
    """Reading stopped because a size limit was reached (e.g. a decompression bomb)."""


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which triples the cost of building
# the one per record that readers make.
@dataclass(slots=True)
class RawRecord:
    """One document as read from the input, before decoding and extraction; readers make it, nothing changes it."""

    kind: RecordKind
    # Where the record starts: the compressed file offset for WARC/ARC (gzip members are addressable),
    # the uncompressed byte offset for line- and JSON-based formats.
    offset: int
    url: str | None = None
    title: str | None = None
    record_id: str | None = None
    crawl_date: datetime | None = None
    # Undecoded body for "html" (decode with extraction.decode_html); None when text is set.
    content_bytes: bytes | None = None
    text: str | None = None
    http_status: int | None = None
    # Full Content-Type, charset included, as the server or file declared it.
    content_type: str | None = None
    language_hint: str | None = None
    docred: dict[str, Any] | None = None
    # Name of the zip member the record came from.
    member: str | None = None


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be read; fatal when reading the file stopped there."""

    offset: int
    message: str
    line: int | None = None
    member: str | None = None
    fatal: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the batch's JSON error list."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(slots=True)
class ReadProgress:
    """Counters a reader updates as it goes; share one across the files of a batch to cap the batch."""

    bytes_read: int = 0
    decompressed_bytes: int = 0


# JSON escapes such as "\ud800" decode to lone surrogates, which no database encoding can store.
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
def storable(text: str | None) -> str | None:
    """The text with lone surrogates replaced by U+FFFD, as undecodable bytes are elsewhere."""
    return _LONE_SURROGATES.sub("\ufffd", text) if text else text
