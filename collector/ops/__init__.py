"""Operations: metrics, logs, heap, progress, GeoIP updates, start-up and shutdown of servers."""
