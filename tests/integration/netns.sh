# netns.sh - sourced first by a test that runs in network namespaces of its
# own: it re-runs the test inside a new one (unshare --net), where only lo
# exists, so that no packet the test makes can leave the machine. It must
# come before lib.sh, whose helpers then run inside the namespace.
if [ -z "${VAKT_IN_NETNS:-}" ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }
	unshare --net true 2>/dev/null || { echo "SKIP: cannot make a network namespace"; exit 77; }
	VAKT_IN_NETNS=1 exec unshare --net "$0" "$@"
fi
ip link set lo up
# glibc's AI_ADDRCONFIG wants an address besides 127.0.0.1 in a fresh namespace
ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
