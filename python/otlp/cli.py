"""Command line: ``python -m otlp demo | serve | bench``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TextIO

import otlp
from otlp import _native

_ATTRS: dict[str, str | int | bool] = {
    "http.request.method": "GET",
    "http.route": "/api/items/{id}",
    "http.response.status_code": 200,
    "server.port": 443,
    "cache.hit": True,
}


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


class _Progress:
    """A live line on a terminal; one line per second elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = 0.0

    def show(self, text: str, now: float) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
            self.out.flush()
        elif now - self.last >= 1.0:
            self.out.write(text + "\n")
            self.out.flush()
            self.last = now

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")


def demo(args: argparse.Namespace, out: TextIO) -> int:
    receiver = None if args.endpoint else _native.Receiver("127.0.0.1:0")
    endpoint = args.endpoint or (receiver.endpoint if receiver else "")
    where = "embedded receiver" if receiver else "collector"
    out.write(
        f"otlp {otlp.__version__} demo: sending traces, metrics and logs to the {where} "
        f"at {endpoint} for {args.seconds:g}s\n"
    )
    batch = otlp.BatchConfig(max_queue_size=65536, max_export_batch_size=512, schedule_delay=0.2)
    exporter = otlp.Exporter(
        endpoint,
        compression=args.compression,
        resource={"service.name": "otlp-demo"},
        batch=batch,
        # The producer is faster than the receiver it shares this machine with: it
        # waits for room instead of overflowing the queue, so what the demo reports is
        # what arrived. A collector that takes nothing for 30 s makes drops (counted).
        queue=otlp.QueueConfig(overflow="block", block_timeout=30.0),
    )
    tracer = exporter.tracer("otlp.demo", version=otlp.__version__)
    meter = exporter.meter("otlp.demo", version=otlp.__version__)
    latency = meter.histogram("http.server.request.duration", unit="ms")
    requests = meter.counter("http.server.requests", unit="1")
    log = exporter.logger("otlp.demo", version=otlp.__version__)
    progress = _Progress(out)
    sent = 0
    logged = 0
    durations = [float(i % 250) for i in range(200)]
    start = time.perf_counter()
    deadline = start + args.seconds
    now = start
    while now < deadline:
        # One request: a server span with two children, like a small web handler.
        for _ in range(200):
            with tracer.span("GET /api/items/{id}", kind=otlp.SpanKind.SERVER, attributes=_ATTRS):
                with tracer.span(
                    "SELECT items", kind=otlp.SpanKind.CLIENT, attributes={"db.system": "postgresql"}
                ):
                    pass
                with tracer.span("render") as span:
                    span.add_event("cache.miss", {"key": "items"})
            sent += 3
        # Per round of 200 requests: their latencies in one call, and one log record.
        latency.record_many(durations, {"route": "/api/items/{id}"})
        requests.add(200, {"route": "/api/items/{id}"})
        log.emit("served 200 requests", severity=otlp.Severity.INFO, attributes={"batch": sent // 600})
        logged += 1
        now = time.perf_counter()
        received = receiver.counts()["spans"] if receiver else exporter.stats()["spans_exported"]
        progress.show(
            f"  sent {sent:>10,}  received {received:>10,}  {sent / max(now - start, 1e-9):>12,.0f} spans/s",
            now,
        )
    progress.done()
    created = time.perf_counter() - start
    flushed = exporter.force_flush(timeout=30.0)
    elapsed = time.perf_counter() - start
    stats = exporter.stats()
    exporter.shutdown(timeout=5.0)
    if receiver:
        # shutdown() made a final metrics collection
        stats["metric_points_exported"] = exporter.stats()["metric_points_exported"]
    counts = receiver.counts() if receiver else {}
    received = counts["spans"] if receiver else stats["spans_exported"]
    out.write(
        f"sent      {sent:,} spans in {created:.2f}s ({sent / created:,.0f} spans/s created)\n"
        f"received  {received:,} spans ({received / elapsed:,.0f} spans/s end to end)\n"
        f"requests  {stats['requests_ok']:,} ok, {stats['requests_failed']:,} failed\n"
        f"on wire   {_human_bytes(stats['bytes_sent'])} "
        f"({stats['bytes_sent'] / max(received, 1):.0f} B/span)\n"
        f"dropped   {stats['spans_dropped']:,}   failed {stats['spans_failed']:,}\n"
        f"metrics   {stats['metric_points_exported']:,} points exported"
        + (f", {counts['metrics']:,} metrics received" if receiver else "")
        + "\n"
        f"logs      {logged:,} emitted, {stats['logs_exported']:,} exported"
        + (f", {counts['log_records']:,} received" if receiver else "")
        + "\n"
    )
    if receiver:
        receiver.stop()
    return _verdict(out, stats, sent=sent, received=received, logged=logged, flushed=flushed)


def _verdict(out: TextIO, stats: otlp.Stats, *, sent: int, received: int, logged: int, flushed: bool) -> int:
    """0 when everything arrived; otherwise say what was lost and why. Only a delivery
    failure (the collector refused or could not be reached) makes the exit status 1."""
    failed = stats["spans_failed"] + stats["logs_failed"] + stats["metric_points_failed"]
    dropped = stats["spans_dropped"] + stats["logs_dropped"] + stats["metric_points_dropped"]
    if flushed and received == sent and stats["logs_exported"] == logged and not failed and not dropped:
        return 0
    reasons = [
        (stats["spans_dropped_queue_full"], "spans dropped: the queue was full (made faster than sent)"),
        (stats["spans_dropped_shutdown"], "spans still unsent at the shutdown deadline"),
        (stats["spans_dropped_too_large"], "spans larger than a request may be"),
        (stats["spans_failed"], "spans the collector refused or could not be sent"),
        (stats["logs_dropped"] + stats["logs_failed"], "log records lost"),
        (stats["metric_points_dropped"] + stats["metric_points_failed"], "metric points lost"),
        (max(stats["spans_exported"] - received, 0), "spans exported but not counted by the receiver"),
    ]
    out.write("not everything was delivered:\n")
    for n, why in reasons:
        if n:
            out.write(f"  {n:,} {why}\n")
    error = stats["last_error"] or stats["logs_last_error"] or stats["metric_last_error"]
    if error:
        out.write(f"  last error: {error}\n")
    delivery_failed = failed > 0 or received < stats["spans_exported"] or (not flushed and not dropped)
    return 1 if delivery_failed else 0


def _wait_for(received: Callable[[], int], n: int, timeout: float) -> bool:
    """Poll the receiver's count until it reaches ``n`` (bounded by ``timeout``)."""
    deadline = time.perf_counter() + timeout
    while received() < n:
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.0005)
    return True


def _timed(
    tracer: Any, n: int, flush: Callable[[], object], received: Callable[[], int], who: str
) -> tuple[float, float]:
    """(spans/s on the calling thread, spans/s end to end) for ``n`` spans from ``tracer``."""
    before = received()
    start = time.perf_counter()
    for _ in range(n):
        tracer.start_span("GET /api/items/{id}", attributes=_ATTRS).end()
    created = time.perf_counter() - start
    flush()
    if not _wait_for(lambda: received() - before, n, 60.0):
        raise RuntimeError(f"{who}: only {received() - before:,} of {n:,} spans arrived")
    return n / created, n / (time.perf_counter() - start)


def _bench_otlp(endpoint: str, n: int, received: Callable[[], int], **kw: Any) -> tuple[float, float]:
    # overflow="block": a producer faster than the receiver waits, so what is measured
    # is what arrived.
    exporter = otlp.Exporter(
        endpoint,
        batch=otlp.BatchConfig(max_export_batch_size=512),
        queue=otlp.QueueConfig(overflow="block", block_timeout=60.0),
        **kw,
    )
    try:
        tracer = exporter.tracer("otlp.bench", version=otlp.__version__)
        return _timed(tracer, n, lambda: exporter.force_flush(timeout=60.0), received, "otlp")
    finally:
        exporter.shutdown(timeout=5.0)


def _bench_official(endpoint: str, n: int, received: Callable[[], int]) -> tuple[float, float] | None:
    """The same workload through the OpenTelemetry SDK and its OTLP/gRPC exporter, if installed."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True), max_queue_size=max(n, 2048))
    )
    try:
        tracer = provider.get_tracer("otlp.bench")
        flush = partial(provider.force_flush, timeout_millis=60_000)
        return _timed(tracer, n, flush, received, "official exporter")
    finally:
        provider.shutdown()


def bench(args: argparse.Namespace, out: TextIO) -> int:
    """A quick measurement on this machine, against the embedded receiver."""
    receiver = _native.Receiver("127.0.0.1:0")
    spans = lambda: receiver.counts()["spans"]  # noqa: E731 - a tiny accessor
    n = args.spans
    out.write(
        f"otlp {otlp.__version__} bench: {n:,} spans with 5 attributes per case, "
        f"to the embedded receiver at {receiver.endpoint}\n"
    )
    out.write(f"{'case':<34}{'app thread':>16}{'end to end':>16}\n")
    rows: list[tuple[str, tuple[float, float]]] = []
    try:
        for label, kw in (
            ("otlp, OTLP/gRPC", {"protocol": "grpc"}),
            ("otlp, OTLP/HTTP over HTTP/2", {"protocol": "http/protobuf", "http_version": "2"}),
            ("otlp, OTLP/gRPC + zstd", {"protocol": "grpc", "compression": "zstd"}),
        ):
            rows.append((label, _bench_otlp(receiver.endpoint, n, spans, **kw)))
            out.write(f"{label:<34}{rows[-1][1][0]:>12,.0f} /s {rows[-1][1][1]:>12,.0f} /s\n")
            out.flush()
        official = None if args.no_official else _bench_official(receiver.endpoint, max(n // 10, 1), spans)
        if official is not None:
            label = "OpenTelemetry SDK, OTLP/gRPC"
            out.write(f"{label:<34}{official[0]:>12,.0f} /s {official[1]:>12,.0f} /s\n")
            rows.append((label, official))
            grpc = rows[0][1]
            out.write(
                f"otlp / official: {grpc[1] / official[1]:.1f}x end to end, "
                f"{grpc[0] / official[0]:.1f}x on the app thread\n"
            )
        elif not args.no_official:
            out.write("(the OpenTelemetry SDK and its OTLP/gRPC exporter are not installed: no comparison)\n")
    except RuntimeError as e:
        out.write(f"not everything was delivered: {e}\n")
        return 1
    finally:
        receiver.stop()
    if args.plot:
        _plot(rows, n, args.plot)
        out.write(f"chart written to {args.plot}\n")
    try:
        import numpy as np
    except ImportError:
        out.write("(numpy is not installed: histogram kernels not measured)\n")
        return 0
    values = np.random.default_rng(1).lognormal(3.5, 1.5, 2_000_000)
    bounds = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0]
    for k in dict.fromkeys([_native._kernel(), "scalar"]):
        best = min(_time(partial(_native._aggregate, values, bounds, k)) for _ in range(5))
        out.write(f"histogram kernel {k:<8}{values.size / best / 1e6:>10,.0f} M values/s (numpy float64)\n")
    return 0


def _plot(rows: list[tuple[str, tuple[float, float]]], n: int, path: str) -> None:
    """A PNG of ``bench``'s spans/s per case: on the application thread and end to end."""
    import matplotlib  # the optional `plot` extra, imported only here

    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot as plt

    labels = [label for label, _ in rows][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.75 * len(rows)), layout="constrained")
    height = 0.38
    for offset, (index, what, colour) in zip(
        (height / 2, -height / 2), ((0, "app thread", "#4c72b0"), (1, "end to end", "#dd8452")), strict=True
    ):
        values = [speeds[index] for _, speeds in rows][::-1]
        bars = ax.barh([i + offset for i in range(len(rows))], values, height, label=what, color=colour)
        ax.bar_label(bars, labels=[f" {v:,.0f}" for v in values], fontsize=8)
    ax.set_yticks(range(len(rows)), labels)
    ax.xaxis.set_major_formatter(_short_rate)
    ax.set_xlabel("spans per second (5 attributes each; higher is better)")
    ax.set_title(f"python -m otlp bench: {n:,} spans per otlp case, to a local receiver", fontsize=10)
    ax.margins(x=0.18)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _short_rate(x: float, _pos: object = None) -> str:
    """An axis label that stays short at any scale: 0, 500k, 1.5M."""
    if x >= 1e6:
        return f"{x / 1e6:g}M"
    if x >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _serve_addresses(args: argparse.Namespace) -> tuple[str, str | None]:
    """The gRPC and HTTP listen addresses; ``--address`` alone keeps its one listener."""
    grpc = args.grpc or args.address or "127.0.0.1:4317"
    http = args.http if args.http is not None else (None if args.address else "127.0.0.1:4318")
    if http is not None and http.lower() in ("", "none"):
        http = None
    return grpc, http


