"""The ingest wing: the /api/event endpoint, the pipeline of enrichment steps and its parsers."""
