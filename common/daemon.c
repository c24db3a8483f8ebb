/*
 * daemon.c - command-line options shared by vakt-agent and vakt-collector.
 * Only parses, prints and looks at directories; logging and config are set
 * up by the caller.
 */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

static void usage(FILE *f, const char *prog, const char *default_config, const char *more)
{
	fprintf(f,
		"usage: %s [-fnv] [-c FILE]\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -n, --check-config  validate the configuration and exit\n"
		"  -f, --foreground    log to stderr instead of syslog\n"
		"  -v, --verbose       log debug messages\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		prog, default_config);
	if (more != NULL)
		fprintf(f, more, prog);
}

int daemon_parse_args(int argc, char **argv, const char *prog, const char *default_config,
		      const char *more_usage, struct daemon_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'n'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->config = default_config;
	o->check_only = o->foreground = o->verbose = 0;
	while ((ch = getopt_long(argc, argv, "c:nfvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->check_only = 1;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			printf("%s %s\n", prog, VAKT_VERSION);
			return 0;
		case 'h':
			usage(stdout, prog, default_config, more_usage);
			return 0;
		default:
			usage(stderr, prog, default_config, more_usage);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, prog, default_config, more_usage);
		return 2;
	}
	return -1;
}

int daemon_writable_dir(const char *dir, const char **why)
{
	char probe[4096];
	struct stat st;

	if (stat(dir, &st) < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*why = "not a directory";
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		*why = strerror(errno);
		return -1;
	}
	/*
	 * access() grants root everything but a read-only mount: /proc or /sys
	 * passed, and the daemon then failed to create what it needs there. A
	 * directory made and removed at once tells.
	 */
	snprintf(probe, sizeof(probe), "%s/.vakt-check-XXXXXX", dir);
	if (strlen(dir) + 20 >= sizeof(probe) || mkdtemp(probe) == NULL) {
		*why = strlen(dir) + 20 >= sizeof(probe) ? "path too long" : strerror(errno);
		return -1;
	}
	rmdir(probe);
	return 0;
}
