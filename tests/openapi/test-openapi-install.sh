#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `meson install` puts the OpenAPI documents in DATADIR/golem/ (/usr/share/golem/ for a
# distribution), the files of the tree as they are: the install tag "openapi" into a scratch
# DESTDIR.
#
#   test-openapi-install.sh MESON BUILD_DIR OPENAPI_DIR DATADIR
set -euo pipefail

meson=$1
build=$2
src=$3
datadir=$4

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$meson" install -C "$build" --no-rebuild --quiet --tags openapi --destdir "$tmp" >/dev/null

status=0
for doc in golem-provider.json golem-discovery.json; do
        installed="$tmp$datadir/golem/$doc"
        if [ ! -f "$installed" ]; then
                echo "FAIL: meson install did not install $datadir/golem/$doc; it installed:"
                (cd "$tmp" && find . -type f)
                status=1
        elif ! cmp -s "$installed" "$src/$doc"; then
                echo "FAIL: $datadir/golem/$doc is not openapi/$doc"
                status=1
        else
                echo "ok: $datadir/golem/$doc"
        fi
done
exit $status
