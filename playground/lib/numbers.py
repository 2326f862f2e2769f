"""How the sentences people read write a number: sizes in MB, rounded up so a limit is never understated."""

from __future__ import annotations


def megabytes(size: int) -> str:
    """A byte count in MB of 1024 × 1024 bytes, as our sentences write it (rounded up, one decimal)."""
    return decimal(size, 1024 * 1024, 1)


def decimal(numerator: int, denominator: int, places: int) -> str:
    """numerator/denominator rounded *up* to `places` decimals, so 20 MB + 1 byte never reads "20"."""
    scale = 10**places
    scaled = -(-numerator * scale // denominator)
    whole, fraction = divmod(scaled, scale)
    return f"{whole:,}" if fraction == 0 else f"{whole:,}.{fraction:0{places}d}".rstrip("0")
