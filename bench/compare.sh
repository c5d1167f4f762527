#!/usr/bin/env bash
# tickwork and the peer job systems in one run, then the same-hour table (bench/compare.py)
# written into docs/benchmarks.md and the README. Machines here differ by 2x from day to day:
# only figures of one run are compared.
#
#   bash bench/compare.sh PEERS_DIR [peer steps]     # default steps: huey-sqlite procrastinate
#                                                    # apscheduler limits-sqlite
#   PG_URL=postgresql://postgres@127.0.0.1:5432/test bash bench/compare.sh PEERS_DIR
#
# PEERS_DIR is the team's peer benchmark kit (its setup.sh and run_all.sh); its venv is made
# on the first run. About 30-40 minutes with the default steps.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${1:?usage: bench/compare.sh PEERS_DIR [peer steps]}
PEERS=$(cd "$PEERS" && pwd)
shift
STEPS=${*:-huey-sqlite procrastinate apscheduler limits-sqlite}
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
PY=.venv/bin/python
make -s .venv/.installed
# Production PostgreSQL vacuums queue tables as they churn; without it they bloat within minutes
# and every PostgreSQL figure (ours and the peers') is unfair.
if [ "$(psql "$PG_URL" -tAc 'show autovacuum')" != on ]; then
  echo "autovacuum is off on $PG_URL's server: turn it on first"
  echo "  psql -c 'ALTER SYSTEM SET autovacuum = on' -c 'SELECT pg_reload_conf()'"
  exit 1
fi

since=$(date +%s)
out=$(mktemp -d)
echo "# tickwork on SQLite ($(date -u +%H:%M) UTC)"
$PY bench/bench_store.py --only enqueue,process,latency,cron | tee "$out/sqlite.log"
$PY bench/bench_store.py --only process --pin | tee "$out/sqlite-pinned.log"
echo "# tickwork on PostgreSQL ($(date -u +%H:%M) UTC)"
psql "$PG_URL" -qc 'ANALYZE' >/dev/null
$PY bench/bench_store.py --url "$PG_URL" --only enqueue,process,latency --workers 1,2 \
  | tee "$out/pg.log"

echo "# peers: $STEPS ($(date -u +%H:%M) UTC)"
venv=${BENCH_VENV:-$HOME/.cache/tickwork-bench-peers}
[ -x "$venv/bin/python" ] || bash "$PEERS/setup.sh"
# shellcheck disable=SC2086
bash "$PEERS/run_all.sh" $STEPS

files=$(sed -n 's/^# written //p' "$out"/*.log)
# shellcheck disable=SC2086
$PY bench/compare.py --since "$since" --tickwork $files --peers "$PEERS/results" \
  --write docs/benchmarks.md --write README.md
