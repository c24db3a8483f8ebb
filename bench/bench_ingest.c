/*
 * bench_ingest.c - CPU per value of the whole collector (socket, decode,
 * journal, cache, RRD files) against a bare librrd loop writing 60 values
 * per call (the floor) and rrdcached fed with BATCH, on the same files and
 * values. It measures the CPU of the process that does the writing (the
 * collector's, rrdcached's, its own) from /proc, and reports nothing unless
 * every file ends at the last timestamp. bench/ingest.sh runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <rrd.h>

#include "frame.h"
#include "series_wire.h"
#include "store_rrd.h"
#include "tls.h"
#include "xmalloc.h"

/*
 * Under callgrind the floor's run is split into dumps (setup, timed, the
 * check) so that bench/ingest-cg.sh counts its timed part on its own.
 */
#include "callgrind_dump.h"

#define SITE     "bench"
#define NMETRICS 3
#define CHUNK    60 /* the floor's values per rrd_update */

static const char *const metric[NMETRICS] = {"in_octets", "out_octets", "oper_status"};
static const Vakt__Kind kind[NMETRICS] = {VAKT__KIND__DERIVE, VAKT__KIND__DERIVE,
					  VAKT__KIND__GAUGE};

struct bench {
	unsigned files, updates, step, batch, window;
	unsigned protocol; /* vakt: 2 sends the compact form, as the agent does; 1 the full */
	unsigned burst;    /* collectd: UDP packets sent at a time, when its socket has room */
	const char *dir;
	time_t t0; /* round 0 creates the files; round r is t0 + r * step */
	/* vakt over mutual TLS, as an agent: CA, client certificate and key (NULL: plaintext) */
	const char *ca, *cert, *key, *server_name;
};

/* The agent session's TLS connection; NULL on a plaintext session. */
static SSL *session_tls;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * What a process spent: CPU seconds in user space and in the kernel (all
 * threads) and its minor page faults. The kernel's part is reported apart:
 * librrd's mmap, page faults and munmap, the collector's socket reads and
 * journal writes are in it, and no instruction count sees them.
 */
struct cpu {
	double user, sys;
	double faults;
};

/* What process pid spent so far; 0 = this one. */
static struct cpu cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0, minflt = 0, cminflt = 0;
	long long cut = 0, cst = 0;
	double tck = (double)sysconf(_SC_CLK_TCK);
	FILE *f;

	if (pid == 0) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		return (struct cpu){(double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
				    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
				    (double)ru.ru_minflt};
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL) {
		fprintf(stderr, "bench_ingest: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fclose(f);
	/*
	 * After the command's closing parenthesis: field 3 on; minflt is 10,
	 * utime 14, stime 15; the c- fields (11, 16, 17) count the children it
	 * waited for: the collector's writer processes of a flush.
	 */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %llu %*u %*u %llu %llu %lld %lld",
		   &minflt, &cminflt, &ut, &st, &cut, &cst) != 6) {
		fprintf(stderr, "bench_ingest: %s: cannot parse\n", path);
		exit(1);
	}
	return (struct cpu){(double)(ut + (unsigned long long)cut) / tck,
			    (double)(st + (unsigned long long)cst) / tck,
			    (double)(minflt + cminflt)};
}

/* What pid spent since `from`. */
static struct cpu cpu_since(pid_t pid, struct cpu from)
{
	struct cpu now = cpu_of(pid);

	return (struct cpu){now.user - from.user, now.sys - from.sys, now.faults - from.faults};
}

static uint64_t value(unsigned f, unsigned m, unsigned r)
{
	return m == 2 ? 1 : (uint64_t)r * (m ? 500 : 1000) + f;
}

static void file_path(const struct bench *b, unsigned f, char *buf, size_t len)
{
	/* the collector's layout: <data_dir>/<site>/<host>/<check>-<instance>.rrd */
	snprintf(buf, len, "%s/%s/sw%04u/if-eth%u.rrd", b->dir, SITE, f / 10, f % 10);
}

