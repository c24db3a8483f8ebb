/*
 * daemon.h - the command line both daemons share: -c FILE, -n/--check-config,
 * -f, -v, -V, -h. Exits for --help, --version and usage errors; never forks.
 */
#ifndef VAKT_DAEMON_H
#define VAKT_DAEMON_H

struct daemon_opts {
	const char *config;
	int check_only;
	int foreground;
	int verbose;
};

/*
 * Parses argv for program `prog` (e.g. "vakt-agent") with `default_config`;
 * `more_usage` (NULL: none) is a printf format, with %s for `prog`, that the
 * usage message ends with.
 * Returns -1 when the daemon should go on, or the status to exit with
 * (0 after --help/--version, 2 after a usage error, which it prints).
 */
int daemon_parse_args(int argc, char **argv, const char *prog, const char *default_config,
		      const char *more_usage, struct daemon_opts *o);

/*
 * 0 when `dir` is a directory this process can create entries in (it makes
 * and removes one to see); else -1 and *why.
 */
int daemon_writable_dir(const char *dir, const char **why);

#endif
