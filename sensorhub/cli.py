"""The ``sensorhub`` command.

Every user mistake ends in one line on stderr (``sensorhub: error: ...``) and exit
status 2; Ctrl-C ends a run cleanly with status 130.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sensorhub.config import SIM_MAX_S, SIM_MAX_SPM, SIM_MIN_SPM
from sensorhub.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, SensorhubError
from sensorhub.protocol.spec import ODR_MAX_HZ, ODR_MIN_HZ, Opcode
from sensorhub.types import Mounting, Side


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line with a pointer to --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive(kind: type[float] | type[int], what: str) -> Any:
    def conv(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be positive, not {text}")
        return value

    return conv


def _ranged(kind: type[float] | type[int], what: str, lo: float, hi: float) -> Any:
    """An option's value, checked against its range (the same as its configuration key)."""

    def conv(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{what} must be {noun}, not {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be {lo:g} to {hi:g}, not {text}")
        return value

    return conv


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be 0 or more, not {value}")
    return value


def _logging(level: str | None, verbose: int) -> None:
    """Log lines on stderr: the library's modules log; only the command line configures."""
    import logging

    chosen = (
        getattr(logging, level.upper())
        if level
        else (logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    )
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    ours = logging.getLogger("sensorhub")  # sensorhub's own; other libraries stay quiet
    ours.addHandler(handler)
    ours.setLevel(chosen)
    ours.propagate = False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sensorhub")
    except PackageNotFoundError:
        return "(not installed)"


def _delimiter(text: str) -> str:
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"the delimiter is one character, not {text!r}")
    return text


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="sensorhub",
        description="Live running-gait feedback from shoe- or shin-mounted IMU sensors.",
    )
    p.add_argument("--version", action="version", version=f"sensorhub {_version()}")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more detail on stderr: -v info, -vv debug (BLE connects, MQTT reconnects)",
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="log level on stderr (default warning; -v/-vv raise it)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser("sim", help="run the firmware simulator: stream to the console or record")
    _sim_options(sim)
    sim.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="record as fast as possible to FILE (+ FILE's .truth.csv sidecar)",
    )

    demo = sub.add_parser(
        "demo", help="the main job: a simulated two-shoe run, live, through the whole pipeline"
    )
    demo.add_argument(
        "--duration",
        type=_ranged(float, "duration", 0.1, SIM_MAX_S),
        help="seconds (default from the config: 60)",
    )
    demo.add_argument("--seed", type=_seed)
    _live_options(demo)

    scan = sub.add_parser(
        "scan",
        help="list the sensors in Bluetooth range: sensorhub's, Polar, Movesense, MetaWear, "
        "footpods",
    )
    scan.add_argument("--timeout", type=_positive(float, "timeout"), default=5.0, metavar="S")
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.add_argument(
        "--no-details",
        action="store_true",
        help="do not connect to vendor sensors for their model, battery and streams",
    )

    live = sub.add_parser(
        "live", help="the live run: BLE sensors through the whole pipeline (as demo)"
    )
    live.add_argument(
        "--sensor",
        action="append",
        required=True,
        metavar="NAME_OR_ADDRESS[:SIDE-MOUNT]",
        help="a sensor to connect to (repeatable: left and right, shoe and shin); vendor "
        "sensors say where they are worn: 'Polar Sense 1A2B3C4D:left-shin', a footpod ':pod'",
    )
    live.add_argument("--duration", type=_positive(float, "duration"), metavar="S")
    _live_options(live)

    per = sub.add_parser(
        "sim-peripheral",
        help="the simulator as BLE sensors on a private D-Bus (for scan/live without hardware)",
    )
    _sim_options(per, duration=3600.0)
    per.add_argument("--sensors", type=int, choices=[1, 2], help="1 (left) or 2 (left and right)")
    per.add_argument(
        "--family",
        choices=["sensorhub", "polar", "movesense", "metawear"],
        default="sensorhub",
        help="serve the runner through this family's GATT layout and bytes (a simulated twin)",
    )
    per.add_argument(
        "--pod", action="store_true", help="also serve a running speed and cadence footpod"
    )
    per.add_argument(
        "--reject",
        default="",
        metavar="COMMAND,...",
        help="commands the sensors refuse, e.g. SET_ODR, or a twin's (testing error paths)",
    )
    per.add_argument(
        "--drop-on",
        metavar="COMMAND",
        help="a twin drops the link when this command first arrives (testing error paths)",
    )
    per.add_argument(
        "--protocol-version",
        type=_ranged(int, "protocol version", 1, 255),
        metavar="N",
        help="speak another protocol version",
    )
    per.add_argument("--truth", type=Path, metavar="FILE", help="write the truth CSV at the end")
    per.add_argument(
        "--adapter-off", action="store_true", help="the Bluetooth adapter is switched off"
    )

    info = sub.add_parser("info", help="describe a session file: sensors, gaps, damage")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON")

    rep = sub.add_parser("replay", help="run a recorded session through the signal core")
    rep.add_argument("file", type=Path)
    rep.add_argument(
        "--speed",
        default="max",
        metavar="1|N|max",
        help="real time (1), N times faster, or as fast as possible (default)",
    )
    rep.add_argument("--events-jsonl", type=Path, metavar="OUT", help="write every event")
    rep.add_argument(
        "--time-origin",
        choices=["session", "source"],
        default="session",
        help="times in --events-jsonl: seconds from the session start (default), or on the "
        "source's axis (an imported CSV's time column; Unix time for a recorded run)",
    )
    rep.add_argument("--mqtt", metavar="URL", help="also publish the events to this broker")
    _config_options(rep)
    rep.add_argument(
        "--audio", metavar="device[:NAME]|wav:PATH|none", help="play or render the cadence cues"
    )

    ev = sub.add_parser("evaluate", help="compare events with ground truth")
    ev.add_argument("--events", type=Path, required=True, metavar="EVENTS.jsonl")
    ev.add_argument("--truth", type=Path, required=True, metavar="TRUTH.csv")
    ev.add_argument("--tolerance-ms", type=_positive(float, "tolerance"), default=50.0)
    ev.add_argument(
        "--window-s",
        type=_positive(float, "window"),
        default=30.0,
        help="cadence window (default 30 s)",
    )
    ev.add_argument(
        "--truth-span",
        action="store_true",
        help="only compare within the time span the truth covers",
    )
    ev.add_argument(
        "--coverage",
        type=Path,
        metavar="TRIAL.json",
        help="per side the windows in which every event is annotated (coverage_s): "
        "detections outside them are not counted as extra",
    )
    ev.add_argument("--json", action="store_true")

    imp = sub.add_parser("import-csv", help="convert a CSV recording into a session file")
    imp.add_argument(
        "input",
        type=Path,
        nargs="+",
        help="the CSV file, or one file per sensor (then one --acc for all or one per file)",
    )
    imp.add_argument("--out", type=Path, required=True, metavar="FILE")
    src = imp.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--rate", type=_positive(float, "rate"), metavar="HZ", help=f"{ODR_MIN_HZ}-{ODR_MAX_HZ}"
    )
    src.add_argument("--time-column", metavar="NAME")
    imp.add_argument("--time-units", default="s", choices=["s", "ms", "us", "datetime"])
    imp.add_argument(
        "--acc",
        action="append",
        required=True,
        metavar="X,Y,Z",
        help="accelerometer columns of one sensor (repeat per sensor)",
    )
    imp.add_argument(
        "--gyro",
        action="append",
        metavar="X,Y,Z",
        help="gyroscope columns, one per --acc (omit for accelerometer-only)",
    )
    imp.add_argument("--acc-units", required=True, choices=["g", "m/s2"])
    imp.add_argument("--gyro-units", default="dps", choices=["dps", "rad/s"])
    imp.add_argument(
        "--mount",
        action="append",
        choices=["shoe", "shin"],
        help="mounting, one for all or one per --acc",
    )
    imp.add_argument(
        "--side", action="append", choices=["left", "right"], help="side, one per --acc"
    )
    imp.add_argument(
        "--header-rows",
        type=int,
        default=1,
        help="header rows; with several, names are joined by '.' (default 1)",
    )
    imp.add_argument("--delimiter", type=_delimiter, default=",", help="one character")
    imp.add_argument("--acc-range", type=int, default=16, metavar="G")
    imp.add_argument("--gyro-range", type=int, default=2000, metavar="DPS")
    imp.add_argument(
        "--no-unit-check",
        action="store_true",
        help="skip the plausibility check of the declared units",
    )
    _library_commands(sub)
    from sensorhub.commands import exports

    exports.add_parsers(sub, _library_options)
    from sensorhub.commands import report as report_command

    report_command.add_parser(sub, _library_options)
    return p


