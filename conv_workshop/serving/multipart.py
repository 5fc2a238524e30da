"""The image in a multipart/form-data body (the field `file`), parsed in a worker thread, not on the event loop.

python-multipart's parser is fed the buffered body a block at a time, with a deadline checked between blocks, so a
body built to make parsing slow (megabytes of near-boundaries or whitespace) costs at most decode_timeout_s of one
thread, and /health keeps answering meanwhile.
"""

from __future__ import annotations

import time

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..settings import ServiceSettings
from .input_errors import InputError, InputTooLargeError

BLOCK = 64 * 2**10
MAX_PART_HEADER_BYTES = 8 * 2**10  # a part's headers together (a Content-Disposition and a Content-Type)
HOW = "send the image as the form field 'file', e.g. curl -F file=@shirt.png"


def malformed(reason: str) -> InputError:
    return InputError(f"malformed multipart body ({reason}): {HOW}")


class _Parts:
    """python-multipart's callbacks: each part's headers (bounded) and, for the field `file`, its data."""

    def __init__(self, limits: ServiceSettings):
        self.limits, self.parts, self.header = limits, [], bytearray()

    def on_part_begin(self) -> None:
        if len(self.parts) >= self.limits.max_multipart_parts:
            raise malformed(f"more than {self.limits.max_multipart_parts} parts")
        self.parts.append({"headers": [], "data": [], "name": None})

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header.extend(data[start:end] + b"\x00")
        if len(self.header) > MAX_PART_HEADER_BYTES:
            raise malformed(f"a part's headers are over {MAX_PART_HEADER_BYTES // 1024} KiB")

    on_header_value = on_header_field

    def on_header_end(self) -> None:
        field, value, _ = bytes(self.header).split(b"\x00", 2)
        self.parts[-1]["headers"].append((field.strip().lower(), value))
        self.header.clear()

    def on_headers_finished(self) -> None:
        disposition = dict(self.parts[-1]["headers"]).get(b"content-disposition", b"")
        self.parts[-1]["name"] = parse_options_header(disposition)[1].get(b"name")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.parts[-1]["name"] == b"file":
            self.parts[-1]["data"].append(data[start:end])

    def callbacks(self) -> dict:
        return {name: getattr(self, name) for name in ("on_part_begin", "on_header_field", "on_header_value",
                                                       "on_header_end", "on_headers_finished", "on_part_data")}


def file_field(body: bytes, content_type: str, limits: ServiceSettings, deadline: float) -> bytes:
    """The bytes of the field `file`; InputError for a malformed body, a missing or repeated field or too many
    parts; InputTooLargeError if parsing runs past the deadline."""
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise malformed("no boundary in the content-type")
    parts = _Parts(limits)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        for start in range(0, len(body), BLOCK):
            if time.monotonic() > deadline:
                raise InputTooLargeError(f"the multipart body took more than {limits.decode_timeout_s:g} s to "
                                         f"parse: {HOW}")
            parser.write(body[start:start + BLOCK])
        parser.finalize()
    except MultipartParseError:
        raise malformed("the data does not follow the multipart format") from None
    files = [part for part in parts.parts if part["name"] == b"file"]
    if len(files) > 1:
        raise malformed("more than one field named 'file'")
    if not files:
        raise InputError(f"multipart body has no file field named 'file': {HOW}")
    return b"".join(files[0]["data"])
