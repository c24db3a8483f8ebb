# collector_conf.sh - sourced by bench/ingest.sh and bench/ingest-cg.sh: the
# collector's configuration for bench/ingest, one place for both.

# collector_conf FILE PORT DIR PKI [EXTRA]: a collector on 127.0.0.1:PORT with
# its data and control socket under DIR, step 60 s as bench_ingest's; over
# mutual TLS with the PKI vakt-pki made in PKI ("": insecure = yes); EXTRA
# lines appended. Its heartbeat is long: bench_ingest sends no heartbeats
# while it waits for the first round (the collector making every file, half a
# minute and more on a loaded machine), and a session silent for three
# heartbeats is closed as dead. Sets tflag to bench_ingest's -T option for that PKI (site
# "bench"), or to nothing.
collector_conf() {
	if [ -n "$4" ]; then
		# mutual TLS, as an agent speaks to it: the PKI an operator makes with vakt-pki
		tls="tls {
  ca = \"$4/ca.crt\"
  cert = \"$4/certs/local.crt\"
  key = \"$4/private/local.key\"
  crl = \"$4/crl.pem\"
}"
		tflag="-T $4/ca.crt:$4/certs/bench.crt:$4/private/bench.key"
	else
		tls="insecure = yes"
		tflag=""
	fi
	cat >"$1" <<EOC
listen = {"127.0.0.1:$2"}
$tls
data_dir = "$3/data"
step = 60
control_socket = "$3/collector.sock"
max_new_files_per_minute = 0
watch {
  heartbeat = 3600
}
${5:-}
EOC
}
