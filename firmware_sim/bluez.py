"""A fake BlueZ (``org.bluez``) D-Bus service for driving the *real* bleak library.

No root, no bluetoothd, no radio: a private ``dbus-daemon`` (type "system") is
started, a :class:`FakeBluez` instance claims ``org.bluez`` on it and exports an
adapter, devices and their GATT databases the way bluetoothd does. Any process
that has ``DBUS_SYSTEM_BUS_ADDRESS=<address>`` in its environment and uses
bleak's BlueZ backend (scan, connect, read, write, notify, disconnect) talks to
the fake instead of the real stack.

Usage (same process)::

    async with private_system_bus() as address:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address   # before bleak's first use
        bus = await MessageBus(bus_address=address).connect()
        async with FakeBluez(bus) as bluez:
            dev = bluez.add_device(
                "00:00:5E:00:53:01", "Sensor-1",
                services=[Service(SVC, [Characteristic(DATA, ["notify"])])],
                service_uuids=[SVC], manufacturer_data={0xFFFF: b"\\x01"}, rssi=-55)
            ...                                  # bleak code runs here
            dev.notify(DATA, b"...")             # -> bleak notification callback
            dev.drop_link()                      # -> bleak disconnected_callback

Separate process: ``python fake_bluez.py --devices 2`` starts its own private
bus (or joins ``--bus-address``), prints ``DBUS_SYSTEM_BUS_ADDRESS=...`` once it
is ready, streams demo notifications and accepts commands on stdin
(``drop N``, ``present N 0|1``, ``connectable N 0|1``, ``quit``).

API summary
-----------
``private_system_bus()`` / ``PrivateSystemBus``
    Start/stop a permissive private system-type dbus-daemon in a temp dir.
``Service(uuid, characteristics, primary=True)``
``Characteristic(uuid, flags, on_read=None, on_write=None, value=b"")``
    ``flags`` use BlueZ spelling ("read", "write", "write-without-response",
    "notify", "indicate"). ``on_read() -> bytes``; ``on_write(data)``. Either
    may raise :class:`AttError` to return an ATT error to the central.
``FakeBluez(bus, adapter_address=..., *, advertising_interval=0.2, mtu=247)``
    ``await start()`` / ``await stop()`` (or ``async with``),
    ``add_device(...) -> FakeDevice``, ``remove_device(dev)``,
    ``set_powered(bool)``.
``FakeDevice`` (``add_device`` kwargs: service_data, address_type,
connect_delay=0.02 s, mtu=247)
    ``notify(char_uuid, data) -> bool`` (ValueError if > MTU-3 bytes, KeyError
    for an unknown characteristic), ``drop_link() -> bool``,
    ``set_present(bool)``, ``set_connectable(bool)``,
    ``update_advertisement(...)``; state: ``connected``, ``present``,
    ``connectable``, ``notifying(char_uuid)``; hooks ``on_connect()``,
    ``on_disconnect(reason)`` (reason "central" or "link-loss"),
    ``on_notify_change(char_uuid, enabled)``.

Behaviour modelled on bluetoothd (see NOTES.md for the details):

* Devices are exported as ``Device1`` as soon as they are added, so connecting
  works with or without a prior scan. While a discovery session is active each
  advertising device (present, not connected) gets an ``RSSI``
  PropertiesChanged every ``advertising_interval`` seconds.
* ``Connect`` replies only after ``Connected=True``, the GATT objects have been
  exported (InterfacesAdded) and ``ServicesResolved=True``.
* Disconnect (either side): ``ServicesResolved=False``, ``Connected=False``,
  then the GATT objects are unexported (InterfacesRemoved), which also ends
  all notify sessions.
* Not connectable: ``Connect`` stays pending (like an LE create-connection to a
  silent device) until the device becomes connectable again or the central
  cancels with ``Disconnect``. Not present: the ``Device1`` object is removed
  (as bluetoothd does for stale temporary devices); calls to it get
  ``org.freedesktop.DBus.Error.UnknownObject``.
* Discovery and notify sessions are tracked per D-Bus client and dropped when
  that client leaves the bus, like bluetoothd (so two concurrent scans from one
  bleak process get org.bluez.Error.InProgress, as with the real daemon).
* dbus-fast 5.2 drops a connection whose socket buffer is full; ``start()``
  patches the bus writer to wait instead (see ``_harden_writer``).
"""

import argparse
import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast import DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import NameFlag, PropertyAccess, RequestNameReply
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from sensorhub.errors import SensorhubError

__all__ = [
    "AttError",
    "Characteristic",
    "FakeBluez",
    "FakeDevice",
    "PrivateSystemBus",
    "Service",
    "private_system_bus",
]

log = logging.getLogger("fake_bluez")

BLUEZ_SERVICE = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
SERVICE_IFACE = "org.bluez.GattService1"
CHAR_IFACE = "org.bluez.GattCharacteristic1"
DESC_IFACE = "org.bluez.GattDescriptor1"
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"

