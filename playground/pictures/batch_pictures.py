"""The pictures of a batch across round trips of the Generate page, each one kept in staging.

When a batch of several pictures can't be sent yet (a picture is refused, or anything else on
the form is wrong), every one of its pictures is staged (staging.py): those that passed as they
are, the refused ones with the fixes that would mend them. The page comes back with one list
item per picture, and each item carries one hidden value, "<token> <origin>":

- token: "<staging id>" for the picture as given (staging says whether it passed or waits for
  a fix), "<staging id>:<fix key>" for the fix chosen for it, "-" when it was refused and no
  fix applies (it can only be removed), or "ref-<id>" for a stored reference a Remix carries
  (generations/references.py: read and checked whole only at Generate, never copied before);
- origin: "file:<name>" or "link:<address>", for its label and the videos' source link.

What a picture is worth is always read from staging, never from the form: the value only says
which picture is meant. Choosing a fix and removing a picture rebuild the list from the values
sent, so the page with JavaScript (the list swapped alone) and without it (the whole page) run
the same code. The rules and sentences about a picture itself are the single picture's (pictures/,
staging); this module only adds which picture of the batch a sentence is about.

A model's reference pictures (MiniMax H3) are a list of the same kind, kept the same way under
their own names (REFERENCES): each has the first frame's checks, fixes and its own verdict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from playground import pictures
from playground.generations import references
from playground.lib import linkfetch
from playground.pictures import fixing
from playground.pictures.staging import Chosen, Kept, Offer, Staging

NOT_STAGED = "-"
_ORIGINS = ("file:", "link:")
_NAME_MAX = 200  # of a file name carried back (links are held to the form's own limit)
_VALUE_MAX = 2200
GONE = "This picture is no longer kept here. Remove it, and choose it again."
NO_FIX = "This picture can't be used, and no fix applies to it."


@dataclass(frozen=True)
class ListNames:
    """What one list of pictures is called on the page: its section, its values and its buttons."""

    section: str  # the element id the list is swapped into
    field: str  # the hidden value of each picture
    fix: str  # the fix buttons' name
    remove: str  # the remove buttons' name
    heading: str
    heading_id: str
    noun: str  # "Picture" / "Reference picture", in each picture's label
    link_noun: str
    # False where a visible title above already names the list (the reference pictures' legend):
    # the heading is then read by screen readers only, still the section's name and the place
    # focus goes to after a removal.
    heading_shown: bool = True


BATCH = ListNames(
    "batch-pictures",
    "batch_picture",
    "apply_batch_fix",
    "remove_picture",
    "The pictures of this batch",
    "batch-heading",
    "Picture",
    "Link",
)
REFERENCES = ListNames(
    "reference-pictures",
    "reference_picture",
    "apply_reference_fix",
    "remove_reference",
    "Reference pictures",
    "reference-heading",
    "Reference picture",
    "Reference link",
    heading_shown=False,
)


def refusal(label: str, message: str) -> str:
    """A sentence about one picture of a batch, as the form says it."""
    return f"{label}: {message} Fix or remove this picture; nothing was sent."


@dataclass(frozen=True)
class Given:
    """One picture of the batch as the page carries it."""

    token: str
    origin: str

    @classmethod
    def parse(cls, value: str) -> Given | None:
        token, _, origin = value.partition(" ")
        if len(value) > _VALUE_MAX or not origin.startswith(_ORIGINS) or not token:
            return None
        return cls(token, origin)

    @classmethod
    def of_file(cls, name: str, token: str = NOT_STAGED) -> Given:
        return cls(token, "file:" + " ".join(name.split())[:_NAME_MAX])

    @classmethod
    def of_link(cls, link: str, token: str = NOT_STAGED) -> Given:
        return cls(token, "link:" + link)

    @property
    def value(self) -> str:
        return f"{self.token} {self.origin}"

    @property
    def staged_id(self) -> str:
        return "" if self.token == NOT_STAGED else self.token.partition(":")[0]

    @property
    def link(self) -> str:
        return self.origin.removeprefix("link:") if self.origin.startswith("link:") else ""

    def label(self, number: int, names: ListNames | None = None) -> str:
        names = names or BATCH
        if self.link:
            return f"{names.link_noun} {number} ({self.link[:60]})"
        return f"{names.noun} {number} ({self.origin.removeprefix('file:')})"

    def staged_as(self, token: str) -> Given:
        return Given(token, self.origin)


def parse_all(values: list[str]) -> list[Given]:
    """The pictures a form carries back, in order; a value that is not one is left out."""
    return [given for value in values if (given := Given.parse(str(value)))]


@dataclass
class Checked:
    """A picture of one submit as the form's check left it, before anything is staged."""

    given: Given  # its token is "-" until it is staged
    picture: pictures.CheckedImage | None = None  # ready to send
    data: bytes = b""  # the refused bytes, for the fixes
    messages: list[str] = field(default_factory=list)  # why it can't be sent


