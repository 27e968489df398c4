"""Line prefixes route script output to Azure's six streams."""

from __future__ import annotations

import pytest

from console.jobs.model import STREAMS
from console.runbooks.plugin_api import STREAM_PREFIXES
from console.runbooks.streams import classify


@pytest.mark.parametrize("pipe", ["stdout", "stderr"])
@pytest.mark.parametrize("stream", ["output", "error", "warning", "verbose", "progress", "debug"])
def test_each_prefix_picks_its_stream_from_either_pipe(pipe: str, stream: str) -> None:
    assert classify(pipe, f"::{stream}::disk / at 91%\n") == (stream, "disk / at 91%")  # type: ignore[arg-type]


def test_plain_lines_follow_their_pipe_and_lose_only_the_line_ending() -> None:
    assert classify("stdout", "hello world\r\n") == ("output", "hello world")
    assert classify("stderr", "  oops  \n") == ("error", "  oops  ")


@pytest.mark.parametrize(
    "line", ["::note::x", " ::warning::x", "::WARNING::x", "::warning:x", "text ::warning::x", "::"]
)
def test_anything_else_is_kept_verbatim(line: str) -> None:
    assert classify("stdout", line) == ("output", line)


def test_prefix_text_may_be_empty_or_contain_more_prefixes() -> None:
    assert classify("stdout", "::warning::") == ("warning", "")
    assert classify("stdout", "::debug::::error::x") == ("debug", "::error::x")


def test_every_stream_is_a_job_stream() -> None:
    assert sorted(STREAM_PREFIXES.values()) == sorted(STREAMS)
