"""Result packs: a lease's result files carried home in a few checked zip files.

A lent GPU machine sends back at most eight files of 16 MiB (64 MiB in all). :func:`pack` puts
result files into at most :data:`PACK_MAX_FILES` zip files of at most :data:`PACK_MAX_BYTES`
(the eighth file is the command's log), each with a :data:`MANIFEST`: every file's SHA-256, the
part's number and the count of parts, the profile and the commit. :func:`unpack` checks every
file against its manifest, refuses paths outside the results root and a set with a part missing,
and writes each file atomically into the results root (``handlib queue unpack``).
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

from handlib import results
from handlib.paths import results_root

#: What a lent machine sends back: 8 files of 16 MiB. The packs take 7 (the eighth is the
#: command's log) of 15 MiB, room left for the zip's own overhead.
PACK_MAX_FILES = 7
PACK_MAX_BYTES = 15 * 2**20
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(files: list[str], out: Path, *, profile: str, max_files: int = PACK_MAX_FILES,
         max_bytes: int = PACK_MAX_BYTES) -> list[Path]:
    """Zip result files (paths relative to the results root) of ``profile`` into
    at most ``max_files`` files of at most ``max_bytes`` each under ``out``, each with a
    :data:`MANIFEST` (its files' SHA-256, the part's number, the commit). Files are placed
    largest first into the first part with room (each file's compressed size measured); a set
    that does not fit is refused, naming its largest files, before anything is written."""
    root = results_root()
    # each file's room in a part: its compressed bytes, its zip headers (local and central,
    # the name in each) and its manifest line (the name and a SHA-256)
    sizes = {name: _compressed_size(root / name) + 3 * len(name.encode()) + 200
             for name in files}
    capacity = max_bytes - 1024  # the manifest's own lines and the zip's end record
    parts: list[list[str]] = []
    room: list[int] = []
    for name in sorted(files, key=lambda n: -sizes[n]):
        slot = next((i for i, free in enumerate(room) if free >= sizes[name]), None)
        if slot is None:
            parts.append([])
            room.append(capacity)
            slot = len(parts) - 1
        parts[slot].append(name)
        room[slot] -= sizes[name]
    if len(parts) > max_files or any(free < 0 for free in room):
        largest = sorted(sizes, key=lambda n: -sizes[n])[:5]
        raise ValueError(
            f"the results do not fit in {max_files} files of {_size(max_bytes)} "
            f"({_size(sum(sizes.values()))} compressed in {len(files)} files; largest: "
            + ", ".join(f"{n} ({_size(sizes[n])})" for n in largest)
            + "): pack fewer chapters per call (--chapter)")
    out.mkdir(parents=True, exist_ok=True)
    commit = results.git_state()
    written = []
    for number, names in enumerate(parts, 1):
        target = out / f"results-{profile}-{number}-of-{len(parts)}.zip"
        manifest = {"profile": profile, "part": number, "parts": len(parts), "git": commit,
                    "files": {name: sha256_file(root / name) for name in sorted(names)}}

        def write(handle, names=names, manifest=manifest):
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
                for name in sorted(names):
                    archive.write(root / name, name)

        results.atomic_write(target, write, binary=True)
        if target.stat().st_size > max_bytes:
            raise ValueError(f"{target} came out at {target.stat().st_size} bytes, over "
                             f"{max_bytes}: a packing bug; the files are still in {root}")
        written.append(target)
    return written


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.0f} KiB"


def _compressed_size(path: Path) -> int:
    data = path.read_bytes()
    return len(data) if path.suffix == ".npz" else len(zlib.compress(data, 6))


def unpack(paths: list[Path]) -> dict[str, int]:
    """Check and write the result packs at ``paths`` (zip files, or folders of them) into the
    results root: every file's SHA-256 must match its manifest and its path stay inside the
    results root; a missing part is reported. Returns {"parts", "files", "unchanged"}."""
    packs = [p for path in map(Path, paths)
             for p in (sorted(path.glob("results-*.zip")) if path.is_dir() else [path])]
    if not packs:
        raise FileNotFoundError(f"no result packs (results-*.zip) in {', '.join(map(str, paths))}")
    root = results_root().resolve()
    counts = {"parts": 0, "files": 0, "unchanged": 0}
    expected: dict[str, int] = {}
    for pack_path in packs:
        if not pack_path.is_file():
            raise FileNotFoundError(f"result pack {pack_path} does not exist")
        if not zipfile.is_zipfile(pack_path):
            raise ValueError(f"{pack_path} is not a zip file (truncated or damaged in transit?): "
                             "copy it again from the machine that packed it")
        with zipfile.ZipFile(pack_path) as archive:
            try:
                manifest = json.loads(archive.read(MANIFEST))
            except KeyError:
                raise ValueError(f"{pack_path} has no {MANIFEST}: it is not a result pack made "
                                 "by `handlib queue run --out` (handlib.packs)") from None
            expected[manifest["profile"]] = manifest["parts"]
            for name, digest in manifest["files"].items():
                target = (root / name).resolve()
                if root not in target.parents:
                    raise ValueError(f"{pack_path}: {name!r} would be written outside {root}")
                data = archive.read(name)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise ValueError(f"{pack_path}: {name} does not match its manifest's "
                                     "SHA-256: the pack is damaged; copy it again")
                if target.is_file() and sha256_file(target) == digest:
                    counts["unchanged"] += 1
                    continue
                results.atomic_write(target, lambda handle, data=data: handle.write(data),
                                     binary=True)
                counts["files"] += 1
        counts["parts"] += 1
    for profile, parts in expected.items():
        if counts["parts"] < parts:
            raise ValueError(f"only {counts['parts']} of the {parts} parts of the {profile} "
                             "results were given: the files unpacked so far are written; give "
                             "the missing parts too")
    return counts
