"""The one reading of a row's id, wherever the app takes one: a path, a query or a form.

An id is 1 to 19 ASCII digits whose value is from 1 to 2**63 - 1, the range of the database's
BigAutoField on both engines. Nothing else is one: not '²' or '٣' (which str.isdigit() accepts,
and int() either refuses or reads), not a sign, a space, '0x10' or '1e3', and not a number past
the range, which SQLite cannot even bind in a query (OverflowError). So a value that is not an
id is answered as an id of nothing is: "not found" for a page, "not valid" for a form, never a
server error. Reading at most 19 characters also keeps int() from parsing a megabyte of digits.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest

MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))
_DIGITS = frozenset("0123456789")


def parse_id(value: str | int | None) -> int | None:
    """The id `value` names, or None when it is not one."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_DIGITS or not _DIGITS.issuperset(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


class IdConverter:
    """`<id:pk>` in urls.py: a path whose id is not one matches no route, so it is a plain 404."""

    regex = f"[0-9]{{1,{_MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(value)  # Django's sign that the path does not match
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


class IdField(forms.Field):
    """A form field holding one id, or None when left empty."""

    default_error_messages = {
        "invalid": f"That is not a number we gave anything: ids are whole numbers from 1 to {MAX_ID}."
    }

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        number = parse_id(value)
        if number is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return number


def query_id(request: HttpRequest, name: str) -> int | None:
    """The id a query names (None when it names none); one that is not an id is not found."""
    value = request.GET.get(name, "")
    if not value:
        return None
    found = parse_id(value)
    if found is None:
        raise Http404(f"No such {name}.")
    return found
