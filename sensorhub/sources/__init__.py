"""Where notifications come from: the simulator, a recording (BLE joins later).

Each source offers ``sensors`` (their session entries) and an async iterator of
``(host_time_s, sensor_index, bytes)`` notifications.
"""
