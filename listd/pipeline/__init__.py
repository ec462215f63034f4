"""The list pipeline: from a publisher's file to a published version and its deltas.

`fetch` downloads, `ingest` validates, parses and normalises (large files in child
processes), `sync` runs one sync of one source under its `lease`, `delta` plans and types
the published changes, `guards` holds a suspicious snapshot for an administrator, and
`store` keeps versions in Redis; `child` runs a sync in a process of its own (`listd run`).
"""
