"""The dashboard's SQL (``dashboard.sql``), read with pgqueuer.sql.load_blocks."""
