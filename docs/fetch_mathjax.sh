#!/usr/bin/env bash
# Put MathJax 3 (Apache-2.0) under docs/_static/mathjax so formulas render offline.
# Without it the built pages load MathJax from its CDN, as NumPy's and SciPy's docs do.
set -euo pipefail
cd "$(dirname "$0")"
[ -f _static/mathjax/tex-chtml.js ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mathjax@3.2.2 >/dev/null && tar xzf mathjax-3.2.2.tgz)
mkdir -p _static/mathjax/output/chtml/fonts
cp "$tmp/package/es5/tex-chtml.js" _static/mathjax/
cp -r "$tmp/package/es5/output/chtml/fonts/woff-v2" _static/mathjax/output/chtml/fonts/
cp "$tmp/package/LICENSE" _static/mathjax/LICENSE
echo "MathJax 3.2.2 in docs/_static/mathjax"
