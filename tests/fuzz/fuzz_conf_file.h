/*
 * fuzz_conf_file.h - shared set-up of the config-parser fuzz targets: one
 * temporary file per process, rewritten for every input, removed at exit,
 * and FILE:LINE errors sent to /dev/null. Never touches any other file.
 */
#ifndef VAKT_FUZZ_CONF_FILE_H
#define VAKT_FUZZ_CONF_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

static char fuzz_conf_path[64];
static int fuzz_conf_fd = -1;

static void fuzz_conf_cleanup(void)
{
	if (fuzz_conf_fd >= 0) {
		close(fuzz_conf_fd);
		unlink(fuzz_conf_path);
	}
}

/* Writes the input to this process's config file; returns its path. */
static const char *fuzz_conf_write(const uint8_t *data, size_t size)
{
	if (fuzz_conf_fd < 0) {
		FILE *devnull = fopen("/dev/null", "w");

		if (devnull == NULL)
			abort();
		conf_set_error_stream(devnull);
		/* agent_conf_load warns through the log; verbose 0 drops debug lines */
		log_init("fuzz", 1, 0);
		snprintf(fuzz_conf_path, sizeof(fuzz_conf_path), "/tmp/vakt-fuzz-conf.XXXXXX");
		fuzz_conf_fd = mkstemp(fuzz_conf_path);
		if (fuzz_conf_fd < 0)
			abort();
		atexit(fuzz_conf_cleanup);
	}
	if (ftruncate(fuzz_conf_fd, 0) < 0)
		abort();
	for (size_t off = 0; off < size;) {
		ssize_t n = pwrite(fuzz_conf_fd, data + off, size - off, (off_t)off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	return fuzz_conf_path;
}

#endif