ERR_FAILED = "org.bluez.Error.Failed"
ERR_IN_PROGRESS = "org.bluez.Error.InProgress"
ERR_NOT_READY = "org.bluez.Error.NotReady"
ERR_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
ERR_NOT_SUPPORTED = "org.bluez.Error.NotSupported"
ERR_DOES_NOT_EXIST = "org.bluez.Error.DoesNotExist"
ERR_UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"

# D-Bus signatures as Annotated types (dbus-fast >= 4)
Str = Annotated[str, DBusSignature("s")]
Bool = Annotated[bool, DBusSignature("b")]
Int16 = Annotated[int, DBusSignature("n")]
UInt16 = Annotated[int, DBusSignature("q")]
UInt32 = Annotated[int, DBusSignature("u")]
Path = Annotated[str, DBusSignature("o")]
Paths = Annotated[list[str], DBusSignature("ao")]
StrList = Annotated[list[str], DBusSignature("as")]
Bytes = Annotated[bytes, DBusSignature("ay")]
Options = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
MfrData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]
SvcData = Annotated[dict[str, Variant], DBusSignature("a{sv}")]


# --------------------------------------------------------------------------
# private dbus-daemon
# --------------------------------------------------------------------------

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <auth>ANONYMOUS</auth>
  <allow_anonymous/>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="reply_timeout">300000</limit>
</busconfig>
"""


class PrivateSystemBus:
    """A throw-away dbus-daemon with a permissive system-type config.

    Usable as ``with`` or ``async with``; exposes ``address`` and ``pid``.
    """

    def __init__(self, dbus_daemon: str | None = None, startup_timeout: float = 5.0) -> None:
        self._exe = dbus_daemon or shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: str | None = None
        self.address = ""

    @property
    def pid(self) -> int:
        assert self._proc is not None, "bus not started"
        return self._proc.pid

    def start(self) -> str:
        if not os.access(self._exe, os.X_OK):
            raise SensorhubError(
                f"dbus-daemon not found ({self._exe}); install the 'dbus' package "
                "(Debian: apt-get install dbus-daemon) or pass dbus_daemon=..."
            )
        self._tmp = tempfile.mkdtemp(prefix="fakebluez-")
        config = os.path.join(self._tmp, "system.conf")
        with open(config, "w") as f:
            f.write(_BUS_CONFIG.format(socket=os.path.join(self._tmp, "bus")))
        with open(os.path.join(self._tmp, "dbus-daemon.log"), "wb") as errlog:
            self._proc = subprocess.Popen(
                [
                    self._exe,
                    f"--config-file={config}",
                    "--print-address=1",
                    "--nofork",
                    "--nosyslog",
                ],
                stdout=subprocess.PIPE,
                stderr=errlog,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl+C must not kill it before our cleanup
                preexec_fn=_die_with_parent,
            )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], self._timeout)
        line = self._proc.stdout.readline().decode().strip() if ready else ""
        if not line:
            with open(os.path.join(self._tmp, "dbus-daemon.log")) as f:
                err = f.read().strip()
            self.stop()
            raise SensorhubError(f"dbus-daemon failed to start: {err or 'no address printed'}")
        self.address = line
        return line

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "PrivateSystemBus":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "PrivateSystemBus":
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    # Linux: SIGTERM the daemon if the process that started it dies (no leaks)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.asynccontextmanager
async def private_system_bus(dbus_daemon: str | None = None) -> AsyncIterator[str]:
    """Start a private system-type dbus-daemon; yields its address string."""
    with PrivateSystemBus(dbus_daemon) as bus:
        yield bus.address


# --------------------------------------------------------------------------
# GATT model
# --------------------------------------------------------------------------


class AttError(Exception):
    """Raise from on_read/on_write to answer with an ATT error code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error 0x{code:02x}")
        self.code = code


def uuid128(uuid: str) -> str:
    """Normalise a 16/32/128-bit UUID string to lowercase 128-bit form."""
    u = uuid.lower()
    if len(u) == 4:
        u = "0000" + u
    if len(u) == 8:
        u += "-0000-1000-8000-00805f9b34fb"
    return u


@dataclass
class Characteristic:
    uuid: str
    flags: list[str]
    on_read: Callable[[], bytes] | None = None
    on_write: Callable[[bytes], None] | None = None
    value: bytes = b""  # returned by reads when on_read is None


@dataclass
class Service:
    uuid: str
    characteristics: list[Characteristic] = field(default_factory=list)
    primary: bool = True


def _opt(options: Mapping[str, Variant], key: str, default: Any) -> Any:
    v = options.get(key)
    return default if v is None else v.value


def _att_failed(e: AttError) -> DBusError:
    # bluetoothd's wording; bleak parses it into BleakGATTProtocolError
    return DBusError(ERR_FAILED, f"Operation failed with ATT error: 0x{e.code:02x}")


def _ro(name: str, typ: Any, get: Callable[[Any], Any]) -> Any:
    """A read-only D-Bus property whose value is ``get(self)``."""

    def getter(self: Any) -> typ:
        return get(self)

    getter.__name__ = name  # dbus-fast looks the getter up by its __name__
    return dbus_property(access=PropertyAccess.READ, name=name)(getter)


