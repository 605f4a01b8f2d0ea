"""Benchmarks of the live pipeline against a real Mosquitto on loopback.

    python -m tools.bench_live [--write docs/benchmarks.md] [--seconds 30]

* notification-to-publish latency: from the moment a notification enters the pipeline
  to the moment the QoS 0 event it caused is written to the broker's socket (the QoS 1
  ones: acknowledged by the broker; and: a subscriber has it), p50 and p99, two
  simulated 1 kHz sensors in real time;
* the largest stall between consecutive completions of 20,000 QoS 1 publishes;
* CPU of the hub (decode, detect, cues, MQTT) for 100 simulated 1 kHz sensors in real time,
  the simulator's own work excluded (notifications are generated beforehand).

Needs the ``mosquitto`` binary (``apt-get install mosquitto``); says so and stops otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import aiomqtt
import numpy as np

from firmware_sim.run import SimulatedRun, default_config
from sensorhub.config import MqttConfig
from sensorhub.pipeline.runner import run_pipeline
from sensorhub.pipeline.session import Processor
from sensorhub.recording import SensorEntry
from sensorhub.sinks.mqtt import MqttSink
from sensorhub.sources import SourceBase
from sensorhub.types import Side
from tools._report import update_block

BEGIN = "<!-- bench_live:begin -->"
END = "<!-- bench_live:end -->"


class Broker:
    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = Path(self.dir.name) / "m.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "set_tcp_nodelay true\npersistence false\n"
        )
        self.proc = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.dir.cleanup()


class PacedSource(SourceBase):
    """Pre-generated notifications, fed at their own times (real time)."""

    def __init__(
        self,
        notes: list[tuple[float, int, bytes]],
        sensors: list[SensorEntry],
        stamp: dict[tuple[int, float], float] | None = None,
    ) -> None:
        self.notes = notes
        self.sensors = sensors
        self.fed_at: list[float] = []

    async def notifications(self) -> AsyncIterator[tuple[float, int, bytes]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for t, s, d in self.notes:
            delay = start + t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.fed_at.append(time.perf_counter())
            yield t, s, d


def generate(
    sensors: int, seconds: float
) -> tuple[list[tuple[float, int, bytes]], list[SensorEntry]]:
    """Two simulated shoes, replicated to ``sensors`` streams (each its own state)."""
    run = SimulatedRun(default_config(duration_s=seconds, seed=4, sides=(Side.LEFT, Side.RIGHT)))
    base = [(d.t, d.sensor, d.data) for d in run.deliveries(1.0)]
    entries = []
    notes = []
    for k in range(sensors):
        info = run.sensors[k % 2].info()
        entries.append(SensorEntry(k, f"S{k:03d}", SensorEntry.from_info(k, info).info_hex))
        notes += [(t, k, d) for t, s, d in base if s == k % 2]
    notes.sort(key=lambda x: (x[0], x[1]))
    return notes, entries


written: list[tuple[float, int, bytes]] = []  # (when, QoS, payload)


class TimedClient(aiomqtt.Client):
    """The real client; notes when paho has written a QoS 0 publish to the socket (its
    ``on_publish``) and when a QoS 1 publish is acknowledged (``publish`` returns)."""

    mids: ClassVar[dict[int, bytes]] = {}  # QoS 0 message id -> payload, until written
    done: ClassVar[dict[int, float]] = {}  # written before the sink knew the message id

    def _on_publish(self, client: Any, userdata: Any, mid: int, *a: Any) -> None:
        if mid in TimedClient.mids:
            written.append((time.perf_counter(), 0, TimedClient.mids.pop(mid)))
        else:
            TimedClient.done[mid] = time.perf_counter()
        super()._on_publish(client, userdata, mid, *a)

    async def publish(
        self, topic: str, payload: Any = None, qos: int = 0, *a: Any, **k: Any
    ) -> None:
        await super().publish(topic, payload, qos, *a, **k)
        written.append((time.perf_counter(), qos, payload))


class TimedSink(MqttSink):
    """The real sink; remembers which message id carries which QoS 0 event."""

    @staticmethod
    def _send(client: aiomqtt.Client, topic: str, payload: bytes) -> int:
        mid = MqttSink._send(client, topic, payload)
        if mid in TimedClient.done:  # written at once
            written.append((TimedClient.done.pop(mid), 0, payload))
        else:
            TimedClient.mids[mid] = payload
        return mid


def _key(payload: bytes) -> tuple[Any, Any, Any]:
    body = json.loads(payload)
    return body.get("type"), body.get("sensor"), body.get("t")


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "events": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


async def latency(broker: Broker, seconds: float) -> dict[str, Any]:
    """Notification -> QoS 0 event written to the socket / QoS 1 event acknowledged by the
    broker, and -> a subscriber has it."""
    notes, entries = generate(2, seconds)
    proc = Processor(entries)
    proc.warm_up()
    fed: dict[tuple[Any, Any, Any], float] = {}
    orig = proc.feed

    def feed(t: float, s: int, d: bytes) -> list[Any]:
        t0 = time.perf_counter()
        out = orig(t, s, d)
        for ev in out:
            fed[(str(ev.__struct_config__.tag), ev.sensor, ev.t)] = t0
        return out

    proc.feed = feed  # type: ignore[method-assign,assignment]
    got: list[tuple[float, bytes]] = []
    ready = asyncio.Event()

    async def subscribe() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bench-sub") as sub:
            await sub.subscribe("sensorhub/#", qos=1)
            ready.set()
            async for msg in sub.messages:
                got.append((time.perf_counter(), bytes(msg.payload)))
                if b'"offline"' in msg.payload:
                    return

    task = asyncio.create_task(subscribe())
    await ready.wait()
    written.clear()
    sink = TimedSink(
        MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}"),
        "bench",
        "lat",
        client_factory=TimedClient,
    )
    await run_pipeline(PacedSource(notes, entries), proc, [sink])
    await asyncio.wait_for(task, 10)
    published: dict[int, list[float]] = {0: [], 1: []}
    for when, qos, payload in written:
        key = _key(payload)
        if key in fed:
            published[qos].append(when - fed[key])
    received = [when - fed[k] for when, payload in got if (k := _key(payload)) in fed]
    return {
        "published_qos0": _stats(published[0]),
        "acknowledged_qos1": _stats(published[1]),
        "received": _stats(received),
    }


async def stall(broker: Broker, n: int = 20_000) -> dict[str, float]:
    import socket

    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier="bench-pub",
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    ) as client:
        done = []
        t0 = time.perf_counter()
        for _ in range(n):
            await client.publish("bench/stall", b"x" * 200, qos=1)
            done.append(time.perf_counter())
    gaps = np.diff(np.array([t0, *done])) * 1000
    return {
        "publishes": n,
        "seconds": done[-1] - t0,
        "max_gap_ms": float(gaps.max()),
        "median_gap_ms": float(np.median(gaps)),
    }


async def cpu(broker: Broker, sensors: int, seconds: float) -> dict[str, float]:
    notes, entries = generate(sensors, seconds)
    proc = Processor(entries)
    proc.warm_up()
    sink = MqttSink(MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}"), "bench", "cpu")
    c0, w0 = time.process_time(), time.perf_counter()
    summary = await run_pipeline(PacedSource(notes, entries), proc, [sink])
    c1, w1 = time.process_time(), time.perf_counter()
    return {
        "sensors": sensors,
        "seconds": w1 - w0,
        "cpu_pct": 100 * (c1 - c0) / (w1 - w0),
        "notifications": summary.notifications,
        "events": sum(summary.events.values()),
        "dropped": sum(summary.dropped.values()),
    }


def markdown(r: dict[str, Any]) -> str:
    lat, st, c = r["latency"], r["stall"], r["cpu"]
    p0, p1, rx = lat["published_qos0"], lat["acknowledged_qos1"], lat["received"]
    return "\n".join(
        [
            BEGIN,
            f"Measured by `{r['command']}` ({r['machine']}), Mosquitto on loopback.",
            "",
            "| what | target | result |",
            "|---|---|---|",
            f"| notification -> QoS 0 event written to the socket, 2 sensors at 1 kHz, real "
            f"time ({p0['events']} events) | p50 <= 0.5 ms, p99 <= 2 ms | p50 "
            f"{p0['p50_ms']:.2f} ms, p99 {p0['p99_ms']:.2f} ms, max {p0['max_ms']:.1f} ms |",
            f"| notification -> QoS 1 event acknowledged by the broker ({p1['events']} events) "
            f"| - | p50 {p1['p50_ms']:.2f} ms, p99 {p1['p99_ms']:.2f} ms |",
            f"| notification -> event at a subscriber, through the broker ({rx['events']} "
            f"events) | - | p50 {rx['p50_ms']:.2f} ms, p99 {rx['p99_ms']:.2f} ms, max "
            f"{rx['max_ms']:.1f} ms |",
            f"| largest stall in {st['publishes']:,} QoS 1 publishes (TCP_NODELAY) | <= 10 ms | "
            f"{st['max_gap_ms']:.2f} ms (median {st['median_gap_ms'] * 1000:.0f} us, "
            f"{st['publishes'] / st['seconds']:,.0f}/s) |",
            f"| hub CPU, {c['sensors']} sensors at 1 kHz in real time (decode, detect, MQTT) | "
            f"< 25 % of one core | {c['cpu_pct']:.1f} % ({c['notifications']:,} notifications, "
            f"{c['events']:,} events in {c['seconds']:.0f} s, {c['dropped']} dropped) |",
            END,
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sensors", type=int, default=100)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        print("mosquitto not found: apt-get install mosquitto, then run again", file=sys.stderr)
        return 0
    broker = Broker()
    try:
        res = {
            "command": "python -m tools.bench_live " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "latency": asyncio.run(latency(broker, args.seconds)),
            "stall": asyncio.run(stall(broker)),
            "cpu": asyncio.run(cpu(broker, args.sensors, args.seconds)),
        }
    finally:
        broker.close()
    block = markdown(res)
    print(block)
    if args.write:
        update_block(args.write, BEGIN, END, block, "## Live pipeline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