def _library_options(p: argparse.ArgumentParser) -> None:
    _config_options(p)
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the session library's folder (default: [library] path, else the user's data "
        "directory, ~/.local/share/sensorhub)",
    )


def _library_commands(sub: Any) -> None:
    lib = sub.add_parser("library", help="the session library: add recordings to it")
    lib_sub = lib.add_subparsers(dest="library_command", required=True, parser_class=_Parser)
    add = lib_sub.add_parser(
        "add", help="index recordings (replayed through the signal core); again is harmless"
    )
    add.add_argument("files", type=Path, nargs="+", metavar="FILE_OR_DIR")
    add.add_argument("--runner", metavar="ID", help="whose runs they are (default: recorded)")
    add.add_argument("--shoe", metavar="NAME", help="the shoes worn (default: recorded)")
    add.add_argument("--json", action="store_true", help="print what was indexed, as JSON")
    _library_options(add)

    ses = sub.add_parser("sessions", help="the sessions in the library, newest first")
    ses.add_argument("--runner", metavar="ID")
    ses.add_argument("--shoe", metavar="NAME")
    ses.add_argument("--since", metavar="YYYY-MM-DD")
    ses.add_argument("--until", metavar="YYYY-MM-DD", help="up to and including this day")
    ses.add_argument("--limit", type=_positive(int, "limit"), metavar="N")
    ses.add_argument("--json", action="store_true", help="print JSON")
    _library_options(ses)

    show = sub.add_parser("show", help="one session's figures")
    show.add_argument("session", metavar="SESSION", help="its id (sessions) or recording path")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--shoe", metavar="NAME", help="set the shoes worn in it")
    show.add_argument("--note", metavar="TEXT", help="set its notes")
    _library_options(show)

    from sensorhub.commands import trends

    trends.add_parsers(sub, _library_options, _ranged)


