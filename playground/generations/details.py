"""The request lines of a video's page ("Details"): one line for each option its model takes.

Which options a model takes is the catalogue's (ModelSpec.options); this module only words them,
so a model without a switch (H3 has no prompt enhancer) shows no line for it, and a new model's
page lists what its catalogue entry says without a change here.
"""

from __future__ import annotations

from playground.generations import references
from playground.generations.models import Generation
from playground.upstream import catalogue

# The page's label for each option that has a line, in the page's order. The frames are shown as
# pictures below the list, and the three kinds of reference share one line.
LABELS: dict[str, str] = {
    "enhance": "Enhance prompt",
    "resolution": "Resolution",
    "duration": "Length asked for",
    "ratio": "Aspect ratio",
    "references": "References",
}


def lines(gen: Generation) -> list[tuple[str, str]]:
    """(label, value) for each option the video's model takes, in LABELS' order."""
    model = catalogue.get(gen.model)
    summary = references.summary(gen.pk)
    if model is None:
        # A model no longer offered: what the row recorded, as it stands.
        return _recorded(gen, summary)
    taken = model.options
    found: list[tuple[str, str]] = []
    if "enhance" in taken:
        found.append((LABELS["enhance"], "On" if gen.enhance_prompt else "Off"))
    if "resolution" in taken:
        found.append((LABELS["resolution"], gen.resolution or model.default_resolution))
    if "duration" in taken:
        found.append((LABELS["duration"], f"{gen.duration_seconds or model.default_duration} s"))
    if "ratio" in taken:
        pictures = bool(gen.first_frame or gen.end_frame or summary)
        found.append((LABELS["ratio"], gen.ratio or model.ratio_for(None, pictures=pictures) or ""))
    if model.references:
        found.append((LABELS["references"], summary or "None"))
    return found


def _recorded(gen: Generation, summary: str) -> list[tuple[str, str]]:
    values = {
        "resolution": gen.resolution,
        "duration": f"{gen.duration_seconds} s" if gen.duration_seconds else "",
        "ratio": gen.ratio,
        "references": summary,
    }
    return [(LABELS[option], value) for option, value in values.items() if value]
