# Shell functions for the web tests that run inside a user + mount +
# network namespace they create (sourced): entering it, and a resolver
# that asks only the test's own DNS server on loopback.

# web_netns NAME SCRIPT ARGS...: unless already inside, re-executes SCRIPT
# with ARGS under unshare -rmn (exit 77, skipped, where unprivileged
# namespaces are not available); inside, brings loopback up.
web_netns() {
	_name=$1
	shift
	if [ "${ZG_IN_NS:-}" != 1 ]; then
		if ! unshare -rmn true 2>/dev/null; then
			echo "$_name: unprivileged namespaces unavailable; skipped"
			exit 77
		fi
		exec env ZG_IN_NS=1 unshare -rmn sh "$@"
	fi
	ip link set lo up
}

# web_resolver DIR OPTIONS: /etc/resolv.conf (bind-mounted, inside the
# namespace only) names 127.0.0.1 with the resolver OPTIONS.
web_resolver() {
	printf 'nameserver 127.0.0.1\noptions %s\n' "$2" >"$1/resolv.conf"
	mount --bind "$1/resolv.conf" /etc/resolv.conf
}
