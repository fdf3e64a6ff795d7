"""The docs stay true: every Python block of README.md and docs/*.md runs against a live
receiver, the configuration reference lists every argument and environment variable
with the core's default, the troubleshooting page explains every ``stats()`` counter,
and ``bench --plot`` draws its chart."""

from __future__ import annotations

import inspect
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import otlp
import otlp.otel
from otlp import _env, _native, cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CORE = _native._defaults()

# A block that cannot run says why just before it; there should be very few.
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->")
MAX_NOT_RUN = 3


def _python_blocks() -> Iterator[tuple[str, str, str | None]]:
    """(``file:line``, code, reason it is not run or None) for every ```python block."""
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```python":
                start = i
                i += 1
                body = []
                while lines[i].strip() != "```":
                    body.append(lines[i])
                    i += 1
                before = next((line for line in reversed(lines[:start]) if line.strip()), "")
                mark = NOT_RUN.search(before)
                yield f"{path.name}:{start + 1}", "\n".join(body) + "\n", mark.group(1) if mark else None
            i += 1


BLOCKS = list(_python_blocks())

# Collectors a block names (the usual ports, any host) and paths it writes to: the
# runner points them at the test receiver and a temporary directory.
_ENDPOINT = re.compile(r"https?://[\w.-]+:431[78]")
_PATH = re.compile(r"\"/var/lib/([^\"]*)\"")


@pytest.fixture(scope="module")
def receiver() -> Iterator[_native.Receiver]:
    r = _native.Receiver("127.0.0.1:0")
    yield r
    r.stop()


