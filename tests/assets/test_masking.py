"""The masker: every listed form of a secret becomes `***`, nothing else changes."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from console.assets.masking import MASK, SecretMasker, build_pattern, no_masking

PASSWORD = "s3cr3t/P@ss w0rd+é"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBa8eyHnV2LPy1PhRJZ7TspQMWMk0C1s5t8rVtn3Oo4fwAAAJiVeJEklXiR\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def masker(*secrets: str) -> SecretMasker:
    return SecretMasker(lambda: secrets)


def b64(text: str, alphabet: str = "standard") -> str:
    encode = base64.urlsafe_b64encode if alphabet == "urlsafe" else base64.b64encode
    return encode(text.encode()).decode()


@pytest.mark.parametrize(
    "form",
    [
        PASSWORD,
        b64(PASSWORD),
        b64(PASSWORD).rstrip("="),
        b64(PASSWORD, "urlsafe"),
        b64(PASSWORD, "urlsafe").rstrip("="),
        quote(PASSWORD),
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD),
        json.dumps(PASSWORD)[1:-1],
        json.dumps(PASSWORD, ensure_ascii=False)[1:-1],
    ],
    ids=[
        "as-written",
        "base64",
        "base64-unpadded",
        "base64-urlsafe",
        "base64-urlsafe-unpadded",
        "url-quote",
        "url-quote-no-safe",
        "url-quote-plus",
        "json",
        "json-unicode",
    ],
)
def test_every_encoding_is_masked(form: str) -> None:
    assert masker(PASSWORD).mask(f"before {form} after") == f"before {MASK} after"


def test_a_secret_whose_base64_needs_padding_is_masked_with_and_without() -> None:
    secret = "abcde"  # 5 bytes: base64 ends with "="
    assert b64(secret).endswith("=")
    m = masker(secret)
    assert m.mask(b64(secret)) == MASK
    assert m.mask("x" + b64(secret).rstrip("=") + "x") == f"x{MASK}x"


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    m = masker(PEM)
    for line in PEM.splitlines():
        assert m.mask(f"out: {line}") == f"out: {MASK}"
    assert m.mask(PEM) == MASK  # the whole value at once is one mask


def test_the_json_form_of_a_multi_line_secret_is_masked_whole() -> None:
    dumped = json.dumps({"key": PEM})
    assert PEM.splitlines()[1] not in masker(PEM).mask(dumped)
    assert masker(PEM).mask(dumped) == '{"key": "***"}'


def test_every_occurrence_is_masked_and_other_text_is_kept() -> None:
    m = masker("hunter22")
    assert m.mask("hunter22 and hunter22, not hunter2") == f"{MASK} and {MASK}, not hunter2"


def test_the_longest_secret_wins_where_one_contains_another() -> None:
    m = masker("password", "password123")
    assert m.mask("x password123 y") == f"x {MASK} y"
    assert m.mask("x password1 y") == f"x {MASK}1 y"


def test_values_shorter_than_the_minimum_are_never_masked() -> None:
    m = masker("abc", "")
    assert m.mask("abc abcabc") == "abc abcabc"
    assert build_pattern(["abc", ""]) is None


def test_short_lines_of_a_multi_line_secret_are_left() -> None:
    m = masker("ab\nlong-enough-line")
    assert m.mask("ab cd") == "ab cd"
    assert m.mask("long-enough-line") == MASK


def test_regex_characters_in_a_secret_are_literal() -> None:
    m = masker("a.b*c(d)[e]|f")
    assert m.mask("a.b*c(d)[e]|f") == MASK
    assert m.mask("axb*c(d)[e]|f") == "axb*c(d)[e]|f"


def test_no_masking_changes_nothing() -> None:
    assert no_masking().mask("anything at all") == "anything at all"


def test_a_new_version_reads_the_secrets_again() -> None:
    known = ["first-secret"]
    version = [1]
    m = SecretMasker(lambda: list(known), lambda: version[0])
    assert m.mask("second-secret") == "second-secret"
    known.append("second-secret")
    assert m.mask("second-secret") == "second-secret"  # the same version: not read again
    version[0] = 2
    assert m.mask("second-secret first-secret") == f"{MASK} {MASK}"


def test_without_a_version_changed_secrets_are_masked_at_once() -> None:
    known: list[str] = []
    m = SecretMasker(lambda: list(known))
    assert m.mask("later-secret") == "later-secret"
    known.append("later-secret")
    assert m.mask("later-secret") == MASK
    known.clear()
    assert m.mask("later-secret") == "later-secret"


def test_many_secrets_each_masked_among_ordinary_lines() -> None:
    """200 secrets (a few PEM keys among them): each is found, other text is kept.
    How fast: bench/masking."""
    secrets = [f"secret-number-{i:04d}-xyz" for i in range(195)] + [PEM + str(i) for i in range(5)]
    m = masker(*secrets)
    line = "an ordinary line of output, number 7, with some text"
    assert m.mask(line) == line
    assert m.mask("x secret-number-0042-xyz") == f"x {MASK}"
