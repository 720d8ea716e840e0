"""Value types of the JSON API that keep the spelling clients already parse."""

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

# A datetime as `datetime.isoformat()` writes it ("2026-01-02T03:04:05.123456+00:00"): what these answers said
# while they were built as dicts. Pydantic alone would write "Z" for UTC.
IsoDateTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]