@dataclass
class Item:
    """One picture of the batch as the page shows it."""

    given: Given
    number: int
    kept: Kept | None = None
    chosen: Chosen | None = None
    offer: Offer | None = None
    messages: list[str] = field(default_factory=list)  # why it can't be sent, when no fix is offered
    problem: list[str] = field(default_factory=list)  # a fix that could not be made just now
    focus: bool = False  # the picture just changed: the page moves the focus to it
    names: ListNames = BATCH  # which list it belongs to

    @property
    def refused(self) -> bool:
        return self.kept is None and self.chosen is None

    @property
    def key(self) -> str:
        return self.given.staged_id or f"n{self.number}"

    @property
    def label(self) -> str:
        return self.given.label(self.number, self.names)

    @property
    def refusals(self) -> list[str]:
        """Why it can't be sent, in the form's sentences (the list says them for the whole batch)."""
        messages = self.offer.messages if self.offer else self.messages
        return [refusal(self.label, message) for message in messages] if self.refused else []

    @property
    def image_name(self) -> str:
        """The staged file the page shows for it (see views.staged_image), if any."""
        if self.chosen:
            return self.chosen.name
        return "original" if self.kept else ""


def check(
    staging: Staging | None, carried: list[Given], uploads: list[Any], links: list[str], *, link_max: int
) -> list[Checked]:
    """Every picture of a submit through the single picture's checks, in the batch's order.

    The pictures carried back from an earlier round trip come first (staged already, so read
    from staging), then the files and links given now. Nothing is stored here.
    """
    checked = []
    for given in carried:
        if staging and references.is_carried(given.token):
            # A reference a Remix carries is read and checked whole only now, as an upload is.
            checked.append(_check_one(given, functools.partial(_carried_bytes, staging, given.token)))
            continue
        found = resolve(staging, given) if staging else [GONE]
        if isinstance(found, pictures.CheckedImage):
            checked.append(Checked(given, picture=found))
        else:
            checked.append(Checked(given, messages=found))
    for upload in uploads:
        checked.append(
            _check_one(Given.of_file(upload.name or ""), functools.partial(pictures.read_capped, upload))
        )
    for link in links:
        if len(link) > link_max:
            too_long = f"A link may be at most {link_max:,} characters."
            checked.append(Checked(Given.of_link(link[:link_max]), messages=[too_long]))
        else:
            checked.append(
                _check_one(
                    Given.of_link(link),
                    functools.partial(linkfetch.fetch_image, link, max_bytes=pictures.MAX_BYTES),
                )
            )
    return checked


def _carried_bytes(staging: Staging, token: str) -> bytes:
    data = staging.carried_bytes(token)
    if data is None:
        raise pictures.ImageRejected(GONE)
    return data


def _check_one(given: Given, read: Callable[[], bytes]) -> Checked:
    data = b""
    try:
        data = read()
        return Checked(given, picture=pictures.check_image(data))
    except pictures.ImageRejected as exc:
        messages = exc.messages
    except linkfetch.LinkRejected as exc:
        messages = [exc.message]
    return Checked(given, data=data, messages=messages)


