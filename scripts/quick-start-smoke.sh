#!/usr/bin/env bash
# Keeps the README's quick start true: runs `npm start` as a new user would (its own data folder), waits for
# Lifeboat to be ready, signs in as the admin with the password it printed, then stops it as Ctrl+C does and
# checks that nothing of it is left running. Used by .ci/run after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${LIFEBOAT_SMOKE_PORT:-3987}"
PG_PORT="${LIFEBOAT_SMOKE_PG_PORT:-54387}"
DATA="$(mktemp -d)"
# A data folder every user can traverse: as root, the embedded PostgreSQL runs as the OS user postgres.
chmod 755 "$DATA"
LOG="$DATA/start.log"
trap 'rm -rf "$DATA"' EXIT

fail() {
  echo "[smoke] $*" >&2
  tail -40 "$LOG" >&2 || true
  [ -n "${GROUP:-}" ] && kill -KILL -- "-$GROUP" 2>/dev/null || true
  exit 1
}

start=$SECONDS
# A process group of its own, so the stop below reaches it the way a terminal's Ctrl+C does.
PORT="$PORT" LIFEBOAT_DATA_DIR="$DATA/lifeboat" LIFEBOAT_EMBEDDED_PG_PORT="$PG_PORT" \
  LIFEBOAT_SIM_PORT="${LIFEBOAT_SMOKE_SIM_PORT:-18443}" LIFEBOAT_SIM_IMAGEIO_PORT="${LIFEBOAT_SMOKE_IMAGEIO_PORT:-15432}" \
  LIFEBOAT_SIM_SEED_SCALE=small setsid npm start >"$LOG" 2>&1 &
GROUP=$!
until grep -q "Lifeboat is ready" "$LOG"; do
  kill -0 "$GROUP" 2>/dev/null || fail "npm start exited before Lifeboat was ready"
  [ $((SECONDS - start)) -lt 300 ] || fail "not ready within 300 s"
  sleep 1
done
echo "[smoke] ready after $((SECONDS - start)) s (npm start, builds cached)" >&2

password="$(sed -n 's/.*with password \([^ ]*\).*/\1/p' "$LOG" | head -1)"
[ -n "$password" ] || fail "the first start printed no admin password"
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
[ "$code" = 307 ] || fail "GET / answered $code, not a redirect to the login page"
curl -sf "http://127.0.0.1:$PORT/login" | grep -q "Sign in" || fail "the login page does not offer to sign in"
JAR="$DATA/cookies"
sign_in() {
  curl -s -o /dev/null -w '%{http_code}' -c "$JAR" -H 'content-type: application/json' \
    -H "origin: http://localhost:$PORT" \
    -d "{\"email\":\"admin@lifeboat.local\",\"password\":\"$1\"}" \
    "http://127.0.0.1:$PORT/api/auth/sign-in/email"
}
code="$(sign_in "$password")"
[ "$code" = 200 ] || fail "the admin could not sign in with the printed password ($code)"
echo "[smoke] the admin signed in with the printed password" >&2
# The printed password is temporary: the first sign-in must choose a new one (the web app sends it to /account).
curl -s -b "$JAR" "http://127.0.0.1:$PORT/api/trpc/me.get" | grep -q '"mustChangePassword":true' ||
  fail "the printed password did not have to be changed at the first sign-in"
own="smoke-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
code="$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" -H 'content-type: application/json' \
  -H "origin: http://localhost:$PORT" \
  -d "{\"currentPassword\":\"$password\",\"newPassword\":\"$own\"}" \
  "http://127.0.0.1:$PORT/api/auth/change-password")"
[ "$code" = 200 ] || fail "the admin could not replace the printed password ($code)"
code="$(sign_in "$own")"
[ "$code" = 200 ] || fail "the admin could not sign in with the password it chose ($code)"
curl -s -b "$JAR" "http://127.0.0.1:$PORT/api/trpc/me.get" | grep -q '"mustChangePassword":false' ||
  fail "the admin still has to change its password after choosing one"
echo "[smoke] the admin replaced the printed password at the first sign-in" >&2

kill -INT -- "-$GROUP"
for _ in $(seq 1 60); do
  pgrep -g "$GROUP" >/dev/null || break
  sleep 0.5
done
pgrep -g "$GROUP" >/dev/null && fail "still running 30 s after Ctrl+C: $(pgrep -g "$GROUP" -a)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then fail "the embedded PostgreSQL still listens"; fi
echo "[smoke] stopped cleanly on Ctrl+C" >&2