def _config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration key, e.g. cues.mode=band (repeatable)",
    )


def _live_options(p: argparse.ArgumentParser) -> None:
    _config_options(p)
    p.add_argument(
        "--mqtt",
        metavar="URL|none",
        help="broker (mqtt://[user:pass@]host[:port], mqtts://...) or none",
    )
    p.add_argument(
        "--record",
        metavar="FILE|none",
        help="record the session (default: sensorhub-<session>.shs here)",
    )
    p.add_argument("--events-jsonl", type=Path, metavar="OUT", help="write every event")
    p.add_argument(
        "--audio", metavar="auto|device[:NAME]|wav:PATH|none", help="where cadence cues play"
    )
    p.add_argument("--shoe", metavar="NAME", help="the shoes worn (default: [runner] shoe)")
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the session library the recording is indexed in (default: [library] path, "
        "else ~/.local/share/sensorhub)",
    )


def _sim_options(p: argparse.ArgumentParser, duration: float = 60.0) -> None:
    p.add_argument("--mount", choices=["shoe", "shin"], default="shoe")
    p.add_argument("--activity", choices=["run", "walk"], default="run")
    p.add_argument(
        "--duration",
        type=_ranged(float, "duration", 0.1, SIM_MAX_S),
        default=duration,
        metavar="SECONDS",
    )
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument(
        "--cadence",
        type=_ranged(float, "cadence", SIM_MIN_SPM, SIM_MAX_SPM),
        metavar="SPM",
        help="steps/min (running 150-200, walking 90-130)",
    )
    p.add_argument(
        "--odr",
        type=_ranged(int, "odr", ODR_MIN_HZ, ODR_MAX_HZ),
        default=1000,
        metavar="HZ",
        help=f"{ODR_MIN_HZ}-{ODR_MAX_HZ} (default 1000)",
    )
    p.add_argument("--side", choices=["left", "right", "both"], default="left")
    p.add_argument("--strike", choices=["rearfoot", "midfoot", "forefoot"], default="rearfoot")
    p.add_argument(
        "--asymmetry",
        type=_ranged(float, "asymmetry", 0.0, 0.5),
        default=0.0,
        metavar="FRACTION",
        help="left/right asymmetry, e.g. 0.08 for a right leg 8 %% off",
    )
    p.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="e.g. drop=0.01,dup=0.002,corrupt=0.001,link-drop=30:5,clock-jump=60:50",
    )


