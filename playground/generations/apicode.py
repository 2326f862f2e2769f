"""The same requests a generation made, written out as Python (httpx) and curl.

Users take these into their own scripts, so the body is built by the same function the worker
uses (aimlapi.create_body) and the key is only ever a placeholder.
"""

from __future__ import annotations

import json
import pprint
import shlex
from dataclasses import dataclass

from django.conf import settings

from playground.generations.models import Generation
from playground.generations.references import Reference
from playground.upstream import aimlapi

KEY_PLACEHOLDER = "<YOUR_AIMLAPI_KEY>"
IMAGE_PLACEHOLDER = "https://example.com/your-first-frame.jpg"
LAST_IMAGE_PLACEHOLDER = "https://example.com/your-last-frame.jpg"
PUBLIC_BASE_URL = "https://api.aimlapi.com"


@dataclass(frozen=True)
class ApiCode:
    python: str
    curl: str


def base_url() -> str:
    # In demo mode the stand-in has no address anyone else can use; show the real service.
    return PUBLIC_BASE_URL if settings.DEMO_MODE else settings.AIMLAPI_BASE_URL


_REFERENCE_EXAMPLES = {"images": "reference-{}.jpg", "videos": "reference-{}.mp4", "audios": "voice-{}.mp3"}


def _reference_placeholders(gen: Generation) -> dict[str, list[str]]:
    """An example link for each reference the generation sent, by kind, in its order."""
    found: dict[str, list[str]] = {}
    for kind in (
        Reference.objects.filter(generation=gen.pk)
        .order_by("kind", "position")
        .values_list("kind", flat=True)
    ):
        names = found.setdefault(kind, [])
        names.append("https://example.com/your-" + _REFERENCE_EXAMPLES[kind].format(len(names) + 1))
    return found


def for_generation(gen: Generation) -> ApiCode:
    # The route the job went out on; one not sent yet goes out on the configured one.
    route = gen.upstream_route or aimlapi.configured_routes().get(gen.model)
    references = _reference_placeholders(gen)
    body = aimlapi.create_body(
        model=gen.model,
        prompt=gen.prompt,
        enhance=gen.enhance_prompt,
        first_frame=IMAGE_PLACEHOLDER if gen.first_frame else None,
        last_frame=LAST_IMAGE_PLACEHOLDER if gen.end_frame else None,
        resolution=gen.resolution or None,
        duration=gen.duration_seconds,
        ratio=gen.ratio or None,
        references=references,
        route=route,
    )
    url = base_url() + aimlapi.endpoint(gen.model, route)
    id_field = aimlapi.id_field(gen.model, route)
    image_note = (
        "# Put a link to your file (or a data:...;base64,... URI) where each example link is.\n"
        if gen.first_frame or gen.end_frame or references
        else ""
    )
    python = f'''import time

import httpx

API_KEY = "{KEY_PLACEHOLDER}"
URL = {json.dumps(url)}
headers = {{"Authorization": f"Bearer {{API_KEY}}"}}

{image_note}body = {pprint.pformat(body, sort_dicts=False, width=100)}
created = httpx.post(URL, json=body, headers=headers, timeout=60)
created.raise_for_status()
generation_id = created.json()[{json.dumps(id_field)}]

while True:
    answer = httpx.get(URL, params={{"generation_id": generation_id}}, headers=headers, timeout=60).json()
    print(answer["status"])
    if answer["status"] in ("completed", "error"):
        break
    time.sleep(10)

print(answer)  # when completed, answer["video"]["url"] is a link that expires: download it soon
'''
    curl = (
        f"curl -X POST {shlex.quote(url)} \\\n"
        f'  -H "Authorization: Bearer {KEY_PLACEHOLDER}" \\\n'
        f'  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}\n"
        f"\n# The answer holds the id in {json.dumps(id_field)}; ask for the result every 10 s or so:\n"
        f'curl -G {shlex.quote(url)} --data-urlencode "generation_id=GENERATION_ID" \\\n'
        f'  -H "Authorization: Bearer {KEY_PLACEHOLDER}"\n'
    )
    return ApiCode(python=python, curl=curl)
