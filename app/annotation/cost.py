"""What a model call costs."""

from decimal import Decimal


def call_cost(input_tokens: int, output_tokens: int, *, price_input_per_m: float, price_output_per_m: float) -> float:
    """USD for one call at the annotator's prices per million input and output tokens."""
    total = Decimal(input_tokens) * Decimal(str(price_input_per_m)) + Decimal(output_tokens) * Decimal(
        str(price_output_per_m)
    )
    return float(total / Decimal(1_000_000))
