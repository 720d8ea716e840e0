"""Main-text extraction in a helper process, so that one record's extraction can be stopped after a time limit.

A parser stuck in C code holds its thread and ignores signals (a SIGALRM handler would run only once it
returns), and a thread cannot be stopped at all; a process can be killed. Each ingesting process (a Celery
prefork child, a solo worker, a test) starts one helper with subprocess, which neither Celery's daemonic pool
processes nor billiard forbid, and sends it one page at a time over a socket pair; a page that outlasts the limit
gets the helper killed (it is started again for the next page). The helper exits when its parent's end of the
socket closes, so it never outlives the process it serves.
"""

import logging
import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

import orjson

from app.webtext.extraction import Extracted, Extractor, extract_main_text

_READY = b"ready"
_STARTUP_SECONDS = 120


class ExtractionStoppedError(Exception):
    """Main-text extraction of one page was stopped: it took longer than the limit, or the parser crashed."""


class _Helper:
    def __init__(self) -> None:
        parent, child = socket.socketpair()
        with child:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, a module of ours, no shell
                [sys.executable, "-m", __name__, str(child.fileno())],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self.connection = Connection(parent.detach())
        # Its start (importing the parsers) is not charged to the first page's time limit.
        try:
            ready = self.connection.poll(_STARTUP_SECONDS) and self.connection.recv_bytes() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close()
            raise RuntimeError(f"the extraction helper did not start within {_STARTUP_SECONDS} s")

    def extract(self, html: str, url: str | None, extractor: Extractor, timeout: float) -> Extracted:
        try:
            self.connection.send_bytes(orjson.dumps([url, extractor]) + b"\n" + html.encode("utf-8", "surrogatepass"))
            if not self.connection.poll(timeout):
                raise ExtractionStoppedError(f"main-text extraction took over {timeout:g} s (limit {timeout:g} s)")
            answer = self.connection.recv_bytes()
        except (EOFError, OSError):
            # A parser that crashes on a hostile page takes the helper down, no longer the worker.
            code = self.process.wait()
            raise ExtractionStoppedError(f"main-text extraction crashed (its process ended with code {code})") from None
        title, _, text = answer.decode("utf-8", "surrogatepass").partition("\x00")
        return Extracted(title=title[1:] if title else None, text=text, extractor=extractor)

    def close(self) -> None:
        self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


_local = threading.local()


def extract_with_time_limit(html: str, *, url: str | None, extractor: Extractor, seconds: float) -> Extracted:
    """extract_main_text in the helper process; raise ExtractionStoppedError past the limit (the helper is killed)
    or when the helper crashed."""
    if extractor not in ("resiliparse", "trafilatura"):
        raise ValueError(f"unknown extractor {extractor!r}")
    if not html.strip():
        return Extracted(title=None, text="", extractor=extractor)
    helper: _Helper | None = getattr(_local, "helper", None)
    if helper is None or helper.process.poll() is not None:
        helper = _local.helper = _Helper()
    try:
        return helper.extract(html, url, extractor, seconds)
    except BaseException:
        # Stopped mid-page (a timeout, a dead helper, an interrupt): the helper's state is unknown; replace it.
        _local.helper = None
        helper.close()
        raise


def _serve(fd: int) -> None:
    connection = Connection(fd)
    connection.send_bytes(_READY)
    while True:
        try:
            request = connection.recv_bytes()
        except (EOFError, OSError):
            return
        header, _, body = request.partition(b"\n")
        url, extractor = orjson.loads(header)
        extracted = extract_main_text(body.decode("utf-8", "surrogatepass"), url=url, extractor=extractor)
        # The title is marked present by a leading "t"; neither it nor the text holds NUL (parsing drops them).
        title = "" if extracted.title is None else "t" + extracted.title
        connection.send_bytes(f"{title}\x00{extracted.text}".encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    # Quiet by default: warnings about hostile pages are logged by extract_main_text, to the inherited stderr.
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "warning").upper())
    _serve(int(sys.argv[1]))
