/*
 * vaktctl - talks to a running vakt-collector over its control socket.
 * Sends one command (status, flush, forget), prints the answer.
 * Every failure ends in a line on stderr saying why and exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/vakt/collector.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vaktctl [-s SOCKET] status\n"
		"       vaktctl [-s SOCKET] flush [FILE | --all]\n"
		"       vaktctl [-s SOCKET] forget SITE AGENT\n"
		"  status              the collector's sessions, store, agents and alerts\n"
		"  flush               write the cached values of one RRD file (its full path),\n"
		"                      or of all, so that a reader sees them now\n"
		"  forget              drop an agent that is gone for good (not connected): it\n"
		"                      is no longer watched, its alerts are resolved\n"
		"  -s, --socket PATH   collector control socket (default %s)\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		DEFAULT_SOCKET);
}

/* 1 when `s` holds a control character, which no site or agent name does. */
static int has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = getenv("VAKT_SOCKET") ? getenv("VAKT_SOCKET") : DEFAULT_SOCKET;
	struct sockaddr_un sun;
	struct timeval tv = {10, 0};
	char buf[4096], cmd[300], *answer = NULL;
	size_t anslen = 0;
	FILE *ans;
	ssize_t n;
	int ch, fd, werr, rerr, rc;

	while ((ch = getopt_long(argc, argv, "+s:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'V':
			printf("vaktctl %s\n", VAKT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "flush") == 0 && optind + 2 >= argc) {
		/* "--all" and no argument both mean every file */
		if (optind + 2 == argc && strcmp(argv[optind + 1], "--all") != 0) {
			/* the collector knows its files by their full paths */
			char *full = realpath(argv[optind + 1], NULL);

			if (full == NULL) {
				fprintf(stderr, "vaktctl: flush: %s: %s\n", argv[optind + 1],
					strerror(errno));
				return 1;
			}
			snprintf(cmd, sizeof(cmd), "flush %s\n", full);
			free(full);
		} else
			snprintf(cmd, sizeof(cmd), "flush\n");
		if (strlen(cmd) >= sizeof(cmd) - 1 || strchr(cmd, '\n') != cmd + strlen(cmd) - 1) {
			fprintf(stderr, "vaktctl: flush: path too long or not one line\n");
			return 2;
		}
	} else if (optind + 3 == argc && strcmp(argv[optind], "forget") == 0) {
		/* names may hold blanks but no control characters: a tab keeps them apart */
		if (has_control(argv[optind + 1]) || has_control(argv[optind + 2]) ||
		    snprintf(cmd, sizeof(cmd), "forget %s\t%s\n", argv[optind + 1],
			     argv[optind + 2]) >= (int)sizeof(cmd) - 1) {
			fprintf(stderr, "vaktctl: forget: a name too long or with a control "
					"character in it\n");
			return 2;
		}
	} else if (optind + 1 == argc && strcmp(argv[optind], "status") == 0) {
		snprintf(cmd, sizeof(cmd), "status\n");
	} else {
		usage(stderr);
		return 2;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "vaktctl: socket path too long: %s\n", path);
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	/* a collector that refuses closes the socket: say why, never die of SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "vaktctl: cannot connect to %s: %s%s\n", path, strerror(errno),
			errno == ECONNREFUSED || errno == ENOENT
			    ? " (is vakt-collector running, with this control_socket?)"
			    : "");
		return 1;
	}
	/* a flush or forget waits for the collector's writer, which may take a while */
	if (strncmp(cmd, "status", 6) != 0)
		tv.tv_sec = 60;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ans = open_memstream(&answer, &anslen);
	if (ans == NULL) {
		fprintf(stderr, "vaktctl: %s\n", strerror(errno));
		return 1;
	}
	/* a failed write is not the end: a refusal may still be there to read */
	werr = write(fd, cmd, strlen(cmd)) < 0 ? errno : 0;
	/* the whole answer is read first: a refusal must not look like an answer */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (fwrite(buf, 1, (size_t)n, ans) != (size_t)n)
			break;
	}
	rerr = n < 0 ? errno : 0;
	close(fd);
	fclose(ans);
	if (strncmp(answer ? answer : "", "refused: ", 9) == 0) {
		answer[strcspn(answer, "\n")] = '\0';
		fprintf(stderr, "vaktctl: collector closed the connection: %s\n", answer + 9);
		free(answer);
		return 1;
	}
	if (anslen > 0)
		fwrite(answer, 1, anslen, stdout);
	rc = anslen >= 6 && strncmp(answer, "error:", 6) == 0;
	free(answer);
	if (rerr == EAGAIN || rerr == EWOULDBLOCK) {
		fprintf(stderr, "vaktctl: no answer from %s within %ld s\n", path, (long)tv.tv_sec);
		return 1;
	}
	if (rerr != 0 || (anslen == 0 && werr != 0)) {
		fprintf(stderr, "vaktctl: %s: %s\n", path, strerror(rerr ? rerr : werr));
		return 1;
	}
	if (anslen == 0) {
		fprintf(stderr, "vaktctl: collector closed the connection without an answer\n");
		return 1;
	}
	return rc;
}
