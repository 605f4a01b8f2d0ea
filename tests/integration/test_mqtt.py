"""Events over MQTT through a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt

from firmware_sim.run import default_config
from sensorhub.config import MqttConfig
from sensorhub.pipeline.runner import run_pipeline
from sensorhub.pipeline.session import Processor
from sensorhub.sinks.files import JsonlSink
from sensorhub.sinks.mqtt import MqttSink
from sensorhub.sources.simulated import SimulatedSource
from sensorhub.types import Side
from tests.mosquitto import Mosquitto


async def collect(
    broker: Mosquitto, until_offline: asyncio.Event, out: list[Any], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-sub") as sub:
        await sub.subscribe("sensorhub/#", qos=1)
        ready.set()
        async for msg in sub.messages:
            body = json.loads(msg.payload)  # type: ignore[arg-type]
            out.append((str(msg.topic), body, msg.retain))
            if str(msg.topic).endswith("/status") and body["state"] == "offline" and not msg.retain:
                until_offline.set()
                return


async def test_every_footstrike_arrives_in_order(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = default_config(duration_s=60, seed=5, sides=(Side.LEFT, Side.RIGHT))
    source = SimulatedSource(cfg, speed=None)
    jsonl = tmp_path / "events.jsonl"
    statuses: list[str] = []
    sink = MqttSink(MqttConfig(url=mosquitto.url), "runner", "s1", on_status=statuses.append)
    received: list[Any] = []
    done, ready = asyncio.Event(), asyncio.Event()
    sub = asyncio.create_task(collect(mosquitto, done, received, ready))
    await ready.wait()
    summary = await run_pipeline(
        source, Processor(source.sensors), [sink, JsonlSink(jsonl)], block=True
    )
    await asyncio.wait_for(done.wait(), 10)
    await sub
    written = [json.loads(x) for x in jsonl.read_text().splitlines()]
    want = [(e["t"], e["sensor"]) for e in written if e["type"] == "footstrike"]
    got = [(b["t"], b["sensor"]) for topic, b, _ in received if topic.endswith("/footstrike")]
    assert len(want) > 150 and got == want
    assert summary.dropped == {}
    assert sink.stats.published == sum(summary.events.values()) + 0
    topics = {t for t, _, _ in received}
    assert "sensorhub/runner/all/activity" in topics
    assert any(t.startswith("sensorhub/runner/SH-") and t.endswith("/step") for t in topics)
    ids = [b["id"] for t, b, _ in received if not t.endswith("/status")]
    assert len(ids) == len(set(ids))  # every event has its own id
    assert statuses and statuses[0].startswith("MQTT: connected")
