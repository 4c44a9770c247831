"""How every SQLite connection is set up (the embedded default database).

One list, used by the settings for Django's connections and by
bench/ingest.py for its floor, so both write with the same settings.

Left at SQLite's defaults on purpose: the page cache (2 MB) and memory-mapped
reads. A 32 MB cache and a 256 MB map sped ingestion up a little, but a
process reading a large window (an export run) then held up to the map's
size more resident memory, growing with the data it read, against the
export's bound of 200 MB whatever the window.
"""

SQLITE_PRAGMAS = (
    # readers never wait for the writer; the web process and the qcluster share the file
    "journal_mode=WAL",
    # in WAL mode: durable at each checkpoint, consistent always
    "synchronous=NORMAL",
    # the log is copied back every 10,000 pages, not 1,000: an ingest batch
    # writes ~2,000 pages, so the default paid a checkpoint (and its fsync)
    # on nearly every commit; after one the log file is cut back to 64 MB
    "wal_autocheckpoint=10000",
    "journal_size_limit=67108864",
)
