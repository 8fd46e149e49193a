"""One masking policy for every output: what counts as a secret, and how it is shown.

A report is often attached to a ticket, so values that look like credentials are masked unless the
analyst asks with --reveal. The policy is applied where values leave the model (table rows, the JSON
document, the HTML report, findings, memory read/grep/strings output), not rule by rule: a `Masker` knows
the secret-looking values of the checkpoints at hand (environment variables with a secret-like name or
value, `NAME=value` words in command lines and typed commands) and replaces every occurrence of them in
any text or bytes it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|"
                         r"access[_-]?key|session|cookie)")
SECRET_VALUE = re.compile(r"^(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[baprs]-[A-Za-z0-9-]{10,}|"
                          r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\..*|-----BEGIN .*PRIVATE KEY-----.*)$")
# NAME=value inside a command line or a typed command (export API_TOKEN=..., --password=...).
ASSIGNMENT = re.compile(r"(?:^|[\s;'\"-])([A-Za-z_][A-Za-z0-9_.-]*)=([^\s;'\"]+)")
SHORTEST = 4   # shorter values are not masked by content: masking "1" everywhere would blank the report


def is_secret(name: str, value: str) -> bool:
    return bool(SECRET_NAME.search(name) or SECRET_VALUE.match(value))


def mask(value: str) -> str:
    """The masked form: length kept, at most the first and last two characters shown."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


@dataclass(slots=True)
class Masker:
    """Masks known secret values in any text; does nothing when `reveal` is set."""

    reveal: bool = False
    # The secrets themselves: never in a repr (a traceback or a test failure would print them).
    known: set[str] = field(default_factory=set, repr=False)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)
    _bytes_pattern: re.Pattern[bytes] | None = field(default=None, repr=False)

    def learn(self, value: str) -> None:
        if len(value) >= SHORTEST and value not in self.known:
            self.known.add(value)
            self._pattern = self._bytes_pattern = None

    def learn_env(self, env: dict[str, str] | None) -> None:
        for k, v in (env or {}).items():
            if is_secret(k, v):
                self.learn(v)

    def learn_words(self, text: str) -> None:
        """NAME=value words whose name or value looks secret (argv, typed commands)."""
        for m in ASSIGNMENT.finditer(text):
            if is_secret(m.group(1), m.group(2)):
                self.learn(m.group(2))

    def value(self, name: str, value: str) -> str:
        """An environment-style value: masked when its name or value looks secret, or it is known."""
        if self.reveal:
            return value
        if is_secret(name, value):
            self.learn(value)
            return mask(value)
        return self.text(value)

    def text(self, text: str) -> str:
        if self.reveal or not self.known or not text:
            return text
        if self._pattern is None:
            self._pattern = re.compile("|".join(re.escape(s) for s in sorted(self.known, key=len, reverse=True)))
        return self._pattern.sub(lambda m: mask(m.group()), text)

    def texts(self, items: Iterable[str]) -> list[str]:
        return [self.text(x) for x in items]

    def data(self, data: bytes) -> bytes:
        """Bytes read from memory (grep context, strings): each known secret's bytes masked."""
        if self.reveal or not self.known or not data:
            return data
        if self._bytes_pattern is None:
            self._bytes_pattern = re.compile(b"|".join(re.escape(s.encode("utf-8", "surrogateescape"))
                                                       for s in sorted(self.known, key=len, reverse=True)))
        return self._bytes_pattern.sub(lambda m: mask(m.group().decode("latin-1")).encode("latin-1"), data)

    def hides(self, text: str) -> bool:
        return not self.reveal and self.text(text) != text
