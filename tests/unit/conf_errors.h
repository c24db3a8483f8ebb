/*
 * conf_errors.h - for the config tests: load a file with the loader under
 * test and return exactly what a user would have seen on stderr.
 * Each test defines LOAD(path) and FREE(conf) before including this.
 */
#ifndef VAKT_TEST_CONF_ERRORS_H
#define VAKT_TEST_CONF_ERRORS_H

#include <stdio.h>
#include <stdlib.h>

#include "conf.h"

#define DATA TEST_DATA_DIR "/conf/"

/* Loads `file`; returns what was printed (static buffer) and sets *ok. */
static const char *load(const char *file, int *ok)
{
	static char out[4096];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	void *conf;

	conf_set_error_stream(f);
	conf = LOAD(file);
	conf_set_error_stream(NULL);
	fclose(f);
	snprintf(out, sizeof(out), "%s", buf ? buf : "");
	free(buf);
	*ok = conf != NULL;
	FREE(conf);
	return out;
}

/* The file DATA/name fails with exactly "DATA/name<msg>\n". */
static void check_error(const char *name, const char *msg)
{
	char path[512], want[1024];
	int ok;

	snprintf(path, sizeof(path), DATA "%s", name);
	snprintf(want, sizeof(want), "%s%s\n", path, msg);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

#endif
