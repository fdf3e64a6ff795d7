"""Real instrumented applications, run with the official SDK and with otlp: the collector
must see the same telemetry.

``tests/apps/shop.py`` (Flask + FastAPI + requests + httpx + sqlite3 + logging, and the
OpenTelemetry API used by hand) runs under ``opentelemetry-instrument`` three times with
the same standard environment:

* ``official``: opentelemetry-distro's set-up, the SDK with the official OTLP/gRPC
  exporters (the reference);
* ``otlp``: otlp's providers, selected by ``OTEL_PYTHON_DISTRO=otlp`` /
  ``OTEL_PYTHON_CONFIGURATOR=otlp`` alone;
* ``sdk+otlp_rust``: the SDK again, with otlp's exporters selected by
  ``OTEL_TRACES_EXPORTER=otlp_rust`` (and metrics, logs).

opentelemetry-distro is installed too, so every run names its distro and configurator.
Each run delivers over OTLP/gRPC to its own reference sink (grpcio + opentelemetry-proto),
and the decoded requests of the last two are compared with the reference after the
normalisation below, which is all that is allowed to differ:

* ids and timestamps: trace and span ids become labels from each span's place in its
  trace (links and log records refer to those labels); timestamps are dropped
  after a check that they are set and ordered;
* ports: the two servers' ports (fresh each run) become ``<front>`` / ``<inventory>``, and
  the clients' ephemeral ports ``<ephemeral>``;
* the SDK's identity: ``telemetry.sdk.name`` / ``telemetry.sdk.version`` name the SDK that
  produced the data (``opentelemetry`` 1.45.1 / ``otlp`` and its version);
  ``service.instance.id`` is a random UUID per process (its presence is compared);
* ``exception.stacktrace``: the frames of the tracing machinery that caught the
  exception (``opentelemetry/trace``, ``opentelemetry/sdk``, ``otlp``) are left out; the
  application's and its libraries' frames, the exception line and everything else are
  compared;
* histograms of durations (``*.duration``): their count and bucket boundaries are
  compared, not the measured times;
* exemplars: switched off in every run (otlp keeps none); that no point has any is
  compared;
* batching: spans, metric points and log records are compared wherever they sit in
  the requests (the SDK's processors and otlp batch differently); for metrics, each
  stream's last (cumulative) point is compared.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from peers import Sink
from peers.process import child_env, die_with_parent

APP = Path(__file__).resolve().parent / "apps" / "shop.py"
INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")
# Imports of Flask, FastAPI, the SDK and the instrumentations take a few seconds on a busy
# machine; the run itself well under one.
RUN_TIMEOUT = 60.0

# The standard environment of an instrumented service; both runs get all of it.
COMMON_ENV = {
    "OTEL_SERVICE_NAME": "shop",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,service.namespace=acceptance",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    # One collection, at exit: both runs report the same cumulative totals.
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    # otlp keeps no exemplars (README: not supported); the SDK's default (trace_based)
    # would attach some to every measurement made in a span.
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_off",
}
SELECTIONS = {
    "official": {"OTEL_PYTHON_DISTRO": "distro", "OTEL_PYTHON_CONFIGURATOR": "configurator"},
    "otlp": {"OTEL_PYTHON_DISTRO": "otlp", "OTEL_PYTHON_CONFIGURATOR": "otlp"},
    "sdk+otlp_rust": {
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_TRACES_EXPORTER": "otlp_rust",
        "OTEL_METRICS_EXPORTER": "otlp_rust",
        "OTEL_LOGS_EXPORTER": "otlp_rust",
    },
}
CANDIDATES = ("otlp", "sdk+otlp_rust")


@dataclass
class AppRun:
    result: dict[str, Any]
    stderr: str
    sink: Sink


def run_app(sink: Sink, selection: Mapping[str, str], workdir: Path) -> AppRun:
    """``opentelemetry-instrument python shop.py`` to completion (killed at RUN_TIMEOUT)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = child_env(**{**COMMON_ENV, **selection, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})
    with open(workdir / "stdout", "w+") as out, open(workdir / "stderr", "w+") as err:
        proc = subprocess.Popen(
            [str(INSTRUMENT), sys.executable, str(APP)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=workdir,
            preexec_fn=die_with_parent,
        )
        try:
            rc = proc.wait(RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert rc == 0, f"the app failed (rc={rc}):\n{stderr[-4000:]}{exceptions_reported(sink)}"
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the app printed no result:\n{stdout[-2000:]}\n{stderr[-4000:]}"
    return AppRun(json.loads(lines[-1][len("RESULT ") :]), stderr, sink)


def exceptions_reported(sink: Sink) -> str:
    """The exceptions the app's telemetry reported: a server error's cause reaches the
    collector, not the app's stderr (its logging goes to the OpenTelemetry handler)."""
    seen = []
    for _, _, record in sink.log_records():
        attrs = {kv.key: kv.value.string_value for kv in record.attributes}
        if "exception.type" in attrs:
            seen.append(
                f"log {record.body.string_value!r}: {attrs['exception.type']}: {attrs['exception.message']}"
            )
    for _, _, span in sink.spans():
        for event in span.events:
            attrs = {kv.key: kv.value.string_value for kv in event.attributes}
            if event.name == "exception":
                seen.append(
                    f"span {span.name!r}: {attrs.get('exception.type')}: {attrs.get('exception.message')}"
                )
    return "".join(f"\nreported: {line}" for line in seen)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, AppRun | str]]:
    """The runs of the app, each into its own sink (every test reads the same runs): the
    reference and each candidate. A candidate whose app failed is its failure message,
    for its own tests to report."""
    tmp = tmp_path_factory.mktemp("apps")
    with contextlib.ExitStack() as stack:
        out: dict[str, AppRun | str] = {}
        for name, selection in SELECTIONS.items():
            slug = name.replace("+", "-")
            sink = stack.enter_context(Sink(workdir=tmp / f"{slug}-sink"))
            try:
                out[name] = run_app(sink, selection, tmp / slug)
            except AssertionError as e:
                if name == "official":
                    raise
                out[name] = f"{name}: {e}"
        yield out


# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------
_MACHINERY_FRAME = re.compile(
    r'  File "[^"]*/(?:opentelemetry/trace|opentelemetry/sdk|otlp)/[^"]*", line \d+, in \w+\n(?:    .*\n)*?(?=  File |\w)'
)
_SDK_IDENTITY = ("telemetry.sdk.name", "telemetry.sdk.version")


class Normaliser:
    """Turns the decoded requests of one run into plain, comparable values."""

    def __init__(self, run: AppRun) -> None:
        ports = run.result["ports"]
        self.port_names = {int(port): f"<{name}>" for name, port in ports.items()}
        self.sink = run.sink
        self.labels: dict[bytes, str] = {}  # span id -> label
        self.trace_labels: dict[bytes, str] = {}

    def string(self, s: str) -> str:
        for port, name in self.port_names.items():
            s = s.replace(f"127.0.0.1:{port}", f"127.0.0.1:{name}")
        return s

    def value(self, v: Any, key: str = "") -> Any:
        kind = v.WhichOneof("value")
        if kind is None:
            return None
        if kind == "array_value":
            return ["array", [self.value(x) for x in v.array_value.values]]
        if kind == "kvlist_value":
            return ["kvlist", self.attributes(v.kvlist_value.values)]
        if kind == "bytes_value":
            return ["bytes", v.bytes_value.hex()]
        raw = getattr(v, kind)
        if kind == "int_value" and key.endswith("port"):
            return ["port", self.port_names.get(raw, "<ephemeral>")]
        if kind == "string_value":
            if key == "exception.stacktrace":
                raw = _MACHINERY_FRAME.sub("", raw)
            return [kind, self.string(raw)]
        return [kind, raw]

    def attributes(self, kvs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kv in kvs:
            assert kv.key not in out, f"attribute {kv.key!r} appears twice"
            out[kv.key] = self.value(kv.value, kv.key)
        return out

    def resource(self, resource: Any) -> dict[str, Any]:
        attrs = self.attributes(resource.attributes)
        for key in _SDK_IDENTITY:
            assert key in attrs, f"resource lacks {key}"
            attrs[key] = "<sdk>"
        if "service.instance.id" in attrs:
            attrs["service.instance.id"] = "<random>"
        return {"attributes": attrs, "dropped": resource.dropped_attributes_count}

    @staticmethod
    def scope(scope: Any, schema_url: str) -> tuple[Any, ...]:
        attrs = json.dumps(sorted((kv.key, str(kv.value)) for kv in scope.attributes))
        return (scope.name, scope.version, attrs, schema_url)

    def resources(self, kind: str) -> list[Any]:
        """Every distinct resource of one signal."""
        field = {"traces": "resource_spans", "metrics": "resource_metrics", "logs": "resource_logs"}[kind]
        out: list[Any] = []
        for req in self.sink.requests(kind):
            for group in getattr(req, field):
                r = self.resource(group.resource)
                if r not in out:
                    out.append(r)
        return out

    # -- traces --------------------------------------------------------------

    def traces(self) -> list[Any]:
        """Each trace as a tree of spans; siblings and traces in a canonical order."""
        spans: list[tuple[tuple[Any, ...], Any]] = []
        for req in self.sink.requests("traces"):
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        spans.append((self.scope(ss.scope, ss.schema_url), sp))
        by_id = {sp.span_id: (scope, sp) for scope, sp in spans}
        assert len(by_id) == len(spans), "two spans share a span id"
        children: dict[bytes, list[bytes]] = defaultdict(list)
        roots = []
        for _, sp in spans:
            assert len(sp.trace_id) == 16 and len(sp.span_id) == 8
            assert sp.start_time_unix_nano > 0 and sp.end_time_unix_nano >= sp.start_time_unix_nano
            for ev in sp.events:
                assert sp.start_time_unix_nano <= ev.time_unix_nano <= sp.end_time_unix_nano
            if sp.parent_span_id:
                parent = by_id.get(sp.parent_span_id)
                assert parent is not None, f"{sp.name!r}: its parent was not exported"
                assert parent[1].trace_id == sp.trace_id, f"{sp.name!r}: not in its parent's trace"
                children[sp.parent_span_id].append(sp.span_id)
            else:
                roots.append(sp.span_id)

        # Order by content first (no ids), then label in that order, then render links.
        shapes: dict[bytes, str] = {}

        def shape(span_id: bytes) -> str:
            if span_id not in shapes:
                scope, sp = by_id[span_id]
                kids = sorted(shape(c) for c in children[span_id])
                shapes[span_id] = json.dumps(
                    [list(scope), sp.name, sp.kind, self.attributes(sp.attributes), self.events(sp), kids]
                )
            return shapes[span_id]

        def label(span_id: bytes, path: str) -> None:
            self.labels[span_id] = path
            for i, c in enumerate(sorted(children[span_id], key=shape)):
                label(c, f"{path}/{i}")

        roots.sort(key=shape)
        for i, r in enumerate(roots):
            self.trace_labels[by_id[r][1].trace_id] = f"trace {i}"
            label(r, f"trace {i}")

        def render(span_id: bytes) -> dict[str, Any]:
            scope, sp = by_id[span_id]
            return {
                "label": self.labels[span_id],
                "scope": list(scope),
                "name": sp.name,
                "kind": sp.kind,
                "flags": sp.flags,
                "trace_state": sp.trace_state,
                "attributes": self.attributes(sp.attributes),
                "dropped_attributes": sp.dropped_attributes_count,
                "events": self.events(sp),
                "dropped_events": sp.dropped_events_count,
                "links": [
                    {
                        "to": self.labels.get(link.span_id, "<not exported>"),
                        "same trace": link.trace_id == sp.trace_id,
                        "trace_state": link.trace_state,
                        "flags": link.flags,
                        "attributes": self.attributes(link.attributes),
                        "dropped_attributes": link.dropped_attributes_count,
                    }
                    for link in sp.links
                ],
                "dropped_links": sp.dropped_links_count,
                "status": [sp.status.code, sp.status.message],
                "children": [render(c) for c in sorted(children[span_id], key=lambda c: self.labels[c])],
            }

        return [render(r) for r in roots]

    def events(self, sp: Any) -> list[Any]:
        return [[ev.name, self.attributes(ev.attributes), ev.dropped_attributes_count] for ev in sp.events]

    # -- metrics -------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """``scope / name`` -> the metric's description and its streams' last points."""
        out: dict[str, Any] = {}
        for req in self.sink.requests("metrics"):
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    scope = self.scope(sm.scope, sm.schema_url)
                    for m in sm.metrics:
                        entry = out.setdefault(
                            f"{scope[0]} / {m.name}",
                            {"scope": list(scope), "points": {}},
                        )
                        kind = m.WhichOneof("data")
                        data = getattr(m, kind)
                        entry.update(
                            unit=m.unit,
                            description=m.description,
                            kind=kind,
                            temporality=getattr(data, "aggregation_temporality", None),
                            monotonic=getattr(data, "is_monotonic", None),
                        )
                        for point in data.data_points:
                            attrs = self.attributes(point.attributes)
                            entry["points"][json.dumps(attrs, sort_keys=True)] = self.point(
                                m.name, kind, point
                            )
        return out

    def point(self, name: str, kind: str, p: Any) -> dict[str, Any]:
        assert p.time_unix_nano > 0
        if kind != "gauge":
            assert 0 < p.start_time_unix_nano <= p.time_unix_nano
        out: dict[str, Any] = {"flags": p.flags}
        measured = name.endswith(".duration")  # durations differ by run
        out["exemplars"] = len(p.exemplars)
        if kind in ("sum", "gauge"):
            out["value"] = [p.WhichOneof("value"), getattr(p, p.WhichOneof("value"))]
        elif kind == "histogram":
            assert sum(p.bucket_counts) == p.count
            out.update(count=p.count, bounds=list(p.explicit_bounds))
            if not measured:
                out.update(sum=p.sum, min=p.min, max=p.max, buckets=list(p.bucket_counts))
        else:
            raise AssertionError(f"{name}: unexpected metric kind {kind}")
        return out

    # -- logs ----------------------------------------------------------------

    def logs(self) -> list[Any]:
        """Every log record, in a canonical order (needs :meth:`traces` first)."""
        out = []
        for req in self.sink.requests("logs"):
            for rl in req.resource_logs:
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        assert lr.observed_time_unix_nano > 0
                        out.append(
                            {
                                "scope": list(self.scope(sl.scope, sl.schema_url)),
                                "body": self.value(lr.body),
                                "severity": [lr.severity_number, lr.severity_text],
                                "attributes": self.attributes(lr.attributes),
                                "dropped_attributes": lr.dropped_attributes_count,
                                "event_name": lr.event_name,
                                "flags": lr.flags,
                                "trace": self.trace_labels.get(lr.trace_id, lr.trace_id.hex() or None),
                                "span": self.labels.get(lr.span_id, lr.span_id.hex() or None),
                                "timestamp set": lr.time_unix_nano > 0,
                            }
                        )
        return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))


