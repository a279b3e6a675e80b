"""``cloacinactl`` profiles: named (server, key, tenant) triples in ``config.toml``.

The file lives in the CLI's home (``$CLOACINA_HOME`` or ``~/.cloacina``)::

    current = "acme-prod"

    [profiles.acme-prod]
    server = "http://127.0.0.1:8080"
    key = "clk_…"
    tenant = "acme"

It holds API keys, so it is written with mode 0600 (atomically, via a temporary file).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from ..errors import CloacinaError

CONFIG_FILE = "config.toml"
FIELDS = ("server", "key", "tenant")


def default_home() -> Path:
    """``$CLOACINA_HOME`` or ``~/.cloacina`` (the same rule as ``app.default_data_dir``, kept
    here so the CLI's remote commands need not import the store)."""
    return Path(os.environ.get("CLOACINA_HOME") or Path.home() / ".cloacina")


class ProfileError(CloacinaError):
    """The profile file is unreadable, or a named profile does not exist."""

    code = "invalid_profile"


@dataclass(frozen=True)
class Profile:
    """Where and as whom remote commands talk; None means "not set in this profile"."""

    name: str
    server: str | None = None
    key: str | None = None
    tenant: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {f: v for f in FIELDS if (v := getattr(self, f))}


@dataclass
class Config:
    """The profile file's content."""

    path: Path
    current: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> Config:
        """Read ``home/config.toml``; a missing file is an empty config."""
        path = Path(home) / CONFIG_FILE
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"cannot read the profile file '{path}': {exc}") from None
        profiles: dict[str, Profile] = {}
        raw = data.get("profiles", {})
        if not isinstance(raw, dict):
            raise ProfileError(f"'{path}': [profiles] must be a table")
        for name, values in raw.items():
            if not isinstance(values, dict):
                raise ProfileError(f"'{path}': profile '{name}' must be a table")
            profiles[name] = Profile(name, **{f: _text(values.get(f)) for f in FIELDS})
        current = data.get("current")
        return cls(path, current if isinstance(current, str) else None, profiles)

    def get(self, name: str) -> Profile:
        """The named profile, or a :class:`ProfileError` saying how to create it."""
        try:
            return self.profiles[name]
        except KeyError:
            raise ProfileError(
                f"no profile '{name}' in '{self.path}'; create it with "
                f"`cloacinactl profile set {name} --server URL --key KEY --tenant NAME`"
            ) from None

    def active(self, name: str | None) -> Profile | None:
        """The profile remote commands use: ``name`` when given, else the current one."""
        if name:
            return self.get(name)
        if self.current and self.current in self.profiles:
            return self.profiles[self.current]
        return None

    def set(self, name: str, **values: str | None) -> Profile:
        """Create or update a profile; values that are None keep what the profile had."""
        if not name.strip():
            raise ProfileError("a profile needs a name")
        old = self.profiles.get(name, Profile(name))
        new = replace(old, **{k: v for k, v in values.items() if v is not None})
        self.profiles[name] = new
        return new

    def use(self, name: str) -> Profile:
        profile = self.get(name)
        self.current = name
        return profile

    def save(self) -> None:
        data: dict[str, Any] = {}
        if self.current:
            data["current"] = self.current
        data["profiles"] = {n: p.to_dict() for n, p in sorted(self.profiles.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-", suffix=".toml")
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp files are 0600 already
                tomli_w.dump(data, out)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
