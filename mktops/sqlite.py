"""How every SQLite connection is set up (the embedded default database).

One list, used by the settings for Django's connections and by
bench/ingest.py for its floor, so both write with the same settings.
"""

SQLITE_PRAGMAS = (
    # readers never wait for the writer; the web process and the qcluster share the file
    "journal_mode=WAL",
    # in WAL mode: durable at each checkpoint, consistent always
    "synchronous=NORMAL",
    # pages are read through a memory map, not copied in by a system call each;
    # the processes then share one copy of a page that another process changed
    "mmap_size=268435456",
    # 32 MB of page cache per connection instead of 2 MB: an ingest batch
    # touches a page at a random place in each random index for most of its
    # rows, and a small cache re-reads them within the same batch
    "cache_size=-32768",
    # the log is copied back every 10,000 pages, not 1,000: an ingest batch
    # writes ~2,000 pages, so the default paid a checkpoint (and its fsync)
    # on nearly every commit; after one the log file is cut back to 64 MB
    "wal_autocheckpoint=10000",
    "journal_size_limit=67108864",
)
