"""The compiled module of ingestion's per-record text steps (_native.c), or None where it is not usable.

pip install builds it where a C compiler is at hand. Where it is missing, or was built from an older _native.c
(an editable install not reinstalled after an update), the callers use their pure Python definitions, which give
equal results.
"""

import logging

__all__ = ["VERSION", "compiled"]

# Raised with every change to what _native.c offers; the module reports the number it was built with.
VERSION = 1

log = logging.getLogger(__name__)

try:
    from app.webtext import _native as compiled
except ImportError:  # built without a C compiler
    compiled = None  # type: ignore[assignment]
else:
    if getattr(compiled, "VERSION", None) != VERSION:
        log.warning("app.webtext._native was built from another version of _native.c; run pip install again")
        compiled = None  # type: ignore[assignment]
