/*
 * rrdpath.c - safe RRD file and data-source names; see rrdpath.h.
 * Must never produce "..", "/", a leading "." or an empty component.
 */
#include "rrdpath.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *utf8, *ascii;
} translit[] = {
    {"\xc3\xa6", "ae"}, {"\xc3\xb8", "o"},  {"\xc3\xa5", "aa"}, {"\xc3\x86", "AE"},
    {"\xc3\x98", "O"},  {"\xc3\x85", "AA"}, {"\xc3\xa4", "a"},  {"\xc3\xb6", "o"},
    {"\xc3\xbc", "u"},  {"\xc3\x84", "A"},  {"\xc3\x96", "O"},  {"\xc3\x9c", "U"},
};

static int keep(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

size_t rrdpath_sanitise(char *out, size_t outsz, const char *name)
{
	size_t max = outsz - 1, n = 0;
	const unsigned char *p = (const unsigned char *)name;

	if (max > RRDPATH_COMPONENT_MAX)
		max = RRDPATH_COMPONENT_MAX;
	while (*p && n < max) {
		const char *rep = NULL;
		size_t skip = 1;
		char one[2] = {0, 0};

		if (keep(*p)) {
			one[0] = (char)*p;
			rep = one;
		} else if (*p >= 0x80) {
			for (size_t i = 0; i < sizeof(translit) / sizeof(translit[0]); i++)
				if (strncmp((const char *)p, translit[i].utf8, 2) == 0) {
					rep = translit[i].ascii;
					skip = 2;
					break;
				}
			if (rep == NULL) {
				/* one '_' per UTF-8 character, not per byte */
				while (p[skip] >= 0x80 && (p[skip] & 0xc0) == 0x80)
					skip++;
			}
		}
		if (rep == NULL)
			rep = "_";
		for (; *rep && n < max; rep++)
			out[n++] = *rep;
		p += skip;
	}
	if (n == 0)
		out[n++] = '_';
	out[n] = '\0';
	if (out[0] == '.')
		out[0] = '_';
	return n;
}

int rrdpath_build(char *out, size_t outsz, const char *data_dir, const char *site, const char *host,
		  const char *check, const char *instance)
{
	char s[RRDPATH_COMPONENT_MAX + 1], h[RRDPATH_COMPONENT_MAX + 1];
	char c[RRDPATH_COMPONENT_MAX + 1], i[RRDPATH_COMPONENT_MAX + 1];
	int n;

	rrdpath_sanitise(s, sizeof(s), site);
	rrdpath_sanitise(h, sizeof(h), host);
	rrdpath_sanitise(c, sizeof(c), check);
	if (instance != NULL && instance[0] != '\0') {
		rrdpath_sanitise(i, sizeof(i), instance);
		n = snprintf(out, outsz, "%s/%s/%s/%s-%s.rrd", data_dir, s, h, c, i);
	} else {
		n = snprintf(out, outsz, "%s/%s/%s/%s.rrd", data_dir, s, h, c);
	}
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

size_t rrdpath_dsname(char *out, size_t outsz, const char *metric)
{
	size_t max = outsz - 1, n = 0;

	if (max > 19)
		max = 19; /* rrdtool's DS name limit */
	for (const unsigned char *p = (const unsigned char *)metric; *p && n < max; p++)
		out[n++] = (keep(*p) && *p != '.' && *p != '-') ? (char)*p : '_';
	if (n == 0)
		out[n++] = '_';
	out[n] = '\0';
	return n;
}
