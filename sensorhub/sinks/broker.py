"""The embedded MQTT broker: amqtt, in-process, on loopback only.

Started when no broker is configured and none listens on localhost:1883 (on another
port when 1883 is held by something that is not an MQTT broker), so that
``mosquitto_sub -t 'sensorhub/#' -v`` (or any app on this machine) sees a run with no
set-up at all.  Mosquitto or a cloud broker is the choice for anything more.
"""

from __future__ import annotations

import logging
from types import TracebackType

from sensorhub.errors import SensorhubError

HOST = "127.0.0.1"
PORT = 1883


class EmbeddedBroker:
    """``async with EmbeddedBroker():`` runs an amqtt broker on 127.0.0.1:1883."""

    def __init__(self, host: str = HOST, port: int = PORT) -> None:
        self.host = host
        self.port = port
        self._broker: object | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        broker = Broker(
            {"listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}}}
        )
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps a port in use in its own exception
            raise SensorhubError(
                f"cannot start the embedded MQTT broker on {self.host}:{self.port} ({exc})",
                "give a broker with --mqtt URL, or --mqtt none",
            ) from exc
        self._broker = broker
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._broker is not None:
            await self._broker.shutdown()  # type: ignore[attr-defined]
            self._broker = None
