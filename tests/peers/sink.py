"""Reference OTLP/gRPC sink: a real grpcio server in another process.

Child side (``python tests/peers/sink.py --record FILE ...``):
    Serves the official ``opentelemetry.proto.collector.{trace,metrics,logs}.v1``
    services (the generated ``*ServiceServicer`` classes, registered under the
    service names of the generated descriptors) on 127.0.0.1:0, prints
    ``PORT <n>`` as the first line of stdout, then serves until SIGTERM/SIGINT
    or until its stdin is closed (so it never outlives the test process).

    Every Export request is parsed with the official generated message class
    (upb).  In record mode the *raw wire bytes* (after gRPC has undone any
    gzip) are appended to the record file together with a small JSON header
    (kind, arrival time, invocation metadata, the status answered), one
    ``write`` + ``flush`` per request.  Record layout::

        b"T" | b"M" | b"L"   kind (traces, metrics, logs)
        >I                   length of the JSON header
        >I                   length of the payload
        header (utf-8 JSON), payload (serialized Export*ServiceRequest)

    In count-only mode nothing but a fixed-size counter block is written
    (6 little-endian uint64 at offset 0, rewritten with ``pwrite`` after each
    request): trace requests, spans, metric requests, metric data points,
    log requests, log records.

    Fault modes: ``--status UNAVAILABLE`` answers every Export with that gRPC
    status (``--status-count N`` only the first N, then OK); ``--delay S``
    waits S seconds in the handler before answering.  Requests are recorded
    whatever is answered.

Parent side: :class:`Sink` (context manager) starts/stops the child and reads
what it recorded.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from pathlib import Path

try:
    from .process import PeerProcess, child_env, serve_grpc
except ImportError:  # the child: run as a script, ``python tests/peers/sink.py``
    from process import PeerProcess, child_env, serve_grpc

KINDS = {"traces": b"T", "metrics": b"M", "logs": b"L"}
_KIND_BY_TAG = {v: k for k, v in KINDS.items()}
_REC_HEAD = struct.Struct(">cII")
_COUNTERS = struct.Struct("<6Q")
_COUNTER_NAMES = (
    "trace_requests",
    "spans",
    "metric_requests",
    "data_points",
    "log_requests",
    "log_records",
)


# --------------------------------------------------------------------------
# child process
# --------------------------------------------------------------------------


def count_data_points(req) -> int:
    """Data points in one ExportMetricsServiceRequest, over every kind of metric."""
    n = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                which = m.WhichOneof("data")
                if which is not None:
                    n += len(getattr(m, which).data_points)
    return n


def _serve(argv: list[str]) -> int:
    import argparse
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as lpb
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as lgrpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
    from opentelemetry.proto.collector.metrics.v1 import (
        metrics_service_pb2_grpc as mgrpc,
    )
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as tgrpc

    ap = argparse.ArgumentParser(prog="sink")
    ap.add_argument("--record", help="file to append raw requests to")
    ap.add_argument("--counter", help="counter file (count-only mode)")
    ap.add_argument("--count-only", action="store_true")
    ap.add_argument("--status", default=None, help="grpc.StatusCode name to answer with")
    ap.add_argument(
        "--status-count", type=int, default=-1, help="answer --status this many times (-1 = always)"
    )
    ap.add_argument("--status-message", default="sink configured to fail")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    ap.add_argument("--max-recv-mib", type=int, default=4)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    args = ap.parse_args(argv)

    status = getattr(grpc.StatusCode, args.status) if args.status else None
    lock = threading.Lock()
    state = {"status_left": args.status_count, "counters": [0] * 6}

    rec_file = open(args.record, "ab", buffering=0) if args.record else None
    counter_fd = os.open(args.counter, os.O_RDWR | os.O_CREAT, 0o644) if args.counter else None
    if counter_fd is not None:
        os.pwrite(counter_fd, _COUNTERS.pack(*state["counters"]), 0)

    def decide_status():
        # returns the status code to answer with (None = OK); under lock
        if status is None:
            return None
        if state["status_left"] == 0:
            return None
        if state["status_left"] > 0:
            state["status_left"] -= 1
        return status

    def handle(kind: str, raw: bytes, req, context, n_items: int, idx: int):
        with lock:
            answer = decide_status()
            if args.count_only:
                c = state["counters"]
                c[idx] += 1
                c[idx + 1] += n_items
                if counter_fd is not None:
                    os.pwrite(counter_fd, _COUNTERS.pack(*c), 0)
            elif rec_file is not None:
                md = []
                for k, v in context.invocation_metadata():
                    if isinstance(v, bytes):
                        md.append([k, {"hex": v.hex()}])
                    else:
                        md.append([k, v])
                head = json.dumps(
                    {
                        "t": time.time_ns(),
                        "metadata": md,
                        "status": answer.name if answer is not None else "OK",
                        "peer": context.peer(),
                    }
                ).encode()
                rec_file.write(_REC_HEAD.pack(KINDS[kind], len(head), len(raw)) + head + raw)
                rec_file.flush()
        if args.delay > 0:
            time.sleep(args.delay)  # simulated slow collector (server-side behaviour)
        if answer is not None:
            context.abort(answer, args.status_message)

    def raw_and_parsed(cls):
        def deser(raw: bytes):
            return raw, cls.FromString(raw)

        return deser

    class TraceService(tgrpc.TraceServiceServicer):
        def Export(self, request, context):
            raw, req = request
            n = 0
            if args.count_only:
                n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            handle("traces", raw, req, context, n, 0)
            return tpb.ExportTraceServiceResponse()

    class MetricsService(mgrpc.MetricsServiceServicer):
        def Export(self, request, context):
            raw, req = request
            n = count_data_points(req) if args.count_only else 0
            handle("metrics", raw, req, context, n, 2)
            return mpb.ExportMetricsServiceResponse()

    class LogsService(lgrpc.LogsServiceServicer):
        def Export(self, request, context):
            raw, req = request
            n = 0
            if args.count_only:
                n = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
            handle("logs", raw, req, context, n, 4)
            return lpb.ExportLogsServiceResponse()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        options=[
            ("grpc.max_receive_message_length", args.max_recv_mib * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    # Same registration as the generated add_*Servicer_to_server helpers, except
    # that the deserializer also keeps the raw bytes (so tests can check the
    # exact wire encoding, not a re-serialisation).
    for pb, svc_name, servicer, req_cls, resp_cls in (
        (tpb, "TraceService", TraceService(), tpb.ExportTraceServiceRequest, tpb.ExportTraceServiceResponse),
        (
            mpb,
            "MetricsService",
            MetricsService(),
            mpb.ExportMetricsServiceRequest,
            mpb.ExportMetricsServiceResponse,
        ),
        (lpb, "LogsService", LogsService(), lpb.ExportLogsServiceRequest, lpb.ExportLogsServiceResponse),
    ):
        full_name = pb.DESCRIPTOR.services_by_name[svc_name].full_name
        handler = grpc.method_handlers_generic_handler(
            full_name,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    servicer.Export,
                    request_deserializer=raw_and_parsed(req_cls),
                    response_serializer=resp_cls.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))

    if not serve_grpc(server, f"127.0.0.1:{args.port}", grace=0.5):
        return 2
    if rec_file is not None:
        rec_file.close()
    if counter_fd is not None:
        os.close(counter_fd)
    return 0


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------


class SinkError(RuntimeError):
    pass


class Sink(PeerProcess):
    """Runs the sink child process; reads back what it received.

    Parameters:
        status: a ``grpc.StatusCode`` name (e.g. ``"UNAVAILABLE"``) or a
            ``grpc.StatusCode`` member to answer every Export with instead of OK.
        status_count: answer ``status`` only to the first N requests, then OK.
        delay: seconds the handler waits before answering (slow collector).
        count_only: benchmark mode, only counters are kept (see ``counts()``).
        max_recv_mib: grpc max receive message size (default 4, as collectors).
        port: the port to listen on (default: any free port), e.g. to bring a
            collector back where an exporter keeps trying.
    """

    label = "sink"
    error_type = SinkError

    def __init__(
        self,
        *,
        status=None,
        status_count: int = -1,
        status_message: str = "sink configured to fail",
        delay: float = 0.0,
        count_only: bool = False,
        max_recv_mib: int = 4,
        workers: int = 8,
        port: int = 0,
        workdir: str | os.PathLike | None = None,
        startup_timeout: float = 20.0,
    ):
        super().__init__(workdir, stderr_name="sink.stderr", tmp_prefix="otlp-sink-")
        if status is not None and not isinstance(status, str):
            status = status.name  # grpc.StatusCode member
        self.status = status
        self.status_count = status_count
        self.status_message = status_message
        self.delay = delay
        self.count_only = count_only
        self.max_recv_mib = max_recv_mib
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.record_path = self.workdir / "records.bin"
        self.counter_path = self.workdir / "counters.bin"
        self.port: int | None = None
        self._listen_port = port
        self._offset = 0
        self._records: list[tuple[str, dict, bytes]] = []
        self._decoded: dict[str, list] = {k: [] for k in KINDS}
        self._decoded_upto = 0
        self._read_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Sink:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_path.write_bytes(b"")
        cmd = [
            sys.executable,
            "-u",
            str(Path(__file__).resolve()),
            "--max-recv-mib",
            str(self.max_recv_mib),
            "--workers",
            str(self.workers),
            "--port",
            str(self._listen_port),
        ]
        if self.count_only:
            cmd += ["--count-only", "--counter", str(self.counter_path)]
        else:
            cmd += ["--record", str(self.record_path)]
        if self.status:
            cmd += [
                "--status",
                self.status,
                "--status-count",
                str(self.status_count),
                "--status-message",
                self.status_message,
            ]
        if self.delay:
            cmd += ["--delay", str(self.delay)]
        self._spawn(cmd, env=child_env())
        with self._stop_on_error():
            self.port = self._read_port(self.startup_timeout)
        return self

    # -- reading what was received -----------------------------------------

    def _read_new(self) -> None:
        if self.count_only:
            raise SinkError("sink is in count-only mode: only counts() / span_count() are available")
        with self._read_lock:
            try:
                with open(self.record_path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return
            pos = 0
            while len(data) - pos >= _REC_HEAD.size:
                tag, hlen, plen = _REC_HEAD.unpack_from(data, pos)
                end = pos + _REC_HEAD.size + hlen + plen
                if end > len(data):
                    break  # partially written record: read it next time
                h0 = pos + _REC_HEAD.size
                head = json.loads(data[h0 : h0 + hlen])
                self._records.append((_KIND_BY_TAG[tag], head, bytes(data[h0 + hlen : end])))
                pos = end
            self._offset += pos

    def records(self, kind: str | None = None) -> list[tuple[str, dict, bytes]]:
        """Raw records: (kind, header dict, wire bytes of the request)."""
        self._read_new()
        return [r for r in self._records if kind is None or r[0] == kind]

    def raw_requests(self, kind: str = "traces") -> list[bytes]:
        return [r[2] for r in self.records(kind)]

    def metadata(self, kind: str = "traces") -> list[dict[str, str]]:
        """Per request, the invocation metadata as a dict (last value wins)."""
        out = []
        for _, head, _ in self.records(kind):
            d = {}
            for k, v in head["metadata"]:
                d[k] = bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
            out.append(d)
        return out

    def requests(self, kind: str = "traces") -> list:
        """Decoded Export*ServiceRequest messages of one kind, in arrival order."""
        self._read_new()
        with self._read_lock:
            for k, _, raw in self._records[self._decoded_upto :]:
                self._decoded[k].append(_request_class(k).FromString(raw))
            self._decoded_upto = len(self._records)
            return list(self._decoded[kind])

    def spans(self) -> list[tuple]:
        """Flat list of (resource, scope, span) over all trace requests."""
        out = []
        for req in self.requests("traces"):
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        out.append((rs.resource, ss.scope, sp))
        return out

    def metrics(self) -> list[tuple]:
        """Flat list of (resource, scope, metric)."""
        out = []
        for req in self.requests("metrics"):
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        out.append((rm.resource, sm.scope, m))
        return out

    def log_records(self) -> list[tuple]:
        """Flat list of (resource, scope, log_record)."""
        out = []
        for req in self.requests("logs"):
            for rl in req.resource_logs:
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        out.append((rl.resource, sl.scope, lr))
        return out

    def counts(self) -> dict[str, int]:
        """Counters: trace_requests, spans, metric_requests, data_points, log_requests, log_records."""
        if self.count_only:
            try:
                with open(self.counter_path, "rb") as f:
                    data = f.read(_COUNTERS.size)
            except FileNotFoundError:
                data = b""
            if len(data) < _COUNTERS.size:
                return dict.fromkeys(_COUNTER_NAMES, 0)
            return dict(zip(_COUNTER_NAMES, _COUNTERS.unpack(data), strict=False))
        return {
            "trace_requests": len(self.requests("traces")),
            "spans": len(self.spans()),
            "metric_requests": len(self.requests("metrics")),
            "data_points": _count_data_points_all(self.requests("metrics")),
            "log_requests": len(self.requests("logs")),
            "log_records": len(self.log_records()),
        }

    def span_count(self) -> int:
        if self.count_only:
            return self.counts()["spans"]
        return len(self.spans())

    def request_count(self, kind: str = "traces") -> int:
        if self.count_only:
            return self.counts()[
                {"traces": "trace_requests", "metrics": "metric_requests", "logs": "log_requests"}[kind]
            ]
        return len(self.records(kind))

    def _wait(self, what: str, get_count, n: int, timeout: float):
        count = 0

        def enough() -> bool:
            nonlocal count
            count = get_count()
            return count >= n

        self._poll_alive(
            enough,
            timeout,
            lambda: f"{n} {what} (have {count})",
            lambda: TimeoutError(f"sink received {count} {what}, expected >= {n} within {timeout}s"),
        )
        return count

    def wait_for_spans(self, n: int, timeout: float = 10.0):
        """Wait until at least n spans were received; return spans() (or the count in count-only mode)."""
        c = self._wait("spans", self.span_count, n, timeout)
        return c if self.count_only else self.spans()

    def wait_for_requests(self, n: int, timeout: float = 10.0, kind: str = "traces") -> int:
        return self._wait(f"{kind} requests", lambda: self.request_count(kind), n, timeout)

    def wait_for_metrics(self, n: int, timeout: float = 10.0):
        self._wait("metrics", lambda: len(self.metrics()), n, timeout)
        return self.metrics()

    def wait_for_log_records(self, n: int, timeout: float = 10.0):
        self._wait("log records", lambda: len(self.log_records()), n, timeout)
        return self.log_records()


def _count_data_points_all(reqs) -> int:
    return sum(count_data_points(r) for r in reqs)


def _request_class(kind: str):
    if kind == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest as C,
        )
    elif kind == "metrics":
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest as C,
        )
    elif kind == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest as C,
        )
    else:
        raise ValueError(kind)
    return C


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
