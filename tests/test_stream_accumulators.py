"""Stream accumulators (``CLOACINA_ACC_STREAM``): declared from C and Rust, validated at load
with one sentence naming package, accumulator and field, pushed to like passthrough ones
when there is no broker, and shown with their subject and durable."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from cloacina_host import DeclarationError, PluginCallError, Runtime
from cloacina_host.cli import main
from cloacina_host.core import views
from cloacina_host.packaging.probe import probe_library
from cloacina_host.types import AccumulatorDecl, AccumulatorKind
from conftest import pack_library
from server_fixtures import Server, eventually

CONFIG_ENV = "CLOACINA_TEST_STREAM_CONFIG"
PREFIX = "package 'test-stream-config': stream accumulator 'configured' "
SUBJECT_RULE = (
    "a subject is 1-200 characters: tokens of letters, digits, '_' and '-' separated by "
    "single dots (no wildcards '*' or '>', no spaces)"
)
DURABLE_RULE = "a durable name is 1-64 letters, digits, '_' or '-'"
EMPTY_TOKEN = "a subject may not start or end with a dot or have two dots in a row"
NO_SUBJECT = (
    "has no 'subject' in its config_json; name the broker subject its events come from, "
    'e.g. {"subject": "prices.btc"}'
)


def accumulators(decls: tuple[AccumulatorDecl, ...]) -> dict[str, AccumulatorDecl]:
    return {a.name: a for a in decls}


# ---------------------------------------------------------------- declarations


def test_c_declarations_are_read(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    decl = rt.load(c_plugins["test_stream"])
    accs = accumulators(decl.accumulators)
    btc, eth, manual = accs["btc_ticks"], accs["eth_ticks"], accs["manual_ticks"]
    assert btc.kind is AccumulatorKind.STREAM and btc.kind.label == "stream"
    assert btc.config == {"subject": "prices.btc", "durable": "pricing"}
    assert (btc.subject, btc.durable, btc.has_function) == ("prices.btc", "pricing", True)
    assert eth.kind is AccumulatorKind.STREAM
    assert eth.config == {"subject": "prices.eth"}
    assert (eth.subject, eth.durable, eth.has_function) == ("prices.eth", None, False)
    assert manual.kind is AccumulatorKind.PASSTHROUGH
    assert (manual.subject, manual.durable) == (None, None)
    assert btc.to_dict() == {
        "name": "btc_ticks",
        "kind": "stream",
        "config": {"subject": "prices.btc", "durable": "pricing"},
        "has_function": True,
    }


def test_the_probe_reads_the_same_declarations(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    # the child process reports PackageDecl.to_dict(); "stream" must come back as STREAM
    probed = probe_library(c_plugins["test_stream"])
    assert probed.accumulators == rt.load(c_plugins["test_stream"]).accumulators
    assert accumulators(probed.accumulators)["btc_ticks"].kind is AccumulatorKind.STREAM


def test_rust_declarations_are_read(rt: Runtime, rust_plugins: dict[str, Path]) -> None:
    decl = rt.load(rust_plugins["stream-ticker"])
    accs = accumulators(decl.accumulators)
    assert set(accs) == {"quotes", "manual_quotes"}
    quotes = accs["quotes"]
    assert quotes.kind is AccumulatorKind.STREAM
    assert quotes.config == {"subject": "quotes.btc", "durable": "quote-watch"}
    assert (quotes.subject, quotes.durable, quotes.has_function) == (
        "quotes.btc",
        "quote-watch",
        True,
    )
    assert accs["manual_quotes"].kind is AccumulatorKind.PASSTHROUGH
    (reactor,) = decl.reactors
    assert reactor.accumulators == ("quotes", "manual_quotes")


# ---------------------------------------------------------------- validation

INVALID = [
    ("null config", None, NO_SUBJECT),
    ("empty config", "{}", NO_SUBJECT),
    ("durable only", '{"durable": "pricing"}', NO_SUBJECT),
    (
        "unknown key",
        '{"subject": "prices.btc", "queue": "q"}',
        "has unknown config key(s) 'queue'; a stream accumulator takes only 'subject' and, "
        "optionally, 'durable'",
    ),
    (
        "misspelt subject",
        '{"subjects": "prices.btc", "max_buffer_size": 3}',
        "has unknown config key(s) 'max_buffer_size', 'subjects' (did you mean 'subject'?); "
        "a stream accumulator takes only 'subject' and, optionally, 'durable'",
    ),
    (
        "number subject",
        '{"subject": 42}',
        f"has a 'subject' that is not a string (42); {SUBJECT_RULE}",
    ),
    (
        "null subject",
        '{"subject": null}',
        f"has a 'subject' that is not a string (null); {SUBJECT_RULE}",
    ),
    ("empty subject", '{"subject": ""}', f"has an empty 'subject'; {SUBJECT_RULE}"),
    (
        "long subject",
        orjson.dumps({"subject": "a" * 201}).decode(),
        "has a 'subject' of 201 characters; the limit is 200",
    ),
    (
        "star wildcard",
        '{"subject": "prices.*"}',
        f"has a 'subject' with an invalid token '*' ('prices.*'); {SUBJECT_RULE}",
    ),
    (
        "tail wildcard",
        '{"subject": "prices.>"}',
        f"has a 'subject' with an invalid token '>' ('prices.>'); {SUBJECT_RULE}",
    ),
    (
        "only a wildcard",
        '{"subject": ">"}',
        f"has a 'subject' with an invalid token '>' ('>'); {SUBJECT_RULE}",
    ),
    (
        "space",
        '{"subject": "prices.btc usd"}',
        f"has a 'subject' with an invalid token 'btc usd' ('prices.btc usd'); {SUBJECT_RULE}",
    ),
    (
        "non-ascii",
        '{"subject": "prix.\\u00e9"}',
        f"has a 'subject' with an invalid token 'é' ('prix.é'); {SUBJECT_RULE}",
    ),
    (
        "leading dot",
        '{"subject": ".prices"}',
        f"has a 'subject' with an empty token ('.prices'); {EMPTY_TOKEN}",
    ),
    (
        "trailing dot",
        '{"subject": "prices."}',
        f"has a 'subject' with an empty token ('prices.'); {EMPTY_TOKEN}",
    ),
    (
        "double dot",
        '{"subject": "prices..btc"}',
        f"has a 'subject' with an empty token ('prices..btc'); {EMPTY_TOKEN}",
    ),
    (
        "number durable",
        '{"subject": "prices.btc", "durable": 7}',
        f"has a 'durable' that is not a string (7); {DURABLE_RULE}",
    ),
    (
        "empty durable",
        '{"subject": "prices.btc", "durable": ""}',
        f"has an invalid 'durable' ''; {DURABLE_RULE}",
    ),
    (
        "spaced durable",
        '{"subject": "prices.btc", "durable": "my durable"}',
        f"has an invalid 'durable' 'my durable'; {DURABLE_RULE}",
    ),
    (
        "dotted durable",
        '{"subject": "prices.btc", "durable": "a.b"}',
        f"has an invalid 'durable' 'a.b'; {DURABLE_RULE}",
    ),
    (
        "long durable",
        orjson.dumps({"subject": "prices.btc", "durable": "d" * 65}).decode(),
        f"has an invalid 'durable' '{'d' * 65}'; {DURABLE_RULE}",
    ),
]


@pytest.mark.parametrize(
    ("config", "problem"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_an_invalid_stream_config_is_refused(
    rt: Runtime,
    c_plugins: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    config: str | None,
    problem: str,
) -> None:
    if config is None:
        monkeypatch.delenv(CONFIG_ENV, raising=False)
    else:
        monkeypatch.setenv(CONFIG_ENV, config)
    before = rt.counts()
    with pytest.raises(DeclarationError) as err:
        rt.load(c_plugins["test_stream_config"])
    assert str(err.value) == PREFIX + problem
    assert err.value.names == {"package": "test-stream-config"}
    assert rt.counts() == before


VALID = [
    ("one token", {"subject": "prices"}),
    ("every token character", {"subject": "Prices-BTC_9.usd", "durable": "Pricing-2_b"}),
    # 200 and 64 characters: the limits (one more is refused above)
    ("longest", {"subject": "s" + ".a" * 99 + "z", "durable": "d" * 64}),
]


@pytest.mark.parametrize("config", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_a_valid_stream_config_loads(
    rt: Runtime,
    c_plugins: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, str],
) -> None:
    monkeypatch.setenv(CONFIG_ENV, orjson.dumps(config).decode())
    decl = rt.load(c_plugins["test_stream_config"])
    (acc,) = decl.accumulators
    assert (acc.subject, acc.durable) == (config["subject"], config.get("durable"))
    (view,) = views.accumulator_views(rt)
    assert (view["kind"], view["subject"], view["durable"]) == (
        "stream",
        config["subject"],
        config.get("durable"),
    )


# ---------------------------------------------------------------- embedded behaviour


def test_a_push_to_a_stream_accumulator_fires_like_passthrough(
    rt: Runtime, c_plugins: dict[str, Path]
) -> None:
    rt.load(c_plugins["test_stream"])
    # through the stream accumulator's function (it wraps the event)
    assert rt.push("btc_ticks", {"price": 1}) == 1
    assert rt.outputs("ticker")[-1].outputs == {"seen": [{"streamed": {"price": 1}}, None]}
    # the passthrough next to it: the reactor keeps the stream's boundary in its cache
    assert rt.push("manual_ticks", {"price": 2}) == 1
    assert rt.outputs("ticker")[-1].outputs == {"seen": [{"streamed": {"price": 1}}, {"price": 2}]}
    assert rt.reactor("TickerReactor").stats.fires == 2
    # without a function the event is the boundary; a sequential reactor fires per event
    assert rt.push_many("eth_ticks", [{"price": 3}, {"price": 4}]) == 2
    assert [r.outputs for r in rt.outputs("eth_graph")] == [
        {"eth_seen": {"price": 3}},
        {"eth_seen": {"price": 4}},
    ]
    counts = {a.name: a.events_total for a in rt.accumulators()}
    assert counts == {"btc_ticks": 1, "manual_ticks": 1, "eth_ticks": 2}


def test_a_rust_stream_accumulator_runs_its_function(
    rt: Runtime, rust_plugins: dict[str, Path]
) -> None:
    rt.load(rust_plugins["stream-ticker"])
    assert rt.push("quotes", {"symbol": "BTCUSD", "price": 42000}) == 1
    streamed = {"symbol": "BTCUSD", "price": 42000.0, "via": "stream"}
    assert rt.outputs("quote_watch")[-1].outputs == {
        "watch": {"streamed": streamed, "manual": None}
    }
    # an event its typed function cannot decode fails that push, like a passthrough's
    with pytest.raises(PluginCallError, match="cannot decode parameter `quote`"):
        rt.push("quotes", {"symbol": "BTCUSD"})
    assert rt.reactor("QuoteReactor").stats.fires == 1
    assert rt.push("manual_quotes", 7) == 1
    assert rt.outputs("quote_watch")[-1].outputs == {"watch": {"streamed": streamed, "manual": 7}}


# ---------------------------------------------------------------- views


def test_views_show_kind_subject_and_durable(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    rt.load(c_plugins["test_stream"])
    rt.push("btc_ticks", {"price": 1})
    items = {i["name"]: i for i in views.accumulator_views(rt)}
    btc, eth, manual = items["btc_ticks"], items["eth_ticks"], items["manual_ticks"]
    assert (btc["kind"], btc["subject"], btc["durable"]) == ("stream", "prices.btc", "pricing")
    assert btc["events_total"] == 1 and btc["reactor"] == "TickerReactor"
    assert (eth["kind"], eth["subject"], eth["durable"]) == ("stream", "prices.eth", None)
    assert manual["kind"] == "passthrough"
    assert "subject" not in manual and "durable" not in manual
    samples = {a.name: a.kind for r in views.sample(rt).reactors for a in r.accumulators}
    assert samples == {"btc_ticks": "stream", "manual_ticks": "passthrough", "eth_ticks": "stream"}


def test_package_inspect_shows_the_stream(c_plugins: dict[str, Path], tmp_path: Path) -> None:
    archive = pack_library(c_plugins["test_stream"], tmp_path / "dist")
    runner = CliRunner()
    as_json = runner.invoke(main, ["package", "inspect", str(archive), "-o", "json"])
    assert as_json.exit_code == 0, as_json.output
    accs = {a["name"]: a for a in orjson.loads(as_json.stdout)["declarations"]["accumulators"]}
    assert accs["btc_ticks"]["kind"] == "stream"
    assert accs["btc_ticks"]["config"] == {"subject": "prices.btc", "durable": "pricing"}
    assert accs["eth_ticks"]["config"] == {"subject": "prices.eth"}
    table = runner.invoke(main, ["package", "inspect", str(archive)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    (row,) = [line for line in table.stdout.splitlines() if line.strip().startswith("btc_ticks")]
    assert "stream" in row and '{"subject":"prices.btc","durable":"pricing"}' in row


# ---------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def stream_tenant(
    server: Server, c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """A tenant of the shared server with test-stream loaded, and its admin key."""
    archive = pack_library(c_plugins["test_stream"], tmp_path_factory.mktemp("stream-archive"))
    tenant, key = server.tenant()
    assert server.upload(tenant, key, archive).json()["status"] == "loaded"
    return tenant, key


def test_the_server_lists_and_feeds_stream_accumulators(
    server: Server, stream_tenant: tuple[str, str]
) -> None:
    tenant, key = stream_tenant
    base = f"/v1/tenants/{tenant}"
    listed = server.ok("GET", f"{base}/accumulators", key)
    items = {i["name"]: i for i in listed["items"]}
    assert set(items) == {"btc_ticks", "eth_ticks", "manual_ticks"}
    btc, eth, manual = items["btc_ticks"], items["eth_ticks"], items["manual_ticks"]
    assert (btc["kind"], btc["subject"], btc["durable"]) == ("stream", "prices.btc", "pricing")
    assert (eth["kind"], eth["subject"], eth["durable"]) == ("stream", "prices.eth", None)
    assert manual["kind"] == "passthrough" and "subject" not in manual

    # HTTP: like a passthrough push, through the stream accumulator's function
    pushed = server.ok("POST", f"{base}/accumulators/btc_ticks/events", key, json={"price": 5})
    assert pushed == {"accumulator": "btc_ticks", "fires": 1}
    graph = server.ok("GET", f"{base}/graphs/ticker", key)
    assert graph["outputs"][-1]["outputs"] == {"seen": [{"streamed": {"price": 5}}, None]}

    # WebSocket: every frame is one event
    with server.ws("/v1/ws/accumulator/eth_ticks", key) as ws:
        ws.send('{"price": 6}')
        ws.send('{"price": 7}')

    def eth_runs() -> list[object]:
        runs = server.ok("GET", f"{base}/graphs/eth_graph", key)["outputs"]
        return [r["outputs"] for r in runs] if len(runs) == 2 else []

    assert eventually(eth_runs) == [{"eth_seen": {"price": 6}}, {"eth_seen": {"price": 7}}]
    after = {i["name"]: i for i in server.ok("GET", f"{base}/accumulators", key)["items"]}
    assert (after["btc_ticks"]["events_total"], after["eth_ticks"]["events_total"]) == (1, 2)
