"""Evidence strings made safe to show on a terminal or in plain text output.

Everything a checkpoint holds is chosen by whoever ran in the container: a process sets its own name
with prctl(PR_SET_NAME), its argv and environment, file, socket and host names, and what it logs. Shown
raw, `ESC[2J` clears the analyst's screen, `ESC]0;...BEL` retitles the window, `ESC[31m` recolours what
follows, a newline forges a line of the report, and bidirectional overrides reorder what is read. So
every evidence string printed as text goes through `shown()`:

| character                                              | shown as                       |
|--------------------------------------------------------|--------------------------------|
| C0 controls U+0000-U+001F (NUL, BEL, BS, TAB, LF, CR,  | `\\xNN` (ESC is `\\x1b`)         |
| ESC...), DEL U+007F, C1 controls U+0080-U+009F (CSI    |                                |
| U+009B, OSC U+009D, ...)                               |                                |
| a lone surrogate U+DC80-U+DCFF (a byte that was not    | `\\xNN`, the byte it stands for  |
| UTF-8, kept by Python's surrogateescape)               |                                |
| any other lone surrogate                               | `\\uNNNN`                        |
| line and paragraph separators U+2028/U+2029, bidi      | `\\uNNNN`                        |
| embeddings, overrides and isolates U+202A-U+202E,      |                                |
| U+2066-U+2069                                          |                                |

Everything else, backslash included, is shown as it is (a literal `\\x1b` typed by the program is
harmless text). JSON keeps exact values (its encoder escapes controls) and HTML escapes markup; only
terminal and text output use this.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:          # surrogateescape: the byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def shown(value: object) -> str:
    """`value` (usually a str from the evidence) as text with no character a terminal would act on."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def shown_lines(value: object) -> str:
    """The same, but line breaks kept as line breaks (for multi-line evidence such as a log tail
    joined for display; each line is escaped on its own)."""
    text = value if isinstance(value, str) else str(value)
    return "\n".join(shown(line) for line in text.split("\n"))
