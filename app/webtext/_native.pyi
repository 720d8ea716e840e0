import numpy as np
from numpy.typing import NDArray

VERSION: int

def clean_text(text: str, /) -> str: ...
def normalize_and_sign(
    texts: list[str],
    direct: NDArray[np.uint32],
    start: NDArray[np.uint32],
    length: NDArray[np.uint8],
    atoms: NDArray[np.uint32],
    cjk: NDArray[np.bool_],
    multipliers: tuple[int, ...],
    salt: int,
    matrix: NDArray[np.uint32],
    /,
) -> list[bytes | None]: ...
