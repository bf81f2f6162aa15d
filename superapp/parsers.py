"""The API's JSON parser: DRF's, with bounds (its own module: DRF imports the parser classes while
`rest_framework.views` loads, so it must not import anything that imports the views)."""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework import exceptions as drf_exceptions
from rest_framework import parsers

MAX_JSON_DEPTH = 32  # objects/arrays nested deeper than this are refused (no API shape nests beyond ~4)
INT64 = 2**63


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -INT64 <= (value := int(text)) < INT64:
        raise ValueError("JSON integers must fit in 64 bits (the database's bigint).")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:32]} is out of range for a number.")
    return value


def _json_constant(text: str):
    raise ValueError(f"{text} is not valid JSON.")


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether `data` nests objects/arrays deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in value if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with bounds, so hostile JSON is a 400 `malformed_request` and never a 500: no NaN or
    Infinity, no number that overflows a float (`1e999`), no integer outside 64 bits, and at most
    MAX_JSON_DEPTH levels of nesting (1,000-deep JSON made the stdlib raise RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.load(codecs.getreader(encoding)(stream), parse_constant=_json_constant,
                             parse_int=_json_int, parse_float=_json_float)
        except RecursionError:
            raise drf_exceptions.ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise drf_exceptions.ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise drf_exceptions.ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
        return data
