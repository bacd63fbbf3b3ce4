"""The operator console: server-rendered pages (:mod:`.pages`), their templates and scripts."""
