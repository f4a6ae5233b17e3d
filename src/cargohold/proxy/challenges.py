"""Parsing ``WWW-Authenticate`` headers (RFC 9110 §11.6.1) into challenges, for the upstream auth flow.

One header may carry several challenges (``Bearer realm="…", Basic realm="…"``), and a response may carry
several headers. Scheme and parameter names are case-insensitive (kept lowercase here); values are tokens or
quoted strings with backslash escapes, and quoted values may contain commas
(``scope="repository:a/b:pull,push"``). ``parse_challenges`` never raises: whatever it cannot read is skipped,
so a hostile or broken upstream yields fewer challenges, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

_TCHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68: Final = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE: Final = " \t"
MAX_HEADER_CHARS: Final = 16 * 1024  # an upstream header longer than this is cut, not parsed whole


@dataclass(slots=True)
class Challenge:
    """One authentication challenge: a lowercase scheme and its parameters (lowercase names)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    def get(self, name: str) -> str | None:
        """The parameter ``name`` (case-insensitive), or None."""
        return self.params.get(name.lower())


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1

    def skip_separators(self) -> None:
        while self.peek() and self.peek() in _SPACE + ",":
            self.pos += 1

    def token(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _TCHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """A quoted-string starting at the opening quote; an unterminated one runs to the end."""
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and not self.at_end():
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == '"':
                break
            else:
                out.append(char)
        return "".join(out)

    def skip_junk(self) -> None:
        """Step over one character that cannot start anything (keeps the parser moving forward)."""
        self.pos += 1


def _try_token68(scanner: _Scanner) -> str | None:
    """A token68 right after a scheme (``Negotiate abc==``): only if followed by a comma or the end."""
    start = scanner.pos
    while scanner.peek() and scanner.peek() in _TOKEN68:
        scanner.pos += 1
    if scanner.pos == start:
        return None
    while scanner.peek() == "=":
        scanner.pos += 1
    end = scanner.pos
    scanner.skip_space()
    if scanner.at_end() or scanner.peek() == ",":
        return scanner.text[start:end]
    scanner.pos = start
    return None


def _parse_one(text: str, into: list[Challenge]) -> None:
    scanner = _Scanner(text[:MAX_HEADER_CHARS])
    current: Challenge | None = None
    while True:
        scanner.skip_separators()
        if scanner.at_end():
            return
        word = scanner.token()
        if not word:
            scanner.skip_junk()
            continue
        scanner.skip_space()
        if scanner.peek() == "=" and current is not None:
            scanner.pos += 1
            scanner.skip_space()
            value = scanner.quoted() if scanner.peek() == '"' else scanner.token()
            name = word.lower()
            if name == "scope" and name in current.params:
                current.params[name] = f"{current.params[name]} {value}"  # repeated scope: space-separated
            else:
                current.params.setdefault(name, value)
            continue
        if scanner.peek() == "=":  # a parameter before any scheme: not a challenge
            scanner.skip_junk()
            continue
        current = Challenge(word.lower())
        into.append(current)
        token68 = _try_token68(scanner)
        if token68 is not None:
            current.token68 = token68


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` header values, in order."""
    challenges: list[Challenge] = []
    for header in headers:
        if isinstance(header, str):
            _parse_one(header, challenges)
    return challenges


def find_challenge(challenges: Iterable[Challenge], scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` (case-insensitive)."""
    wanted = scheme.lower()
    return next((c for c in challenges if c.scheme == wanted), None)