def _sim_config(args: argparse.Namespace) -> Any:
    from firmware_sim.faults import parse_faults
    from firmware_sim.gait import GaitParams
    from firmware_sim.run import default_config

    sides = (Side.LEFT, Side.RIGHT) if args.side == "both" else (Side[args.side.upper()],)
    try:
        faults = parse_faults(args.faults)
        gait_kwargs: dict[str, Any] = {"strike": args.strike, "asymmetry": args.asymmetry}
        if args.cadence is not None:
            key = "run_cadence_spm" if args.activity == "run" else "walk_cadence_spm"
            gait_kwargs[key] = args.cadence
        return default_config(
            activity=args.activity,
            mount=Mounting[args.mount.upper()],
            duration_s=args.duration,
            seed=args.seed,
            sides=sides,
            cadence_spm=args.cadence,
            odr_hz=args.odr,
            faults=faults,
            gait=GaitParams(**gait_kwargs),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def cmd_sim(args: argparse.Namespace) -> int:
    cfg = _sim_config(args)
    if args.record is not None:
        from firmware_sim.record import record_run

        print(record_run(cfg, args.record))
        return 0
    return _stream_sim(cfg, args)


def _run_live(
    source: Any,
    config: Any,
    args: argparse.Namespace,
    title: str,
    block: bool = False,
    record_auto: bool = False,
    duration_s: float | None = None,
    step_lines: bool = True,
    kind: str = "live",
) -> int:
    from sensorhub.app import LiveOptions, run_live

    record = getattr(args, "record", None)
    options = LiveOptions(
        title=title,
        mqtt=getattr(args, "mqtt", None),
        audio=getattr(args, "audio", None),
        record=None if record is None or str(record).lower() == "none" else Path(record),
        record_auto=record_auto and record is None,
        events_jsonl=getattr(args, "events_jsonl", None),
        events_origin_s=getattr(args, "events_origin_s", 0.0),
        block=block,
        duration_s=duration_s,
        step_lines=step_lines,
        kind=kind,
        shoe=getattr(args, "shoe", None),
        data_dir=getattr(args, "data_dir", None),
    )
    return run_live(source, config, options)


def _stream_sim(cfg: Any, args: argparse.Namespace, title: str = "sensorhub sim") -> int:
    import msgspec

    from sensorhub.config import load_config
    from sensorhub.sources.simulated import SimulatedSource

    config = load_config(getattr(args, "config", None), getattr(args, "set", None))
    # `sim` shows the simulator on the console only; `demo` is the whole product
    config = msgspec.structs.replace(
        config,
        mqtt=msgspec.structs.replace(config.mqtt, enabled=False),
        cues=msgspec.structs.replace(config.cues, mode="off"),
    )
    return _run_live(SimulatedSource(cfg, speed=1.0), config, args, title)


def cmd_demo(args: argparse.Namespace) -> int:
    from sensorhub.config import load_config
    from sensorhub.sources.simulated import demo_source

    config = load_config(args.config, args.set)
    source, title = demo_source(config, args.duration, args.seed)
    return _run_live(source, config, args, title, record_auto=True, kind="sim")


def cmd_scan(args: argparse.Namespace) -> int:
    import asyncio

    from sensorhub.sources.ble import scan

    found = asyncio.run(scan(args.timeout, details=not args.no_details))
    if args.json:
        print(json.dumps([f.as_dict() for f in found], indent=2))
        return 0
    if not found:
        print(f"no supported sensor seen in {args.timeout:g} s (switched on? in range?)")
        return 0
    for f in found:
        d = f.as_dict()
        battery = f"{d['battery_pct']} %" if d["battery_pct"] is not None else "-"
        what = ", ".join(x for x in (f.model, f.streams, f.note) if x)
        print(
            f"{f.name:<22} {f.address}  {f.rssi_dbm:4d} dBm  {f.family:<9} battery {battery:>5}"
            + (f"  {what}" if what else "")
        )
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from sensorhub.config import load_config
    from sensorhub.sources.ble import BleSource

    config = load_config(args.config, args.set)
    source = BleSource(list(args.sensor), config.ble)
    return _run_live(source, config, args, "sensorhub live", duration_s=args.duration)


def cmd_sim_peripheral(args: argparse.Namespace) -> int:
    import asyncio

    from firmware_sim.peripheral import SimulatedPeripheral, serve

    if args.sensors is not None:
        args.side = "left" if args.sensors == 1 else "both"
    cfg = _sim_config(args)
    reject: set[int] = set()
    names = [x.strip() for x in args.reject.split(",") if x.strip()]
    twin_options = None
    if args.family != "sensorhub":
        from firmware_sim.twins import TwinOptions, twin_class

        known = twin_class(args.family).commands
        for name in [*names, *([args.drop_on] if args.drop_on else [])]:
            if name.lower() not in known:
                raise ConfigError(
                    f"--reject/--drop-on: {args.family} has no command {name!r}",
                    "use " + ", ".join(known),
                )
        twin_options = TwinOptions(
            frozenset(n.lower() for n in names),
            args.drop_on.lower() if args.drop_on else None,
        )
    elif args.drop_on:
        raise ConfigError("--drop-on is for a vendor twin", "add --family polar (or another)")
    else:
        for name in names:
            try:
                reject.add(int(Opcode[name.upper()]))
            except KeyError:
                raise ConfigError(
                    f"--reject: unknown command {name!r}",
                    "use " + ", ".join(o.name for o in Opcode),
                ) from None
    if args.truth is not None and args.truth.exists():
        raise SensorhubError(f"{args.truth} already exists", "choose a new name")

    def ready(address: str, peripheral: SimulatedPeripheral) -> None:
        devices = peripheral.devices + ([peripheral.pod_device] if peripheral.pod else [])
        names = ", ".join(f"{d.name} ({d.address})" for d in devices)
        print(f"simulated sensors: {names}")
        print("in another terminal, to use them:")
        print(f"export DBUS_SYSTEM_BUS_ADDRESS={address}", flush=True)

    interrupted: list[bool] = []

    async def main() -> SimulatedPeripheral:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def interrupt() -> None:
            interrupted.append(True)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):  # stop serving cleanly: truth below
            loop.add_signal_handler(sig, interrupt)

        async def until_the_end(p: SimulatedPeripheral) -> None:
            while not p.run.done:
                await asyncio.sleep(0.2)
            stop.set()

        ends: list[asyncio.Task[None]] = []

        def on_ready(address: str, p: SimulatedPeripheral) -> None:
            ready(address, p)
            ends.append(loop.create_task(until_the_end(p), name="sim-peripheral:end"))

        served = await serve(
            cfg,
            on_ready,
            reject=frozenset(reject),
            version=args.protocol_version,
            powered=not args.adapter_off,
            stop=stop,
            family=args.family,
            twin_options=twin_options,
            pod=args.pod,
        )
        for task in ends:
            task.cancel()
        return served

    try:
        peripheral = asyncio.run(main())
    except KeyboardInterrupt:  # before the handlers were in place
        print("sensorhub: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.truth is not None:  # what was served: up to where the simulated run got
        from firmware_sim.run import write_truth_csv

        rows = [r for r in peripheral.run.truth() if r.t_s <= peripheral.run.t]
        try:
            write_truth_csv(args.truth, rows)
        except OSError as exc:
            raise SensorhubError(f"cannot write {args.truth}: {exc.strerror}") from None
        print(f"{len(rows)} truth events to {args.truth}")
    lost = ", ".join(str(peripheral.samples_lost(k)) for k in range(len(peripheral.devices)))
    print(f"done: samples never delivered per sensor: {lost}")
    return EXIT_INTERRUPTED if interrupted else 0


def cmd_info(args: argparse.Namespace) -> int:
    from sensorhub.inspect import describe_report, session_report
    from sensorhub.recording import SessionReader

    report = session_report(SessionReader(args.file))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("\n".join(describe_report(report)))
    return 0


def cmd_import_csv(args: argparse.Namespace) -> int:
    from sensorhub.importer import CsvFile, CsvSensor, import_csv

    files: list[Path] = args.input
    accs = [_cols(a, "--acc") for a in args.acc]
    gyros = [_cols(g, "--gyro") for g in args.gyro] if args.gyro else [None] * len(accs)
    if len(gyros) != len(accs):
        raise ConfigError(
            f"{len(accs)} --acc but {len(gyros)} --gyro", "give one --gyro per --acc or none"
        )
    if len(files) > 1 and len(accs) == 1:
        # the same columns in every file, one sensor per file
        accs, gyros = accs * len(files), gyros * len(files)
    if len(files) > 1 and len(accs) != len(files):
        raise ConfigError(
            f"{len(files)} files but {len(accs)} --acc",
            "give one --acc for all files or one per file",
        )
    sides = args.side or (["left"] if len(accs) == 1 else [])
    mounts = args.mount or ["shoe"]
    if len(sides) != len(accs):
        raise ConfigError("give one --side per sensor (per --acc, or per file)")
    if len(mounts) == 1:
        mounts = mounts * len(accs)
    if len(mounts) != len(accs):
        raise ConfigError("give one --mount for all sensors or one per sensor")
    sensors = [
        CsvSensor(a, g, Side[s.upper()], Mounting[m.upper()])
        for a, g, s, m in zip(accs, gyros, sides, mounts, strict=True)
    ]
    per_file = (
        [CsvFile(files[0], sensors)]
        if len(files) == 1
        else [CsvFile(f, [s]) for f, s in zip(files, sensors, strict=True)]
    )
    res = import_csv(
        per_file,
        args.out,
        acc_units=args.acc_units,
        gyro_units=args.gyro_units,
        rate_hz=args.rate,
        time_column=args.time_column,
        time_units=args.time_units,
        header_rows=args.header_rows,
        delimiter=args.delimiter,
        acc_range_g=args.acc_range,
        gyro_range_dps=args.gyro_range,
        check_units=not args.no_unit_check,
    )
    notes = []
    if res.missing_samples:
        notes.append(f"{res.missing_samples} samples missing (kept as gaps, as on a live link)")
    notes += [f"{x}: imported as missing samples" for x in res.nonfinite]
    if res.duplicates_dropped:
        notes.append(f"{res.duplicates_dropped} duplicate rows dropped")
    if res.clipped:
        notes.append(
            f"{res.clipped} samples clipped at full scale (raise --acc-range/--gyro-range)"
        )
    print(
        f"imported {res.samples} samples of {res.sensors} sensor(s) at {res.rate_hz:g} Hz "
        f"({res.duration_s:.1f} s) into {res.path}: {res.packets} packets"
        + "".join(f"; {n}" for n in notes)
    )
    return 0


def _cols(text: str, opt: str) -> tuple[str, str, str]:
    parts = [c.strip() for c in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"{opt} takes three column names X,Y,Z, not {text!r}")
    return parts[0], parts[1], parts[2]


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--speed takes 1, a factor such as 10, or max; not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"--speed must be positive, not {text}")
    return value