def _write_jsonl(
    receiver: _native.Receiver,
    decode_json: Callable[[str, bytes, str], bytes],
    sink: TextIO,
    pretty: bool = False,
) -> None:
    """Write each request kept since the last call: one line of OTLP/JSON, or (with
    ``pretty``) as a person reads it, in colour when ``sink`` is a terminal."""
    color = pretty and sink.isatty() and not os.environ.get("NO_COLOR")
    for kind, fmt, body in receiver.take():
        try:
            line = decode_json(kind, body, fmt)
        except ValueError as e:
            print(f"serve: a {kind} request could not be decoded: {e}", file=sys.stderr)
            continue
        if pretty:
            from otlp import _pretty

            text = _pretty.render(kind, json.loads(line), color)
            if text:
                sink.write(text + "\n")
        else:
            sink.write(line.decode() + "\n")
    sink.flush()


class _Stopped(Exception):
    """Ctrl-C or SIGTERM: ``serve`` stops."""


class _StopSignals:
    """Ctrl-C and SIGTERM (``kill``, a container's stop; a background job, whose shell
    leaves SIGINT ignored, gets only this one) stop ``serve`` cleanly, after writing what
    it received. A signal that arrives while ``serve`` writes what it has taken from the
    receiver waits until that is written: raised in the middle, it would lose the rest.
    Only handlers still at their defaults are replaced (and put back by :meth:`restore`);
    off the main thread, none can be."""

    def __init__(self) -> None:
        self.writing = False
        self.pending = False
        self.previous: dict[int, Any] = {}
        for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            try:
                if signal.getsignal(sig) == default:
                    self.previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass

    def _on_signal(self, _signum: int, _frame: object) -> None:
        if self.writing:
            self.pending = True
        else:
            raise _Stopped

    def write(self, write: Callable[[], None]) -> None:
        """Run ``write`` with any stop held until it returns."""
        self.writing = True
        try:
            write()
        finally:
            self.writing = False
        if self.pending:
            raise _Stopped

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def serve(args: argparse.Namespace, out: TextIO) -> int:
    decode_json = getattr(_native, "_decode_json", None)
    if args.format in ("jsonl", "pretty") and decode_json is None:
        print(
            f"serve: --format {args.format} needs the OTLP decoder, which this build of otlp lacks",
            file=sys.stderr,
        )
        return 2
    jsonl = decode_json if args.format in ("jsonl", "pretty") else None
    pretty = args.format == "pretty"
    grpc, http = _serve_addresses(args)
    try:
        sink = open(args.output, "a", encoding="utf-8") if args.output else out
    except OSError as e:
        print(f"serve: cannot write to {args.output}: {e}", file=sys.stderr)
        return 2
    try:
        # jsonl keeps every request until written; the receiver caps what it holds.
        receiver = _native.Receiver(grpc, http, keep=100_000 if jsonl else 0)
    except ValueError as e:
        print(f"serve: {e}", file=sys.stderr)
        if sink is not out:
            sink.close()
        return 2
    where = receiver.endpoint
    if receiver.http_endpoint is not None:
        where += f" and {receiver.http_endpoint}"
    banner = sys.stderr if jsonl and sink is out else out
    banner.write(
        "listening for OTLP/gRPC, and OTLP/HTTP over HTTP/1.1 and HTTP/2 (h2c),"
        f" on {where} (Ctrl-C to stop)\n"
    )
    banner.flush()
    last: object = None
    stop = _StopSignals()
    try:
        while True:
            counts = receiver.counts()
            if jsonl:
                stop.write(partial(_write_jsonl, receiver, jsonl, sink, pretty))
                if counts["dropped"] != (last or 0):
                    print(
                        f"serve: {counts['dropped']:,} requests dropped, arriving faster than written",
                        file=sys.stderr,
                    )
                last = counts["dropped"]
                time.sleep(0.2)
                continue
            if counts != last:
                sink.write(
                    f"requests {counts['requests']:,}  spans {counts['spans']:,}  "
                    f"metrics {counts['metrics']:,}  log_records {counts['log_records']:,}  "
                    f"bytes {counts['bytes']:,}  errors {counts['errors']:,}\n"
                )
                sink.flush()
                last = counts
            time.sleep(1.0)
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        stop.restore()
        receiver.stop()
        if jsonl:
            _write_jsonl(receiver, jsonl, sink, pretty)
        if sink is not out:
            sink.close()
    return 0


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m otlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="send traces to an embedded receiver (or --endpoint) and report")
    p.add_argument("--endpoint", help="send to this collector instead, e.g. http://localhost:4317")
    p.add_argument("--seconds", type=float, default=3.0, help="how long to send (default 3)")
    p.add_argument("--compression", default="none", choices=["none", "gzip", "zstd"])
    s = sub.add_parser(
        "serve",
        help="run a local OTLP receiver (gRPC; HTTP/1.1 and h2c; protobuf and JSON) that shows what arrives",
    )
    s.add_argument("--grpc", metavar="ADDR", help="listen address for OTLP/gRPC (default 127.0.0.1:4317)")
    s.add_argument(
        "--http",
        metavar="ADDR",
        help="listen address for OTLP/HTTP (default 127.0.0.1:4318; 'none' for no second listener)",
    )
    s.add_argument("--address", help=argparse.SUPPRESS)  # the one listener of earlier versions
    s.add_argument(
        "--format",
        choices=["counts", "jsonl", "pretty"],
        default="counts",
        help="counts: a line of totals when they change (default); jsonl: one OTLP/JSON document per"
        " request; pretty: spans as trees, metrics as a table, logs as lines (colour on a terminal)",
    )
    s.add_argument("--output", metavar="FILE", help="append to FILE instead of writing to standard output")
    b = sub.add_parser("bench", help="measure span export and aggregation speed on this machine")
    b.add_argument("--spans", type=int, default=200_000, help="spans per case (default 200,000)")
    b.add_argument(
        "--no-official", action="store_true", help="skip the OpenTelemetry SDK comparison (1/10 of the spans)"
    )
    b.add_argument("--plot", metavar="FILE", help="also write a PNG chart of the spans/s (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args, out)
    if args.command == "bench":
        if args.spans < 1:
            parser.error("--spans must be at least 1")
        if args.plot:
            try:
                import matplotlib  # noqa: F401 - fail before measuring, not after
            except ImportError:
                parser.error("--plot needs matplotlib: pip install 'otlp[plot]'")
        return bench(args, out)
    return serve(args, out)
