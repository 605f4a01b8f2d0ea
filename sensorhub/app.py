"""The live application: a source through the whole pipeline to every sink.

``sensorhub demo``, ``replay`` (with ``--mqtt`` / ``--audio``) and, with BLE, ``live``
all run :func:`run_live`: the source's notifications go through the
:class:`~sensorhub.pipeline.session.Processor`, the stages (session summary, cue
controller) and the bus to the console, MQTT (an embedded broker when none is configured
or listening), audio, the recorder and JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sensorhub.config import Config
from sensorhub.cues import CueController, CueSettings, settings_from_config
from sensorhub.errors import (
    EXIT_INTERRUPTED,
    EXIT_SINK_FAILED,
    AudioUnavailable,
    ConfigError,
    SensorhubError,
)
from sensorhub.pipeline.runner import Source, Stage, run_pipeline
from sensorhub.pipeline.session import Processor, warm_up_kernels
from sensorhub.pipeline.summary import SessionSummary
from sensorhub.recording import SessionHeader, SessionWriter
from sensorhub.sinks.audio import PlaybackSink, WavSink
from sensorhub.sinks.broker import EmbeddedBroker
from sensorhub.sinks.console import ConsoleSink
from sensorhub.sinks.files import JsonlSink, RecorderSink
from sensorhub.sinks.mqtt import MqttSink, redact_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveOptions:
    """What the command line adds to the configuration for one run."""

    title: str
    mqtt: str | None = None  # URL or "none"; None: from the configuration
    audio: str | None = None  # auto, device[:NAME], wav:PATH, none; None: configuration
    record: Path | None = None
    record_auto: bool = False  # no record path given: sensorhub-<session>.shs here
    events_jsonl: Path | None = None
    events_origin_s: float = 0.0  # added to the times written to events_jsonl
    block: bool = False  # wait for slow sinks instead of dropping (replay at max speed)
    duration_s: float | None = None  # stop after this long (a live run)
    step_lines: bool = True  # piped: a line per step (off for a fast replay)
    kind: str = "live"  # what the library calls the session's source: live, sim
    shoe: str | None = None  # --shoe: the pair worn (else [runner] shoe)
    data_dir: Path | None = None  # --data-dir: the library's folder (else [library] path)
    library: bool = True  # index the recording in the library when the run closes


#: Where a broker on this machine listens by default.
LOCAL_BROKER_PORT = 1883
#: An MQTT 3.1.1 CONNECT (clean session, keep-alive 10 s, client id "sensorhub-probe").
_PROBE_CONNECT = (
    bytes([0x10, 27, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 15]) + b"sensorhub-probe"
)


def probe_mqtt(host: str, port: int, timeout_s: float = 0.5) -> str:
    """What listens on ``host:port``: "broker" (it answers an MQTT CONNECT with a
    CONNACK, whatever its verdict on credentials), "other" (something that does not speak
    MQTT), or "closed" (nothing)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError:
        return "closed"
    with sock:
        try:
            sock.sendall(_PROBE_CONNECT)
            reply = sock.recv(4)
            if len(reply) >= 2 and reply[0] == 0x20 and reply[1] == 0x02:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
                return "broker"
        except OSError:
            pass
    return "other"


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class BrokerChoice:
    url: str | None  # None: no MQTT
    embedded_port: int | None = None  # start the embedded broker on this port
    why: str = ""  # said in the banner when the choice needs explaining


def mqtt_url(
    config: Config, option: str | None, local_port: int = LOCAL_BROKER_PORT
) -> BrokerChoice:
    """The broker to use: --mqtt, the config, a broker on localhost:``local_port``, or the
    embedded one (on that port when it is free, else on a free one, saying why)."""
    if option is not None:
        return BrokerChoice(None if option.lower() == "none" else option)
    if not config.mqtt.enabled:
        return BrokerChoice(None)
    if config.mqtt.url:
        return BrokerChoice(str(config.mqtt.url))
    found = probe_mqtt("127.0.0.1", local_port)
    if found == "broker":
        return BrokerChoice(f"mqtt://127.0.0.1:{local_port}")
    if found == "closed":
        return BrokerChoice(f"mqtt://127.0.0.1:{local_port}", local_port)
    port = free_loopback_port()
    why = f"port {local_port} is held by something that is not an MQTT broker"
    return BrokerChoice(f"mqtt://127.0.0.1:{port}", port, why)


