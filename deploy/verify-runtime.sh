#!/usr/bin/env bash
# Runs the Dockerfile's runtime stage by hand on a Debian machine (where no
# container engine is available): the same packages, a non-root user, the
# same environment and working directory, /data as the data folder, then
# the HEALTHCHECK command and a graceful stop. Needs root.
#   deploy/verify-runtime.sh [path/to/clinic-booking]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/release/clinic-booking}")
[ -x "$binary" ] || { echo "no binary at $binary (build it first)" >&2; exit 1; }

missing=()
for pkg in libpq5 ca-certificates tzdata curl; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if ((${#missing[@]})); then apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; fi

root=$(mktemp -d)
user=clinic-verify
id -u "$user" >/dev/null 2>&1 || useradd --system --home-dir "$root/srv/clinic" "$user"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$root"; }
trap cleanup EXIT

# The image's layout: binary, config/default.toml in the working directory,
# /data owned by the service user (here under a scratch root).
mkdir -p "$root/usr/local/bin" "$root/srv/clinic/config" "$root/data"
cp "$binary" "$root/usr/local/bin/clinic-booking"
cp config/default.toml "$root/srv/clinic/config/default.toml"
chown -R "$user" "$root/data"
chmod 755 "$root" "$root/srv" "$root/srv/clinic"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$root/srv/clinic"
# setpriv execs the service itself as the user (as USER does in the image),
# so signals reach it directly.
setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups env -i PATH=/usr/bin:/bin \
  CLINIC__SERVER__BIND="0.0.0.0:$port" \
  CLINIC__DATABASE__URL="sqlite://$root/data/clinic.db" \
  CLINIC__MAIL__FILE_DIR="$root/data/mail" \
  "$root/usr/local/bin/clinic-booking" >"$root/server.log" 2>&1 &
pid=$!

# The HEALTHCHECK.
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
[ -f "$root/data/clinic.db" ] || { echo "the database was not created under /data" >&2; exit 1; }
[ "$(stat -c %U "$root/data/clinic.db")" = "$user" ] || { echo "the database is not owned by the service user" >&2; exit 1; }

# docker stop sends SIGTERM: the service must stop cleanly.
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || { echo "exit status $status after SIGTERM" >&2; cat "$root/server.log" >&2; exit 1; }
grep -q '"stopped"\|stopped' "$root/server.log"
echo "runtime stage verified: non-root user, /data, healthcheck, graceful stop"
