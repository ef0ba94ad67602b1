#!/bin/sh
# Fetch the vendored browser libraries from the npm registry with `npm pack` (the registry the
# local npm is configured with), and rebuild the alpha-2 -> numeric country code table.
# Run from anywhere: sh dashboards/static/vendor/update.sh  (needs npm, tar and python3)
set -eu

CHARTJS=4.6.1
CHARTJS_GEO=4.3.6
WORLD_ATLAS=2.0.2
ISO_COUNTRIES=7.14.0

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # unpack PACKAGE@VERSION -> $work/NAME
    name=${1%@*}
    (cd "$work" && npm pack --silent "$1" >/dev/null)
    mkdir -p "$work/$name"
    tar -xzf "$work/$name"-*.tgz -C "$work/$name" --strip-components=1
}

unpack "chart.js@$CHARTJS"
unpack "chartjs-chart-geo@$CHARTJS_GEO"
unpack "world-atlas@$WORLD_ATLAS"
unpack "i18n-iso-countries@$ISO_COUNTRIES"

# The minified files keep their sourceMappingURL comment; the maps are not vendored.
cp "$work/chart.js/dist/chart.umd.min.js" "$here/chart.umd.min.js"
cp "$work/chart.js/LICENSE.md" "$here/LICENSE.chart.js.md"
cp "$work/chartjs-chart-geo/build/index.umd.min.js" "$here/chartjs-chart-geo.umd.min.js"
cp "$work/chartjs-chart-geo/LICENSE" "$here/LICENSE.chartjs-chart-geo.txt"
cp "$work/world-atlas/countries-110m.json" "$here/countries-110m.json"
cp "$work/world-atlas/LICENSE" "$here/LICENSE.world-atlas.txt"
cp "$work/i18n-iso-countries/LICENSE" "$here/LICENSE.i18n-iso-countries.txt"

# chartjs-chart-geo's UMD build bundles d3 modules and topojson-client: keep their notices.
: >"$here/LICENSE.chartjs-chart-geo-bundled.txt"
for package in d3-array@3 d3-color@3 d3-geo@3 d3-interpolate@3 d3-scale-chromatic@3 \
    topojson-client@3; do
    unpack "$package"
    {
        printf '==== %s ====\n\n' "${package%@*}"
        cat "$work/${package%@*}/LICENSE"
        printf '\n'
    } >>"$here/LICENSE.chartjs-chart-geo-bundled.txt"
done

# world-atlas names countries by their numeric ISO 3166-1 code; the data uses alpha-2.
python3 - "$work/i18n-iso-countries/codes.json" "$here/iso3166-numeric.json" <<'PY'
import json
import sys

codes = json.load(open(sys.argv[1], encoding="utf-8"))
table = {alpha2: numeric for alpha2, _alpha3, numeric, *_ in sorted(codes)}
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(table, out, separators=(",", ":"), sort_keys=True)
    out.write("\n")
PY

ls -l "$here"
