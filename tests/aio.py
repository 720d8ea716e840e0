"""asyncio.run for tests that may share a process with Playwright."""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API (tests/browser's session-wide `browser`) leaves an
    event loop running in the main thread of its process, where asyncio.run refuses to start, and pytest-xdist
    runs other tests in that process too."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