def candidate_run(runs: dict[str, AppRun | str], candidate: str) -> AppRun:
    run = runs[candidate]
    if isinstance(run, str):
        pytest.fail(run, pytrace=False)
    return run


def reference_run(runs: dict[str, AppRun | str]) -> AppRun:
    run = runs["official"]
    assert isinstance(run, AppRun)
    return run


@pytest.fixture(scope="module")
def normalised(runs: dict[str, AppRun | str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, run in runs.items():
        if isinstance(run, str):
            continue  # its tests report the failure
        n = Normaliser(run)
        traces = n.traces()  # labels first: logs refer to them
        out[name] = {
            "resources": {kind: n.resources(kind) for kind in ("traces", "metrics", "logs")},
            "traces": traces,
            "metrics": n.metrics(),
            "logs": n.logs(),
        }
    return out


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def test_the_reference_run_is_the_official_pipeline(runs: dict[str, AppRun | str]) -> None:
    official = reference_run(runs)
    classes = official.result["classes"]
    assert classes["tracer_provider"] == "opentelemetry.sdk.trace.TracerProvider"
    assert classes["meter_provider"] == "opentelemetry.sdk.metrics._internal.MeterProvider"
    assert classes["logger_provider"] == "opentelemetry.sdk._logs._internal.LoggerProvider"
    assert_clean_delivery(official, "OTel-OTLP-Exporter-Python/")


def test_the_reference_tells_the_whole_story(normalised: dict[str, dict[str, Any]]) -> None:
    """What the comparisons below compare is there: every instrumentation's spans, nested
    across the two services, the API features the app uses by hand, every kind of
    instrument, and logs in and out of spans."""
    reference = normalised["official"]
    spans: list[dict[str, Any]] = []

    def flatten(span: dict[str, Any]) -> None:
        spans.append(span)
        for child in span["children"]:
            flatten(child)

    for root in reference["traces"]:
        flatten(root)
    # Driver requests (5), the table creation, the linked pair.
    assert len(reference["traces"]) == 8
    scopes = {span["scope"][0] for span in spans}
    assert scopes == {"shop"} | {
        f"opentelemetry.instrumentation.{lib}" for lib in ("flask", "fastapi", "requests", "httpx", "sqlite3")
    }
    # A checkout: requests -> Flask -> requests -> FastAPI -> the spans made by hand.
    checkout = next(
        root for root in reference["traces"] if root["children"][0]["name"] == "GET /checkout/<int:order>"
    )
    stock = checkout["children"][0]["children"][0]["children"][0]
    assert stock["name"] == "GET /stock/{item}"
    reserve = next(c for c in stock["children"] if c["name"] == "reserve")
    assert [c["name"] for c in reserve["children"]] == ["audit", "lookup stock", "restock"]
    assert {span["status"][0] for span in spans} == {0, 1, 2}
    assert sum(1 for span in spans if [e[0] for e in span["events"]] == ["exception"]) == 7
    (send,) = (span for span in spans if span["name"] == "send report")
    assert [link["to"] for link in send["links"]] == ["trace 6", "trace 6"]
    assert len(reference["metrics"]) == 13
    kinds = {m["kind"] for m in reference["metrics"].values()}
    assert kinds == {"sum", "gauge", "histogram"}
    assert len(reference["logs"]) == 7
    assert sum(1 for record in reference["logs"] if record["span"] is not None) == 6
    for kind in ("traces", "metrics", "logs"):
        assert len(reference["resources"][kind]) == 1, reference["resources"][kind]


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_each_run_uses_the_pipeline_its_environment_selects(
    runs: dict[str, AppRun | str], candidate: str
) -> None:
    run = candidate_run(runs, candidate)
    classes, reference = run.result["classes"], reference_run(runs).result["classes"]
    for provider in ("tracer_provider", "meter_provider", "logger_provider"):
        if candidate == "otlp":
            assert classes[provider].startswith("otlp.otel."), classes
        else:
            assert classes[provider] == reference[provider]
    # The logging instrumentation's handler feeds the logs API in every run.
    assert classes["root_handlers"] == reference["root_handlers"]
    assert run.result["answers"] == reference_run(runs).result["answers"]
    # Who delivered: otlp's Rust transport, not the official gRPC exporters.
    assert_clean_delivery(run, "otlp/")


def assert_clean_delivery(run: AppRun, user_agent: str) -> None:
    agents = {
        md.get("user-agent", "") for kind in ("traces", "metrics", "logs") for md in run.sink.metadata(kind)
    }
    assert agents, "nothing arrived"
    assert all(a.startswith(user_agent) for a in agents), agents
    assert "Failed to auto initialize" not in run.stderr, run.stderr[-4000:]
    assert "Traceback" not in run.stderr, run.stderr[-4000:]


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_same_resource(
    runs: dict[str, AppRun | str], normalised: dict[str, dict[str, Any]], candidate: str
) -> None:
    candidate_run(runs, candidate)
    official, ours = normalised["official"]["resources"], normalised[candidate]["resources"]
    for kind in ("traces", "metrics", "logs"):
        assert ours[kind] == official[kind], kind


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_same_traces(
    runs: dict[str, AppRun | str], normalised: dict[str, dict[str, Any]], candidate: str
) -> None:
    candidate_run(runs, candidate)
    official, ours = normalised["official"]["traces"], normalised[candidate]["traces"]
    assert [t["name"] for t in ours] == [t["name"] for t in official]
    for mine, theirs in zip(ours, official, strict=True):
        assert mine == theirs, theirs["name"]


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_same_metrics(
    runs: dict[str, AppRun | str], normalised: dict[str, dict[str, Any]], candidate: str
) -> None:
    candidate_run(runs, candidate)
    official, ours = normalised["official"]["metrics"], normalised[candidate]["metrics"]
    assert sorted(ours) == sorted(official)
    for name, theirs in official.items():
        assert ours[name] == theirs, name


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_same_logs(
    runs: dict[str, AppRun | str], normalised: dict[str, dict[str, Any]], candidate: str
) -> None:
    candidate_run(runs, candidate)
    official, ours = normalised["official"]["logs"], normalised[candidate]["logs"]
    assert ours == official
