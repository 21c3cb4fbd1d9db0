"""What every ``almo`` subcommand shares: one-line errors, help with defaults, flag checks.

The rule of the command line: bad input ends in one line ``almo <command>: error: ...`` on
stderr and exit status 2, and the message names the flag to change (``--top-k``), not the
Python argument behind it (``top_k``). Three pieces serve it:

- :class:`OneLineParser` prints argparse's own errors (unknown flags, bad ints) as that one
  line, without the usage block;
- flag values are checked before any work starts with :func:`almo._validation.check_integer`
  and ``check_number`` given the flag as the name, and with the ``check_*`` helpers here for
  lists and paths, a fix written as a command-line option;
- :func:`flag_message` rewrites an error the library raised anyway (a combination the flags
  cannot judge alone), replacing backquoted argument names by the flags that set them.

Examples
--------
>>> from almo._validation import check_integer
>>> check_integer("--n", 0, "pass e.g. --n 1000")
Traceback (most recent call last):
...
almo.exceptions.ALMOValueError: `--n` must be an integer >= 1; found 0. Fix: pass e.g. --n 1000
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> _ = p.add_argument("--top-k", type=int)
>>> flag_message("`top_k` must be >= 1; found 0. Fix: pass None, or e.g. top_k=5", p)
'`--top-k` must be >= 1; found 0. Fix: omit --top-k, or e.g. --top-k 5'
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from almo._validation import check_integer, check_number, fail

__all__ = [
    "HelpFormatter",
    "OneLineParser",
    "check_flag_list",
    "check_writable_dir",
    "check_writable_file",
    "flag_message",
    "one_line",
    "report",
    "subparser",
]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line ``<prog>: error: <message>``, status 2.

    Subparsers made through ``add_subparsers`` inherit the class, so every subcommand reports
    its own name (``almo demo: error: ...``).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with ``(default: ...)`` after each flag's help text.

    A flag whose default is None, or whose help already says what its default is, is left as
    written: "(default: None)" would not tell the reader what happens.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def one_line(message: str) -> str:
    """``message`` with its line breaks and runs of spaces collapsed to single spaces.

    Examples
    --------
    >>> one_line("found [[1. 2.]\\n [3. 4.]]")
    'found [[1. 2.] [3. 4.]]'
    """
    return " ".join(str(message).split())


def subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` (``parser`` itself when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Python name (``dest``) → the long flag that sets it, for every option of ``parser``."""
    out = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            out[action.dest] = longs[0]
    return out


def flag_message(
    message: str, parser: argparse.ArgumentParser, aliases: dict[str, str] | None = None
) -> str:
    """Rewrite a library message in terms of ``parser``'s flags.

    "`top_k` must ..." becomes "`--top-k` must ...", ``top_k=5`` in the fix becomes
    ``--top-k 5`` and "pass None" becomes "omit --top-k". ``aliases`` adds names that differ
    from the flag's own (``{"exponent": "--zipf"}``).
    """
    names = {**_flags(parser), **(aliases or {})}
    text = one_line(message)
    for name, flag in sorted(names.items(), key=lambda kv: -len(kv[0])):
        if f"`{name}`" not in text and not re.search(rf"\b{re.escape(name)}=", text):
            continue
        text = text.replace(f"`{name}`", f"`{flag}`")
        text = re.sub(rf"(?<![\w-]){re.escape(name)}=", f"{flag} ", text)
        text = re.sub(r"\bpass None\b", f"omit {flag}", text)
    return text


def check_flag_list(
    flag: str,
    values: Iterable[Any],
    fix: str,
    *,
    low: float,
    high: float | None = None,
    integer: bool = False,
) -> None:
    """Every value of a comma-separated list flag is finite (or whole) within ``[low, high]``."""
    for value in values:
        if integer:
            check_integer(flag, value, fix, low=int(low), high=None if high is None else int(high))
        else:
            check_number(flag, value, fix, low=low, high=high)


def check_writable_dir(flag: str, path: Path) -> Path:
    """Create folder ``path`` (and its parents) and check that a file can be written there.

    Raises the standard error naming ``flag`` with the operating system's reason when the
    folder cannot be made (a parent is a file, no permission, a read-only disk).
    """
    fix = f"pass a folder you can write to, e.g. {flag} ./out"
    if path.exists() and not path.is_dir():
        raise fail(flag, "name a folder", f"{path} (an existing file)", fix)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        found = _os_found(path, err)
        raise fail(flag, "name a folder that can be created and written", found, fix) from None
    return path


def check_writable_file(flag: str, path: Path) -> Path:
    """Check that file ``path`` can be written (its folder exists and accepts a new file)."""
    fix = f"pass a file in a folder you can write to, e.g. {flag} ./result.json"
    if path.is_dir():
        raise fail(flag, "name a file, not a folder", str(path), fix)
    try:
        with tempfile.TemporaryFile(dir=path.parent if str(path.parent) else "."):
            pass
    except OSError as err:
        raise fail(flag, "name a file in a writable folder", _os_found(path, err), fix) from None
    return path


def _os_found(path: Path, err: OSError) -> str:
    return f"{path} ({err.strerror or type(err).__name__})"


def report(prog: str, message: str, status: int = 2) -> int:
    """Print ``<prog>: error: <message>`` as one line on stderr; return ``status``."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return status
