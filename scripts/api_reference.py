"""Write docs/python-api.md: the embedded Python API (``cloacina_host.__all__``), read from
the package's own signatures and docstrings, so the reference cannot drift from the code
(``tests/test_api_reference.py`` regenerates it and compares).

    python scripts/api_reference.py [--check]
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import cloacina_host

OUT = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"

INTRO = """# Python API reference

The host as a library: `from cloacina_host import Host`. One `Host` holds any number of
tenants; each tenant is a `Runtime` that loads packages (compiled libraries) in the fixed
order of [architecture.md](architecture.md#semantics), binds graphs to reactors by name,
takes events and keeps every graph's recent runs. It runs everything in this process (no
worker isolation: that is the server's, [isolation.md](isolation.md)) and logs through the
standard library's `logging` (logger `cloacina`), silently until the application
configures logging.

```python
from cloacina_host import Host

host = Host()
acme = host.runtime("acme")
acme.load("libpricing_publisher.so")
acme.load("libpricing_subscriber.so")
acme.push("raw_prices", {"symbol": "BTCUSD", "price": 42000})
print(acme.outputs("price_consumer")[-1].outputs)   # {'publish': {'signal': 0}}
host.close()
```

Every error is a `CloacinaError` (below) whose message names what it is about.

This page is generated from the docstrings by `scripts/api_reference.py` (`make api-docs`).
"""


def _doc(obj: object) -> str:
    """The object's own docstring (never one inherited from ``object``)."""
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "").strip()


def _signature(name: str, obj: object) -> str:
    try:
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name
    return f"{name}{sig}".replace("'", "")  # annotations are strings (PEP 563)


def _members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by ``cls`` itself, ``__init__`` first."""
    out = []
    for name, member in cls.__dict__.items():
        if name.startswith("_") and name != "__init__":
            continue
        methodlike = inspect.isfunction(member) or isinstance(member, staticmethod | classmethod)
        if isinstance(member, property) or methodlike:
            out.append((name, member))
    return sorted(out, key=lambda m: m[0] != "__init__")


def _class(name: str, cls: type) -> list[str]:
    lines = [f"## `{name}`", ""]
    doc = _doc(cls)
    if doc:
        lines += [doc, ""]
    for member_name, member in _members(cls):
        if isinstance(member, property):
            lines += [f"### `{name}.{member_name}` (property)", ""]
            target: object = member.fget
        else:
            func = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            shown = name if member_name == "__init__" else f"{name}.{member_name}"
            sig = _signature(shown, func).replace("(self, ", "(").replace("(self)", "()")
            lines += [f"### `{sig}`", ""]
            target = func
        doc = _doc(target)
        if doc:
            lines += [doc, ""]
    return lines


def _errors(names: list[str]) -> list[str]:
    lines = ["## Errors", "", "| error | code | what it means |", "|---|---|---|"]
    for name in names:
        cls = getattr(cloacina_host, name)
        first = _doc(cls).split("\n\n")[0].replace("\n", " ")
        lines.append(f"| `{name}` | `{getattr(cls, 'code', '')}` | {first} |")
    return [*lines, ""]


def render() -> str:
    names = [n for n in cloacina_host.__all__ if not n.startswith("_")]
    errors = [n for n in names if n.endswith("Error")]
    lines = [INTRO]
    for name in ("Host", "Runtime", "GraphRun", "UnloadReport"):
        lines += _class(name, getattr(cloacina_host, name))
    rest = [
        n
        for n in names
        if n not in errors and n not in ("Host", "Runtime", "GraphRun", "UnloadReport")
    ]
    for name in rest:
        obj = getattr(cloacina_host, name)
        if inspect.isfunction(obj):
            lines += [f"## `{_signature(name, obj)}`", "", _doc(obj), ""]
        else:
            lines += _class(name, obj)
    lines += _errors(errors)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run `make api-docs`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
