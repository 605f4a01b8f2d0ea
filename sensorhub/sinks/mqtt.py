"""Events to an MQTT broker (aiomqtt), for any app, watch or dashboard.

Topics (``docs/mqtt.md``): ``<prefix>/<runner>/<sensor>/<type>`` for a sensor's events,
``<prefix>/<runner>/all/<type>`` for the runner's (activity, asymmetry), and the retained
``<prefix>/<runner>/status`` (``online`` / ``offline``, also the Last Will).  Real-time
events go at QoS 0; step metrics, activity and asymmetry at QoS 1.  While the broker is
away QoS 1 messages wait in a bounded outbox (oldest dropped beyond it, counted) and are
delivered in order once it is back; QoS 0 ones are dropped and counted (a cadence cue is
worthless a minute late).  Reconnects back off exponentially with full jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import msgspec

from sensorhub.config import MqttConfig
from sensorhub.errors import ConfigError
from sensorhub.events import AnyEvent
from sensorhub.pipeline.runner import STOP

log = logging.getLogger(__name__)

QOS1_TYPES = frozenset({"step", "activity", "asymmetry", "link", "summary"})
RUNNER_TYPES = frozenset({"activity", "asymmetry", "summary"})


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def redact_url(url: str) -> str:
    """``url`` with its password, if any, as ``***``: what may be printed or logged."""
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{hostpart}"


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://[user:pass@]host[:port]`` or ``mqtts://...``; raises ConfigError (whose
    message never holds the password)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    url = redact_url(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(
            f"MQTT URL {url!r}: scheme {parts.scheme!r} unknown",
            "use mqtt://host[:port] or mqtts://host[:port]",
        )
    if not parts.hostname:
        raise ConfigError(f"MQTT URL {url!r} has no host", "use mqtt://host[:port]")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"MQTT URL {url!r}: the port is not a number") from None
    return BrokerAddress(
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        tls,
    )


# ---------------------------------------------- aiomqtt 2 internals, in this one place
# pyproject.toml pins aiomqtt below 3 (which has no paho client inside); test_mqtt checks
# that these attributes exist on the installed version.


def paho_of(client: aiomqtt.Client) -> Any:
    """The paho-mqtt client inside an aiomqtt 2 client (its ``_client``)."""
    return client._client


def settle_disconnect(client: aiomqtt.Client) -> None:
    """After a lost connection: take the error aiomqtt 2 left in its ``_disconnected``
    future, which nothing else reads when no messages are iterated (asyncio would log
    "Future exception was never retrieved" when it is collected)."""
    fut = getattr(client, "_disconnected", None)
    if isinstance(fut, asyncio.Future) and fut.done() and not fut.cancelled():
        fut.exception()


@dataclass
class MqttStats:
    published: int = 0
    dropped_qos0: int = 0  # while the broker was away
    outbox_overflow: int = 0  # QoS 1 messages dropped because the outbox was full
    connects: int = 0
    errors: list[str] = field(default_factory=list)


def describe_error(
    exc: BaseException, address: BrokerAddress, ever_connected: bool = True
) -> tuple[str, bool]:
    """A one-line explanation and whether retrying can help."""
    text = str(exc)
    low = text.lower()
    if (
        address.tls
        and not ever_connected
        and ("reset by peer" in low or "eof" in low or "wrong version" in low)
    ):
        return (
            f"TLS to MQTT broker {address} failed ({text}): does it speak TLS on port "
            f"{address.port}? Use mqtt:// for a plain broker, or check the port",
            False,
        )
    if "not authori" in low or "bad user name" in low or "bad username" in low:
        return (
            f"MQTT broker {address} refused the credentials ({text}); check the user and "
            "password in the MQTT URL",
            False,
        )
    if isinstance(exc.__cause__, ssl.SSLError) or "ssl" in low or "certificate" in low:
        return (
            f"TLS to MQTT broker {address} failed ({text}); check tls_ca, the host name, "
            "or use mqtt:// if the broker has no TLS",
            False,
        )
    return (
        f"MQTT broker {address} unreachable ({text or type(exc).__name__}); "
        "retrying (QoS 1 events wait for it, real-time QoS 0 ones are dropped meanwhile)",
        True,
    )


class MqttSink:
    """Publishes events from a queue; survives broker outages.

    Parameters
    ----------
    config
        The ``[mqtt]`` settings (``url`` must be set by now).
    runner
        Runner id for the topics.
    session
        Session id, the prefix of every event id.
    on_status
        Told of connection changes and errors, as one-line strings (console, logs).
    """

    name = "mqtt"
    wants_raw = False
    BACKOFF_CAP_S = 10.0  # reconnect delays: uniform in [0, min(cap, 0.5 s x 2^attempt)]

    def __init__(
        self,
        config: MqttConfig,
        runner: str,
        session: str,
        on_status: Callable[[str], None] | None = None,
        client_factory: Callable[..., aiomqtt.Client] = aiomqtt.Client,
    ) -> None:
        self.config = config
        self.address = parse_url(config.url)
        self.runner = runner
        self.session = session
        self.base = f"{config.topic_prefix}/{runner}"
        self.status_topic = f"{self.base}/status"
        self.stats = MqttStats()
        self.connected = False
        self._on_status = on_status or (lambda _msg: None)
        self._client_factory = client_factory
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._inflight: deque[tuple[asyncio.Future[None], tuple[str, bytes]]] = deque()
        self._seq = 0

    # ----------------------------------------------------------------- messages
    def _status(self, state: str) -> bytes:
        return msgspec.json.encode(
            {"state": state, "session": self.session, "wall_time": time.time()}
        )

    def encode(self, event: AnyEvent) -> tuple[str, bytes, int]:
        """Topic, payload (the event's JSON with an ``id``) and QoS of an event."""
        tag = str(event.__struct_config__.tag)
        self._seq += 1
        body = msgspec.json.encode(event)
        payload = b'{"id":"%s-%d",' % (self.session.encode(), self._seq) + body[1:]
        where = "all" if tag in RUNNER_TYPES or not event.sensor else event.sensor
        return f"{self.base}/{where}/{tag}", payload, 1 if tag in QOS1_TYPES else 0

    def _keep(self, topic: str, payload: bytes, qos: int) -> None:
        if qos == 0:
            self.stats.dropped_qos0 += 1
            return
        if len(self._outbox) >= self.config.outbox_max:
            self._outbox.popleft()
            self.stats.outbox_overflow += 1
        self._outbox.append((topic, payload))

    # ------------------------------------------------------------------- client
    def _client(self) -> aiomqtt.Client:
        a = self.address
        tls: ssl.SSLContext | None = None
        if a.tls:
            tls = ssl.create_default_context(cafile=self.config.tls_ca or None)
            if self.config.tls_insecure:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        client = self._client_factory(
            a.host,
            a.port,
            username=a.username,
            password=a.password,
            identifier=f"sensorhub-{self.runner}-{self.session}",
            keepalive=self.config.keepalive_s,
            timeout=5.0,
            will=aiomqtt.Will(self.status_topic, self._status("offline"), qos=1, retain=True),
            tls_context=tls,
            # Nagle's algorithm would hold QoS 1 publishes back ~40 ms
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            max_inflight_messages=self.MAX_INFLIGHT,  # paho's own limit, 20 by default
        )
        # aiomqtt warns from 10 publishes awaiting their acknowledgement; we allow more
        client.pending_calls_threshold = self.MAX_INFLIGHT + self.BATCH
        return client

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        """Publish until ``STOP`` comes off the queue (then set the status offline).

        If the broker is away when the run ends, keep trying for ``final_flush_s`` to
        deliver what the outbox holds.
        """
        attempt = 0
        stopping_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            client = self._client()
            try:
                async with client:
                    self.connected = True
                    self.stats.connects += 1
                    attempt = 0
                    log.debug("connected to %s (connection %d)", self.address, self.stats.connects)
                    self._on_status(f"MQTT: connected to {self.address}")
                    await client.publish(
                        self.status_topic, self._status("online"), qos=1, retain=True
                    )
                    await self._flush_outbox(client)
                    if stopping_since is not None or await self._publish_from(queue, client):
                        await client.publish(
                            self.status_topic, self._status("offline"), qos=1, retain=True
                        )
                        self.connected = False
                        return
            except aiomqtt.MqttError as exc:
                settle_disconnect(client)
                self._abandon_inflight()
                was = self.connected
                self.connected = False
                message, retry = describe_error(exc, self.address, self.stats.connects > 0)
                log.debug("%s: %s", self.address, message, exc_info=True)
                if not self.stats.errors or self.stats.errors[-1] != message:
                    self._on_status(("MQTT: connection lost; " if was else "MQTT: ") + message)
                self.stats.errors.append(message)
                if not retry:
                    if stopping_since is None:
                        await self._drain(queue, None)  # keep the pipeline flowing, locally
                    return
                delay = random.uniform(0.0, min(self.BACKOFF_CAP_S, 0.5 * 2.0**attempt))
                attempt += 1
                log.debug("reconnect attempt %d in %.2f s", attempt, delay)
                if stopping_since is not None:
                    if loop.time() - stopping_since > self.config.final_flush_s:
                        if self._outbox:
                            self._on_status(
                                f"MQTT: {len(self._outbox)} QoS 1 messages not "
                                "delivered: the broker stayed away"
                            )
                        return
                    await asyncio.sleep(delay)
                elif await self._drain(queue, delay):
                    stopping_since = loop.time()
                    self._on_status(
                        f"MQTT: the run has ended; waiting up to {self.config.final_flush_s:g} "
                        f"s for the broker to take {len(self._outbox)} QoS 1 messages "
                        "(Ctrl-C gives up)"
                    )

    BATCH = 256  # events taken off the queue at once
    MAX_INFLIGHT = 1024  # QoS 1 publishes awaiting their acknowledgement

    @staticmethod
    def _send(client: aiomqtt.Client, topic: str, payload: bytes) -> int:
        """Write a QoS 0 publish to the socket now; returns its message id.

        ``aiomqtt.Client.publish`` hands the message to paho-mqtt, which writes it a few
        turns of the event loop later, and then waits for paho to say so: ~0.45 ms on an
        idle loop for the write, more for the wait, for nothing at QoS 0.  When paho has
        nothing else waiting to be written, this writes at once with paho's own
        ``loop_write`` (non-blocking), keeping paho's record of aiomqtt's writer callback
        true: without that, aiomqtt's deferred writer registration would outlive the
        write and spin the loop.  With a backlog, the message joins it as usual."""
        paho = paho_of(client)
        direct = not (paho.want_write() or paho._registered_write)
        if direct:
            paho._registered_write = True  # no deferred writer for this message
        info = paho.publish(topic, payload, 0)
        if info.rc != 0:
            if direct:
                paho._registered_write = False  # as it was
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if direct:
            paho.loop_write()  # all written: paho unregisters (a no-op for aiomqtt)
            if paho.want_write():  # the socket took part of it: the writer does the rest
                paho._registered_write = False
                paho._call_socket_register_write()
        return int(info.mid)

    async def _settle(self, everything: bool) -> None:
        """Account for finished QoS 1 publishes, oldest first; with ``everything`` wait
        for all of them.  A failed one and every one after it go back to the outbox,
        in order, and the error is raised (the connection is gone)."""
        error: BaseException | None = None
        while self._inflight:
            task, (topic, payload) = self._inflight[0]
            if not task.done():
                if not (everything or error or len(self._inflight) > self.MAX_INFLIGHT):
                    return
                await asyncio.wait([task])
            self._inflight.popleft()
            exc = task.exception()
            if exc is not None and not isinstance(exc, aiomqtt.MqttError):
                raise exc
            if exc is None and error is None:
                self.stats.published += 1
            else:
                error = error or exc
                self._keep(topic, payload, 1)
        if error is not None:
            raise error

    def _abandon_inflight(self) -> None:
        """The connection is gone: QoS 1 publishes not acknowledged go to the outbox, in
        order, for the next connection (one that did arrive unacknowledged arrives twice:
        QoS 1 is at least once, and the event ``id`` tells the copies apart)."""
        while self._inflight:
            task, (topic, payload) = self._inflight.popleft()
            if task.done() and not task.cancelled() and task.exception() is None:
                self.stats.published += 1
            else:
                task.cancel()
                self._keep(topic, payload, 1)

    async def _flush_outbox(self, client: aiomqtt.Client) -> None:
        """Deliver what waited while the broker was away, in order (raises on an error,
        keeping what was not acknowledged)."""
        while self._outbox:
            for _ in range(min(self.BATCH, len(self._outbox))):
                topic, payload = self._outbox.popleft()
                task = asyncio.ensure_future(client.publish(topic, payload, qos=1))
                self._inflight.append((task, (topic, payload)))
            await self._settle(everything=True)

    async def _publish_from(self, queue: asyncio.Queue[Any], client: aiomqtt.Client) -> bool:
        """Publish events until STOP (True) or a broker error (raised).

        QoS 0 events are written at once; QoS 1 ones are handed to the client in order
        and their acknowledgements awaited in the background, so none holds back a later
        event.  Order is kept within each QoS level (MQTT orders no more than that)."""
        while True:
            batch = [await queue.get()]
            while batch[-1] is not STOP and len(batch) < self.BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            for k, ev in enumerate(batch):
                if ev is STOP:  # always last
                    await self._settle(everything=True)
                    return True
                topic, payload, qos = self.encode(ev)
                if qos == 1:
                    task = asyncio.ensure_future(client.publish(topic, payload, qos=1))
                    self._inflight.append((task, (topic, payload)))
                    continue
                try:
                    self._send(client, topic, payload)
                except aiomqtt.MqttError:
                    # the connection is gone: what is in flight, then this event and
                    # the rest of the batch wait for the next one (QoS 1), in order
                    self._abandon_inflight()
                    self._keep(topic, payload, 0)
                    for rest in batch[k + 1 :]:
                        if rest is not STOP:
                            self._keep(*self.encode(rest))
                    if batch[-1] is STOP:
                        queue.put_nowait(STOP)  # seen again after the reconnect
                    raise
                self.stats.published += 1
            await self._settle(everything=False)

    async def _drain(self, queue: asyncio.Queue[Any], seconds: float | None) -> bool:
        """While disconnected, take events off the queue for ``seconds`` (None: until
        STOP) into the outbox, so detection never waits.  True if STOP came."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while True:
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                return False
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                return False
            if item is STOP:
                return True
            self._keep(*self.encode(item))