def cmd_replay(args: argparse.Namespace) -> int:
    """The session through the same pipeline, stages and sinks as a live run: events to
    JSON lines, cues and the summary included; MQTT and audio only when asked for."""
    from sensorhub.config import load_config
    from sensorhub.recording import SessionReader
    from sensorhub.sources.replay import ReplaySource

    speed = _speed(args.speed)
    config = load_config(args.config, args.set)  # a bad configuration fails before anything
    reader = SessionReader(args.file)
    args.events_origin_s = _time_origin(reader, args.time_origin)
    for line in reader.describe_damage():
        print(f"sensorhub: warning: {args.file}: {line}", file=sys.stderr)
    args.audio = args.audio or "none"
    args.mqtt = args.mqtt or "none"
    return _run_live(
        ReplaySource(reader, speed),
        config,
        args,
        f"sensorhub replay {args.file}",
        block=speed is None,  # as fast as possible: wait for slow sinks, lose nothing
        step_lines=speed == 1.0,  # a line per step only when watching at real time
    )


def _time_origin(reader: Any, which: str) -> float:
    """Seconds to add to session times to put them on the source's own time axis."""
    if which == "session":
        return 0.0
    origin = reader.header.config.get("time_origin_s") if reader.header.source == "import" else None
    return float(origin) if origin is not None else float(reader.header.started_unix)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sensorhub.evaluation import (
        describe_report,
        evaluate,
        read_coverage,
        read_events,
        read_truth,
    )

    truth = read_truth(args.truth)
    events = read_events(args.events)
    coverage = read_coverage(args.coverage) if args.coverage is not None else None
    span = None
    if args.truth_span and truth:
        span = (
            min(r.t_s for r in truth) - args.tolerance_ms / 1000,
            max(r.t_s for r in truth) + args.tolerance_ms / 1000,
        )
    report = evaluate(events, truth, args.tolerance_ms, args.window_s, span, coverage=coverage)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("\n".join(describe_report(report)))
    return 0


