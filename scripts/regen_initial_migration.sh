#!/usr/bin/env bash
# Pre-release only: regenerate the single initial migration from the models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f storage/migrations/versions/0001_initial.py
DATABASE_URL="sqlite:///$tmp/gen.sqlite3" .venv/bin/python main.py db revision -m initial >/dev/null
f=$(ls storage/migrations/versions/*_initial.py)
rev=$(basename "$f" | cut -d_ -f1)
sed -i "s/^revision: str = '$rev'/revision: str = '0001'/; s/Revision ID: $rev/Revision ID: 0001/" "$f"
mv "$f" storage/migrations/versions/0001_initial.py
rm -rf "$tmp"
echo "regenerated storage/migrations/versions/0001_initial.py"