def test_the_docs_have_python_blocks() -> None:
    names = {where.split(":")[0] for where, _, _ in BLOCKS}
    assert {"README.md", "quickstart.md", "configuration.md", "troubleshooting.md"} <= names


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("where", "code", "not_run"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_python_block_runs(
    where: str, code: str, not_run: str | None, receiver: _native.Receiver, tmp_path: Path
) -> None:
    if not_run is not None:
        pytest.skip(f"not run: {not_run}")
    before = receiver.counts()
    script = _ENDPOINT.sub(receiver.endpoint, code)
    script = _PATH.sub(lambda m: repr(str(tmp_path / m.group(1))), script)
    (tmp_path / "block.py").write_text(script, encoding="utf-8")
    env = {
        **os.environ,
        # Blocks that read the environment (from_env, the otlp.otel providers, the sdk
        # exporters) find the receiver there.
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    env.pop("OTLP_STRICT", None)
    done = subprocess.run(
        [sys.executable, "-W", "error", "block.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"
    # An exporter that lost telemetry says so on the `otlp` logger at exit.
    assert "last error:" not in done.stderr, f"{where} lost telemetry:\n{done.stderr}"
    assert receiver.counts()["errors"] == before["errors"], f"{where} sent what the receiver refused"


def test_blocks_not_run_are_few_and_say_why() -> None:
    skipped = [(where, why) for where, _, why in BLOCKS if why is not None]
    assert all(why for _, why in skipped), skipped
    assert len(skipped) <= MAX_NOT_RUN, f"too many blocks not run: {skipped}"


def _anchor(heading: str) -> str:
    """The fragment a repository page gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_docs_resolve() -> None:
    broken = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target:
                continue
            file, _, fragment = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.name}: {target}")
            elif fragment and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
                if fragment not in {_anchor(h) for h in headings}:
                    broken.append(f"{path.name}: {target}")
    assert broken == []


# -- configuration reference ---------------------------------------------------------


def _sections(path: Path) -> dict[str, list[list[str]]]:
    """Each heading's table rows (cells), header and separator rows left out."""
    out: dict[str, list[list[str]]] = {}
    heading = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            out.setdefault(heading, [])
        elif line.startswith("|") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("Argument", "Variable", "Counter", "Key", "Provider", "Piece"):
                continue
            out[heading].append(cells)
    return out


CONFIG = _sections(ROOT / "docs" / "configuration.md")


def _shown(value: Any) -> str:
    """How a default is written in the reference: a code span of the Python value."""
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def _names(cell: str) -> list[str]:
    """The backticked names of a cell, ``{A,B}`` expanded."""
    names = []
    for name in re.findall(r"`([^`]+)`", cell):
        braces = re.search(r"\{([A-Z,]+)\}", name)
        if braces:
            names += [name.replace(braces.group(0), part) for part in braces.group(1).split(",")]
        else:
            names.append(name)
    return names


def _arguments(heading: str) -> dict[str, str]:
    """Argument name -> default cell of a section's table."""
    rows = CONFIG[heading]
    return {name: row[1] for row in rows for name in _names(row[0])}


@pytest.mark.parametrize(
    ("heading", "made"),
    [
        ("`otlp.BatchConfig`", otlp.BatchConfig()),
        ("`otlp.RetryPolicy`", otlp.RetryPolicy()),
        ("`otlp.CircuitBreaker`", otlp.CircuitBreaker()),
        ("`otlp.MetricsConfig`", otlp.MetricsConfig()),
        ("`otlp.TLS`", otlp.TLS()),
        ("`otlp.QueueConfig`", otlp.QueueConfig()),
    ],
)
def test_every_config_field_is_documented_with_its_default(heading: str, made: Any) -> None:
    documented = _arguments(heading)
    fields = made._asdict()
    assert set(documented) == set(fields), (heading, set(documented) ^ set(fields))
    for name, value in fields.items():
        assert documented[name].startswith(_shown(value)), (heading, name, documented[name], value)


def _check_signature(documented: Mapping[str, str], fn: Any, what: str) -> None:
    params = {
        name: p
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    assert set(documented) == set(params), (what, set(documented) ^ set(params))
    for name, p in params.items():
        shown = "(required)" if p.default is p.empty else _shown(p.default)
        assert documented[name].startswith(shown), (what, name, documented[name], shown)


def test_every_exporter_argument_is_documented_with_its_default() -> None:
    _check_signature(_arguments("`otlp.Exporter`"), _native.Exporter, "otlp.Exporter")


def test_the_sampler_and_logging_handler_arguments_are_documented() -> None:
    _check_signature(_arguments("`otlp.Sampler`"), otlp.Sampler, "otlp.Sampler")
    _check_signature(_arguments("`otlp.LoggingHandler`"), otlp.LoggingHandler, "otlp.LoggingHandler")


def _pieces(heading: str) -> dict[str, dict[str, str]]:
    """Piece (class) name -> argument -> default cell, for tables whose first column
    names the piece (blank: the row above's)."""
    out: dict[str, dict[str, str]] = {}
    pieces: list[str] = []
    for row in CONFIG[heading]:
        pieces = _names(row[0]) or pieces
        for piece in pieces:
            for name in _names(row[1]):
                out.setdefault(piece, {})[name] = row[2]
    return out


def test_the_otel_providers_arguments_are_documented() -> None:
    documented = _pieces("`otlp.otel` providers")
    for name in ("TracerProvider", "MeterProvider", "LoggerProvider", "LoggingHandler"):
        _check_signature(documented[name], getattr(otlp.otel, name), f"otlp.otel.{name}")


def test_the_sdk_pieces_arguments_are_documented() -> None:
    import otlp.sdk

    documented = _pieces("`otlp.sdk` pieces")
    # A processor's first argument is the exporter it feeds, named as the SDK's own.
    aliases = {"BatchSpanProcessor": "span_exporter", "BatchLogRecordProcessor": "exporter"}
    for name in ("SpanExporter", "MetricExporter", "LogExporter", *aliases):
        args = documented[name]
        if name in aliases:
            cell = args.pop("span_exporter")
            args.pop("exporter")
            args[aliases[name]] = cell
        _check_signature(args, getattr(otlp.sdk, name), f"otlp.sdk.{name}")


class _Recording(dict[str, str]):
    """An empty environment that remembers every variable looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def _variables_read() -> set[str]:
    """Every variable otlp reads: those the environment readers look up (recorded), and
    every whole variable name written as a string in the package and the core."""
    from otlp.sdk import _pieces

    env = _Recording()
    _env.exporter_kwargs(env)
    _pieces._temporality(None, env)
    _pieces._aggregation(None, env)
    names = set(env.read)
    literal = re.compile(r"\"((?:OTEL|OTLP)_[A-Z0-9_]*[A-Z0-9])\"")
    sources = [*(ROOT / "python" / "otlp").rglob("*.py"), *(ROOT / "rust" / "otlp" / "src").rglob("*.rs")]
    for source in sources:
        names |= set(literal.findall(source.read_text(encoding="utf-8")))
    # distro.py builds these from the signal names.
    names |= {f"OTEL_{signal}_EXPORTER" for signal in ("TRACES", "METRICS", "LOGS")}
    return names


def _variables_documented() -> dict[str, str]:
    out: dict[str, str] = {}
    inside = False
    for heading, rows in CONFIG.items():
        if heading == "Environment variables":
            inside = True
        if inside:
            for row in rows:
                for name in _names(row[0]):
                    out[name] = row[1]
    return out


def test_every_environment_variable_is_documented() -> None:
    read = _variables_read()
    documented = _variables_documented()
    assert read - set(documented) == set(), "variables otlp reads, missing from the reference"
    assert set(documented) - read == set(), "variables in the reference that otlp does not read"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def test_environment_defaults_are_the_cores() -> None:
    documented = _variables_documented()
    exporter, batch, logs, metrics = CORE["exporter"], CORE["batch"], CORE["logs_batch"], CORE["metrics"]
    expected: dict[str, Any] = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": _env.exporter_kwargs({})["protocol"],
        "OTEL_EXPORTER_OTLP_COMPRESSION": exporter["compression"],
        "OTEL_EXPORTER_OTLP_TIMEOUT": _ms(exporter["timeout"]),
        "OTEL_BSP_SCHEDULE_DELAY": _ms(batch["schedule_delay"]),
        "OTEL_BSP_MAX_QUEUE_SIZE": batch["max_queue_size"],
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": batch["max_export_batch_size"],
        "OTEL_BLRP_SCHEDULE_DELAY": _ms(logs["schedule_delay"]),
        "OTEL_BLRP_MAX_QUEUE_SIZE": logs["max_queue_size"],
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": logs["max_export_batch_size"],
        "OTEL_METRIC_EXPORT_INTERVAL": _ms(metrics["interval"]),
        "OTEL_METRIC_EXPORT_TIMEOUT": _ms(metrics["timeout"]),
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": metrics["temporality"],
        "OTEL_TRACES_SAMPLER": inspect.signature(otlp.Sampler).parameters["name"].default,
    }
    for signal in ("TRACES", "METRICS", "LOGS"):
        for setting in ("PROTOCOL", "COMPRESSION", "TIMEOUT"):
            expected[f"OTEL_EXPORTER_OTLP_{signal}_{setting}"] = expected[f"OTEL_EXPORTER_OTLP_{setting}"]
    if "OTLP_DIAGNOSTICS_INTERVAL" not in os.environ:
        from otlp import _lifecycle

        expected["OTLP_DIAGNOSTICS_INTERVAL"] = int(_lifecycle.DIAGNOSTICS_INTERVAL)
    for name, value in expected.items():
        assert documented[name].startswith(f"`{value}`"), (name, documented[name], value)
    endpoint = documented["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert _env.default_endpoint("grpc") in endpoint and _env.default_endpoint("http/protobuf") in endpoint


# -- troubleshooting -----------------------------------------------------------------


def test_every_stats_counter_is_explained() -> None:
    sections = _sections(ROOT / "docs" / "troubleshooting.md")
    rows: dict[str, list[str]] = {}
    inside = False
    for heading, table in sections.items():
        inside = inside or heading == "Stats counters"
        if inside:
            rows.update({_names(row[0])[0]: row for row in table})
    with otlp.Exporter("http://127.0.0.1:9") as exp:
        keys = set(exp.stats())
    assert keys - set(rows) == set(), "stats() keys not explained"
    assert set(rows) - keys == set(), "counters explained that stats() does not have"
    for key, row in rows.items():
        assert len(row) == 3 and all(row), f"{key}: what it means and what to change"


# -- bench --plot ----------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_bench_plot_draws_the_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import image

    png = tmp_path / "bench.png"
    out = io.StringIO()
    assert cli.main(["bench", "--spans", "5000", "--plot", str(png)], out=out) == 0, out.getvalue()
    assert f"chart written to {png}" in out.getvalue()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = image.imread(png).shape
    assert width > 600 and height > 200, (width, height)


def test_bench_plot_without_matplotlib_says_how_to_get_it() -> None:
    code = "import sys; sys.modules['matplotlib'] = None; from otlp import cli; cli.main(['bench', '--plot', 'x.png'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'otlp[plot]'" in done.stderr
