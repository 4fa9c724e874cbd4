#!/usr/bin/env bash
# Every MESSAGE_ID the code logs has a catalog entry, and journalctl accepts the catalog.
# usage: test-catalog.sh CATALOG LOG_H
set -euo pipefail
catalog=$1 log_h=$2

ids=$(grep -oE '#define GOLEM_MESSAGE_[A-Z_]+ +"[0-9a-f]{32}"' "$log_h" | grep -oE '[0-9a-f]{32}')
[ -n "$ids" ] || { echo "no MESSAGE_IDs found in $log_h"; exit 1; }
missing=0
for id in $ids; do
        grep -q "^-- $id\$" "$catalog" || { echo "MESSAGE_ID $id has no catalog entry"; missing=1; }
done
[ $missing -eq 0 ]

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/golem.catalog"
journalctl --root="$root" --update-catalog
listed=$(journalctl --root="$root" --list-catalog)
for id in $ids; do
        grep -q "^$id " <<<"$listed" || { echo "journalctl does not list $id"; exit 1; }
done
echo "$(wc -w <<<"$ids") catalog entries OK"