def audio_sink(audio: str, settings: CueSettings, session: str, say: Callable[[str], Any]) -> Any:
    """``--audio``: auto (the sound card, else a WAV file), device[:NAME], wav:PATH, none."""
    mode = settings.mode
    if audio == "none":
        return None
    if audio.startswith("wav:") and len(audio) > 4:
        say(f"[dim]cadence cues ({mode}) to {audio[4:]}[/]")
        return WavSink(Path(audio[4:]), settings)
    if audio == "auto" or audio == "device" or audio.startswith("device:"):
        device = audio[7:] if audio.startswith("device:") else None
        try:
            sink = PlaybackSink(settings, device)
        except AudioUnavailable as exc:
            if audio != "auto":
                raise
            wav = Path(f"sensorhub-{session}.wav")
            say(f"[dim]cadence cues ({mode}) to {wav}: {exc.message}[/]")
            return WavSink(wav, settings)
        say(f"[dim]cadence cues ({mode}) on {sink.device_name}[/]")
        return sink
    raise ConfigError(
        f"--audio {audio!r} unknown", "use auto, device, device:NAME, wav:PATH or none"
    )


def cue_settings(config: Config) -> CueSettings:
    return settings_from_config(config.cues, config.audio.sample_rate)


def _open_library(config: Config, options: LiveOptions, say: Callable[[str], Any]) -> Any:
    """The library a recorded run is indexed in (None: off, or it cannot be opened: said
    in a line, and the run goes on); recordings a crash left behind are indexed first."""
    if not options.library or not config.library.enabled:
        return None
    from sensorhub.library.index import index_orphans
    from sensorhub.library.store import open_library

    try:
        lib = open_library(config, options.data_dir)
        index_orphans(lib, config, say)
    except SensorhubError as exc:
        say(f"library: {exc}; this run is recorded but not indexed")
        return None
    return lib


def _begin_recording(library: Any, header: SessionHeader, record: Path, say: Any) -> int:
    from sensorhub.library.index import recording_uid, sensors_json

    try:
        return int(
            library.begin_recording(
                recording_uid(header),
                record.resolve(),
                str(header.config["runner"]),
                header.config.get("shoe"),
                header.started_unix,
                str(header.config["kind"]),
                sensors_json(header),
            )
        )
    except SensorhubError as exc:
        say(f"library: {exc}; this run is recorded but not indexed")
        return 0


def _index_closed(library: Any, record: Path, config: Config) -> str:
    """The run's recording into the library, as it closes: one line of what happened."""
    from sensorhub.library.index import index_recording

    try:
        got = index_recording(library, record, config)
    except SensorhubError as exc:
        return f"library: not indexed ({exc}); later: sensorhub library add {record}"
    return (
        f"library: session {got.session_id} ({got.steps} steps); sensorhub report {got.session_id}"
    )


