"""The WS-Management test server's messages: SOAP envelopes and faults, and NTLM
message encryption (`multipart/encrypted`, the format of pywinrm's
`winrm/encryption.py`) unwrapped and wrapped with the server's pyspnego context."""

from __future__ import annotations

import struct
import uuid
from typing import Any

from aiohttp import web

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_NS = NS["rsp"]
ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"


class Fault(Exception):
    """A WS-Management fault: HTTP 500 with a WSManFault `code` (pywinrm reads it)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def envelope(action: str, relates_to: str, body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" '
        f'xmlns:rsp="{SHELL_NS}" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
        f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{uuid.uuid4()}"
        "</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        f"</a:To><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault_body(fault: Fault) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:w="{NS["w"]}"><s:Body><s:Fault><s:Code>'
        "<s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{fault.reason}</s:Text></s:Reason>'
        '<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"'
        f' Code="{fault.code}" Machine="wsman-test-server"><f:Message>{fault.reason}'
        "</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


def unwrap(context: Any, body: bytes) -> bytes:
    """The SOAP message inside a `multipart/encrypted` body (pywinrm's format)."""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    payload = parts[1].removesuffix(BOUNDARY + b"--\r\n")
    sealed = payload.removeprefix(b"\tContent-Type: application/octet-stream\r\n")
    length = struct.unpack("<i", sealed[:4])[0]
    return bytes(context.unwrap(sealed[4 : 4 + length] + sealed[4 + length :]).data)


def encrypted_response(context: Any, status: int, message: bytes) -> web.Response:
    wrapped = context.wrap(message, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    body = (
        BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(message)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(signature))
        + signature
        + sealed
        + BOUNDARY
        + b"--\r\n"
    )
    response = web.Response(status=status, body=body)
    response.headers["Content-Type"] = (
        f'multipart/encrypted;protocol="{ENCRYPTED}";boundary="Encrypted Boundary"'
    )
    return response
