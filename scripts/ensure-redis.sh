#!/usr/bin/env bash
# Start redis-server on HOST:PORT unless something already answers there (installs it on a
# Debian machine that lacks it). Used by `make test`, `make run` and .ci/run.
set -euo pipefail
HOST=${1:-127.0.0.1}
PORT=${2:-6379}

answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" = "PONG" ]
  else
    exec 3<>"/dev/tcp/$HOST/$PORT" 2>/dev/null && printf 'PING\r\n' >&3 && read -r -t 2 reply <&3 \
      && [[ "$reply" == +PONG* ]]
  fi
}

if answers; then
  echo "redis: answering on $HOST:$PORT"
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "redis: installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis: nothing answers on $HOST:$PORT and redis-server is not installed" >&2
    exit 1
  fi
fi
echo "redis: starting redis-server on $HOST:$PORT"
redis-server --daemonize yes --bind "$HOST" --port "$PORT" --save "" --appendonly no \
  --dir /tmp --logfile /tmp/datanexus-redis.log
for _ in $(seq 1 50); do
  answers && exit 0
  sleep 0.1
done
echo "redis: did not come up on $HOST:$PORT (see /tmp/datanexus-redis.log)" >&2
exit 1
