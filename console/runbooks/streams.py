"""Which job stream a line of script output belongs to.

Azure Automation has six streams: Output, Error, Warning, Verbose, Progress, Debug.
A script on a host only has stdout and stderr, so: stdout is Output, stderr is Error,
and a line that starts with one of these prefixes goes to the named stream instead,
from either pipe, in any language (`echo "::warning::disk almost full"`):

    ::output::  ::error::  ::warning::  ::verbose::  ::progress::  ::debug::

The prefix is removed from the recorded text. It must start the line and is lower
case; anything else (`::note::x`, ` ::warning::x`) is kept verbatim in the default
stream, so ordinary output can never be lost to a typo. The stream names and prefixes
belong to the plugin API (`console.runbooks.plugin_api`), since languages write them.
"""

from __future__ import annotations

from console.runbooks.plugin_api import STREAM_PREFIXES, Stream
from console.transports.base import StreamName

_DEFAULT: dict[str, Stream] = {"stdout": "output", "stderr": "error"}


def classify(stream_name: StreamName, line: str) -> tuple[Stream, str]:
    """(stream, text) for one line read from `stream_name`; the line ending is dropped."""
    text = line.rstrip("\r\n")
    if text.startswith("::"):
        for prefix, stream in STREAM_PREFIXES.items():
            if text.startswith(prefix):
                return stream, text[len(prefix) :]
    return _DEFAULT[stream_name], text
