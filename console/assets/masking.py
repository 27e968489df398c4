"""Masking: every secret the engine knows becomes `***` before any text is kept.

A runbook may print a secret it was given, on purpose or by accident (`set -x`, a
stack trace, a debug dump). Like Azure Automation and CI systems (GitHub Actions'
`::add-mask::`), the engine replaces every known secret value in what it records:
stream lines, host errors and job messages, so that nothing downstream (the store,
`jobs show`, the events stream, the TUI, serve's log) ever sees one.

A secret is masked as written and in the forms a script commonly turns it into:
base64 (standard and URL-safe, with and without padding), URL-encoded (`quote`,
`quote_plus`), JSON-escaped, and line by line when it spans lines (a PEM key printed
by `cat`). What a runbook transforms further (hashes it, reverses it, base64-encodes
it inside a longer text at another offset, prints it a letter per line) cannot be
recognised and is not masked. Values shorter than `MIN_SECRET_LENGTH` are never
masked: the vault refuses them as secrets, since masking them would hide every
occurrence of a common word.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Hashable, Iterable
from urllib.parse import quote, quote_plus

from console.assets.model import MIN_SECRET_LENGTH

MASK = "***"
_UNREAD = object()

SecretSource = Callable[[], Iterable[str]]
VersionSource = Callable[[], Hashable]


def secret_forms(secret: str) -> set[str]:
    """Every text form of `secret` that is masked: as written, its encodings, and each
    line of a multi-line secret. Forms shorter than MIN_SECRET_LENGTH are left out."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    forms = {secret, *_encodings(secret)}
    lines = [line.rstrip("\r") for line in secret.split("\n")]
    if len(lines) > 1:
        for line in lines:
            forms |= {line, line.strip(), *_encodings(line)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _encodings(text: str) -> set[str]:
    raw = text.encode("utf-8")
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    return {
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        quote(text),
        quote(text, safe=""),
        quote_plus(text),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


def build_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching every form of every secret, or None when there is nothing
    to mask. The forms are merged into a trie, so a line is scanned at the cost of
    one character test per position however many secrets there are (a plain
    alternation tries each form at each position: ~30x slower with 50 secrets), and
    the longest form wins where forms share a start (a secret that contains another
    is masked whole)."""
    trie: _Trie = {}
    for secret in secrets:
        for form in secret_forms(secret):
            node = trie
            for char in form:
                node = node.setdefault(char, {})
            node[_END] = {}
    return re.compile(_trie_regex(trie)) if trie else None


_Trie = dict[str, "_Trie"]
_END = ""  # the key marking the end of a form (no character is the empty string)


def _trie_regex(node: _Trie) -> str:
    """The regex of a trie node: its branches, optional where a form ends here, so the
    greedy match takes the longest form and falls back to the shorter."""
    branches = []
    for char in sorted(key for key in node if key != _END):
        text, child = char, node[char]
        while len(child) == 1 and _END not in child:  # a chain: no regex groups needed
            ((next_char, child),) = child.items()
            text += next_char
        rest = _trie_regex(child) if child else ""
        branches.append(re.escape(text) + rest)
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        return f"(?:{body})?"
    return body


class SecretMasker:
    """Replaces the secrets of `secrets()` by `***`.

    Assets change while the engine runs, so the masker follows them: it rebuilds its
    regex when `version()` changes (a change counter), or, without one, when
    `secrets()` returns other values than last time (the vault caches its decrypted
    values, so asking it per line costs a list copy). The regex is built only on a
    change; with no secrets, text is returned as it is.
    """

    def __init__(self, secrets: SecretSource, version: VersionSource | None = None) -> None:
        self._secrets = secrets
        self._version = version
        # Nothing read until the first mask: an engine starts (and `assets list` can
        # explain a wrong key) without decrypting anything.
        self._seen: Hashable = _UNREAD
        self._pattern: re.Pattern[str] | None = None

    def refresh(self) -> None:
        """Read the secrets again and rebuild the regex."""
        values = tuple(self._secrets())
        self._seen = self._version() if self._version is not None else values
        self._pattern = build_pattern(values)

    def _stale(self) -> bool:
        if self._seen is _UNREAD:
            return True
        if self._version is not None:
            return self._version() != self._seen
        return tuple(self._secrets()) != self._seen

    def mask(self, text: str) -> str:
        if self._stale():
            self.refresh()
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)


def no_masking() -> SecretMasker:
    """The masker of an engine without a vault: it masks nothing."""
    return SecretMasker(lambda: ())
