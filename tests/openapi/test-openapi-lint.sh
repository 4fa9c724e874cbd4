#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The OpenAPI documents pass an independent validator: Redocly's linter (@redocly/cli, the
# version openapi/package-lock.json pins, with its integrity hash), its strict recommended
# rules (openapi/redocly.yaml). It is installed with `npm ci` into CACHE_DIR (the build
# directory) the first time, and again only when the lock file changes; after that it runs
# offline. Skipped (77) only when npm is not installed (tools/check installs it).
#
#   test-openapi-lint.sh OPENAPI_DIR CACHE_DIR
set -euo pipefail

src=$(cd "$1" && pwd)
mkdir -p "$2"
cache=$(cd "$2" && pwd)

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "SKIP: npm or node not installed (apt-get install nodejs npm)"
        exit 77
fi

# @redocly/cli 2 needs Node.js 20.19 or later (Debian 12's own nodejs is 18): say so plainly.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
        echo "FAIL: node $(node --version) is too old for @redocly/cli; it needs Node.js 20.19 or later"
        exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if ! cmp -s "$src/package-lock.json" "$cache/package-lock.json" || [ ! -e "$cache/node_modules/@redocly/cli/bin/cli.js" ]; then
        echo "==> npm ci in $cache"
        rm -rf "$cache/node_modules" "$cache/package-lock.json"
        cp "$src/package.json" "$cache/package.json"
        cp "$src/package-lock.json" "$cache/package-lock.json.new"
        mv "$cache/package-lock.json.new" "$cache/package-lock.json"
        if ! (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund); then
                rm -f "$cache/package-lock.json"  # so the next run tries again
                echo "FAIL: npm ci of openapi/package-lock.json failed"
                exit 1
        fi
fi

want=$(node -e 'const p = require(process.argv[1]); console.log(p.devDependencies["@redocly/cli"])' "$src/package.json")
have=$(node -e 'const p = require(process.argv[1]); console.log(p.version)' "$cache/node_modules/@redocly/cli/package.json")
if [ "$want" != "$have" ]; then
        echo "FAIL: @redocly/cli $have installed, package.json pins $want"
        exit 1
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
# lint DOCUMENT: its report (less the banner about Node.js versions) in $out, its exit code
# in $rc.
lint() {
        rc=0
        out=$(node "$cache/node_modules/@redocly/cli/bin/cli.js" lint --config "$src/redocly.yaml" \
                --format stylish "$1" 2>&1) || rc=$?
        out=$(grep -v '[║╔╚]' <<<"$out" || true)
}

status=0
for doc in golem-provider.json golem-discovery.json; do
        lint "$src/$doc"
        echo "$out"
        if [ $rc -ne 0 ] || grep -qE '^\s+[0-9]+:[0-9]+\s+(error|warning)' <<<"$out"; then
                echo "FAIL: $doc does not pass redocly lint (exit code $rc)"
                status=1
        fi
done

# The linter is not a yes-man: a document with an undeclared path parameter fails.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node -e '
        const fs = require("fs");
        const d = JSON.parse(fs.readFileSync(process.argv[1]));
        d.paths["/api/v1/vms/{name}/start"].parameters = [];
        fs.writeFileSync(process.argv[2], JSON.stringify(d));' "$src/golem-provider.json" "$tmp/broken.json"
lint "$tmp/broken.json"
if [ $rc -eq 0 ] || ! grep -q "path-parameters-defined" <<<"$out"; then
        echo "$out"
        echo "FAIL: redocly lint took a document without the {name} parameter (exit code $rc)"
        status=1
fi

[ $status -eq 0 ] && echo "PASS: both documents pass redocly lint $have"
exit $status