def run_live(source: Source, config: Config, options: LiveOptions) -> int:
    """Source -> signal core -> stages -> console, MQTT, audio, recorder, JSON lines, until
    the source ends or Ctrl-C / SIGTERM (then every sink closes cleanly).  Returns 0,
    ``EXIT_INTERRUPTED`` after Ctrl-C / SIGTERM, or ``EXIT_SINK_FAILED`` when a sink failed
    on the way."""

    console = ConsoleSink(progress=source.progress, step_lines=options.step_lines)
    say = console.console.print
    session = time.strftime("%Y%m%dT%H%M%S")
    sinks: list[Any] = [console]
    audio = options.audio or config.audio.output
    wav = Path(audio[4:]) if audio.startswith("wav:") else None
    record = options.record
    if record is None and options.record_auto:
        record = Path(f"sensorhub-{session}.shs")
    for path in (record, options.events_jsonl, wav):  # before any file is made
        if path is not None and path.exists():
            raise SensorhubError(f"{path} already exists", "choose a new name")
    choice = mqtt_url(config, options.mqtt)
    url, embedded = choice.url, choice.embedded_port
    log.debug("MQTT: %s", redact_url(url) if url else "off")
    if url is not None:  # nothing is connected yet: a bad URL fails here
        mqtt_config = msgspec.structs.replace(config.mqtt, url=url)
        sinks.append(MqttSink(mqtt_config, config.runner.id, session, on_status=say))
    stages: list[Stage] = [SessionSummary()]
    if config.cues.mode != "off":  # a missing sound card fails before any file is made
        settings = cue_settings(config)
        stages.append(CueController(settings))
        sink = audio_sink(audio, settings, session, say)
        if sink is not None:
            sinks.append(sink)
    if options.events_jsonl is not None:
        sinks.append(JsonlSink(options.events_jsonl, options.events_origin_s))
    stop = asyncio.Event()
    interrupted: list[bool] = []  # Ctrl-C or SIGTERM came
    processors: list[Processor] = []
    shoe = options.shoe or config.runner.shoe or None
    library = _open_library(config, options, say) if record is not None else None
    library_ids: list[int] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            interrupted.append(True)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupt)
        async with contextlib.AsyncExitStack() as stack:
            if embedded is not None:
                await stack.enter_async_context(EmbeddedBroker(port=embedded))
            # compile before any sensor streams: a stalled loop would stamp notifications
            # late in a burst (issue 11)
            warm_up_kernels(config.detector)
            await source.open()  # BLE: the sensors are known once connected
            stack.push_async_callback(source.close)
            if options.duration_s is not None:
                loop.call_later(options.duration_s, stop.set)
            processor = Processor(source.sensors, config.detector, config.gait)
            processor.warm_up()
            processors.append(processor)
            run_sinks = list(sinks)
            if record is not None:
                header = SessionHeader(
                    time.time(),
                    "live",
                    list(source.sensors),
                    config={
                        "kind": options.kind,
                        "runner": config.runner.id,
                        "shoe": shoe,
                        "cues": msgspec.to_builtins(config.cues),
                    },
                )
                run_sinks.append(RecorderSink(SessionWriter(record, header, fsync=True)))
                if library is not None:
                    library_ids.append(_begin_recording(library, header, record, say))
            topics = f"{config.mqtt.topic_prefix}/{config.runner.id}"
            say(
                f"[bold]{options.title}[/]: {', '.join(e.name for e in source.sensors)}"
                + (f", events to {redact_url(url)} ({topics}/#)" if url else "")
                + (" on the embedded broker" if embedded is not None else "")
                + (f" ({choice.why})" if choice.why else "")
                + (f", recording to {record}" if record is not None else "")
                + "  (Ctrl-C stops)"
            )
            return await run_pipeline(
                source,
                processor,
                run_sinks,
                block=options.block,
                stop_event=stop,
                stages=stages,
                on_sink_failure=sink_failed,
            )

    def sink_failed(name: str, what: str) -> None:
        line = f"{name} failed: {what}; detached, the run goes on without it"
        if name == console.name:  # the console itself: to stderr
            print(f"sensorhub: {line}", file=sys.stderr)
        else:
            say(f"[bold red]{name} failed[/]: {what}; detached, the run goes on without it")

    summary = asyncio.run(main())
    processor = processors[0]
    lost = sum(s.missing_samples for s in processor.streams.values())
    corrupt = sum(s.corrupt for s in processor.streams.values())
    dropped = ", ".join(f"{n} for {k}" for k, n in summary.dropped.items()) or "none"
    failed = "".join(f", {k} failed ({what})" for k, what in summary.failed.items())
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.events.items()))
    stopped_by = "Ctrl-C / SIGTERM" if interrupted else summary.stopped_by
    lines = [
        f"done ({stopped_by}): {summary.notifications} notifications, "
        f"{sum(summary.events.values())} events ({kinds or 'none'}), {lost} samples lost, "
        f"{corrupt} corrupt, dropped: {dropped}{failed}"
    ]
    # where everything went, and how to look at it again
    if record is not None and "recorder" not in summary.failed:
        lines.append(f"recorded to {record} (sensorhub replay {record})")
    elif record is not None:
        lines.append(f"partly recorded to {record}: what it holds replays")
    for mq in (x for x in sinks if isinstance(x, MqttSink)):
        st = mq.stats
        gone = [
            f"{st.dropped_qos0} real-time (QoS 0) dropped while the broker was away"
            if st.dropped_qos0
            else "",
            f"{st.outbox_overflow} QoS 1 dropped (the outbox of {mq.config.outbox_max} was full)"
            if st.outbox_overflow
            else "",
        ]
        lines.append(
            f"MQTT: {st.published} messages published" + "".join(f", {x}" for x in gone if x)
        )
    if options.events_jsonl is not None:
        lines.append(f"events in {options.events_jsonl}")
    wav_sink = next((x for x in sinks if isinstance(x, WavSink)), None)
    if wav_sink is not None:
        lines.append(f"cue audio in {wav_sink.path}")
    if line := source.report():
        lines.append(line)
    for sink in sinks:
        if getattr(sink, "underflows", 0):
            lines.append(f"audio: the sound card ran dry {sink.underflows} times (a busy machine?)")
    if library is not None:
        if record is not None and library_ids and library_ids[0]:
            lines.append(_index_closed(library, record, config))
        library.close()
    for line in lines:
        if console.name in summary.failed:
            print(f"sensorhub: {line}", file=sys.stderr)
        else:
            say(line)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SINK_FAILED if summary.failed else 0