static void create_files(const struct bench *b)
{
	struct store_ds ds[NMETRICS];
	char **argv, path[4096];
	int argc;

	for (int m = 0; m < NMETRICS; m++) {
		ds[m].name = metric[m];
		ds[m].kind = (enum sample_kind)kind[m];
		ds[m].interval = b->step;
	}
	argc = store_rrd_create_args(b->step, NULL, 0, ds, NMETRICS, &argv);
	mkdir(b->dir, 0755);
	for (unsigned f = 0; f < b->files; f++) {
		file_path(b, f, path, sizeof(path));
		for (char *p = path + strlen(b->dir) + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(path, 0755);
				*p = '/';
			}
		rrd_clear_error();
		if (rrd_create_r2(path, b->step, b->t0 - 1, 1, NULL, NULL, argc,
				  (const char **)argv) != 0) {
			fprintf(stderr, "bench_ingest: create %s: %s\n", path, rrd_get_error());
			exit(1);
		}
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

/*
 * The end of every setup: the files just made (gigabytes at 10k series) go
 * to the disk before the clock starts, so that the timed part of no mode
 * waits behind their writeback (a journal's fdatasync, a page being
 * written back when librrd writes it again) more than another's does.
 */
static void settle(const struct bench *b)
{
	int fd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0) {
		fprintf(stderr, "bench_ingest: sync %s: %s\n", b->dir, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* Every file must end at the last round: a benchmark that wrote nothing is worthless. */
static void check_files(const struct bench *b)
{
	char path[4096];
	time_t want = b->t0 + (time_t)b->updates * b->step;

	for (unsigned f = 0; f < b->files; f++) {
		time_t last;

		file_path(b, f, path, sizeof(path));
		last = rrd_last_r(path);
		if (last != want) {
			fprintf(stderr, "bench_ingest: %s ends at %lld, not %lld\n", path,
				(long long)last, (long long)want);
			exit(1);
		}
	}
}

/* extra: more fields for the line ("" or " name=value..."). */
static void report(const char *mode, const struct bench *b, double secs, struct cpu c, double setup,
		   const char *extra)
{
	uint64_t values = (uint64_t)b->files * NMETRICS * b->updates;
	double cpu = c.user + c.sys;

	printf("mode=%s files=%u series=%u updates=%u values=%" PRIu64 " seconds=%.3f cpu_s=%.3f "
	       "us_per_value=%.3f user_us_per_value=%.3f sys_us_per_value=%.3f "
	       "faults_per_value=%.3f values_per_s=%.0f setup_s=%.2f%s\n",
	       mode, b->files, b->files * NMETRICS, b->updates, values, secs, cpu,
	       cpu * 1e6 / (double)values, c.user * 1e6 / (double)values,
	       c.sys * 1e6 / (double)values, c.faults / (double)values, (double)values / secs,
	       setup, extra);
}

/* ---- the floor: librrd in a loop, CHUNK values per call ---- */

static void run_librrd(struct bench *b)
{
	char path[4096], (*vals)[96] = xcalloc(CHUNK, sizeof(*vals));
	const char *argv[CHUNK];
	double t, setup = now_s();
	struct cpu c0, c;

	create_files(b);
	settle(b);
	setup = now_s() - setup;
	BENCH_DUMP("setup");
	t = now_s();
	c0 = cpu_of(0);
	for (unsigned f = 0; f < b->files; f++) {
		file_path(b, f, path, sizeof(path));
		for (unsigned r = 1; r <= b->updates;) {
			int n = 0;

			for (; n < CHUNK && r <= b->updates; n++, r++) {
				snprintf(vals[n], sizeof(vals[n]),
					 "%lld:%" PRIu64 ":%" PRIu64 ":%" PRIu64,
					 (long long)(b->t0 + (time_t)r * b->step), value(f, 0, r),
					 value(f, 1, r), value(f, 2, r));
				argv[n] = vals[n];
			}
			rrd_clear_error();
			if (rrd_update_r(path, NULL, n, argv) != 0) {
				fprintf(stderr, "bench_ingest: update %s: %s\n", path,
					rrd_get_error());
				exit(1);
			}
		}
	}
	c = cpu_since(0, c0);
	t = now_s() - t;
	BENCH_DUMP("timed");
	free(vals);
	check_files(b);
	report("librrd", b, t, c, setup, "");
}

/* ---- a line protocol over a socket (rrdcached, the collector's control socket) ---- */

static int unix_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "bench_ingest: connect %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "bench_ingest: write: %s\n", strerror(errno));
			exit(1);
		}
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

/* Reads one line (up to \n) into buf. */
static void read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t k = read(fd, buf + n, 1);

		if (k <= 0) {
			fprintf(stderr, "bench_ingest: read: %s\n",
				k < 0 ? strerror(errno) : "EOF");
			exit(1);
		}
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
}

/* ---- rrdcached, fed with BATCH, flushed with FLUSHALL ---- */

static uint64_t rrdcached_stat(int fd, const char *name)
{
	char line[256];
	int n;
	uint64_t v = 0;

	write_all(fd, "STATS\n", 6);
	read_line(fd, line, sizeof(line));
	n = atoi(line);
	for (int i = 0; i < n; i++) {
		read_line(fd, line, sizeof(line));
		if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ':')
			v = strtoull(line + strlen(name) + 1, NULL, 10);
	}
	return v;
}

static void run_rrdcached(struct bench *b, const char *sock, pid_t pid)
{
	char path[4096], line[256];
	size_t cap = 1 << 20, len = 0;
	char *buf = xmalloc(cap);
	double t, setup = now_s();
	struct cpu c0, c;
	uint64_t want;
	int fd;

	create_files(b);
	settle(b);
	setup = now_s() - setup;
	fd = unix_connect(sock);
	want = rrdcached_stat(fd, "DataSetsWritten") + (uint64_t)b->files * b->updates;
	t = now_s();
	c0 = cpu_of(pid);
	write_all(fd, "BATCH\n", 6);
	read_line(fd, line, sizeof(line));
	/* round by round, as the values arrive in a collector */
	for (unsigned r = 1; r <= b->updates; r++)
		for (unsigned f = 0; f < b->files; f++) {
			if (cap - len < 8192) {
				write_all(fd, buf, len);
				len = 0;
			}
			file_path(b, f, path, sizeof(path));
			len +=
			    (size_t)snprintf(buf + len, cap - len,
					     "UPDATE %s %lld:%" PRIu64 ":%" PRIu64 ":%" PRIu64 "\n",
					     path, (long long)(b->t0 + (time_t)r * b->step),
					     value(f, 0, r), value(f, 1, r), value(f, 2, r));
		}
	write_all(fd, buf, len);
	write_all(fd, ".\n", 2);
	read_line(fd, line, sizeof(line));
	if (atoi(line) != 0) {
		fprintf(stderr, "bench_ingest: rrdcached: %s\n", line);
		exit(1);
	}
	write_all(fd, "FLUSHALL\n", 9);
	read_line(fd, line, sizeof(line));
	for (int i = 0; i < 600000 && rrdcached_stat(fd, "DataSetsWritten") < want; i++)
		usleep(1000);
	c = cpu_since(pid, c0);
	t = now_s() - t;
	close(fd);
	free(buf);
	check_files(b);
	report("rrdcached", b, t, c, setup, "");
}

/* ---- the collector, through its socket, as an agent ---- */

static int tcp_connect(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "bench_ingest: connect 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Connects TLS on fd as the agent does: the collector's certificate checked, ours sent. */
static void tls_connect(const struct bench *b, int fd)
{
	struct tls_files tf = {.ca = b->ca, .cert = b->cert, .key = b->key};
	char err[256];
	SSL_CTX *ctx = tls_ctx_new(0, &tf, NULL, err, sizeof(err));

	if (ctx == NULL) {
		fprintf(stderr, "bench_ingest: %s\n", err);
		exit(1);
	}
	session_tls = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL holds its own reference */
	SSL_set_tlsext_host_name(session_tls, b->server_name);
	SSL_set1_host(session_tls, b->server_name);
	SSL_set_fd(session_tls, fd);
	if (SSL_connect(session_tls) != 1) {
		fprintf(stderr, "bench_ingest: TLS handshake: %s\n",
			ERR_reason_error_string(ERR_get_error()));
		exit(1);
	}
}

/* The session's write and read: through TLS when it has it. */
static void session_write(int fd, const void *p, size_t n)
{
	if (session_tls == NULL) {
		write_all(fd, p, n);
		return;
	}
	while (n > 0) {
		int k = SSL_write(session_tls, p, n > INT32_MAX ? INT32_MAX : (int)n);

		if (k <= 0) {
			fprintf(stderr, "bench_ingest: TLS write failed\n");
			exit(1);
		}
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

static ssize_t session_read(int fd, void *p, size_t n)
{
	if (session_tls == NULL)
		return read(fd, p, n);
	return SSL_read(session_tls, p, n > INT32_MAX ? INT32_MAX : (int)n);
}

static void send_frame(int fd, Vakt__Frame *f)
{
	size_t len;
	uint8_t *p = frame_encode(f, &len);

	session_write(fd, p, len);
	free(p);
}

static Vakt__Frame *recv_frame(int fd)
{
	unsigned char hdr[4], *body;
	uint32_t len;
	size_t got = 0;
	Vakt__Frame *f;

	while (got < 4) {
		ssize_t k = session_read(fd, hdr + got, 4 - got);

		if (k <= 0) {
			fprintf(stderr, "bench_ingest: the collector closed the session\n");
			exit(1);
		}
		got += (size_t)k;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	body = xmalloc(len ? len : 1);
	for (got = 0; got < len;) {
		ssize_t k = session_read(fd, body + got, len - got);

		if (k <= 0) {
			fprintf(stderr, "bench_ingest: the collector closed the session\n");
			exit(1);
		}
		got += (size_t)k;
	}
	f = vakt__frame__unpack(NULL, len, body);
	free(body);
	if (f == NULL || f->msg_case == VAKT__FRAME__MSG_ERROR) {
		fprintf(stderr, "bench_ingest: collector: %s\n",
			f ? f->error->message : "a frame that does not decode");
		exit(1);
	}
	return f;
}

/*
 * Encoded frames of rounds [from, to], b->batch samples each, round by round;
 * with `tx`, in the compact form of protocol 2 against the series `tx` has
 * defined on the session, as the agent sends them.
 */
static uint8_t **encode_rounds(const struct bench *b, unsigned from, unsigned to, uint64_t *seq,
			       size_t **lens, size_t *n, struct series_tx *tx)
{
	size_t total = (size_t)(to - from + 1) * b->files * NMETRICS, k = 0;
	Vakt__Sample *smp = xcalloc(b->batch, sizeof(*smp));
	Vakt__Sample **ptr = xcalloc(b->batch, sizeof(*ptr));
	char(*host)[16] = xcalloc(b->files, sizeof(*host)),
	(*inst)[16] = xcalloc(b->files, sizeof(*inst));
	uint8_t **out = xcalloc(total / b->batch + 2, sizeof(*out));

	*lens = xcalloc(total / b->batch + 2, sizeof(**lens));
	*n = 0;
	for (unsigned f = 0; f < b->files; f++) {
		snprintf(host[f], sizeof(host[f]), "sw%04u", f / 10);
		snprintf(inst[f], sizeof(inst[f]), "eth%u", f % 10);
	}
	for (unsigned r = from; r <= to; r++)
		for (unsigned f = 0; f < b->files; f++)
			for (int m = 0; m < NMETRICS; m++) {
				Vakt__Sample *x = &smp[k];

				vakt__sample__init(x);
				x->host = host[f];
				x->check = "if";
				x->instance = inst[f];
				x->metric = (char *)metric[m];
				x->time_ms = (int64_t)(b->t0 + (time_t)r * b->step) * 1000;
				x->kind = kind[m];
				if (kind[m] == VAKT__KIND__GAUGE)
					x->value = (double)value(f, (unsigned)m, r);
				else
					x->counter = value(f, (unsigned)m, r);
				x->interval = b->step;
				x->width = 64;
				ptr[k] = x;
				if (++k == b->batch ||
				    (r == to && f == b->files - 1 && m == NMETRICS - 1)) {
					Vakt__Batch bt = VAKT__BATCH__INIT;
					Vakt__Frame fr = VAKT__FRAME__INIT;

					bt.seq = ++*seq;
					bt.n_samples = k;
					bt.samples = ptr;
					fr.msg_case = VAKT__FRAME__MSG_BATCH;
					fr.batch = &bt;
					out[*n] = frame_encode(&fr, &(*lens)[*n]);
					if (tx != NULL) {
						size_t clen;
						uint8_t *c = series_tx_compact(tx, out[*n],
									       (*lens)[*n], &clen);

						if (c != NULL) {
							free(out[*n]);
							out[*n] = c;
							(*lens)[*n] = clen;
						}
					}
					(*n)++;
					k = 0;
				}
			}
	free(smp);
	free(ptr);
	free(host);
	free(inst);
	return out;
}

/* Sends frames with at most b->window unacked; returns when the last is acked. */
static void send_acked(const struct bench *b, int fd, uint8_t **fr, const size_t *lens, size_t n,
		       uint64_t last_seq)
{
	size_t sent = 0, acked = 0;

	while (acked < n) {
		while (sent < n && sent - acked < b->window) {
			session_write(fd, fr[sent], lens[sent]);
			sent++;
		}
		{
			Vakt__Frame *f = recv_frame(fd);

			if (f->msg_case == VAKT__FRAME__MSG_ACK)
				acked = n - (size_t)(last_seq - f->ack->seq);
			vakt__frame__free_unpacked(f, NULL);
		}
	}
}

static void control(const char *sock, const char *cmd)
{
	char line[256];
	int fd = unix_connect(sock);

	write_all(fd, cmd, strlen(cmd));
	read_line(fd, line, sizeof(line));
	close(fd);
	if (strncmp(line, "error", 5) == 0) {
		fprintf(stderr, "bench_ingest: %s: %s\n", cmd, line);
		exit(1);
	}
}

static void run_vakt(struct bench *b, int port, const char *ctl, pid_t pid)
{
	Vakt__Hello h = VAKT__HELLO__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT, *a;
	uint8_t **fr;
	size_t *lens, n;
	uint64_t seq = 0, first;
	double t, acked, setup = now_s();
	struct cpu c0, c;
	char extra[64];
	int fd = tcp_connect(port);
	struct series_tx *tx = b->protocol >= 2 ? series_tx_new(SERIES_WIRE_MAX_DEFAULT) : NULL;

	if (b->ca != NULL)
		tls_connect(b, fd);
	h.protocol = b->protocol;
	h.software = "bench_ingest";
	h.site = SITE;
	h.agent = "bench";
	h.stream = 1;
	f.msg_case = VAKT__FRAME__MSG_HELLO;
	f.hello = &h;
	send_frame(fd, &f);
	a = recv_frame(fd);
	vakt__frame__free_unpacked(a, NULL);
	/* round 0 makes the files (not timed), as a collector that has run for a while has them */
	fr = encode_rounds(b, 0, 0, &seq, &lens, &n, tx);
	send_acked(b, fd, fr, lens, n, seq);
	for (size_t i = 0; i < n; i++)
		free(fr[i]);
	free(fr);
	free(lens);
	control(ctl, "flush\n");
	settle(b);
	setup = now_s() - setup;
	if (getenv("BENCH_PAUSE") != NULL) {
		/* time to attach a profiler to the collector for the timed part alone */
		fprintf(stderr, "bench_ingest: set up; timed part in %s s\n",
			getenv("BENCH_PAUSE"));
		sleep((unsigned)atoi(getenv("BENCH_PAUSE")));
	}
	/* the wire's encoding is the agent's work, not the collector's: done before the clock */
	first = seq;
	fr = encode_rounds(b, 1, b->updates, &seq, &lens, &n, tx);
	(void)first;
	t = now_s();
	c0 = cpu_of(pid);
	send_acked(b, fd, fr, lens, n, seq);
	acked = now_s() - t;
	/* durable in the journal now; the files hold it once the cache is written */
	control(ctl, "flush\n");
	c = cpu_since(pid, c0);
	t = now_s() - t;
	snprintf(extra, sizeof(extra), " acked_s=%.3f flush_s=%.3f", acked, t - acked);
	for (size_t i = 0; i < n; i++)
		free(fr[i]);
	free(fr);
	free(lens);
	if (session_tls != NULL) {
		SSL_shutdown(session_tls);
		SSL_free(session_tls);
		session_tls = NULL;
	}
	close(fd);
	series_tx_free(tx);
	check_files(b);
	report("vakt", b, t, c, setup, extra);
}

/* ---- collectd: its network plugin (UDP on loopback) into its rrdtool plugin ---- */

/*
 * collectd keeps a port's values in two files, as its interface plugin
 * would: <host>/interface-<port>/if_octets.rrd (rx, tx: DERIVE) and
 * gauge-oper_status.rrd. Same values, same rounds as the other modes.
 */
static void cd_path(const struct bench *b, unsigned f, int gauge, char *buf, size_t len)
{
	snprintf(buf, len, "%s/sw%04u/interface-eth%u/%s.rrd", b->dir, f / 10, f % 10,
		 gauge ? "gauge-oper_status" : "if_octets");
}

struct pkt {
	unsigned char p[1452]; /* collectd's default MaxPacketSize */
	size_t len;
};

static void part_str(unsigned char *p, size_t *off, unsigned type, const char *v)
{
	size_t n = strlen(v) + 1, l = 4 + n;

	p[(*off)++] = (unsigned char)(type >> 8);
	p[(*off)++] = (unsigned char)type;
	p[(*off)++] = (unsigned char)(l >> 8);
	p[(*off)++] = (unsigned char)l;
	memcpy(p + *off, v, n);
	*off += n;
}

static void be64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static void part_num(unsigned char *p, size_t *off, unsigned type, uint64_t v)
{
	p[(*off)++] = (unsigned char)(type >> 8);
	p[(*off)++] = (unsigned char)type;
	p[(*off)++] = 0;
	p[(*off)++] = 12;
	be64(p + *off, v);
	*off += 8;
}

/* One value list (all its parts) of port f at round r: if_octets, or the gauge. */
static size_t value_list(const struct bench *b, unsigned f, unsigned r, int gauge, unsigned char *p)
{
	char host[16], inst[16];
	size_t off = 0;
	uint64_t hr = (uint64_t)(b->t0 + (time_t)r * b->step) << 30;

	snprintf(host, sizeof(host), "sw%04u", f / 10);
	snprintf(inst, sizeof(inst), "eth%u", f % 10);
	part_str(p, &off, 0x0000, host);
	part_num(p, &off, 0x0008, hr);                      /* time, 2^-30 s */
	part_num(p, &off, 0x0009, (uint64_t)b->step << 30); /* interval */
	part_str(p, &off, 0x0002, "interface");
	part_str(p, &off, 0x0003, inst);
	part_str(p, &off, 0x0004, gauge ? "gauge" : "if_octets");
	part_str(p, &off, 0x0005, gauge ? "oper_status" : "");
	{
		unsigned nv = gauge ? 1 : 2, l = 6 + 9 * nv;

		p[off++] = 0;
		p[off++] = 6;
		p[off++] = (unsigned char)(l >> 8);
		p[off++] = (unsigned char)l;
		p[off++] = 0;
		p[off++] = (unsigned char)nv;
		if (gauge) {
			double v = (double)value(f, 2, r);

			p[off++] = 1; /* GAUGE: little-endian double, as x86 has it */
			memcpy(p + off, &v, 8);
			off += 8;
		} else {
			p[off++] = 2; /* DERIVE: big-endian */
			p[off++] = 2;
			be64(p + off, value(f, 0, r));
			be64(p + off + 8, value(f, 1, r));
			off += 16;
		}
	}
	return off;
}

/* Packets of rounds [from, to], round by round, as a sending collectd fills them. */
static struct pkt *cd_packets(const struct bench *b, unsigned from, unsigned to, size_t *n)
{
	size_t cap = 64;
	struct pkt *v = xcalloc(cap, sizeof(*v));
	unsigned char one[256];

	*n = 1;
	for (unsigned r = from; r <= to; r++)
		for (unsigned f = 0; f < b->files; f++)
			for (int g = 0; g < 2; g++) {
				size_t l = value_list(b, f, r, g, one);

				if (v[*n - 1].len + l > sizeof(v[0].p)) {
					if (*n == cap) {
						v = xreallocarray(v, cap * 2, sizeof(*v));
						memset(v + cap, 0, cap * sizeof(*v));
						cap *= 2;
					}
					(*n)++;
				}
				memcpy(v[*n - 1].p + v[*n - 1].len, one, l);
				v[*n - 1].len += l;
			}
	return v;
}

/*
 * collectd's socket on 127.0.0.1:port as /proc/net/udp shows it: the bytes
 * waiting in its receive queue and the datagrams it dropped when that was
 * full; -1 when no such socket is there.
 */
static int udp_socket(int port, unsigned long *queued, unsigned long *drops)
{
	char line[512], want[32];
	int found = -1;
	FILE *f = fopen("/proc/net/udp", "r");

	if (f == NULL)
		return -1;
	snprintf(want, sizeof(want), "0100007F:%04X", (unsigned)port);
	while (fgets(line, sizeof(line), f) != NULL) {
		char local[32];
		unsigned long tx, rx, d;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
		if (sscanf(line, " %*s %31s %*s %*s %lx:%lx %*s %*s %*s %*s %*s %*s %*s %lu", local,
			   &tx, &rx, &d) == 4 &&
		    strcmp(local, want) == 0) {
			*queued = rx;
			*drops = d;
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* The receive buffer a socket gets unless it asks (collectd's network plugin does not). */
static unsigned long rmem_default(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/proc/sys/net/core/rmem_default", "r");

	if (f != NULL) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 ? v : 212992;
}

/*
 * Sends the packets in bursts, each once collectd's receive queue has room
 * for it: UDP on loopback drops what overflows, and on a loaded machine
 * collectd's receiving thread may wait for a core longer than a fixed pace
 * allows. Gives up (-1) when the queue does not drain for a minute.
 */
static int cd_send(int fd, int port, const struct pkt *v, size_t n, unsigned burst)
{
	unsigned long room = rmem_default() / 2, queued, drops;
	double stuck = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % burst == 0) {
			while (udp_socket(port, &queued, &drops) == 0 && queued > room) {
				if (stuck == 0)
					stuck = now_s();
				else if (now_s() - stuck > 60) {
					fprintf(
					    stderr,
					    "bench_ingest: collectd: %lu bytes queued for 60 s\n",
					    queued);
					return -1;
				}
				usleep(200);
			}
			stuck = 0;
		}
		if (send(fd, v[i].p, v[i].len, 0) < 0) {
			fprintf(stderr, "bench_ingest: send to collectd: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The datagrams collectd's socket dropped so far (0 when it cannot be seen). */
static unsigned long cd_drops(int port)
{
	unsigned long queued, drops;

	return udp_socket(port, &queued, &drops) == 0 ? drops : 0;
}

/* "FLUSH plugin=rrdtool" on collectd's unixsock: its cache goes to its write queue. 0 or -1. */
static int cd_flush(const char *sock)
{
	char line[256];
	int fd = unix_connect(sock);

	write_all(fd, "FLUSH plugin=rrdtool\n", 21);
	read_line(fd, line, sizeof(line));
	close(fd);
	if (atoi(line) < 0) {
		fprintf(stderr, "bench_ingest: collectd FLUSH: %s\n", line);
		return -1;
	}
	return 0;
}

/*
 * The file's last update, read from its header without a lock: rrd_last_r
 * takes one, and collectd's rrd_update gives up on a file locked ("could
 * not lock RRD"), losing its values. The layout of rrdtool 1.x on 64-bit
 * Linux: stat_head (128 bytes, ds_cnt at 24, rra_cnt at 32), ds_def and
 * rra_def (120 bytes each), then live_head, whose first field is last_up.
 */
static time_t rrd_last_unlocked(const char *path)
{
	uint64_t cnt[2];
	int64_t last = -1;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, cnt, sizeof(cnt), 24) != (ssize_t)sizeof(cnt) || cnt[0] > 10000 ||
	    cnt[1] > 10000 ||
	    pread(fd, &last, sizeof(last), (off_t)(128 + 120 * (cnt[0] + cnt[1]))) !=
		(ssize_t)sizeof(last))
		last = -1;
	close(fd);
	return (time_t)last;
}

/*
 * Flushes collectd until every file ends at round r; 0 or -1. Values still
 * on their way to its cache when it flushed wait there for CacheTimeout: it
 * is asked again every 100 ms. Gives up when a datagram was dropped (more
 * than drops0 so far: those values never come) or after 10 minutes (a
 * loaded machine slows its writes, but not that much).
 */
static int cd_wait(const struct bench *b, unsigned r, const char *sock, int port,
		   unsigned long drops0)
{
	char path[4096];
	time_t want = b->t0 + (time_t)r * b->step;
	unsigned done = 0; /* files [0, done/2) end at round r in both their files */
	unsigned long drops = 0;

	for (int i = 0; i < 60000; i++) {
		if (i % 10 == 0) {
			if ((drops = cd_drops(port)) > drops0)
				break;
			if (cd_flush(sock) < 0)
				return -1;
		}
		while (done < 2 * b->files) {
			cd_path(b, done / 2, (int)(done % 2), path, sizeof(path));
			if (rrd_last_unlocked(path) != want)
				break;
			done++;
		}
		if (done == 2 * b->files)
			return 0;
		usleep(10000);
	}
	cd_path(b, done / 2, (int)(done % 2), path, sizeof(path));
	if (drops > drops0)
		fprintf(stderr,
			"bench_ingest: collectd: its socket dropped %lu datagrams (values lost); "
			"%s does not end at %lld\n",
			drops - drops0, path, (long long)want);
	else
		fprintf(stderr, "bench_ingest: collectd: %s does not end at %lld after 10 min\n",
			path, (long long)want);
	return -1;
}

static void run_collectd(struct bench *b, int port, const char *sock, pid_t pid)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pkt *v;
	size_t n;
	double t, setup = now_s();
	struct cpu c0, c;
	unsigned long drops0;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "bench_ingest: udp 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(1);
	}
	/*
	 * round 0 makes the files (not timed), as for the collector; slowly:
	 * collectd makes each file as its first value comes, and drops values
	 * that come faster
	 */
	drops0 = cd_drops(port);
	v = cd_packets(b, 0, 0, &n);
	if (cd_send(fd, port, v, n, 2) < 0 || cd_wait(b, 0, sock, port, drops0) < 0)
		exit(1);
	free(v);
	settle(b);
	setup = now_s() - setup;
	v = cd_packets(b, 1, b->updates, &n);
	t = now_s();
	c0 = cpu_of(pid);
	if (cd_send(fd, port, v, n, b->burst) < 0 || cd_wait(b, b->updates, sock, port, drops0) < 0)
		exit(1);
	c = cpu_since(pid, c0);
	t = now_s() - t;
	free(v);
	close(fd);
	/* written, and nothing is left to write: rrdtool's own reading agrees */
	for (unsigned f = 0; f < b->files; f++)
		for (int g = 0; g < 2; g++) {
			char path[4096];
			time_t want = b->t0 + (time_t)b->updates * b->step, last;

			cd_path(b, f, g, path, sizeof(path));
			if ((last = rrd_last_r(path)) != want) {
				fprintf(stderr, "bench_ingest: %s ends at %lld, not %lld\n", path,
					(long long)last, (long long)want);
				exit(1);
			}
		}
	report("collectd", b, t, c, setup, "");
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: bench_ingest [-f files] [-u updates] [-s step] [-n batch] [-w window] "
	    "[-p protocol] [-T ca:cert:key[:server-name]] [-b burst] -d dir MODE\n"
	    "  librrd                      the floor: rrd_update_r, %d values per call\n"
	    "  rrdcached SOCKET PID        BATCH of UPDATEs, FLUSHALL (files made under dir)\n"
	    "  collectd PORT UNIXSOCK PID  a collectd with network (listening on 127.0.0.1:PORT),\n"
	    "                              rrdtool (DataDir dir) and unixsock; -b packets\n"
	    "                              sent at a time, each burst once its socket's\n"
	    "                              receive queue is under half full (default 16)\n"
	    "  vakt PORT CONTROL PID       a collector whose data_dir is dir (-T: over TLS,\n"
	    "                              as an agent with that CA and client certificate;\n"
	    "                              the server name defaults to localhost)\n",
	    CHUNK);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = {.files = 200,
			  .updates = 60,
			  .step = 60,
			  .batch = 1000,
			  .window = 8,
			  .protocol = 2,
			  .burst = 16};
	int ch;

	while ((ch = getopt(argc, argv, "f:u:s:n:w:d:p:T:b:")) != -1) {
		switch (ch) {
		case 'f':
			b.files = (unsigned)atoi(optarg);
			break;
		case 'u':
			b.updates = (unsigned)atoi(optarg);
			break;
		case 's':
			b.step = (unsigned)atoi(optarg);
			break;
		case 'n':
			b.batch = (unsigned)atoi(optarg);
			break;
		case 'w':
			b.window = (unsigned)atoi(optarg);
			break;
		case 'd':
			b.dir = optarg;
			break;
		case 'b':
			b.burst = (unsigned)atoi(optarg);
			break;
		case 'p':
			b.protocol = (unsigned)atoi(optarg);
			break;
		case 'T': {
			char *p = xstrdup(optarg);

			b.ca = strsep(&p, ":");
			b.cert = strsep(&p, ":");
			b.key = strsep(&p, ":");
			b.server_name = p != NULL ? p : "localhost";
			if (b.cert == NULL || b.key == NULL)
				usage();
			break;
		}
		default:
			usage();
		}
	}
	if (b.dir == NULL || optind >= argc || b.files == 0 || b.updates == 0 || b.step == 0 ||
	    b.batch == 0 || b.window == 0 || b.burst == 0)
		usage();
	/* whole steps, far enough back that every round is in the past */
	b.t0 = (time(NULL) / b.step - (time_t)b.updates - 10) * b.step;
	if (strcmp(argv[optind], "librrd") == 0 && optind + 1 == argc)
		run_librrd(&b);
	else if (strcmp(argv[optind], "rrdcached") == 0 && optind + 3 == argc)
		run_rrdcached(&b, argv[optind + 1], (pid_t)atoi(argv[optind + 2]));
	else if (strcmp(argv[optind], "collectd") == 0 && optind + 4 == argc)
		run_collectd(&b, atoi(argv[optind + 1]), argv[optind + 2],
			     (pid_t)atoi(argv[optind + 3]));
	else if (strcmp(argv[optind], "vakt") == 0 && optind + 4 == argc)
		run_vakt(&b, atoi(argv[optind + 1]), argv[optind + 2],
			 (pid_t)atoi(argv[optind + 3]));
	else
		usage();
	return 0;
}
