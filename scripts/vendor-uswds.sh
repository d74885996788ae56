#!/usr/bin/env bash
# Re-vendor the U.S. Web Design System's compiled assets from the npm package into
# research_repo/static/uswds. Usage: scripts/vendor-uswds.sh [VERSION]
set -euo pipefail
version="${1:-3.14.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/research_repo/static/uswds"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@uswds/uswds@$version" >/dev/null && tar xzf uswds-uswds-*.tgz)
dist="$work/package/dist"
rm -rf "$dest"
mkdir -p "$dest/css" "$dest/js" "$dest/fonts" "$dest/img"
cp "$dist/css/uswds.min.css" "$dest/css/"
cp "$dist/js/uswds.min.js" "$dist/js/uswds-init.min.js" "$dest/js/"
# woff2 only: every browser we support reads it, and it is a fifth of the full font set.
(cd "$dist/fonts" && find . -name '*.woff2' -exec cp --parents {} "$dest/fonts/" \;)
# The images the stylesheet and components use; material-icons (8 MB of sources) stays out.
(cd "$dist/img" && cp -r *.svg *.png favicons usa-icons usa-icons-bg "$dest/img/")
cp "$work/package/LICENSE.md" "$dest/LICENSE.md"
echo "USWDS $version" > "$dest/VERSION"
du -sh "$dest"