def _rw_device_flag(name: str, attr: str) -> Any:
    """A writable boolean Device1 property stored as FakeDevice.<attr>."""

    def getter(self: "_Device1") -> Bool:
        return bool(getattr(self._dev, attr))

    def setter(self: "_Device1", value: Bool) -> None:
        setattr(self._dev, attr, value)

    getter.__name__ = setter.__name__ = name
    return dbus_property(name=name)(getter).setter(setter)


class _GattService1(ServiceInterface):
    UUID = _ro("UUID", Str, lambda s: s.uuid)
    Primary = _ro("Primary", Bool, lambda s: s.primary)
    Device = _ro("Device", Path, lambda s: s.device)
    Includes = _ro("Includes", Paths, lambda s: [])
    Handle = _ro("Handle", UInt16, lambda s: s.handle)

    def __init__(self, uuid: str, primary: bool, device_path: str, handle: int) -> None:
        super().__init__(SERVICE_IFACE)
        self.uuid, self.primary, self.device, self.handle = uuid, primary, device_path, handle


class _GattCharacteristic1(ServiceInterface):
    def __init__(
        self, dev: "FakeDevice", spec: Characteristic, service_path: str, handle: int
    ) -> None:
        super().__init__(CHAR_IFACE)
        self._dev, self._spec, self._service, self._handle = dev, spec, service_path, handle
        self.uuid = uuid128(spec.uuid)
        self.value = spec.value
        self.sessions: set[str] = set()  # unique bus names that called StartNotify

    @property
    def notifying(self) -> bool:
        return bool(self.sessions)

    def push_value(self, data: bytes) -> None:
        self.value = data
        self.emit_properties_changed({"Value": data})

    def end_sessions(self, names: Iterable[str] | None = None) -> None:
        was = self.notifying
        if names is None:
            self.sessions.clear()
        else:
            self.sessions.difference_update(names)
        if was and not self.notifying:
            self.emit_properties_changed({"Notifying": False})
            self._dev._notify_changed(self.uuid, False)

    UUID = _ro("UUID", Str, lambda s: s.uuid)
    Service = _ro("Service", Path, lambda s: s._service)
    Value = _ro("Value", Bytes, lambda s: s.value)
    Notifying = _ro("Notifying", Bool, lambda s: s.notifying)
    Flags = _ro("Flags", StrList, lambda s: list(s._spec.flags))
    MTU = _ro("MTU", UInt16, lambda s: s._dev.mtu)
    Handle = _ro("Handle", UInt16, lambda s: s._handle)

    @dbus_method()
    def ReadValue(self, options: Options) -> Bytes:
        if "read" not in self._spec.flags:
            raise DBusError(ERR_NOT_PERMITTED, "Read not permitted")
        try:
            data = self._spec.on_read() if self._spec.on_read else self._spec.value
        except AttError as e:
            raise _att_failed(e) from e
        data = bytes(data)[_opt(options, "offset", 0) :]
        # bluetoothd updates the cached Value (and emits PropertiesChanged) on reads
        self.push_value(data)
        return data

    @dbus_method()
    def WriteValue(self, value: Bytes, options: Options) -> None:
        flags = self._spec.flags
        default = "request" if "write" in flags else "command"
        kind = _opt(options, "type", default)
        if "write" not in flags and "write-without-response" not in flags:
            raise DBusError(ERR_NOT_PERMITTED, "Write not permitted")
        needed = "write-without-response" if kind == "command" else "write"
        if needed not in flags:
            raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")
        try:
            if self._spec.on_write:
                self._spec.on_write(bytes(value))
        except AttError as e:
            raise _att_failed(e) from e

    @dbus_method()
    def StartNotify(self) -> None:
        if "notify" not in self._spec.flags and "indicate" not in self._spec.flags:
            raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")
        sender = self._dev._bluez._sender
        if sender in self.sessions:
            raise DBusError(ERR_IN_PROGRESS, "In Progress")
        first = not self.sessions
        self.sessions.add(sender)
        if first:
            self.emit_properties_changed({"Notifying": True})
            self._dev._notify_changed(self.uuid, True)

    @dbus_method()
    def StopNotify(self) -> None:
        sender = self._dev._bluez._sender
        if sender not in self.sessions:
            raise DBusError(ERR_FAILED, "No notify session started")
        self.end_sessions([sender])

    @dbus_method()
    def AcquireWrite(self, options: Options) -> None:
        raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")

    @dbus_method()
    def AcquireNotify(self, options: Options) -> None:
        raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")


class _GattDescriptor1(ServiceInterface):
    """Client Characteristic Configuration descriptor (0x2902)."""

    def __init__(self, char: _GattCharacteristic1, char_path: str, handle: int) -> None:
        super().__init__(DESC_IFACE)
        self._char, self._char_path, self._handle = char, char_path, handle

    def _cccd(self) -> bytes:
        return b"\x01\x00" if self._char.notifying else b"\x00\x00"

    UUID = _ro("UUID", Str, lambda s: CCCD_UUID)
    Characteristic = _ro("Characteristic", Path, lambda s: s._char_path)
    Value = _ro("Value", Bytes, lambda s: s._cccd())
    Handle = _ro("Handle", UInt16, lambda s: s._handle)

    @dbus_method()
    def ReadValue(self, options: Options) -> Bytes:
        return self._cccd()[_opt(options, "offset", 0) :]

    @dbus_method()
    def WriteValue(self, value: Bytes, options: Options) -> None:
        # bluetoothd refuses direct CCCD writes; StartNotify must be used
        raise DBusError(ERR_NOT_PERMITTED, "Write not permitted")


