"""Tracked files and registry keys on a Windows host: the `tracked` collector.

Files (`C:\\...`, globs allowed) come back as on Linux: text within the size limit with
its content (base64), anything else hashed (SHA-256 by Get-FileHash), a path that does
not exist missing, one that cannot be read unreadable with Windows' reason. Windows
has no octal mode: `mode` is empty, `owner` and `group` are the ACL's owner and group.

A registry key (`HKLM:\\...` or `HKCU:\\...`, as PowerShell names them; HKCU is the
connecting account's hive) is tracked as a text file whose content is its values, one
`name (kind) = data` line each, sorted: a value added, removed or changed shows in the
change's diff like a line of a configuration file. Subkeys are not followed.

The paths travel inside the script as single-quoted PowerShell strings (quotes
doubled), in batches so that every script fits a command line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from console.changes.model import FileStatus, TrackedFile, TrackedPath
from console.changes.sections import OutputError
from console.windows.powershell import fits_command_line

_SNIFF = 8192  # as the Linux parser: a NUL in the first 8 KiB makes a file binary

TRACKED = r"""# opsconsole-collector: tracked
$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
function U($d){if($d){[int64]($d.ToUniversalTime()-[datetime]'1970-01-01').TotalSeconds}}
function F($v){if($v -is [byte[]]){[BitConverter]::ToString($v)}
elseif($v -is [array]){$v -join ' | '}else{"$v"}}
function Reg($k){$n=@($k.GetValueNames()|sort);(@(foreach($x in $n){'{0} ({1}) = {2}' -f
$(if($x){$x}else{'(default)'}),$k.GetValueKind($x),
(F $k.GetValue($x,$null,'DoNotExpandEnvironmentNames'))
})-join "`n")+"`n"}
function One($i,$p,$keep){$o=[ordered]@{pattern=$p;path=$p;status='';error=$null}
try{if($i -is [Microsoft.Win32.RegistryKey]){
$o.path=$i.Name -replace '^HKEY_LOCAL_MACHINE','HKLM:' -replace '^HKEY_CURRENT_USER','HKCU:'
$o.status='registry';$o.text=Reg $i;$o.keep=$keep}
elseif($i -isnot [IO.FileInfo]){$o.path=$i.FullName;$o.status='unreadable'
$o.error='not a regular file'}
else{$o.path=$i.FullName;$a=Get-Acl -LiteralPath $i.FullName;$o.owner=$a.Owner;$o.group=$a.Group
$o.size=$i.Length;$o.mtime=U $i.LastWriteTime
if($keep -and $i.Length -le @MAX@){$o.status='content'
$o.data=[Convert]::ToBase64String([IO.File]::ReadAllBytes($i.FullName))}
else{$o.status='hash';$o.sha256=(Get-FileHash -LiteralPath $i.FullName -Algorithm SHA256).Hash}}}
catch{$o.status='unreadable';$o.error=$_.Exception.Message};$o}
$r=@(foreach($t in @(@TRACK@)){$p=$t[0]
$wild=[Management.Automation.WildcardPattern]::ContainsWildcardCharacters($p)
try{$items=@(if($wild){Get-Item -Path $p -Force -EA SilentlyContinue}
elseif(Test-Path -LiteralPath $p){Get-Item -LiteralPath $p -Force})}
catch{[ordered]@{pattern=$p;path=$p;status='unreadable';error=$_.Exception.Message};continue}
if(-not $items){[ordered]@{pattern=$p;path=$p;status=$(if($wild){'unmatched'}else{'missing'})}}
foreach($i in $items){One $i $p ($t[1] -eq 1)}})
ConvertTo-Json -InputObject ([ordered]@{tracked=$r}) -Depth 6 -Compress
"""


def tracked_scripts(tracking: Sequence[TrackedPath], max_content: int) -> list[str]:
    """The scripts for these Windows paths, as many paths in each as fit a command
    line (none when nothing is tracked; a path too long alone is refused when run)."""
    scripts: list[str] = []
    batch: list[TrackedPath] = []
    for tracked in tracking:
        if batch and not fits_command_line(_script([*batch, tracked], max_content)):
            scripts.append(_script(batch, max_content))
            batch = []
        batch.append(tracked)
    if batch:
        scripts.append(_script(batch, max_content))
    return scripts


def _script(batch: Sequence[TrackedPath], max_content: int) -> str:
    entries = ",".join(f",@({_quoted(t.path)},{1 if t.content else 0})" for t in batch)
    return TRACKED.replace("@TRACK@", entries).replace("@MAX@", str(max_content))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_tracked(docs: Sequence[Any]) -> tuple[list[TrackedFile], list[str]]:
    """The tracked files and keys (each path once, first wins) and the unmatched globs."""
    files: dict[str, TrackedFile] = {}
    unmatched: list[str] = []
    for doc in docs:
        for item in _items(doc):
            if item.get("status") == "unmatched":
                unmatched.append(str(item.get("pattern", "")))
                continue
            entry = _entry(item)
            files.setdefault(entry.path, entry)
    return list(files.values()), unmatched


def _items(doc: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(doc, dict):
        raise OutputError("tracked: expected a JSON object")
    found = doc.get("tracked") or []
    for item in found if isinstance(found, list) else [found]:
        if not isinstance(item, dict):
            raise OutputError(f"tracked: an entry is {item!r}, not an object")
        yield item


def _entry(item: Mapping[str, Any]) -> TrackedFile:
    path = str(item.get("path") or "")
    status = item.get("status")
    if status == "missing":
        return TrackedFile(path, FileStatus.MISSING)
    if status == "unreadable":
        return TrackedFile(path, FileStatus.UNREADABLE, error=str(item.get("error") or ""))
    if status == "registry":
        return _key(path, str(item.get("text") or ""), item.get("keep") is True)
    stat = TrackedFile(
        path,
        FileStatus.HASH_ONLY,
        size=_int(item, "size"),
        owner=str(item.get("owner") or ""),
        group=str(item.get("group") or ""),
        mtime=float(_int(item, "mtime")),
    )
    if status == "hash":
        return replace(stat, sha256=str(item.get("sha256") or "").lower())
    if status == "content":
        return _with_content(stat, str(item.get("data") or ""))
    raise OutputError(f"tracked: unknown status {status!r} of {path!r}")


def _key(path: str, text: str, keep: bool) -> TrackedFile:
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    if keep:
        return TrackedFile(path, FileStatus.OK, digest, len(data), content=text)
    return TrackedFile(path, FileStatus.HASH_ONLY, digest, len(data))


def _with_content(stat: TrackedFile, encoded: str) -> TrackedFile:
    """Text (UTF-8, no NUL early) keeps its content, as on Linux; anything else is
    hashed only. A UTF-16 file (Notepad's "Unicode") is binary by that rule."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise OutputError(f"tracked: content of {stat.path!r} is not base64 ({error})") from error
    digest = hashlib.sha256(data).hexdigest()
    if b"\0" not in data[:_SNIFF]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return replace(stat, status=FileStatus.OK, sha256=digest, content=text)
    return replace(stat, sha256=digest)


def _int(item: Mapping[str, Any], key: str) -> int:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
