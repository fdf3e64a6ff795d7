"""An instrumented shop, built from the real packages an OpenTelemetry user deploys.

Run it under ``opentelemetry-instrument`` (``tests/test_otel_instrumented_apps.py`` does,
once with the official SDK and once with otlp's providers)::

    opentelemetry-instrument python tests/apps/shop.py

It serves two applications on 127.0.0.1 (free ports), drives a fixed sequence of requests
at them, stops them and exits, leaving the export at exit to whatever
``opentelemetry-instrument`` set up:

* **front** (Flask, werkzeug's server in a thread): ``/checkout/<order>`` writes and reads
  an order in sqlite3, logs, records business metrics and asks the inventory for stock
  with ``requests``; ``/price/<item>`` answers a price; ``/fail`` raises.
* **inventory** (FastAPI, uvicorn in a thread): ``/stock/<item>`` (sync: runs in the
  thread pool) creates spans by hand through the API (every attribute type, events,
  links, status, a recorded exception, a renamed span); ``/items/<item>`` (async) asks
  the front for a price with ``httpx.AsyncClient``.
* the driver (main thread): ``requests`` and ``httpx.Client`` calls, a log record outside
  any span, a span linked to an earlier one, and a record emitted straight through the
  logs API.

The servers are single-threaded (werkzeug) or wait for their requests on shutdown
(uvicorn), so every server span has ended before the process exits. The last line of
stdout is ``RESULT {json}``: the ports (which the test normalises), the answers, and the
provider classes that were in use.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
import time
from typing import Any

import fastapi
import flask
import httpx
import requests
import uvicorn
from opentelemetry import _logs, metrics, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from werkzeug.serving import WSGIRequestHandler, make_server

START_TIMEOUT = 20.0

log = logging.getLogger("shop")
log.setLevel(logging.INFO)
tracer = trace.get_tracer("shop", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0")
meter = metrics.get_meter("shop", "1.2.3")

orders = meter.create_counter("shop.orders", unit="{order}", description="Orders placed")
amounts = meter.create_histogram(
    "shop.order.amount",
    unit="EUR",
    description="Order amounts",
    explicit_bucket_boundaries_advisory=[10.0, 50.0, 100.0],
)
basket = meter.create_up_down_counter("shop.basket.items", unit="{item}")
stock_level = meter.create_gauge("shop.stock.level", unit="{item}")


def _warehouses(options: metrics.CallbackOptions) -> list[metrics.Observation]:
    return [
        metrics.Observation(3, {"warehouse": "north"}),
        metrics.Observation(5, {"warehouse": "south"}),
    ]


def _shipped(options: metrics.CallbackOptions) -> list[metrics.Observation]:
    return [metrics.Observation(42, {"carrier": "post"})]


meter.create_observable_gauge("shop.warehouses.open", callbacks=[_warehouses], unit="{warehouse}")
meter.create_observable_counter("shop.parcels.shipped", callbacks=[_shipped], unit="{parcel}")

PRICES = {"widget": 12.5, "gadget": 99.0, "gizmo": 250.0}


# --------------------------------------------------------------------------
# front: Flask
# --------------------------------------------------------------------------
def make_front(inventory_url: str) -> flask.Flask:
    app = flask.Flask("shop")
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.cursor().execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, amount REAL)")

    @app.get("/checkout/<int:order>")
    def checkout(order: int) -> Any:
        item = "widget" if order % 2 else "gadget"
        stock = requests.get(f"{inventory_url}/stock/{item}", timeout=10).json()
        amount = PRICES[item] * stock["reserved"]
        # The sqlite3 instrumentation traces cursors, not the connection's shortcuts.
        cursor = db.cursor()
        cursor.execute("INSERT INTO orders (id, item, amount) VALUES (?, ?, ?)", (order, item, amount))
        cursor.execute("SELECT COUNT(*) FROM orders WHERE item = ?", (item,))
        (count,) = cursor.fetchone()
        cursor.close()
        orders.add(1, {"item": item})
        amounts.record(amount, {"item": item})
        basket.add(stock["reserved"], {"item": item})
        basket.add(-1, {"item": item})
        log.info("order %d placed", order, extra={"order.id": order, "order.amount": amount})
        if count > 1:
            log.warning("repeat item %s", item, extra={"order.count": count})
        return {"order": order, "item": item, "amount": amount}

    @app.get("/price/<item>")
    def price(item: str) -> Any:
        trace.get_current_span().set_attribute("shop.item", item)
        return {"item": item, "price": PRICES[item]}

    @app.get("/fail")
    def fail() -> Any:
        raise ValueError("payment service refused the card")

    return app


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's access log carries the client's port and the time: not telemetry."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


# --------------------------------------------------------------------------
# inventory: FastAPI
# --------------------------------------------------------------------------
def make_inventory(front_url: str) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="inventory")

    @app.get("/stock/{item}")
    def stock(item: str) -> dict[str, Any]:
        with tracer.start_as_current_span(
            "reserve",
            attributes={
                "shop.item": item,
                "shop.quantity": 2,
                "shop.weight": 1.25,
                "shop.fragile": False,
                "shop.tags": ["blue", "large"],
                "shop.sizes": [1, 2, 3],
                "shop.ratios": [0.5, 1.5],
                "shop.flags": [True, False],
            },
        ) as span:
            span.add_event("reserved", {"shop.quantity": 2, "shop.bins": ["a1", "b2"]})
            span.set_attributes({"shop.warehouse": "north", "shop.level": 3})
            stock_level.set(3, {"item": item, "warehouse": "north"})
            with tracer.start_as_current_span("lookup", kind=SpanKind.CLIENT) as lookup:
                lookup.update_name("lookup stock")
                lookup.set_status(Status(StatusCode.OK))
            with tracer.start_as_current_span(
                "audit", record_exception=False, set_status_on_exception=False
            ) as audit:
                try:
                    raise KeyError(f"no audit trail for {item}")
                except KeyError as e:
                    audit.record_exception(e, attributes={"shop.item": item})
                    audit.set_status(StatusCode.ERROR, "audit trail missing")
            try:
                with tracer.start_as_current_span("restock"):
                    raise RuntimeError(f"{item} cannot be restocked today")
            except RuntimeError:
                pass  # recorded on the span, with an ERROR status, by the context manager
        return {"item": item, "reserved": 2}

    @app.get("/items/{item}")
    async def items(item: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            price = (await client.get(f"{front_url}/price/{item}", timeout=10)).json()
        trace.get_current_span().add_event("priced", {"shop.price": price["price"]})
        return {"item": item, "price": price["price"]}

    return app


# --------------------------------------------------------------------------
# servers and driver
# --------------------------------------------------------------------------
def _wait(what: str, ready: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT}s")
        time.sleep(0.01)  # polling a start-up flag inside a deadline


def _classes() -> dict[str, str]:
    def name(obj: Any) -> str:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    return {
        "tracer_provider": name(trace.get_tracer_provider()),
        "meter_provider": name(metrics.get_meter_provider()),
        "logger_provider": name(_logs.get_logger_provider()),
        "root_handlers": ",".join(sorted(name(h) for h in logging.getLogger().handlers)),
    }


def main() -> int:
    # The front is bound first so that each app knows the other's URL when it is built.
    front_server = make_server("127.0.0.1", 0, None, request_handler=_QuietHandler)
    front_url = f"http://127.0.0.1:{front_server.server_port}"

    inventory = uvicorn.Server(
        uvicorn.Config(
            make_inventory(front_url),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    inventory_thread = threading.Thread(target=inventory.run, name="inventory", daemon=True)
    inventory_thread.start()
    _wait("inventory", lambda: inventory.started or not inventory_thread.is_alive())
    if not inventory.started:
        raise RuntimeError("inventory failed to start")
    inventory_port = inventory.servers[0].sockets[0].getsockname()[1]
    inventory_url = f"http://127.0.0.1:{inventory_port}"

    front_server.app = make_front(inventory_url)
    front_thread = threading.Thread(target=front_server.serve_forever, name="front", daemon=True)
    front_thread.start()

    answers: list[Any] = []
    try:
        log.warning("shop open", extra={"shop.opening": True})
        first = requests.get(f"{front_url}/checkout/1", timeout=10)
        answers.append(first.json())
        answers.append(requests.get(f"{front_url}/checkout/2", timeout=10).json())
        answers.append(requests.get(f"{front_url}/checkout/3", timeout=10).json())
        with httpx.Client() as client:
            answers.append(client.get(f"{inventory_url}/items/gizmo", timeout=10).json())
        answers.append(requests.get(f"{front_url}/fail", timeout=10).status_code)

        with tracer.start_as_current_span("nightly report", kind=SpanKind.PRODUCER) as report:
            earlier = report.get_span_context()
        with tracer.start_as_current_span(
            "send report",
            kind=SpanKind.CONSUMER,
            links=[Link(earlier, {"shop.reason": "follows"})],
        ) as send:
            send.add_link(earlier, {"shop.reason": "added later"})
            _logs.get_logger("shop.audit", "1.2.3").emit(
                body={"event": "report sent", "pages": 3, "ok": True},
                severity_number=_logs.SeverityNumber.INFO2,
                severity_text="INFO2",
                attributes={"shop.channel": "mail"},
                event_name="shop.report",
            )
    finally:
        front_server.shutdown()  # single-threaded: returns once the request in hand is done
        front_server.server_close()
        inventory.should_exit = True  # uvicorn waits for its requests, then returns
        inventory_thread.join(START_TIMEOUT)

    print(
        "RESULT "
        + json.dumps(
            {
                "ports": {"front": front_server.server_port, "inventory": inventory_port},
                "answers": answers,
                "classes": _classes(),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
