"""What each accumulator kind's ``config_json`` may hold: keys, types, ranges, defaults.

One table, read twice: by the library check (``loader.validate``, so ``inspect-lib``,
``package pack`` and an upload refuse a bad config, naming package, accumulator and key, with
a did-you-mean for a misspelt key) and by the accumulator itself for its settings, so a
config that passed the check is the one that runs. docs/abi.md "Accumulator kinds" is the
same table in prose. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import DeclarationError, suggestion
from ..types import AccumulatorKind

#: The longest broker subject a stream accumulator may name.
MAX_SUBJECT = 200
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_DURABLE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUBJECT_RULE = (
    f"a subject is 1-{MAX_SUBJECT} characters: tokens of letters, digits, '_' and '-' "
    "separated by single dots (no wildcards '*' or '>', no spaces)"
)
_DURABLE_RULE = "a durable name is 1-64 letters, digits, '_' or '-'"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class IntSetting:
    """An integer setting: absent means ``default`` (None: no limit)."""

    key: str
    default: int | None
    minimum: int
    maximum: int
    meaning: str


#: Every kind's integer settings; a stream accumulator's are strings (below).
INT_SETTINGS: dict[AccumulatorKind, tuple[IntSetting, ...]] = {
    AccumulatorKind.PASSTHROUGH: (),
    AccumulatorKind.BATCH: (
        IntSetting("max_buffer_size", 100, 1, 1_000_000, "events per batch"),
        IntSetting("flush_interval_ms", 1000, 1, DAY_MS, "a partial batch's longest wait"),
    ),
    AccumulatorKind.STATE: (
        IntSetting("capacity", None, 1, 1_000_000, "boundaries kept (absent: all)"),
    ),
    AccumulatorKind.POLLING: (IntSetting("interval_ms", 5000, 1, DAY_MS, "time between polls"),),
}
STREAM_KEYS = ("subject", "durable")


def keys_of(kind: AccumulatorKind) -> tuple[str, ...]:
    """The config keys ``kind`` takes."""
    if kind is AccumulatorKind.STREAM:
        return STREAM_KEYS
    return tuple(s.key for s in INT_SETTINGS.get(kind, ()))


def _takes(kind: AccumulatorKind) -> str:
    if kind is AccumulatorKind.STREAM:
        return "takes only 'subject' and, optionally, 'durable'"
    allowed = keys_of(kind)
    return f"takes only {', '.join(repr(k) for k in allowed)}" if allowed else "takes none"


def config_problem(kind: AccumulatorKind, config: dict[str, Any]) -> str | None:
    """What is wrong with an accumulator's config, completing "<kind> accumulator 'a' ...",
    or None."""
    allowed = keys_of(kind)
    unknown = sorted(k for k in config if k not in allowed)
    if unknown:
        keys = ", ".join(f"'{k}'{suggestion(k, allowed)}" for k in unknown)
        return f"has unknown config key(s) {keys}; a {kind.label} accumulator {_takes(kind)}"
    if kind is AccumulatorKind.STREAM:
        return _stream_problem(config)
    for setting in INT_SETTINGS.get(kind, ()):
        if setting.key in config:
            problem = _int_problem(setting, config[setting.key])
            if problem is not None:
                return problem
    return None


def _int_problem(setting: IntSetting, value: Any) -> str | None:
    rule = f"an integer from {setting.minimum} to {setting.maximum} ({setting.meaning})"
    if not isinstance(value, int) or isinstance(value, bool):
        return f"has '{setting.key}' = {_json(value)}, which is not an integer; it is {rule}"
    if not setting.minimum <= value <= setting.maximum:
        return f"has '{setting.key}' = {value}, out of range; it is {rule}"
    return None


def int_setting(kind: AccumulatorKind, config: dict[str, Any], key: str) -> int | None:
    """A checked config's integer setting, or its default (None: no limit)."""
    setting = next(s for s in INT_SETTINGS[kind] if s.key == key)
    value = config.get(key, setting.default)
    if value is not None and _int_problem(setting, value) is not None:
        raise DeclarationError(f"config '{key}' = {value!r} did not pass the library check")
    return value if value is None else int(value)


def _stream_problem(config: dict[str, Any]) -> str | None:
    if "subject" not in config:
        return (
            "has no 'subject' in its config_json; name the broker subject its events come "
            'from, e.g. {"subject": "prices.btc"}'
        )
    subject = config["subject"]
    if not isinstance(subject, str):
        return f"has a 'subject' that is not a string ({_json(subject)}); {_SUBJECT_RULE}"
    if not subject:
        return f"has an empty 'subject'; {_SUBJECT_RULE}"
    if len(subject) > MAX_SUBJECT:
        return f"has a 'subject' of {len(subject)} characters; the limit is {MAX_SUBJECT}"
    for token in subject.split("."):
        if not token:
            return (
                f"has a 'subject' with an empty token ({subject!r}); a subject may not start "
                "or end with a dot or have two dots in a row"
            )
        if not _TOKEN.fullmatch(token):
            return f"has a 'subject' with an invalid token {token!r} ({subject!r}); {_SUBJECT_RULE}"
    if "durable" in config:
        durable = config["durable"]
        if not isinstance(durable, str):
            return f"has a 'durable' that is not a string ({_json(durable)}); {_DURABLE_RULE}"
        if not _DURABLE.fullmatch(durable):
            return f"has an invalid 'durable' {durable!r}; {_DURABLE_RULE}"
    return None


def _json(value: Any) -> str:
    return json.dumps(value)