def resolve(staging: Staging, given: Given) -> pictures.CheckedImage | list[str]:
    """A staged picture ready to send, or the sentences saying why it can't be sent."""
    if given.token == NOT_STAGED:
        return [NO_FIX]
    staged_id, _, key = given.token.partition(":")
    if key:
        return staging.checked(given.token) or [GONE]
    found = staging.found(staged_id)
    if isinstance(found, Offer):
        return found.messages
    return (staging.kept(staged_id) if found else None) or [GONE]


def describe(staging: Staging, given: Given, number: int) -> Item:
    """What the page shows for one picture the form carried back (no picture is decoded)."""
    if given.token == NOT_STAGED:
        return Item(given, number, messages=[NO_FIX])
    if references.is_carried(given.token):
        carried = staging.carried(given.token)
        return Item(given, number, kept=carried) if carried else Item(given, number, messages=[GONE])
    if ":" in given.token and (chosen := staging.chosen(given.token)):
        return Item(given, number, chosen=chosen)
    found = staging.found(given.staged_id)
    original = given.staged_as(given.staged_id)
    if isinstance(found, Kept):
        return Item(original, number, kept=found)
    if isinstance(found, Offer):
        if not found.fixes:  # refused, and no fix mends it
            return Item(original, number, messages=found.messages)
        return Item(original, number, offer=found)
    return Item(given, number, messages=[GONE])


def stage(staging: Staging, checked: list[Checked]) -> list[Item]:
    """After is_valid() said no: keep every new picture of this submit, for the page to show."""
    items = []
    for number, entry in enumerate(checked, 1):
        given = entry.given
        # A carried reference that passed stays carried (nothing is copied); one refused is kept
        # like a new picture, so its fixes can be offered.
        if given.token != NOT_STAGED and not (references.is_carried(given.token) and not entry.picture):
            items.append(describe(staging, given, number))
        elif entry.picture:
            kept = staging.keep(entry.picture)
            size = Kept(id=kept, width=entry.picture.width, height=entry.picture.height)
            items.append(Item(given.staged_as(kept), number, kept=size))
        else:
            offer, messages = None, entry.messages
            if entry.data:
                try:
                    offer = staging.offer(entry.data, entry.messages)
                except fixing.FixerBusy as busy:
                    messages = messages + busy.messages
            if offer:
                items.append(Item(given.staged_as(offer.id), number, offer=offer))
            else:
                # Its reason, not the bytes, is kept: the next round trip says the same sentence.
                noted = staging.note_refused(entry.messages)
                items.append(Item(given.staged_as(noted), number, messages=messages))
    return items


def with_fix(staging: Staging, values: list[str], fix: str, most: int | None = None) -> list[Item]:
    """The batch the page sent back, with fix `fix` ("<staging id>:<key>") made for its picture.

    `most`: how many pictures the list may hold (a batch's, unless given)."""
    staged_id, _, key = fix.partition(":")
    items = []
    for number, given in enumerate(parse_all(values)[: most or settings.MAX_BATCH_PICTURES], 1):
        if not staged_id or given.staged_id != staged_id:
            items.append(describe(staging, given, number))
            continue
        try:
            item = Item(given.staged_as(fix), number, chosen=staging.choose(staged_id, key))
        except pictures.ImageRejected as exc:
            item = describe(staging, given.staged_as(staged_id), number)
            item.problem = exc.messages
        item.focus = True
        items.append(item)
    return items


def named(items: list[Item], names: ListNames) -> list[Item]:
    """The same items as members of the list `names` (their labels and buttons)."""
    for item in items:
        item.names = names
    return items


def without(staging: Staging, values: list[str], value: str, most: int | None = None) -> list[Item]:
    """The batch the page sent back, less the picture `value` (whose staged copy goes now)."""
    kept = parse_all(values)[: most or settings.MAX_BATCH_PICTURES]
    gone = Given.parse(value)
    if gone in kept:
        kept.remove(gone)
        if gone and gone.staged_id:
            staging.drop(gone.staged_id)
    return [describe(staging, given, number) for number, given in enumerate(kept, 1)]
