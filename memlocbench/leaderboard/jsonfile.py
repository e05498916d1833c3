"""Reading a JSON file of a submission without trusting it: a regular file only (never a FIFO, a device
or a dangling link, so nothing hangs or fills memory), at most a given size, UTF-8, no key repeated in
one object (JSON readers disagree on which copy counts, so a file could show one number to a reviewer
and another to the page), nested at most ``MAX_JSON_DEPTH`` levels, every number finite and every
string at most ``MAX_STRING`` characters. Nothing is ever executed or unpickled."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from memlocbench.errors import NotARegularFileError
from memlocbench.files import read_regular_file

MAX_JSON_DEPTH = 32
#: the longest string a result, filing record or verification record may hold (the committed results'
#: longest is under 100): a page cannot be blown up by one field (a guard reason, a description)
MAX_STRING = 2000


class JSONFileError(ValueError):
    """What is wrong with a JSON file, as one line that names the file."""


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONFileError(f"key {key[:60]!r} appears twice in one object; each key may appear once "
                                "(JSON readers disagree on which copy counts)")
        out[key] = value
    return out


def json_problem(data: Any) -> str | None:
    """Depth beyond ``MAX_JSON_DEPTH``, a non-finite number or an overlong string anywhere (an iterative
    walk: no recursion)."""
    stack = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels (at '{where}')"
        if isinstance(value, float) and not math.isfinite(value):
            return f"field '{where or '(whole record)'}' is {value}; every number must be finite"
        if isinstance(value, str) and len(value) > MAX_STRING:
            return (f"field '{where or '(whole record)'}' is a string of {len(value)} characters; "
                    f"at most {MAX_STRING} are allowed")
        if isinstance(value, dict):
            stack += [(v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in value.items()]
            stack += [(k, depth + 1, f"{where} (a key)") for k in value]
        elif isinstance(value, list):
            stack += [(v, depth + 1, f"{where}.{i}") for i, v in enumerate(value)]
    return None


def _read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (links followed) of at most ``max_bytes``
    (``memlocbench.files.read_regular_file``: a FIFO or device never hangs the reader)."""
    try:
        return read_regular_file(path, max_bytes)
    except FileNotFoundError:
        raise JSONFileError(f"{path}: missing; expected a JSON file") from None
    except NotARegularFileError as exc:
        raise JSONFileError(f"{exc}; expected a JSON file") from None
    except OSError as exc:
        raise JSONFileError(f"{path}: cannot read ({exc.strerror})") from None


def read_json(path: Path, max_bytes: int) -> Any:
    """The parsed file; JSONFileError (one line naming the file) for anything wrong with it."""
    path = Path(path)
    raw = _read_regular(path, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_repeated_keys)
    except UnicodeDecodeError:
        raise JSONFileError(f"{path}: not UTF-8 text; expected a JSON file") from None
    except JSONFileError as exc:
        raise JSONFileError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JSONFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise JSONFileError(f"{path}: JSON nested too deeply; at most {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise JSONFileError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    problem = json_problem(data)
    if problem:
        raise JSONFileError(f"{path}: {problem}")
    return data