# --------------------------------------------------------------------------
# Device
# --------------------------------------------------------------------------


class _Device1(ServiceInterface):
    Address = _ro("Address", Str, lambda s: s._dev.address)
    AddressType = _ro("AddressType", Str, lambda s: s._dev.address_type)
    Name = _ro("Name", Str, lambda s: s._dev.name)
    Alias = _ro("Alias", Str, lambda s: s._dev.name or s._dev.address.replace(":", "-"))
    Adapter = _ro("Adapter", Path, lambda s: s._dev._bluez.adapter_path)
    Connected = _ro("Connected", Bool, lambda s: s._dev.connected)
    ServicesResolved = _ro("ServicesResolved", Bool, lambda s: s._dev._services_resolved)
    UUIDs = _ro("UUIDs", StrList, lambda s: list(s._dev.service_uuids))
    ManufacturerData = _ro("ManufacturerData", MfrData, lambda s: s.mfr_data())
    ServiceData = _ro("ServiceData", SvcData, lambda s: s.svc_data())
    RSSI = _ro("RSSI", Int16, lambda s: s._dev.rssi)
    Paired = _ro("Paired", Bool, lambda s: s._dev._paired)
    Bonded = _ro("Bonded", Bool, lambda s: s._dev._paired)
    LegacyPairing = _ro("LegacyPairing", Bool, lambda s: False)
    Trusted = _rw_device_flag("Trusted", "_trusted")
    Blocked = _rw_device_flag("Blocked", "_blocked")

    def __init__(self, dev: "FakeDevice") -> None:
        super().__init__(DEVICE_IFACE)
        self._dev = dev

    def mfr_data(self) -> dict[int, Variant]:
        return {k: Variant("ay", v) for k, v in self._dev.manufacturer_data.items()}

    def svc_data(self) -> dict[str, Variant]:
        return {k: Variant("ay", v) for k, v in self._dev.service_data.items()}

    @dbus_method()
    async def Connect(self) -> None:
        await self._dev._handle_connect()

    @dbus_method()
    def Disconnect(self) -> None:
        self._dev._handle_disconnect()

    @dbus_method()
    async def Pair(self) -> None:
        # bluetoothd creates the LE link to pair and keeps it (bleak's pair=True
        # path calls Pair *instead of* Connect); "just works", no agent involved
        await self._dev._handle_connect()
        if not self._dev._paired:
            self._dev._paired = True
            self.emit_properties_changed({"Paired": True, "Bonded": True})

    @dbus_method()
    def CancelPairing(self) -> None:
        pass

    @dbus_method()
    def ConnectProfile(self, uuid: Str) -> None:
        raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")

    @dbus_method()
    def DisconnectProfile(self, uuid: Str) -> None:
        raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")


@dataclass
class _CharLayout:
    spec: Characteristic
    path: str
    handle: int
    cccd: int | None  # descriptor handle, for notify/indicate characteristics


@dataclass
class _ServiceLayout:
    spec: Service
    path: str
    handle: int
    chars: list[_CharLayout]


