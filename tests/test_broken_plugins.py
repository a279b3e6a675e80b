"""The corpus of broken libraries: each is refused or contained with a clear error,
and the host keeps serving what was already loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacina_host import (
    AbiError,
    BindingError,
    CloacinaError,
    DeclarationError,
    DuplicateNameError,
    LoadError,
    PluginCallError,
    Runtime,
    TopologyError,
)

CASES = [
    ("broken_no_entry", AbiError, "does not export 'cloacina_plugin_entry'"),
    ("broken_null_entry", AbiError, "cloacina_plugin_entry() returned NULL"),
    (
        "broken_wrong_magic",
        AbiError,
        "descriptor magic is b'FIDIUS\\x00\\x00', expected b'CLOACINA'",
    ),
    (
        "broken_wrong_version",
        AbiError,
        "was built against ABI 2; this host speaks ABI 1: rebuild it against ABI 1",
    ),
    ("broken_small", AbiError, "descriptor claims 8 bytes, too small to hold size, magic and ABI"),
    ("broken_truncated", AbiError, "descriptor is 24 bytes; ABI 1 needs at least 104"),
    (
        "broken_null_names",
        DeclarationError,
        "(package 'broken-null-names'): reactors[0].name is NULL",
    ),
    (
        "broken_duplicates",
        DeclarationError,
        "package 'broken-duplicates': reactor 'Twice' is declared twice",
    ),
    (
        "broken_copycat",
        DuplicateNameError,
        "reactor 'PriceReactor' of package 'pricing-copycat' is already registered in "
        "tenant 'acme' by package 'pricing-publisher'",
    ),
    (
        "broken_bad_inputs",
        BindingError,
        "reads accumulator(s) ['gamma'] that reactor 'PriceReactor' does not declare",
    ),
    ("broken_cycle", TopologyError, "graph 'loop' in package 'broken-cycle': cycle detected: "),
    ("broken_unknown_node", TopologyError, "node 'start' points to unknown node 'ghost'"),
    ("broken_no_function", TopologyError, "node 'start' has no function"),
    ("broken_unknown_kind", DeclarationError, "accumulator 'broken_acc' kind has unknown value 9"),
    (
        "broken_bad_config",
        DeclarationError,
        "accumulator 'broken_acc' config_json is not valid JSON",
    ),
    (
        "broken_wildcard_subject",
        DeclarationError,
        "package 'broken-wildcard-subject': stream accumulator 'broken_acc' has a 'subject' "
        "with an invalid token '*' ('prices.*')",
    ),
    (
        "broken_batch_type",
        DeclarationError,
        "package 'broken-batch-type': batch accumulator 'broken_acc' has 'max_buffer_size' = "
        '"2", which is not an integer; it is an integer from 1 to 1000000 (events per batch)',
    ),
    (
        "broken_misspelt_key",
        DeclarationError,
        "package 'broken-misspelt-key': batch accumulator 'broken_acc' has unknown config "
        "key(s) 'max_bufer_size' (did you mean 'max_buffer_size'?); a batch accumulator takes "
        "only 'max_buffer_size', 'flush_interval_ms'",
    ),
    (
        "broken_init_fails",
        PluginCallError,
        "init hook in package 'broken-init' failed (plugin_error): init refused: no license",
    ),
]


@pytest.mark.parametrize(("lib", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_broken_library_is_refused(
    pricing: Runtime, c_plugins: dict[str, Path], lib: str, error: type[CloacinaError], text: str
) -> None:
    before = pricing.counts()
    with pytest.raises(error) as err:
        pricing.load(c_plugins[lib])
    assert text in str(err.value)
    assert pricing.counts() == before
    # what was loaded keeps serving
    assert pricing.push("raw_prices", {"price": 3}) == 1
    assert pricing.outputs("price_consumer")[-1].ok


def test_not_a_library(pricing: Runtime, tmp_path: Path) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_text("this is not an ELF file")
    with pytest.raises(LoadError, match=r"cannot open library '.*libfake.so'"):
        pricing.load(fake)
    with pytest.raises(LoadError, match="does not exist"):
        pricing.load(tmp_path / "missing.so")
    assert pricing.push("raw_prices", {"price": 3}) == 1


def test_refused_library_copy_is_not_left_behind(
    pricing: Runtime, c_plugins: dict[str, Path], tmp_path: Path
) -> None:
    rt = Runtime("scratch", scratch_dir=tmp_path)
    with pytest.raises(AbiError):
        rt.load(c_plugins["broken_wrong_magic"])
    rt.load(c_plugins["pricing-publisher"])
    assert list(tmp_path.iterdir()) == []  # copies are unlinked right after dlopen
    rt.close()
