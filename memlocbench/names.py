"""Names that become parts of file paths, and writes that must stay inside their folder.

A task, model, method or profile name is lower-case letters, digits, ``_``, ``-`` and single dots
between them (``^[a-z0-9][a-z0-9_.-]*$`` without ``..`` or a trailing dot), at most 64 characters:
it can never be ``.``/``..``, contain a path separator, or carry HTML or markdown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints

from memlocbench.errors import InvalidInputError

#: the name pattern (no look-around, so pydantic's Rust regex engine runs it)
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$"
MAX_NAME_LENGTH = 64

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]


def path_inside(folder: Path, filename: str) -> Path:
    """``folder / filename``, refused unless it resolves to a direct child of ``folder``."""
    folder = Path(folder)
    path = folder / filename
    if Path(filename).name != filename or path.resolve().parent != folder.resolve():
        raise InvalidInputError(f"refusing to write {filename!r}: it would not lie directly inside {folder}")
    return path


def display_name_problem(name: str) -> str | None:
    """Why a free-text display name (a submission's ``--name``) could pass for another or hide text, or
    None: control characters (C0, C1), format characters such as bidi overrides and zero-width joiners
    (Unicode category Cf), and letters from more than one script in one name (a Cyrillic 'а' in a Latin
    'Lab' is a homoglyph). Names in one script, accents included, are fine."""
    import unicodedata

    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn"):
            return f"it contains the invisible or control character U+{ord(ch):04X}"
    scripts = set()
    for ch in name:
        if ch.isalpha():
            word = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
            scripts.add("CJK" if word in ("CJK", "HIRAGANA", "KATAKANA") else word)
    if len(scripts) > 1:
        return f"it mixes letters of several scripts ({', '.join(sorted(scripts)).lower()}), so it could pass for another name"
    return None