class FakeDevice:
    """A simulated LE peripheral. Create with :meth:`FakeBluez.add_device`."""

    def __init__(
        self,
        bluez: "FakeBluez",
        address: str,
        name: str,
        services: Sequence[Service],
        service_uuids: Sequence[str],
        manufacturer_data: Mapping[int, bytes],
        rssi: int,
        *,
        service_data: Mapping[str, bytes] | None = None,
        address_type: str = "public",
        connect_delay: float = 0.02,
        mtu: int = 247,
    ) -> None:
        self._bluez = bluez
        self.address = address.upper()
        self.path = f"{bluez.adapter_path}/dev_{self.address.replace(':', '_')}"
        self.name = name
        self.address_type = address_type
        self.service_uuids = [uuid128(u) for u in service_uuids]
        self.manufacturer_data = dict(manufacturer_data)
        self.service_data = {uuid128(k): v for k, v in (service_data or {}).items()}
        self.rssi = rssi
        self.connect_delay = connect_delay
        self.mtu = mtu

        self.on_connect: Callable[[], None] | None = None
        self.on_disconnect: Callable[[str], None] | None = None
        self.on_notify_change: Callable[[str, bool], None] | None = None

        self._iface = _Device1(self)
        self._layout = self._build_layout(services)
        self._uuids = {uuid128(c.spec.uuid) for s in self._layout for c in s.chars}
        self._live: dict[str, _GattCharacteristic1] = {}  # uuid -> iface, while connected
        self._gatt_paths: list[str] = []
        self._connected = False
        self._services_resolved = False
        self._present = True
        self._connectable = True
        self._exported = False
        self._attempt: asyncio.Future[None] | None = None
        self._paired = self._trusted = self._blocked = False

    # ----- public state ---------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def present(self) -> bool:
        return self._present

    @property
    def connectable(self) -> bool:
        return self._connectable

    @property
    def advertising(self) -> bool:
        return self._present and not self._connected and self._bluez.powered

    def notifying(self, char_uuid: str) -> bool:
        ch = self._live.get(self._check_uuid(char_uuid))
        return ch is not None and ch.notifying

    # ----- public actions -------------------------------------------------

    def notify(self, char_uuid: str, data: bytes) -> bool:
        """Send a notification; False (nothing sent) if not connected/notifying."""
        ch = self._live.get(self._check_uuid(char_uuid))
        if ch is None or not ch.notifying:
            return False
        if len(data) > self.mtu - 3:
            raise ValueError(
                f"notification of {len(data)} bytes exceeds ATT_MTU-3 ({self.mtu - 3})"
            )
        ch.push_value(bytes(data))
        return True

    def drop_link(self) -> bool:
        """Unexpected disconnect (supervision timeout / peripheral reset)."""
        return self._teardown("link-loss")

    def set_connectable(self, connectable: bool) -> None:
        """Non-connectable: Connect stays pending until connectable again."""
        self._connectable = connectable
        if connectable and self._attempt is not None:
            self._schedule_attempt(self._attempt)

    def set_present(self, present: bool) -> None:
        """Absent: link dropped, advertising stops, Device1 object removed."""
        if present == self._present:
            return
        self._present = present
        if present:
            self._export()
        else:
            self._teardown("link-loss")
            self._abort_attempt()
            self._unexport()

    def update_advertisement(
        self,
        *,
        name: str | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
        rssi: int | None = None,
    ) -> None:
        """Change advertised data; emits PropertiesChanged like a new advert."""
        changed: dict[str, Any] = {}
        if name is not None:
            self.name = name
            changed["Name"] = name
            changed["Alias"] = name
        if manufacturer_data is not None:
            self.manufacturer_data = dict(manufacturer_data)
            changed["ManufacturerData"] = self._iface.mfr_data()
        if service_data is not None:
            self.service_data = {uuid128(k): v for k, v in service_data.items()}
            changed["ServiceData"] = self._iface.svc_data()
        if rssi is not None:
            self.rssi = rssi
            changed["RSSI"] = rssi
        if changed and self._exported:
            self._iface.emit_properties_changed(changed)

    # ----- internals ------------------------------------------------------

    def _check_uuid(self, char_uuid: str) -> str:
        u = uuid128(char_uuid)
        if u not in self._uuids:
            raise KeyError(f"{self.address} has no characteristic {char_uuid}")
        return u

    def _build_layout(self, services: Sequence[Service]) -> list[_ServiceLayout]:
        # bleak takes handles from the last 4 hex digits of the object paths
        layout: list[_ServiceLayout] = []
        handle = 0x000A
        for svc in services:
            spath = f"{self.path}/service{handle:04x}"
            s = _ServiceLayout(svc, spath, handle, [])
            handle += 1
            for ch in svc.characteristics:
                notifies = "notify" in ch.flags or "indicate" in ch.flags
                cccd = handle + 2 if notifies else None
                s.chars.append(_CharLayout(ch, f"{spath}/char{handle:04x}", handle, cccd))
                handle += 3 if notifies else 2
            layout.append(s)
        return layout

    def _export(self) -> None:
        if not self._exported and self._present:
            self._bluez._export(self.path, self._iface)
            self._exported = True

    def _unexport(self) -> None:
        if self._exported:
            self._bluez._unexport(self.path)
            self._exported = False

    def _notify_changed(self, uuid: str, enabled: bool) -> None:
        _call_hook(self.on_notify_change, uuid, enabled)

    def _schedule_attempt(self, fut: "asyncio.Future[None]") -> None:
        def go() -> None:
            if not fut.done():
                fut.set_result(None)

        asyncio.get_running_loop().call_later(self.connect_delay, go)

    def _abort_attempt(self) -> None:
        if self._attempt is not None and not self._attempt.done():
            self._attempt.set_exception(DBusError(ERR_FAILED, "le-connection-abort-by-local"))

    async def _handle_connect(self) -> None:
        if not self._bluez.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        if self._connected:
            return
        if self._attempt is not None:
            raise DBusError(ERR_IN_PROGRESS, "In Progress")
        self._attempt = asyncio.get_running_loop().create_future()
        try:
            if self._connectable:
                self._schedule_attempt(self._attempt)
            await self._attempt
        finally:
            self._attempt = None
        self._establish()

    def _establish(self) -> None:
        self._connected = True
        self._iface.emit_properties_changed({"Connected": True})
        for s in self._layout:  # parents first, like bluetoothd
            self._bluez._export(
                s.path, _GattService1(uuid128(s.spec.uuid), s.spec.primary, self.path, s.handle)
            )
            self._gatt_paths.append(s.path)
            for c in s.chars:
                ch = _GattCharacteristic1(self, c.spec, s.path, c.handle)
                self._bluez._export(c.path, ch)
                self._gatt_paths.append(c.path)
                self._live.setdefault(ch.uuid, ch)
                if c.cccd is not None:
                    dpath = f"{c.path}/desc{c.cccd:04x}"
                    self._bluez._export(dpath, _GattDescriptor1(ch, c.path, c.cccd))
                    self._gatt_paths.append(dpath)
        # Trap: ServicesResolved only after every InterfacesAdded has been sent
        self._services_resolved = True
        self._iface.emit_properties_changed({"ServicesResolved": True})
        _call_hook(self.on_connect)

    def _handle_disconnect(self) -> None:
        self._abort_attempt()
        self._teardown("central")

    def _teardown(self, reason: str) -> bool:
        if not self._connected:
            return False
        for ch in self._live.values():
            ch.end_sessions()
        self._live.clear()
        self._connected = False
        self._services_resolved = False
        self._iface.emit_properties_changed({"ServicesResolved": False})
        self._iface.emit_properties_changed({"Connected": False})
        for path in reversed(self._gatt_paths):  # children first
            self._bluez._unexport(path)
        self._gatt_paths.clear()
        _call_hook(self.on_disconnect, reason)
        return True

    def _client_gone(self, name: str) -> None:
        for ch in self._live.values():
            ch.end_sessions([name])


