#!/usr/bin/env bash
# Development only, before the first release: rebuild alembic/versions/0001 from the model.
# After a release, add new revisions with `alembic revision --autogenerate` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f alembic/versions/*_0001_initial_schema.py
SIMPLETRUST_DATABASE_URL="sqlite:///$tmp/gen.db" .venv/bin/alembic revision --autogenerate \
  -m "initial schema" --rev-id 0001 >/dev/null
f=$(ls alembic/versions/*_0001_initial_schema.py)
sed -i 's/astext_type=Text()/astext_type=sa.Text()/g; /# ### commands auto generated/d; /# ### end Alembic commands/d; s/^Revises: $/Revises: (none)/' "$f"
.venv/bin/ruff format -q "$f"
rm -rf "$tmp"
echo "regenerated $f"
