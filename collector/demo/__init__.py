"""The demo: a site, GeoIP files and synthetic visitors, for `audience serve --demo` and the
benchmarks."""