def _call_hook(hook: Callable[..., None] | None, *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        log.exception("fake_bluez hook %r failed", hook)


# --------------------------------------------------------------------------
# Adapter + service
# --------------------------------------------------------------------------


class _Adapter1(ServiceInterface):
    Address = _ro("Address", Str, lambda s: s._b.adapter_address)
    AddressType = _ro("AddressType", Str, lambda s: "public")
    Name = _ro("Name", Str, lambda s: "fakebluez")
    Alias = _ro("Alias", Str, lambda s: "fakebluez")
    Class = _ro("Class", UInt32, lambda s: 0)
    Powered = _ro("Powered", Bool, lambda s: s._b.powered)
    PowerState = _ro("PowerState", Str, lambda s: "on" if s._b.powered else "off")
    Discoverable = _ro("Discoverable", Bool, lambda s: False)
    DiscoverableTimeout = _ro("DiscoverableTimeout", UInt32, lambda s: 180)
    Pairable = _ro("Pairable", Bool, lambda s: True)
    PairableTimeout = _ro("PairableTimeout", UInt32, lambda s: 0)
    Discovering = _ro("Discovering", Bool, lambda s: s._b.discovering)
    UUIDs = _ro("UUIDs", StrList, lambda s: [])
    Modalias = _ro("Modalias", Str, lambda s: "usb:v1D6Bp0246d0548")
    Roles = _ro("Roles", StrList, lambda s: ["central", "peripheral"])

    def __init__(self, bluez: "FakeBluez") -> None:
        super().__init__(ADAPTER_IFACE)
        self._b = bluez

    @dbus_method()
    def StartDiscovery(self) -> None:
        self._b._start_discovery(self._b._sender)

    @dbus_method()
    def StopDiscovery(self) -> None:
        self._b._stop_discovery(self._b._sender)

    @dbus_method()
    def SetDiscoveryFilter(self, properties: Options) -> None:
        self._b._filters[self._b._sender] = dict(properties)

    @dbus_method()
    def GetDiscoveryFilters(self) -> StrList:
        return [
            "UUIDs",
            "RSSI",
            "Pathloss",
            "Transport",
            "DuplicateData",
            "Discoverable",
            "Pattern",
        ]

    @dbus_method()
    def RemoveDevice(self, device: Path) -> None:
        self._b._remove_device_object(device)


class FakeBluez:
    """Claims ``org.bluez`` on ``bus`` and serves one adapter with fake devices."""

    def __init__(
        self,
        bus: MessageBus,
        adapter_address: str = "00:00:5E:00:53:00",
        *,
        adapter_name: str = "hci0",
        advertising_interval: float = 0.2,
        mtu: int = 247,
    ) -> None:
        self.bus = bus
        self.adapter_address = adapter_address
        self.adapter_path = f"/org/bluez/{adapter_name}"
        self.advertising_interval = advertising_interval
        self.mtu = mtu
        self.powered = True
        self._adapter = _Adapter1(self)
        self._devices: dict[str, FakeDevice] = {}
        self._exported: set[str] = set()
        self._sessions: set[str] = set()  # discovery sessions (client unique names)
        self._filters: dict[str, dict[str, Variant]] = {}
        self._adv_task: asyncio.Task[None] | None = None
        self._sender = ""  # sender of the method call being dispatched

    # ----- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        _harden_writer(self.bus)
        self.bus.add_message_handler(self._on_message)
        await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"],
            )
        )
        self._export(self.adapter_path, self._adapter)
        reply = await self.bus.request_name(BLUEZ_SERVICE, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            raise RuntimeError(f"could not own {BLUEZ_SERVICE} on this bus: {reply}")

    async def stop(self) -> None:
        if self._adv_task is not None:
            self._adv_task.cancel()
            self._adv_task = None
        self.bus.remove_message_handler(self._on_message)
        if not self.bus.connected:  # bus already gone: nothing to announce
            self._devices.clear()
            self._exported.clear()
            return
        for dev in list(self._devices.values()):
            self.remove_device(dev)
        self._sessions.clear()
        self._unexport(self.adapter_path)
        with contextlib.suppress(Exception):
            await self.bus.release_name(BLUEZ_SERVICE)

    async def __aenter__(self) -> "FakeBluez":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- devices --------------------------------------------------------

    @property
    def devices(self) -> list[FakeDevice]:
        return list(self._devices.values())

    @property
    def discovering(self) -> bool:
        return bool(self._sessions) and self.powered

    def add_device(
        self,
        address: str,
        name: str,
        services: Sequence[Service] = (),
        service_uuids: Sequence[str] = (),
        manufacturer_data: Mapping[int, bytes] | None = None,
        rssi: int = -60,
        **kwargs: Any,
    ) -> FakeDevice:
        """Add a present, connectable, advertising device (exported at once).

        kwargs: service_data, address_type ("public"/"random"),
        connect_delay (s, default 0.02), mtu (default: FakeBluez.mtu).
        """
        kwargs.setdefault("mtu", self.mtu)
        dev = FakeDevice(
            self, address, name, services, service_uuids, manufacturer_data or {}, rssi, **kwargs
        )
        if dev.path in self._devices:
            raise ValueError(f"device {dev.address} already exists")
        self._devices[dev.path] = dev
        dev._export()
        return dev

    def remove_device(self, dev: FakeDevice) -> None:
        dev.set_present(False)
        self._devices.pop(dev.path, None)

    def set_powered(self, powered: bool) -> None:
        """Adapter power; off drops all links and stops discovery."""
        if powered == self.powered:
            return
        if not powered:
            for dev in self._devices.values():
                dev._teardown("link-loss")
                dev._abort_attempt()
        self.powered = powered
        self._adapter.emit_properties_changed(
            {"Powered": powered, "PowerState": "on" if powered else "off"}
        )
        self._set_discovering()

    # ----- internals ------------------------------------------------------

    def _export(self, path: str, iface: ServiceInterface) -> None:
        self.bus.export(path, iface)  # dbus-fast emits InterfacesAdded
        self._exported.add(path)

    def _unexport(self, path: str) -> None:
        self._exported.discard(path)
        self.bus.unexport(path)  # dbus-fast emits InterfacesRemoved

    def _on_message(self, msg: Message) -> Message | None:
        if msg.message_type == MessageType.METHOD_CALL:
            self._sender = msg.sender or ""
            if (msg.interface or "").startswith("org.bluez.") and msg.path not in self._exported:
                # bluetoothd/libdbus answer UnknownObject (bleak relies on it);
                # dbus-fast would say UnknownMethod
                return Message.new_error(
                    msg, ERR_UNKNOWN_OBJECT, f"No such object path '{msg.path}'"
                )
        elif msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged":
            name, _old, new = msg.body
            if name.startswith(":") and not new:
                self._client_gone(name)
        return None

    def _client_gone(self, name: str) -> None:
        self._filters.pop(name, None)
        if name in self._sessions:
            self._sessions.discard(name)
            self._set_discovering()
        for dev in self._devices.values():
            dev._client_gone(name)

    def _start_discovery(self, sender: str) -> None:
        if not self.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        if sender in self._sessions:
            raise DBusError(ERR_IN_PROGRESS, "Operation already in progress")
        self._sessions.add(sender)
        self._set_discovering()

    def _stop_discovery(self, sender: str) -> None:
        if sender not in self._sessions:
            raise DBusError(ERR_FAILED, "No discovery started")
        self._sessions.discard(sender)
        self._filters.pop(sender, None)
        self._set_discovering()

    def _set_discovering(self) -> None:
        running = self._adv_task is not None
        if self.discovering == running:
            return
        self._adapter.emit_properties_changed({"Discovering": self.discovering})
        if self.discovering:
            self._adv_task = asyncio.get_running_loop().create_task(self._advertise())
        else:
            assert self._adv_task is not None
            self._adv_task.cancel()
            self._adv_task = None

    async def _advertise(self) -> None:
        """While discovering, every advertising device 'is seen' periodically."""
        while True:
            for dev in list(self._devices.values()):
                if not dev.advertising:
                    continue
                if dev._exported:
                    dev._iface.emit_properties_changed({"RSSI": dev.rssi})
                else:  # e.g. after RemoveDevice: re-created on the next advert
                    dev._export()
            await asyncio.sleep(self.advertising_interval)

    def _remove_device_object(self, path: str) -> None:
        dev = self._devices.get(path)
        if dev is None or not dev._exported:
            raise DBusError(ERR_DOES_NOT_EXIST, "Does Not Exist")
        dev._handle_disconnect()
        dev._unexport()


class _EagainTolerantSocket:
    """Socket proxy whose send()/sendmsg() report EAGAIN as '0 bytes written'."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def sendmsg(self, buffers: Any, ancdata: Any = ()) -> int:
        try:
            return self._sock.sendmsg(buffers, ancdata)
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _harden_writer(bus: MessageBus) -> None:
    """Work around dbus-fast (5.2) treating EAGAIN on a full socket as fatal.

    Its _MessageWriter calls sock.send() on the non-blocking socket and calls
    bus._finalize() on *any* exception, so a burst of ~1000 signals kills the
    connection. Returning 0 instead makes it wait for writability as it does
    for partial writes. Best effort: skipped if dbus-fast internals differ.
    """
    writer = getattr(bus, "_writer", None)
    sock = getattr(writer, "sock", None)
    if isinstance(sock, socket.socket):
        writer.sock = _EagainTolerantSocket(sock)  # type: ignore[union-attr]
    else:
        log.warning("dbus-fast internals changed; notification bursts may drop the bus")


# --------------------------------------------------------------------------
# CLI: a stand-alone simulated peripheral set (demo profile)
# --------------------------------------------------------------------------

DEMO_SERVICE = "5e4b0001-8c1d-4f3a-9b6e-2d7c0a1f3e5b"
DEMO_STREAM = "5e4b0002-8c1d-4f3a-9b6e-2d7c0a1f3e5b"  # notify: <u32 seq><u64 monotonic_ns>...
DEMO_CONTROL = "5e4b0003-8c1d-4f3a-9b6e-2d7c0a1f3e5b"  # write(+wo-resp)+notify: echoes b"\x01"+cmd
DEMO_INFO = "5e4b0004-8c1d-4f3a-9b6e-2d7c0a1f3e5b"  # read
DEMO_COMPANY_ID = 0xFFFF


def demo_address(index: int) -> str:
    return f"00:00:5E:00:53:{index:02X}"


def add_demo_device(bluez: FakeBluez, index: int) -> FakeDevice:
    """A demo sensor: control-point echo, info read; streaming is up to the caller."""
    holder: list[FakeDevice] = []

    def on_control(data: bytes) -> None:
        holder[0].notify(DEMO_CONTROL, b"\x01" + data[:16])

    services = [
        Service(
            DEMO_SERVICE,
            [
                Characteristic(DEMO_STREAM, ["notify"]),
                Characteristic(
                    DEMO_CONTROL, ["write", "write-without-response", "notify"], on_write=on_control
                ),
                Characteristic(DEMO_INFO, ["read"], value=f"fake-sensor-{index};fw=1.0".encode()),
            ],
        )
    ]
    dev = bluez.add_device(
        demo_address(index),
        f"FakeSensor-{index}",
        services,
        service_uuids=[DEMO_SERVICE],
        manufacturer_data={DEMO_COMPANY_ID: bytes([index, 0x01])},
        rssi=-50 - index,
    )
    holder.append(dev)
    return dev


def stream_payload(seq: int, size: int) -> bytes:
    head = struct.pack("<IQ", seq, time.monotonic_ns())
    return head + bytes(max(0, size - len(head)))


async def stream_while_notifying(dev: FakeDevice, uuid: str, rate: float, size: int) -> None:
    """Notify ``size``-byte payloads at ``rate`` Hz while the central listens."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    while True:
        while not dev.notifying(uuid):
            await asyncio.sleep(0.02)
        seq, t0 = 0, loop.time()
        while dev.notify(uuid, stream_payload(seq, size)):
            seq += 1
            await asyncio.sleep(max(0.0, t0 + seq * period - loop.time()))


async def _run_cli(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        address = args.bus_address or await stack.enter_async_context(private_system_bus())
        bus = await MessageBus(bus_address=address).connect()
        stack.callback(bus.disconnect)
        bluez = await stack.enter_async_context(FakeBluez(bus))
        devs = [add_demo_device(bluez, i + 1) for i in range(args.devices)]
        tasks = [
            asyncio.create_task(stream_while_notifying(d, DEMO_STREAM, args.rate, args.payload))
            for d in devs
        ]
        for t in tasks:
            stack.callback(t.cancel)
        for d in devs:
            print(f"DEVICE {d.address} {d.name}", flush=True)
        print(f"DBUS_SYSTEM_BUS_ADDRESS={address}", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        mode = os.fstat(sys.stdin.fileno()).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty():
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            commands = asyncio.create_task(_command_loop(reader, devs, stop))
            stack.callback(commands.cancel)
        await stop.wait()


async def _command_loop(
    reader: asyncio.StreamReader, devs: list[FakeDevice], stop: asyncio.Event
) -> None:
    while line := await reader.readline():
        parts = line.decode().split()
        try:
            if parts == ["quit"]:
                stop.set()
                return
            cmd, dev = parts[0], devs[int(parts[1]) - 1]
            if cmd == "drop":
                dev.drop_link()
            elif cmd == "present":
                dev.set_present(parts[2] == "1")
            elif cmd == "connectable":
                dev.set_connectable(parts[2] == "1")
            else:
                raise ValueError(cmd)
            print(f"ok {' '.join(parts)}", flush=True)
        except (ValueError, IndexError) as e:
            print(f"error {line.decode().strip()!r}: {e}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Fake BlueZ with simulated LE sensors")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--bus-address", help="join this bus instead of starting a private one")
    p.add_argument("--rate", type=float, default=53.0, help="stream notifications per second")
    p.add_argument("--payload", type=int, default=244, help="stream notification size")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if not 12 <= args.payload <= 244:
        p.error("--payload must be 12..244 (seq + timestamp header, ATT_MTU 247 - 3)")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    asyncio.run(_run_cli(args))


if __name__ == "__main__":
    main()
