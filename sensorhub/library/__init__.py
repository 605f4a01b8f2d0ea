"""After the run: the session library and what is built on it.

``store`` is the SQLite file (one writer, readers never blocked, versioned schema);
``index`` turns a recording into the rows the library keeps (replaying it through the
signal core); ``metrics`` reads them back as arrays; ``load`` the weekly load and its
flags; ``report``, ``export`` and ``activity`` the files that go out and come in.
Nothing here imports asyncio, bleak or an audio library.
"""
