#!/usr/bin/env bash
# Prepare a bare machine with Python 3.11 for agentctl: uv, the locked environment, a Chromium,
# and (with --postgres) a running PostgreSQL for the tests. Safe to run again: it only does what
# is missing. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

want_postgres=no
for arg in "$@"; do
  case "$arg" in
    --postgres) want_postgres=yes ;;
    *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[2m[setup] %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

export UV_PYTHON_DOWNLOADS=never   # uv cannot download a Python here: fail loudly on a mismatch
export UV_COMPILE_BYTECODE=1       # PYTHONDONTWRITEBYTECODE machines would otherwise recompile at every start

# 1. uv
if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --user uv \
    || python3 -m pip install --quiet --break-system-packages uv
fi
uv() { if command -v uv >/dev/null 2>&1; then command uv "$@"; else python3 -m uv "$@"; fi; }

# 2. the locked Python environment
uv sync --frozen --quiet

# 3. a Chromium: $AGENTCTL_CHROMIUM, Playwright's own, or Debian's
if [ -n "${AGENTCTL_CHROMIUM:-}" ] && [ -x "${AGENTCTL_CHROMIUM}" ]; then
  :
elif ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome >/dev/null 2>&1; then
  :
elif command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  :
else
  say "installing Debian's chromium (Playwright's browser download cannot work offline)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

# 4. PostgreSQL on 127.0.0.1:5432 for the tests
if [ "$want_postgres" = yes ]; then
  pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
  if ! pg_ready; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      say "installing PostgreSQL"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
      version=$(ls /etc/postgresql | sort -n | tail -1)
      hba=/etc/postgresql/$version/main/pg_hba.conf
      # The tests connect as postgres over TCP without a password, as on the CI machines.
      as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
    fi
    version=$(ls /etc/postgresql | sort -n | tail -1)
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
    pg_ready || { echo "bootstrap: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
  fi
fi