def _offline(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command of ``sensorhub.commands.<module>``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(f"sensorhub.commands.{module}"), name)(args))

    return run


def _library_command(name: str) -> Callable[[argparse.Namespace], int]:
    return _offline("library", name)


def cmd_library(args: argparse.Namespace) -> int:
    return int(_library_command(f"cmd_library_{args.library_command}")(args))


COMMANDS = {
    "library": cmd_library,
    "sessions": _library_command("cmd_sessions"),
    "show": _library_command("cmd_show"),
    "trends": _offline("trends", "cmd_trends"),
    "compare": _offline("trends", "cmd_compare"),
    "shoes": _offline("trends", "cmd_shoes"),
    "pain": _offline("trends", "cmd_pain"),
    "report": _offline("report", "cmd_report"),
    "export": _offline("exports", "cmd_export"),
    "import-activity": _offline("exports", "cmd_import_activity"),
    "sim": cmd_sim,
    "demo": cmd_demo,
    "info": cmd_info,
    "import-csv": cmd_import_csv,
    "replay": cmd_replay,
    "evaluate": cmd_evaluate,
    "scan": cmd_scan,
    "live": cmd_live,
    "sim-peripheral": cmd_sim_peripheral,
}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    _logging(args.log_level, args.verbose)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops a run as cleanly as Ctrl-C
    try:
        return COMMANDS[args.command](args)
    except SensorhubError as exc:
        print(f"sensorhub: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sensorhub: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
