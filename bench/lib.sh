# bench/lib.sh - helpers the bench-*.sh scripts source (after cd to the
# project root and setting BIN): a free loopback port, waiting for a
# server, and the one bench agency with its users.

# free_port: prints a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_up PORT [TRIES]: waits (0.1 s a try, default 100) until a server
# answers /healthz or / (bare libmicrohttpd answers any path); 1 if not.
wait_up() {
	for _ in $(seq 1 "${2:-100}"); do
		curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "server on port $1 did not come up" >&2
	return 1
}

# bench_agency DATADIR: registers CA0010000, a local police agency.
bench_agency() {
	$BIN agency add CA0010000 --name "Bench PD" --category local_police \
	    --certified-until 2099-12-31 --data "$1" >/dev/null
}

# bench_user DATADIR NAME: adds a user of CA0010000 and prints its token.
bench_user() { $BIN user add --agency CA0010000 "$2" --data "$1" | tail -1; }
